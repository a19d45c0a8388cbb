//! The notes of the project curves through the API: `GET /api/v1/annotations` lists the
//! configuration's (`source: config`, read-only, no `id`) and the API's (`source: api`);
//! `POST /api/v1/annotations` adds one and `DELETE /api/v1/annotations/{id}` removes one. Reading
//! takes a reader's token; adding or deleting a project's note takes its owner's token (or an
//! administrator's), a note of every project an administrator's ([`crate::access`]).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::access::{self, Access};
use crate::annotations::{NewNote, NoteBookError, NoteError, StoredNote};
use crate::api::json_error;
use crate::routes::reader;
use crate::{DashboardError, Shared};

/// The annotation routes.
pub fn routes() -> Router<Shared> {
    Router::new().route("/api/v1/annotations", get(list).post(add)).route("/api/v1/annotations/{id}", delete(remove))
}

/// A note as the API lists it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AnnotationEntry {
    /// `config` (from the configuration file, read-only) or `api`.
    pub source: String,
    /// Its identifier (notes added through the API only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// Its day.
    pub date: NaiveDate,
    /// The note.
    pub text: String,
    /// Its project; none: every project.
    pub projet: Option<String>,
    /// Who added it (notes added through the API only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
}

/// The filter of the list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// Only the notes shown on this project's curves (its own and those of every project).
    pub projet: Option<String>,
}

fn note_error(e: &NoteError) -> DashboardError {
    DashboardError::Invalid { code: e.code(), message: e.to_string() }
}

fn store_error(e: &NoteBookError) -> DashboardError {
    DashboardError::Store(pipeline::PipelineError::Store(e.to_string()))
}

/// Refuses a request whose token is neither a project owner's nor an administrator's.
fn annotator(access: &Access) -> Result<(), DashboardError> {
    if access.admin || !access.projets.is_empty() {
        Ok(())
    } else {
        Err(DashboardError::Denied {
            authenticated: access.known,
            message: "un jeton de porteur de projet ou d'administrateur est nécessaire".into(),
        })
    }
}

/// Refuses a request whose token may not annotate this project.
fn may_annotate(access: &Access, projet: Option<&str>) -> Result<(), DashboardError> {
    if access.annotates(projet) {
        return Ok(());
    }
    let message = match projet {
        Some(p) => format!("les notes du projet « {p} » ne peuvent être modifiées qu'avec le jeton de son porteur ou d'un administrateur"),
        None => "une note de tous les projets ne peut être ajoutée ou supprimée qu'avec un jeton d'administrateur".to_owned(),
    };
    Err(DashboardError::Denied { authenticated: access.known, message })
}

/// The notes of the project curves (the configuration's and the API's), by date.
#[utoipa::path(get, path = "/api/v1/annotations", params(ListQuery), responses(
    (status = 200, body = [AnnotationEntry]), (status = 401, body = crate::api::ApiError)
))]
pub async fn list(State(d): State<Shared>, headers: HeaderMap, Query(query): Query<ListQuery>) -> Response {
    if let Err(e) = reader(&d, &headers) {
        return json_error(&e);
    }
    let projet = query.projet.as_deref().map(str::trim).filter(|p| !p.is_empty());
    let shown = |p: Option<&str>| projet.is_none_or(|wanted| p.is_none_or(|p| p == wanted));
    let mut entries: Vec<AnnotationEntry> = d
        .config()
        .annotations
        .iter()
        .filter(|a| shown(a.projet.as_deref()))
        .map(|a| AnnotationEntry { source: "config".into(), id: None, date: a.date, text: a.text.clone(), projet: a.projet.clone(), author: None })
        .collect();
    entries.extend(d.notes().all().into_iter().filter(|n| shown(n.projet.as_deref())).map(|n| AnnotationEntry {
        source: "api".into(),
        id: Some(n.id),
        date: n.date,
        text: n.text,
        projet: n.projet,
        author: Some(n.author),
    }));
    entries.sort_by_key(|e| e.date);
    Json(entries).into_response()
}

/// Adds a note: `{"date": "YYYY-MM-DD", "text": "…", "projet": "…"}` (`projet` left out: every
/// project). Refused with 400 and a stable code: `bad_json`, `empty_text`, `text_too_long` (over
/// 200 characters), `bad_date`, `unknown_project`.
#[utoipa::path(post, path = "/api/v1/annotations", request_body = NewNote, responses(
    (status = 201, body = StoredNote), (status = 400, body = crate::api::ApiError), (status = 401, body = crate::api::ApiError),
    (status = 403, body = crate::api::ApiError)
))]
pub async fn add(State(d): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let access = Access::of(d.config(), access::token(&headers).as_deref());
        let note = NewNote::parse(&body).map_err(|e| note_error(&e))?;
        annotator(&access)?;
        let note = note.validate().map_err(|e| note_error(&e))?;
        if let Some(p) = &note.projet {
            if !d.knows_project(p).await? {
                return Err(note_error(&NoteError::UnknownProject(p.clone())));
            }
        }
        may_annotate(&access, note.projet.as_deref())?;
        let stored = d.notes().add(note, &access.author()).map_err(|e| store_error(&e))?;
        tracing::info!(id = stored.id, projet = stored.projet.as_deref().unwrap_or("*"), "annotation added");
        Ok::<_, DashboardError>(stored)
    }
    .await;
    match result {
        Ok(stored) => (StatusCode::CREATED, Json(stored)).into_response(),
        Err(e) => json_error(&e),
    }
}

/// Deletes a note added through the API (those of the configuration are read-only).
#[utoipa::path(delete, path = "/api/v1/annotations/{id}", params(("id" = u64, Path, description = "Identifiant de la note")), responses(
    (status = 204), (status = 400, body = crate::api::ApiError), (status = 401, body = crate::api::ApiError), (status = 403, body = crate::api::ApiError),
    (status = 404, body = crate::api::ApiError)
))]
pub async fn remove(State(d): State<Shared>, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let result = async {
        let access = Access::of(d.config(), access::token(&headers).as_deref());
        annotator(&access)?;
        let id: u64 =
            id.parse().map_err(|_| DashboardError::Invalid { code: "bad_id", message: format!("identifiant « {id} » : un entier attendu") })?;
        let note = d.notes().get(id).ok_or_else(|| DashboardError::NotFound(format!("aucune note d'identifiant {id}")))?;
        may_annotate(&access, note.projet.as_deref())?;
        d.notes().delete(id).map_err(|e| store_error(&e))?;
        tracing::info!(id, "annotation deleted");
        Ok(())
    }
    .await;
    match result {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => json_error(&e),
    }
}
