//! `GET /hit.xiti?…`: the AT Internet SmartTag intake. The tag loads the URL as an image, so the
//! answer is a 1×1 transparent GIF (never cached). Hits split in parts (`mh=i-n-id`) wait for
//! their other parts; parts that never complete go to the dead letters after the configured
//! delay (see [`expire_multihits`]).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use tagging_plan::wire::{parse_xiti, sender_key, Assembled};
use tagging_plan::{Rejection, WireFormat};

use super::error::ApiError;
use super::intake::{store_events, store_refused_request};
use super::state::CollectorState;
use super::{check_site, classify_client, query_value};

/// A transparent 1×1 GIF.
pub const PIXEL: [u8; 43] = [
    0x47, 0x49, 0x46, 0x38, 0x39, 0x61, 0x01, 0x00, 0x01, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0x21, 0xf9, 0x04, 0x01, 0x00,
    0x00, 0x00, 0x00, 0x2c, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x02, 0x02, 0x44, 0x01, 0x00, 0x3b,
];

fn pixel() -> Response {
    let mut response = (StatusCode::OK, PIXEL).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("image/gif"));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache, must-revalidate"));
    response
}

/// The handler. It reads the request's parts in place (a `HeaderMap` extractor would clone the
/// headers for every hit).
pub async fn get_hit(State(state): State<Arc<CollectorState>>, request: Request) -> Result<Response, ApiError> {
    state.metrics.requests_xiti.fetch_add(1, Ordering::Relaxed);
    let query = request.uri().query().unwrap_or_default().to_owned();
    let result = handle(&state, query, request.headers()).await;
    if let Err(error) = &result {
        state.metrics.error(error.code);
    }
    result
}

async fn handle(state: &CollectorState, query: String, headers: &HeaderMap) -> Result<Response, ApiError> {
    state.metrics.bytes.fetch_add(query.len() as u64, Ordering::Relaxed);
    let site = query_value(&query, "s");
    check_site(state, site.as_deref())?;
    let Ok(client) = classify_client(state, headers) else { return Ok(pixel()) };
    let now = Utc::now();
    let now_ms = u64::try_from(now.timestamp_millis()).unwrap_or_default();
    let assembled = state.multihits.lock().expect("multihit lock").push(&sender_key(&query), &query, now_ms);
    let query = match assembled {
        Assembled::Single => query,
        Assembled::Complete(whole) => whole,
        Assembled::Waiting => return Ok(pixel()),
        Assembled::Invalid(message) => {
            store_refused_request(state, WireFormat::Xiti, site, Rejection::new("invalid_multihit", "mh", None, message.clone()), now).await?;
            return Err(ApiError::new(StatusCode::BAD_REQUEST, "invalid_multihit", message));
        }
    };
    store_events(state, &[parse_xiti(&query)], &client, now).await?;
    Ok(pixel())
}

/// Sends the split hits that waited past the timeout to the dead letters; returns how many.
pub async fn expire_multihits(state: &CollectorState) -> usize {
    let now = Utc::now();
    let timeout_ms = u64::try_from(state.config.multihit_timeout.as_millis()).unwrap_or(u64::MAX);
    let before = u64::try_from(now.timestamp_millis()).unwrap_or_default().saturating_sub(timeout_ms);
    let expired = state.multihits.lock().expect("multihit lock").expire(before);
    for parts in &expired {
        let site = parts.first().and_then(|q| query_value(q, "s"));
        let message = format!("split hit incomplete after {:?}: {} part(s) received", state.config.multihit_timeout, parts.len());
        if let Err(error) =
            store_refused_request(state, WireFormat::Xiti, site, Rejection::new("incomplete_multihit", "mh", None, message), now).await
        {
            tracing::warn!(code = error.code, "could not store an expired split hit");
        }
    }
    expired.len()
}
