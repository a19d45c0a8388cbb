//! Why a request could not be read at all (as opposed to an event that reads but breaks the
//! plan). Each variant has a stable reason code, used in HTTP answers and dead letters.

/// A request that cannot be read into hits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// The body is not UTF-8.
    #[error("the body is not UTF-8")]
    BodyNotUtf8,
    /// The body is not JSON.
    #[error("the body is not valid JSON: {0}")]
    MalformedJson(String),
    /// The JSON has no `events` array.
    #[error("the body has no \"events\" array")]
    MissingEvents,
    /// `events` is empty.
    #[error("the \"events\" array is empty")]
    EmptyEvents,
    /// The URL is neither `/event` nor `hit.xiti`, and no format was forced.
    #[error("cannot tell the wire format of {0:?}: expected a /event or hit.xiti URL")]
    UnknownFormat(String),
    /// An SDK request line without its body.
    #[error("an /event request needs its JSON body after a tab")]
    MissingBody,
}

impl WireError {
    /// The stable reason code.
    pub fn code(&self) -> &'static str {
        match self {
            WireError::BodyNotUtf8 => "body_not_utf8",
            WireError::MalformedJson(_) => "malformed_json",
            WireError::MissingEvents => "missing_events",
            WireError::EmptyEvents => "empty_events",
            WireError::UnknownFormat(_) => "unknown_format",
            WireError::MissingBody => "missing_body",
        }
    }
}
