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

/// Splits a query string into lower-cased names and percent-decoded values.
pub(crate) fn query_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.trim_start_matches('?').as_bytes()).map(|(k, v)| (k.trim().to_ascii_lowercase(), v.into_owned())).collect()
}
