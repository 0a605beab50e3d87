//! Opening balances (migration 0015): what a migrated customer had paid on a plan or held as credit
//! before micropower, kept apart from payments so that no report counts it as revenue of the import day.

use chrono::NaiveDate;
use micropower_core::api::Currency;
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{Any, Executor};

use crate::error::ApiResult;
use crate::ids::{new_id, now_rfc3339};
use crate::storage::column::Text;

/// What an opening balance is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Paid on a plan's schedule before the import.
    PlanPaid,
    /// Held as credit before the import.
    Credit,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::PlanPaid => "plan_paid",
            Kind::Credit => "credit",
        }
    }
}

/// One opening balance, as written and as the audit log keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct OpeningBalance {
    pub customer_id: String,
    pub plan_id: Option<String>,
    pub kind: Kind,
    #[serde(with = "micropower_core::wire::dec")]
    pub amount: Decimal,
    pub currency: Currency,
    pub recorded_on: NaiveDate,
}

/// Keeps an opening balance; answers its id.
pub async fn insert<'e, E: Executor<'e, Database = Any>>(exec: E, balance: &OpeningBalance) -> ApiResult<String> {
    let id = new_id();
    sqlx::query(
        "INSERT INTO opening_balances (id, customer_id, plan_id, kind, amount, currency, recorded_on, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(id.clone())
    .bind(balance.customer_id.clone())
    .bind(balance.plan_id.clone())
    .bind(balance.kind.as_str())
    .bind(balance.amount.normalize().to_string())
    .bind(balance.currency.to_string())
    .bind(balance.recorded_on.to_string())
    .bind(now_rfc3339())
    .execute(exec)
    .await?;
    Ok(id)
}

/// An opening balance as stored.
#[derive(Debug, sqlx::FromRow)]
pub struct Stored {
    pub plan_id: Option<String>,
    #[sqlx(try_from = "Text<Kind>")]
    pub kind: Kind,
    #[sqlx(try_from = "Text<Decimal>")]
    pub amount: Decimal,
    #[sqlx(try_from = "Text<Currency>")]
    pub currency: Currency,
    #[sqlx(try_from = "Text<NaiveDate>")]
    pub recorded_on: NaiveDate,
}

/// A customer's opening balances, in the order they were recorded.
pub async fn of_customer<'e, E: Executor<'e, Database = Any>>(exec: E, customer_id: &str) -> ApiResult<Vec<Stored>> {
    let sql = "SELECT plan_id, kind, amount, currency, recorded_on FROM opening_balances \
               WHERE customer_id = $1 ORDER BY created_at, id";
    Ok(sqlx::query_as(sql).bind(customer_id).fetch_all(exec).await?)
}
