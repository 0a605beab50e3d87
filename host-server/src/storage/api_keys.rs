//! API keys as an admin sees them: never the key nor its hash.

use serde::Serialize;
use sqlx::{Any, Executor};

use crate::error::ApiResult;
use crate::storage::page::{Keyset, ListQuery, Order, Page, PageRequest};

/// A key as listed.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct ApiKey {
    pub id: String,
    pub label: String,
    pub role: String,
    pub created_at: String,
    /// To the minute: the server records a use at most once a minute per key.
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
    /// When the key stops working by itself; `None`: never.
    pub expires_at: Option<String>,
}

/// The keys, newest first.
pub async fn keys<'e, E: Executor<'e, Database = Any>>(exec: E, page: &PageRequest) -> ApiResult<Page<ApiKey>> {
    let q = ListQuery::new("SELECT id, label, role, created_at, last_used_at, revoked_at, expires_at FROM api_keys");
    let keyset = Keyset { list: "api-keys", key: "created_at", id: "id", order: Order::NewestFirst };
    q.page(exec, keyset, page, |k: &ApiKey| (k.created_at.clone(), k.id.clone())).await
}

/// An active key as authentication reads it.
#[derive(Debug, sqlx::FromRow)]
pub struct ActiveKey {
    pub id: String,
    pub role: String,
    /// The agent of an `agent` key.
    pub agent_id: Option<String>,
    pub last_used_at: Option<String>,
    pub expires_at: Option<String>,
}

/// The key with this hash that is neither revoked nor expired at `now`. The expiry comes along so a cached
/// key stops working at that instant too.
pub async fn active_by_hash<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    hash: &str,
    now: &str,
) -> ApiResult<Option<ActiveKey>> {
    let sql = "SELECT id, role, agent_id, last_used_at, expires_at FROM api_keys
               WHERE key_hash = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)";
    Ok(sqlx::query_as(sql).bind(hash).bind(now).fetch_optional(exec).await?)
}

/// A key by id.
pub async fn key<'e, E: Executor<'e, Database = Any>>(exec: E, id: &str) -> ApiResult<Option<ApiKey>> {
    let sql = "SELECT id, label, role, created_at, last_used_at, revoked_at, expires_at FROM api_keys WHERE id = $1";
    Ok(sqlx::query_as(sql).bind(id).fetch_optional(exec).await?)
}

/// How many keys with the admin role are neither revoked nor ever to expire: the keys that keep the server
/// administrable.
pub async fn lasting_admins<'e, E: Executor<'e, Database = Any>>(exec: E) -> ApiResult<i64> {
    let sql = "SELECT COUNT(*) FROM api_keys WHERE role = 'admin' AND revoked_at IS NULL AND expires_at IS NULL";
    Ok(sqlx::query_scalar(sql).fetch_one(exec).await?)
}

/// Revokes a key at `at`; a key revoked before keeps its first revocation time.
pub async fn revoke<'e, E: Executor<'e, Database = Any>>(exec: E, id: &str, at: &str) -> ApiResult<()> {
    sqlx::query("UPDATE api_keys SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL")
        .bind(at)
        .bind(id)
        .execute(exec)
        .await?;
    Ok(())
}

/// Records that a key was used at `at`, unless a use at or after `since` is already recorded.
pub async fn touch<'e, E: Executor<'e, Database = Any>>(exec: E, id: &str, at: &str, since: &str) -> ApiResult<()> {
    sqlx::query("UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)")
        .bind(at)
        .bind(id)
        .bind(since)
        .execute(exec)
        .await?;
    Ok(())
}

/// Stores the key of a field agent (role `agent`), by the hash of the key; answers the key's id.
pub async fn insert_agent_key<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    key_hash: &str,
    label: &str,
    agent_id: &str,
    created_at: &str,
) -> ApiResult<String> {
    let id = crate::ids::new_id();
    let sql = "INSERT INTO api_keys (id, key_hash, role, label, created_at, agent_id) \
               VALUES ($1, $2, 'agent', $3, $4, $5)";
    sqlx::query(sql).bind(&id).bind(key_hash).bind(label).bind(created_at).bind(agent_id).execute(exec).await?;
    Ok(id)
}
