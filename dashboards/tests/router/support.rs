//! What the router tests share: a Parquet store filled by the pipeline with synthetic traffic
//! and dead letters, apps over it with their tokens, requests through the real router, and
//! readers of the figures a page shows.

pub(crate) use std::sync::Arc;

pub(crate) use axum::body::Body;
pub(crate) use axum::http::{Request, StatusCode};
pub(crate) use axum::Router;
pub(crate) use chrono::NaiveDate;
pub(crate) use collector::record::{DeadLetter, StoredReason};
pub(crate) use dashboards::{router, DashboardConfig, Dashboards, EditorAccess};
pub(crate) use http_body_util::BodyExt;
pub(crate) use pipeline::facts::hits_batch;
pub(crate) use pipeline::hit_row::{HitRow, Placer};
pub(crate) use pipeline::sessionize::Sessionizer;
pub(crate) use pipeline::synthetic::{stored_hits, TrafficSpec};
pub(crate) use pipeline::tagging::{dead_letter_batch, rejects_batch, Recovery};
pub(crate) use pipeline::{ParquetRollupStore, RollupStore};
pub(crate) use serde_json::Value;
pub(crate) use tagging_plan::{Plan, Referential, WireFormat};
pub(crate) use tower::ServiceExt;

pub(crate) const READER: &str = "lecteur-de-test";
pub(crate) const EDITOR: &str = "editeur-bzh";

pub(crate) fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

pub(crate) async fn filled_store(dir: &std::path::Path) -> Arc<ParquetRollupStore> {
    let plan = Plan::shipped();
    let store = Arc::new(ParquetRollupStore::open(dir).unwrap());
    let spec = TrafficSpec { hits: 30_000, schools: 40, visitors_per_school: 25, first_day: day("2026-09-07"), days: 21, late_percent: 0, seed: 7 };
    let mut placer = Placer::new(&plan, Referential::shipped());
    let rows: Vec<HitRow> =
        stored_hits(&spec, &plan, Referential::shipped()).into_iter().enumerate().map(|(i, h)| placer.row(i as u64, h).unwrap()).collect();
    let mut days: Vec<NaiveDate> = rows.iter().map(|r| r.day).collect();
    days.sort();
    days.dedup();
    for d in days {
        let of_day: Vec<HitRow> = rows.iter().filter(|r| r.day == d).cloned().collect();
        store.stage_hits(d, hits_batch(&of_day)).await.unwrap();
        let facts = Sessionizer::default().run(store.day_hits(d).await.unwrap()).await.unwrap();
        store.replace_day(d, facts).await.unwrap();
    }
    let letter = |ms: i64, code: &str, field: &str, value: &str| DeadLetter {
        received_ms: ms,
        format: WireFormat::Piano,
        site: Some("1".into()),
        plateforme: Some("ENT-BZH".into()),
        event: "page.display".into(),
        reasons: vec![StoredReason { code: code.into(), field: field.into(), value: Some(value.into()), message: String::new() }],
        properties: vec![("uai".into(), value.into()), ("user_id".into(), "pseudonyme".into())],
    };
    let monday_noon = 1_788_775_200_000; // 2026-09-07T12:00+02:00
    let letters: Vec<(u64, DeadLetter)> = (0..12u64)
        .map(|i| {
            let ms = monday_noon + i64::try_from(i).unwrap() * 86_400_000;
            (i, if i % 3 == 0 { letter(ms, "tiers_without_outil", "outil", "") } else { letter(ms, "unknown_uai", "uai", "0359999Z") })
        })
        .collect();
    let mut by_day: std::collections::BTreeMap<NaiveDate, Vec<(u64, DeadLetter)>> = std::collections::BTreeMap::new();
    for (o, l) in letters {
        by_day.entry(pipeline::tagging::reject_day(l.received_ms)).or_default().push((o, l));
    }
    for (d, ls) in by_day {
        store.stage_rejects(d, rejects_batch(&ls)).await.unwrap();
    }
    // A replay on 2026-09-25 recovered the letters 1 and 2 (unknown_uai) and 3 (tiers_without_outil).
    let done = Recovery { position: 100, written_ms: monday_noon + 18 * 86_400_000, letters: vec![1, 2, 3] };
    store.stage_rejects(done.day(), dead_letter_batch(&[], &[done])).await.unwrap();
    store
}

pub(crate) async fn app(k: u64) -> (Router, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = filled_store(dir.path()).await;
    let config = DashboardConfig {
        k,
        readers: vec![READER.into()],
        editors: vec![EditorAccess { name: "Région Bretagne".into(), token: EDITOR.into(), plateformes: vec!["ENT-BZH".into()] }],
        ..DashboardConfig::default()
    };
    let dashboards =
        Dashboards::new(store, Arc::new(Plan::shipped()), Arc::new(Referential::shipped().clone()), config).with_today(day("2026-09-24"));
    (router(Arc::new(dashboards)), dir)
}

pub(crate) async fn get(app: &Router, uri: &str, token: Option<&str>) -> (StatusCode, String, String) {
    let mut request = Request::get(uri);
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    let response = app.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let content_type = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let body = String::from_utf8(response.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    (status, content_type, body)
}

/// The text of the element carrying `data-field="FIELD" data-code="CODE"` (first one).
pub(crate) fn page_figure(html: &str, field: &str, code: &str) -> Option<String> {
    let marker = format!("data-field=\"{field}\" data-code=\"{code}\">");
    let start = html.find(&marker)? + marker.len();
    Some(html[start..].split('<').next()?.to_owned())
}

/// The text of the `data-field` cell of the table row `data-code`.
pub(crate) fn row_figure(html: &str, code: &str, field: &str) -> Option<String> {
    let row_start = html.find(&format!("<tr data-code=\"{code}\""))?;
    let row = &html[row_start..html[row_start..].find("</tr>")? + row_start];
    let marker = format!("data-field=\"{field}\">");
    let start = row.find(&marker)? + marker.len();
    Some(row[start..].split('<').next()?.to_owned())
}

pub(crate) const OWNER: &str = "porteur-toutatice";
pub(crate) const ADMIN: &str = "administrateur-de-test";

/// The app of [`app`] with a project owner, an administrator, a note in the configuration, a
/// second known project (`AUTRE`, by its listed school) and the API's notes kept in `notes_dir`,
/// over a store filled by [`filled_store`] (opened read-only: two apps may share it).
pub(crate) fn annotating_app(store_dir: &std::path::Path, notes_dir: &std::path::Path) -> Router {
    let store = Arc::new(ParquetRollupStore::open_read_only(store_dir).unwrap());
    let config = DashboardConfig {
        readers: vec![READER.into()],
        owners: vec![dashboards::OwnerAccess { name: "Porteur Toutatice".into(), token: OWNER.into(), projets: vec!["TOUTATICE".into()] }],
        admins: vec![ADMIN.into()],
        project_schools: [("AUTRE".to_owned(), vec!["0350122T".to_owned()])].into(),
        annotations: vec![dashboards::perimeter::Annotation { projet: None, date: day("2026-09-01"), text: "Rentrée".into() }],
        cache_seconds: 0,
        ..DashboardConfig::default()
    };
    let notes = dashboards::annotations::NoteBook::open(notes_dir).unwrap();
    let dashboards = Dashboards::new(store, Arc::new(Plan::shipped()), Arc::new(Referential::shipped().clone()), config)
        .with_today(day("2026-09-24"))
        .with_notes(notes);
    router(Arc::new(dashboards))
}

pub(crate) async fn send(app: &Router, method: &str, uri: &str, token: Option<&str>, body: &str) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri).header("content-type", "application/json");
    if let Some(t) = token {
        request = request.header("authorization", format!("Bearer {t}"));
    }
    let response = app.clone().oneshot(request.body(Body::from(body.to_owned())).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}
