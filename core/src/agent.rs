//! Field agents (domain.md §7b): an agent holds company cash and earns commission.
//!
//! An agent's ledger has three kinds of line. A cash **sale** adds the amount the customer paid to the
//! agent's **balance** (the cash held); a **handover** to the office subtracts what was handed over; a
//! **commission** line is what the sale earned the agent. The balance is the sum of the sale and handover
//! lines, the commission earned the sum of the commission lines: two sums, never mixed.
//!
//! Commission is earned on what the cash paid for, as the core's allocation of the payment says:
//! - `installment` lines earn the `appliance_rate`;
//! - `energy` and `eaas` lines earn the `energy_rate`, on the part of them the cash paid (credit the customer
//!   had before the sale paid the rest, and earned its commission when it was paid);
//! - `access_rate` lines and money added to the credit balance earn nothing: a fee owed for being connected,
//!   and money not yet spent on anything.
//!
//! The commission is rounded once, half away from zero, to the currency's minor unit.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::allocation::{Allocation, AllocationKind};
use crate::error::{CoreError, CoreResult};
use crate::money::Currency;
use crate::num;

/// The commission rates of an agent: fractions of the money (`"0.05"` is 5 %), each from 0 to 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommissionRates {
    /// Earned on money that bought energy (or energy-as-a-service days).
    #[serde(with = "crate::wire::dec")]
    pub energy_rate: Decimal,
    /// Earned on money that paid appliance installments.
    #[serde(with = "crate::wire::dec")]
    pub appliance_rate: Decimal,
}

/// What an agent is allowed to hold and what it earns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentTerms {
    /// The currency the agent sells in, holds cash in and earns commission in.
    pub currency: Currency,
    /// The commission rates.
    pub commission: CommissionRates,
    /// The most cash the agent may hold: a sale that would take the balance above it is refused.
    #[serde(with = "crate::wire::dec")]
    pub risk_ceiling: Decimal,
}

/// The kind of an agent's ledger line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AgentLineKind {
    /// Cash taken from a customer: adds to the balance.
    Sale,
    /// What a sale earned the agent: kept apart from the balance.
    Commission,
    /// Cash handed over to the office: a negative amount, subtracted from the balance.
    Handover,
}

/// One line of an agent's ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentLine {
    /// What the line is.
    pub kind: AgentLineKind,
    /// Signed: positive for a sale or a commission, negative for a handover.
    #[serde(with = "crate::wire::dec")]
    pub amount: Decimal,
}

/// The lines one sale or handover adds to an agent's ledger, and the agent's balance after them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgentEntry {
    /// The new lines, in order (a sale: `sale` then `commission`; a handover: `handover`).
    pub lines: Vec<AgentLine>,
    /// The cash the agent holds after these lines.
    #[serde(with = "crate::wire::dec")]
    pub balance: Decimal,
}

/// Checks an agent's terms: a known currency, rates from 0 to 1, a ceiling that is a non-negative amount in
/// the currency's minor unit. Answers the terms in canonical form.
pub fn agent_terms(terms: &AgentTerms) -> CoreResult<AgentTerms> {
    for (field, rate) in [
        ("commission.energy_rate", terms.commission.energy_rate),
        ("commission.appliance_rate", terms.commission.appliance_rate),
    ] {
        if rate < Decimal::ZERO || rate > Decimal::ONE {
            return Err(CoreError::invalid(field, "a rate is a fraction from 0 to 1 (0.05 is 5 %)"));
        }
    }
    num::check_range("risk_ceiling", terms.risk_ceiling, false)?;
    in_minor_units("risk_ceiling", terms.risk_ceiling, &terms.currency)?;
    Ok(AgentTerms {
        currency: terms.currency,
        commission: CommissionRates {
            energy_rate: terms.commission.energy_rate.normalize(),
            appliance_rate: terms.commission.appliance_rate.normalize(),
        },
        risk_ceiling: terms.risk_ceiling.normalize(),
    })
}

/// The ledger lines of an agent's cash sale whose payment the core allocated as `allocation`, with the
/// agent holding `balance` before it: a `sale` line of the amount and a `commission` line (always present,
/// possibly zero). Refused with `RiskCeilingExceeded` when the balance after the sale would be above the
/// agent's risk ceiling, and with `CurrencyMismatch` when the payment is not in the agent's currency.
pub fn agent_sale(terms: &AgentTerms, balance: Decimal, allocation: &Allocation) -> CoreResult<AgentEntry> {
    let terms = agent_terms(terms)?;
    terms.currency.expect_same(&allocation.currency)?;
    check_balance(balance)?;
    let amount = allocation.amount;
    num::check_range("amount", amount, true)?;
    let after = num::add(balance, amount)?;
    if after > terms.risk_ceiling {
        return Err(CoreError::RiskCeilingExceeded {
            balance: balance.normalize(),
            amount: amount.normalize(),
            risk_ceiling: terms.risk_ceiling,
        });
    }
    let commission = commission(&terms, allocation)?;
    Ok(AgentEntry {
        lines: vec![
            AgentLine { kind: AgentLineKind::Sale, amount: amount.normalize() },
            AgentLine { kind: AgentLineKind::Commission, amount: commission },
        ],
        balance: after.normalize(),
    })
}

/// The ledger line of cash an agent holding `balance` hands over to the office: a `handover` line of
/// −amount. The amount is positive, in the currency's minor unit, and at most the balance (an agent cannot
/// hand over cash it does not hold; a larger count is a mistake to correct, not a negative balance).
pub fn agent_handover(
    terms: &AgentTerms,
    balance: Decimal,
    amount: Decimal,
    currency: &Currency,
) -> CoreResult<AgentEntry> {
    let terms = agent_terms(terms)?;
    terms.currency.expect_same(currency)?;
    check_balance(balance)?;
    num::check_range("amount", amount, true)?;
    in_minor_units("amount", amount, &terms.currency)?;
    if amount > balance {
        return Err(CoreError::InvalidAmount {
            amount: amount.normalize(),
            reason: format!("the agent holds {}; a handover cannot be more", balance.normalize()),
        });
    }
    Ok(AgentEntry {
        lines: vec![AgentLine { kind: AgentLineKind::Handover, amount: (-amount).normalize() }],
        balance: num::sub(balance, amount)?.normalize(),
    })
}

/// The commission a sale's allocation earns (the rules in the module's documentation).
fn commission(terms: &AgentTerms, allocation: &Allocation) -> CoreResult<Decimal> {
    let mut energy = Decimal::ZERO;
    let mut appliance = Decimal::ZERO;
    for line in &allocation.lines {
        match line.kind {
            AllocationKind::Installment => appliance = num::add(appliance, line.amount)?,
            AllocationKind::Energy | AllocationKind::Eaas => energy = num::add(energy, line.amount)?,
            AllocationKind::AccessRate => {}
        }
    }
    // Credit spent on the purchase was cash of an earlier payment: this sale's cash paid only the rest.
    let energy_cash = num::sub(energy, allocation.credit_used)?.max(Decimal::ZERO);
    let earned = num::add(
        num::mul(energy_cash, terms.commission.energy_rate)?,
        num::mul(appliance, terms.commission.appliance_rate)?,
    )?;
    Ok(terms.currency.round(earned))
}

/// A balance is what the ledger sums to: never negative, never past the core's range.
fn check_balance(balance: Decimal) -> CoreResult<()> {
    num::check_range("balance", balance, false)
}

/// Errors when `amount` has more decimals than `currency` carries.
fn in_minor_units(field: &str, amount: Decimal, currency: &Currency) -> CoreResult<()> {
    if currency.round(amount) != amount.normalize() {
        return Err(CoreError::invalid(
            field,
            format!("{} carries {} decimals", currency.code(), currency.minor_units()),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::allocation::AllocationLine;

    fn d(text: &str) -> Decimal {
        text.parse().unwrap_or_default()
    }

    fn terms(ceiling: &str) -> AgentTerms {
        AgentTerms {
            currency: Currency::parse("TZS").unwrap_or_else(|_| unreachable!()),
            commission: CommissionRates { energy_rate: d("0.05"), appliance_rate: d("0.1") },
            risk_ceiling: d(ceiling),
        }
    }

    fn line(kind: AllocationKind, amount: &str) -> AllocationLine {
        AllocationLine { kind, amount: d(amount), plan_id: None, installment: None, quantity: None }
    }

    fn allocation(amount: &str, lines: Vec<AllocationLine>, credit_used: &str) -> Allocation {
        let json = serde_json::json!({
            "serial": "X1", "currency": "TZS", "amount": amount, "lines": [],
            "credit_used": credit_used, "credit_added": "0", "credit_balance": "0",
        });
        let mut a: Allocation = serde_json::from_value(json).unwrap_or_else(|e| unreachable!("{e}"));
        a.lines = lines;
        a
    }

    #[test]
    fn commission_splits_by_what_the_money_paid() {
        let a = allocation(
            "1000",
            vec![
                line(AllocationKind::AccessRate, "100"),
                line(AllocationKind::Installment, "500"),
                line(AllocationKind::Energy, "400"),
            ],
            "0",
        );
        let entry = agent_sale(&terms("5000"), d("1000"), &a);
        let expected = AgentEntry {
            lines: vec![
                AgentLine { kind: AgentLineKind::Sale, amount: d("1000") },
                AgentLine { kind: AgentLineKind::Commission, amount: d("70") },
            ],
            balance: d("2000"),
        };
        assert_eq!(entry, Ok(expected));
    }

    #[test]
    fn credit_spent_earns_no_commission_again() {
        let a = allocation("300", vec![line(AllocationKind::Energy, "500")], "200");
        let entry = agent_sale(&terms("5000"), Decimal::ZERO, &a).map(|e| e.lines);
        assert_eq!(entry.ok().and_then(|l| l.get(1).map(|c| c.amount)), Some(d("15")));
    }

    #[test]
    fn the_ceiling_refuses_the_sale_that_crosses_it_only() {
        let a = allocation("1000", vec![line(AllocationKind::Energy, "1000")], "0");
        assert!(agent_sale(&terms("2000"), d("1000"), &a).is_ok());
        assert_eq!(
            agent_sale(&terms("2000"), d("1001"), &a),
            Err(CoreError::RiskCeilingExceeded { balance: d("1001"), amount: d("1000"), risk_ceiling: d("2000") })
        );
    }

    #[test]
    fn handover_subtracts_and_never_passes_the_balance() {
        let tzs = terms("5000").currency;
        let entry = agent_handover(&terms("5000"), d("1500"), d("1000"), &tzs);
        assert_eq!(
            entry.map(|e| (e.lines, e.balance)).ok().map(|(l, b)| (l.len(), l.first().map(|x| x.amount), b)),
            Some((1, Some(d("-1000")), d("500")))
        );
        assert!(matches!(
            agent_handover(&terms("5000"), d("500"), d("1000"), &tzs),
            Err(CoreError::InvalidAmount { .. })
        ));
    }
}
