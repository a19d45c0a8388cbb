//! Two territories side by side ([`crate::views::CompareView`]): the page
//! `/territoires/comparer?a=academie:Rennes&b=departement:75` (with the usual `periode`, `debut`,
//! `profil`, `service`), its chart of both weekly series, and the same view in the API at
//! `/api/v1/territoires/comparer`. A reader's token is needed; a malformed territory is a 400
//! (`bad_request`), an unknown one a 404 (`not_found`).

use std::collections::BTreeMap;

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use maud::{html, Markup};

use crate::access::Access;
use crate::charts::{self, Series};
use crate::pages::{figure, layout, mean_duration, period_caption, period_label_of};
use crate::routes::{holiday_spans, reader, FilterQuery};
use crate::views::{CompareView, DegreeDeployment, Filters, TerritoryRow};
use crate::{api, french, DashboardError, Dashboards, Shared};

/// The chart of a comparison (SVG; also as PNG at the same path ending in `.png`).
pub const CHART: &str = "/graphiques/territoires-comparer.svg";

/// The comparison's page and API routes.
pub fn routes() -> Router<Shared> {
    Router::new().route("/territoires/comparer", get(page)).route("/api/v1/territoires/comparer", get(json))
}

/// The comparison's chart route (SVG).
pub fn chart_routes() -> Router<Shared> {
    Router::new().route(CHART, get(chart))
}

/// The two territories of a request (`a`, `b`): a 400 when one is missing.
fn pair(params: &BTreeMap<String, String>) -> Result<(String, String), DashboardError> {
    let side = |name: &str| {
        params
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| DashboardError::BadRequest(format!("paramètre « {name} » manquant : niveau:code (academie:Rennes) ou nation")))
    };
    Ok((side("a")?, side("b")?))
}

async fn view(
    d: &Dashboards,
    headers: &HeaderMap,
    params: &BTreeMap<String, String>,
    filters: &Filters,
) -> Result<(Access, CompareView), DashboardError> {
    let access = reader(d, headers)?;
    let (a, b) = pair(params)?;
    Ok((access, d.compare_view(&a, &b, filters).await?))
}

/// The filters of a comparison's URLs: the request's, with its two territories.
fn query(filters: &Filters, view: &CompareView) -> String {
    filters.with(&[("niveau", None), ("code", None), ("a", Some(&view.a.key)), ("b", Some(&view.b.key))])
}

async fn page(
    State(d): State<Shared>,
    headers: HeaderMap,
    Query(params): Query<BTreeMap<String, String>>,
    FilterQuery(filters): FilterQuery,
) -> Response {
    match view(&d, &headers, &params, &filters).await {
        Ok((access, view)) => render(&d, &access, &filters, &view).into_response(),
        Err(e) => (api::status(&e), crate::pages::error_page(&e)).into_response(),
    }
}

/// Two territories compared over the same period and filters (`a`, `b`: `niveau:code` or `nation`).
#[utoipa::path(get, path = "/api/v1/territoires/comparer", params(
    ("a" = String, Query, description = "Premier territoire : niveau:code (academie:Rennes) ou nation"),
    ("b" = String, Query, description = "Second territoire : niveau:code (departement:75) ou nation"),
    Filters
), responses(
    (status = 200, body = CompareView), (status = 400, body = api::ApiError), (status = 401, body = api::ApiError), (status = 404, body = api::ApiError)
))]
pub async fn json(
    State(d): State<Shared>,
    headers: HeaderMap,
    Query(params): Query<BTreeMap<String, String>>,
    FilterQuery(filters): FilterQuery,
) -> Response {
    match view(&d, &headers, &params, &filters).await {
        Ok((_, view)) => Json(view).into_response(),
        Err(e) => api::json_error(&e),
    }
}

async fn chart(
    State(d): State<Shared>,
    headers: HeaderMap,
    Query(params): Query<BTreeMap<String, String>>,
    FilterQuery(filters): FilterQuery,
) -> Response {
    let svg = async {
        let (_, view) = view(&d, &headers, &params, &filters).await?;
        #[allow(clippy::cast_precision_loss)] // counts for drawing
        let series: Vec<Series> = [&view.a, &view.b]
            .iter()
            .map(|side| Series {
                label: side.territory.name.clone(),
                points: side.weekly.iter().map(|p| (p.week, p.visitors.map(|v| v as f64))).collect(),
            })
            .collect();
        let weeks = &view.a.weekly;
        let (Some(first), Some(last)) = (weeks.first(), weeks.last()) else {
            return Ok(charts::time_series("Visiteurs uniques par semaine", &[], &[], None)?);
        };
        // Holidays are shaded when both lie in the same zone.
        let spans = match (&view.a.zone, &view.b.zone) {
            (Some(za), Some(zb)) if za == zb => holiday_spans(&d, Some(za), first.week, last.week + chrono::Days::new(7)),
            _ => Vec::new(),
        };
        let incomplete = weeks.iter().find(|p| p.incomplete).map(|p| p.week);
        let title = format!("Visiteurs uniques par semaine — {} et {}", view.a.territory.name, view.b.territory.name);
        Ok::<_, DashboardError>(charts::time_series(&title, &series, &spans, incomplete)?)
    };
    match svg.await {
        Ok(svg) => ([(axum::http::header::CONTENT_TYPE, "image/svg+xml; charset=utf-8")], svg).into_response(),
        Err(e) => api::json_error(&e),
    }
}

/// A deployment rate with its counts (`12 % (3 / 25)`), or a dash without school.
pub(crate) fn deployment_text(d: &DegreeDeployment) -> String {
    match d.rate {
        Some(rate) => format!("{} ({} / {})", french::percent(rate), french::integer(d.active), french::integer(d.schools)),
        None => "–".to_owned(),
    }
}

/// The rows of the side-by-side table: label, field name, and each side's text.
fn lines(row: &TerritoryRow) -> Vec<(&'static str, &'static str, String)> {
    let f = &row.figures;
    let deployment = |pick: fn(&crate::views::Deployment) -> &DegreeDeployment| {
        row.deployment.as_ref().map_or_else(|| "–".to_owned(), |d| deployment_text(pick(d)))
    };
    vec![
        ("Visites", "visits", figure(f.visits)),
        ("Visiteurs uniques", "visitors", figure(f.visitors)),
        ("Pages vues", "page_views", figure(f.page_views)),
        ("Durée moyenne des visites", "mean_duration", mean_duration(f)),
        ("Élèves visiteurs / inscrits", "pupil_rate", row.pupil_rate.map_or_else(|| "non calculable".to_owned(), french::percent)),
        ("Déploiement, 1er degré (écoles)", "deployment_premier", deployment(|d| &d.premier)),
        ("Déploiement, 2d degré (collèges, lycées)", "deployment_second", deployment(|d| &d.second)),
        ("Déploiement, ensemble", "deployment", deployment(|d| &d.total)),
    ]
}

fn render(d: &Dashboards, access: &Access, filters: &Filters, view: &CompareView) -> Markup {
    let (a, b) = (&view.a.territory, &view.b.territory);
    let title = format!("Comparer — {} et {}", a.name, b.name);
    let query = query(filters, view);
    let link = |r: &TerritoryRow| format!("/territoires{}", filters.with(&[("niveau", Some(&r.level)), ("code", Some(&r.code))]));
    let body = html! {
        (compare_form(filters, &view.a.key, &view.b.key))
        (period_caption(view.period.start, view.period.end, &period_label_of(&view.period.kind), view.period.incomplete))
        table {
            thead { tr { th { "Indicateur" } th data-side="a" { a href=(link(a)) { (a.name) } } th data-side="b" { a href=(link(b)) { (b.name) } } } }
            tbody {
                @for ((label, field, va), (_, _, vb)) in lines(a).into_iter().zip(lines(b)) {
                    tr {
                        td { (label) }
                        td.n data-field=(field) data-code=(a.code) { (va) }
                        td.n data-field=(field) data-code=(b.code) { (vb) }
                    }
                }
            }
        }
        div.charts {
            img src={ (CHART) (query) } alt={ "Visiteurs uniques par semaine : " (a.name) " et " (b.name) } width="900" height="340";
        }
        p.no-print { a href={ "/api/v1/territoires/comparer" (query) } { "API JSON" } " · " a href={ (CHART.replace(".svg", ".png")) (query) } { "courbes (PNG)" } }
        p.muted {
            "Déploiement : établissements ouverts du référentiel ayant eu au moins un visiteur sur la période (avec les filtres), sur les établissements ouverts du territoire. "
            "Aucun chiffre calculé sur moins de " (d.config().k) " visiteurs uniques n'est affiché."
        }
    };
    layout(&title, access, &body)
}

/// The form choosing two territories (the filters kept).
pub(crate) fn compare_form(filters: &Filters, a: &str, b: &str) -> Markup {
    html! {
        form.filters.no-print method="get" action="/territoires/comparer" {
            label { "Territoire A " input type="text" name="a" value=(a) placeholder="academie:Rennes" required; }
            label { "Territoire B " input type="text" name="b" value=(b) placeholder="departement:75" required; }
            @for (name, value) in [("periode", filters.periode.clone()), ("debut", filters.debut.map(|d| d.to_string())), ("profil", filters.profil.clone()), ("service", filters.service.clone())] {
                @if let Some(v) = value { input type="hidden" name=(name) value=(v); }
            }
            button type="submit" { "Comparer" }
            span.muted { " niveau:code — nation, region:…, academie:Rennes, departement:75, circonscription:…, ecole:UAI" }
        }
    }
}
