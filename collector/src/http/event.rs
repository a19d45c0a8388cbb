//! `POST /event?s=SITE&idclient=ID`: the Piano Analytics SDK intake (`piano-analytics-js`).
//!
//! The SDK posts `{"events":[…]}` as `text/plain;charset=UTF-8` with `navigator.sendBeacon`
//! (no preflight, answer never read, never retried) or with `fetch` (needs CORS and a 2xx, else
//! the same body is sent again). A body is answered only once its events are durable; a retried
//! body is recognized and stored once.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Utc;
use tagging_plan::wire::parse_piano;
use tagging_plan::{Rejection, WireFormat};

use super::error::ApiError;
use super::intake::{store_events, store_refused_request};
use super::state::CollectorState;
use super::{check_site, classify_client, query_value};

/// Content types the SDK and its variants send.
const ACCEPTED_TYPES: [&str; 3] = ["text/plain", "application/json", "application/x-www-form-urlencoded"];

/// The handler. It takes the request whole and moves its headers out rather than extracting a
/// `HeaderMap`, which would clone them for every body.
pub async fn post_event(State(state): State<Arc<CollectorState>>, request: Request) -> Result<Response, ApiError> {
    let metrics = &state.metrics;
    metrics.requests_piano.fetch_add(1, Ordering::Relaxed);
    let (mut parts, body) = request.into_parts();
    let query = parts.uri.query().unwrap_or_default().to_owned();
    let headers = std::mem::take(&mut parts.headers);
    let body = Bytes::from_request(Request::from_parts(parts, body), &()).await;
    let result = handle(&state, query, &headers, body).await;
    if let Err(error) = &result {
        metrics.error(error.code);
    }
    result
}

async fn handle(state: &CollectorState, query: String, headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Response, ApiError> {
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", format!("the body is over {} bytes", state.config.max_body_bytes))
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "unreadable_body", e.body_text())
        }
    })?;
    state.metrics.bytes.fetch_add((body.len() + query.len()) as u64, Ordering::Relaxed);
    let site = query_value(&query, "s");
    check_site(state, site.as_deref())?;
    if let Some(content_type) = headers.get(header::CONTENT_TYPE) {
        let essence = content_type.to_str().unwrap_or_default().split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        if !ACCEPTED_TYPES.contains(&essence.as_str()) {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_content_type",
                format!("content type {essence:?}: send text/plain or application/json"),
            ));
        }
    }
    let Ok(client) = classify_client(state, headers) else { return Ok(StatusCode::NO_CONTENT.into_response()) };
    let now = Utc::now();
    let raws = match parse_piano(&query, &body) {
        Ok(raws) => raws,
        Err(error) => {
            let reason = Rejection::new(error.code(), "body", None, error.to_string());
            store_refused_request(state, WireFormat::Piano, site, reason, now).await?;
            return Err(ApiError::new(StatusCode::BAD_REQUEST, error.code(), error.to_string()));
        }
    };
    if raws.len() > state.config.max_events_per_body {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_events",
            format!("{} events in one body; at most {}", raws.len(), state.config.max_events_per_body),
        ));
    }
    let fingerprint = state.recent.fingerprint(&query, &body);
    if state.recent.is_retry(fingerprint) {
        state.metrics.duplicates.fetch_add(1, Ordering::Relaxed);
        return Ok((StatusCode::OK, Json(serde_json::json!({ "accepted": 0, "rejected": 0, "duplicate": true }))).into_response());
    }
    let counts = store_events(state, &raws, &client, now).await?;
    state.recent.stored(fingerprint);
    Ok((StatusCode::OK, Json(counts)).into_response())
}
