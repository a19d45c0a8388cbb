//! Error answers: every refused request gets a 4xx or 5xx with a JSON body
//! `{"error": "<stable_code>", "message": "…"}`; internals are logged, not sent.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;

/// A request the collector refuses, with its stable code.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code.
    pub code: &'static str,
    /// Message for people.
    pub message: String,
}

impl ApiError {
    /// An error answer.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }

    /// The log cannot take the hits now: 503, retry in a second.
    pub fn unavailable(error: &crate::log::LogError) -> Self {
        tracing::error!(%error, "hit log append failed");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "log_unavailable", "the hit log cannot take hits right now; retry")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.code, "message": self.message });
        let mut response = (self.status, Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
