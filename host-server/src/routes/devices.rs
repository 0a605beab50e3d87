//! Devices and customers: reading them, re-assigning a device, the token history and operator tokens.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::NaiveDate;
use micropower_core::api::{AccountSnapshot, Customer, DeviceKind, GeoPoint, NewCustomer, TokenScheme};
use micropower_core::calls;
use micropower_core::wire::Dec;
use micropower_core::CoreError;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::Body;
use crate::operator_tokens::{self, OperatorToken, TokenOrder};
use crate::repo::{self, DeviceFilter, ListedDevice};
use crate::routes::plans::PlanView;
use crate::state::AppState;
use crate::storage;
use crate::storage::audit::{self, Action, Actor, Entry};
use crate::storage::page::{Page, PageQuery};
use crate::storage::tokens::{self, DeviceToken};

async fn canonical(state: &AppState, raw: &str) -> ApiResult<String> {
    state.normalize_serial(raw).await.map_err(|_| ApiError::not_found("device", raw))
}

/// A device as the API shows it.
#[derive(Debug, Serialize)]
pub struct DeviceView {
    serial: String,
    serial_raw: String,
    kind: DeviceKind,
    manufacturer_id: String,
    token_scheme: TokenScheme,
    customer_id: Option<String>,
    tariff_id: Option<String>,
    plan_id: Option<String>,
    registered_on: NaiveDate,
    /// What a meter owes today on its access rate.
    #[serde(with = "micropower_core::wire::dec")]
    access_rate_debt: Decimal,
    currency: Option<String>,
    /// The owner's balance in the device's currency, as stored ("0" when there is none yet).
    credit_balance: Decimal,
    token_count: Option<i64>,
}

/// A device as the API shows it. A meter's `access_rate_debt` is what it owes today: its stored account
/// (as of its last payment) accrued up to today by the core, as a payment today would find it. A read
/// writes nothing; the next payment accrues and stores the same periods.
async fn device_view(state: &AppState, listed: &ListedDevice, today: NaiveDate) -> ApiResult<DeviceView> {
    let d = &listed.device;
    let access_rate_debt = match listed.access_rate() {
        Some(rate) => {
            let accrual = state
                .core(calls::AccrueAccessRate { rate, registered_on: d.registered_on, state: d.access, now: today })
                .await?;
            accrual.state.debt
        }
        None => d.access.debt,
    };
    Ok(DeviceView {
        serial: d.serial.clone(),
        serial_raw: d.serial_raw.clone(),
        kind: d.kind,
        manufacturer_id: d.manufacturer_id.clone(),
        token_scheme: d.token_scheme,
        customer_id: d.owner_id.clone(),
        tariff_id: d.tariff_id.clone(),
        plan_id: d.plan_id.clone(),
        registered_on: d.registered_on,
        access_rate_debt,
        currency: listed.currency.clone(),
        credit_balance: listed.credit.unwrap_or(Decimal::ZERO),
        token_count: d.token_count,
    })
}

/// Devices as the API shows them, as of today.
async fn device_views(state: &AppState, listed: &[ListedDevice]) -> ApiResult<Vec<DeviceView>> {
    let today = state.today();
    let mut views = Vec::with_capacity(listed.len());
    for l in listed {
        views.push(device_view(state, l, today).await?);
    }
    Ok(views)
}

/// A device as the API shows it.
pub(crate) async fn one_device(state: &AppState, serial: &str, raw: &str) -> ApiResult<DeviceView> {
    let listed = repo::listed_devices(&state.db.pool, DeviceFilter::Serial(serial), 1).await?;
    device_views(state, &listed).await?.into_iter().next().ok_or_else(|| ApiError::not_found("device", raw))
}

/// Filter of `GET /v1/devices`.
#[derive(Deserialize)]
pub struct DeviceQuery {
    query: Option<String>,
}

/// Who owns a device, as a list shows them.
#[derive(Debug, Serialize)]
pub struct OwnerView {
    id: String,
    name: String,
    surname: String,
    /// The primary phone.
    phone: Option<String>,
}

/// A device in a list: the device and its owner's name and phone.
#[derive(Debug, Serialize)]
pub struct ListedDeviceView {
    #[serde(flatten)]
    device: DeviceView,
    customer: Option<OwnerView>,
}

/// `GET /v1/devices?query=…`: devices whose canonical serial contains the query's canonical form (the
/// core's `normalize_serial`: `shs-d` finds `SHSD1`), by serial; every device without a query. A query
/// that no serial can contain (`%`, `é`) is refused with `invalid_serial`, so it never reaches `LIKE`.
pub async fn devices(
    State(state): State<AppState>,
    Query(page): Query<PageQuery>,
    Query(q): Query<DeviceQuery>,
) -> ApiResult<Json<Page<ListedDeviceView>>> {
    let page = page.request("devices")?;
    let pattern = match q.query.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        None => "%".to_owned(),
        Some(text) => format!("%{}%", state.normalize_serial(text).await?),
    };
    let found = storage::devices::matching(&state.db.pool, &pattern, &page).await?;
    let today = state.today();
    Ok(Json(
        found
            .try_map_async(|d| {
                let state = &state;
                async move {
                    let customer = d.owner.map(|c| OwnerView {
                        phone: c.phones.first().cloned(),
                        id: c.id,
                        name: c.name,
                        surname: c.surname,
                    });
                    Ok(ListedDeviceView { device: device_view(state, &d.listed, today).await?, customer })
                }
            })
            .await?,
    ))
}

/// `GET /v1/devices/{serial}`
pub async fn get_device(State(state): State<AppState>, Path(raw): Path<String>) -> ApiResult<Json<DeviceView>> {
    let serial = canonical(&state, &raw).await?;
    Ok(Json(one_device(&state, &serial, &raw).await?))
}

/// `GET /v1/devices/{serial}/snapshot`: `{serial, today, snapshot}`, the account exactly as the core sees it
/// when a payment for this device arrives today (the core's `AccountSnapshot`). The dashboard previews a
/// payment in the browser with it (`allocatePayment(snapshot, payment)` of the JS package), so the preview is
/// the same decision `POST /v1/payments` would make now.
pub async fn snapshot(State(state): State<AppState>, Path(raw): Path<String>) -> ApiResult<Json<SnapshotView>> {
    let serial = canonical(&state, &raw).await?;
    let mut tx = state.db.pool.begin().await?;
    let d = repo::device(&mut *tx, &serial, "").await?.ok_or_else(|| ApiError::not_found("device", &raw))?;
    let today = state.today();
    let snapshot = crate::snapshot::load(&mut tx, &d, today).await?;
    drop(tx);
    Ok(Json(SnapshotView { serial, today, snapshot }))
}

/// The answer of `GET /v1/devices/{serial}/snapshot`.
#[derive(Serialize)]
pub struct SnapshotView {
    serial: String,
    today: NaiveDate,
    snapshot: AccountSnapshot,
}

/// The body of `PUT /v1/devices/{serial}/owner`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OwnerIn {
    customer_id: String,
}

/// The device a serial as typed names, read in `tx` with a row lock on PostgreSQL (on SQLite the caller holds
/// the write guard); `None` when no device has it.
pub(crate) async fn device_to_change(
    state: &AppState,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    raw: &str,
) -> ApiResult<Option<repo::DeviceRow>> {
    match state.normalize_serial(raw).await {
        Ok(serial) => repo::device(&mut **tx, &serial, state.db.for_update()).await,
        Err(_) => Ok(None),
    }
}

/// `PUT /v1/devices/{serial}/owner`: re-assigns the device (and its plan) to another customer.
pub async fn reassign(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
    Body(body): Body<OwnerIn>,
) -> ApiResult<Json<DeviceView>> {
    let _guard = state.db.write_guard().await;
    let mut tx = state.db.pool.begin().await?;
    let device = device_to_change(&state, &mut tx, &raw).await?;
    let owner = repo::customer(&mut *tx, &body.customer_id).await?;
    let owner_id = state
        .core(calls::ReassignDevice {
            serial: raw.clone(),
            device_exists: device.is_some(),
            new_owner: owner,
            new_owner_id: body.customer_id.clone(),
        })
        .await?;
    let device = device.ok_or_else(|| ApiError::not_found("device", &raw))?;
    // `updated_at`: an agent's incremental sync sends the device and its plan again.
    let now = crate::ids::now_rfc3339();
    sqlx::query("UPDATE devices SET owner_id = $1, updated_at = $2 WHERE serial = $3")
        .bind(&owner_id)
        .bind(&now)
        .bind(&device.serial)
        .execute(&mut *tx)
        .await?;
    if let Some(plan_id) = &device.plan_id {
        sqlx::query("UPDATE plans SET customer_id = $1, updated_at = $2 WHERE id = $3")
            .bind(&owner_id)
            .bind(&now)
            .bind(plan_id)
            .execute(&mut *tx)
            .await?;
    }
    // The plan, and what is owed on it, now belongs to the new owner.
    let before = Ownership { owner_id: device.owner_id.as_deref(), plan_id: device.plan_id.as_deref() };
    let after = Ownership { owner_id: Some(&owner_id), ..before };
    let entry = Entry::new(&Actor::ApiKey(caller.key_id), Action::DeviceReassigned, "device", &device.serial)
        .before(&before)?
        .after(&after)?;
    audit::record(&mut *tx, &entry).await?;
    tx.commit().await?;
    Ok(Json(one_device(&state, &device.serial, &raw).await?))
}

/// A device's owner as the audit log keeps it.
#[derive(Clone, Copy, Serialize)]
struct Ownership<'a> {
    owner_id: Option<&'a str>,
    plan_id: Option<&'a str>,
}

/// `GET /v1/devices/{serial}/tokens`: newest first.
pub async fn tokens(
    State(state): State<AppState>,
    Path(raw): Path<String>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<Page<DeviceToken>>> {
    let page = page.request("tokens")?;
    let serial = canonical(&state, &raw).await?;
    repo::device(&state.db.pool, &serial, "").await?.ok_or_else(|| ApiError::not_found("device", &raw))?;
    Ok(Json(tokens::of_device(&state.db.pool, &serial, &page).await?))
}

/// The body of `POST /v1/devices/{serial}/tokens`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OperatorTokenIn {
    kind: String,
    #[serde(default)]
    days: Option<String>,
}

/// `POST /v1/devices/{serial}/tokens`: a token an operator makes; no money moves.
pub async fn operator_token(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
    Body(body): Body<OperatorTokenIn>,
) -> ApiResult<(StatusCode, Json<OperatorToken>)> {
    let _guard = state.db.write_guard().await;
    let mut tx = state.db.pool.begin().await?;
    let serial = canonical(&state, &raw).await?;
    let device = repo::device(&mut *tx, &serial, state.db.for_update())
        .await?
        .ok_or_else(|| ApiError::not_found("device", &raw))?;
    let order = TokenOrder::parse(&body.kind, body.days.as_deref(), caller.role)?;
    let token = operator_tokens::issue(&state, &mut tx, &device, &order, &caller.key_id, None).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(token)))
}

/// Filter of `GET /v1/customers`.
#[derive(Deserialize)]
pub struct CustomerQuery {
    query: Option<String>,
    /// The region a local phone number in `query` is read in (ISO 3166, e.g. `TZ`).
    phone_region: Option<String>,
}

/// `GET /v1/customers?query=…`: by name, surname, phone or national id, newest first. A query that the
/// core reads as a phone number also finds the customer by that number as stored (`0712 345 678` finds
/// `+255712345678` when the region is given).
pub async fn customers(
    State(state): State<AppState>,
    Query(page): Query<PageQuery>,
    Query(q): Query<CustomerQuery>,
) -> ApiResult<Json<Page<Customer>>> {
    let page = page.request("customers")?;
    let text = q.query.unwrap_or_default().trim().to_lowercase();
    let mut needles = Vec::new();
    if !text.is_empty() {
        if let Ok(phone) = state.core(calls::NormalizePhone { raw: text.clone(), region: q.phone_region.clone() }).await
        {
            needles.push(phone);
        }
        needles.push(text);
    }
    Ok(Json(storage::customers::matching(&state.db.pool, &needles, &page).await?))
}

/// The body of `POST /v1/customers`: a customer without a device yet.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCustomerIn {
    name: String,
    surname: String,
    /// Several numbers; the first is the primary one. `phone` may name one instead (or as well, first).
    #[serde(default)]
    phones: Vec<String>,
    #[serde(default)]
    phone: Option<String>,
    village_id: String,
    #[serde(default)]
    national_id: Option<String>,
    #[serde(default)]
    geo: Option<GeoPoint>,
    /// The region local numbers are read in (ISO 3166, e.g. `TZ`); numbers in `+` form need none.
    #[serde(default)]
    phone_region: Option<String>,
}

/// The body of `PATCH /v1/customers/{id}`: the fields to change. `national_id: null` removes it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomerPatch {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    surname: Option<String>,
    /// The whole new list; the first is the primary one.
    #[serde(default)]
    phones: Option<Vec<String>>,
    #[serde(default)]
    village_id: Option<String>,
    #[serde(default, deserialize_with = "crate::extract::present")]
    national_id: Option<Option<String>>,
    #[serde(default)]
    phone_region: Option<String>,
}

/// A customer's record as the core makes it from typed fields (`customer_record`: names, phones in E.164,
/// a village). A phone the core refuses is reported on `phones`, the field both bodies may use.
async fn customer_record(
    state: &AppState,
    id: String,
    customer: NewCustomer,
    phone_region: Option<String>,
) -> ApiResult<Customer> {
    let record = calls::CustomerRecord { id, customer, phone_region };
    state.core(record).await.map_err(|e| {
        let on_phone = match e.refusal.as_deref() {
            Some(CoreError::InvalidPhone { .. }) => true,
            Some(CoreError::InvalidInput { field, .. }) => field == "phone",
            _ => false,
        };
        if on_phone {
            e.with("field", "phones")
        } else {
            e
        }
    })
}

async fn require_village(tx: &mut sqlx::Transaction<'_, sqlx::Any>, id: &str) -> ApiResult<()> {
    match repo::location(&mut **tx, id).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found("village", id).with("field", "village_id")),
    }
}

/// `POST /v1/customers`: a customer without a device yet (a plan may be sold to them, or a device
/// registered for them by id, later).
pub async fn create_customer(
    State(state): State<AppState>,
    Body(body): Body<NewCustomerIn>,
) -> ApiResult<(StatusCode, Json<Customer>)> {
    let NewCustomerIn { name, surname, phones, phone, village_id, national_id, geo, phone_region } = body;
    let typed = NewCustomer { name, surname, phone, phones, village_id, geo, national_id };
    let customer = customer_record(&state, crate::ids::new_id(), typed, phone_region).await?;
    let _guard = state.db.write_guard().await;
    let mut tx = state.db.pool.begin().await?;
    require_village(&mut tx, &customer.village_id).await?;
    storage::customers::insert(&mut tx, &customer).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(customer)))
}

/// `PATCH /v1/customers/{id}`: names, phones, village, national id.
pub async fn patch_customer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(body): Body<CustomerPatch>,
) -> ApiResult<Json<Customer>> {
    let _guard = state.db.write_guard().await;
    let mut tx = state.db.pool.begin().await?;
    let stored = repo::customer(&mut *tx, &id).await?.ok_or_else(|| ApiError::not_found("customer", &id))?;
    // The record as it would be after the edit, checked whole by the core as a new one would be.
    let CustomerPatch { name, surname, phones, village_id, national_id, phone_region } = body;
    let edited = NewCustomer {
        name: name.unwrap_or(stored.name),
        surname: surname.unwrap_or(stored.surname),
        phone: None,
        phones: phones.unwrap_or(stored.phones),
        village_id: village_id.clone().unwrap_or(stored.village_id),
        geo: stored.geo,
        national_id: national_id.unwrap_or(stored.national_id),
    };
    let c = customer_record(&state, id, edited, phone_region).await?;
    if village_id.is_some() {
        require_village(&mut tx, &c.village_id).await?;
    }
    storage::customers::update(&mut tx, &c).await?;
    tx.commit().await?;
    Ok(Json(c))
}

/// A customer with what they have: devices, plans, credit balances and what their meters owe today.
#[derive(Serialize)]
pub struct CustomerView {
    #[serde(flatten)]
    customer: Customer,
    devices: Vec<DeviceView>,
    plans: Vec<PlanView>,
    /// By currency, as stored.
    credit_balance: BTreeMap<String, Decimal>,
    /// By currency; only currencies with a debt.
    access_rate_debt: BTreeMap<String, Dec>,
}

/// 403 unless `customer_id` is one of the agent's customers; asked before the customer is read, so an agent
/// learns nothing of another's customers, not even whether the id exists.
async fn require_agents_customer(state: &AppState, agent_id: &str, customer_id: &str) -> ApiResult<()> {
    let agent = storage::agents::get(&state.db.pool, agent_id, "")
        .await?
        .ok_or_else(|| ApiError::internal(format!("the agent {agent_id} of a key vanished")))?;
    if storage::agent_sync::is_agents_customer(&state.db.pool, agent_id, &agent.area_id, customer_id).await? {
        return Ok(());
    }
    let message = "an agent's key reads only the customers of its area and those it registered";
    Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", message))
}

/// `GET /v1/customers/{id}`: with devices, plans, credit balances and the access-rate debt its meters owe
/// today, by currency. An agent's key reads only the agent's own customers (its area's, those it registered).
pub async fn customer(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> ApiResult<Json<CustomerView>> {
    if let Some(agent_id) = &caller.agent_id {
        require_agents_customer(&state, agent_id, &id).await?;
    }
    let c = repo::customer(&state.db.pool, &id).await?.ok_or_else(|| ApiError::not_found("customer", &id))?;
    let listed = repo::listed_devices(&state.db.pool, DeviceFilter::Owner(&id), i64::MAX).await?;
    let devices = device_views(&state, &listed).await?;
    let mut access_rate_debt: BTreeMap<String, Decimal> = BTreeMap::new();
    for (device, view) in listed.iter().zip(&devices) {
        if let (Some(currency), false) = (&device.currency, view.access_rate_debt.is_zero()) {
            let total = access_rate_debt.entry(currency.clone()).or_default();
            *total = total
                .checked_add(view.access_rate_debt)
                .ok_or_else(|| ApiError::internal("access-rate debt overflows"))?;
        }
    }
    let mut plans = Vec::new();
    for row in repo::customer_plans(&state.db.pool, &id, false).await? {
        plans.push(crate::routes::plans::plan_view(&state, &row).await?);
    }
    Ok(Json(CustomerView {
        customer: c,
        devices,
        plans,
        credit_balance: repo::credits(&state.db.pool, &id).await?,
        access_rate_debt: access_rate_debt.into_iter().map(|(c, d)| (c, Dec(d))).collect(),
    }))
}
