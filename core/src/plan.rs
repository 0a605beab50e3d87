//! Appliance payment plans (domain.md §4): installment plans with their schedule and edit rules, and
//! energy-as-a-service plans.

use std::fmt;

use chrono::{Days, Months, NaiveDate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, CoreResult};
use crate::money::{check_minor_units, Currency};
use crate::num;

/// The most installments one plan may have (20 years of weekly payments): bounds the work any input causes.
pub const MAX_INSTALLMENTS: u32 = 1_040;

/// How far apart installments fall due. On the wire: `"weekly"`, `"monthly"`, `"every_N_days"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Period {
    Weekly,
    /// Calendar months, clamped to the month's end (31 Jan + 1 month = 28/29 Feb).
    Monthly,
    EveryDays(u32),
}

impl Period {
    /// The date `n` periods after `start`. Monthly steps are computed from `start` each time, so a plan
    /// starting on the 31st falls due on the last day of shorter months and on the 31st again after.
    pub fn nth_after(&self, start: NaiveDate, n: u32) -> CoreResult<NaiveDate> {
        let out_of_range = || CoreError::DateOutOfRange { reason: format!("{n} periods after {start}") };
        match self {
            Period::Monthly => start.checked_add_months(Months::new(n)),
            Period::Weekly => start.checked_add_days(Days::new(u64::from(n) * 7)),
            Period::EveryDays(d) => start.checked_add_days(Days::new(u64::from(n) * u64::from(*d))),
        }
        .ok_or_else(out_of_range)
    }

    fn validate(&self) -> CoreResult<()> {
        match self {
            Period::EveryDays(0) => Err(CoreError::invalid("period", "every_N_days needs N ≥ 1")),
            _ => Ok(()),
        }
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Period::Weekly => f.write_str("weekly"),
            Period::Monthly => f.write_str("monthly"),
            Period::EveryDays(n) => write!(f, "every_{n}_days"),
        }
    }
}

impl std::str::FromStr for Period {
    type Err = CoreError;
    fn from_str(s: &str) -> CoreResult<Self> {
        let bad = || CoreError::invalid("period", format!("{s:?} is not weekly, monthly or every_N_days"));
        let period = match s {
            "weekly" => Period::Weekly,
            "monthly" => Period::Monthly,
            other => {
                let n = other.strip_prefix("every_").and_then(|r| r.strip_suffix("_days")).ok_or_else(bad)?;
                Period::EveryDays(n.parse().map_err(|_| bad())?)
            }
        };
        period.validate()?;
        Ok(period)
    }
}

impl Serialize for Period {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Period {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
    }
}

/// The terms of an installment sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallmentTerms {
    #[serde(with = "crate::wire::dec")]
    pub total_cost: Decimal,
    #[serde(with = "crate::wire::dec", default)]
    pub down_payment: Decimal,
    pub installments: u32,
    pub period: Period,
    pub start_date: NaiveDate,
    /// Optional operator minimum per payment.
    #[serde(with = "crate::wire::dec_opt", default, skip_serializing_if = "Option::is_none")]
    pub minimum_payment: Option<Decimal>,
}

/// One line of a schedule before any payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScheduledInstallment {
    pub number: u32,
    pub due_date: NaiveDate,
    #[serde(with = "crate::wire::dec")]
    pub amount: Decimal,
}

/// The installments of a plan: `financed = total − down payment`, `base = floor(financed / count)`,
/// installments 1..count−1 are `base`, the last takes the remainder; installment `i` falls due
/// `start_date + i periods`. *MPM: 1000 over 3 ⇒ 333, 333, 334.*
pub fn installment_schedule(terms: &InstallmentTerms, currency: &Currency) -> CoreResult<Vec<ScheduledInstallment>> {
    num::check_range("total_cost", terms.total_cost, true)?;
    check_minor_units(terms.total_cost, currency)?;
    num::check_range("down_payment", terms.down_payment, false)?;
    check_minor_units(terms.down_payment, currency)?;
    if terms.down_payment > terms.total_cost {
        return Err(CoreError::invalid("down_payment", "cannot exceed the total cost"));
    }
    if let Some(min) = terms.minimum_payment {
        num::check_range("minimum_payment", min, false)?;
    }
    terms.period.validate()?;
    if terms.installments == 0 || terms.installments > MAX_INSTALLMENTS {
        return Err(CoreError::invalid("installments", format!("must be between 1 and {MAX_INSTALLMENTS}")));
    }
    let financed = num::sub(terms.total_cost, terms.down_payment)?;
    let amounts = split(financed, terms.installments, currency)?;
    (1..=terms.installments)
        .zip(amounts)
        .map(|(number, amount)| {
            Ok(ScheduledInstallment { number, due_date: terms.period.nth_after(terms.start_date, number)?, amount })
        })
        .collect()
}

/// Splits `amount` into `count` parts: `count − 1` parts of `floor(amount / count)` and the rest last.
fn split(amount: Decimal, count: u32, currency: &Currency) -> CoreResult<Vec<Decimal>> {
    let count_dec = Decimal::from(count);
    let base = currency.floor(num::div(amount, count_dec)?);
    let last = num::sub(amount, num::mul(base, num::sub(count_dec, Decimal::ONE)?)?)?.normalize();
    let mut parts = vec![base; count.saturating_sub(1) as usize];
    parts.push(last);
    Ok(parts)
}

/// One installment with what has been paid on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Installment {
    /// 1-based; 0 is the down payment.
    pub number: u32,
    pub due_date: NaiveDate,
    #[serde(with = "crate::wire::dec")]
    pub amount: Decimal,
    #[serde(with = "crate::wire::dec", default)]
    pub paid: Decimal,
}

impl Installment {
    /// What is still owed on this installment (never negative).
    pub fn remaining(&self) -> Decimal {
        self.amount.checked_sub(self.paid).unwrap_or(Decimal::ZERO).max(Decimal::ZERO)
    }

    /// An installment that has received any money can no longer be edited.
    pub fn touched(&self) -> bool {
        self.paid > Decimal::ZERO
    }
}

/// An installment plan as stored: the schedule and what was paid on each line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallmentPlan {
    pub id: String,
    pub currency: Currency,
    pub period: Period,
    pub start_date: NaiveDate,
    /// In number order; the down payment (if any) is number 0, due on the start date.
    pub installments: Vec<Installment>,
    /// An operator minimum per payment entered through the web form.
    #[serde(with = "crate::wire::dec_opt", default, skip_serializing_if = "Option::is_none")]
    pub minimum_payment: Option<Decimal>,
}

impl InstallmentPlan {
    /// A new plan from its terms; the down payment is a line of its own, paid when `down_payment_paid`.
    pub fn create(id: &str, currency: Currency, terms: &InstallmentTerms, down_payment_paid: bool) -> CoreResult<Self> {
        let schedule = installment_schedule(terms, &currency)?;
        let mut installments = Vec::with_capacity(schedule.len() + 1);
        if terms.down_payment > Decimal::ZERO {
            installments.push(Installment {
                number: 0,
                due_date: terms.start_date,
                amount: terms.down_payment.normalize(),
                paid: if down_payment_paid { terms.down_payment.normalize() } else { Decimal::ZERO },
            });
        }
        installments.extend(schedule.into_iter().map(|s| Installment {
            number: s.number,
            due_date: s.due_date,
            amount: s.amount,
            paid: Decimal::ZERO,
        }));
        Ok(InstallmentPlan {
            id: id.to_owned(),
            currency,
            period: terms.period,
            start_date: terms.start_date,
            installments,
            minimum_payment: terms.minimum_payment,
        })
    }

    /// Checks a plan that came from outside (a snapshot): amounts in range, paid within amount, numbers
    /// increasing.
    pub fn validate(&self) -> CoreResult<()> {
        self.period.validate()?;
        if self.installments.len() > MAX_INSTALLMENTS as usize + 1 {
            return Err(CoreError::invalid("installments", "too many installments"));
        }
        let mut last_number: Option<u32> = None;
        for i in &self.installments {
            num::check_range("installments.amount", i.amount, false)?;
            num::check_range("installments.paid", i.paid, false)?;
            check_minor_units(i.amount, &self.currency)?;
            check_minor_units(i.paid, &self.currency)?;
            if i.paid > i.amount {
                return Err(CoreError::invalid("installments.paid", "cannot exceed the installment's amount"));
            }
            if last_number.is_some_and(|n| i.number <= n) {
                return Err(CoreError::invalid("installments.number", "numbers must increase"));
            }
            last_number = Some(i.number);
        }
        Ok(())
    }

    /// Σ installment amounts, down payment included.
    pub fn total(&self) -> CoreResult<Decimal> {
        num::sum(self.installments.iter().map(|i| i.amount)).map(|d| d.normalize())
    }

    /// Σ paid.
    pub fn paid(&self) -> CoreResult<Decimal> {
        num::sum(self.installments.iter().map(|i| i.paid)).map(|d| d.normalize())
    }

    /// Σ remaining.
    pub fn outstanding(&self) -> CoreResult<Decimal> {
        num::sum(self.installments.iter().map(Installment::remaining)).map(|d| d.normalize())
    }

    /// The days an installment covers: 7 for weekly, N for every-N-days, and for monthly the days between
    /// its due date and the previous installment's (or the plan's start).
    pub fn period_days_of(&self, number: u32) -> CoreResult<u32> {
        match self.period {
            Period::Weekly => Ok(7),
            Period::EveryDays(n) => Ok(n),
            Period::Monthly => {
                let due = self
                    .installments
                    .iter()
                    .find(|i| i.number == number)
                    .map(|i| i.due_date)
                    .ok_or_else(|| CoreError::not_found("installment", &number.to_string()))?;
                let previous = self
                    .installments
                    .iter()
                    .filter(|i| i.number < number)
                    .map(|i| i.due_date)
                    .max()
                    .unwrap_or(self.start_date);
                let days = due.signed_duration_since(previous).num_days();
                u32::try_from(days.max(1)).map_err(|_| CoreError::DateOutOfRange { reason: "period too long".into() })
            }
        }
    }
}

/// A plan edit: a new total, optionally with a new count (and period) for the untouched installments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotalEdit {
    #[serde(with = "crate::wire::dec")]
    pub total_cost: Decimal,
    #[serde(default)]
    pub installments: Option<u32>,
    #[serde(default)]
    pub period: Option<Period>,
}

/// Changes a plan's total (MPM's rules). Installments that received money keep only what was paid on
/// them; the outstanding `new total − paid` is
/// - without a new count: spread over the untouched installments (floor, remainder on the last, due dates
///   kept), refused when there is none;
/// - with a new count: split over that many new installments that replace the untouched ones, the first
///   falling due one period (the new one, if given) after the latest due date of the touched ones.
///
/// A new total below what was paid is refused. *MPM: 5 × 200, #1 paid, #2 remaining 50, new total 1500 ⇒
/// 383, 383, 384.*
pub fn edit_plan_total(plan: &InstallmentPlan, edit: &TotalEdit) -> CoreResult<InstallmentPlan> {
    plan.validate()?;
    num::check_range("total_cost", edit.total_cost, false)?;
    check_minor_units(edit.total_cost, &plan.currency)?;
    let paid = plan.paid()?;
    if edit.total_cost < paid {
        return Err(CoreError::TotalBelowPaid { paid });
    }
    let outstanding = num::sub(edit.total_cost, paid)?;
    let (touched, untouched): (Vec<Installment>, Vec<Installment>) =
        plan.installments.iter().cloned().partition(Installment::touched);
    let mut installments: Vec<Installment> = touched.into_iter().map(|i| Installment { amount: i.paid, ..i }).collect();
    let mut period = plan.period;
    match edit.installments {
        None => {
            if untouched.is_empty() {
                if outstanding > Decimal::ZERO {
                    return Err(CoreError::NoUntouchedInstallments);
                }
            } else {
                let count = u32::try_from(untouched.len()).unwrap_or(u32::MAX);
                let amounts = split(outstanding, count, &plan.currency)?;
                installments.extend(untouched.into_iter().zip(amounts).map(|(i, amount)| Installment { amount, ..i }));
            }
        }
        Some(count) => {
            if count == 0 || count > MAX_INSTALLMENTS {
                return Err(CoreError::invalid("installments", format!("must be between 1 and {MAX_INSTALLMENTS}")));
            }
            if let Some(p) = edit.period {
                p.validate()?;
                period = p;
            }
            if outstanding > Decimal::ZERO {
                let anchor = installments.iter().map(|i| i.due_date).max().unwrap_or(plan.start_date);
                let first_number = match installments.iter().map(|i| i.number).max() {
                    Some(n) => {
                        n.checked_add(1).ok_or_else(|| CoreError::invalid("installments.number", "too large"))?
                    }
                    None => 1,
                };
                let amounts = split(outstanding, count, &plan.currency)?;
                for (k, amount) in (1..=count).zip(amounts) {
                    installments.push(Installment {
                        number: first_number.saturating_add(k - 1),
                        due_date: period.nth_after(anchor, k)?,
                        amount,
                        paid: Decimal::ZERO,
                    });
                }
            }
        }
    }
    installments.sort_by_key(|i| i.number);
    Ok(InstallmentPlan { installments, period, ..plan.clone() })
}

/// Changes the amount of one untouched installment; the plan's total moves with it and `0` removes it.
pub fn edit_installment(plan: &InstallmentPlan, number: u32, amount: Decimal) -> CoreResult<InstallmentPlan> {
    plan.validate()?;
    num::check_range("amount", amount, false)?;
    check_minor_units(amount, &plan.currency)?;
    let target = plan
        .installments
        .iter()
        .find(|i| i.number == number)
        .ok_or_else(|| CoreError::not_found("installment", &number.to_string()))?;
    if target.touched() {
        return Err(CoreError::InstallmentTouched { number });
    }
    let installments = plan
        .installments
        .iter()
        .filter(|i| i.number != number || !amount.is_zero())
        .map(|i| if i.number == number { Installment { amount: amount.normalize(), ..i.clone() } } else { i.clone() })
        .collect();
    Ok(InstallmentPlan { installments, ..plan.clone() })
}

/// The terms of an energy-as-a-service plan: days of use bought at `price_per_day`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EaasTerms {
    #[serde(with = "crate::wire::dec")]
    pub price_per_day: Decimal,
    #[serde(with = "crate::wire::dec", default)]
    pub minimum_payable: Decimal,
}

/// An energy-as-a-service plan as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EaasPlan {
    pub id: String,
    pub currency: Currency,
    #[serde(with = "crate::wire::dec")]
    pub price_per_day: Decimal,
    #[serde(with = "crate::wire::dec", default)]
    pub minimum_payable: Decimal,
}

impl EaasPlan {
    pub fn create(id: &str, currency: Currency, terms: &EaasTerms) -> CoreResult<Self> {
        let plan = EaasPlan {
            id: id.to_owned(),
            currency,
            price_per_day: terms.price_per_day,
            minimum_payable: terms.minimum_payable,
        };
        plan.validate()?;
        Ok(plan)
    }

    pub fn validate(&self) -> CoreResult<()> {
        num::check_range("price_per_day", self.price_per_day, true)?;
        num::check_range("minimum_payable", self.minimum_payable, false)?;
        check_minor_units(self.minimum_payable, &self.currency)
    }

    /// The price of `days` days of use, rounded half up. *MPM: 250 per day, 4 days ⇒ 1000.*
    pub fn price_of(&self, days: Decimal) -> CoreResult<Decimal> {
        self.validate()?;
        num::check_range("days", days, false)?;
        Ok(self.currency.round(num::mul(self.price_per_day, days)?))
    }
}
