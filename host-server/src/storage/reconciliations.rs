//! Reconciliations as stored (migration 0012): the statement's lines as classified, the server's payments it
//! did not show, and what applying it did.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::{Any, AnyPool, Executor, Transaction};

use crate::error::ApiResult;
use crate::providers::statement::Format;
use crate::storage::audit::{self, Entry};
use crate::storage::column::Text;
use crate::storage::page::{Keyset, ListQuery, Order, Page, PageRequest};
use crate::storage::payments::UnmatchedPayment;

/// What a statement line is, set against the server's payments.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineStatus {
    /// The server has this transaction with the same amount and account.
    Recorded,
    /// The provider took the money; the server never heard of it.
    Missing,
    /// The server has this transaction with another amount or account.
    Mismatch,
    /// The server heard of it and queued it for an unknown account: an operator places it.
    Unmatched,
    /// The provider did not complete it: skipped.
    NotCompleted,
    /// Money out, or nothing paid in (a withdrawal, a charge): skipped.
    NotPaidIn,
}

impl LineStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            LineStatus::Recorded => "recorded",
            LineStatus::Missing => "missing",
            LineStatus::Mismatch => "mismatch",
            LineStatus::Unmatched => "unmatched",
            LineStatus::NotCompleted => "not_completed",
            LineStatus::NotPaidIn => "not_paid_in",
        }
    }
}

/// What applying a line did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Credited now, through the payment path.
    Credited,
    /// Already credited (by a callback, or another apply): nothing more.
    Duplicate,
    /// An account no device has: queued for an operator, as a callback's would be.
    Unmatched,
    /// Not credited: a conflict for an operator.
    Conflict,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Credited => "credited",
            Outcome::Duplicate => "duplicate",
            Outcome::Unmatched => "unmatched",
            Outcome::Conflict => "conflict",
        }
    }
}

/// A payment the server recorded under the statement's provider in its period, which the statement does not
/// show.
#[derive(Debug, Clone, Serialize, Deserialize, sqlx::FromRow)]
pub struct NotOnStatement {
    #[sqlx(rename = "id")]
    pub payment_id: String,
    pub provider_tx_id: String,
    /// The device paid; null for a device-less plan.
    pub serial: Option<String>,
    pub plan_id: Option<String>,
    #[serde(with = "micropower_core::wire::dec")]
    #[sqlx(try_from = "Text<Decimal>")]
    pub amount: Decimal,
    pub currency: String,
    pub received_at: String,
}

/// A payment of a provider, as a statement line is set against it.
pub type ServerPayment = NotOnStatement;

// A device-less plan's payment is stored with the serial "" (the column predates payments by plan id).
const PAYMENT_COLUMNS: &str =
    "id, provider_tx_id, NULLIF(serial, '') AS serial, plan_id, amount, currency, received_at";

/// The payment recorded under `(provider, provider_tx_id)`, if any.
pub async fn payment_of(pool: &AnyPool, provider: &str, provider_tx_id: &str) -> ApiResult<Option<ServerPayment>> {
    let sql = format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE provider = $1 AND provider_tx_id = $2");
    Ok(sqlx::query_as(&sql).bind(provider).bind(provider_tx_id).fetch_optional(pool).await?)
}

/// The unmatched-queue entry of `(provider, provider_tx_id)`, if the money arrived for an unknown account.
pub async fn unmatched_of(pool: &AnyPool, provider: &str, provider_tx_id: &str) -> ApiResult<Option<UnmatchedPayment>> {
    let sql = "SELECT id, provider, provider_tx_id, serial, amount, currency, received_at, payer_phone, status, \
               payment_id, created_at FROM unmatched_payments WHERE provider = $1 AND provider_tx_id = $2";
    Ok(sqlx::query_as(sql).bind(provider).bind(provider_tx_id).fetch_optional(pool).await?)
}

/// The payments of `provider` the server recorded at or after `since` (RFC 3339 UTC, as `created_at` is
/// written), oldest first.
pub async fn payments_since(pool: &AnyPool, provider: &str, since: &str) -> ApiResult<Vec<ServerPayment>> {
    let sql = format!(
        "SELECT {PAYMENT_COLUMNS} FROM payments WHERE provider = $1 AND created_at >= $2 ORDER BY created_at, id"
    );
    Ok(sqlx::query_as(&sql).bind(provider).bind(since).fetch_all(pool).await?)
}

/// A reconciliation as listed.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Reconciliation {
    pub id: String,
    pub provider: String,
    #[serde(skip)]
    pub provider_id: String,
    #[sqlx(try_from = "Text<Format>")]
    pub format: Format,
    pub file_sha256: String,
    pub file_name: Option<String>,
    /// The first and last business day of the statement's completed payments in.
    pub period_from: Option<String>,
    pub period_to: Option<String>,
    pub line_count: i64,
    pub recorded_count: i64,
    pub missing_count: i64,
    pub mismatch_count: i64,
    #[serde(skip)]
    #[sqlx(try_from = "Text<Vec<NotOnStatement>>")]
    pub not_on_statement: Vec<NotOnStatement>,
    pub created_by_key: Option<String>,
    pub created_at: String,
    /// The first apply (null until applied).
    pub applied_at: Option<String>,
    pub applied_by_key: Option<String>,
}

/// One statement line as stored, and as answered.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Line {
    /// The file's own line number.
    pub line: i64,
    #[sqlx(try_from = "Text<LineStatus>")]
    pub status: LineStatus,
    pub provider_tx_id: String,
    #[serde(with = "micropower_core::wire::dec_opt")]
    #[sqlx(try_from = "Text<Option<Decimal>>")]
    pub amount: Option<Decimal>,
    pub currency: Option<String>,
    pub account: Option<String>,
    pub occurred_at: Option<String>,
    /// Who paid, as the statement shows it.
    pub payer: Option<String>,
    pub phone: Option<String>,
    /// Why the line is skipped or in mismatch, in words.
    pub detail: Option<String>,
    /// The server's payment of this transaction (recorded or mismatch).
    pub payment_id: Option<String>,
    #[serde(with = "micropower_core::wire::dec_opt")]
    #[sqlx(try_from = "Text<Option<Decimal>>")]
    pub server_amount: Option<Decimal>,
    pub server_account: Option<String>,
    /// What an apply did with the line (null until one did something).
    #[sqlx(try_from = "Text<Option<Outcome>>")]
    pub outcome: Option<Outcome>,
    pub outcome_payment_id: Option<String>,
    pub unmatched_id: Option<String>,
    pub outcome_detail: Option<String>,
    pub applied_at: Option<String>,
}

const RECONCILIATION_COLUMNS: &str = "id, provider, provider_id, format, file_sha256, file_name, period_from, \
    period_to, line_count, recorded_count, missing_count, mismatch_count, not_on_statement, created_by_key, \
    created_at, applied_at, applied_by_key";

const LINE_COLUMNS: &str = "line, status, provider_tx_id, amount, currency, account, occurred_at, payer, phone, \
    detail, payment_id, server_amount, server_account, outcome, outcome_payment_id, unmatched_id, outcome_detail, \
    applied_at";

/// Writes a reconciliation with its lines, in the caller's transaction (SQLite: under the write guard).
pub async fn insert(tx: &mut Transaction<'_, Any>, r: &Reconciliation, lines: &[Line]) -> ApiResult<()> {
    let not_on_statement = serde_json::to_string(&r.not_on_statement).map_err(crate::error::ApiError::internal)?;
    sqlx::query(&format!(
        "INSERT INTO reconciliations ({RECONCILIATION_COLUMNS}) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, NULL, NULL)"
    ))
    .bind(&r.id)
    .bind(&r.provider)
    .bind(&r.provider_id)
    .bind(r.format.as_str())
    .bind(&r.file_sha256)
    .bind(&r.file_name)
    .bind(&r.period_from)
    .bind(&r.period_to)
    .bind(r.line_count)
    .bind(r.recorded_count)
    .bind(r.missing_count)
    .bind(r.mismatch_count)
    .bind(not_on_statement)
    .bind(&r.created_by_key)
    .bind(&r.created_at)
    .execute(&mut **tx)
    .await?;
    for l in lines {
        sqlx::query(
            "INSERT INTO reconciliation_lines (reconciliation_id, line, status, provider_tx_id, amount, currency, \
             account, occurred_at, payer, phone, detail, payment_id, server_amount, server_account) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(&r.id)
        .bind(l.line)
        .bind(l.status.as_str())
        .bind(&l.provider_tx_id)
        .bind(l.amount.map(|a| a.to_string()))
        .bind(&l.currency)
        .bind(&l.account)
        .bind(&l.occurred_at)
        .bind(&l.payer)
        .bind(&l.phone)
        .bind(&l.detail)
        .bind(&l.payment_id)
        .bind(l.server_amount.map(|a| a.to_string()))
        .bind(&l.server_account)
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// One reconciliation by id.
pub async fn get(pool: &AnyPool, id: &str) -> ApiResult<Option<Reconciliation>> {
    let sql = format!("SELECT {RECONCILIATION_COLUMNS} FROM reconciliations WHERE id = $1");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(pool).await?)
}

/// A reconciliation's lines in the file's order.
pub async fn lines<'e, E: Executor<'e, Database = Any>>(exec: E, id: &str) -> ApiResult<Vec<Line>> {
    let sql = format!("SELECT {LINE_COLUMNS} FROM reconciliation_lines WHERE reconciliation_id = $1 ORDER BY line");
    Ok(sqlx::query_as(&sql).bind(id).fetch_all(exec).await?)
}

/// The reconciliations, newest first.
pub async fn list(pool: &AnyPool, page: &PageRequest) -> ApiResult<Page<Reconciliation>> {
    let q = ListQuery::new(format!("SELECT {RECONCILIATION_COLUMNS} FROM reconciliations"));
    let keyset = Keyset { list: "reconciliations", key: "created_at", id: "id", order: Order::NewestFirst };
    q.page(pool, keyset, page, |r: &Reconciliation| (r.created_at.clone(), r.id.clone())).await
}

/// What an apply did with one line.
pub struct Applied<'a> {
    pub line: i64,
    pub outcome: Outcome,
    pub payment_id: Option<&'a str>,
    pub unmatched_id: Option<&'a str>,
    pub detail: Option<&'a str>,
    pub at: &'a str,
}

/// Records what an apply did with a line, once: a line already applied keeps its outcome, except that a
/// credit replaces the `duplicate` of a concurrent apply that found the payment already made by this one.
pub async fn set_outcome(tx: &mut Transaction<'_, Any>, id: &str, a: &Applied<'_>) -> ApiResult<bool> {
    let done = sqlx::query(
        "UPDATE reconciliation_lines SET outcome = $1, outcome_payment_id = $2, unmatched_id = $3, \
         outcome_detail = $4, applied_at = $5 \
         WHERE reconciliation_id = $6 AND line = $7 AND (outcome IS NULL OR ($1 = 'credited' AND outcome = 'duplicate'))",
    )
    .bind(a.outcome.as_str())
    .bind(a.payment_id)
    .bind(a.unmatched_id)
    .bind(a.detail)
    .bind(a.at)
    .bind(id)
    .bind(a.line)
    .execute(&mut **tx)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Marks a reconciliation applied (its first apply's instant and key stay) with the apply's audit entry.
pub async fn mark_applied(
    tx: &mut Transaction<'_, Any>,
    id: &str,
    key: Option<&str>,
    at: &str,
    entry: &Entry,
) -> ApiResult<()> {
    sqlx::query(
        "UPDATE reconciliations SET applied_at = COALESCE(applied_at, $1), \
         applied_by_key = COALESCE(applied_by_key, $2) WHERE id = $3",
    )
    .bind(at)
    .bind(key)
    .bind(id)
    .execute(&mut **tx)
    .await?;
    audit::record(&mut **tx, entry).await?;
    Ok(())
}
