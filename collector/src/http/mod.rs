//! The HTTP intake (axum): routes, CORS, body limits, and the helpers the handlers share.
//!
//! | route | what |
//! |---|---|
//! | `POST /event` | Piano Analytics SDK bodies |
//! | `GET /hit.xiti` | AT Internet SmartTag hits (1×1 GIF answer) |
//! | `GET /healthz` | liveness: 200 `ok` |
//! | `GET /metrics` | Prometheus text |

mod dedupe;
mod error;
mod event;
mod intake;
mod metrics;
pub mod serve;
mod state;
mod xiti;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;
use tower::ServiceBuilder;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use error::ApiError;
pub use intake::{store_refused_request, store_timed, IntakeCounts};
pub use metrics::Metrics;
pub use serve::{serve, Limited, ServerLimits};
pub use state::{CollectorState, IntakeConfig};
pub use xiti::{expire_multihits, PIXEL};

use crate::log::Topic;
use crate::useragent::{Client, ClientClass};

/// The collector's routes over a shared state.
pub fn router(state: Arc<CollectorState>) -> Router {
    let cors = cors_layer(&state.config.allowed_origins);
    Router::new()
        .route("/event", post(event::post_event))
        .route("/hit.xiti", get(xiti::get_hit))
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics_page))
        // One layer call: each `Router::layer` boxes every route once more, cloned per request.
        .layer(ServiceBuilder::new().layer(cors).layer(DefaultBodyLimit::max(state.config.max_body_bytes)))
        .with_state(state)
}

/// Sends expired split SmartTag hits to the dead letters every second, until the state is gone.
pub fn spawn_multihit_expiry(state: &Arc<CollectorState>) -> tokio::task::JoinHandle<()> {
    let weak = Arc::downgrade(state);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let Some(state) = weak.upgrade() else { break };
            expire_multihits(&state).await;
        }
    })
}

fn cors_layer(origins: &[String]) -> CorsLayer {
    let allow = if origins.is_empty() { AllowOrigin::any() } else { AllowOrigin::list(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok())) };
    CorsLayer::new()
        .allow_origin(allow)
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::CONTENT_TYPE])
        .max_age(Duration::from_secs(86_400))
}

async fn metrics_page(State(state): State<Arc<CollectorState>>) -> impl IntoResponse {
    let mut topics = Vec::new();
    for topic in Topic::ALL {
        if let Ok(stats) = state.log.stats(topic).await {
            topics.push((topic.name(), stats.bytes, stats.end_offset));
        }
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render(&topics, &state.freshness))
}

/// The first value of a query parameter.
fn query_value(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.into_owned())
}

/// Refuses a site outside the allowlist, when one is configured.
fn check_site(state: &CollectorState, site: Option<&str>) -> Result<(), ApiError> {
    match (&state.config.allowed_sites, site) {
        (Some(allowed), Some(site)) if allowed.contains(site) => Ok(()),
        (Some(_), site) => {
            Err(ApiError::new(StatusCode::FORBIDDEN, "unknown_site", format!("site {:?} is not allowed on this collector", site.unwrap_or_default())))
        }
        (None, _) => Ok(()),
    }
}

/// The client's classes, or `Err` for a bot (counted, not stored).
fn classify_client(state: &CollectorState, headers: &HeaderMap) -> Result<ClientClass, ()> {
    let user_agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    match state.user_agents.classify(user_agent) {
        Client::Human(class) => Ok(class),
        Client::Bot(class) => {
            state.metrics.dropped(class);
            Err(())
        }
    }
}

#[cfg(test)]
mod tests;
