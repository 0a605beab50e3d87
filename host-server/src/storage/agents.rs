//! Field agents and their ledgers as stored (migration 0016): the agent's terms, the two sums its ledger
//! adds up to (`balance`, `commission_earned`), and the ledger's lines. The sums are written in the
//! transaction that writes the lines, so they are the ledger's sums at every commit.

use micropower_core::api::{AgentLineKind, AgentTerms, CommissionRates, Currency};
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{Any, Executor};

use crate::error::ApiResult;
use crate::storage::column::Text;
use crate::storage::page::{Keyset, ListQuery, Order, Page, PageRequest};
use crate::storage::store::{self as sql, PaymentStore};

/// An agent as stored and as the API shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Agent {
    pub id: String,
    pub name: String,
    pub phone: String,
    pub area_id: String,
    #[sqlx(try_from = "Text<Currency>")]
    pub currency: Currency,
    #[sqlx(flatten)]
    pub commission: Commission,
    #[sqlx(try_from = "Text<Decimal>")]
    #[serde(with = "micropower_core::wire::dec")]
    pub risk_ceiling: Decimal,
    /// Cash held: the sum of the sale and handover lines.
    #[sqlx(try_from = "Text<Decimal>")]
    #[serde(with = "micropower_core::wire::dec")]
    pub balance: Decimal,
    /// The sum of the commission lines.
    #[sqlx(try_from = "Text<Decimal>")]
    #[serde(with = "micropower_core::wire::dec")]
    pub commission_earned: Decimal,
    /// The agent phone's last sync; null until the phone syncs.
    pub last_sync_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// An agent's commission rates, as stored in two columns and shown as one object.
#[derive(Debug, Clone, Copy, Serialize, sqlx::FromRow)]
pub struct Commission {
    #[sqlx(try_from = "Text<Decimal>")]
    #[serde(with = "micropower_core::wire::dec")]
    pub energy_rate: Decimal,
    #[sqlx(try_from = "Text<Decimal>")]
    #[serde(with = "micropower_core::wire::dec")]
    pub appliance_rate: Decimal,
}

impl From<Commission> for CommissionRates {
    fn from(c: Commission) -> Self {
        Self { energy_rate: c.energy_rate, appliance_rate: c.appliance_rate }
    }
}

impl From<CommissionRates> for Commission {
    fn from(c: CommissionRates) -> Self {
        Self { energy_rate: c.energy_rate, appliance_rate: c.appliance_rate }
    }
}

impl Agent {
    /// The terms the core decides a sale or a handover by.
    pub fn terms(&self) -> AgentTerms {
        AgentTerms { currency: self.currency, commission: self.commission.into(), risk_ceiling: self.risk_ceiling }
    }
}

/// One line of an agent's ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct LedgerLine {
    pub id: String,
    pub agent_id: String,
    #[sqlx(try_from = "Text<AgentLineKind>")]
    pub kind: AgentLineKind,
    /// Signed: a handover is negative.
    #[sqlx(try_from = "Text<Decimal>")]
    #[serde(with = "micropower_core::wire::dec")]
    pub amount: Decimal,
    #[sqlx(try_from = "Text<Currency>")]
    pub currency: Currency,
    /// The sale's payment; null for a handover.
    pub payment_id: Option<String>,
    /// Who at the office received a handover; null for a sale's lines.
    pub received_by: Option<String>,
    /// The API key that recorded the line.
    pub recorded_by_key: Option<String>,
    pub created_at: String,
}

const COLUMNS: &str = "id, name, phone, area_id, currency, energy_rate, appliance_rate, risk_ceiling, balance, \
                       commission_earned, last_sync_at, created_at, updated_at";
const LINE_COLUMNS: &str = "id, agent_id, kind, amount, currency, payment_id, received_by, recorded_by_key, created_at";

/// Agents by name.
pub async fn list<'e, E: Executor<'e, Database = Any>>(exec: E, page: &PageRequest) -> ApiResult<Page<Agent>> {
    let q = ListQuery::new(format!("SELECT {COLUMNS} FROM agents"));
    let keyset = Keyset { list: "agents", key: "name", id: "id", order: Order::Ascending };
    q.page(exec, keyset, page, |a: &Agent| (a.name.clone(), a.id.clone())).await
}

/// An agent by id; `lock` takes its row lock where the database has them (`Db::for_update`).
pub async fn get<'e, E: Executor<'e, Database = Any>>(exec: E, id: &str, lock: &str) -> ApiResult<Option<Agent>> {
    let sql = format!("SELECT {COLUMNS} FROM agents WHERE id = $1{lock}");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(exec).await?)
}

/// Stores a new agent.
pub async fn insert<'e, E: Executor<'e, Database = Any>>(exec: E, a: &Agent) -> ApiResult<()> {
    sqlx::query(&format!(
        "INSERT INTO agents ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    ))
    .bind(&a.id)
    .bind(&a.name)
    .bind(&a.phone)
    .bind(&a.area_id)
    .bind(a.currency.code())
    .bind(a.commission.energy_rate.normalize().to_string())
    .bind(a.commission.appliance_rate.normalize().to_string())
    .bind(a.risk_ceiling.normalize().to_string())
    .bind(a.balance.normalize().to_string())
    .bind(a.commission_earned.normalize().to_string())
    .bind(&a.last_sync_at)
    .bind(&a.created_at)
    .bind(&a.updated_at)
    .execute(exec)
    .await?;
    Ok(())
}

/// Writes an agent's editable fields back (never its sums, which only ledger writes move).
pub async fn update<'e, E: Executor<'e, Database = Any>>(exec: E, a: &Agent) -> ApiResult<()> {
    sqlx::query(
        "UPDATE agents SET name = $1, phone = $2, area_id = $3, currency = $4, energy_rate = $5, \
         appliance_rate = $6, risk_ceiling = $7, updated_at = $8 WHERE id = $9",
    )
    .bind(&a.name)
    .bind(&a.phone)
    .bind(&a.area_id)
    .bind(a.currency.code())
    .bind(a.commission.energy_rate.normalize().to_string())
    .bind(a.commission.appliance_rate.normalize().to_string())
    .bind(a.risk_ceiling.normalize().to_string())
    .bind(&a.updated_at)
    .bind(&a.id)
    .execute(exec)
    .await?;
    Ok(())
}

/// Whether any line is on an agent's ledger (an agent with lines keeps its currency).
pub async fn has_lines<'e, E: Executor<'e, Database = Any>>(exec: E, agent_id: &str) -> ApiResult<bool> {
    let found: Option<String> = sqlx::query_scalar("SELECT id FROM agent_ledger WHERE agent_id = $1 LIMIT 1")
        .bind(agent_id)
        .fetch_optional(exec)
        .await?;
    Ok(found.is_some())
}

/// An agent's ledger, newest line first.
pub async fn ledger<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    agent_id: &str,
    page: &PageRequest,
) -> ApiResult<Page<LedgerLine>> {
    let mut q = ListQuery::new(format!("SELECT {LINE_COLUMNS} FROM agent_ledger"));
    q.filter("agent_id = {}", agent_id);
    let keyset = Keyset { list: "agent_ledger", key: "created_at", id: "id", order: Order::NewestFirst };
    q.page(exec, keyset, page, |l: &LedgerLine| (l.created_at.clone(), l.id.clone())).await
}

/// The lines a payment wrote on an agent's ledger, in the order written.
pub async fn lines_of_payment<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    payment_id: &str,
) -> ApiResult<Vec<LedgerLine>> {
    let sql = format!("SELECT {LINE_COLUMNS} FROM agent_ledger WHERE payment_id = $1 ORDER BY line_no");
    Ok(sqlx::query_as(&sql).bind(payment_id).fetch_all(exec).await?)
}

/// One line by id.
pub async fn line<'e, E: Executor<'e, Database = Any>>(exec: E, id: &str) -> ApiResult<Option<LedgerLine>> {
    let sql = format!("SELECT {LINE_COLUMNS} FROM agent_ledger WHERE id = $1");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(exec).await?)
}

// --- inside a payment's transaction (both databases' payment paths, through `PaymentStore`) ---------------

pub const INSERT_LINE: &str = "INSERT INTO agent_ledger (id, agent_id, line_no, kind, amount, currency, payment_id, received_by, recorded_by_key, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)";
pub const SET_SUMS: &str = "UPDATE agents SET balance = $1, commission_earned = $2 WHERE id = $3";

/// What a sale reads of its agent, in [`SaleAgent`]'s order (the SQLite writer reads them by position).
pub const SALE_COLUMNS: &str = "currency, energy_rate, appliance_rate, risk_ceiling, balance, commission_earned";

/// An agent's terms and sums as a sale reads them.
#[derive(Debug, Clone)]
pub struct SaleAgent {
    pub terms: AgentTerms,
    pub balance: Decimal,
    pub commission_earned: Decimal,
}

/// [`SALE_COLUMNS`] as sqlx reads them.
#[derive(sqlx::FromRow)]
struct SaleRow {
    #[sqlx(try_from = "Text<Currency>")]
    currency: Currency,
    #[sqlx(flatten)]
    commission: Commission,
    #[sqlx(try_from = "Text<Decimal>")]
    risk_ceiling: Decimal,
    #[sqlx(try_from = "Text<Decimal>")]
    balance: Decimal,
    #[sqlx(try_from = "Text<Decimal>")]
    commission_earned: Decimal,
}

impl SaleAgent {
    /// The agent of a sale from its stored columns.
    pub fn new(
        currency: Currency,
        commission: Commission,
        risk_ceiling: Decimal,
        balance: Decimal,
        commission_earned: Decimal,
    ) -> Self {
        Self { terms: AgentTerms { currency, commission: commission.into(), risk_ceiling }, balance, commission_earned }
    }
}

/// The agent of a sale, read (and on PostgreSQL locked: `lock` is `Db::for_update`) inside the payment's
/// transaction; None when no agent has this id. The SQLite writer has its own reader of the same columns.
pub async fn sale_agent<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    id: &str,
    lock: &str,
) -> ApiResult<Option<SaleAgent>> {
    let sql = format!("SELECT {SALE_COLUMNS} FROM agents WHERE id = $1{lock}");
    let row: Option<SaleRow> = sqlx::query_as(&sql).bind(id).fetch_optional(exec).await?;
    Ok(row.map(|r| SaleAgent::new(r.currency, r.commission, r.risk_ceiling, r.balance, r.commission_earned)))
}

/// A ledger line to write.
pub struct NewLine<'a> {
    pub agent_id: &'a str,
    pub kind: AgentLineKind,
    pub amount: Decimal,
    pub currency: Currency,
    pub payment_id: Option<&'a str>,
    pub received_by: Option<&'a str>,
    pub recorded_by_key: Option<&'a str>,
    pub created_at: &'a str,
}

/// Writes lines (in order) and the agent's new sums, inside the caller's transaction; answers the lines' ids.
pub async fn write<S: PaymentStore>(
    tx: &mut S,
    lines: &[NewLine<'_>],
    balance: Decimal,
    commission_earned: Decimal,
) -> ApiResult<Vec<String>> {
    let mut ids = Vec::with_capacity(lines.len());
    for (line_no, line) in lines.iter().enumerate() {
        let id = crate::ids::new_id();
        let args = sql::args![
            &id,
            line.agent_id,
            i64::try_from(line_no).unwrap_or(i64::MAX),
            kind_text(line.kind),
            line.amount.normalize().to_string(),
            line.currency.code(),
            line.payment_id,
            line.received_by,
            line.recorded_by_key,
            line.created_at,
        ];
        tx.execute(INSERT_LINE, &args).await?;
        ids.push(id);
    }
    if let Some(first) = lines.first() {
        let args =
            sql::args![balance.normalize().to_string(), commission_earned.normalize().to_string(), first.agent_id];
        tx.execute(SET_SUMS, &args).await?;
    }
    Ok(ids)
}

/// The stored text of a line's kind (its serde name).
fn kind_text(kind: AgentLineKind) -> &'static str {
    match kind {
        AgentLineKind::Sale => "sale",
        AgentLineKind::Commission => "commission",
        AgentLineKind::Handover => "handover",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_statements_number_their_parameters_in_order() {
        for statement in [INSERT_LINE, SET_SUMS] {
            for (expected, part) in (1..).zip(statement.split('$').skip(1)) {
                let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
                assert_eq!(digits.parse::<u32>().ok(), Some(expected), "{statement}");
            }
        }
    }
}
