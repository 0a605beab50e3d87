//! What a customer's statement (`GET /v1/customers/{id}/statement`) is read from: the customer's payments
//! and their journal lines, as stored.

use micropower_core::api::Currency;
use rust_decimal::Decimal;
use sqlx::{Any, Executor};

use crate::error::ApiResult;
use crate::payments::LineKind;
use crate::storage::column::Text;

/// A payment credited to the customer (to one of their devices then, or to one of their plans).
#[derive(Debug, sqlx::FromRow)]
pub struct StatementPayment {
    pub id: String,
    pub provider: String,
    pub provider_tx_id: String,
    /// None for a payment to a device-less plan.
    pub serial: Option<String>,
    pub plan_id: Option<String>,
    #[sqlx(try_from = "Text<Decimal>")]
    pub amount: Decimal,
    #[sqlx(try_from = "Text<Currency>")]
    pub currency: Currency,
    /// As the provider sent it (RFC 3339, any offset).
    pub received_at: String,
    /// When the server recorded it (RFC 3339 UTC).
    pub created_at: String,
}

/// One line of a payment's journal.
#[derive(Debug, sqlx::FromRow)]
pub struct StatementAllocation {
    pub payment_id: String,
    pub line_no: i64,
    #[sqlx(try_from = "Text<LineKind>")]
    pub kind: LineKind,
    #[sqlx(try_from = "Text<Decimal>")]
    pub amount: Decimal,
    pub plan_id: Option<String>,
    pub installment: Option<i64>,
    #[sqlx(try_from = "Text<Option<Decimal>>")]
    pub quantity: Option<Decimal>,
}

/// Every payment credited to `customer_id`, in the order the server recorded them.
pub async fn payments<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    customer_id: &str,
) -> ApiResult<Vec<StatementPayment>> {
    // A payment to a device-less plan is stored with serial '' (see migration 0003).
    let sql = "SELECT id, provider, provider_tx_id, NULLIF(serial, '') AS serial, plan_id, amount, currency, \
               received_at, created_at FROM payments WHERE customer_id = $1 ORDER BY created_at, id";
    Ok(sqlx::query_as(sql).bind(customer_id).fetch_all(exec).await?)
}

/// The journal lines of every payment credited to `customer_id`, each payment's in line order.
pub async fn allocations<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    customer_id: &str,
) -> ApiResult<Vec<StatementAllocation>> {
    let sql = "SELECT a.payment_id, a.line_no, a.kind, a.amount, a.plan_id, a.installment, a.quantity \
               FROM allocations a JOIN payments p ON p.id = a.payment_id \
               WHERE p.customer_id = $1 ORDER BY a.payment_id, a.line_no";
    Ok(sqlx::query_as(sql).bind(customer_id).fetch_all(exec).await?)
}
