//! The flat records the core's reports read (`report::PaymentRecord`, `report::InstallmentRecord`), built
//! from the database. The export writes the same records, so an analyst's reports equal the server's.

use std::collections::HashMap;

use micropower_core::api::{InstallmentPlan, Location, Tariff};
use serde_json::{json, Value};
use sqlx::{AnyPool, Row};

use crate::error::{ApiError, ApiResult};

/// Every customer's location (village → area → cluster).
pub async fn customer_locations(pool: &AnyPool) -> ApiResult<HashMap<String, Location>> {
    let rows = sqlx::query(
        "SELECT c.id AS customer_id, v.id AS village_id, a.id AS area_id, a.cluster_id AS cluster_id \
         FROM customers c JOIN villages v ON v.id = c.village_id JOIN areas a ON a.id = v.area_id",
    )
    .fetch_all(pool)
    .await?;
    let mut out = HashMap::with_capacity(rows.len());
    for r in rows {
        out.insert(
            r.try_get("customer_id")?,
            Location {
                cluster_id: r.try_get("cluster_id")?,
                area_id: r.try_get("area_id")?,
                village_id: r.try_get("village_id")?,
            },
        );
    }
    Ok(out)
}

/// One payment record per applied payment: a superset of the core's `PaymentRecord`, its `received_on` the
/// business day of its instant in `zone`.
pub async fn payments(
    pool: &AnyPool,
    locations: &HashMap<String, Location>,
    zone: chrono_tz::Tz,
) -> ApiResult<Vec<Value>> {
    let lines = sqlx::query(
        "SELECT payment_id, kind, amount, plan_id, installment, quantity FROM allocations ORDER BY payment_id, line_no",
    )
    .fetch_all(pool)
    .await?;
    let mut by_payment: HashMap<String, (Vec<Value>, String, String)> = HashMap::new();
    for r in lines {
        let payment_id: String = r.try_get("payment_id")?;
        let kind: String = r.try_get("kind")?;
        let amount: String = r.try_get("amount")?;
        let entry = by_payment.entry(payment_id).or_insert_with(|| (Vec::new(), "0".into(), "0".into()));
        match kind.as_str() {
            "credit" => entry.1 = amount,
            "credit_used" => entry.2 = amount,
            _ => {
                let mut line = json!({"kind": kind, "amount": amount});
                if let Some(map) = line.as_object_mut() {
                    if let Some(p) = r.try_get::<Option<String>, _>("plan_id")? {
                        map.insert("plan_id".into(), json!(p));
                    }
                    if let Some(n) = r.try_get::<Option<i64>, _>("installment")? {
                        map.insert("installment".into(), json!(n));
                    }
                    if let Some(q) = r.try_get::<Option<String>, _>("quantity")? {
                        map.insert("quantity".into(), json!(q));
                    }
                }
                entry.0.push(line);
            }
        }
    }
    // A payment to a device-less plan has no device (serial ''): no device kind, and the plan it paid.
    let rows = sqlx::query(
        "SELECT p.id, p.provider, p.provider_tx_id, NULLIF(p.serial, '') AS serial, p.plan_id, p.customer_id, p.amount, \
         p.currency, p.received_at, p.status, d.kind AS device_kind \
         FROM payments p LEFT JOIN devices d ON d.serial = p.serial ORDER BY p.created_at, p.id",
    )
    .fetch_all(pool)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let id: String = r.try_get("id")?;
        let customer: Option<String> = r.try_get("customer_id")?;
        let received_at: String = r.try_get("received_at")?;
        let received_on = chrono::DateTime::parse_from_rfc3339(&received_at)
            .map(|t| crate::ids::business_day(&t, zone).to_string())
            .map_err(|e| ApiError::internal(format!("payment {id} received_at: {e}")))?;
        let (lines, credit_added, credit_used) = by_payment.remove(&id).unwrap_or_default();
        let location = customer.as_ref().and_then(|c| locations.get(c));
        out.push(json!({
            "type": "payment",
            "payment_id": id,
            "received_on": received_on,
            "received_at": received_at,
            "currency": r.try_get::<String, _>("currency")?,
            "device_kind": r.try_get::<Option<String>, _>("device_kind")?,
            "location": location,
            "lines": lines,
            "serial": r.try_get::<Option<String>, _>("serial")?,
            "plan_id": r.try_get::<Option<String>, _>("plan_id")?,
            "amount": r.try_get::<String, _>("amount")?,
            "provider": r.try_get::<String, _>("provider")?,
            "provider_tx_id": r.try_get::<String, _>("provider_tx_id")?,
            "customer_id": customer,
            "status": r.try_get::<String, _>("status")?,
            "credit_added": if credit_added.is_empty() { "0".into() } else { credit_added },
            "credit_used": if credit_used.is_empty() { "0".into() } else { credit_used },
        }));
    }
    Ok(out)
}

/// One installment record per installment of every installment plan: the core's `InstallmentRecord`.
pub async fn installments(pool: &AnyPool, locations: &HashMap<String, Location>) -> ApiResult<Vec<Value>> {
    let rows = sqlx::query("SELECT id, customer_id, body FROM plans WHERE kind = 'installments' ORDER BY seq")
        .fetch_all(pool)
        .await?;
    let mut out = Vec::new();
    for r in rows {
        let customer: String = r.try_get("customer_id")?;
        let plan: InstallmentPlan =
            serde_json::from_str(&r.try_get::<String, _>("body")?).map_err(ApiError::internal)?;
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

/// One access-rate record per meter whose tariff charges an access rate: the core's `AccessRateRecord`, the
/// account as stored at the meter's last payment. Reports accrue it up to their own day (the core does);
/// nothing here writes.
pub async fn access_rates(pool: &AnyPool, locations: &HashMap<String, Location>) -> ApiResult<Vec<Value>> {
    let rows = sqlx::query(
        "SELECT d.serial, d.owner_id, d.registered_on, d.access_accrued_periods, d.access_debt, t.body AS tariff          FROM devices d JOIN tariffs t ON t.id = d.tariff_id ORDER BY d.serial",
    )
    .fetch_all(pool)
    .await?;
    let mut out = Vec::new();
    for r in rows {
        let serial: String = r.try_get("serial")?;
        let tariff: Tariff = serde_json::from_str(&r.try_get::<String, _>("tariff")?)
            .map_err(|e| ApiError::internal(format!("tariff of {serial}: {e}")))?;
        let Some(rate) = tariff.access_rate else { continue };
        let owner: Option<String> = r.try_get("owner_id")?;
        out.push(json!({
            "type": "access_rate",
            "serial": serial,
            "customer_id": owner,
            "currency": tariff.currency,
            "location": owner.as_ref().and_then(|o| locations.get(o)),
            "registered_on": r.try_get::<String, _>("registered_on")?,
            "rate": rate,
            "state": {"accrued_periods": r.try_get::<i64, _>("access_accrued_periods")?, "debt": r.try_get::<String, _>("access_debt")?},
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
