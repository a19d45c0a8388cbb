//! The request-line driver behind `dnma plan validate`: each input line is a request (a URL, and
//! for the SDK a tab and its JSON body); each of its events gives one JSON outcome line. Split
//! `SmartTag` hits (`mh=i-n-id`) are reassembled across lines and reported at their last part.

use serde::Serialize;

use crate::hit::Hit;
use crate::raw_hit::WireFormat;
use crate::validate::{Rejection, Validator};
use crate::wire::{Assembled, MultiHitAssembler, Request};

/// The outcome of one event of one input line.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Input line (1-based); for a split hit, the line of its last part.
    pub line: usize,
    /// Position of the event in its request.
    pub event: usize,
    /// Whether the plan accepted it.
    pub ok: bool,
    /// The validated hit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hit: Option<Hit>,
    /// Why it was refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reasons: Option<Vec<Rejection>>,
}

/// Validates a stream of request lines, keeping split `SmartTag` hits until complete.
pub struct LineValidator<'a> {
    validator: Validator<'a>,
    format: Option<WireFormat>,
    multihits: MultiHitAssembler,
}

impl<'a> LineValidator<'a> {
    /// A driver; `format` forces the wire format of every line (else told by the URL).
    pub fn new(validator: Validator<'a>, format: Option<WireFormat>) -> Self {
        LineValidator { validator, format, multihits: MultiHitAssembler::default() }
    }

    /// Validates one line (1-based number). Blank lines and `#` comments give nothing.
    pub fn line(&mut self, number: usize, line: &str) -> Vec<Outcome> {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            return Vec::new();
        }
        let request = match Request::parse(line, self.format) {
            Ok(request) => request,
            Err(e) => return vec![refused(number, 0, vec![Rejection::new(e.code(), "request", None, e.to_string())])],
        };
        let assembled;
        let request = if request.format == WireFormat::Xiti {
            match self.multihits.push(&crate::wire::sender_key(request.query), request.query, 0) {
                Assembled::Single => request,
                Assembled::Waiting => return Vec::new(),
                Assembled::Invalid(message) => return vec![refused(number, 0, vec![Rejection::new("invalid_multihit", "mh", None, message)])],
                Assembled::Complete(query) => {
                    assembled = query;
                    Request { query: &assembled, ..request }
                }
            }
        } else {
            request
        };
        match request.hits() {
            Err(e) => vec![refused(number, 0, vec![Rejection::new(e.code(), "body", None, e.to_string())])],
            Ok(hits) => hits
                .iter()
                .map(|raw| match self.validator.validate(raw) {
                    Ok(hit) => Outcome { line: number, event: raw.index, ok: true, hit: Some(hit), reasons: None },
                    Err(reasons) => refused(number, raw.index, reasons),
                })
                .collect(),
        }
    }

    /// Split hits still incomplete at the end of the input, as refusals.
    pub fn finish(&mut self, last_line: usize) -> Vec<Outcome> {
        self.multihits
            .expire(u64::MAX)
            .into_iter()
            .map(|parts| {
                let message = format!("split hit incomplete at end of input: {} part(s) received", parts.len());
                refused(last_line, 0, vec![Rejection::new("incomplete_multihit", "mh", None, message)])
            })
            .collect()
    }
}

fn refused(line: usize, event: usize, reasons: Vec<Rejection>) -> Outcome {
    Outcome { line, event, ok: false, hit: None, reasons: Some(reasons) }
}
