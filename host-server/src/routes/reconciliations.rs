//! `POST /v1/reconciliations?provider=<name>` (a statement upload), `GET /v1/reconciliations` (paged),
//! `GET /v1/reconciliations/{id}` and `POST /v1/reconciliations/{id}/apply`: see [`crate::reconciliation`].

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::reconciliation::{self, Answer, ApplyAnswer};
use crate::state::AppState;
use crate::storage::page::{Page, PageQuery};
use crate::storage::reconciliations::{self as stored, Reconciliation};
use crate::upload::Upload;

/// The query of an upload.
#[derive(Deserialize)]
pub struct ReconcileQuery {
    /// The name the provider's payments are recorded under (`GET /v1/providers`).
    provider: Option<String>,
}

/// `POST /v1/reconciliations?provider=`: 201 with every line classified.
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<ReconcileQuery>,
    upload: Upload,
) -> ApiResult<(StatusCode, Json<Answer>)> {
    let name =
        query.provider.as_deref().map(str::trim).filter(|n| !n.is_empty()).ok_or_else(|| {
            ApiError::unprocessable("provider", "?provider= names the provider the statement is from")
        })?;
    // Like an unknown plan in a payment: a refusal of the request's value, not a missing path.
    let provider = crate::providers::by_name(&state, name).await?.ok_or_else(|| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "not_found", format!("no active provider is named {name:?}"))
            .with("field", "provider")
    })?;
    let answer = reconciliation::reconcile(&state, &caller, &provider, &upload.bytes, upload.file_name).await?;
    Ok((StatusCode::CREATED, Json(answer)))
}

/// `GET /v1/reconciliations`: newest first, without their lines.
pub async fn list(
    State(state): State<AppState>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<Page<Reconciliation>>> {
    let page = page.request("reconciliations")?;
    Ok(Json(stored::list(&state.db.pool, &page).await?))
}

/// `GET /v1/reconciliations/{id}`: with its lines, what was applied, and the payments not on the statement.
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Answer>> {
    Ok(Json(reconciliation::answer(&state, &id).await?))
}

/// `POST /v1/reconciliations/{id}/apply`.
pub async fn apply(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<ApplyAnswer>> {
    Ok(Json(reconciliation::apply(&state, &caller, &id).await?))
}
