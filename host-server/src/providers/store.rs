//! What the hooks write: the raw delivery (before any answer), validations, conflicts, outcomes.
//!
//! On SQLite every write of a hook goes through one group-commit task ([`HookWriter`], see `group_commit`):
//! deliveries arriving together share one transaction and one fsync, which is what keeps Daraja validation
//! fast under load while still answering only after the raw payload is durable. PostgreSQL commits side by
//! side.

use base64::Engine as _;
use serde_json::Value;
use sha2::{Digest, Sha256};
use sqlx::{Any, Row, Transaction};

use crate::error::ApiResult;
use crate::group_commit::{GroupCommit, Step, StepFuture};
use crate::ids::{new_id, now_rfc3339};
use crate::state::AppState;

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
pub async fn record_conflict(
    state: &AppState,
    provider_id: &str,
    provider_tx_id: &str,
    event_id: &str,
    reason: &str,
    announced: Option<&Value>,
    received: &Value,
) -> ApiResult<()> {
    let insert = Insert {
        sql: "INSERT INTO payment_conflicts (id, provider_id, provider_tx_id, hook_event_id, reason, announced, received, status, created_at) \
              VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', $8) ON CONFLICT (provider_id, provider_tx_id) DO NOTHING",
        args: vec![
            Some(new_id()),
            Some(provider_id.to_owned()),
            Some(provider_tx_id.to_owned()),
            Some(event_id.to_owned()),
            Some(reason.to_owned()),
            announced.map(Value::to_string),
            Some(received.to_string()),
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
    let row = sqlx::query(
        "SELECT reason FROM payment_conflicts WHERE provider_id = $1 AND provider_tx_id = $2 AND status = 'open'",
    )
    .bind(provider_id)
    .bind(provider_tx_id)
    .fetch_optional(&state.db.pool)
    .await?;
    Ok(row.map(|r| r.try_get("reason")).transpose()?)
}

/// What the provider announced before the money moved.
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
            sqlx::query(
                "SELECT id, provider_tx_id, serial_raw, amount, currency, result_code FROM provider_validations \
                 WHERE provider_id = $1 AND id = $2",
            )
            .bind(provider_id)
            .bind(reference.trim())
            .fetch_optional(&state.db.pool)
            .await?
        }
        None => {
            sqlx::query(
                "SELECT id, provider_tx_id, serial_raw, amount, currency, result_code FROM provider_validations \
                 WHERE provider_id = $1 AND provider_tx_id = $2 ORDER BY created_at DESC, id DESC",
            )
            .bind(provider_id)
            .bind(provider_tx_id)
            .fetch_optional(&state.db.pool)
            .await?
        }
    };
    row.map(|r| {
        Ok(Announcement {
            id: r.try_get("id")?,
            provider_tx_id: r.try_get("provider_tx_id")?,
            serial_raw: r.try_get("serial_raw")?,
            amount: r.try_get("amount")?,
            currency: r.try_get("currency")?,
            result_code: r.try_get("result_code")?,
        })
    })
    .transpose()
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
