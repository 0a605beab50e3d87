//! The server's export (`GET /v1/export`): JSON Lines, one [`ExportLine`] per line, each an object with a
//! `type`. The server writes these types and the Python package reads them, so the two cannot drift.
//!
//! Readers stay tolerant: the optional fields are optional so that an export of an older server still
//! reads, and a line of a type a reader does not know is for it to skip ([`ExportLine::read`] says which).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::money::Currency;
use crate::registry::{CatchmentArea, Cluster, Customer, DeviceKind, Location, Village};
use crate::report::{AccessRateRecord, InstallmentRecord, PaymentRecord};
use crate::tariff::Tariff;

/// The export format's version (`{"type": "meta", "version": 1}`).
pub const EXPORT_VERSION: u64 = 1;

/// The export's first line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Meta {
    /// The format version.
    pub version: u64,
    /// When the server wrote the export (RFC 3339).
    #[serde(default)]
    pub exported_at: Option<String>,
}

/// A tariff line: the core's tariff plus the server's id and name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NamedTariff {
    /// The server's name for the tariff.
    #[serde(default)]
    pub name: Option<String>,
    /// The tariff (its `id` is the server's).
    #[serde(flatten)]
    pub tariff: Tariff,
}

/// A device line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportDevice {
    /// Canonical serial.
    pub serial: String,
    /// Meter, SHS or e-bike.
    pub kind: DeviceKind,
    /// The owner.
    #[serde(default)]
    pub customer_id: Option<String>,
    /// A meter's tariff.
    #[serde(default)]
    pub tariff_id: Option<String>,
    /// The plan the device was sold on.
    #[serde(default)]
    pub plan_id: Option<String>,
    /// Registration day.
    #[serde(default)]
    pub registered_on: Option<NaiveDate>,
    /// Village → area → cluster.
    #[serde(default)]
    pub location: Option<Location>,
}

/// A plan line; `body` is the plan as the server stores it (installments or EaaS terms).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportPlan {
    /// The plan's id.
    pub id: String,
    /// `installments` or `eaas`.
    pub kind: String,
    /// What was sold.
    #[serde(default)]
    pub appliance: Option<String>,
    /// The customer.
    #[serde(default)]
    pub customer_id: Option<String>,
    /// The device sold with it, if any.
    #[serde(default)]
    pub serial: Option<String>,
    /// The plan's currency.
    pub currency: Currency,
    /// The plan itself.
    #[serde(default)]
    pub body: Value,
}

/// A token line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportToken {
    /// The token's id.
    pub id: String,
    /// The device.
    pub serial: String,
    /// The payment that bought it (none for operator tokens).
    #[serde(default)]
    pub payment_id: Option<String>,
    /// `energy`, `add_time`, `set_time`, `unlock`, `counter_sync`.
    pub kind: String,
    /// `kwh`, `days`, or none.
    #[serde(default)]
    pub unit: Option<String>,
    /// kWh or days.
    #[serde(with = "crate::wire::dec_opt", default)]
    pub quantity: Option<Decimal>,
    /// What the customer types.
    #[serde(default)]
    pub code: Option<String>,
    /// The OpenPAYGO count.
    #[serde(default)]
    pub count: Option<u32>,
    /// The server's token status.
    #[serde(default)]
    pub status: Option<String>,
    /// When it was made (RFC 3339).
    #[serde(default)]
    pub created_at: Option<String>,
}

/// What a payment line carries beyond the core's [`PaymentRecord`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentDetails {
    /// The serial the payment carried.
    #[serde(default)]
    pub serial: Option<String>,
    /// What was paid.
    #[serde(with = "crate::wire::dec_opt", default)]
    pub amount: Option<Decimal>,
    /// The plan the payment named, when it named one (by its id, or a plan sold without a device).
    #[serde(default)]
    pub plan_id: Option<String>,
    /// The payment provider.
    #[serde(default)]
    pub provider: Option<String>,
    /// The provider's transaction id.
    #[serde(default)]
    pub provider_tx_id: Option<String>,
    /// When the money arrived (RFC 3339).
    #[serde(default)]
    pub received_at: Option<String>,
    /// The paying customer.
    #[serde(default)]
    pub customer_id: Option<String>,
    /// The server's payment status.
    #[serde(default)]
    pub status: Option<String>,
    /// Money that went to the credit balance.
    #[serde(with = "crate::wire::dec_opt", default)]
    pub credit_added: Option<Decimal>,
    /// Credit spent by this payment.
    #[serde(with = "crate::wire::dec_opt", default)]
    pub credit_used: Option<Decimal>,
}

/// A payment line: the core's record for the reports and the rest of what the server knows of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExportPayment {
    /// What the reports read.
    #[serde(flatten)]
    pub record: PaymentRecord,
    /// The rest.
    #[serde(flatten)]
    pub details: PaymentDetails,
}

/// One line of the export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ExportLine {
    /// The first line: the format's version.
    Meta(Meta),
    /// A cluster of the registry.
    Cluster(Cluster),
    /// A catchment area.
    Area(CatchmentArea),
    /// A village.
    Village(Village),
    /// A customer as the core stores them.
    Customer(Customer),
    /// A tariff with the server's id and name.
    Tariff(NamedTariff),
    /// A device and where it sits.
    Device(ExportDevice),
    /// A plan as the server stores it.
    Plan(ExportPlan),
    /// An installment with what has been paid on it: the debt reports' input.
    Installment(InstallmentRecord),
    /// A meter's access-rate account as stored: the debt reports accrue it up to their day.
    AccessRate(AccessRateRecord),
    /// A payment as allocated: the revenue and energy reports' input.
    Payment(ExportPayment),
    /// A token issued.
    Token(ExportToken),
}

impl ExportLine {
    /// Every `type` this version writes, in the order the server writes them.
    pub const TYPES: [&'static str; 12] = [
        "meta",
        "cluster",
        "area",
        "village",
        "customer",
        "tariff",
        "device",
        "plan",
        "installment",
        "access_rate",
        "payment",
        "token",
    ];

    /// Reads one line whose `type` is `kind` straight into its variant (without buffering the line first, as
    /// reading the tagged enum would); `None` for a type this version does not know.
    pub fn read(kind: &str, line: &[u8]) -> Option<Result<Self, serde_json::Error>> {
        fn read<'a, T: Deserialize<'a>>(
            line: &'a [u8],
            into: fn(T) -> ExportLine,
        ) -> Result<ExportLine, serde_json::Error> {
            serde_json::from_slice(line).map(into)
        }
        Some(match kind {
            "meta" => read(line, Self::Meta),
            "cluster" => read(line, Self::Cluster),
            "area" => read(line, Self::Area),
            "village" => read(line, Self::Village),
            "customer" => read(line, Self::Customer),
            "tariff" => read(line, Self::Tariff),
            "device" => read(line, Self::Device),
            "plan" => read(line, Self::Plan),
            "installment" => read(line, Self::Installment),
            "access_rate" => read(line, Self::AccessRate),
            "payment" => read(line, Self::Payment),
            "token" => read(line, Self::Token),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

    use super::*;

    /// Each written line reads back, by its own `type`, as what was written; every type is in `TYPES`.
    #[test]
    fn every_line_reads_back_by_its_type() {
        let location = Location { cluster_id: "c".into(), area_id: "a".into(), village_id: "v".into() };
        let lines = vec![
            ExportLine::Meta(Meta { version: EXPORT_VERSION, exported_at: Some("2026-12-06T10:00:00Z".into()) }),
            ExportLine::Cluster(Cluster { id: "c".into(), name: "North".into() }),
            ExportLine::Area(CatchmentArea { id: "a".into(), name: "Hills".into(), cluster_id: "c".into() }),
            ExportLine::Village(Village { id: "v".into(), name: "Mto".into(), area_id: "a".into() }),
            ExportLine::Device(ExportDevice {
                serial: "SM1".into(),
                kind: DeviceKind::Meter,
                customer_id: Some("k".into()),
                tariff_id: Some("t".into()),
                plan_id: None,
                registered_on: NaiveDate::from_ymd_opt(2026, 1, 1),
                location: Some(location.clone()),
            }),
            ExportLine::Payment(ExportPayment {
                record: PaymentRecord {
                    payment_id: "p".into(),
                    received_on: NaiveDate::from_ymd_opt(2026, 1, 2).unwrap(),
                    currency: Currency::parse("TZS").unwrap(),
                    device_kind: Some(DeviceKind::Meter),
                    location,
                    lines: Vec::new(),
                },
                details: PaymentDetails {
                    serial: Some("SM1".into()),
                    amount: Some(Decimal::new(1100, 0)),
                    credit_added: Some(Decimal::ZERO),
                    ..PaymentDetails::default()
                },
            }),
            ExportLine::Token(ExportToken {
                id: "x".into(),
                serial: "SM1".into(),
                payment_id: Some("p".into()),
                kind: "energy".into(),
                unit: Some("kwh".into()),
                quantity: Some(Decimal::new(15, 1)),
                code: Some("123 456 789".into()),
                count: Some(3),
                status: Some("issued".into()),
                created_at: None,
            }),
        ];
        for line in lines {
            let text = serde_json::to_string(&line).unwrap();
            let kind = serde_json::from_str::<Value>(&text).unwrap()["type"].as_str().unwrap().to_owned();
            assert!(ExportLine::TYPES.contains(&kind.as_str()), "{kind}");
            assert_eq!(ExportLine::read(&kind, text.as_bytes()).unwrap().unwrap(), line, "{text}");
            assert_eq!(serde_json::from_str::<ExportLine>(&text).unwrap(), line, "{text}");
        }
        assert!(ExportLine::read("agent", b"{}").is_none());
    }
}
