//! The router: pages, CSV downloads, chart images, the login form and the API, each behind the
//! access rule of its audience.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Form, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::Router;
use chrono::NaiveDate;
use tower::ServiceExt;

use crate::access::{self, Access};
use crate::charts::{self, AreaKey, Choropleth, Marks, Series, Span};
use crate::views::{Filters, ProjectView, TerritoryRow, WeekPoint};
use crate::{api, french, geo, pages, suppress, DashboardError, Dashboards, Shared};

/// The chart images, as SVG. Each is also served as PNG at the same path ending in `.png`.
const CHARTS: [&str; 6] = [
    "/graphiques/territoire.svg",
    "/graphiques/carte.svg",
    "/graphiques/carte-departements.svg",
    "/graphiques/projets/{projet}/deploiement.svg",
    "/graphiques/projets/{projet}/services.svg",
    "/graphiques/conformite/{plateforme}/rejets.svg",
];

/// Largest SVG turned into PNG.
const MAX_SVG_BYTES: usize = 16 << 20;

/// The chart routes (SVG).
fn chart_routes() -> Router<Shared> {
    Router::new()
        .route(CHARTS[0], get(territory_chart))
        .route(CHARTS[1], get(map_chart))
        .route(CHARTS[2], get(departement_map_chart))
        .route(CHARTS[3], get(project_chart))
        .route(CHARTS[4], get(project_services_chart))
        .route(CHARTS[5], get(conformance_chart))
        .merge(crate::compare_routes::chart_routes())
}

/// The dashboards' routes.
pub fn router(dashboards: Arc<Dashboards>) -> Router {
    let mut router = Router::new().merge(chart_routes());
    for chart in CHARTS.into_iter().chain([crate::compare_routes::CHART]) {
        router = router.route(&chart.replace(".svg", ".png"), get(png_chart));
    }
    router
        .route("/", get(|| async { Redirect::to("/territoires") }))
        .route("/connexion", get(login_form).post(login))
        .route("/territoires", get(territories_page))
        .route("/territoires.csv", get(territories_csv))
        .route("/projets/{projet}", get(project_page))
        .route("/projets/{projet}/ecoles.csv", get(project_csv))
        .route("/conformite/{plateforme}", get(conformance_page))
        .route("/conformite/{plateforme}/rejets.csv", get(conformance_csv))
        .route("/api/v1/territoires", get(api::territories))
        .route("/api/v1/projets/{projet}", get(api::project))
        .route("/api/v1/conformite/{plateforme}", get(api::conformance))
        .route("/api/v1/openapi.json", get(api::openapi))
        .merge(crate::live::page::routes())
        // Two territories compared, and the notes of the project curves through the API.
        .merge(crate::compare_routes::routes())
        .merge(crate::annotations_api::routes())
        .with_state(dashboards)
}

/// The filters of a request's URL. A malformed one is a 400 with the `bad_request` code: an HTML
/// error page for pages, JSON for the API, charts and CSV files.
pub struct FilterQuery(pub Filters);

impl<S: Send + Sync> FromRequestParts<S> for FilterQuery {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<Filters>::from_request_parts(parts, state).await {
            Ok(Query(filters)) => Ok(FilterQuery(filters)),
            Err(rejection) => {
                let e = DashboardError::BadRequest(format!("filtres de l'adresse : {}", rejection.body_text()));
                let path = parts.uri.path();
                let page = !(path.starts_with("/api/") || path.starts_with("/graphiques/") || path.rsplit('.').next() == Some("csv"));
                Err(if page { (api::status(&e), pages::error_page(&e)).into_response() } else { api::json_error(&e) })
            }
        }
    }
}

/// Admits readers of the analyst and project views.
pub fn reader(d: &Dashboards, headers: &HeaderMap) -> Result<Access, DashboardError> {
    let token = access::token(headers);
    let access = Access::of(d.config(), token.as_deref());
    if access.reader {
        Ok(access)
    } else {
        Err(DashboardError::Denied { authenticated: access.known, message: "un jeton de lecteur est nécessaire (voir /connexion)".into() })
    }
}

/// Admits the editor of one platform.
pub fn editor(d: &Dashboards, headers: &HeaderMap, plateforme: &str) -> Result<Access, DashboardError> {
    let token = access::token(headers);
    let access = Access::of(d.config(), token.as_deref());
    if access.sees_platform(plateforme) {
        Ok(access)
    } else {
        Err(DashboardError::Denied {
            authenticated: access.known,
            message: format!("la conformité de « {plateforme} » n'est visible qu'avec le jeton de son éditeur"),
        })
    }
}

fn page_error(e: &DashboardError) -> Response {
    if api::status(e).is_server_error() {
        tracing::error!(error = %e, "dashboard page error");
    }
    (api::status(e), pages::error_page(e)).into_response()
}

fn html(result: Result<maud::Markup, DashboardError>) -> Response {
    match result {
        Ok(markup) => markup.into_response(),
        Err(e) => page_error(&e),
    }
}

fn svg(result: Result<String, DashboardError>) -> Response {
    match result {
        Ok(svg) => ([(header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"), (header::CACHE_CONTROL, "private, max-age=60")], svg).into_response(),
        Err(e) => api::json_error(&e),
    }
}

/// A chart as PNG: the same request made to its SVG route (same filters, same token), the SVG
/// rasterized.
async fn png_chart(State(d): State<Shared>, request: Request) -> Response {
    let (parts, _) = request.into_parts();
    let Some(path) = parts.uri.path().strip_suffix(".png") else { return StatusCode::NOT_FOUND.into_response() };
    let uri = match parts.uri.query() {
        Some(query) => format!("{path}.svg?{query}"),
        None => format!("{path}.svg"),
    };
    let mut svg_request = Request::new(Body::empty());
    *svg_request.uri_mut() = match uri.parse() {
        Ok(uri) => uri,
        Err(_) => return api::json_error(&DashboardError::BadRequest(format!("chart address {uri:?}"))),
    };
    *svg_request.headers_mut() = parts.headers;
    let Ok(response) = chart_routes().with_state(d).oneshot(svg_request).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let png = async {
        let bytes = axum::body::to_bytes(response.into_body(), MAX_SVG_BYTES).await.map_err(|e| DashboardError::BadRequest(format!("chart: {e}")))?;
        let svg = String::from_utf8_lossy(&bytes);
        Ok::<_, DashboardError>(crate::png::svg_to_png(&svg, 1.0)?)
    };
    match png.await {
        Ok(png) => ([(header::CONTENT_TYPE, "image/png"), (header::CACHE_CONTROL, "private, max-age=60")], png).into_response(),
        Err(e) => api::json_error(&e),
    }
}

fn csv_file(name: &str, result: Result<String, DashboardError>) -> Response {
    match result {
        Ok(body) => (
            [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\""))],
            body,
        )
            .into_response(),
        Err(e) => api::json_error(&e),
    }
}

async fn login_form(State(d): State<Shared>, headers: HeaderMap) -> Response {
    let access = Access::of(d.config(), access::token(&headers).as_deref());
    pages::login_page(&access).into_response()
}

#[derive(serde::Deserialize)]
struct Login {
    jeton: String,
}

async fn login(Form(form): Form<Login>) -> Response {
    let cookie = format!("{}={}; Path=/; HttpOnly; SameSite=Strict", access::COOKIE, form.jeton.trim());
    (StatusCode::SEE_OTHER, [(header::SET_COOKIE, cookie), (header::LOCATION, "/connexion".to_owned())]).into_response()
}

async fn territories_page(State(d): State<Shared>, headers: HeaderMap, FilterQuery(filters): FilterQuery) -> Response {
    html(
        async {
            let access = reader(&d, &headers)?;
            let view = d.territory_view(&filters).await?;
            Ok(pages::territories(&d, &access, &filters, &view))
        }
        .await,
    )
}

/// A value of a CSV cell: the number, or the mark of a hidden figure.
fn cell(value: Option<u64>) -> String {
    value.map_or_else(suppress::hidden, |v| v.to_string())
}

/// A `;`-separated CSV writer into memory (the layout of every download).
fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new().delimiter(b';').from_writer(Vec::new())
}

fn csv_error(e: impl std::fmt::Display) -> DashboardError {
    DashboardError::BadRequest(e.to_string())
}

/// The text a CSV writer holds.
fn csv_text(out: csv::Writer<Vec<u8>>) -> Result<String, DashboardError> {
    String::from_utf8(out.into_inner().map_err(csv_error)?).map_err(csv_error)
}

fn territory_rows_csv(rows: &[TerritoryRow]) -> Result<String, DashboardError> {
    territory_rows_csv_with(rows, None, true)
}

/// The rows as CSV, with the deployment columns when asked (the analyst's rows), and a last
/// column `in_perimeter` (named so) when given: `oui` or `non`.
fn territory_rows_csv_with(rows: &[TerritoryRow], in_perimeter: Option<&str>, deployment: bool) -> Result<String, DashboardError> {
    let mut out = csv_writer();
    let mut header = vec![
        "niveau",
        "code",
        "nom",
        "visites",
        "visiteurs_uniques",
        "pages_vues",
        "clics",
        "duree_totale_s",
        "duree_moyenne_s",
        "eleves_inscrits",
        "taux_eleves_visiteurs",
    ];
    if deployment {
        header.extend(DEPLOYMENT_COLUMNS);
    }
    header.extend(in_perimeter);
    out.write_record(header).map_err(csv_error)?;
    for r in rows {
        let f = &r.figures;
        let mut record = vec![
            r.level.clone(),
            r.code.clone(),
            r.name.clone(),
            cell(f.visits),
            cell(f.visitors),
            cell(f.page_views),
            cell(f.clicks),
            cell(f.duration_s),
            if f.suppressed { suppress::hidden() } else { f.mean_duration_s.map(|m| format!("{m:.0}")).unwrap_or_default() },
            r.pupils.map(|p| p.to_string()).unwrap_or_default(),
            r.pupil_rate.map(|x| format!("{x:.4}")).unwrap_or_default(),
        ];
        if deployment {
            record.extend(deployment_cells(r.deployment.as_ref()));
        }
        if in_perimeter.is_some() {
            record.push(if r.in_perimeter == Some(true) { "oui" } else { "non" }.to_owned());
        }
        out.write_record(record).map_err(csv_error)?;
    }
    csv_text(out)
}

/// The names of the deployment columns.
const DEPLOYMENT_COLUMNS: [&str; 7] = [
    "etablissements_1er_degre",
    "actifs_1er_degre",
    "taux_deploiement_1er_degre",
    "etablissements_2d_degre",
    "actifs_2d_degre",
    "taux_deploiement_2d_degre",
    "taux_deploiement",
];

/// The deployment columns of a row (empty without deployment, a rate empty without school).
fn deployment_cells(d: Option<&crate::views::Deployment>) -> Vec<String> {
    let rate = |x: Option<f64>| x.map(|x| format!("{x:.4}")).unwrap_or_default();
    match d {
        Some(d) => vec![
            d.premier.schools.to_string(),
            d.premier.active.to_string(),
            rate(d.premier.rate),
            d.second.schools.to_string(),
            d.second.active.to_string(),
            rate(d.second.rate),
            rate(d.total.rate),
        ],
        None => vec![String::new(); 7],
    }
}

async fn territories_csv(State(d): State<Shared>, headers: HeaderMap, FilterQuery(filters): FilterQuery) -> Response {
    csv_file(
        "territoires.csv",
        async {
            reader(&d, &headers)?;
            let view = d.territory_view(&filters).await?;
            let mut rows = vec![view.territory];
            rows.extend(view.children);
            territory_rows_csv(&rows)
        }
        .await,
    )
}

/// The school holidays of a zone (none: zones A, B and C) between two days, as chart spans.
pub(crate) fn holiday_spans(d: &Dashboards, zone: Option<&str>, from: NaiveDate, to: NaiveDate) -> Vec<Span> {
    let zones: Vec<&str> = match zone {
        Some(z) => vec![z],
        None => vec!["Zone A", "Zone B", "Zone C"],
    };
    zones
        .iter()
        .enumerate()
        .flat_map(|(i, z)| d.calendar.zone(z, from, to).into_iter().map(move |h| Span { start: h.start, end: h.end, shade: i }))
        .collect()
}

fn weekly_chart(d: &Dashboards, title: &str, weekly: &[WeekPoint], zone: Option<&str>) -> Result<String, DashboardError> {
    let (Some(first), Some(last)) = (weekly.first(), weekly.last()) else {
        return Ok(charts::time_series(title, &[], &[], None)?);
    };
    #[allow(clippy::cast_precision_loss)] // counts for drawing
    let series = vec![
        Series { label: "cette année".into(), points: weekly.iter().map(|p| (p.week, p.visitors.map(|v| v as f64))).collect() },
        Series { label: "année précédente".into(), points: weekly.iter().map(|p| (p.week, p.previous_year.map(|v| v as f64))).collect() },
    ];
    let incomplete = weekly.iter().find(|p| p.incomplete).map(|p| p.week);
    Ok(charts::time_series(title, &series, &holiday_spans(d, zone, first.week, last.week + chrono::Days::new(7)), incomplete)?)
}

async fn territory_chart(State(d): State<Shared>, headers: HeaderMap, FilterQuery(filters): FilterQuery) -> Response {
    svg(async {
        reader(&d, &headers)?;
        let view = d.territory_view(&filters).await?;
        weekly_chart(&d, &format!("Visiteurs uniques par semaine — {}", view.territory.name), &view.weekly, view.zone.as_deref())
    }
    .await)
}

/// What a map colours (`indicateur=visiteurs`, the default, or `deploiement`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MapIndicator {
    /// Unique visitors.
    Visitors,
    /// The deployment rate (both degrees), in %.
    Deployment,
}

impl MapIndicator {
    /// The indicator of some filters (`indicateur`).
    pub(crate) fn of(filters: &Filters) -> Result<MapIndicator, DashboardError> {
        match filters.indicateur.as_deref() {
            None | Some("visiteurs") => Ok(MapIndicator::Visitors),
            Some("deploiement") => Ok(MapIndicator::Deployment),
            Some(other) => Err(DashboardError::BadRequest(format!("indicateur inconnu « {other} » (visiteurs ou deploiement)"))),
        }
    }

    /// The legend's heading and its unit.
    fn measure(self) -> (&'static str, &'static str) {
        match self {
            MapIndicator::Visitors => ("Visiteurs uniques", ""),
            MapIndicator::Deployment => ("Taux de déploiement", " %"),
        }
    }
}

/// What a map colours for some territories, by `key`: unique visitors (`None` when hidden), or
/// the deployment rate in whole percents (left out for a territory without school).
fn map_values(rows: &[TerritoryRow], indicator: MapIndicator, key: impl Fn(&TerritoryRow) -> String) -> BTreeMap<String, Option<f64>> {
    match indicator {
        #[allow(clippy::cast_precision_loss)] // counts for colouring
        MapIndicator::Visitors => rows.iter().map(|r| (key(r), r.figures.visitors.map(|v| v as f64))).collect(),
        MapIndicator::Deployment => rows.iter().filter_map(|r| Some((key(r), Some((r.deployment?.total.rate? * 100.0).round())))).collect(),
    }
}

/// The map of every académie (whatever the territory: it places it in France).
async fn map_chart(State(d): State<Shared>, headers: HeaderMap, FilterQuery(filters): FilterQuery) -> Response {
    svg(async {
        reader(&d, &headers)?;
        let indicator = MapIndicator::of(&filters)?;
        let view = d.territory_view(&filters).await?;
        let values = map_values(&view.academies, indicator, |a| a.name.clone());
        let (measure, unit) = indicator.measure();
        Ok(charts::map(&Choropleth {
            title: &format!("{measure} par académie"),
            measure,
            unit,
            outlines: d.outlines,
            key: AreaKey::Name,
            values: &values,
            crop: false,
            source: geo::ACADEMIE_CREDIT,
        })?)
    }
    .await)
}

/// The map of the territory's départements: all of France at the nation level, else the
/// territory's (or the one holding it) framed alone.
async fn departement_map_chart(State(d): State<Shared>, headers: HeaderMap, FilterQuery(filters): FilterQuery) -> Response {
    svg(async {
        reader(&d, &headers)?;
        let indicator = MapIndicator::of(&filters)?;
        let (measure, unit) = indicator.measure();
        let view = d.territory_view(&filters).await?;
        let values = map_values(&view.departements, indicator, |r| r.code.clone());
        let level = |l: pipeline::Level| view.territory.level == crate::views::level_param(l);
        let nation = level(pipeline::Level::Nation);
        // Below the département, the map shows the one holding the territory.
        let below = level(pipeline::Level::Circonscription) || level(pipeline::Level::Ecole);
        let name = view.departements.first().filter(|_| below).map_or(&view.territory.name, |d| &d.name);
        let title = if nation { format!("{measure} par département") } else { format!("{measure} par département — {name}") };
        Ok(charts::map(&Choropleth {
            title: &title,
            measure,
            unit,
            outlines: d.departement_outlines,
            key: AreaKey::Code,
            values: &values,
            crop: !nation,
            source: geo::DEPARTEMENT_CREDIT,
        })?)
    }
    .await)
}

async fn project_page(State(d): State<Shared>, headers: HeaderMap, Path(projet): Path<String>, FilterQuery(filters): FilterQuery) -> Response {
    html(
        async {
            let access = reader(&d, &headers)?;
            let view = d.project_view(&projet, &filters).await?;
            Ok(pages::project(&d, &access, &filters, &view))
        }
        .await,
    )
}

async fn project_csv(State(d): State<Shared>, headers: HeaderMap, Path(projet): Path<String>, FilterQuery(filters): FilterQuery) -> Response {
    csv_file(
        &format!("ecoles-{projet}.csv"),
        async {
            reader(&d, &headers)?;
            let view = d.project_view(&projet, &filters).await?;
            let in_perimeter = view.perimeter.is_some().then_some("dans_le_perimetre");
            territory_rows_csv_with(&view.least_active, in_perimeter, false)
        }
        .await,
    )
}

async fn project_chart(State(d): State<Shared>, headers: HeaderMap, Path(projet): Path<String>, FilterQuery(filters): FilterQuery) -> Response {
    svg(async {
        reader(&d, &headers)?;
        let view = d.project_view(&projet, &filters).await?;
        Ok(project_deployment_chart(&view)?)
    }
    .await)
}

/// The deployment curves of a project: with a perimeter, its weekly and cumulative deployment
/// rates (%) with the target; without, the counts of active and adopted schools. The notes
/// mark both.
fn project_deployment_chart(view: &ProjectView) -> Result<String, charts::ChartError> {
    let incomplete = view.deployment.iter().find(|w| w.incomplete).map(|w| w.week);
    let notes = view.annotations.iter().map(|a| (a.date, a.text.clone())).collect();
    let projet = &view.projet;
    if let Some(p) = &view.perimeter {
        let percent = |rate: Option<f64>| rate.map(|r| r * 100.0);
        let series = vec![
            Series { label: "taux hebdomadaire".into(), points: view.deployment.iter().map(|w| (w.week, percent(w.deployment_rate))).collect() },
            Series { label: "taux cumulé".into(), points: view.deployment.iter().map(|w| (w.week, percent(w.cumulative_rate))).collect() },
        ];
        let target = p.target.map(|t| (t.rate * 100.0, t.by, format!("objectif {} au {}", french::percent(t.rate), french::long_date(t.by))));
        let title = format!("Taux de déploiement — {projet} ({} établissements du périmètre)", french::integer(p.schools));
        return charts::time_series_marked(&title, &series, &[], incomplete, &Marks { target, notes, percent: true });
    }
    #[allow(clippy::cast_precision_loss)] // counts for drawing
    let series = vec![
        Series { label: "établissements actifs".into(), points: view.deployment.iter().map(|w| (w.week, Some(w.active_schools as f64))).collect() },
        Series { label: "adoption (cumul)".into(), points: view.deployment.iter().map(|w| (w.week, Some(w.adopted_schools as f64))).collect() },
    ];
    let title = format!("Établissements actifs — {projet} ({} vus dans le trafic ou listés)", french::integer(view.schools));
    charts::time_series_marked(&title, &series, &[], incomplete, &Marks { target: None, notes, percent: false })
}

async fn project_services_chart(
    State(d): State<Shared>,
    headers: HeaderMap,
    Path(projet): Path<String>,
    FilterQuery(filters): FilterQuery,
) -> Response {
    svg(async {
        reader(&d, &headers)?;
        let view = d.project_view(&projet, &filters).await?;
        #[allow(clippy::cast_precision_loss)] // counts for drawing
        let bars: Vec<(String, Option<f64>)> = view.services.iter().map(|s| (s.label.clone(), s.figures.visits.map(|v| v as f64))).collect();
        Ok(charts::bars("Visites par service", &bars)?)
    }
    .await)
}

async fn conformance_page(
    State(d): State<Shared>,
    headers: HeaderMap,
    Path(plateforme): Path<String>,
    FilterQuery(filters): FilterQuery,
) -> Response {
    html(
        async {
            let access = editor(&d, &headers, &plateforme)?;
            let view = d.conformance_view(&plateforme, &filters).await?;
            Ok(pages::conformance(&d, &access, &filters, &view))
        }
        .await,
    )
}

async fn conformance_csv(State(d): State<Shared>, headers: HeaderMap, Path(plateforme): Path<String>, FilterQuery(filters): FilterQuery) -> Response {
    csv_file(
        &format!("rejets-{plateforme}.csv"),
        async {
            editor(&d, &headers, &plateforme)?;
            let view = d.conformance_view(&plateforme, &filters).await?;
            let mut out = csv_writer();
            out.write_record([
                "semaine",
                "hits_acceptes",
                "evenements_refuses",
                "evenements_recuperes",
                "part_refusee",
                "motif",
                "evenements_motif",
                "evenements_motif_recuperes",
            ])
            .map_err(csv_error)?;
            for w in &view.weeks {
                let week =
                    [w.week.to_string(), w.accepted.to_string(), w.refused.to_string(), w.recovered.to_string(), format!("{:.4}", w.refused_share)];
                let motifs: Vec<[String; 3]> = if w.by_code.is_empty() {
                    vec![[String::new(), String::new(), String::new()]]
                } else {
                    w.by_code
                        .iter()
                        .map(|(code, n)| [code.clone(), n.to_string(), w.recovered_by_code.get(code).copied().unwrap_or(0).to_string()])
                        .collect()
                };
                for motif in motifs {
                    out.write_record(week.iter().chain(&motif)).map_err(csv_error)?;
                }
            }
            csv_text(out)
        }
        .await,
    )
}

async fn conformance_chart(
    State(d): State<Shared>,
    headers: HeaderMap,
    Path(plateforme): Path<String>,
    FilterQuery(filters): FilterQuery,
) -> Response {
    svg(async {
        editor(&d, &headers, &plateforme)?;
        let view = d.conformance_view(&plateforme, &filters).await?;
        let incomplete = view.weeks.iter().find(|w| w.incomplete).map(|w| w.week);
        let series =
            vec![Series { label: "part refusée (%)".into(), points: view.weeks.iter().map(|w| (w.week, Some(w.refused_share * 100.0))).collect() }];
        Ok(charts::time_series(&format!("Part des événements refusés — {plateforme} (%)"), &series, &[], incomplete)?)
    }
    .await)
}
