//! The JSON API under `/api/v1`: the same views as the pages (same numbers, same suppression),
//! and its OpenAPI document at `/api/v1/openapi.json`. Errors are `{"error": code, "message": …}`
//! with a stable code.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use utoipa::OpenApi;

use crate::routes::{editor, reader, FilterQuery};
use crate::views::{
    BreakdownRow, ConformanceView, DeploymentWeek, Filters, InvalidValue, PerimeterSummary, PeriodShown, ProjectView, RejectWeek, RejectedHit,
    ServiceTagging, TerritoryRow, TerritoryView, WeekPoint,
};
use crate::{DashboardError, Shared};

/// The API's description.
#[derive(OpenApi)]
#[openapi(
    info(title = "dnma — API des tableaux de bord", description = "Indicateurs d'audience des ENT. Aucune valeur calculée sur moins de k visiteurs uniques n'est renvoyée : elle vaut null et `suppressed` vaut true."),
    paths(
        territories, project, conformance, crate::live::page::flux, crate::compare_routes::json, crate::annotations_api::list,
        crate::annotations_api::add, crate::annotations_api::remove
    ),
    components(schemas(
        TerritoryView, TerritoryRow, PeriodShown, WeekPoint, ProjectView, DeploymentWeek, PerimeterSummary, BreakdownRow, ConformanceView,
        RejectWeek, InvalidValue, ServiceTagging, RejectedHit, crate::suppress::Figures, crate::perimeter::PerimeterCounts,
        crate::perimeter::Target, crate::perimeter::Annotation, ApiError, crate::live::LiveEvent, crate::live::event::Outcome,
        crate::live::event::Tagging, crate::live::event::Reason, crate::views::Deployment, crate::views::DegreeDeployment,
        crate::views::CompareView, crate::views::CompareSide, crate::annotations_api::AnnotationEntry, crate::annotations::NewNote,
        crate::annotations::StoredNote
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("jeton", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
        openapi.security = Some(vec![utoipa::openapi::security::SecurityRequirement::new("jeton", Vec::<String>::new())]);
    }
}

/// An API error.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ApiError {
    /// Stable code: `bad_request`, `not_found`, `token_required`, `forbidden`, `unavailable`, `store_error`;
    /// for notes also `bad_json`, `empty_text`, `text_too_long`, `bad_date`, `unknown_project`, `bad_id`.
    pub error: String,
    /// What went wrong, in French.
    pub message: String,
}

/// The HTTP status of an error.
pub fn status(e: &DashboardError) -> StatusCode {
    match e {
        DashboardError::BadRequest(_) | DashboardError::Invalid { .. } => StatusCode::BAD_REQUEST,
        DashboardError::NotFound(_) => StatusCode::NOT_FOUND,
        DashboardError::Denied { authenticated: false, .. } => StatusCode::UNAUTHORIZED,
        DashboardError::Denied { authenticated: true, .. } => StatusCode::FORBIDDEN,
        DashboardError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        DashboardError::Store(_) | DashboardError::Chart(_) | DashboardError::Png(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error as JSON.
pub fn json_error(e: &DashboardError) -> Response {
    if status(e).is_server_error() {
        tracing::error!(error = %e, "dashboard API error");
    }
    (status(e), Json(ApiError { error: e.code().to_owned(), message: e.to_string() })).into_response()
}

fn answer<T: serde::Serialize>(result: Result<T, DashboardError>) -> Response {
    match result {
        Ok(view) => Json(view).into_response(),
        Err(e) => json_error(&e),
    }
}

/// Territories compared: a territory, the territories under it, the académies, the weekly series.
#[utoipa::path(get, path = "/api/v1/territoires", params(Filters), responses(
    (status = 200, body = TerritoryView), (status = 400, body = ApiError), (status = 401, body = ApiError), (status = 404, body = ApiError)
))]
pub async fn territories(State(d): State<Shared>, headers: HeaderMap, FilterQuery(filters): FilterQuery) -> Response {
    answer(
        async {
            reader(&d, &headers)?;
            d.territory_view(&filters).await
        }
        .await,
    )
}

/// A project's deployment: with a perimeter, its deployment rate per week and cumulative
/// (`deployment[].deployment_rate`, `cumulative_rate`), the perimeter and its target; the notes.
#[utoipa::path(get, path = "/api/v1/projets/{projet}", params(("projet" = String, Path, description = "Code du projet ENT"), Filters), responses(
    (status = 200, body = ProjectView), (status = 401, body = ApiError), (status = 404, body = ApiError)
))]
pub async fn project(State(d): State<Shared>, headers: HeaderMap, Path(projet): Path<String>, FilterQuery(filters): FilterQuery) -> Response {
    answer(
        async {
            reader(&d, &headers)?;
            d.project_view(&projet, &filters).await
        }
        .await,
    )
}

/// A platform's tagging conformance (the editor's token of that platform is required).
#[utoipa::path(get, path = "/api/v1/conformite/{plateforme}", params(("plateforme" = String, Path, description = "Code de la plateforme"), Filters), responses(
    (status = 200, body = ConformanceView), (status = 401, body = ApiError), (status = 403, body = ApiError)
))]
pub async fn conformance(State(d): State<Shared>, headers: HeaderMap, Path(plateforme): Path<String>, FilterQuery(filters): FilterQuery) -> Response {
    answer(
        async {
            editor(&d, &headers, &plateforme)?;
            d.conformance_view(&plateforme, &filters).await
        }
        .await,
    )
}

/// The OpenAPI document.
pub async fn openapi() -> Response {
    Json(ApiDoc::openapi()).into_response()
}
