//! The two wire formats, parsed into [`RawHit`]s, and the request line that `dnma plan validate`
//! and `dnma import` read (a URL, and for the SDK a tab and its JSON body).

mod error;
mod multihit;
mod piano;
mod request_line;
mod xiti;

pub use error::WireError;
pub use multihit::{sender_key, Assembled, MultiHitAssembler};
pub use piano::parse_piano;
pub use request_line::{parse_request_line, Request};
pub use xiti::{multihit_marker, parse_xiti, MultiHitMarker};

use std::borrow::Cow;

/// Splits a query string into lower-cased names and percent-decoded values (borrowed from the
/// query where nothing had to be decoded or lower-cased).
pub(crate) fn query_pairs(query: &str) -> Vec<(Cow<'_, str>, Cow<'_, str>)> {
    form_urlencoded::parse(query.trim_start_matches('?').as_bytes()).map(|(k, v)| (lowercase_trimmed(k), v)).collect()
}

/// The text trimmed and lower-cased (ASCII), borrowed when it already was.
pub(crate) fn lowercase_trimmed(text: Cow<'_, str>) -> Cow<'_, str> {
    if text.trim().bytes().any(|b| b.is_ascii_uppercase()) {
        return Cow::Owned(text.trim().to_ascii_lowercase());
    }
    trimmed(text)
}

/// The text without surrounding white space, borrowed when it was borrowed.
pub(crate) fn trimmed(text: Cow<'_, str>) -> Cow<'_, str> {
    match text {
        Cow::Borrowed(text) => Cow::Borrowed(text.trim()),
        Cow::Owned(text) if text.len() == text.trim().len() => Cow::Owned(text),
        Cow::Owned(text) => Cow::Owned(text.trim().to_owned()),
    }
}
