//! A device's token history.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::{Any, Executor};

use crate::error::ApiResult;
use crate::payments::{QuantityUnit, TokenKind, TokenStatus};
use crate::storage::column::Text;
use crate::storage::page::{Keyset, ListQuery, Order, Page, PageRequest};

/// What caused a token: a payment, or an operator (MPM issue #490).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenCause {
    Payment,
    Operator,
}

/// A token in a device's history.
#[derive(Debug, sqlx::FromRow, Serialize)]
pub struct DeviceToken {
    pub id: String,
    pub payment_id: Option<String>,
    #[sqlx(try_from = "Text<TokenCause>")]
    pub cause: TokenCause,
    #[sqlx(try_from = "Text<TokenKind>")]
    pub kind: TokenKind,
    #[sqlx(try_from = "Text<Option<QuantityUnit>>")]
    pub unit: Option<QuantityUnit>,
    /// Days or kWh as recorded.
    #[sqlx(try_from = "Text<Option<Decimal>>")]
    pub quantity: Option<Decimal>,
    pub code: Option<String>,
    pub count: Option<i64>,
    #[sqlx(try_from = "Text<TokenStatus>")]
    pub status: TokenStatus,
    pub created_at: String,
}

/// A device's tokens, newest first.
pub async fn of_device<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    serial: &str,
    page: &PageRequest,
) -> ApiResult<Page<DeviceToken>> {
    let mut q = ListQuery::new(
        "SELECT id, payment_id, CASE WHEN operator_key IS NULL THEN 'payment' ELSE 'operator' END AS cause, \
         kind, unit, quantity, code, count, status, created_at FROM tokens",
    );
    q.filter("serial = {}", serial);
    let keyset = Keyset { list: "tokens", key: "created_at", id: "id", order: Order::NewestFirst };
    q.page(exec, keyset, page, |t: &DeviceToken| (t.created_at.clone(), t.id.clone())).await
}
