//! The reports over installment and access-rate records: debt aging, portfolio at risk (PAR) and collection
//! rate.

use std::collections::{BTreeMap, HashMap};

use chrono::{Datelike, NaiveDate};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{
    check_amount, check_window, days_overdue, ratio, remaining, AccessRateRecord, GroupBy, Grouped, GroupedReport,
    InstallmentRecord,
};
use crate::access_rate::accrue;
use crate::error::{CoreError, CoreResult};
use crate::money::Currency;
use crate::num;
use crate::registry::Hierarchy;

/// A debt report over the whole portfolio (continued from `so_far`) and, split `by` a place, over each
/// group's records (those in `currency` that `counts` keeps), each continued from its group in `so_far`
/// (earlier pages). `report` makes one report of the records it is given; the whole report runs first, over
/// every record, so each record is validated with its real position.
#[allow(clippy::too_many_arguments)]
fn grouped<T>(
    so_far: Option<&GroupedReport<T>>,
    by: GroupBy,
    names: &Hierarchy,
    installments: &[InstallmentRecord],
    access_rates: &[AccessRateRecord],
    currency: &Currency,
    counts: impl Fn(&InstallmentRecord) -> bool,
    report: impl Fn(Option<&T>, &[InstallmentRecord], &[AccessRateRecord]) -> CoreResult<T>,
) -> CoreResult<GroupedReport<T>> {
    by.check_place()?;
    let total = report(so_far.map(|s| &s.total), installments, access_rates)?;
    let carried = so_far.map_or(&[][..], |s| s.groups.as_slice());
    let groups = groups_of(by, names, carried, installments, access_rates, currency, counts, report)?;
    Ok(GroupedReport { total, groups })
}

/// The groups of a debt report split `by` a place (see [`grouped`]).
#[allow(clippy::too_many_arguments)]
fn groups_of<'a, T>(
    by: GroupBy,
    names: &Hierarchy,
    carried: &'a [Grouped<T>],
    installments: &'a [InstallmentRecord],
    access_rates: &'a [AccessRateRecord],
    currency: &Currency,
    counts: impl Fn(&InstallmentRecord) -> bool,
    report: impl Fn(Option<&T>, &[InstallmentRecord], &[AccessRateRecord]) -> CoreResult<T>,
) -> CoreResult<Vec<Grouped<T>>> {
    if by == GroupBy::None {
        if !carried.is_empty() {
            return Err(CoreError::invalid("so_far.groups", "was made with a `by`"));
        }
        return Ok(Vec::new());
    }
    type Members<'m, G> = (Option<&'m Grouped<G>>, Vec<InstallmentRecord>, Vec<AccessRateRecord>);
    // Ordered by id, so every binding lists the groups in the same order.
    let mut groups: BTreeMap<&str, Members<'a, T>> = BTreeMap::new();
    for (i, group) in carried.iter().enumerate() {
        if groups.insert(group.group.id.as_str(), (Some(group), Vec::new(), Vec::new())).is_some() {
            return Err(CoreError::invalid(&format!("so_far.groups[{i}]"), "repeats an earlier group"));
        }
    }
    for record in installments {
        if record.currency != *currency || !counts(record) {
            continue;
        }
        if let Some(id) = by.place(record.location.as_ref()) {
            groups.entry(id).or_insert_with(|| (None, Vec::new(), Vec::new())).1.push(record.clone());
        }
    }
    for record in access_rates {
        if record.currency != *currency {
            continue;
        }
        if let Some(id) = by.place(record.location.as_ref()) {
            groups.entry(id).or_insert_with(|| (None, Vec::new(), Vec::new())).2.push(record.clone());
        }
    }
    groups
        .into_iter()
        .map(|(id, (carried, installments, access_rates))| {
            Ok(Grouped {
                group: by.group(names, id, carried.and_then(|g| g.group.name.as_deref())),
                report: report(carried.map(|g| &g.report), &installments, &access_rates)?,
            })
        })
        .collect()
}

/// The unpaid money of the installments in one aging bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AgingBucket {
    /// What is still owed on them.
    #[serde(with = "crate::wire::dec")]
    pub amount: Decimal,
    /// How many installments with something still owed fall in the bucket.
    pub installments: u64,
}

impl AgingBucket {
    fn add(&mut self, amount: Decimal) -> CoreResult<()> {
        self.amount = num::add(self.amount, amount)?;
        self.installments = self.installments.saturating_add(1);
        Ok(())
    }

    fn normalized(self) -> Self {
        AgingBucket { amount: self.amount.normalize(), installments: self.installments }
    }
}

/// The meters' access-rate debt on one day: a line of its own in debt aging.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRateDebt {
    /// What the meters owe, accrued up to the report's day.
    #[serde(with = "crate::wire::dec")]
    pub amount: Decimal,
    /// How many meters owe something.
    pub meters: u64,
}

/// Outstanding installment debt by how long it has been overdue, and the meters' access-rate debt, on one
/// day.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DebtAging {
    /// Not due yet, or due on `as_of` itself.
    pub current: AgingBucket,
    /// 1 to 30 days overdue.
    pub days_1_30: AgingBucket,
    /// 31 to 60 days overdue.
    pub days_31_60: AgingBucket,
    /// 61 to 90 days overdue.
    pub days_61_90: AgingBucket,
    /// More than 90 days overdue.
    pub days_over_90: AgingBucket,
    /// The meters' access-rate debt accrued up to `as_of`, including periods no payment has accrued yet.
    #[serde(default)]
    pub access_rate: AccessRateDebt,
    /// Everything still owed: the sum of the five buckets and of the access-rate line.
    #[serde(with = "crate::wire::dec")]
    pub outstanding: Decimal,
    /// Installments with something still owed: the sum of the five buckets' counts.
    pub installments: u64,
}

/// Ages what is still owed (amount − paid) on every installment in `currency` as of `as_of`: an installment
/// due on day D is 1 day overdue on D + 1. Fully paid installments are in no bucket and not counted.
/// The meters' access-rate debt in `currency`, accrued up to `as_of`, is its own line (`access_rate`) and
/// part of `outstanding`.
/// One pass with no allocation per record: a million installments take about 60 ms (BENCHMARKS).
pub fn debt_aging(
    installments: &[InstallmentRecord],
    access_rates: &[AccessRateRecord],
    currency: &Currency,
    as_of: NaiveDate,
) -> CoreResult<DebtAging> {
    debt_aging_after(None, installments, access_rates, currency, as_of)
}

/// [`debt_aging`] continued: `so_far` is the aging of earlier records under the same arguments, and the
/// answer is the aging of those and these records together. Buckets add up record by record, so a host
/// can fold its records in page by page.
pub(crate) fn debt_aging_after(
    so_far: Option<&DebtAging>,
    installments: &[InstallmentRecord],
    access_rates: &[AccessRateRecord],
    currency: &Currency,
    as_of: NaiveDate,
) -> CoreResult<DebtAging> {
    let mut aging = so_far.map(checked_aging).transpose()?.unwrap_or_default();
    for (i, record) in installments.iter().enumerate() {
        if record.currency != *currency {
            continue;
        }
        let owed = remaining(i, record)?;
        if owed.is_zero() {
            continue;
        }
        let bucket = match days_overdue(record.due_date, as_of) {
            ..=0 => &mut aging.current,
            1..=30 => &mut aging.days_1_30,
            31..=60 => &mut aging.days_31_60,
            61..=90 => &mut aging.days_61_90,
            _ => &mut aging.days_over_90,
        };
        bucket.add(owed)?;
        aging.outstanding = num::add(aging.outstanding, owed)?;
        aging.installments = aging.installments.saturating_add(1);
    }
    for (i, record) in access_rates.iter().enumerate() {
        if record.currency != *currency {
            continue;
        }
        if let Some((owed, _)) = access_exposure(i, record, as_of)? {
            aging.access_rate.amount = num::add(aging.access_rate.amount, owed)?;
            aging.access_rate.meters = aging.access_rate.meters.saturating_add(1);
            aging.outstanding = num::add(aging.outstanding, owed)?;
        }
    }
    Ok(DebtAging {
        current: aging.current.normalized(),
        days_1_30: aging.days_1_30.normalized(),
        days_31_60: aging.days_31_60.normalized(),
        days_61_90: aging.days_61_90.normalized(),
        days_over_90: aging.days_over_90.normalized(),
        access_rate: AccessRateDebt { amount: aging.access_rate.amount.normalize(), meters: aging.access_rate.meters },
        outstanding: aging.outstanding.normalize(),
        installments: aging.installments,
    })
}

/// A carried aging whose amounts are in range and whose totals agree with its parts.
fn checked_aging(aging: &DebtAging) -> CoreResult<DebtAging> {
    let buckets = [
        ("current", aging.current),
        ("days_1_30", aging.days_1_30),
        ("days_31_60", aging.days_31_60),
        ("days_61_90", aging.days_61_90),
        ("days_over_90", aging.days_over_90),
    ];
    for (name, bucket) in buckets {
        check_amount(bucket.amount, || format!("so_far.{name}.amount"))?;
    }
    check_amount(aging.access_rate.amount, || "so_far.access_rate.amount".to_owned())?;
    let owed = num::sum(buckets.iter().map(|(_, b)| b.amount).chain([aging.access_rate.amount]))?;
    let count = buckets.iter().try_fold(0u64, |n, (_, b)| n.checked_add(b.installments));
    if owed != aging.outstanding || count != Some(aging.installments) {
        return Err(CoreError::invalid("so_far", "outstanding and installments must be the sums of the buckets"));
    }
    Ok(*aging)
}

/// A meter's access-rate debt on `as_of` (its stored account accrued up to that day) and how many days its
/// oldest unpaid fee is overdue; `None` when it owes nothing. Fee k falls due on registration + k periods;
/// payments clear the oldest fees first, so the unpaid ones are the last ⌈debt ÷ amount⌉ charged.
fn access_exposure(index: usize, record: &AccessRateRecord, as_of: NaiveDate) -> CoreResult<Option<(Decimal, i64)>> {
    let field = |name: &str| format!("access_rates[{index}].{name}");
    check_amount(record.rate.amount, || field("rate.amount"))?;
    if record.rate.amount.is_zero() {
        return Err(CoreError::invalid(&field("rate.amount"), "must be greater than zero"));
    }
    if record.rate.period_days == 0 {
        return Err(CoreError::invalid(&field("rate.period_days"), "must be at least 1"));
    }
    check_amount(record.state.debt, || field("state.debt"))?;
    let state = accrue(&record.rate, record.registered_on, &record.state, as_of)?.state;
    if state.debt.is_zero() {
        return Ok(None);
    }
    let unpaid = num::div(state.debt, record.rate.amount)?.ceil().to_u32().unwrap_or(u32::MAX);
    let oldest = state.accrued_periods.saturating_sub(unpaid).saturating_add(1);
    let due = i64::from(record.registered_on.num_days_from_ce())
        .saturating_add(i64::from(oldest).saturating_mul(i64::from(record.rate.period_days)));
    Ok(Some((state.debt, i64::from(as_of.num_days_from_ce()).saturating_sub(due))))
}

/// Portfolio at risk for one threshold: PAR N.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortfolioAtRisk {
    /// N: a plan is at risk when one of its installments is overdue more than N days.
    pub days: u32,
    /// The whole outstanding balance (future installments included) of the plans at risk.
    #[serde(with = "crate::wire::dec")]
    pub at_risk: Decimal,
    /// Everything still owed on every plan in the currency.
    #[serde(with = "crate::wire::dec")]
    pub outstanding: Decimal,
    /// `at_risk / outstanding`, 0 to 1, rounded half-up to 4 places; 0 when nothing is outstanding.
    #[serde(with = "crate::wire::dec")]
    pub ratio: Decimal,
}

/// PAR30, PAR60 and PAR90 of one portfolio on one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParSummary {
    /// Plans with an installment overdue more than 30 days.
    pub par30: PortfolioAtRisk,
    /// … more than 60 days.
    pub par60: PortfolioAtRisk,
    /// … more than 90 days.
    pub par90: PortfolioAtRisk,
}

/// PAR N as of `as_of`: the outstanding balance of the plans (records sharing a `plan_id`) in `currency`
/// that have an installment with something still owed more than `days` days past its due date, over
/// everything outstanding in that currency. `days` must be at least 1.
///
/// A meter's access-rate account, accrued up to `as_of`, counts as one more exposure: its debt is
/// outstanding, and at risk when its oldest unpaid fee is more than `days` days past due.
pub fn portfolio_at_risk(
    installments: &[InstallmentRecord],
    access_rates: &[AccessRateRecord],
    currency: &Currency,
    as_of: NaiveDate,
    days: u32,
) -> CoreResult<PortfolioAtRisk> {
    portfolio_at_risk_after(None, installments, access_rates, currency, as_of, days)
}

/// [`portfolio_at_risk`] continued: `so_far` is the PAR of earlier records under the same arguments, and the
/// answer is the PAR of those and these records together. PAR is decided per plan, so every installment of
/// a plan must come in the same call (a host pages by plan, not by installment).
pub(crate) fn portfolio_at_risk_after(
    so_far: Option<&PortfolioAtRisk>,
    installments: &[InstallmentRecord],
    access_rates: &[AccessRateRecord],
    currency: &Currency,
    as_of: NaiveDate,
    days: u32,
) -> CoreResult<PortfolioAtRisk> {
    check_days(days)?;
    Exposure::of(installments, access_rates, currency, as_of)?.at_risk(days, so_far, "so_far")
}

/// PAR30, PAR60 and PAR90 in one pass over the records; each is what [`portfolio_at_risk`] gives.
pub fn par_30_60_90(
    installments: &[InstallmentRecord],
    access_rates: &[AccessRateRecord],
    currency: &Currency,
    as_of: NaiveDate,
) -> CoreResult<ParSummary> {
    par_30_60_90_after(None, installments, access_rates, currency, as_of)
}

/// [`par_30_60_90`] continued, as [`portfolio_at_risk_after`].
pub(crate) fn par_30_60_90_after(
    so_far: Option<&ParSummary>,
    installments: &[InstallmentRecord],
    access_rates: &[AccessRateRecord],
    currency: &Currency,
    as_of: NaiveDate,
) -> CoreResult<ParSummary> {
    let exposure = Exposure::of(installments, access_rates, currency, as_of)?;
    Ok(ParSummary {
        par30: exposure.at_risk(30, so_far.map(|s| &s.par30), "so_far.par30")?,
        par60: exposure.at_risk(60, so_far.map(|s| &s.par60), "so_far.par60")?,
        par90: exposure.at_risk(90, so_far.map(|s| &s.par90), "so_far.par90")?,
    })
}

fn check_days(days: u32) -> CoreResult<()> {
    if days == 0 {
        return Err(CoreError::invalid("days", "PAR needs at least 1 day overdue"));
    }
    Ok(())
}

/// Each plan's outstanding balance and its worst overdue installment, in order of first appearance so that
/// sums are taken in the same order on every run, then each meter's access-rate debt and its oldest unpaid
/// fee.
struct Exposure {
    outstanding: Decimal,
    /// (balance, days the most overdue unpaid installment or fee is overdue).
    plans: Vec<(Decimal, i64)>,
}

impl Exposure {
    fn of(
        installments: &[InstallmentRecord],
        access_rates: &[AccessRateRecord],
        currency: &Currency,
        as_of: NaiveDate,
    ) -> CoreResult<Self> {
        // plan id → (first appearance, balance, worst overdue days)
        let mut by_plan: HashMap<&str, (usize, Decimal, i64)> = HashMap::new();
        let mut outstanding = Decimal::ZERO;
        for (i, record) in installments.iter().enumerate() {
            if record.currency != *currency {
                continue;
            }
            let owed = remaining(i, record)?;
            if owed.is_zero() {
                continue;
            }
            let seen = by_plan.len();
            let plan = by_plan.entry(record.plan_id.as_str()).or_insert((seen, Decimal::ZERO, i64::MIN));
            plan.1 = num::add(plan.1, owed)?;
            plan.2 = plan.2.max(days_overdue(record.due_date, as_of));
            outstanding = num::add(outstanding, owed)?;
        }
        let mut plans: Vec<_> = by_plan.into_values().collect();
        plans.sort_unstable_by_key(|(seen, _, _)| *seen);
        let mut plans: Vec<(Decimal, i64)> = plans.into_iter().map(|(_, balance, worst)| (balance, worst)).collect();
        for (i, record) in access_rates.iter().enumerate() {
            if record.currency != *currency {
                continue;
            }
            if let Some((owed, overdue)) = access_exposure(i, record, as_of)? {
                outstanding = num::add(outstanding, owed)?;
                plans.push((owed, overdue));
            }
        }
        Ok(Exposure { outstanding, plans })
    }

    /// PAR `days` of these plans, added to `carried` (the PAR of plans seen before, named `field` in errors).
    fn at_risk(&self, days: u32, carried: Option<&PortfolioAtRisk>, field: &str) -> CoreResult<PortfolioAtRisk> {
        let threshold = i64::from(days);
        let mut at_risk =
            num::sum(self.plans.iter().filter(|(_, worst)| *worst > threshold).map(|(balance, _)| *balance))?;
        let mut outstanding = self.outstanding;
        if let Some(carried) = carried {
            if carried.days != days {
                return Err(CoreError::invalid(&format!("{field}.days"), format!("must be {days}")));
            }
            check_amount(carried.at_risk, || format!("{field}.at_risk"))?;
            check_amount(carried.outstanding, || format!("{field}.outstanding"))?;
            if carried.at_risk > carried.outstanding {
                return Err(CoreError::invalid(&format!("{field}.at_risk"), "cannot exceed what is outstanding"));
            }
            at_risk = num::add(at_risk, carried.at_risk)?;
            outstanding = num::add(outstanding, carried.outstanding)?;
        }
        let ratio = if outstanding.is_zero() { Decimal::ZERO } else { ratio(at_risk, outstanding)? };
        Ok(PortfolioAtRisk { days, at_risk: at_risk.normalize(), outstanding: outstanding.normalize(), ratio })
    }
}

/// Collection over a window of due dates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CollectionRate {
    /// The amounts of the installments due in the window.
    #[serde(with = "crate::wire::dec")]
    pub due: Decimal,
    /// What has been paid on those installments so far (each capped at its amount).
    #[serde(with = "crate::wire::dec")]
    pub collected: Decimal,
    /// `collected / due`, 0 to 1, rounded half-up to 4 places; `null` when nothing was due, because a
    /// window without installments has no rate (0 would read as "nobody paid").
    #[serde(with = "crate::wire::dec_opt")]
    pub rate: Option<Decimal>,
}

/// Collected ÷ due for the installments in `currency` whose due date is from `from` to `to` (both
/// included). An analyst's approximation from the records alone: "collected" is what has been paid so far
/// on those installments, whenever it was paid (early, on time or late), each capped at its amount; it is
/// not the money received during the window (see [`super::revenue_report`] for that).
pub fn collection_rate(
    installments: &[InstallmentRecord],
    currency: &Currency,
    from: NaiveDate,
    to: NaiveDate,
) -> CoreResult<CollectionRate> {
    collection_rate_after(None, installments, currency, from, to)
}

/// [`collection_rate`] continued: `so_far` is the rate of earlier installments under the same arguments, and
/// the answer is the rate of those and these together.
pub(crate) fn collection_rate_after(
    so_far: Option<&CollectionRate>,
    installments: &[InstallmentRecord],
    currency: &Currency,
    from: NaiveDate,
    to: NaiveDate,
) -> CoreResult<CollectionRate> {
    check_window(from, to)?;
    let (mut due, mut collected) = match so_far {
        Some(carried) => {
            check_amount(carried.due, || "so_far.due".to_owned())?;
            check_amount(carried.collected, || "so_far.collected".to_owned())?;
            if carried.collected > carried.due {
                return Err(CoreError::invalid("so_far.collected", "cannot exceed what was due"));
            }
            (carried.due, carried.collected)
        }
        None => (Decimal::ZERO, Decimal::ZERO),
    };
    for (i, record) in installments.iter().enumerate() {
        if record.currency != *currency || record.due_date < from || record.due_date > to {
            continue;
        }
        check_amount(record.amount, || format!("installments[{i}].amount"))?;
        check_amount(record.paid, || format!("installments[{i}].paid"))?;
        due = num::add(due, record.amount)?;
        collected = num::add(collected, record.paid.min(record.amount))?;
    }
    let rate = if due.is_zero() { None } else { Some(ratio(collected, due)?) };
    Ok(CollectionRate { due: due.normalize(), collected: collected.normalize(), rate })
}

/// [`debt_aging`] over the whole portfolio and, split `by` cluster, area or village, over each group's
/// records alone (see the module rules); groups are named from `names`.
pub fn debt_aging_by(
    installments: &[InstallmentRecord],
    access_rates: &[AccessRateRecord],
    currency: &Currency,
    as_of: NaiveDate,
    by: GroupBy,
    names: &Hierarchy,
) -> CoreResult<GroupedReport<DebtAging>> {
    debt_aging_by_after(None, installments, access_rates, currency, as_of, by, names)
}

/// [`debt_aging_by`] continued from the report of earlier records (whole and per group).
pub(crate) fn debt_aging_by_after(
    so_far: Option<&GroupedReport<DebtAging>>,
    installments: &[InstallmentRecord],
    access_rates: &[AccessRateRecord],
    currency: &Currency,
    as_of: NaiveDate,
    by: GroupBy,
    names: &Hierarchy,
) -> CoreResult<GroupedReport<DebtAging>> {
    grouped(
        so_far,
        by,
        names,
        installments,
        access_rates,
        currency,
        |_| true,
        |so_far, i, m| debt_aging_after(so_far, i, m, currency, as_of),
    )
}

/// [`portfolio_at_risk`] over the whole portfolio and, split `by` a place, per group (see [`debt_aging_by`]).
pub fn portfolio_at_risk_by(
    installments: &[InstallmentRecord],
    access_rates: &[AccessRateRecord],
    currency: &Currency,
    as_of: NaiveDate,
    days: u32,
    by: GroupBy,
    names: &Hierarchy,
) -> CoreResult<GroupedReport<PortfolioAtRisk>> {
    portfolio_at_risk_by_after(None, installments, access_rates, currency, as_of, days, by, names)
}

/// [`portfolio_at_risk_by`] continued from the report of earlier plans (whole and per group).
#[allow(clippy::too_many_arguments)]
pub(crate) fn portfolio_at_risk_by_after(
    so_far: Option<&GroupedReport<PortfolioAtRisk>>,
    installments: &[InstallmentRecord],
    access_rates: &[AccessRateRecord],
    currency: &Currency,
    as_of: NaiveDate,
    days: u32,
    by: GroupBy,
    names: &Hierarchy,
) -> CoreResult<GroupedReport<PortfolioAtRisk>> {
    grouped(
        so_far,
        by,
        names,
        installments,
        access_rates,
        currency,
        |_| true,
        |so_far, i, m| portfolio_at_risk_after(so_far, i, m, currency, as_of, days),
    )
}

/// [`par_30_60_90`] over the whole portfolio and, split `by` a place, per group (see [`debt_aging_by`]).
pub fn par_30_60_90_by(
    installments: &[InstallmentRecord],
    access_rates: &[AccessRateRecord],
    currency: &Currency,
    as_of: NaiveDate,
    by: GroupBy,
    names: &Hierarchy,
) -> CoreResult<GroupedReport<ParSummary>> {
    par_30_60_90_by_after(None, installments, access_rates, currency, as_of, by, names)
}

/// [`par_30_60_90_by`] continued from the report of earlier plans (whole and per group).
pub(crate) fn par_30_60_90_by_after(
    so_far: Option<&GroupedReport<ParSummary>>,
    installments: &[InstallmentRecord],
    access_rates: &[AccessRateRecord],
    currency: &Currency,
    as_of: NaiveDate,
    by: GroupBy,
    names: &Hierarchy,
) -> CoreResult<GroupedReport<ParSummary>> {
    grouped(
        so_far,
        by,
        names,
        installments,
        access_rates,
        currency,
        |_| true,
        |so_far, i, m| par_30_60_90_after(so_far, i, m, currency, as_of),
    )
}

/// [`collection_rate`] over the whole portfolio and, split `by` a place, per group (see [`debt_aging_by`]);
/// only groups with an installment due in the window have an entry.
pub fn collection_rate_by(
    installments: &[InstallmentRecord],
    currency: &Currency,
    from: NaiveDate,
    to: NaiveDate,
    by: GroupBy,
    names: &Hierarchy,
) -> CoreResult<GroupedReport<CollectionRate>> {
    collection_rate_by_after(None, installments, currency, from, to, by, names)
}

/// [`collection_rate_by`] continued from the rate of earlier installments (whole and per group).
pub(crate) fn collection_rate_by_after(
    so_far: Option<&GroupedReport<CollectionRate>>,
    installments: &[InstallmentRecord],
    currency: &Currency,
    from: NaiveDate,
    to: NaiveDate,
    by: GroupBy,
    names: &Hierarchy,
) -> CoreResult<GroupedReport<CollectionRate>> {
    let due = |r: &InstallmentRecord| r.due_date >= from && r.due_date <= to;
    grouped(so_far, by, names, installments, &[], currency, due, |so_far, i, _| {
        collection_rate_after(so_far, i, currency, from, to)
    })
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;

    fn tzs() -> Currency {
        Currency::parse("TZS").unwrap()
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn record(plan: &str, due: &str, amount: Decimal, paid: Decimal) -> InstallmentRecord {
        InstallmentRecord {
            plan_id: plan.into(),
            customer_id: "c".into(),
            currency: tzs(),
            location: None,
            number: 1,
            due_date: day(due),
            amount,
            paid,
        }
    }

    #[test]
    fn a_bad_record_is_named_by_its_position() {
        let records = [record("A", "2026-01-01", dec!(1), dec!(0)), record("B", "2026-01-01", dec!(1), dec!(-1))];
        let err = debt_aging(&records, &[], &tzs(), day("2026-06-30"));
        assert!(matches!(err, Err(CoreError::InvalidInput { field, .. }) if field == "installments[1].paid"));
        let err = portfolio_at_risk(&records, &[], &tzs(), day("2026-06-30"), 30);
        assert!(matches!(err, Err(CoreError::InvalidInput { field, .. }) if field == "installments[1].paid"));
    }

    #[test]
    fn days_zero_is_refused() {
        let err = portfolio_at_risk(&[], &[], &tzs(), day("2026-06-30"), 0);
        assert!(matches!(err, Err(CoreError::InvalidInput { field, .. }) if field == "days"));
    }

    #[test]
    fn overpaid_installments_owe_nothing_and_collect_their_amount() {
        let records = [record("A", "2026-06-01", dec!(100), dec!(150))];
        assert_eq!(debt_aging(&records, &[], &tzs(), day("2026-06-30")).map(|a| a.installments), Ok(0));
        let rate = collection_rate(&records, &tzs(), day("2026-06-01"), day("2026-06-01")).unwrap();
        assert_eq!((rate.due, rate.collected, rate.rate), (dec!(100), dec!(100), Some(dec!(1))));
    }

    #[test]
    fn groups_add_up_to_the_whole_and_are_named() {
        use crate::registry::{Cluster, Location};
        let at = |cluster: &str| Location { cluster_id: cluster.into(), area_id: "A".into(), village_id: "V".into() };
        let mut records = [
            record("A", "2026-05-01", dec!(100), dec!(0)),
            record("B", "2026-06-29", dec!(50), dec!(10)),
            record("C", "2026-06-01", dec!(30), dec!(0)),
        ];
        records[0].location = Some(at("C1"));
        records[1].location = Some(at("C2"));
        let names =
            Hierarchy { clusters: vec![Cluster { id: "C1".into(), name: "North".into() }], ..Hierarchy::default() };
        let aging = debt_aging_by(&records, &[], &tzs(), day("2026-06-30"), GroupBy::Cluster, &names).unwrap();
        let ids: Vec<_> = aging.groups.iter().map(|g| (g.group.id.as_str(), g.group.name.as_deref())).collect();
        assert_eq!(ids, [("C1", Some("North")), ("C2", None), ("unlocated", None)]);
        let owed: Vec<_> = aging.groups.iter().map(|g| g.report.outstanding).collect();
        assert_eq!(owed, [dec!(100), dec!(40), dec!(30)]);
        assert_eq!(aging.total.outstanding, dec!(170));
        let rate = collection_rate_by(&records, &tzs(), day("2026-06-01"), day("2026-06-30"), GroupBy::Cluster, &names)
            .unwrap();
        // Plan A's installment is due in May: its cluster has no entry.
        assert_eq!(rate.groups.len(), 2);
        assert!(debt_aging_by(&records, &[], &tzs(), day("2026-06-30"), GroupBy::Kind, &names).is_err());
        let plain = debt_aging_by(&records, &[], &tzs(), day("2026-06-30"), GroupBy::None, &names).unwrap();
        assert!(plain.groups.is_empty());
        assert_eq!(serde_json::to_value(&plain).unwrap(), serde_json::to_value(plain.total).unwrap());
    }

    #[test]
    fn par_uses_the_worst_installment_of_each_plan() {
        // Plan A: one installment 40 days late, one not due; plan B: 10 days late.
        let records = [
            record("A", "2026-05-21", dec!(100), dec!(0)),
            record("B", "2026-06-20", dec!(50), dec!(0)),
            record("A", "2026-07-21", dec!(100), dec!(0)),
        ];
        let par = par_30_60_90(&records, &[], &tzs(), day("2026-06-30")).unwrap();
        assert_eq!((par.par30.at_risk, par.par30.outstanding, par.par30.ratio), (dec!(200), dec!(250), dec!(0.8)));
        assert_eq!(par.par60.at_risk, dec!(0));
    }
}
