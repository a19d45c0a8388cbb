//! The path every request takes once read: validate each event against the plan, pseudonymize,
//! encode, and append valid hits and dead letters to the log, durably, before the answer.

use std::time::Instant;

use chrono::{DateTime, Utc};
use tagging_plan::{RawHit, Rejection, Validator, WireFormat};

use super::error::ApiError;
use super::state::CollectorState;
use crate::log::{LogRecord, Topic};
use crate::record::{pseudonym_property, DeadLetter, StoredHit, StoredReason, ID_PROPERTIES};
use crate::useragent::ClientClass;

/// What a request contributed.
#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
pub struct IntakeCounts {
    /// Events written to the hit log.
    pub accepted: usize,
    /// Events written to the dead letters.
    pub rejected: usize,
}

/// Validates, pseudonymizes and durably stores the events of one request.
pub async fn store_events(state: &CollectorState, raws: &[RawHit<'_>], client: &ClientClass, now: DateTime<Utc>) -> Result<IntakeCounts, ApiError> {
    store_timed(state, raws.iter().map(|raw| (raw, now)), client).await
}

/// Validates, pseudonymizes and durably stores events, each with its own receive time (live
/// traffic: now; `dnma import`: the recorded time), in one append per topic.
pub async fn store_timed<'a>(
    state: &CollectorState,
    events: impl Iterator<Item = (&'a RawHit<'a>, DateTime<Utc>)>,
    client: &ClientClass,
) -> Result<IntakeCounts, ApiError> {
    let validator = Validator::new(&state.plan).with_referential(&state.referential);
    let mut hits = Vec::with_capacity(events.size_hint().0);
    let mut dead = Vec::new();
    let mut newest_ms = None;
    for (raw, now) in events {
        let received_ms = now.timestamp_millis();
        match validator.validate(raw) {
            Ok(hit) => {
                let visitor = state.keys.pseudonym(&hit.plateforme, &hit.visitor_id, now).map_err(key_error)?;
                let stored = StoredHit::new(hit, visitor, client.clone(), received_ms);
                newest_ms = newest_ms.max(Some(received_ms));
                hits.push(LogRecord { key: visitor.0.to_vec(), payload: stored.encode() });
            }
            Err(reasons) => {
                for reason in &reasons {
                    state.metrics.rejected(&reason.code);
                }
                let letter = dead_letter(state, raw, reasons, now)?;
                dead.push(LogRecord { key: Vec::new(), payload: letter.encode_with_client(client) });
            }
        }
    }
    let counts = IntakeCounts { accepted: hits.len(), rejected: dead.len() };
    append_both(state, hits, dead).await?;
    state.metrics.accepted.fetch_add(counts.accepted as u64, std::sync::atomic::Ordering::Relaxed);
    if let Some(ms) = newest_ms {
        state.freshness.acknowledged(ms);
    }
    Ok(counts)
}

/// Stores a dead letter for a request refused as a whole (nothing of it is kept but the reason).
pub async fn store_refused_request(
    state: &CollectorState,
    format: WireFormat,
    site: Option<String>,
    reason: Rejection,
    now: DateTime<Utc>,
) -> Result<(), ApiError> {
    state.metrics.rejected(&reason.code);
    let letter = DeadLetter {
        received_ms: now.timestamp_millis(),
        format,
        site,
        plateforme: None,
        event: String::new(),
        reasons: vec![reason.into()],
        properties: Vec::new(),
    };
    append_both(state, Vec::new(), vec![LogRecord { key: Vec::new(), payload: letter.encode() }]).await
}

async fn append_both(state: &CollectorState, hits: Vec<LogRecord>, dead: Vec<LogRecord>) -> Result<(), ApiError> {
    let started = Instant::now();
    let log = &state.log;
    let hits = async {
        if hits.is_empty() {
            Ok(0)
        } else {
            log.append(Topic::Hits, hits).await
        }
    };
    let dead = async {
        if dead.is_empty() {
            Ok(0)
        } else {
            log.append(Topic::DeadLetters, dead).await
        }
    };
    let (hits, dead) = tokio::join!(hits, dead);
    state.metrics.append_latency(started.elapsed());
    hits.and(dead).map(|_| ()).map_err(|e| ApiError::unavailable(&e))
}

/// A refused event as stored: its properties with user ids replaced by their pseudonym.
fn dead_letter(state: &CollectorState, raw: &RawHit<'_>, reasons: Vec<Rejection>, now: DateTime<Utc>) -> Result<DeadLetter, ApiError> {
    let plateforme = raw.get("plateforme").or_else(|| raw.get("x4")).map(|p| p.trim().to_ascii_uppercase());
    let mut properties = Vec::with_capacity(raw.properties.len());
    for (name, value) in &raw.properties {
        if ID_PROPERTIES.contains(&name.as_ref()) {
            let pseudonym = state.keys.pseudonym(plateforme.as_deref().unwrap_or_default(), value, now).map_err(key_error)?;
            properties.push((name.to_string(), pseudonym_property(&pseudonym)));
        } else {
            properties.push((name.to_string(), value.to_string()));
        }
    }
    Ok(DeadLetter {
        received_ms: now.timestamp_millis(),
        format: raw.format,
        site: raw.get("s").map(str::to_owned),
        plateforme,
        event: raw.event.to_string(),
        reasons: reasons.into_iter().map(StoredReason::from).collect(),
        properties,
    })
}

#[allow(clippy::needless_pass_by_value)] // used as `map_err(key_error)`
fn key_error(error: crate::pseudonym::KeyError) -> ApiError {
    tracing::error!(%error, "pseudonymization key unavailable");
    ApiError::new(axum::http::StatusCode::SERVICE_UNAVAILABLE, "key_unavailable", "the collector cannot pseudonymize right now")
}
