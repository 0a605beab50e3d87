//! Loads the one account snapshot a payment decision needs (architecture.md "Boundaries"): the device, its
//! owner, the tariff or plan, the owner's device-less plans, the access-rate state and the credit balance.

use micropower_core::api::Customer;
use serde_json::{json, Value};
use sqlx::{Any, Transaction};

use crate::error::{ApiError, ApiResult};
use crate::repo::{self, DeviceRow};
use crate::routes::registry::load_tariff;

/// The snapshot as the core's `AccountSnapshot` JSON.
pub async fn load(tx: &mut Transaction<'_, Any>, device: &DeviceRow) -> ApiResult<Value> {
    load_with_owner(tx, device).await.map(|(snapshot, _)| snapshot)
}

/// The snapshot and the owner's full record, which a payment needs again for its SMS: read once, because on
/// SQLite every statement is a round trip to the one writer's connection.
pub async fn load_with_owner(
    tx: &mut Transaction<'_, Any>,
    device: &DeviceRow,
) -> ApiResult<(Value, Option<Customer>)> {
    let owner = match &device.owner_id {
        Some(id) => repo::customer(&mut **tx, id).await?,
        None => None,
    };
    let (billing, currency) = billing(tx, device).await?;
    let (customer_plans, credit) = match &owner {
        Some(customer) => {
            let plans: Vec<Value> = repo::customer_plans(&mut **tx, &customer.id, true)
                .await?
                .into_iter()
                .filter(|p| p.kind == "installments")
                .map(|p| p.body)
                .collect();
            (plans, repo::credit(&mut **tx, &customer.id, &currency).await?)
        }
        None => (Vec::new(), "0".to_owned()),
    };
    let snapshot = json!({
        "device": {
            "serial": device.serial,
            "kind": device.kind,
            "registered_on": device.registered_on,
            "owner": owner.as_ref().map(|c| json!({"id": c.id, "name": c.name, "surname": c.surname})),
        },
        "billing": billing,
        "customer_plans": customer_plans,
        "credit_balance": credit,
    });
    Ok((snapshot, owner))
}

/// The device's billing and its currency.
async fn billing(tx: &mut Transaction<'_, Any>, device: &DeviceRow) -> ApiResult<(Value, String)> {
    if let Some(tariff_id) = &device.tariff_id {
        let (_, tariff) = load_tariff(&mut **tx, tariff_id)
            .await?
            .ok_or_else(|| ApiError::internal(format!("device {} names a missing tariff", device.serial)))?;
        let currency = tariff.currency.code().to_owned();
        let mut billing = json!({
            "kind": "meter",
            "tariff": tariff,
            "access_rate": {"accrued_periods": device.access_accrued_periods, "debt": device.access_debt},
        });
        // What an OpenPAYGO token can carry decides what is sold (domain.md §6): the core floors energy to
        // it and keeps the rest as credit. An external vendor's request carries any quantity the tariff
        // sells, so it gets no resolution of its own.
        if let (Some(resolution), Some(map)) = (openpaygo_resolution(device), billing.as_object_mut()) {
            map.insert("token_resolution".into(), Value::String(resolution));
        }
        return Ok((billing, currency));
    }
    let plan_id = device
        .plan_id
        .as_ref()
        .ok_or_else(|| ApiError::internal(format!("device {} has no tariff or plan", device.serial)))?;
    let plan =
        repo::plan(&mut **tx, plan_id).await?.ok_or_else(|| ApiError::internal(format!("missing plan {plan_id}")))?;
    let resolution = openpaygo_resolution(device).unwrap_or_else(|| "1".to_owned());
    Ok((json!({"kind": plan.kind, "plan": plan.body, "day_resolution": resolution}), plan.currency))
}

/// An OpenPAYGO device with time divider d counts its unit (days, kWh) in steps of 1/d: the core's
/// resolution `"1/d"`, exact where 1/d has no finite decimal (d = 3). `None` for other token schemes.
fn openpaygo_resolution(device: &DeviceRow) -> Option<String> {
    if device.token_scheme != "openpaygo" {
        return None;
    }
    let divider =
        device.openpaygo.as_ref().and_then(|o| o.get("time_divider")).and_then(Value::as_u64).unwrap_or(1).max(1);
    Some(format!("1/{divider}"))
}
