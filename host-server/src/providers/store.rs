//! What the hooks write: the raw delivery (before any answer), validations, conflicts, outcomes.
//!
//! On SQLite every write of a hook goes through one group-commit task ([`HookWriter`], see `group_commit`):
//! deliveries arriving together share one transaction and one fsync, which is what keeps Daraja validation
//! fast under load while still answering only after the raw payload is durable. PostgreSQL commits side by
//! side.

use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{Any, AnyPool, Transaction};

use super::Kind;
use crate::error::{ApiError, ApiResult};
use crate::group_commit::{GroupCommit, Step, StepFuture};
use crate::ids::{new_id, now_rfc3339};
use crate::state::AppState;
use crate::storage::audit::{self, Entry};
use crate::storage::column::Text;
use crate::storage::page::{Keyset, ListQuery, Order, Page, PageRequest};

/// One statement of a hook's write; every bound value is text or NULL.
pub struct Insert {
    pub sql: &'static str,
    pub args: Vec<Option<String>>,
}

/// One delivery's statements, applied by SQLite's group-commit writer ([`crate::group_commit`]).
pub struct Inserts(Vec<Insert>);

/// The hook writer: deliveries arriving together share one transaction and one fsync.
pub type HookWriter = GroupCommit<Inserts>;

impl Step for Inserts {
    type Output = ();
    fn apply<'a>(&'a self, _: &'a AppState, tx: &'a mut Transaction<'static, Any>) -> StepFuture<'a, ()> {
        Box::pin(execute(tx, &self.0))
    }
}

async fn execute(tx: &mut Transaction<'_, Any>, inserts: &[Insert]) -> ApiResult<()> {
    for insert in inserts {
        let mut query = sqlx::query(insert.sql);
        for arg in &insert.args {
            query = query.bind(arg.clone());
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Writes `inserts` atomically and durably (group commit on SQLite, one transaction on PostgreSQL).
pub async fn write(state: &AppState, inserts: Vec<Insert>) -> ApiResult<()> {
    if let Some(writer) = state.hook_writer.get() {
        return writer.submit(Inserts(inserts)).await;
    }
    let mut tx = state.db.pool.begin().await?;
    execute(&mut tx, &inserts).await?;
    tx.commit().await?;
    Ok(())
}

/// A delivery as it arrived, ready to be kept.
pub struct RawEvent {
    pub id: String,
    pub provider_id: String,
    pub hook: &'static str,
    pub body: String,
    pub encoding: &'static str,
    pub sha256: String,
    pub signature: Option<String>,
}

impl RawEvent {
    /// The bytes of a delivery, kept exactly: UTF-8 text when they are (and hold no NUL, which PostgreSQL
    /// TEXT refuses), base64 otherwise.
    pub fn new(provider_id: &str, hook: &'static str, bytes: &[u8], signature: Option<&str>) -> RawEvent {
        let sha256 = hex::encode(Sha256::digest(bytes));
        let (body, encoding) = match std::str::from_utf8(bytes) {
            Ok(text) if !text.contains('\0') => (text.to_owned(), "utf8"),
            _ => (base64::engine::general_purpose::STANDARD.encode(bytes), "base64"),
        };
        RawEvent {
            id: new_id(),
            provider_id: provider_id.to_owned(),
            hook,
            body,
            encoding,
            sha256,
            signature: signature.map(str::to_owned),
        }
    }

    /// The insert keeping this delivery with its first outcome.
    pub fn insert(&self, outcome: &str, event_key: Option<&str>, detail: Option<&str>) -> Insert {
        Insert {
            sql: "INSERT INTO hook_events (id, provider_id, hook, event_key, body, body_encoding, body_sha256, signature, outcome, detail, created_at) \
                  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            args: vec![
                Some(self.id.clone()),
                Some(self.provider_id.clone()),
                Some(self.hook.to_owned()),
                event_key.map(str::to_owned),
                Some(self.body.clone()),
                Some(self.encoding.to_owned()),
                Some(self.sha256.clone()),
                self.signature.clone(),
                Some(outcome.to_owned()),
                detail.map(str::to_owned),
                Some(now_rfc3339()),
            ],
        }
    }
}

/// Records what became of a kept delivery (best effort: the delivery itself is already durable).
pub async fn set_outcome(
    state: &AppState,
    event_id: &str,
    outcome: &str,
    event_key: Option<&str>,
    detail: Option<&str>,
) {
    let update = Insert {
        sql: "UPDATE hook_events SET outcome = $1, event_key = COALESCE($2, event_key), detail = $3 WHERE id = $4",
        args: vec![
            Some(outcome.to_owned()),
            event_key.map(str::to_owned),
            detail.map(str::to_owned),
            Some(event_id.to_owned()),
        ],
    };
    if let Err(e) = write(state, vec![update]).await {
        tracing::error!(event = %event_id, outcome, error = ?e.body, "could not record a hook outcome");
    }
}

/// A conflict for an operator: the money of this delivery is not credited.
pub async fn record_conflict<A: Serialize, R: Serialize>(
    state: &AppState,
    provider_id: &str,
    provider_tx_id: &str,
    event_id: &str,
    reason: &str,
    announced: Option<&A>,
    received: &R,
) -> ApiResult<()> {
    let announced = announced.map(serde_json::to_string).transpose().map_err(ApiError::internal)?;
    let received = serde_json::to_string(received).map_err(ApiError::internal)?;
    let insert = Insert {
        sql: "INSERT INTO payment_conflicts (id, provider_id, provider_tx_id, hook_event_id, reason, announced, received, status, created_at) \
              VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8) ON CONFLICT (provider_id, provider_tx_id) DO NOTHING",
        args: vec![
            Some(new_id()),
            Some(provider_id.to_owned()),
            Some(provider_tx_id.to_owned()),
            Some(event_id.to_owned()),
            Some(reason.to_owned()),
            announced,
            Some(received),
            Some(now_rfc3339()),
        ],
    };
    write(state, vec![insert]).await?;
    tracing::warn!(provider = %provider_id, tx = %provider_tx_id, reason, "payment conflict recorded; nothing credited");
    Ok(())
}

/// The open conflict of a provider transaction, if any (a conflicting transaction stays uncredited on every
/// later delivery until an operator resolves it).
pub async fn conflict_reason(state: &AppState, provider_id: &str, provider_tx_id: &str) -> ApiResult<Option<String>> {
    let row = sqlx::query_scalar(
        "SELECT reason FROM payment_conflicts WHERE provider_id = $1 AND provider_tx_id = $2 AND status = 'open'",
    )
    .bind(provider_id)
    .bind(provider_tx_id)
    .fetch_optional(&state.db.pool)
    .await?;
    Ok(row)
}

/// What the provider announced before the money moved. The amount stays the text announced: a validation
/// is kept even when its amount was no number, and a conflict shows it as it came.
#[derive(sqlx::FromRow)]
pub struct Announcement {
    pub id: String,
    pub provider_tx_id: String,
    pub serial_raw: String,
    pub amount: Option<String>,
    pub currency: String,
    pub result_code: String,
}

/// The latest announcement of a transaction: by our own reference when the provider echoes it, else by the
/// provider's transaction id.
pub async fn announcement(
    state: &AppState,
    provider_id: &str,
    our_ref: Option<&str>,
    provider_tx_id: &str,
) -> ApiResult<Option<Announcement>> {
    let row = match our_ref.filter(|r| !r.trim().is_empty()) {
        Some(reference) => {
            sqlx::query_as(
                "SELECT id, provider_tx_id, serial_raw, amount, currency, result_code FROM provider_validations \
                 WHERE provider_id = $1 AND id = $2",
            )
            .bind(provider_id)
            .bind(reference.trim())
            .fetch_optional(&state.db.pool)
            .await?
        }
        None => {
            sqlx::query_as(
                "SELECT id, provider_tx_id, serial_raw, amount, currency, result_code FROM provider_validations \
                 WHERE provider_id = $1 AND provider_tx_id = $2 ORDER BY created_at DESC, id DESC",
            )
            .bind(provider_id)
            .bind(provider_tx_id)
            .fetch_optional(&state.db.pool)
            .await?
        }
    };
    Ok(row)
}

/// The insert recording an announcement.
pub fn announcement_insert(
    id: &str,
    provider_id: &str,
    provider_tx_id: &str,
    serial_raw: &str,
    amount: Option<String>,
    currency: &str,
    result_code: &str,
) -> Insert {
    Insert {
        sql: "INSERT INTO provider_validations (id, provider_id, provider_tx_id, serial_raw, amount, currency, result_code, created_at) \
              VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        args: vec![
            Some(id.to_owned()),
            Some(provider_id.to_owned()),
            Some(provider_tx_id.to_owned()),
            Some(serial_raw.to_owned()),
            amount,
            Some(currency.to_owned()),
            Some(result_code.to_owned()),
            Some(now_rfc3339()),
        ],
    }
}

/// True when a delivery with this event key was already processed (Wave's event `id`).
pub async fn event_processed(state: &AppState, provider_id: &str, event_key: &str) -> ApiResult<bool> {
    let row = sqlx::query(
        "SELECT id FROM hook_events WHERE provider_id = $1 AND event_key = $2 \
         AND outcome IN ('credited', 'duplicate', 'unmatched', 'conflict', 'ignored')",
    )
    .bind(provider_id)
    .bind(event_key)
    .fetch_optional(&state.db.pool)
    .await?;
    Ok(row.is_some())
}

/// A provider's stored configuration; its signing secret still sealed.
#[derive(sqlx::FromRow)]
pub struct ProviderRow {
    pub id: String,
    #[sqlx(try_from = "Text<Kind>")]
    pub kind: Kind,
    pub name: String,
    pub currency: String,
    pub shortcode: Option<String>,
    pub secret_sealed: Option<String>,
    /// 0 or 1 (see migration 0007).
    pub require_validation: i64,
    /// A JSON array of CIDR blocks, or NULL.
    pub allowed_sources: Option<String>,
    pub created_at: String,
    pub removed_at: Option<String>,
}

const PROVIDER_COLUMNS: &str = "p.id, p.kind, p.name, p.currency, p.shortcode, p.secret_sealed, \
    p.require_validation, p.allowed_sources, p.created_at, p.removed_at";

/// The provider a hook path belongs to, at `now`: one not removed, by a path that is its current one or a
/// previous one still in its grace period.
pub async fn provider_by_path_hash(pool: &AnyPool, path_hash: &str, now: &str) -> ApiResult<Option<ProviderRow>> {
    let sql = format!(
        "SELECT {PROVIDER_COLUMNS} FROM provider_hook_paths h JOIN providers p ON p.id = h.provider_id \
         WHERE h.path_hash = $1 AND p.removed_at IS NULL AND (h.expires_at IS NULL OR h.expires_at > $2)"
    );
    Ok(sqlx::query_as(&sql).bind(path_hash).bind(now).fetch_optional(pool).await?)
}

/// One provider by id, removed or not.
pub async fn provider_by_id(pool: &AnyPool, id: &str) -> ApiResult<Option<ProviderRow>> {
    let sql = format!("SELECT {PROVIDER_COLUMNS} FROM providers p WHERE p.id = $1");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?)
}

/// One provider by the name its payments are recorded under, removed or not.
pub async fn provider_by_name(pool: &AnyPool, name: &str) -> ApiResult<Option<ProviderRow>> {
    let sql = format!("SELECT {PROVIDER_COLUMNS} FROM providers p WHERE p.name = $1");
    Ok(sqlx::query_as(&sql).bind(name).fetch_optional(pool).await?)
}

/// A new provider's row, before it is written.
pub struct NewProvider<'a> {
    pub id: &'a str,
    pub kind: Kind,
    pub name: &'a str,
    pub currency: &'a str,
    pub shortcode: Option<&'a str>,
    pub secret_sealed: Option<&'a str>,
    pub require_validation: bool,
    /// The allowlist as stored (a JSON array), `None` when deliveries may come from anywhere.
    pub allowed_sources: Option<&'a str>,
    pub path_hash: &'a str,
}

/// Writes a new provider with its first hook path, atomically. A taken name is a unique violation.
pub async fn insert_provider(pool: &AnyPool, p: &NewProvider<'_>, entry: &Entry) -> Result<(), sqlx::Error> {
    let created_at = now_rfc3339();
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO providers (id, kind, name, currency, shortcode, secret_sealed, path_hash, created_at, \
         require_validation, allowed_sources) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(p.id)
    .bind(p.kind.name())
    .bind(p.name)
    .bind(p.currency)
    .bind(p.shortcode)
    .bind(p.secret_sealed)
    .bind(p.path_hash)
    .bind(&created_at)
    .bind(i64::from(p.require_validation))
    .bind(p.allowed_sources)
    .execute(&mut *tx)
    .await?;
    insert_path(&mut tx, p.id, p.path_hash, &created_at).await?;
    audit::record(&mut *tx, entry).await?;
    tx.commit().await
}

async fn insert_path(
    tx: &mut Transaction<'_, Any>,
    provider_id: &str,
    path_hash: &str,
    created_at: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO provider_hook_paths (path_hash, provider_id, expires_at, created_at) VALUES ($1, $2, NULL, $3)",
    )
    .bind(path_hash)
    .bind(provider_id)
    .bind(created_at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Gives a provider a new current hook path; its previous paths stop working at `old_paths_expire_at` (or
/// sooner, when an earlier rotation already said so). False when the provider is unknown or removed.
pub async fn rotate_path(
    pool: &AnyPool,
    provider_id: &str,
    new_path_hash: &str,
    old_paths_expire_at: &str,
    entry: &Entry,
) -> ApiResult<bool> {
    let mut tx = pool.begin().await?;
    let updated = sqlx::query("UPDATE providers SET path_hash = $1 WHERE id = $2 AND removed_at IS NULL")
        .bind(new_path_hash)
        .bind(provider_id)
        .execute(&mut *tx)
        .await?;
    if updated.rows_affected() == 0 {
        return Ok(false);
    }
    sqlx::query(
        "UPDATE provider_hook_paths SET expires_at = $1 \
         WHERE provider_id = $2 AND (expires_at IS NULL OR expires_at > $1)",
    )
    .bind(old_paths_expire_at)
    .bind(provider_id)
    .execute(&mut *tx)
    .await?;
    insert_path(&mut tx, provider_id, new_path_hash, &now_rfc3339()).await?;
    audit::record(&mut *tx, entry).await?;
    tx.commit().await?;
    Ok(true)
}

/// Marks a provider removed at `at` (its hooks answer 404 from now on), with its audit `entry`; its history
/// stays. A provider already removed keeps its first removal instant, and then nothing is recorded. False
/// when there is no such provider or it was already removed.
pub async fn remove_provider(pool: &AnyPool, provider_id: &str, at: &str, entry: &Entry) -> ApiResult<bool> {
    let mut tx = pool.begin().await?;
    let updated = sqlx::query("UPDATE providers SET removed_at = $1 WHERE id = $2 AND removed_at IS NULL")
        .bind(at)
        .bind(provider_id)
        .execute(&mut *tx)
        .await?;
    if updated.rows_affected() == 0 {
        return Ok(false);
    }
    audit::record(&mut *tx, entry).await?;
    tx.commit().await?;
    Ok(true)
}

/// A provider as `GET /v1/providers` lists it: no secret, no hook paths.
#[derive(Debug, Clone, Serialize)]
pub struct ListedProvider {
    pub id: String,
    pub kind: Kind,
    pub name: String,
    pub currency: String,
    pub shortcode: Option<String>,
    pub require_validation: bool,
    pub allowed_sources: Vec<String>,
    pub created_at: String,
    /// When it was removed (its hooks answer 404 since); `null` while it is active.
    pub removed_at: Option<String>,
}

impl ProviderRow {
    /// The allowlist as stored. An unreadable one (never written by the server) is an error, never taken
    /// for "no allowlist".
    pub fn allowed_sources(&self) -> Result<Vec<String>, serde_json::Error> {
        self.allowed_sources.as_deref().map(serde_json::from_str).transpose().map(Option::unwrap_or_default)
    }

    /// The row as listed.
    pub fn listed(self) -> ApiResult<ListedProvider> {
        let allowed_sources = self.allowed_sources().map_err(ApiError::internal)?;
        Ok(ListedProvider {
            id: self.id,
            kind: self.kind,
            name: self.name,
            currency: self.currency,
            shortcode: self.shortcode,
            require_validation: self.require_validation != 0,
            allowed_sources,
            created_at: self.created_at,
            removed_at: self.removed_at,
        })
    }
}

/// Every configured provider, removed ones included, oldest first.
pub async fn providers(pool: &AnyPool) -> ApiResult<Vec<ListedProvider>> {
    let sql = format!("SELECT {PROVIDER_COLUMNS} FROM providers p ORDER BY p.created_at, p.id");
    let rows: Vec<ProviderRow> = sqlx::query_as(&sql).fetch_all(pool).await?;
    rows.into_iter().map(ProviderRow::listed).collect()
}

/// Marks an open conflict resolved as `resolution` (`credited` or `dismissed`); false when it was not open
/// (another decision came first).
pub async fn claim_conflict<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    exec: E,
    id: &str,
    resolution: &str,
    at: &str,
) -> ApiResult<bool> {
    let sql = "UPDATE payment_conflicts SET status = 'resolved', resolution = $1, resolved_at = $2 \
               WHERE id = $3 AND status = 'open'";
    let done = sqlx::query(sql).bind(resolution).bind(at).bind(id).execute(exec).await?;
    Ok(done.rows_affected() == 1)
}

/// Links a credited conflict to the payment it made (none when the money went to the unmatched queue).
pub async fn set_conflict_payment<'e, E: sqlx::Executor<'e, Database = sqlx::Any>>(
    exec: E,
    id: &str,
    payment_id: Option<&str>,
) -> ApiResult<()> {
    sqlx::query("UPDATE payment_conflicts SET payment_id = $1 WHERE id = $2")
        .bind(payment_id)
        .bind(id)
        .execute(exec)
        .await?;
    Ok(())
}

/// Whether an operator has decided a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictStatus {
    Open,
    Resolved,
}

/// A delivery whose money disagreed with what was announced. `announced` and `received` are each provider's
/// own account of the two sides (the structs beside each provider's wire format), kept as JSON: their shape
/// is the provider's, so they are read back as open JSON.
#[derive(Debug, sqlx::FromRow, Serialize)]
pub struct Conflict {
    pub id: String,
    pub provider: String,
    pub provider_tx_id: String,
    pub hook_event_id: String,
    pub reason: String,
    #[sqlx(try_from = "Text<Option<Value>>")]
    pub announced: Option<Value>,
    #[sqlx(try_from = "Text<Value>")]
    pub received: Value,
    #[sqlx(try_from = "Text<ConflictStatus>")]
    pub status: ConflictStatus,
    /// `credited` or `dismissed` once resolved.
    pub resolution: Option<String>,
    /// The payment a credit made (null when dismissed, or when the money went to the unmatched queue).
    pub payment_id: Option<String>,
    pub resolved_at: Option<String>,
    pub created_at: String,
}

impl ConflictStatus {
    /// A status as stored and as a query names it.
    pub fn parse(text: &str) -> Option<ConflictStatus> {
        match text {
            "open" => Some(ConflictStatus::Open),
            "resolved" => Some(ConflictStatus::Resolved),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            ConflictStatus::Open => "open",
            ConflictStatus::Resolved => "resolved",
        }
    }
}

/// The conflicts, newest first; only those in `status` when given.
pub async fn conflicts(
    pool: &AnyPool,
    status: Option<ConflictStatus>,
    page: &PageRequest,
) -> ApiResult<Page<Conflict>> {
    let mut q = ListQuery::new(
        "SELECT c.id, p.name AS provider, c.provider_tx_id, c.hook_event_id, c.reason, c.announced, c.received, \
         c.status, c.resolution, c.payment_id, c.resolved_at, c.created_at \
         FROM payment_conflicts c JOIN providers p ON p.id = c.provider_id",
    );
    if let Some(status) = status {
        q.filter("c.status = {}", status.name());
    }
    let keyset = Keyset { list: "conflicts", key: "c.created_at", id: "c.id", order: Order::NewestFirst };
    q.page(pool, keyset, page, |c: &Conflict| (c.created_at.clone(), c.id.clone())).await
}

/// A conflict with what an operator's decision needs: its provider's name and currency.
#[derive(Debug, sqlx::FromRow)]
pub struct ConflictToResolve {
    pub provider_tx_id: String,
    #[sqlx(try_from = "Text<Value>")]
    pub received: Value,
    #[sqlx(try_from = "Text<ConflictStatus>")]
    pub status: ConflictStatus,
    pub name: String,
    pub currency: String,
}

/// One conflict, by id.
pub async fn conflict_by_id(pool: &AnyPool, id: &str) -> ApiResult<Option<ConflictToResolve>> {
    let sql = "SELECT c.provider_tx_id, c.received, c.status, p.name, p.currency FROM payment_conflicts c \
               JOIN providers p ON p.id = c.provider_id WHERE c.id = $1";
    Ok(sqlx::query_as(sql).bind(id).fetch_optional(pool).await?)
}
