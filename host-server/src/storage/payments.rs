//! Payments as stored: their answers, their tokens as they stand now, the refused log and the unmatched
//! queue.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::{Any, Executor};

use crate::error::ApiResult;
use crate::payments::{PaymentAnswer, QuantityUnit, TokenAnswer, TokenKind, TokenStatus};
use crate::storage::column::Text;

/// An applied payment: the answer stored with it, and where it came from.
#[derive(sqlx::FromRow)]
pub struct StoredPayment {
    #[sqlx(try_from = "Text<PaymentAnswer>")]
    pub response: PaymentAnswer,
    pub provider: String,
    pub provider_tx_id: String,
    pub received_at: String,
    pub payer_phone: Option<String>,
}

/// A payment by id.
pub async fn payment<'e, E: Executor<'e, Database = Any>>(exec: E, id: &str) -> ApiResult<Option<StoredPayment>> {
    let sql = "SELECT response, provider, provider_tx_id, received_at, payer_phone FROM payments WHERE id = $1";
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

/// Stored answers, newest first; of one device when `serial` is given.
pub async fn answers<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    serial: Option<&str>,
    limit: i64,
) -> ApiResult<Vec<PaymentAnswer>> {
    let found: Vec<Text<PaymentAnswer>> = match serial {
        Some(serial) => {
            sqlx::query_scalar(
                "SELECT response FROM payments WHERE serial = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
            )
            .bind(serial)
            .bind(limit)
            .fetch_all(exec)
            .await?
        }
        None => {
            sqlx::query_scalar("SELECT response FROM payments ORDER BY created_at DESC, id DESC LIMIT $1")
                .bind(limit)
                .fetch_all(exec)
                .await?
        }
    };
    Ok(found.into_iter().map(Into::into).collect())
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
pub async fn refused<'e, E: Executor<'e, Database = Any>>(exec: E, limit: i64) -> ApiResult<Vec<RefusedPayment>> {
    // A payment by plan id is stored with serial '' (the column predates such payments).
    let sql = "SELECT id, provider, provider_tx_id, NULLIF(serial, '') AS serial, plan_id, amount, currency, code, \
               message, created_at FROM refused_payments ORDER BY created_at DESC LIMIT $1";
    Ok(sqlx::query_as(sql).bind(limit).fetch_all(exec).await?)
}

/// Whether an operator has placed money that arrived for an unknown serial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnmatchedStatus {
    Open,
    Assigned,
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

/// The unmatched queue, newest first.
pub async fn unmatched<'e, E: Executor<'e, Database = Any>>(exec: E, limit: i64) -> ApiResult<Vec<UnmatchedPayment>> {
    let sql = format!("SELECT {UNMATCHED_COLUMNS} FROM unmatched_payments ORDER BY created_at DESC LIMIT $1");
    Ok(sqlx::query_as(&sql).bind(limit).fetch_all(exec).await?)
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
