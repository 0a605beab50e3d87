//! The flat records the core's reports read (`report::PaymentRecord`, `report::InstallmentRecord`), built
//! from the database. The export writes the same records, so an analyst's reports equal the server's.

use std::collections::HashMap;

use chrono::NaiveDate;
use micropower_core::api::{AccessRateState, DeviceKind, InstallmentPlan, Location, Tariff};
use rust_decimal::Decimal;
use serde_json::{json, Value};
use sqlx::AnyPool;

use crate::error::{ApiError, ApiResult};
use crate::payments::{LineKind, PaymentStatus};
use crate::repo::StoredAccess;
use crate::storage::column::Text;

/// A customer's place.
#[derive(sqlx::FromRow)]
struct CustomerLocation {
    customer_id: String,
    village_id: String,
    area_id: String,
    cluster_id: String,
}

/// Every customer's location (village → area → cluster).
pub async fn customer_locations(pool: &AnyPool) -> ApiResult<HashMap<String, Location>> {
    let rows: Vec<CustomerLocation> = sqlx::query_as(
        "SELECT c.id AS customer_id, v.id AS village_id, a.id AS area_id, a.cluster_id AS cluster_id \
         FROM customers c JOIN villages v ON v.id = c.village_id JOIN areas a ON a.id = v.area_id",
    )
    .fetch_all(pool)
    .await?;
    let places = rows
        .into_iter()
        .map(|r| (r.customer_id, Location { cluster_id: r.cluster_id, area_id: r.area_id, village_id: r.village_id }));
    Ok(places.collect())
}

/// A row of a payment's journal.
#[derive(sqlx::FromRow)]
struct JournalRow {
    payment_id: String,
    #[sqlx(try_from = "Text<LineKind>")]
    kind: LineKind,
    #[sqlx(try_from = "Text<Decimal>")]
    amount: Decimal,
    plan_id: Option<String>,
    installment: Option<i64>,
    #[sqlx(try_from = "Text<Option<Decimal>>")]
    quantity: Option<Decimal>,
}

/// An applied payment with its device's kind.
#[derive(sqlx::FromRow)]
struct PaymentRow {
    id: String,
    provider: String,
    provider_tx_id: String,
    serial: Option<String>,
    plan_id: Option<String>,
    customer_id: Option<String>,
    #[sqlx(try_from = "Text<Decimal>")]
    amount: Decimal,
    currency: String,
    received_at: String,
    #[sqlx(try_from = "Text<PaymentStatus>")]
    status: PaymentStatus,
    #[sqlx(try_from = "Text<Option<DeviceKind>>")]
    device_kind: Option<DeviceKind>,
}

/// One payment record per applied payment: a superset of the core's `PaymentRecord`, its `received_on` the
/// business day of its instant in `zone`.
pub async fn payments(
    pool: &AnyPool,
    locations: &HashMap<String, Location>,
    zone: chrono_tz::Tz,
) -> ApiResult<Vec<Value>> {
    let lines: Vec<JournalRow> = sqlx::query_as(
        "SELECT payment_id, kind, amount, plan_id, installment, quantity FROM allocations ORDER BY payment_id, line_no",
    )
    .fetch_all(pool)
    .await?;
    let mut by_payment: HashMap<String, (Vec<Value>, Decimal, Decimal)> = HashMap::new();
    for r in lines {
        let entry = by_payment.entry(r.payment_id).or_insert_with(|| (Vec::new(), Decimal::ZERO, Decimal::ZERO));
        match r.kind {
            LineKind::Credit => entry.1 = r.amount,
            LineKind::CreditUsed => entry.2 = r.amount,
            _ => {
                let mut line = json!({"kind": r.kind, "amount": r.amount});
                if let Some(map) = line.as_object_mut() {
                    if let Some(p) = r.plan_id {
                        map.insert("plan_id".into(), json!(p));
                    }
                    if let Some(n) = r.installment {
                        map.insert("installment".into(), json!(n));
                    }
                    if let Some(q) = r.quantity {
                        map.insert("quantity".into(), json!(q));
                    }
                }
                entry.0.push(line);
            }
        }
    }
    // A payment to a device-less plan has no device (serial ''): no device kind, and the plan it paid.
    let rows: Vec<PaymentRow> = sqlx::query_as(
        "SELECT p.id, p.provider, p.provider_tx_id, NULLIF(p.serial, '') AS serial, p.plan_id, p.customer_id, p.amount, \
         p.currency, p.received_at, p.status, d.kind AS device_kind \
         FROM payments p LEFT JOIN devices d ON d.serial = p.serial ORDER BY p.created_at, p.id",
    )
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let received_on = chrono::DateTime::parse_from_rfc3339(&r.received_at)
            .map(|t| crate::ids::business_day(&t, zone).to_string())
            .map_err(|e| ApiError::internal(format!("payment {} received_at: {e}", r.id)))?;
        let (lines, credit_added, credit_used) = by_payment.remove(&r.id).unwrap_or_default();
        let location = r.customer_id.as_ref().and_then(|c| locations.get(c));
        out.push(json!({
            "type": "payment",
            "payment_id": r.id,
            "received_on": received_on,
            "received_at": r.received_at,
            "currency": r.currency,
            "device_kind": r.device_kind,
            "location": location,
            "lines": lines,
            "serial": r.serial,
            "plan_id": r.plan_id,
            "amount": r.amount,
            "provider": r.provider,
            "provider_tx_id": r.provider_tx_id,
            "customer_id": r.customer_id,
            "status": r.status,
            "credit_added": credit_added,
            "credit_used": credit_used,
        }));
    }
    Ok(out)
}

/// One installment record per installment of every installment plan: the core's `InstallmentRecord`.
pub async fn installments(pool: &AnyPool, locations: &HashMap<String, Location>) -> ApiResult<Vec<Value>> {
    let rows: Vec<(String, Text<InstallmentPlan>)> =
        sqlx::query_as("SELECT customer_id, body FROM plans WHERE kind = 'installments' ORDER BY seq")
            .fetch_all(pool)
            .await?;
    let mut out = Vec::new();
    for (customer, plan) in rows {
        let plan: InstallmentPlan = plan.into();
        for i in &plan.installments {
            out.push(json!({
                "type": "installment",
                "plan_id": plan.id,
                "customer_id": customer,
                "currency": plan.currency,
                "location": locations.get(&customer),
                "number": i.number,
                "due_date": i.due_date,
                "amount": i.amount.normalize().to_string(),
                "paid": i.paid.normalize().to_string(),
            }));
        }
    }
    Ok(out)
}

/// A meter's access-rate account with its tariff.
#[derive(sqlx::FromRow)]
struct MeterAccount {
    serial: String,
    owner_id: Option<String>,
    #[sqlx(try_from = "Text<NaiveDate>")]
    registered_on: NaiveDate,
    #[sqlx(flatten, try_from = "StoredAccess")]
    access: AccessRateState,
    #[sqlx(try_from = "Text<Tariff>")]
    tariff: Tariff,
}

/// One access-rate record per meter whose tariff charges an access rate: the core's `AccessRateRecord`, the
/// account as stored at the meter's last payment. Reports accrue it up to their own day (the core does);
/// nothing here writes.
pub async fn access_rates(pool: &AnyPool, locations: &HashMap<String, Location>) -> ApiResult<Vec<Value>> {
    let rows: Vec<MeterAccount> = sqlx::query_as(
        "SELECT d.serial, d.owner_id, d.registered_on, d.access_accrued_periods, d.access_debt, t.body AS tariff \
         FROM devices d JOIN tariffs t ON t.id = d.tariff_id ORDER BY d.serial",
    )
    .fetch_all(pool)
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let Some(rate) = r.tariff.access_rate else { continue };
        out.push(json!({
            "type": "access_rate",
            "serial": r.serial,
            "customer_id": r.owner_id,
            "currency": r.tariff.currency,
            "location": r.owner_id.as_ref().and_then(|o| locations.get(o)),
            "registered_on": r.registered_on,
            "rate": rate,
            "state": {"accrued_periods": r.access.accrued_periods, "debt": r.access.debt},
        }));
    }
    Ok(out)
}

/// The one currency the records use, for reports asked without `currency`.
pub fn only_currency<'a>(records: impl Iterator<Item = &'a Value>) -> ApiResult<Option<String>> {
    let mut seen: Option<String> = None;
    for c in records.filter_map(|r| r.get("currency").and_then(Value::as_str)) {
        match &seen {
            None => seen = Some(c.to_owned()),
            Some(s) if s == c => {}
            Some(_) => {
                return Err(ApiError::invalid(
                    "currency",
                    "the data holds several currencies: name one with ?currency=",
                ))
            }
        }
    }
    Ok(seen)
}
