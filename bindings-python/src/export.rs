//! The server's export (`GET /v1/export`, JSON Lines) read into core types, and the reports over it.
//!
//! Pure Rust, no Python: the native module only feeds bytes in and hands results out. Each line is one
//! JSON object with a `type`; the lines a report needs become the core's own record types
//! ([`InstallmentRecord`], [`AccessRateRecord`], [`PaymentRecord`]), so every report is one call of the core's report function on
//! the records as they were read. Unknown types are counted and skipped (a newer server may add some).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use micropower_core::api::{
    self, AccessRateRecord, AllocationKind, CatchmentArea, Cluster, CollectionRate, Currency, Customer, DebtAging,
    DeviceKind, EnergyPurchase, EnergySold, GroupBy, GroupedReport, Hierarchy, InstallmentRecord, Location, ParSummary,
    PaymentRecord, PeriodUnit, PortfolioAtRisk, RevenueReport, Tariff, Village,
};
pub use micropower_core::export::{
    ExportDevice, ExportLine, ExportPayment, ExportPlan, ExportToken, Meta, NamedTariff, PaymentDetails, EXPORT_VERSION,
};
use micropower_core::{CoreError, CoreResult};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Everything an export holds, as read.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// The `meta` line, when there was one.
    pub meta: Option<Meta>,
    /// Clusters.
    pub clusters: Vec<Cluster>,
    /// Catchment areas.
    pub areas: Vec<CatchmentArea>,
    /// Villages.
    pub villages: Vec<Village>,
    /// Customers, as the core stores them.
    pub customers: Vec<Customer>,
    /// Tariffs, with their ids and names.
    pub tariffs: Vec<NamedTariff>,
    /// Devices.
    pub devices: Vec<ExportDevice>,
    /// Plans (the plan body stays as the server wrote it).
    pub plans: Vec<ExportPlan>,
    /// Tokens issued.
    pub tokens: Vec<ExportToken>,
    /// Every installment with what has been paid on it: the input of the debt reports.
    pub installments: Vec<InstallmentRecord>,
    /// Every meter's access-rate account as stored: the debt reports accrue it up to their day.
    pub access_rates: Vec<AccessRateRecord>,
    /// Every payment as allocated: the input of the revenue and energy reports.
    pub payments: Vec<PaymentRecord>,
    /// The rest of each payment line, same index as `payments`.
    pub payment_details: Vec<PaymentDetails>,
    /// Lines of a type this reader does not know, by type.
    pub skipped: BTreeMap<String, u64>,
}

/// Only the `type` of a line, read before the whole line.
#[derive(Deserialize)]
struct Tag<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
}

/// Reads an export fed in chunks of any size (a file, an HTTP body), line by line.
#[derive(Debug, Default)]
pub struct ExportReader {
    /// The start of a line whose end has not arrived yet.
    pending: Vec<u8>,
    /// Lines read so far (for error messages: `line 12`).
    lines: u64,
    data: Dataset,
}

fn bad_line(line: u64, reason: impl std::fmt::Display) -> CoreError {
    CoreError::InvalidInput { field: format!("export line {line}"), reason: reason.to_string() }
}

impl ExportReader {
    /// A reader with nothing read yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lines read so far.
    pub fn lines(&self) -> u64 {
        self.lines
    }

    /// Reads every complete line in `chunk` (with what was pending before it); keeps the rest for later.
    pub fn feed(&mut self, chunk: &[u8]) -> CoreResult<()> {
        let Some(last_newline) = chunk.iter().rposition(|&b| b == b'\n') else {
            self.pending.extend_from_slice(chunk);
            return Ok(());
        };
        let (complete, rest) = chunk.split_at(last_newline + 1);
        let mut lines = complete.split(|&b| b == b'\n');
        if !self.pending.is_empty() {
            let mut first = std::mem::take(&mut self.pending);
            first.extend_from_slice(lines.next().unwrap_or_default());
            self.line(&first)?;
        }
        for line in lines {
            self.line(line)?;
        }
        // The split of `complete` ends with an empty piece after its last newline; it counted as no line.
        self.pending.extend_from_slice(rest);
        Ok(())
    }

    /// Reads the last line (if the export does not end with a newline) and returns what was read.
    pub fn finish(mut self) -> CoreResult<Dataset> {
        let last = std::mem::take(&mut self.pending);
        self.line(&last)?;
        Ok(self.data)
    }

    fn line(&mut self, raw: &[u8]) -> CoreResult<()> {
        let text = raw.trim_ascii();
        if text.is_empty() {
            return Ok(());
        }
        self.lines += 1;
        let n = self.lines;
        let tag: Tag = serde_json::from_slice(text).map_err(|e| bad_line(n, e))?;
        let Some(read) = ExportLine::read(&tag.kind, text) else {
            *self.data.skipped.entry(tag.kind.into_owned()).or_default() += 1;
            return Ok(());
        };
        let data = &mut self.data;
        match read.map_err(|e| bad_line(n, e))? {
            ExportLine::Meta(meta) => {
                if meta.version != EXPORT_VERSION {
                    return Err(bad_line(
                        n,
                        format!("export version {} (this reader knows version {EXPORT_VERSION})", meta.version),
                    ));
                }
                data.meta = Some(meta);
            }
            ExportLine::Cluster(c) => data.clusters.push(c),
            ExportLine::Area(a) => data.areas.push(a),
            ExportLine::Village(v) => data.villages.push(v),
            ExportLine::Customer(c) => data.customers.push(c),
            ExportLine::Tariff(t) => data.tariffs.push(t),
            ExportLine::Device(d) => data.devices.push(d),
            ExportLine::Plan(p) => data.plans.push(p),
            ExportLine::Token(t) => data.tokens.push(t),
            ExportLine::Installment(i) => data.installments.push(i),
            ExportLine::AccessRate(a) => data.access_rates.push(a),
            ExportLine::Payment(p) => {
                data.payments.push(p.record);
                data.payment_details.push(p.details);
            }
        }
        Ok(())
    }
}

/// Which records a filtered dataset keeps: all the given fields must match (`None` matches anything).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// The cluster of the record's location.
    pub cluster_id: Option<String>,
    /// The catchment area of the record's location.
    pub area_id: Option<String>,
    /// The village of the record's location.
    pub village_id: Option<String>,
    /// The customer who owes the installment or made the payment.
    pub customer_id: Option<String>,
}

impl Filter {
    fn location(&self, location: Option<&Location>) -> bool {
        let wants = |want: &Option<String>, got: Option<&String>| want.as_ref().is_none_or(|w| got == Some(w));
        wants(&self.cluster_id, location.map(|l| &l.cluster_id))
            && wants(&self.area_id, location.map(|l| &l.area_id))
            && wants(&self.village_id, location.map(|l| &l.village_id))
    }

    fn customer(&self, customer_id: Option<&String>) -> bool {
        self.customer_id.as_ref().is_none_or(|w| customer_id == Some(w))
    }
}

/// One meter payment priced under another tariff: what its energy money bought then and would buy now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TariffSimulation {
    /// The payment.
    pub payment_id: String,
    /// The day it was received.
    pub received_on: NaiveDate,
    /// The meter.
    pub serial: Option<String>,
    /// The paying customer.
    pub customer_id: Option<String>,
    /// The meter's cluster.
    pub cluster_id: String,
    /// The meter's catchment area.
    pub area_id: String,
    /// The meter's village.
    pub village_id: String,
    /// The payment's currency (the tariff's).
    pub currency: Currency,
    /// The money of the payment's energy lines.
    #[serde(with = "micropower_core::wire::dec")]
    pub energy_money: Decimal,
    /// The kWh those lines bought (their quantities).
    #[serde(with = "micropower_core::wire::dec")]
    pub kwh: Decimal,
    /// What `energy_money` buys under the other tariff (the core's `energy_for_money`).
    pub simulated: EnergyPurchase,
}

/// The span of a set of dates: first and last.
pub type Span = Option<(NaiveDate, NaiveDate)>;

fn widen(span: Span, day: NaiveDate) -> Span {
    Some(match span {
        None => (day, day),
        Some((first, last)) => (first.min(day), last.max(day)),
    })
}

impl Dataset {
    /// How many records of each kind were read.
    pub fn counts(&self) -> BTreeMap<&'static str, usize> {
        BTreeMap::from([
            ("clusters", self.clusters.len()),
            ("areas", self.areas.len()),
            ("villages", self.villages.len()),
            ("customers", self.customers.len()),
            ("tariffs", self.tariffs.len()),
            ("devices", self.devices.len()),
            ("plans", self.plans.len()),
            ("tokens", self.tokens.len()),
            ("installments", self.installments.len()),
            ("access_rates", self.access_rates.len()),
            ("payments", self.payments.len()),
        ])
    }

    /// One table as a JSON array, in the order the export had it.
    pub fn table_json(&self, table: &str) -> CoreResult<String> {
        let text = match table {
            "meta" => serde_json::to_string(&self.meta),
            "clusters" => serde_json::to_string(&self.clusters),
            "areas" => serde_json::to_string(&self.areas),
            "villages" => serde_json::to_string(&self.villages),
            "customers" => serde_json::to_string(&self.customers),
            "tariffs" => serde_json::to_string(&self.tariffs),
            "devices" => serde_json::to_string(&self.devices),
            "plans" => serde_json::to_string(&self.plans),
            "tokens" => serde_json::to_string(&self.tokens),
            "installments" => serde_json::to_string(&self.installments),
            "access_rates" => serde_json::to_string(&self.access_rates),
            "payments" => serde_json::to_string(
                &self
                    .payments
                    .iter()
                    .zip(&self.payment_details)
                    .map(|(record, details)| ExportPayment { record: record.clone(), details: details.clone() })
                    .collect::<Vec<_>>(),
            ),
            "skipped" => serde_json::to_string(&self.skipped),
            other => return Err(CoreError::NotFound { entity: "table".into(), id: other.to_owned() }),
        };
        text.map_err(|e| CoreError::InvalidInput { field: table.to_owned(), reason: e.to_string() })
    }

    /// The currencies of the payments and of what is owed (installments and access-rate accounts), each
    /// sorted.
    pub fn currencies(&self) -> (Vec<String>, Vec<String>) {
        // Codes are static strings: one set entry per currency, no allocation per record.
        let codes = |it: &mut dyn Iterator<Item = &'static str>| {
            it.collect::<BTreeSet<_>>().into_iter().map(str::to_owned).collect::<Vec<_>>()
        };
        (
            codes(&mut self.payments.iter().map(|p| p.currency.code())),
            codes(
                &mut self
                    .installments
                    .iter()
                    .map(|i| i.currency.code())
                    .chain(self.access_rates.iter().map(|a| a.currency.code())),
            ),
        )
    }

    /// First and last day a payment in `currency` (any currency when `None`) was received.
    pub fn payment_span(&self, currency: Option<&Currency>) -> Span {
        self.payments
            .iter()
            .filter(|p| currency.is_none_or(|c| p.currency == *c))
            .fold(None, |span, p| widen(span, p.received_on))
    }

    /// First and last due date of the installments in `currency` (any currency when `None`).
    pub fn due_span(&self, currency: Option<&Currency>) -> Span {
        self.installments
            .iter()
            .filter(|i| currency.is_none_or(|c| i.currency == *c))
            .fold(None, |span, i| widen(span, i.due_date))
    }

    /// The records that match `filter` (registry tables are kept whole).
    pub fn filter(&self, filter: &Filter) -> Dataset {
        let installments = self
            .installments
            .iter()
            .filter(|i| filter.location(i.location.as_ref()) && filter.customer(Some(&i.customer_id)))
            .cloned()
            .collect();
        let access_rates = self
            .access_rates
            .iter()
            .filter(|a| filter.location(a.location.as_ref()) && filter.customer(a.customer_id.as_ref()))
            .cloned()
            .collect();
        let (payments, payment_details) = self
            .payments
            .iter()
            .zip(&self.payment_details)
            .filter(|(p, d)| filter.location(Some(&p.location)) && filter.customer(d.customer_id.as_ref()))
            .map(|(p, d)| (p.clone(), d.clone()))
            .unzip();
        Dataset { installments, access_rates, payments, payment_details, ..self.clone_registry() }
    }

    fn clone_registry(&self) -> Dataset {
        Dataset {
            meta: self.meta.clone(),
            clusters: self.clusters.clone(),
            areas: self.areas.clone(),
            villages: self.villages.clone(),
            customers: self.customers.clone(),
            tariffs: self.tariffs.clone(),
            devices: self.devices.clone(),
            plans: self.plans.clone(),
            tokens: self.tokens.clone(),
            skipped: self.skipped.clone(),
            ..Dataset::default()
        }
    }

    /// The export's registry of places, which names the groups of a report split by place.
    fn names(&self) -> Hierarchy {
        Hierarchy { clusters: self.clusters.clone(), areas: self.areas.clone(), villages: self.villages.clone() }
    }

    /// The core's revenue report over the payments.
    pub fn revenue(
        &self,
        currency: &Currency,
        from: NaiveDate,
        to: NaiveDate,
        group_by: PeriodUnit,
        by: GroupBy,
    ) -> CoreResult<RevenueReport> {
        api::revenue_report(&self.payments, currency, from, to, group_by, by, &self.names())
    }

    /// The core's energy-sold report over the payments.
    pub fn energy_sold(
        &self,
        currency: Option<&Currency>,
        from: NaiveDate,
        to: NaiveDate,
        group_by: PeriodUnit,
    ) -> CoreResult<EnergySold> {
        api::energy_sold(&self.payments, currency, from, to, group_by)
    }

    /// The core's debt aging over the installments and the meters' access-rate accounts.
    pub fn debt_aging(&self, currency: &Currency, as_of: NaiveDate) -> CoreResult<DebtAging> {
        api::debt_aging(&self.installments, &self.access_rates, currency, as_of)
    }

    /// The core's PAR N over the installments and the meters' access-rate accounts.
    pub fn portfolio_at_risk(&self, currency: &Currency, as_of: NaiveDate, days: u32) -> CoreResult<PortfolioAtRisk> {
        api::portfolio_at_risk(&self.installments, &self.access_rates, currency, as_of, days)
    }

    /// The core's PAR30/60/90 over the installments and the meters' access-rate accounts.
    pub fn par_30_60_90(&self, currency: &Currency, as_of: NaiveDate) -> CoreResult<ParSummary> {
        api::par_30_60_90(&self.installments, &self.access_rates, currency, as_of)
    }

    /// The core's collection rate over the installments.
    pub fn collection_rate(&self, currency: &Currency, from: NaiveDate, to: NaiveDate) -> CoreResult<CollectionRate> {
        api::collection_rate(&self.installments, currency, from, to)
    }

    /// [`Dataset::debt_aging`], and split `by` a place each place's, named from the export's registry.
    pub fn debt_aging_by(
        &self,
        currency: &Currency,
        as_of: NaiveDate,
        by: GroupBy,
    ) -> CoreResult<GroupedReport<DebtAging>> {
        api::debt_aging_by(&self.installments, &self.access_rates, currency, as_of, by, &self.names())
    }

    /// [`Dataset::portfolio_at_risk`], and split `by` a place each place's.
    pub fn portfolio_at_risk_by(
        &self,
        currency: &Currency,
        as_of: NaiveDate,
        days: u32,
        by: GroupBy,
    ) -> CoreResult<GroupedReport<PortfolioAtRisk>> {
        api::portfolio_at_risk_by(&self.installments, &self.access_rates, currency, as_of, days, by, &self.names())
    }

    /// [`Dataset::par_30_60_90`], and split `by` a place each place's.
    pub fn par_30_60_90_by(
        &self,
        currency: &Currency,
        as_of: NaiveDate,
        by: GroupBy,
    ) -> CoreResult<GroupedReport<ParSummary>> {
        api::par_30_60_90_by(&self.installments, &self.access_rates, currency, as_of, by, &self.names())
    }

    /// [`Dataset::collection_rate`], and split `by` a place each place's.
    pub fn collection_rate_by(
        &self,
        currency: &Currency,
        from: NaiveDate,
        to: NaiveDate,
        by: GroupBy,
    ) -> CoreResult<GroupedReport<CollectionRate>> {
        api::collection_rate_by(&self.installments, currency, from, to, by, &self.names())
    }

    /// Every meter payment in the tariff's currency that bought energy, with what its energy money buys
    /// under `tariff` (the core's `energy_for_money` on the sum of its energy lines).
    pub fn simulate_tariff(&self, tariff: &Tariff) -> CoreResult<Vec<TariffSimulation>> {
        // Refuses a bad tariff even when no payment would reach it.
        api::unit_price(tariff)?;
        let mut rows = Vec::new();
        for (payment, details) in self.payments.iter().zip(&self.payment_details) {
            if payment.device_kind != Some(DeviceKind::Meter) || payment.currency != tariff.currency {
                continue;
            }
            let energy: Vec<_> = payment.lines.iter().filter(|l| l.kind == AllocationKind::Energy).collect();
            if energy.is_empty() {
                continue;
            }
            let (mut money, mut kwh) = (Decimal::ZERO, Decimal::ZERO);
            for line in energy {
                money = add(money, line.amount)?;
                kwh = add(kwh, line.quantity.unwrap_or_default())?;
            }
            rows.push(TariffSimulation {
                payment_id: payment.payment_id.clone(),
                received_on: payment.received_on,
                serial: details.serial.clone(),
                customer_id: details.customer_id.clone(),
                cluster_id: payment.location.cluster_id.clone(),
                area_id: payment.location.area_id.clone(),
                village_id: payment.location.village_id.clone(),
                currency: payment.currency,
                energy_money: money.normalize(),
                kwh: kwh.normalize(),
                simulated: api::energy_for_money(tariff, money)?,
            });
        }
        Ok(rows)
    }
}

fn add(a: Decimal, b: Decimal) -> CoreResult<Decimal> {
    a.checked_add(b).ok_or_else(|| CoreError::InvalidInput { field: "amount".into(), reason: "sum overflows".into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPORT: &str = concat!(
        r#"{"type":"meta","version":1,"exported_at":"2026-07-01T00:00:00Z"}"#,
        "\n",
        r#"{"type":"cluster","id":"C1","name":"North"}"#,
        "\n",
        r#"{"type":"area","id":"A1","name":"Lake","cluster_id":"C1"}"#,
        "\n",
        r#"{"type":"village","id":"V1","name":"Kijiji","area_id":"A1"}"#,
        "\n",
        r#"{"type":"tariff","id":"T1","name":"Std","currency":"TZS","price_per_kwh":"500"}"#,
        "\n",
        r#"{"type":"future_thing","x":1}"#,
        "\n\n",
        r#"{"type":"installment","plan_id":"P1","customer_id":"K1","currency":"TZS","number":1,"due_date":"2026-05-01","amount":"1000","paid":"0","location":{"cluster_id":"C1","area_id":"A1","village_id":"V1"}}"#,
        "\n",
        r#"{"type":"access_rate","serial":"MTR1","customer_id":"K1","currency":"TZS","location":{"cluster_id":"C1","area_id":"A1","village_id":"V1"},"registered_on":"2026-06-01","rate":{"amount":"300","period_days":7},"state":{"accrued_periods":0,"debt":"0"}}"#,
        "\n",
        r#"{"type":"payment","payment_id":"pay1","received_on":"2026-06-01","currency":"TZS","device_kind":"meter","location":{"cluster_id":"C1","area_id":"A1","village_id":"V1"},"lines":[{"kind":"energy","amount":"1000","quantity":"2"}],"serial":"MTR1","amount":"1000","customer_id":"K1","status":"completed"}"#,
    );

    fn tzs() -> Currency {
        Currency::parse("TZS").unwrap()
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn read_in_chunks(size: usize) -> Dataset {
        let mut reader = ExportReader::new();
        for chunk in EXPORT.as_bytes().chunks(size) {
            reader.feed(chunk).unwrap();
        }
        reader.finish().unwrap()
    }

    #[test]
    fn any_chunking_reads_the_same_records() {
        let whole = read_in_chunks(EXPORT.len());
        for size in [1, 2, 7, 64, 100] {
            let data = read_in_chunks(size);
            assert_eq!(data.payments, whole.payments);
            assert_eq!(data.installments, whole.installments);
            assert_eq!(data.tariffs, whole.tariffs);
        }
        assert_eq!(whole.counts()["payments"], 1);
        assert_eq!(whole.counts()["installments"], 1);
        assert_eq!(whole.skipped.get("future_thing"), Some(&1));
        assert_eq!(whole.payment_details[0].serial.as_deref(), Some("MTR1"));
        assert_eq!(whole.tariffs[0].name.as_deref(), Some("Std"));
    }

    #[test]
    fn a_bad_line_is_named() {
        let mut reader = ExportReader::new();
        reader.feed(b"{\"type\":\"cluster\",\"id\":\"C1\",\"name\":\"N\"}\n{\"type\":\"payment\"}\n").unwrap_err();
        let err = ExportReader::new().feed(b"not json\n").unwrap_err();
        assert!(matches!(err, CoreError::InvalidInput { field, .. } if field == "export line 1"));
        let mut reader = ExportReader::new();
        reader.feed(b"{\"type\":\"meta\",\"version\":2}").unwrap();
        assert!(reader.finish().is_err());
    }

    #[test]
    fn reports_are_the_cores_on_the_records() {
        let data = read_in_chunks(13);
        let aging = data.debt_aging(&tzs(), day("2026-06-30")).unwrap();
        assert_eq!(aging, api::debt_aging(&data.installments, &data.access_rates, &tzs(), day("2026-06-30")).unwrap());
        assert_eq!(aging.days_31_60.amount, Decimal::from(1000));
        // MTR1's four weekly fees since 06-01, owed though no payment accrued them.
        assert_eq!((aging.access_rate.amount, aging.access_rate.meters), (Decimal::from(1200), 1));
        assert_eq!(aging.outstanding, Decimal::from(2200));
        let revenue =
            data.revenue(&tzs(), day("2026-06-01"), day("2026-06-30"), PeriodUnit::Month, GroupBy::Area).unwrap();
        assert_eq!(revenue.total, Decimal::from(1000));
        assert_eq!(data.payment_span(None), Some((day("2026-06-01"), day("2026-06-01"))));
        assert_eq!(data.due_span(Some(&tzs())), Some((day("2026-05-01"), day("2026-05-01"))));
    }

    #[test]
    fn filters_keep_matching_records() {
        let data = read_in_chunks(50);
        let area = |id: &str| Filter { area_id: Some(id.into()), ..Filter::default() };
        assert_eq!(data.filter(&area("A1")).payments.len(), 1);
        assert_eq!(data.filter(&area("A2")).installments.len(), 0);
        let customer = Filter { customer_id: Some("K1".into()), ..Filter::default() };
        assert_eq!(data.filter(&customer).installments.len(), 1);
        assert_eq!(data.filter(&customer).access_rates.len(), 1);
        assert_eq!(data.filter(&area("A2")).access_rates.len(), 0);
        assert_eq!(data.filter(&area("A2")).clusters.len(), 1);
    }

    #[test]
    fn tariff_simulation_prices_the_energy_money() {
        let data = read_in_chunks(EXPORT.len());
        let mut tariff = data.tariffs[0].tariff.clone();
        tariff.price_per_kwh = Decimal::from(300);
        let rows = data.simulate_tariff(&tariff).unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].energy_money, Decimal::from(1000));
        assert_eq!(rows[0].kwh, Decimal::from(2));
        assert_eq!(rows[0].simulated, api::energy_for_money(&tariff, Decimal::from(1000)).unwrap());
        tariff.price_per_kwh = Decimal::ZERO;
        assert!(data.simulate_tariff(&tariff).is_err());
    }

    #[test]
    fn tables_come_back_as_json() {
        let data = read_in_chunks(EXPORT.len());
        let payments: serde_json::Value = serde_json::from_str(&data.table_json("payments").unwrap()).unwrap();
        assert_eq!(payments[0]["serial"], "MTR1");
        assert_eq!(payments[0]["lines"][0]["amount"], "1000");
        assert!(data.table_json("nope").is_err());
    }
}
