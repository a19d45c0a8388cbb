//! The request line read by `dnma plan validate` and `dnma import`: a URL (absolute, or a path
//! such as `/event?s=…` or `/hit.xiti?…`), followed for the SDK by a tab and its JSON body.
//! The format comes from the URL's path (`…/event` or `…hit.xiti`) unless it is forced.

use super::{parse_piano, parse_xiti, WireError};
use crate::raw_hit::{RawHit, WireFormat};

/// A request read from a line, before its hits are parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// The wire format.
    pub format: WireFormat,
    /// The query string, without `?`.
    pub query: &'a str,
    /// The SDK body (empty for `SmartTag`).
    pub body: &'a str,
}

impl<'a> Request<'a> {
    /// Reads a line; `forced` overrides the format the path suggests.
    pub fn parse(line: &'a str, forced: Option<WireFormat>) -> Result<Self, WireError> {
        let line = line.trim_end_matches(['\r', '\n']);
        let (url, body) = line.split_once('\t').unwrap_or((line, ""));
        let url = url.trim();
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let format = match forced {
            Some(format) => format,
            None if path.ends_with("/event") || path == "event" => WireFormat::Piano,
            None if path.ends_with("hit.xiti") => WireFormat::Xiti,
            None => return Err(WireError::UnknownFormat(truncate(url, 80))),
        };
        if format == WireFormat::Piano && body.trim().is_empty() {
            return Err(WireError::MissingBody);
        }
        Ok(Request { format, query, body })
    }

    /// Parses the request's hits.
    pub fn hits(&self) -> Result<Vec<RawHit<'a>>, WireError> {
        match self.format {
            WireFormat::Piano => parse_piano(self.query, self.body.as_bytes()),
            WireFormat::Xiti => Ok(vec![parse_xiti(self.query)]),
        }
    }
}

/// Reads a line and parses its hits.
pub fn parse_request_line(line: &str, forced: Option<WireFormat>) -> Result<Vec<RawHit<'_>>, WireError> {
    Request::parse(line, forced)?.hits()
}

fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_the_format_from_the_path() {
        let piano = Request::parse("https://collect.example.fr/event?s=1&idclient=x\t{\"events\":[]}", None).unwrap();
        assert_eq!((piano.format, piano.query), (WireFormat::Piano, "s=1&idclient=x"));
        let xiti = Request::parse("/hit.xiti?s=1&p=a", None).unwrap();
        assert_eq!((xiti.format, xiti.query, xiti.body), (WireFormat::Xiti, "s=1&p=a", ""));
        assert_eq!(Request::parse("/collect?s=1", None).unwrap_err().code(), "unknown_format");
        assert_eq!(Request::parse("/collect?s=1", Some(WireFormat::Xiti)).unwrap().format, WireFormat::Xiti);
        assert_eq!(Request::parse("/event?s=1", None).unwrap_err().code(), "missing_body");
    }
}
