//! The inspector's routes: the page `/conformite/{plateforme}/direct` and its server-sent event
//! stream `/conformite/{plateforme}/direct/flux` (`text/event-stream`: a `pret` event once
//! subscribed, saying how many recent hits follow (`recents`), then those, then one `hit` event
//! per new hit, each a JSON [`LiveEvent`]; `perte` when events were lost; a keep-alive comment
//! every 15 s). Both are the editor's of the platform only, as its
//! conformance page. The page needs a few lines of plain JavaScript (`EventSource`), no framework.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use futures::StreamExt;
use maud::{html, Markup, PreEscaped};
use tokio::sync::broadcast::error::RecvError;

use super::recent::RECENT_EVENTS;
use super::{LiveEvent, Notice, SubscribeError, Subscription};
use crate::access::Access;
use crate::routes::editor;
use crate::{api, pages, DashboardError, Shared};

/// Rows the page keeps (the oldest go).
const PAGE_ROWS: usize = 300;

/// The inspector's routes.
pub fn routes() -> Router<Shared> {
    Router::new().route("/conformite/{plateforme}/direct", get(page)).route("/conformite/{plateforme}/direct/flux", get(flux))
}

async fn page(State(d): State<Shared>, headers: HeaderMap, Path(plateforme): Path<String>) -> Response {
    match editor(&d, &headers, &plateforme) {
        Ok(access) => inspector(&access, &plateforme, d.live().is_some()).into_response(),
        Err(e) => (api::status(&e), pages::error_page(&e)).into_response(),
    }
}

/// A platform's hits as they arrive: server-sent events, `pret` once subscribed (with how many
/// recent hits follow), the platform's recent hits, then one `hit` per new hit (a JSON
/// `LiveEvent`), `perte` when some were dropped; the editor's token of the platform.
#[utoipa::path(get, path = "/conformite/{plateforme}/direct/flux", params(("plateforme" = String, Path, description = "Plateforme")), responses(
    (status = 200, description = "Flux `text/event-stream` : `pret` (avec `recents`, le nombre de hits récents qui suivent), les derniers hits de la plateforme, puis un événement `hit` par nouveau hit (LiveEvent en JSON), `perte` quand des hits n'ont pas été transmis", content_type = "text/event-stream", body = LiveEvent),
    (status = 401, body = crate::api::ApiError), (status = 403, body = crate::api::ApiError), (status = 503, body = crate::api::ApiError)
))]
pub async fn flux(State(d): State<Shared>, headers: HeaderMap, Path(plateforme): Path<String>) -> Response {
    if let Err(e) = editor(&d, &headers, &plateforme) {
        return api::json_error(&e);
    }
    let Some(feed) = d.live() else {
        return api::json_error(&DashboardError::Unavailable(
            "la vue en direct n'est pas disponible dans ce déploiement (pas d'accès au journal des hits)".into(),
        ));
    };
    let Subscription { recent, receiver } = match feed.subscribe(&plateforme).await {
        Ok(subscription) => subscription,
        Err(SubscribeError::Full) => {
            return api::json_error(&DashboardError::Unavailable("trop de vues en direct ouvertes sur cette plateforme".into()))
        }
        Err(SubscribeError::NotServed(_)) => {
            return api::json_error(&DashboardError::Unavailable("cette plateforme n'a pas d'éditeur configuré".into()))
        }
        Err(SubscribeError::Log(e)) => return api::json_error(&DashboardError::Unavailable(format!("journal des hits : {e}"))),
    };
    let ready = Event::default().event("pret").data(serde_json::json!({ "plateforme": plateforme, "recents": recent.len() }).to_string());
    let recent = futures::stream::iter(recent.into_iter().map(|event| Ok::<_, Infallible>(hit_event(&event))));
    let events = futures::stream::unfold(receiver, |mut receiver| async move {
        let event = match receiver.recv().await {
            Ok(Notice::Event(event)) => hit_event(&event),
            Ok(Notice::Skipped) => Event::default().event("perte").data(r#"{"raison":"retard"}"#),
            Err(RecvError::Lagged(lost)) => Event::default().event("perte").data(format!(r#"{{"raison":"lent","perdus":{lost}}}"#)),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok::<_, Infallible>(event), receiver))
    });
    let stream = futures::stream::once(async { Ok(ready) }).chain(recent).chain(events);
    // Proxies that buffer responses (nginx) would hold the events back.
    ([("x-accel-buffering", "no")], Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))).into_response()
}

/// A `hit` event: the JSON of the hit.
fn hit_event(event: &LiveEvent) -> Event {
    let json = serde_json::to_string(event).unwrap_or_else(|e| format!(r#"{{"error":"{e}"}}"#));
    Event::default().event("hit").data(json)
}

const SCRIPT: &str = r"
(function () {
  const table = document.getElementById('direct'), body = table.tBodies[0], state = document.getElementById('etat');
  const keep = Number(table.dataset.lignes);
  function cell(row, text, cls) { const td = row.insertCell(); td.textContent = text; if (cls) td.className = cls; return td; }
  function add(row) { body.insertBefore(row, body.firstChild); while (body.rows.length > keep) body.deleteRow(-1); }
  const source = new EventSource(table.dataset.flux);
  source.addEventListener('pret', function (e) {
    const n = JSON.parse(e.data).recents || 0;
    body.replaceChildren();
    state.textContent = (n ? 'Connecté : les ' + n + ' derniers hits reçus, puis les nouveaux à leur arrivée.' : 'Connecté : les hits s\u2019affichent à leur arrivée.');
    state.dataset.etat = 'ouvert';
  });
  source.addEventListener('hit', function (e) {
    const h = JSON.parse(e.data), row = document.createElement('tr');
    row.dataset.statut = h.status;
    cell(row, h.received.slice(11, 23));
    cell(row, h.status === 'accepted' ? 'accepté' : 'refusé', h.status === 'accepted' ? 'ok' : 'ko');
    cell(row, h.event);
    const details = cell(row, '');
    if (h.status === 'accepted') {
      const parts = ['service ' + h.service, 'type ' + h.service_type];
      if (h.outil) parts.push('outil ' + h.outil);
      parts.push('UAI ' + h.uai, 'profil ' + h.profil, 'projet ' + h.projet, 'plan ' + h.plan_version);
      if (h.page) parts.push('page ' + h.page);
      details.textContent = parts.join(' · ');
      h.warnings.forEach(function (w) { const b = document.createElement('span'); b.className = 'badge'; b.dataset.avertissement = w; b.textContent = w; details.append(' ', b); });
      if (h.replayed) details.append(' (rejoué)');
    } else {
      h.reasons.forEach(function (r) {
        const line = document.createElement('div'), code = document.createElement('code');
        code.textContent = r.code; line.dataset.motif = r.code;
        line.append(code, ' (' + r.field + (r.value ? ' = ' + r.value : '') + ') — ' + r.message);
        details.append(line);
      });
    }
    cell(row, h.pseudonym || '—', 'pseudonyme');
    add(row);
  });
  source.addEventListener('perte', function (e) {
    const p = JSON.parse(e.data), row = document.createElement('tr'), td = cell(row, '', 'muted');
    td.colSpan = 5;
    td.textContent = p.raison === 'lent' ? p.perdus + ' hits non affichés (la page ne suivait pas).' : 'Des hits n\u2019ont pas été affichés (le serveur ne suivait pas le journal).';
    add(row);
  });
  source.onerror = function () { state.textContent = 'Connexion interrompue ; nouvelle tentative…'; state.dataset.etat = 'interrompu'; };
})();
";

/// The inspector page.
fn inspector(access: &Access, plateforme: &str, available: bool) -> Markup {
    let body = html! {
        p { a href={ "/conformite/" (plateforme) } { "← Conformité du marquage" } }
        @if available {
            p.muted { "Les hits de la plateforme, acceptés ou refusés avec leurs motifs, dans la seconde qui suit leur réception par le collecteur, "
                "après les " (RECENT_EVENTS) " derniers reçus avant l'ouverture de la page. "
                "Le visiteur n'apparaît que sous son pseudonyme. Les " (PAGE_ROWS) " derniers restent affichés." }
            p #etat data-etat="connexion" { "Connexion…" }
            table #direct data-flux={ "/conformite/" (plateforme) "/direct/flux" } data-lignes=(PAGE_ROWS) {
                thead { tr { th { "Reçu à" } th { "Statut" } th { "Événement" } th { "Marquage ou motifs du refus" } th { "Pseudonyme" } } }
                tbody {}
            }
            style { (PreEscaped("td.ok{color:#18753c;font-weight:bold} td.ko{color:#ce0500;font-weight:bold} td.pseudonyme{font-family:monospace;font-size:.8rem}")) }
            script { (PreEscaped(SCRIPT)) }
        } @else {
            p #etat data-etat="indisponible" { "La vue en direct n'est pas disponible dans ce déploiement : ces tableaux de bord n'ont pas accès au journal des hits." }
        }
    };
    pages::layout(&format!("Hits en direct — {plateforme}"), access, &body)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use collector::log::{EmbeddedHitLog, EmbeddedLogConfig, HitLog, LogRecord, Topic};
    use http_body_util::BodyExt;
    use tagging_plan::{Plan, Referential};
    use tower::ServiceExt;

    use super::*;
    use crate::{DashboardConfig, Dashboards, EditorAccess};

    fn dashboards(dir: &std::path::Path) -> Dashboards {
        let store = Arc::new(pipeline::ParquetRollupStore::open(&dir.join("rollups")).unwrap());
        let config = DashboardConfig {
            editors: vec![EditorAccess { name: "Éditeur".into(), token: "jeton-one".into(), plateformes: vec!["ONE".into()] }],
            ..DashboardConfig::default()
        };
        Dashboards::new(store, Arc::new(Plan::shipped()), Arc::new(Referential::shipped().clone()), config)
    }

    fn request(uri: &str, token: Option<&str>) -> Request<Body> {
        let mut request = Request::get(uri);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        request.body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn the_stream_is_the_platforms_editors_and_says_when_there_is_no_log() {
        let dir = tempfile::tempdir().unwrap();
        let app = crate::router(Arc::new(dashboards(dir.path())));
        let status = |uri: &'static str, token: Option<&'static str>| {
            let app = app.clone();
            async move { app.oneshot(request(uri, token)).await.unwrap().status() }
        };
        assert_eq!(status("/conformite/ONE/direct/flux", None).await, StatusCode::UNAUTHORIZED);
        assert_eq!(status("/conformite/MBN/direct/flux", Some("jeton-one")).await, StatusCode::FORBIDDEN);
        assert_eq!(status("/conformite/MBN/direct", Some("jeton-one")).await, StatusCode::FORBIDDEN);
        let response = app.clone().oneshot(request("/conformite/ONE/direct/flux", Some("jeton-one"))).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(serde_json::from_slice::<serde_json::Value>(&body).unwrap()["error"], "unavailable");
        let page = app.oneshot(request("/conformite/ONE/direct", Some("jeton-one"))).await.unwrap();
        assert_eq!(page.status(), StatusCode::OK);
        let html = String::from_utf8(page.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
        assert!(html.contains(r#"data-etat="indisponible""#));
    }

    #[tokio::test]
    async fn the_stream_sends_ready_then_the_platforms_recent_hits_then_its_new_ones_as_json_events() {
        let dir = tempfile::tempdir().unwrap();
        let log = Arc::new(EmbeddedHitLog::open(&dir.path().join("log"), EmbeddedLogConfig::default()).unwrap());
        let app = crate::router(Arc::new(dashboards(dir.path()).with_live(log.clone() as Arc<dyn HitLog>)));
        let mut earlier = crate::live::event::tests::hit("ONE");
        earlier.page = Some("avant".into());
        log.append(Topic::Hits, vec![LogRecord { key: vec![1], payload: earlier.encode() }]).await.unwrap();
        let response = app.oneshot(request("/conformite/ONE/direct/flux", Some("jeton-one"))).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let mut body = response.into_body();
        let mut text = String::new();
        let mut next = async || {
            let frame = tokio::time::timeout(Duration::from_secs(3), body.frame()).await.expect("an event in time").unwrap().unwrap();
            String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap()
        };
        text.push_str(&next().await);
        assert!(text.starts_with("event: pret\ndata: {\"plateforme\":\"ONE\",\"recents\":1}"), "{text}");
        let recent = next().await;
        assert!(recent.starts_with("event: hit\ndata: {") && recent.contains(r#""page":"avant""#), "the hit sent before: {recent}");
        let hit = crate::live::event::tests::hit("ONE").encode();
        log.append(Topic::Hits, vec![LogRecord { key: vec![1], payload: hit }]).await.unwrap();
        let event = next().await;
        assert!(event.starts_with("event: hit\ndata: {"), "{event}");
        let json: serde_json::Value = serde_json::from_str(event.lines().nth(1).unwrap().strip_prefix("data: ").unwrap()).unwrap();
        assert_eq!((json["status"].as_str(), json["service"].as_str()), (Some("accepted"), Some("COURRIER_ELECTRONIQUE")));
    }

    #[test]
    fn the_page_streams_from_its_platforms_flux_or_says_it_cannot() {
        let access = Access {
            reader: false,
            plateformes: vec!["ONE".into()],
            editor: Some("Éditeur".into()),
            known: true,
            projets: Vec::new(),
            owner: None,
            admin: false,
        };
        let page = inspector(&access, "ONE", true).into_string();
        assert!(page.contains(r#"data-flux="/conformite/ONE/direct/flux""#), "{page}");
        assert!(page.contains("new EventSource"));
        let page = inspector(&access, "ONE", false).into_string();
        assert!(page.contains(r#"data-etat="indisponible""#) && !page.contains("EventSource"));
    }
}
