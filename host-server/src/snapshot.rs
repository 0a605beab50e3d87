//! Loads the one account snapshot a payment decision needs (architecture.md "Boundaries"): the device, its
//! owner, the tariff or plan, the owner's device-less plans, the access-rate state and the credit balance.

use chrono::NaiveDate;
use micropower_core::api::{AccountSnapshot, Billing, Customer, DeviceAccount, Owner, Resolution, Tariff, TokenScheme};

use crate::error::{ApiError, ApiResult};
use crate::repo::{DeviceRow, PlanBody};
use crate::storage::store::PaymentStore;

/// The core's snapshot of the account a payment to `device` on business day `on` touches (a meter's tariff
/// is the version in force that day).
pub async fn load<S: PaymentStore>(tx: &mut S, device: &DeviceRow, on: NaiveDate) -> ApiResult<AccountSnapshot> {
    let owner = match &device.owner_id {
        Some(id) => tx.customer(id).await?,
        None => None,
    };
    load_for_owner(tx, device, owner.as_ref(), None, on).await
}

/// The snapshot, with the device's owner already read (a payment reads it as it takes the owner's lock, and
/// again needs it for its SMS: on PostgreSQL every statement is a round trip), and the meter's tariff when
/// it was read with the device (`None`: read here).
pub async fn load_for_owner<S: PaymentStore>(
    tx: &mut S,
    device: &DeviceRow,
    owner: Option<&Customer>,
    tariff: Option<Tariff>,
    on: NaiveDate,
) -> ApiResult<AccountSnapshot> {
    let (billing, currency) = billing(tx, device, tariff, on).await?;
    let (customer_plans, credit_balance) = match owner {
        Some(customer) => {
            let (plans, credit) = tx.owner_balances(&customer.id, &currency).await?;
            let plans = plans.into_iter().filter_map(|p| match p.plan {
                PlanBody::Installments(plan) => Some(plan),
                PlanBody::Eaas(_) => None,
            });
            (plans.collect(), credit)
        }
        None => (Vec::new(), rust_decimal::Decimal::ZERO),
    };
    let account = DeviceAccount {
        serial: device.serial.clone(),
        kind: device.kind,
        registered_on: device.registered_on,
        owner: owner.map(|c| Owner { id: c.id.clone(), name: c.name.clone(), surname: c.surname.clone() }),
    };
    Ok(AccountSnapshot { device: account, billing, customer_plans, credit_balance })
}

/// The device's billing and its currency; `tariff` is the meter's tariff if already read.
async fn billing<S: PaymentStore>(
    tx: &mut S,
    device: &DeviceRow,
    tariff: Option<Tariff>,
    on: NaiveDate,
) -> ApiResult<(Billing, String)> {
    if let Some(tariff_id) = &device.tariff_id {
        let tariff = match tariff {
            Some(tariff) => Some(tariff),
            None => tx.tariff(tariff_id, on).await?,
        };
        let tariff =
            tariff.ok_or_else(|| ApiError::internal(format!("device {} names a missing tariff", device.serial)))?;
        let currency = tariff.currency.code().to_owned();
        // What an OpenPAYGO token can carry decides what is sold (domain.md §6): the core floors energy to
        // it and keeps the rest as credit. An external vendor's request carries any quantity the tariff
        // sells, so it gets no resolution of its own.
        let token_resolution = openpaygo_resolution(device);
        return Ok((Billing::Meter { tariff, access_rate: device.access, token_resolution }, currency));
    }
    let plan_id = device
        .plan_id
        .as_ref()
        .ok_or_else(|| ApiError::internal(format!("device {} has no tariff or plan", device.serial)))?;
    let plan = tx.plan(plan_id).await?.ok_or_else(|| ApiError::internal(format!("missing plan {plan_id}")))?;
    let day_resolution = openpaygo_resolution(device).unwrap_or_default();
    let currency = plan.currency.code().to_owned();
    let billing = match plan.plan {
        PlanBody::Installments(plan) => Billing::Installments { plan, day_resolution },
        PlanBody::Eaas(plan) => Billing::Eaas { plan, day_resolution },
    };
    Ok((billing, currency))
}

/// An OpenPAYGO device with time divider d counts its unit (days, kWh) in steps of 1/d: the core's
/// resolution "1/d", exact where 1/d has no finite decimal (d = 3). `None` for other token schemes.
fn openpaygo_resolution(device: &DeviceRow) -> Option<Resolution> {
    if device.token_scheme != TokenScheme::Openpaygo {
        return None;
    }
    let divider = device.openpaygo.as_ref().map_or(1, |o| o.time_divider).max(1);
    Some(Resolution::per_divider(divider))
}
