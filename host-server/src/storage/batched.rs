//! A payment's writes on PostgreSQL, sent as one statement instead of one round trip each.
//!
//! Every statement is a round trip to the database and a turn of its backend, and on PostgreSQL those turns
//! were most of a payment's CPU (`BENCHMARKS.md`, "Server load"). A decision's writes depend only on what it
//! read before them, so [`Batched`] holds them back and sends them together as one data-modifying `WITH`
//! (PostgreSQL runs each of its parts exactly once, to completion, and checks foreign keys at the end of
//! the statement). A read first sends what is held, so a decision always reads its own writes. Two updates
//! of one table are never put in one statement (PostgreSQL does not say which of two updates of one row
//! wins there): the second sends the first.
//!
//! Reads are folded where one statement can carry them. The first brings the device and its owner under
//! their locks, the meter's tariff and the stored answer of the payment; the second, after the locks, the
//! owner's device-less plans and credit balance. Those two cannot be one: a statement reads as of its start,
//! and a balance read before a lock's wait would miss what the payment it waited for wrote (the locked rows
//! themselves are read again after the wait).
//!
//! The payment's own insert is held too. When the statement that carries it meets the payment's unique key
//! (a concurrent copy committed first), [`Batched::duplicate`] tells the caller so, as `insert_unique`
//! would have.

use chrono::NaiveDate;
use micropower_core::api::{Customer, Tariff};
use rust_decimal::Decimal;
use sqlx::any::AnyRow;
use sqlx::{Any, FromRow, Row, Transaction};

use super::agents::SaleAgent;
use super::column::Text;
use super::store::{bind_query, Arg, LockedDevice, PaymentStore};
use crate::error::{ApiError, ApiResult};
use crate::payments::PaymentAnswer;
use crate::repo::{self, DeviceRow, PlanRow, DEVICE_COLUMNS, PLAN_COLUMNS};

/// A device row with its owner, its tariff and the stored answer of the payment being decided.
#[derive(sqlx::FromRow)]
struct AccountRow {
    #[sqlx(flatten)]
    device: DeviceRow,
    #[sqlx(try_from = "Text<Option<Customer>>")]
    owner: Option<Customer>,
    #[sqlx(try_from = "Text<Option<Tariff>>")]
    tariff: Option<Tariff>,
    #[sqlx(try_from = "Text<Option<PaymentAnswer>>")]
    stored_response: Option<PaymentAnswer>,
}

/// One of an owner's device-less plans, or none (a row that carries only the credit balance).
struct MaybePlan(Option<PlanRow>);

impl<'r> FromRow<'r, AnyRow> for MaybePlan {
    fn from_row(row: &'r AnyRow) -> Result<Self, sqlx::Error> {
        let id: Option<String> = row.try_get("id")?;
        Ok(Self(if id.is_some() { Some(PlanRow::from_row(row)?) } else { None }))
    }
}

/// A row of [`Batched::owner_balances`]: a plan (or none) and the balance, the same on every row.
#[derive(sqlx::FromRow)]
struct PlanAndCredit {
    #[sqlx(flatten)]
    plan: MaybePlan,
    #[sqlx(try_from = "Text<Option<Decimal>>")]
    credit: Option<Decimal>,
}

/// A held write: its SQL and its arguments.
struct Held {
    sql: String,
    args: Vec<Arg<'static>>,
    /// An `insert_unique`: a unique violation of the statement that carries it is the payment's duplicate.
    unique: bool,
}

/// A PostgreSQL transaction whose writes are held and sent together; see the module documentation.
pub struct Batched<'t, 'c> {
    tx: &'t mut Transaction<'c, Any>,
    held: Vec<Held>,
    duplicate: bool,
}

impl<'t, 'c> Batched<'t, 'c> {
    pub fn new(tx: &'t mut Transaction<'c, Any>) -> Self {
        Self { tx, held: Vec::new(), duplicate: false }
    }

    /// True once a held `insert_unique` met a unique key: a concurrent copy of the payment committed first.
    pub fn duplicate(&self) -> bool {
        self.duplicate
    }

    /// Sends every held write, in one statement.
    pub async fn flush(&mut self) -> ApiResult<()> {
        if self.held.is_empty() {
            return Ok(());
        }
        let held = std::mem::take(&mut self.held);
        let unique = held.iter().any(|h| h.unique);
        let (sql, args) = combine(&held);
        match bind_query(sqlx::query(&sql), &args).execute(&mut **self.tx).await {
            Ok(_) => Ok(()),
            Err(e) if unique && repo::is_unique_violation(&e) => {
                self.duplicate = true;
                Err(ApiError::from(e))
            }
            Err(e) => Err(ApiError::from(e)),
        }
    }

    /// Holds a write; first sends what is held when it updates a table a held write updates too.
    async fn push(&mut self, sql: &str, args: &[Arg<'_>], unique: bool) -> ApiResult<()> {
        if let Some(table) = updated_table(sql) {
            if self.held.iter().any(|h| updated_table(&h.sql) == Some(table)) {
                self.flush().await?;
            }
        }
        let args = args.iter().map(Arg::to_owned_arg).collect();
        self.held.push(Held { sql: sql.to_owned(), args, unique });
        Ok(())
    }
}

/// The table an `UPDATE` statement updates.
fn updated_table(sql: &str) -> Option<&str> {
    sql.trim_start().strip_prefix("UPDATE ")?.split_whitespace().next()
}

/// One statement for all `held` writes: the last as the main statement, the others as `WITH` parts, every
/// part's `$n` moved past the parameters of the parts before it.
fn combine(held: &[Held]) -> (String, Vec<Arg<'static>>) {
    let mut parts = Vec::with_capacity(held.len());
    let mut args = Vec::new();
    for h in held {
        parts.push(renumber(&h.sql, args.len()));
        args.extend(h.args.iter().cloned());
    }
    let Some(last) = parts.pop() else { return (String::new(), args) };
    if parts.is_empty() {
        return (last, args);
    }
    let with: Vec<String> = parts.iter().enumerate().map(|(n, sql)| format!("w{n} AS ({sql})")).collect();
    (format!("WITH {} {last}", with.join(", ")), args)
}

/// `sql` with every parameter `$n` written `$(n + offset)`. Our statements carry no `$` in a literal.
fn renumber(sql: &str, offset: usize) -> String {
    if offset == 0 {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..=at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        match rest[..digits].parse::<usize>() {
            Ok(n) => out.push_str(&(n + offset).to_string()),
            Err(_) => out.push_str(&rest[..digits]),
        }
        rest = &rest[digits..];
    }
    out.push_str(rest);
    out
}

/// Reads send the held writes first, then read through the transaction; writes are held.
impl PaymentStore for Batched<'_, '_> {
    async fn device(&mut self, serial: &str, lock: &str) -> ApiResult<Option<DeviceRow>> {
        self.flush().await?;
        self.tx.device(serial, lock).await
    }

    async fn stored_answer(&mut self, provider: &str, provider_tx_id: &str) -> ApiResult<Option<PaymentAnswer>> {
        self.flush().await?;
        self.tx.stored_answer(provider, provider_tx_id).await
    }

    /// One statement for a known device: its row and its owner's under their locks (the device's first, as
    /// everywhere), the tariff and the stored answer as columns. Those columns are read as of the statement's
    /// start, so a copy of the payment that commits while this one waits for a lock does not show; the
    /// payment's unique key then refuses this one, which answers as that copy did ([`Batched::duplicate`]). A
    /// tariff read a moment early is the tariff of a moment before: its edits take no device lock anyway.
    async fn device_account(
        &mut self,
        serial: Option<&str>,
        lock: &str,
        on: NaiveDate,
        provider: &str,
        provider_tx_id: &str,
    ) -> ApiResult<(Option<LockedDevice>, Option<PaymentAnswer>)> {
        self.flush().await?;
        if let Some(serial) = serial {
            let tariff = repo::TARIFF_IN_FORCE.replace("$1", "$4");
            let sql = format!(
                "WITH d AS (SELECT {DEVICE_COLUMNS} FROM devices WHERE serial = $1{lock}), \
                 o AS (SELECT body FROM customers WHERE id = (SELECT owner_id FROM d){lock}) \
                 SELECT d.*, (SELECT body FROM o) AS owner, \
                 (SELECT {tariff} FROM tariffs t WHERE t.id = d.tariff_id) AS tariff, \
                 (SELECT response FROM payments WHERE provider = $2 AND provider_tx_id = $3) AS stored_response \
                 FROM d"
            );
            let found: Option<AccountRow> = sqlx::query_as(&sql)
                .bind(serial)
                .bind(provider)
                .bind(provider_tx_id)
                .bind(on.to_string())
                .fetch_optional(&mut **self.tx)
                .await?;
            if let Some(found) = found {
                let account = LockedDevice { device: found.device, owner: found.owner, tariff: found.tariff };
                return Ok((Some(account), found.stored_response));
            }
        }
        Ok((None, self.tx.stored_answer(provider, provider_tx_id).await?))
    }

    /// One statement: a row per device-less plan, in creation order (one row without a plan when there is
    /// none), each with the credit balance.
    async fn owner_balances(&mut self, customer_id: &str, currency: &str) -> ApiResult<(Vec<PlanRow>, Decimal)> {
        self.flush().await?;
        let sql = format!(
            "SELECT {}, (SELECT balance FROM credit_balances WHERE customer_id = $1 AND currency = $2) AS credit \
             FROM (SELECT 1) AS one LEFT JOIN plans p ON p.customer_id = $1 AND p.serial IS NULL ORDER BY p.seq",
            repo::qualified(PLAN_COLUMNS, "p")
        );
        let rows: Vec<PlanAndCredit> =
            sqlx::query_as(&sql).bind(customer_id).bind(currency).fetch_all(&mut **self.tx).await?;
        let credit = rows.first().and_then(|r| r.credit).unwrap_or(Decimal::ZERO);
        Ok((rows.into_iter().filter_map(|r| r.plan.0).collect(), credit))
    }

    async fn customer(&mut self, id: &str) -> ApiResult<Option<Customer>> {
        self.flush().await?;
        self.tx.customer(id).await
    }

    async fn tariff(&mut self, id: &str, on: NaiveDate) -> ApiResult<Option<Tariff>> {
        self.flush().await?;
        self.tx.tariff(id, on).await
    }

    async fn plan(&mut self, id: &str) -> ApiResult<Option<PlanRow>> {
        self.flush().await?;
        self.tx.plan(id).await
    }

    async fn deviceless_plans(&mut self, customer_id: &str) -> ApiResult<Vec<PlanRow>> {
        self.flush().await?;
        self.tx.deviceless_plans(customer_id).await
    }

    async fn credit(&mut self, customer_id: &str, currency: &str) -> ApiResult<Decimal> {
        self.flush().await?;
        self.tx.credit(customer_id, currency).await
    }

    async fn locked_customer(&mut self, id: &str) -> ApiResult<Option<Customer>> {
        self.flush().await?;
        self.tx.locked_customer(id).await
    }

    async fn sale_agent(&mut self, id: &str, lock: &str) -> ApiResult<Option<SaleAgent>> {
        self.flush().await?;
        self.tx.sale_agent(id, lock).await
    }

    async fn text(&mut self, sql: &str, args: &[Arg<'_>]) -> ApiResult<Option<String>> {
        self.flush().await?;
        self.tx.text(sql, args).await
    }

    async fn execute(&mut self, sql: &str, args: &[Arg<'_>]) -> ApiResult<()> {
        self.push(sql, args, false).await
    }

    /// Held like any write: its unique key is met when the held writes are sent ([`Batched::duplicate`]).
    async fn insert_unique(&mut self, sql: &str, args: &[Arg<'_>]) -> ApiResult<bool> {
        self.push(sql, args, true).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn held(sql: &str, args: Vec<Arg<'static>>) -> Held {
        Held { sql: sql.into(), args, unique: false }
    }

    #[test]
    fn parameters_are_numbered_on_across_the_parts() {
        let writes = [
            held("INSERT INTO a (x, y) VALUES ($1, $2)", vec![Arg::from(1), Arg::from(2)]),
            held("UPDATE b SET z = $1 WHERE id = $2", vec![Arg::from(3), Arg::from(4)]),
            held("INSERT INTO c (v) VALUES ($1)", vec![Arg::from(5)]),
        ];
        let (sql, args) = combine(&writes);
        assert_eq!(
            sql,
            "WITH w0 AS (INSERT INTO a (x, y) VALUES ($1, $2)), w1 AS (UPDATE b SET z = $3 WHERE id = $4) \
             INSERT INTO c (v) VALUES ($5)"
        );
        let ints: Vec<Option<i64>> = args.iter().map(|a| if let Arg::Int(n) = a { *n } else { None }).collect();
        assert_eq!(ints, [Some(1), Some(2), Some(3), Some(4), Some(5)]);
    }

    #[test]
    fn one_write_is_sent_as_it_is() {
        let (sql, args) = combine(&[held("UPDATE b SET z = $1", vec![Arg::from(7)])]);
        assert_eq!(sql, "UPDATE b SET z = $1");
        assert_eq!(args.len(), 1);
    }

    #[test]
    fn renumbering_keeps_what_is_no_parameter() {
        assert_eq!(renumber("SELECT $1, $12, 'open', $ x", 10), "SELECT $11, $22, 'open', $ x");
    }

    #[test]
    fn the_updated_table_is_read_from_the_statement() {
        assert_eq!(updated_table("UPDATE devices SET token_count = $1 WHERE serial = $2"), Some("devices"));
        assert_eq!(updated_table("  UPDATE plans SET body = $1"), Some("plans"));
        assert_eq!(updated_table("INSERT INTO tokens (id) VALUES ($1)"), None);
    }
}
