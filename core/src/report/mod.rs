//! Reports (domain.md §7): revenue, energy sold, debt aging, portfolio at risk and collection rate, as pure
//! functions over flat records, so the browser dashboard, the Python analyst working on the server's export
//! and the server itself show the same numbers for the same records.
//!
//! The rules every report follows:
//!
//! - **One currency per report.** Every money report takes the `currency` to report in and counts only the
//!   records in that currency; records in other currencies are left out, never converted or added in. An
//!   operator who sells in two currencies asks for two reports. [`energy_sold`] alone may be asked without a
//!   currency: kWh are the same in every currency, so it then counts every payment's energy and reports no
//!   money at all.
//! - **Revenue is what the money paid for.** A payment counts as the sum of its allocation lines
//!   (installment, access rate, energy, EaaS). Money that went to the customer's credit balance is not revenue
//!   yet: it shows up in the line of the later payment that spends it, so every shilling is counted once,
//!   on the day it bought something.
//! - **Periods.** A day is a calendar day; a week starts on Monday (ISO 8601); a month starts on the 1st.
//!   A period is named by its first day (`period_start`), even when the report's window starts later.
//!   Windows are inclusive: a record dated `from` or `to` counts.
//! - **Only what happened gets a row.** A period (or group) in which nothing was sold has no row: the caller
//!   fills the gaps it wants to draw, and a window of centuries cannot make the output explode.
//! - **Groups speak names.** A report split by cluster, area or village names each group `{id, name}`: the
//!   id the records carry and the name the registry given to the report (`names`, a [`Hierarchy`]) holds for
//!   it. A group whose id the registry does not know (a place deleted since, or no registry given) keeps its
//!   id and a `null` name, so nothing is dropped or guessed; a device kind (`by: kind`) is its own name and
//!   its `name` is `null` too. Readers show `name`, else `id`.
//! - **Debt reports split by place too.** Debt aging, PAR and collection rate take the same `by` (cluster,
//!   area or village; not kind, which an installment does not carry) and then answer their whole-portfolio
//!   numbers plus `groups`: the same report over each group's records alone, ordered by id. Records without
//!   a location fall in the group [`NO_LOCATION_GROUP`]. Every group is computed by the ungrouped rule, so
//!   the groups' amounts add up to the whole.
//! - **Ratios** (PAR, collection rate) are decimals between 0 and 1 (0.25 is 25 %), rounded half-up to
//!   [`RATIO_DECIMALS`] places. No floating point anywhere.
//! - **Installment records are what the host exported**: `paid` is what has been paid so far. A `paid`
//!   above the installment's `amount` counts as fully paid (the excess went to credit, not to other debt);
//!   a negative `paid` or `amount`, or one above 10^18, is refused.
//! - **Access-rate debt is owed from the day each fee falls due**, whether or not a payment has touched the
//!   meter since: the host stores a meter's account as of its last accrual ([`AccessRateRecord`]), and the
//!   debt reports accrue it up to their own day with the core's pure accrual
//!   ([`crate::access_rate::accrue`]; nothing is written back). Debt aging shows it as a line of its own,
//!   and it counts in what is outstanding and, for PAR, as one exposure per meter.
//! - **Validation covers what is counted.** A record in another currency or outside the window is skipped
//!   without being read further; a record that is counted and holds an impossible number is an
//!   `InvalidInput` error naming it by position (`installments[3].paid`), never a silently wrong total.

mod debt;
mod revenue;

use chrono::{Datelike, Days, NaiveDate};
use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

use crate::access_rate::AccessRateState;
use crate::allocation::AllocationLine;
use crate::error::{CoreError, CoreResult};
use crate::money::Currency;
use crate::num;
use crate::registry::{DeviceKind, Hierarchy, Location};
use crate::tariff::AccessRate;
use crate::MAX_AMOUNT;

pub use debt::{
    collection_rate, collection_rate_by, debt_aging, debt_aging_by, par_30_60_90, par_30_60_90_by, portfolio_at_risk,
    portfolio_at_risk_by, AccessRateDebt, AgingBucket, CollectionRate, DebtAging, ParSummary, PortfolioAtRisk,
};
pub(crate) use debt::{
    collection_rate_by_after, debt_aging_by_after, par_30_60_90_by_after, portfolio_at_risk_by_after,
};
pub use revenue::{energy_sold, revenue_report, EnergyRow, EnergySold, KindAmounts, RevenueReport, RevenueRow};
pub(crate) use revenue::{energy_sold_after, revenue_report_after};

/// The group of `by: kind` for payments without a device: appliances sold on a plan of their own (a TV).
pub const NO_DEVICE_GROUP: &str = "appliance";

/// The group of a debt report split by place for records that carry no location.
pub const NO_LOCATION_GROUP: &str = "unlocated";

/// One group of a report split by place or device kind: the id the records carry and the registry's name
/// for it (`null` when the registry given to the report does not know the id, and for device kinds).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ReportGroup {
    /// The cluster, area or village id, or the device kind.
    pub id: String,
    /// The place's name in the registry; `null` when unknown.
    #[serde(default)]
    pub name: Option<String>,
}

/// A debt report of one group's records alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grouped<T> {
    /// Which group.
    pub group: ReportGroup,
    /// The report over the group's records, in the ungrouped report's shape.
    #[serde(flatten)]
    pub report: T,
}

/// A debt report over the whole portfolio and, when split `by` a place, over each group. Ungrouped, the wire
/// shape is exactly the whole report's (no `groups` key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
// `groups` defaults to an empty list, which needs no `T: Default` (serde would ask for one).
#[serde(bound(deserialize = "T: Deserialize<'de>"))]
pub struct GroupedReport<T> {
    /// The report over every record.
    #[serde(flatten)]
    pub total: T,
    /// One entry per group that has records in the report's currency, ordered by id; empty (and absent on
    /// the wire) when not grouped.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<Grouped<T>>,
}

/// Decimal places of every ratio the reports return (PAR, collection rate), rounded half-up.
pub const RATIO_DECIMALS: u32 = 4;

/// One payment as it was allocated: when it came in, for which kind of device where, and what it paid for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentRecord {
    /// The host's id of the payment; reports do not read it, it lets a row be traced back.
    pub payment_id: String,
    /// The day the money was received, in the operator's time zone.
    pub received_on: NaiveDate,
    /// The payment's currency; every line is in it.
    pub currency: Currency,
    /// The kind of device whose serial the payment carried; absent for a payment to a plan sold without a
    /// device (paid by its plan id, or its down payment), which `by: kind` groups as [`NO_DEVICE_GROUP`].
    #[serde(default)]
    pub device_kind: Option<DeviceKind>,
    /// Where that device sits: village → area → cluster.
    pub location: Location,
    /// What the money paid for (the allocation's lines); the energy line's `quantity` is its kWh.
    #[serde(default)]
    pub lines: Vec<AllocationLine>,
}

/// One installment of a plan, with what has been paid on it so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstallmentRecord {
    /// The plan the installment belongs to; PAR treats all records with one `plan_id` as one plan.
    pub plan_id: String,
    /// The customer who owes it.
    pub customer_id: String,
    /// The plan's currency.
    pub currency: Currency,
    /// Where the customer lives, when the export carries it.
    #[serde(default)]
    pub location: Option<Location>,
    /// 1-based; 0 is the down payment.
    pub number: u32,
    /// The day it falls due; it is overdue from the next day on.
    pub due_date: NaiveDate,
    /// What the installment costs.
    #[serde(with = "crate::wire::dec")]
    pub amount: Decimal,
    /// What has been paid on it so far; above `amount` counts as `amount`.
    #[serde(with = "crate::wire::dec", default)]
    pub paid: Decimal,
}

/// A meter's access-rate account as the host stores it: the state as of its last accrual (a payment
/// accrues and pays it). The debt reports bring it up to their own day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessRateRecord {
    /// The meter; reports do not read it, it lets a line be traced back.
    pub serial: String,
    /// The customer who owes it, when the meter has an owner.
    #[serde(default)]
    pub customer_id: Option<String>,
    /// The tariff's currency.
    pub currency: Currency,
    /// Where the customer lives, when the export carries it.
    #[serde(default)]
    pub location: Option<Location>,
    /// The meter's registration day: the first fee falls due one period later.
    pub registered_on: NaiveDate,
    /// The tariff's access rate.
    pub rate: AccessRate,
    /// The account as stored: periods charged so far and what of them is unpaid.
    #[serde(default)]
    pub state: AccessRateState,
}

/// The length of a report's periods. On the wire: `"day"`, `"week"`, `"month"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeriodUnit {
    /// Calendar days.
    Day,
    /// ISO weeks, Monday to Sunday.
    Week,
    /// Calendar months, from the 1st.
    Month,
}

impl PeriodUnit {
    /// The first day of the period that holds `date`: the date itself, the Monday on or before it, or the
    /// 1st of its month.
    pub fn start_of(self, date: NaiveDate) -> CoreResult<NaiveDate> {
        let start = match self {
            PeriodUnit::Day => Some(date),
            PeriodUnit::Week => date.checked_sub_days(Days::new(u64::from(date.weekday().num_days_from_monday()))),
            PeriodUnit::Month => date.with_day(1),
        };
        // Only the week of the calendar's very first days can start before the calendar does.
        start.ok_or_else(|| CoreError::DateOutOfRange {
            reason: format!("the week of {date} starts before the calendar"),
        })
    }
}

/// What a revenue report splits each period by. On the wire: `"cluster"`, `"area"`, `"village"`, `"kind"`,
/// `"none"`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupBy {
    /// By the cluster of the paying device.
    Cluster,
    /// By the catchment area (MPM's mini-grid) of the paying device.
    Area,
    /// By the village of the paying device.
    Village,
    /// By the device kind (`meter`, `solar_home_system`, `e_bike`; `appliance` without a device).
    Kind,
    /// One row per period.
    #[default]
    None,
}

impl GroupBy {
    /// The group a payment falls in, as the text the report shows (`None` when not grouping).
    fn key(self, payment: &PaymentRecord) -> Option<&str> {
        match self {
            GroupBy::Cluster => Some(payment.location.cluster_id.as_str()),
            GroupBy::Area => Some(payment.location.area_id.as_str()),
            GroupBy::Village => Some(payment.location.village_id.as_str()),
            GroupBy::Kind => Some(payment.device_kind.as_ref().map_or(NO_DEVICE_GROUP, DeviceKind::as_str)),
            GroupBy::None => None,
        }
    }
}

impl GroupBy {
    /// The place group of a record's location (`None` when not grouping, or grouping by kind).
    fn place(self, location: Option<&Location>) -> Option<&str> {
        match (self, location) {
            (GroupBy::Cluster, Some(l)) => Some(l.cluster_id.as_str()),
            (GroupBy::Area, Some(l)) => Some(l.area_id.as_str()),
            (GroupBy::Village, Some(l)) => Some(l.village_id.as_str()),
            (GroupBy::Cluster | GroupBy::Area | GroupBy::Village, None) => Some(NO_LOCATION_GROUP),
            (GroupBy::Kind | GroupBy::None, _) => None,
        }
    }

    /// The registry's name of the group `id` at this level; `None` for kinds and unknown ids.
    fn name_in(self, names: &Hierarchy, id: &str) -> Option<String> {
        let name = match self {
            GroupBy::Cluster => names.clusters.iter().find(|c| c.id == id).map(|c| &c.name),
            GroupBy::Area => names.areas.iter().find(|a| a.id == id).map(|a| &a.name),
            GroupBy::Village => names.villages.iter().find(|v| v.id == id).map(|v| &v.name),
            GroupBy::Kind | GroupBy::None => None,
        };
        name.cloned()
    }

    /// The group `id` as a report shows it, its name from `names` (else `carried`, the name an earlier page
    /// gave it).
    fn group(self, names: &Hierarchy, id: &str, carried: Option<&str>) -> ReportGroup {
        ReportGroup { id: id.to_owned(), name: self.name_in(names, id).or_else(|| carried.map(str::to_owned)) }
    }

    /// Refuses a grouping debt reports cannot make: installments and meters carry no device kind.
    fn check_place(self) -> CoreResult<()> {
        if self == GroupBy::Kind {
            return Err(CoreError::invalid("by", "debt reports group by cluster, area or village, not by kind"));
        }
        Ok(())
    }
}

/// Refuses a window that ends before it starts.
fn check_window(from: NaiveDate, to: NaiveDate) -> CoreResult<()> {
    if from > to {
        return Err(CoreError::invalid("to", format!("{to} is before from ({from})")));
    }
    Ok(())
}

/// Refuses an amount outside 0..=10^18, naming the record. The check is two comparisons; the field name is
/// only formatted when the record is bad, so the hot loops stay free of allocation.
fn check_amount(value: Decimal, field: impl FnOnce() -> String) -> CoreResult<()> {
    if value < Decimal::ZERO || value > MAX_AMOUNT {
        return num::check_range(&field(), value, false);
    }
    Ok(())
}

/// `part / whole` rounded half-up to [`RATIO_DECIMALS`]; the caller decides what an empty `whole` means.
fn ratio(part: Decimal, whole: Decimal) -> CoreResult<Decimal> {
    Ok(num::div(part, whole)?
        .round_dp_with_strategy(RATIO_DECIMALS, RoundingStrategy::MidpointAwayFromZero)
        .normalize())
}

/// Days from `due` to `as_of`: positive when overdue, 0 on the due date, negative before. Day numbers rather
/// than durations, so no date pair can overflow.
fn days_overdue(due: NaiveDate, as_of: NaiveDate) -> i64 {
    i64::from(as_of.num_days_from_ce()) - i64::from(due.num_days_from_ce())
}

/// What is still owed on an installment record (paid above amount counts as amount), after checking both.
fn remaining(index: usize, record: &InstallmentRecord) -> CoreResult<Decimal> {
    check_amount(record.amount, || format!("installments[{index}].amount"))?;
    check_amount(record.paid, || format!("installments[{index}].paid"))?;
    num::sub(record.amount, record.paid.min(record.amount))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn weeks_start_on_monday_and_months_on_the_first() {
        // 2026-03-01 is a Sunday.
        assert_eq!(PeriodUnit::Week.start_of(d("2026-03-01")), Ok(d("2026-02-23")));
        assert_eq!(PeriodUnit::Week.start_of(d("2026-03-02")), Ok(d("2026-03-02")));
        assert_eq!(PeriodUnit::Month.start_of(d("2026-02-28")), Ok(d("2026-02-01")));
        assert_eq!(PeriodUnit::Day.start_of(d("2026-02-28")), Ok(d("2026-02-28")));
    }

    #[test]
    fn the_calendars_first_week_does_not_panic() {
        let _ = PeriodUnit::Week.start_of(NaiveDate::MIN);
        assert!(PeriodUnit::Month.start_of(NaiveDate::MIN).is_ok());
    }

    #[test]
    fn ratios_round_half_up_to_four_places() {
        assert_eq!(ratio(Decimal::ONE, Decimal::from(3)), Ok(Decimal::new(3333, 4)));
        assert_eq!(ratio(Decimal::ONE, Decimal::from(8)), Ok(Decimal::new(1250, 4)));
        assert_eq!(ratio(Decimal::from(5), Decimal::from(6)), Ok(Decimal::new(8333, 4)));
        assert_eq!(ratio(Decimal::ONE, Decimal::from(20_000)), Ok(Decimal::new(1, 4)));
        assert!(ratio(Decimal::ONE, Decimal::ZERO).is_err());
    }

    #[test]
    fn extreme_dates_give_day_counts_not_panics() {
        assert!(days_overdue(NaiveDate::MIN, NaiveDate::MAX) > 0);
        assert!(days_overdue(NaiveDate::MAX, NaiveDate::MIN) < 0);
    }
}
