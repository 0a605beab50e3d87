//! Payments as stored: their answers, their tokens as they stand now, the refused log and the unmatched
//! queue.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::{Any, Executor};

use crate::error::ApiResult;
use crate::payments::{PaymentAnswer, QuantityUnit, TokenAnswer, TokenKind, TokenStatus};
use crate::storage::column::Text;
use crate::storage::page::{Keyset, ListQuery, Order, Page, PageRequest};

/// An applied payment: the answer stored with it, and where it came from.
#[derive(sqlx::FromRow)]
pub struct StoredPayment {
    #[sqlx(try_from = "Text<PaymentAnswer>")]
    pub response: PaymentAnswer,
    pub provider: String,
    pub provider_tx_id: String,
    pub received_at: String,
    pub payer_phone: Option<String>,
    /// The customer the payment was credited to (the device's or the plan's owner then).
    pub customer_id: Option<String>,
    /// The API key that recorded the payment, and its label (kept when the key is revoked).
    pub recorded_by_key: Option<String>,
    pub recorded_by_label: Option<String>,
    /// The payment's provider when it is a configured one (its hooks deliver payments without a key).
    pub hook_provider: Option<String>,
}

/// Who recorded a payment: an API key, or a configured provider's hook.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum RecordedBy {
    Key { key_id: String, label: String },
    Provider { provider: String },
}

impl StoredPayment {
    /// Who recorded the payment; None for a payment recorded before keys were (and by no configured provider).
    pub fn recorded_by(&self) -> Option<RecordedBy> {
        match (&self.recorded_by_key, &self.hook_provider) {
            (Some(key_id), _) => Some(RecordedBy::Key {
                key_id: key_id.clone(),
                label: self.recorded_by_label.clone().unwrap_or_default(),
            }),
            (None, Some(provider)) => Some(RecordedBy::Provider { provider: provider.clone() }),
            (None, None) => None,
        }
    }
}

/// A payment by id.
pub async fn payment<'e, E: Executor<'e, Database = Any>>(exec: E, id: &str) -> ApiResult<Option<StoredPayment>> {
    let sql = "SELECT p.response, p.provider, p.provider_tx_id, p.received_at, p.payer_phone, p.customer_id, p.recorded_by_key, \
               k.label AS recorded_by_label, pr.name AS hook_provider \
               FROM payments p \
               LEFT JOIN api_keys k ON k.id = p.recorded_by_key \
               LEFT JOIN providers pr ON pr.name = p.provider \
               WHERE p.id = $1";
    Ok(sqlx::query_as(sql).bind(id).fetch_optional(exec).await?)
}

/// The stored answer of `(provider, provider_tx_id)`, if that payment was applied.
pub async fn answer_of<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    provider: &str,
    provider_tx_id: &str,
) -> ApiResult<Option<PaymentAnswer>> {
    let sql = "SELECT response FROM payments WHERE provider = $1 AND provider_tx_id = $2";
    let found: Option<Text<PaymentAnswer>> =
        sqlx::query_scalar(sql).bind(provider).bind(provider_tx_id).fetch_optional(exec).await?;
    Ok(found.map(Into::into))
}

/// A stored answer with its place in the list.
#[derive(sqlx::FromRow)]
pub struct ListedAnswer {
    #[sqlx(try_from = "Text<PaymentAnswer>")]
    pub response: PaymentAnswer,
    pub id: String,
    pub created_at: String,
}

/// What the payment list is narrowed to.
#[derive(Debug, Default)]
pub struct PaymentFilter {
    /// One device's (canonical serial).
    pub serial: Option<String>,
    /// Recorded at or after this instant (RFC 3339 UTC, as `created_at` is written).
    pub since: Option<String>,
    /// Recorded before this instant.
    pub until: Option<String>,
}

const PAYMENTS: Keyset = Keyset { list: "payments", key: "created_at", id: "id", order: Order::NewestFirst };

/// Stored answers, newest first (by the time the server recorded them).
pub async fn answers<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    filter: &PaymentFilter,
    page: &PageRequest,
) -> ApiResult<Page<PaymentAnswer>> {
    let mut q = ListQuery::new("SELECT response, id, created_at FROM payments");
    if let Some(serial) = &filter.serial {
        q.filter("serial = {}", serial.clone());
    }
    if let Some(since) = &filter.since {
        q.filter("created_at >= {}", since.clone());
    }
    if let Some(until) = &filter.until {
        q.filter("created_at < {}", until.clone());
    }
    let found = q.page(exec, PAYMENTS, page, |r: &ListedAnswer| (r.created_at.clone(), r.id.clone())).await?;
    Ok(found.map(|r| r.response))
}

/// A payment's token as it stands now (a vendor may have filled a pending one since the answer).
#[derive(sqlx::FromRow)]
pub struct PaymentToken {
    #[sqlx(try_from = "Text<TokenKind>")]
    pub kind: TokenKind,
    #[sqlx(try_from = "Text<Option<QuantityUnit>>")]
    pub unit: Option<QuantityUnit>,
    #[sqlx(try_from = "Text<Option<Decimal>>")]
    pub quantity: Option<Decimal>,
    pub code: Option<String>,
    pub count: Option<i64>,
    #[sqlx(try_from = "Text<TokenStatus>")]
    pub status: TokenStatus,
}

impl PaymentToken {
    /// The token as a payment's answer shows it.
    pub fn answer(&self) -> TokenAnswer {
        TokenAnswer {
            kind: self.kind,
            unit: self.unit,
            quantity: self.quantity,
            code: self.code.clone(),
            count: self.count.and_then(|c| u32::try_from(c).ok()),
        }
    }
}

/// A payment's tokens in the order they were made.
pub async fn payment_tokens<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    payment_id: &str,
) -> ApiResult<Vec<PaymentToken>> {
    let sql = "SELECT kind, unit, quantity, code, count, status FROM tokens WHERE payment_id = $1 ORDER BY count, id";
    Ok(sqlx::query_as(sql).bind(payment_id).fetch_all(exec).await?)
}

/// An attempt the server refused, as it was sent: its amount and currency stay the text that was refused
/// (perhaps not a number at all), so they are not parsed here.
#[derive(Debug, sqlx::FromRow, Serialize)]
pub struct RefusedPayment {
    pub id: String,
    pub provider: String,
    pub provider_tx_id: String,
    pub serial: Option<String>,
    pub plan_id: Option<String>,
    pub amount: String,
    pub currency: String,
    pub code: String,
    pub message: String,
    pub created_at: String,
}

/// The refused log, newest first.
pub async fn refused<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    page: &PageRequest,
) -> ApiResult<Page<RefusedPayment>> {
    // A payment by plan id is stored with serial '' (the column predates such payments).
    let q = ListQuery::new(
        "SELECT id, provider, provider_tx_id, NULLIF(serial, '') AS serial, plan_id, amount, currency, code, \
         message, created_at FROM refused_payments",
    );
    let keyset = Keyset { list: "refused", key: "created_at", id: "id", order: Order::NewestFirst };
    q.page(exec, keyset, page, |r: &RefusedPayment| (r.created_at.clone(), r.id.clone())).await
}

/// Whether an operator has placed money that arrived for an unknown serial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnmatchedStatus {
    Open,
    Assigned,
}

impl UnmatchedStatus {
    /// The stored (and wire) name.
    pub fn name(self) -> &'static str {
        match self {
            UnmatchedStatus::Open => "open",
            UnmatchedStatus::Assigned => "assigned",
        }
    }

    /// A status as a query names it.
    pub fn parse(text: &str) -> Option<UnmatchedStatus> {
        [UnmatchedStatus::Open, UnmatchedStatus::Assigned].into_iter().find(|s| s.name() == text)
    }
}

/// Money that arrived for an unknown serial.
#[derive(Debug, sqlx::FromRow, Serialize)]
pub struct UnmatchedPayment {
    pub id: String,
    pub provider: String,
    pub provider_tx_id: String,
    pub serial: Option<String>,
    #[sqlx(try_from = "Text<Decimal>")]
    pub amount: Decimal,
    pub currency: String,
    pub received_at: String,
    pub payer_phone: Option<String>,
    #[sqlx(try_from = "Text<UnmatchedStatus>")]
    pub status: UnmatchedStatus,
    pub payment_id: Option<String>,
    pub created_at: String,
}

const UNMATCHED_COLUMNS: &str =
    "id, provider, provider_tx_id, serial, amount, currency, received_at, payer_phone, status, payment_id, created_at";

/// The unmatched queue, newest first; only entries in `status` when given.
pub async fn unmatched<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    status: Option<UnmatchedStatus>,
    page: &PageRequest,
) -> ApiResult<Page<UnmatchedPayment>> {
    let mut q = ListQuery::new(format!("SELECT {UNMATCHED_COLUMNS} FROM unmatched_payments"));
    if let Some(status) = status {
        q.filter("status = {}", status.name());
    }
    let keyset = Keyset { list: "unmatched", key: "created_at", id: "id", order: Order::NewestFirst };
    q.page(exec, keyset, page, |r: &UnmatchedPayment| (r.created_at.clone(), r.id.clone())).await
}

/// One entry of the unmatched queue.
pub async fn unmatched_by_id<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    id: &str,
) -> ApiResult<Option<UnmatchedPayment>> {
    let sql = format!("SELECT {UNMATCHED_COLUMNS} FROM unmatched_payments WHERE id = $1");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(exec).await?)
}

/// Marks an unmatched entry as applied by `payment_id`.
pub async fn mark_assigned<'e, E: Executor<'e, Database = Any>>(exec: E, id: &str, payment_id: &str) -> ApiResult<()> {
    sqlx::query("UPDATE unmatched_payments SET status = 'assigned', payment_id = $1 WHERE id = $2")
        .bind(payment_id)
        .bind(id)
        .execute(exec)
        .await?;
    Ok(())
}
