//! What a payment's decision reads and writes, behind one trait, so the payment logic exists once: sqlx's
//! transaction implements it (PostgreSQL, and SQLite where no file backs the database), and SQLite's payment
//! writer implements it on its own synchronous connection ([`super::sqlite_writer`]), where every statement
//! is a call into the library instead of a round trip to another thread.
//!
//! Writes are SQL constants with their arguments: both implementations run the same text. SQLite numbers the
//! `$n` parameters in the order they first appear, which is why every constant names them in rising order
//! (a test checks it).

use std::borrow::Cow;

use chrono::NaiveDate;

use micropower_core::api::{Customer, Tariff};
use rust_decimal::Decimal;
use sqlx::{Any, Transaction};

use crate::error::{ApiError, ApiResult};
use crate::payments::PaymentAnswer;
use crate::repo::{self, DeviceRow, PlanRow};
use crate::storage::agents::SaleAgent;

/// One bound value: text or an integer, either of which may be NULL. Kept apart because PostgreSQL checks
/// a parameter's type against its column.
#[derive(Debug, Clone)]
pub enum Arg<'a> {
    Text(Option<Cow<'a, str>>),
    Int(Option<i64>),
}

impl Arg<'_> {
    /// The same value, owning its text (to be bound after the borrowed text is gone).
    pub fn to_owned_arg(&self) -> Arg<'static> {
        match self {
            Arg::Text(text) => Arg::Text(text.as_ref().map(|t| Cow::Owned(t.to_string()))),
            Arg::Int(n) => Arg::Int(*n),
        }
    }
}

impl<'a> From<&'a str> for Arg<'a> {
    fn from(s: &'a str) -> Self {
        Arg::Text(Some(Cow::Borrowed(s)))
    }
}

impl<'a> From<&'a String> for Arg<'a> {
    fn from(s: &'a String) -> Self {
        Arg::Text(Some(Cow::Borrowed(s)))
    }
}

impl From<String> for Arg<'_> {
    fn from(s: String) -> Self {
        Arg::Text(Some(Cow::Owned(s)))
    }
}

impl<'a> From<Option<&'a str>> for Arg<'a> {
    fn from(s: Option<&'a str>) -> Self {
        Arg::Text(s.map(Cow::Borrowed))
    }
}

impl<'a> From<&'a Option<String>> for Arg<'a> {
    fn from(s: &'a Option<String>) -> Self {
        Arg::Text(s.as_deref().map(Cow::Borrowed))
    }
}

impl From<Option<String>> for Arg<'_> {
    fn from(s: Option<String>) -> Self {
        Arg::Text(s.map(Cow::Owned))
    }
}

impl From<i64> for Arg<'_> {
    fn from(n: i64) -> Self {
        Arg::Int(Some(n))
    }
}

impl From<Option<i64>> for Arg<'_> {
    fn from(n: Option<i64>) -> Self {
        Arg::Int(n)
    }
}

/// The arguments of one statement, each converted with `Arg::from`.
macro_rules! args {
    ($($arg:expr),* $(,)?) => {
        [$($crate::storage::store::Arg::from($arg)),*]
    };
}
pub(crate) use args;

pub const INSERT_PAYMENT: &str = "INSERT INTO payments (id, provider, provider_tx_id, serial, plan_id, customer_id, amount, currency, received_at, payer_phone, status, response, created_at, recorded_by_key) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)";
pub const INSERT_TOKEN: &str = "INSERT INTO tokens (id, serial, payment_id, operator_key, kind, unit, quantity, code, count, status, next_attempt, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)";
pub const INSERT_REFUSED: &str = "INSERT INTO refused_payments (id, provider, provider_tx_id, serial, plan_id, amount, currency, code, message, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
pub const INSERT_UNMATCHED: &str = "INSERT INTO unmatched_payments (id, provider, provider_tx_id, serial, amount, currency, received_at, payer_phone, status, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9) ON CONFLICT (provider, provider_tx_id) DO NOTHING";
pub const UNMATCHED_ID: &str = "SELECT id FROM unmatched_payments WHERE provider = $1 AND provider_tx_id = $2";
pub const UPDATE_TOKEN_COUNT: &str = "UPDATE devices SET token_count = $1 WHERE serial = $2";
pub const UPDATE_ACCESS: &str = "UPDATE devices SET access_accrued_periods = $1, access_debt = $2 WHERE serial = $3";
pub const STORED_ANSWER: &str = "SELECT response FROM payments WHERE provider = $1 AND provider_tx_id = $2";

/// A device as a payment reads it first: with its owner and, for a meter, its tariff.
pub struct LockedDevice {
    pub device: DeviceRow,
    pub owner: Option<Customer>,
    /// The meter's tariff as in force on the payment's day; `None` for a device sold on a plan.
    pub tariff: Option<Tariff>,
}

/// The reads and writes of a payment's decision, inside one transaction the caller owns.
#[allow(async_fn_in_trait)]
pub trait PaymentStore {
    /// A device by canonical serial; `lock` is `Db::for_update` (row locks exist on PostgreSQL only).
    async fn device(&mut self, serial: &str, lock: &str) -> ApiResult<Option<DeviceRow>>;
    /// The stored answer of `(provider, provider_tx_id)`.
    async fn stored_answer(&mut self, provider: &str, provider_tx_id: &str) -> ApiResult<Option<PaymentAnswer>>;
    /// A device payment's first read: the device (when there is a serial) and its owner, under their row
    /// locks (`lock` is `Db::for_update`), the meter's tariff as in force on business day `on`, and the stored
    /// answer of `(provider, provider_tx_id)`, read under the device's lock: where a copy of the payment
    /// committed meanwhile shows.
    async fn device_account(
        &mut self,
        serial: Option<&str>,
        lock: &str,
        on: NaiveDate,
        provider: &str,
        provider_tx_id: &str,
    ) -> ApiResult<(Option<LockedDevice>, Option<PaymentAnswer>)> {
        let device = match serial {
            Some(serial) => self.device(serial, lock).await?,
            None => None,
        };
        let stored = self.stored_answer(provider, provider_tx_id).await?;
        let Some(device) = device else { return Ok((None, stored)) };
        let owner = match &device.owner_id {
            Some(id) if lock.is_empty() => self.customer(id).await?,
            Some(id) => self.locked_customer(id).await?,
            None => None,
        };
        let tariff = match &device.tariff_id {
            Some(id) => self.tariff(id, on).await?,
            None => None,
        };
        Ok((Some(LockedDevice { device, owner, tariff }), stored))
    }

    /// What a snapshot needs of a customer, read after the customer's lock: the plans without a device, in
    /// creation order, and the credit balance in `currency`.
    async fn owner_balances(&mut self, customer_id: &str, currency: &str) -> ApiResult<(Vec<PlanRow>, Decimal)> {
        let plans = self.deviceless_plans(customer_id).await?;
        Ok((plans, self.credit(customer_id, currency).await?))
    }

    async fn customer(&mut self, id: &str) -> ApiResult<Option<Customer>>;
    /// A tariff as in force on business day `on` (its version of that day).
    async fn tariff(&mut self, id: &str, on: NaiveDate) -> ApiResult<Option<Tariff>>;
    async fn plan(&mut self, id: &str) -> ApiResult<Option<PlanRow>>;
    /// A customer's plans without a device, in creation order.
    async fn deviceless_plans(&mut self, customer_id: &str) -> ApiResult<Vec<PlanRow>>;
    /// A customer's credit balance in one currency (zero when none).
    async fn credit(&mut self, customer_id: &str, currency: &str) -> ApiResult<Decimal>;
    /// Takes a customer's row lock and reads the customer, in one statement (asked for on PostgreSQL only).
    async fn locked_customer(&mut self, id: &str) -> ApiResult<Option<Customer>>;
    /// A field agent's terms and sums, for its sale (locked like `device`).
    async fn sale_agent(&mut self, id: &str, lock: &str) -> ApiResult<Option<SaleAgent>>;
    /// One text column of at most one row.
    async fn text(&mut self, sql: &str, args: &[Arg<'_>]) -> ApiResult<Option<String>>;
    /// Runs a write.
    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> ApiResult<()>;
    /// Runs an insert; false when a unique key refused it.
    async fn insert_unique(&mut self, sql: &str, args: &[Arg<'_>]) -> ApiResult<bool>;
}

/// A sqlx transaction runs the same statements through sqlx, with the readers of [`crate::repo`].
impl PaymentStore for Transaction<'_, Any> {
    async fn device(&mut self, serial: &str, lock: &str) -> ApiResult<Option<DeviceRow>> {
        repo::device(&mut **self, serial, lock).await
    }

    async fn stored_answer(&mut self, provider: &str, provider_tx_id: &str) -> ApiResult<Option<PaymentAnswer>> {
        crate::storage::payments::answer_of(&mut **self, provider, provider_tx_id).await
    }

    async fn customer(&mut self, id: &str) -> ApiResult<Option<Customer>> {
        repo::customer(&mut **self, id).await
    }

    async fn tariff(&mut self, id: &str, on: NaiveDate) -> ApiResult<Option<Tariff>> {
        Ok(repo::tariff(&mut **self, id, on).await?.map(|(_, tariff)| tariff))
    }

    async fn plan(&mut self, id: &str) -> ApiResult<Option<PlanRow>> {
        repo::plan(&mut **self, id).await
    }

    async fn deviceless_plans(&mut self, customer_id: &str) -> ApiResult<Vec<PlanRow>> {
        repo::customer_plans(&mut **self, customer_id, true).await
    }

    async fn credit(&mut self, customer_id: &str, currency: &str) -> ApiResult<Decimal> {
        repo::credit(&mut **self, customer_id, currency).await
    }

    async fn locked_customer(&mut self, id: &str) -> ApiResult<Option<Customer>> {
        repo::locked_customer(&mut **self, id).await
    }

    async fn sale_agent(&mut self, id: &str, lock: &str) -> ApiResult<Option<SaleAgent>> {
        crate::storage::agents::sale_agent(&mut **self, id, lock).await
    }

    async fn text(&mut self, sql: &str, args: &[Arg<'_>]) -> ApiResult<Option<String>> {
        Ok(bind(sqlx::query_scalar(sql), args).fetch_optional(&mut **self).await?)
    }

    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> ApiResult<()> {
        bind_query(sqlx::query(sql), args).execute(&mut **self).await?;
        Ok(())
    }

    async fn insert_unique(&mut self, sql: &str, args: &[Arg<'_>]) -> ApiResult<bool> {
        match bind_query(sqlx::query(sql), args).execute(&mut **self).await {
            Ok(_) => Ok(true),
            Err(e) if repo::is_unique_violation(&e) => Ok(false),
            Err(e) => Err(ApiError::from(e)),
        }
    }
}

type Scalar<'q> = sqlx::query::QueryScalar<'q, Any, String, sqlx::any::AnyArguments<'q>>;
pub(super) type Query<'q> = sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>>;

fn bind<'q>(mut query: Scalar<'q>, args: &[Arg<'_>]) -> Scalar<'q> {
    for arg in args {
        query = match arg {
            Arg::Text(text) => query.bind(text.as_ref().map(|t| t.to_string())),
            Arg::Int(n) => query.bind(*n),
        };
    }
    query
}

pub(super) fn bind_query<'q>(mut query: Query<'q>, args: &[Arg<'_>]) -> Query<'q> {
    for arg in args {
        query = match arg {
            Arg::Text(text) => query.bind(text.as_ref().map(|t| t.to_string())),
            Arg::Int(n) => query.bind(*n),
        };
    }
    query
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `$n` of a statement in the order they first appear.
    fn parameters(sql: &str) -> Vec<u32> {
        let mut seen = Vec::new();
        let mut rest = sql;
        while let Some(at) = rest.find('$') {
            rest = &rest[at + 1..];
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            if let Ok(n) = digits.parse::<u32>() {
                if !seen.contains(&n) {
                    seen.push(n);
                }
            }
        }
        seen
    }

    /// SQLite binds by position in order of first appearance, PostgreSQL by number: the two agree only
    /// when the numbers rise.
    #[test]
    fn shared_statements_number_their_parameters_in_order() {
        for sql in [
            INSERT_PAYMENT,
            INSERT_TOKEN,
            INSERT_REFUSED,
            INSERT_UNMATCHED,
            UNMATCHED_ID,
            UPDATE_TOKEN_COUNT,
            UPDATE_ACCESS,
            STORED_ANSWER,
            repo::SET_CREDIT,
            repo::UPDATE_PLAN_BODY,
            crate::notify::INSERT_NOTIFICATION,
        ] {
            let found = parameters(sql);
            let expected: Vec<u32> = (1..=u32::try_from(found.len()).unwrap()).collect();
            assert_eq!(found, expected, "{sql}");
        }
    }
}
