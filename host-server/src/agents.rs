//! Field agents' money (domain.md §7b, issue 18). An agent's cash sale is a payment like any other: the same
//! decision ([`crate::payments`]), the same exactly-once key (provider `agent:<id>`, the phone's
//! `client_tx_id`). What the sale adds is decided by the core (`agent_sale`) and written in the payment's own
//! transaction: a `sale` and a `commission` line on the agent's ledger and the agent's new sums, or the
//! refusal of a sale past the agent's risk ceiling, kept in the refused log like any refused payment.
//!
//! The balance a sale is checked against is read under the agent's row lock on PostgreSQL (taken after the
//! device's and the owner's, in the payment's transaction) and under the single writer on SQLite, so of two
//! concurrent sales near the ceiling the second sees the first's balance.

use micropower_core::api::{AgentEntry, AgentLineKind, Allocation, Currency};
use micropower_core::calls;
use rust_decimal::Decimal;

use crate::error::{ApiError, ApiResult};
use crate::ids::now_rfc3339;
use crate::payments::{PaymentIn, Stop};
use crate::state::AppState;
use crate::storage::agents::{self as stored, NewLine, SaleAgent};
use crate::storage::audit::{self, Action, Actor, Entry};
use crate::storage::store::PaymentStore;

/// The provider an agent's sales are recorded under: with the phone's `client_tx_id` it is the sale's
/// exactly-once key.
pub fn provider_of(agent_id: &str) -> String {
    format!("agent:{agent_id}")
}

/// An agent's sale as decided, waiting for its payment to be recorded.
pub struct SaleDecision {
    agent_id: String,
    agent: SaleAgent,
    entry: AgentEntry,
}

/// For a payment that is an agent's sale: the agent read (and locked) in the payment's transaction and the
/// core's decision on it, or the core's refusal (the sale is then refused like any payment). None for
/// every other payment.
pub(crate) async fn sale_entry<S: PaymentStore>(
    state: &AppState,
    tx: &mut S,
    payment: &PaymentIn,
    allocation: &Allocation,
) -> Result<Result<Option<SaleDecision>, ApiError>, Stop> {
    let Some(agent_id) = payment.agent_id.as_deref() else { return Ok(Ok(None)) };
    // The route found the agent before the payment started, and agents are never deleted.
    let agent = tx
        .sale_agent(agent_id, state.db.for_update())
        .await?
        .ok_or_else(|| ApiError::internal(format!("agent {agent_id} vanished")))?;
    let decided = state
        .core(calls::AgentSale { terms: agent.terms, balance: agent.balance, allocation: allocation.clone() })
        .await;
    Ok(decided.map(|entry| Some(SaleDecision { agent_id: agent_id.to_owned(), agent, entry })))
}

/// Writes a decided sale's lines with its payment's id, and the agent's new sums, in the payment's
/// transaction (after the payment's row, so a duplicate delivery stops before any line is written).
pub(crate) async fn record_sale<S: PaymentStore>(
    tx: &mut S,
    sale: &SaleDecision,
    payment: &PaymentIn,
    payment_id: &str,
) -> ApiResult<()> {
    let now = now_rfc3339();
    let lines: Vec<NewLine<'_>> = sale
        .entry
        .lines
        .iter()
        .map(|line| NewLine {
            agent_id: &sale.agent_id,
            kind: line.kind,
            amount: line.amount,
            currency: sale.agent.terms.currency,
            payment_id: Some(payment_id),
            received_by: None,
            recorded_by_key: payment.recorded_by.as_deref(),
            created_at: &now,
        })
        .collect();
    let earned = commission_earned(sale.agent.commission_earned, &sale.entry)?;
    stored::write(tx, &lines, sale.entry.balance, earned).await?;
    Ok(())
}

/// The agent's commission earned after `entry`: the sum so far plus the entry's commission lines.
fn commission_earned(before: Decimal, entry: &AgentEntry) -> ApiResult<Decimal> {
    entry.lines.iter().filter(|l| l.kind == AgentLineKind::Commission).try_fold(before, |sum, line| {
        sum.checked_add(line.amount).ok_or_else(|| ApiError::internal("an agent's commission sum overflowed"))
    })
}

/// A recorded handover: its ledger line (−amount) and the agent as it stands after it.
pub struct Handover {
    pub line: stored::LedgerLine,
    pub agent: stored::Agent,
}

/// Records cash an agent handed over to the office, received by `received_by` (a person), as a `handover`
/// line of −amount decided by the core (`agent_handover`: positive, at most the balance), under the agent's
/// row lock (PostgreSQL) or the write guard (SQLite, which SQLite's payment writer holds too), with its audit
/// entry. The commission earned is left alone.
pub async fn handover(
    state: &AppState,
    agent_id: &str,
    amount: Decimal,
    currency: Option<Currency>,
    received_by: &str,
    key_id: &str,
) -> ApiResult<Handover> {
    let _guard = state.db.write_guard().await;
    let mut tx = state.db.pool.begin().await?;
    let before = stored::get(&mut *tx, agent_id, state.db.for_update())
        .await?
        .ok_or_else(|| ApiError::not_found("agent", agent_id))?;
    let currency = currency.unwrap_or(before.currency);
    let entry =
        state.core(calls::AgentHandover { terms: before.terms(), balance: before.balance, amount, currency }).await?;
    let now = now_rfc3339();
    let lines: Vec<NewLine<'_>> = entry
        .lines
        .iter()
        .map(|line| NewLine {
            agent_id,
            kind: line.kind,
            amount: line.amount,
            currency: before.currency,
            payment_id: None,
            received_by: Some(received_by),
            recorded_by_key: Some(key_id),
            created_at: &now,
        })
        .collect();
    let ids = stored::write(&mut tx, &lines, entry.balance, before.commission_earned).await?;
    let line_id = ids.first().ok_or_else(|| ApiError::internal("a handover wrote no line"))?;
    let line = stored::line(&mut *tx, line_id).await?.ok_or_else(|| ApiError::internal("a handover line vanished"))?;
    let after = stored::get(&mut *tx, agent_id, "").await?.ok_or_else(|| ApiError::internal("an agent vanished"))?;
    let actor = Actor::ApiKey(key_id.to_owned());
    let audited = Entry::new(&actor, Action::AgentHandover, "agent", agent_id)
        .before(&Sums::of(&before, None))?
        .after(&Sums::of(&after, Some(&line)))?;
    audit::record(&mut *tx, &audited).await?;
    tx.commit().await?;
    tracing::info!(agent = agent_id, handover = %line.id, "agent handover recorded");
    Ok(Handover { line, agent: after })
}

/// An agent's sums as the audit log keeps them around a handover, with the handover's line after it.
#[derive(serde::Serialize)]
struct Sums<'a> {
    #[serde(with = "micropower_core::wire::dec")]
    balance: Decimal,
    #[serde(with = "micropower_core::wire::dec")]
    commission_earned: Decimal,
    #[serde(skip_serializing_if = "Option::is_none")]
    handover: Option<&'a stored::LedgerLine>,
}

impl<'a> Sums<'a> {
    fn of(agent: &stored::Agent, handover: Option<&'a stored::LedgerLine>) -> Self {
        Sums { balance: agent.balance, commission_earned: agent.commission_earned, handover }
    }
}
