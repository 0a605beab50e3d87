//! `/healthz`, `/metrics`, API keys.

use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::auth::{store_key, Caller};
use crate::crypto::new_api_key;
use crate::error::{ApiError, ApiResult};
use crate::extract::Body;
use crate::state::AppState;
use crate::storage::api_keys::{self, ApiKey};
use crate::storage::audit::{self, Action, Actor, Entry};
use crate::storage::page::{Page, PageQuery};

/// `GET /healthz`: 200 when the database answers and the core engine decides.
pub async fn healthz(State(state): State<AppState>) -> impl IntoResponse {
    let db = sqlx::query("SELECT 1").execute(&state.db.pool).await.is_ok();
    let core = state.normalize_serial("ok-1").await.is_ok();
    let status = if db && core { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({"database": db, "core": core, "engine": state.engine.name()})))
}

/// `GET /metrics`: Prometheus text.
pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let m = &state.metrics;
    let counters = [
        ("micropower_payments_applied_total", "Payments applied.", &m.payments_applied),
        ("micropower_payments_duplicate_total", "Repeated deliveries answered from the store.", &m.payments_duplicate),
        ("micropower_payments_refused_total", "Payments refused.", &m.payments_refused),
        ("micropower_payments_unmatched_total", "Payments queued for an unknown serial.", &m.payments_unmatched),
        ("micropower_core_calls_total", "Calls into the core engine.", &m.core_calls),
        ("micropower_core_errors_total", "Core refusals and engine failures.", &m.core_errors),
        ("micropower_writer_batches_total", "Commits of SQLite's payment writer.", &m.writer_batches),
        ("micropower_writer_jobs_total", "Payments those commits carried.", &m.writer_jobs),
    ];
    let mut text = String::new();
    for (name, help, value) in counters {
        text.push_str(&format!(
            "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}\n",
            value.load(Ordering::Relaxed)
        ));
    }
    if let Some(idle) = state.engine.idle_instances() {
        let (name, kept) = ("micropower_core_instances_idle", state.engine.slots());
        text.push_str(&format!(
            "# HELP {name} Warm wasm instances waiting for a call ({kept} once all have warmed).\n\
             # TYPE {name} gauge\n{name} {idle}\n"
        ));
        let name = "micropower_core_instances_kept";
        text.push_str(&format!(
            "# HELP {name} Warm wasm instances the engine keeps.\n# TYPE {name} gauge\n{name} {kept}\n"
        ));
    }
    let name = "micropower_hook_rejected_total";
    text.push_str(&format!(
        "# HELP {name} Hook deliveries refused before they were kept (bad signature, source not allowed).\n\
         # TYPE {name} counter\n"
    ));
    for (kind, reason, count) in m.hook_rejected.snapshot() {
        text.push_str(&format!("{name}{{provider_kind=\"{kind}\",reason=\"{reason}\"}} {count}\n"));
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// The body of `POST /v1/api-keys`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewKey {
    role: String,
    #[serde(default)]
    label: Option<String>,
    /// When the key stops working by itself (RFC 3339, in the future); absent: never.
    #[serde(default)]
    expires_at: Option<chrono::DateTime<chrono::FixedOffset>>,
}

/// The answer of `POST /v1/api-keys`: the only time the key is shown.
#[derive(Serialize)]
pub struct CreatedKey {
    id: String,
    role: String,
    key: String,
    expires_at: Option<String>,
}

/// `POST /v1/api-keys` (admin): a new key, shown once.
pub async fn create_key(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<NewKey>,
) -> ApiResult<(StatusCode, Json<CreatedKey>)> {
    let now = crate::ids::now();
    let expires_at = match body.expires_at.map(|at| at.with_timezone(&chrono::Utc)) {
        Some(at) if at <= now => return Err(ApiError::invalid("expires_at", "must be in the future")),
        // Stored like every instant (UTC, milliseconds), so the database compares it as text.
        Some(at) => Some(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
        None => None,
    };
    let key = new_api_key()?;
    let label = body.label.as_deref().unwrap_or("");
    let actor = Actor::ApiKey(caller.key_id);
    let id = store_key(&state.db, &key, &body.role, label, expires_at.as_deref(), &actor).await?;
    Ok((StatusCode::CREATED, Json(CreatedKey { id, role: body.role, key, expires_at })))
}

/// `GET /v1/api-keys` (admin): labels, roles, creation, last use and revocation; never a key.
pub async fn list_keys(
    State(state): State<AppState>,
    axum::extract::Query(page): axum::extract::Query<PageQuery>,
) -> ApiResult<Json<Page<ApiKey>>> {
    let page = page.request("api-keys")?;
    Ok(Json(api_keys::keys(&state.db.pool, &page).await?))
}

/// `DELETE /v1/api-keys/{id}` (admin): revoked at once, the next request with that key answers 401. The last
/// admin key cannot be revoked: nobody could make another.
pub async fn revoke_key(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> ApiResult<Json<ApiKey>> {
    let _guard = state.db.write_guard().await;
    let mut tx = state.db.pool.begin().await?;
    let key = api_keys::key(&mut *tx, &id).await?.ok_or_else(|| ApiError::not_found("API key", &id))?;
    if key.role == "admin"
        && key.revoked_at.is_none()
        && key.expires_at.is_none()
        && api_keys::lasting_admins(&mut *tx).await? <= 1
    {
        return Err(ApiError::conflict(
            "this is the last admin key that never expires; create another such admin key first",
        ));
    }
    let before = key;
    api_keys::revoke(&mut *tx, &id, &crate::ids::now_rfc3339()).await?;
    let key = api_keys::key(&mut *tx, &id).await?.ok_or_else(|| ApiError::not_found("API key", &id))?;
    // Revoking a revoked key changes nothing, and records nothing.
    if before.revoked_at.is_none() {
        let entry = Entry::new(&Actor::ApiKey(caller.key_id), Action::ApiKeyRevoked, "api_key", &id);
        audit::record(&mut *tx, &entry.before(&before)?.after(&key)?).await?;
    }
    tx.commit().await?;
    state.keys.evict(&id);
    Ok(Json(key))
}
