//! Revenue per period split by allocation kind and by place or device kind, and energy sold per period:
//! the two reports over payment records.

use std::borrow::Cow;
use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::{check_amount, check_window, GroupBy, PaymentRecord, PeriodUnit, ReportGroup};
use crate::allocation::AllocationKind;
use crate::error::{CoreError, CoreResult};
use crate::money::Currency;
use crate::num;
use crate::registry::Hierarchy;

/// Money split by what it paid for (the allocation kinds of domain.md §5).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindAmounts {
    /// Appliance installments, down payments included.
    #[serde(with = "crate::wire::dec")]
    pub installment: Decimal,
    /// Meter access-rate fees.
    #[serde(with = "crate::wire::dec")]
    pub access_rate: Decimal,
    /// Prepaid electricity (kWh tokens).
    #[serde(with = "crate::wire::dec")]
    pub energy: Decimal,
    /// Days of use under energy-as-a-service plans.
    #[serde(with = "crate::wire::dec")]
    pub eaas: Decimal,
}

impl KindAmounts {
    fn add(&mut self, kind: AllocationKind, amount: Decimal) -> CoreResult<()> {
        let slot = match kind {
            AllocationKind::Installment => &mut self.installment,
            AllocationKind::AccessRate => &mut self.access_rate,
            AllocationKind::Energy => &mut self.energy,
            AllocationKind::Eaas => &mut self.eaas,
        };
        *slot = num::add(*slot, amount)?;
        Ok(())
    }

    fn plus(&self, other: &KindAmounts) -> CoreResult<KindAmounts> {
        Ok(KindAmounts {
            installment: num::add(self.installment, other.installment)?,
            access_rate: num::add(self.access_rate, other.access_rate)?,
            energy: num::add(self.energy, other.energy)?,
            eaas: num::add(self.eaas, other.eaas)?,
        })
    }

    /// Each kind's wire name and amount.
    fn named(&self) -> [(&'static str, Decimal); 4] {
        [
            ("installment", self.installment),
            ("access_rate", self.access_rate),
            ("energy", self.energy),
            ("eaas", self.eaas),
        ]
    }

    /// The sum over all kinds.
    pub fn total(&self) -> CoreResult<Decimal> {
        num::sum([self.installment, self.access_rate, self.energy, self.eaas]).map(|d| d.normalize())
    }
}

/// The revenue of one period in one group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevenueRow {
    /// The first day of the period (a Monday for weeks, the 1st for months).
    pub period_start: NaiveDate,
    /// The cluster, area or village (`{id, name}`, the name from the registry given to the report), or the
    /// device kind (`{id: "meter", name: null}`); `null` when the report is not grouped.
    pub group: Option<ReportGroup>,
    /// The period's revenue in this group by what it paid for.
    pub by_kind: KindAmounts,
    /// The sum of `by_kind`.
    #[serde(with = "crate::wire::dec")]
    pub total: Decimal,
}

/// Revenue over a window, in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevenueReport {
    /// One row per period and group in which anything was sold, ordered by period, then by group (byte
    /// order of the group id's UTF-8 text; the core sorts, so every binding gets the same order).
    pub rows: Vec<RevenueRow>,
    /// The whole window by what it paid for.
    pub by_kind: KindAmounts,
    /// The whole window's revenue.
    #[serde(with = "crate::wire::dec")]
    pub total: Decimal,
}

/// Revenue from the payments in `currency` received from `from` to `to` (both included), per period of
/// `group_by` and split `by` place or device kind, each place named from `names` (the registry; an empty one
/// names nothing). See the module rules: other currencies are left out, money that went to credit counts
/// when it is spent.
pub fn revenue_report(
    payments: &[PaymentRecord],
    currency: &Currency,
    from: NaiveDate,
    to: NaiveDate,
    group_by: PeriodUnit,
    by: GroupBy,
    names: &Hierarchy,
) -> CoreResult<RevenueReport> {
    revenue_report_after(None, payments, currency, from, to, group_by, by, names)
}

/// [`revenue_report`] continued: `so_far` is the report of earlier payments under the same arguments, and
/// the answer is the report of those and `payments` together. A host with more payments than it wants to
/// hold at once reads them page by page and folds each page in; revenue adds up by period and group, so the
/// result equals one call over every payment. A carried group keeps its name when `names` does not know it.
#[allow(clippy::too_many_arguments)]
pub(crate) fn revenue_report_after(
    so_far: Option<&RevenueReport>,
    payments: &[PaymentRecord],
    currency: &Currency,
    from: NaiveDate,
    to: NaiveDate,
    group_by: PeriodUnit,
    by: GroupBy,
    names: &Hierarchy,
) -> CoreResult<RevenueReport> {
    check_window(from, to)?;
    // Keys borrow the ids from the records: one map entry per row, no copy per payment.
    let mut rows: BTreeMap<(NaiveDate, Option<Cow<'_, str>>), KindAmounts> = BTreeMap::new();
    // The names earlier pages gave their groups, for ids the registry given now does not know.
    let mut carried_names: BTreeMap<&str, &str> = BTreeMap::new();
    for (i, row) in so_far.map_or(&[][..], |r| r.rows.as_slice()).iter().enumerate() {
        check_carried_period(row.period_start, group_by, from, to, || format!("so_far.rows[{i}].period_start"))?;
        if row.group.is_some() != (by != GroupBy::None) {
            return Err(CoreError::invalid(&format!("so_far.rows[{i}].group"), "was made with another `by`"));
        }
        for (name, amount) in row.by_kind.named() {
            check_amount(amount, || format!("so_far.rows[{i}].by_kind.{name}"))?;
        }
        if let Some(ReportGroup { id, name: Some(name) }) = &row.group {
            carried_names.insert(id.as_str(), name.as_str());
        }
        let key = (row.period_start, row.group.as_ref().map(|g| Cow::Borrowed(g.id.as_str())));
        if rows.insert(key, row.by_kind).is_some() {
            return Err(CoreError::invalid(&format!("so_far.rows[{i}]"), "repeats an earlier row's period and group"));
        }
    }
    for (i, payment) in payments.iter().enumerate() {
        if payment.currency != *currency || payment.received_on < from || payment.received_on > to {
            continue;
        }
        if payment.lines.is_empty() {
            continue;
        }
        let period = group_by.start_of(payment.received_on)?;
        let row = rows.entry((period, by.key(payment).map(Cow::Borrowed))).or_default();
        for (j, line) in payment.lines.iter().enumerate() {
            check_amount(line.amount, || format!("payments[{i}].lines[{j}].amount"))?;
            row.add(line.kind, line.amount)?;
        }
    }
    // The window's sums are the rows' sums: every line lands in exactly one row.
    let mut whole = KindAmounts::default();
    for amounts in rows.values() {
        whole = whole.plus(amounts)?;
    }
    let rows = rows
        .into_iter()
        .map(|((period_start, group), by_kind)| {
            Ok(RevenueRow {
                period_start,
                group: group.map(|id| by.group(names, &id, carried_names.get(&*id).copied())),
                total: by_kind.total()?,
                by_kind: normalized(by_kind),
            })
        })
        .collect::<CoreResult<Vec<_>>>()?;
    Ok(RevenueReport { rows, total: whole.total()?, by_kind: normalized(whole) })
}

/// Refuses a carried row's period that this report could not have made: not the first day of a period of
/// `group_by`, or outside the periods the window touches.
fn check_carried_period(
    period_start: NaiveDate,
    group_by: PeriodUnit,
    from: NaiveDate,
    to: NaiveDate,
    field: impl Fn() -> String,
) -> CoreResult<()> {
    if group_by.start_of(period_start)? != period_start {
        return Err(CoreError::invalid(
            &field(),
            format!("{period_start} does not start a period of {}", format!("{group_by:?}").to_lowercase()),
        ));
    }
    if period_start < group_by.start_of(from)? || period_start > to {
        return Err(CoreError::invalid(&field(), format!("{period_start} is outside the report's window")));
    }
    Ok(())
}

/// Energy sold in one period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnergyRow {
    /// The first day of the period (a Monday for weeks, the 1st for months).
    pub period_start: NaiveDate,
    /// kWh sold in the period.
    #[serde(with = "crate::wire::dec")]
    pub kwh: Decimal,
    /// What that energy cost the customers; `null` when the report was asked without a currency.
    #[serde(with = "crate::wire::dec_opt", default)]
    pub amount: Option<Decimal>,
}

/// Energy sold over a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnergySold {
    /// One row per period in which any energy was sold, in date order.
    pub rows: Vec<EnergyRow>,
    /// kWh sold over the whole window.
    #[serde(with = "crate::wire::dec")]
    pub kwh: Decimal,
    /// What the window's energy cost; `null` without a currency.
    #[serde(with = "crate::wire::dec_opt", default)]
    pub amount: Option<Decimal>,
}

/// kWh sold (the `quantity` of every energy line) from `from` to `to` (both included), per period of
/// `group_by`. With a `currency`, only payments in it count and the money paid for the energy comes too;
/// without one, every payment's kWh count and no money is reported, since amounts in different currencies
/// cannot be added. An energy line without a quantity is refused rather than counted as 0 kWh.
pub fn energy_sold(
    payments: &[PaymentRecord],
    currency: Option<&Currency>,
    from: NaiveDate,
    to: NaiveDate,
    group_by: PeriodUnit,
) -> CoreResult<EnergySold> {
    energy_sold_after(None, payments, currency, from, to, group_by)
}

/// [`energy_sold`] continued: `so_far` is the report of earlier payments under the same arguments, and the
/// answer is the report of those and `payments` together (see [`revenue_report_after`]).
pub(crate) fn energy_sold_after(
    so_far: Option<&EnergySold>,
    payments: &[PaymentRecord],
    currency: Option<&Currency>,
    from: NaiveDate,
    to: NaiveDate,
    group_by: PeriodUnit,
) -> CoreResult<EnergySold> {
    check_window(from, to)?;
    let mut rows: BTreeMap<NaiveDate, (Decimal, Decimal)> = BTreeMap::new();
    for (i, row) in so_far.map_or(&[][..], |r| r.rows.as_slice()).iter().enumerate() {
        let field = |name: &str| format!("so_far.rows[{i}].{name}");
        check_carried_period(row.period_start, group_by, from, to, || field("period_start"))?;
        check_amount(row.kwh, || field("kwh"))?;
        let amount = match (currency, row.amount) {
            (Some(_), Some(amount)) => {
                check_amount(amount, || field("amount"))?;
                amount
            }
            (None, None) => Decimal::ZERO,
            (Some(_), None) | (None, Some(_)) => {
                return Err(CoreError::invalid(&field("amount"), "was made with another `currency`"));
            }
        };
        if rows.insert(row.period_start, (row.kwh, amount)).is_some() {
            return Err(CoreError::invalid(&format!("so_far.rows[{i}]"), "repeats an earlier row's period"));
        }
    }
    for (i, payment) in payments.iter().enumerate() {
        if currency.is_some_and(|c| payment.currency != *c) || payment.received_on < from || payment.received_on > to {
            continue;
        }
        for (j, line) in payment.lines.iter().enumerate() {
            if line.kind != AllocationKind::Energy {
                continue;
            }
            let field = |name: &str| format!("payments[{i}].lines[{j}].{name}");
            let quantity =
                line.quantity.ok_or_else(|| CoreError::invalid(&field("quantity"), "an energy line needs its kWh"))?;
            check_amount(quantity, || field("quantity"))?;
            check_amount(line.amount, || field("amount"))?;
            let row = rows.entry(group_by.start_of(payment.received_on)?).or_default();
            row.0 = num::add(row.0, quantity)?;
            if currency.is_some() {
                row.1 = num::add(row.1, line.amount)?;
            }
        }
    }
    let kwh = num::sum(rows.values().map(|(kwh, _)| *kwh))?;
    let amount = num::sum(rows.values().map(|(_, amount)| *amount))?;
    let money = |value: Decimal| currency.map(|_| value.normalize());
    Ok(EnergySold {
        rows: rows
            .into_iter()
            .map(|(period_start, (kwh, amount))| EnergyRow {
                period_start,
                kwh: kwh.normalize(),
                amount: money(amount),
            })
            .collect(),
        kwh: kwh.normalize(),
        amount: money(amount),
    })
}

fn normalized(k: KindAmounts) -> KindAmounts {
    KindAmounts {
        installment: k.installment.normalize(),
        access_rate: k.access_rate.normalize(),
        energy: k.energy.normalize(),
        eaas: k.eaas.normalize(),
    }
}

#[cfg(test)]
mod tests {
    use rust_decimal_macros::dec;

    use super::*;
    use crate::allocation::AllocationLine;
    use crate::registry::{DeviceKind, Location};

    fn tzs() -> Currency {
        Currency::parse("TZS").unwrap()
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn payment(on: &str, lines: Vec<AllocationLine>) -> PaymentRecord {
        PaymentRecord {
            payment_id: "p".into(),
            received_on: day(on),
            currency: tzs(),
            device_kind: Some(DeviceKind::Meter),
            location: Location { cluster_id: "C".into(), area_id: "A".into(), village_id: "V".into() },
            lines,
        }
    }

    fn none() -> Hierarchy {
        Hierarchy::default()
    }

    fn line(kind: AllocationKind, amount: Decimal, quantity: Option<Decimal>) -> AllocationLine {
        AllocationLine { kind, amount, plan_id: None, installment: None, quantity }
    }

    #[test]
    fn a_bad_line_is_named_by_its_position() {
        let payments = [
            payment("2026-03-01", vec![line(AllocationKind::Energy, dec!(1), Some(dec!(1)))]),
            payment(
                "2026-03-02",
                vec![line(AllocationKind::Energy, dec!(1), None), line(AllocationKind::Eaas, dec!(-1), None)],
            ),
        ];
        let err = revenue_report(
            &payments,
            &tzs(),
            day("2026-03-01"),
            day("2026-03-31"),
            PeriodUnit::Day,
            GroupBy::None,
            &none(),
        );
        assert!(matches!(err, Err(CoreError::InvalidInput { field, .. }) if field == "payments[1].lines[1].amount"));
        let err = energy_sold(&payments, None, day("2026-03-01"), day("2026-03-31"), PeriodUnit::Day);
        assert!(matches!(err, Err(CoreError::InvalidInput { field, .. }) if field == "payments[1].lines[0].quantity"));
    }

    #[test]
    fn records_outside_the_window_are_not_read() {
        let payments = [payment("2026-02-28", vec![line(AllocationKind::Energy, dec!(-1), None)])];
        let report = revenue_report(
            &payments,
            &tzs(),
            day("2026-03-01"),
            day("2026-03-31"),
            PeriodUnit::Month,
            GroupBy::Area,
            &none(),
        );
        assert_eq!(report.map(|r| r.rows.len()), Ok(0));
    }

    #[test]
    fn groups_are_named_from_the_registry_or_keep_their_carried_name() {
        use crate::registry::CatchmentArea;
        let mut other = payment("2026-03-02", vec![line(AllocationKind::Eaas, dec!(2), None)]);
        other.location.area_id = "B".into();
        let payments = [payment("2026-03-01", vec![line(AllocationKind::Eaas, dec!(1), None)]), other];
        let names = Hierarchy {
            areas: vec![CatchmentArea { id: "A".into(), name: "Area A".into(), cluster_id: "C".into() }],
            ..Hierarchy::default()
        };
        let (from, to) = (day("2026-03-01"), day("2026-03-31"));
        let report = revenue_report(&payments, &tzs(), from, to, PeriodUnit::Month, GroupBy::Area, &names).unwrap();
        let groups: Vec<_> = report.rows.iter().map(|r| r.group.clone()).collect();
        assert_eq!(
            groups,
            [
                Some(ReportGroup { id: "A".into(), name: Some("Area A".into()) }),
                Some(ReportGroup { id: "B".into(), name: None }),
            ]
        );
        // Continued with an empty registry, the carried name of A stays.
        let more =
            revenue_report_after(Some(&report), &[], &tzs(), from, to, PeriodUnit::Month, GroupBy::Area, &none());
        assert_eq!(more.unwrap().rows, report.rows);
    }

    #[test]
    fn quantities_beyond_the_limit_are_refused() {
        let payments = [payment("2026-03-01", vec![line(AllocationKind::Energy, dec!(1), Some(Decimal::MAX))])];
        let err = energy_sold(&payments, None, day("2026-03-01"), day("2026-03-01"), PeriodUnit::Day);
        assert!(matches!(err, Err(CoreError::InvalidInput { field, .. }) if field == "payments[0].lines[0].quantity"));
    }
}
