//! Operator authentication: `Authorization: Bearer <api key>` on every `/v1` route; keys stored hashed.
//! Roles: `viewer` reads, `operator` also writes, `admin` also manages keys and providers. An `agent` key
//! (issue 18) belongs to one field agent and opens only that agent's own paths ([`agent_may`]).

use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;

use sqlx::Row;

use crate::crypto::{hash_api_key, new_api_key};
use crate::db::Db;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::audit::{self, Action, Actor, Entry};

pub mod cache;
pub mod limit;

use cache::KnownKey;

/// What a key may do. The order is the staff roles' order; an agent's key is below them all, so a check
/// for any staff role refuses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// A field agent's key: its own agent's sales, ledger and record, and registrations ([`agent_may`]).
    Agent,
    Viewer,
    Operator,
    Admin,
}

impl Role {
    fn parse(text: &str) -> Option<Role> {
        match text {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            "agent" => Some(Role::Agent),
            _ => None,
        }
    }
}

/// The authenticated caller, available to handlers as an extension.
#[derive(Debug, Clone)]
pub struct Caller {
    pub key_id: String,
    pub role: Role,
    /// The agent of an `agent` key; None for every staff key.
    pub agent_id: Option<String>,
}

/// Rejects requests without a valid key (401) or with too small a role for the method (403).
pub async fn require_key(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let address = crate::providers::client_address(&state, request.headers(), request.extensions());
    let now = std::time::Instant::now();
    if let Some(wait) = address.and_then(|a| state.failed_auth.blocked(a, now)) {
        return Ok(too_many_failures(wait));
    }
    let token = bearer(request.headers()).map(str::to_owned);
    let caller = match authenticate(&state, token.as_deref()).await {
        Ok(caller) => caller,
        Err(refusal) => {
            if refusal.status == StatusCode::UNAUTHORIZED {
                if let Some(address) = address {
                    state.failed_auth.fail(address, now);
                }
            }
            return Err(refusal);
        }
    };
    // Inside the nested `/v1` router the path arrives without its prefix; accept both forms.
    let path = request.uri().path();
    let path = path.strip_prefix("/v1").unwrap_or(path);
    let needed = if admin_only(request.method(), path) {
        Role::Admin
    } else if matches!(*request.method(), Method::GET | Method::HEAD) {
        Role::Viewer
    } else {
        Role::Operator
    };
    let allowed = match (&caller.role, &caller.agent_id) {
        (Role::Agent, Some(agent_id)) => agent_may(request.method(), path, agent_id),
        (Role::Agent, None) => false,
        (role, _) => *role >= needed,
    };
    if !allowed {
        let message = match caller.role {
            Role::Agent => {
                "an agent's key opens only its own agent's sales, ledger, sync and record, its customers, and registrations".to_owned()
            }
            _ => format!("this needs the {needed:?} role").to_lowercase(),
        };
        return Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", message));
    }
    record_use(&state, &caller);
    request.extensions_mut().insert(Caller {
        key_id: caller.id.clone(),
        role: caller.role,
        agent_id: caller.agent_id.clone(),
    });
    Ok(next.run(request).await)
}

/// Paths only an admin may use: keys and providers (secrets), the audit log (who did what with both), SMS
/// template edits (what every customer reads), conflict resolution (money a provider's delivery contradicted)
/// and bulk tokens (credit for many devices at once). A single unlock token is checked by its handler, which
/// reads the token's kind.
fn admin_only(method: &Method, path: &str) -> bool {
    path.starts_with("/api-keys")
        || path.starts_with("/audit")
        || path.starts_with("/providers")
        || (path.starts_with("/sms-templates") && !matches!(*method, Method::GET | Method::HEAD))
        || (path.starts_with("/payments/conflicts/") && path.ends_with("/resolve"))
        || path.starts_with("/tokens/bulk")
}

/// What an agent's key may do, conservatively: read its own agent (with its sums) and ledger, sync its phone,
/// record its own sales, register customers with their devices, and read its own customers. Everything else, another agent's paths included, is
/// refused.
fn agent_may(method: &Method, path: &str, agent_id: &str) -> bool {
    let own = |tail: &str| path.strip_prefix("/agents/").and_then(|p| p.strip_prefix(agent_id)) == Some(tail);
    match *method {
        // A customer by id: its handler lets an agent read only its own customers.
        Method::GET | Method::HEAD => {
            own("")
                || own("/ledger")
                || own("/sync")
                || path.strip_prefix("/customers/").is_some_and(|id| !id.contains('/'))
        }
        Method::POST => own("/sales") || own("/sync") || path == "/registrations",
        _ => false,
    }
}

/// The key in `Authorization: Bearer <api key>`, if any.
fn bearer(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
}

/// The caller a request's bearer key names; 401 without one or with an unknown key.
async fn authenticate(state: &AppState, token: Option<&str>) -> Result<Arc<KnownKey>, ApiError> {
    let token = token.ok_or_else(|| {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "missing Authorization: Bearer <api key>")
    })?;
    known_key(state, token).await
}

/// 429 with `Retry-After` (whole seconds, rounded up).
fn too_many_failures(wait: std::time::Duration) -> Response {
    let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let refusal = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
        format!("too many failed authentications from this address; retry in {seconds} s"),
    );
    let mut response = axum::response::IntoResponse::into_response(refusal);
    response.headers_mut().insert(header::RETRY_AFTER, axum::http::HeaderValue::from(seconds));
    response
}

/// The key of a request, from the cache or else the database; 401 when no active key has this value.
async fn known_key(state: &AppState, token: &str) -> Result<Arc<KnownKey>, ApiError> {
    let hash = hash_api_key(token);
    let now = crate::ids::now();
    if let Some(key) = state.keys.get(&hash, now.timestamp_millis()) {
        return Ok(key);
    }
    let at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let row = crate::storage::api_keys::active_by_hash(&state.db.pool, &hash, &at)
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "unknown API key"))?;
    let role = Role::parse(&row.role).ok_or_else(|| ApiError::internal(format!("stored role {:?}", row.role)))?;
    let millis = |at: Option<&str>| {
        at.and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok()).map(|at| at.timestamp_millis())
    };
    let last_recorded_ms = millis(row.last_used_at.as_deref()).unwrap_or(0);
    let key = KnownKey::new(row.id, role, last_recorded_ms, millis(row.expires_at.as_deref()));
    let key = Arc::new(key.with_agent(row.agent_id));
    state.keys.insert(hash, Arc::clone(&key));
    Ok(key)
}

/// Records a key's use at most once a minute, off the request's path: the request neither waits for the
/// write nor fails with it, and a busy key costs one write a minute, not one per request.
fn record_use(state: &AppState, key: &KnownKey) {
    let now = crate::ids::now();
    if !key.claim_use_record(now.timestamp_millis()) {
        return;
    }
    let since = (now - chrono::Duration::minutes(1)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let at = now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let (state, key_id) = (state.clone(), key.id.clone());
    tokio::spawn(async move {
        // Through the write guard like every write beside SQLite's payment writer: a write slipped between
        // another transaction's read and its write fails that transaction (SQLITE_BUSY_SNAPSHOT).
        let _guard = state.db.write_guard().await;
        if let Err(e) = crate::storage::api_keys::touch(&state.db.pool, &key_id, &at, &since).await {
            tracing::warn!(key = %key_id, error = ?e.body, "could not record an API key's use");
        }
    });
}

/// Stores a key's hash with its role and expiry, and its creation by `actor` in the audit log; returns the
/// key's id.
pub async fn store_key(
    db: &Db,
    key: &str,
    role: &str,
    label: &str,
    expires_at: Option<&str>,
    actor: &Actor,
) -> ApiResult<String> {
    // An agent's key is made with its agent ([`store_agent_key`]), never on its own.
    if !matches!(Role::parse(role), Some(Role::Admin | Role::Operator | Role::Viewer)) {
        return Err(ApiError::invalid("role", "must be admin, operator or viewer"));
    }
    let id = crate::ids::new_id();
    let created_at = crate::ids::now_rfc3339();
    let _guard = db.write_guard().await;
    let mut tx = db.pool.begin().await?;
    let sql =
        "INSERT INTO api_keys (id, key_hash, role, label, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)";
    sqlx::query(sql)
        .bind(&id)
        .bind(hash_api_key(key))
        .bind(role)
        .bind(label)
        .bind(&created_at)
        .bind(expires_at)
        .execute(&mut *tx)
        .await?;
    let created =
        crate::storage::api_keys::key(&mut *tx, &id).await?.ok_or_else(|| ApiError::internal("key not stored"))?;
    audit::record(&mut *tx, &Entry::new(actor, Action::ApiKeyCreated, "api_key", &id).after(&created)?).await?;
    tx.commit().await?;
    Ok(id)
}

/// Where a generated first admin key goes.
#[derive(Debug, Clone)]
pub enum AdminKeyDelivery {
    /// A new file, readable only by the server's user (0600): the key stays out of terminals' scrollback and
    /// the logs a service manager keeps.
    File(std::path::PathBuf),
    /// Printed once (`--print-admin-key`).
    Print,
}

/// A first admin key generated at this start.
#[derive(Debug)]
pub enum NewAdminKey {
    /// Written to this file.
    Written(std::path::PathBuf),
    /// To be printed once.
    Print(String),
}

/// On first start, stores `MICROPOWER_ADMIN_KEY` or a new key; a new key is delivered as `delivery` says
/// (written before it is stored, so a key that could not be written is never the only admin key).
pub async fn ensure_admin_key(
    db: &Db,
    configured: Option<&str>,
    delivery: AdminKeyDelivery,
) -> ApiResult<Option<NewAdminKey>> {
    let count: i64 = sqlx::query("SELECT COUNT(*) AS n FROM api_keys").fetch_one(&db.pool).await?.try_get("n")?;
    match configured {
        Some(key) => {
            let exists = sqlx::query("SELECT id FROM api_keys WHERE key_hash = $1")
                .bind(hash_api_key(key))
                .fetch_optional(&db.pool)
                .await?
                .is_some();
            if !exists {
                store_key(db, key, "admin", "MICROPOWER_ADMIN_KEY", None, &Actor::System("MICROPOWER_ADMIN_KEY"))
                    .await?;
            }
            Ok(None)
        }
        None if count == 0 => {
            let key = new_api_key()?;
            let new = match delivery {
                AdminKeyDelivery::File(path) => {
                    // A file left by an earlier database holds a key that no longer opens anything.
                    crate::files::replace_private_file(&path, format!("{key}\n").as_bytes())
                        .map_err(|e| ApiError::internal(format!("cannot write {}: {e}", path.display())))?;
                    NewAdminKey::Written(path)
                }
                AdminKeyDelivery::Print => NewAdminKey::Print(key.clone()),
            };
            store_key(db, &key, "admin", "first start", None, &Actor::System("first start")).await?;
            Ok(Some(new))
        }
        None => Ok(None),
    }
}
