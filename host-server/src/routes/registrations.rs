//! `POST /v1/registrations`: a customer and a device together, atomically (domain.md §1), and selling an
//! appliance without a device to an existing customer.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::NaiveDate;
use micropower_core::api::{
    Customer, CustomerInput, DeviceKind, PlanInput, RegisteredPlan, Registration, RegistrationContext,
    RegistrationRequest, TokenScheme,
};
use micropower_core::calls;
use serde::Serialize;
use serde_json::Value;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{parse, Body};
use crate::ids::{new_id, now_rfc3339};
use crate::payments::{NewPayment, PaymentAnswer};
use crate::repo::{self, OpenPaygoSettings, PlanBody, PlanRow};
use crate::routes::appliance_types::fill_sale;
use crate::routes::plans::{plan_view, PlanView};
use crate::state::AppState;
use crate::storage::audit::{self, Action, Actor, Entry};
use crate::storage::lookups::Lookups;

/// What a sale says about its down payment (domain.md §4.1, §7: a down payment paid at the sale is a payment).
struct DownPayment {
    /// `down_payment_paid`, default true: paid at the sale.
    paid: bool,
    /// `down_payment_provider`, default `cash`: who took the money.
    provider: String,
}

impl DownPayment {
    /// Takes the sale's down-payment fields out of `paid_in` (`down_payment_paid`) and `provider_in`
    /// (`down_payment_provider`, the server's own field, which the core never sees). The core is then asked
    /// for the plan with its down payment unpaid (`down_payment_paid: false` in `paid_in`): the payment that
    /// pays it is allocated by the core like any other, in the sale's transaction.
    fn take(paid_in: &mut Value, provider_in: Option<&mut Value>, provider_field: &str) -> ApiResult<Self> {
        let mut down = DownPayment { paid: true, provider: "cash".to_owned() };
        if let Some(map) = paid_in.as_object_mut() {
            match map.get("down_payment_paid") {
                None => {}
                Some(Value::Bool(paid)) => down.paid = *paid,
                // Not a boolean: left for the core's parse to refuse with its field.
                Some(_) => return Ok(down),
            }
            map.insert("down_payment_paid".into(), Value::Bool(false));
        }
        if let Some(provider) =
            provider_in.and_then(Value::as_object_mut).and_then(|m| m.remove("down_payment_provider"))
        {
            match provider.as_str().map(str::trim) {
                Some(name) if !name.is_empty() && name.len() <= 64 => down.provider = name.to_owned(),
                _ => return Err(ApiError::invalid(provider_field, "a provider name of 1 to 64 characters")),
            }
        }
        Ok(down)
    }
}

/// `POST /v1/registrations`. `plan.down_payment_provider` (default `cash`) names who took a down payment
/// paid at the sale (`down_payment_paid`, default true).
pub async fn register(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<Value>,
) -> ApiResult<(StatusCode, Json<Registered>)> {
    registration(&state, &Actor::ApiKey(caller.key_id), caller.agent_id.as_deref(), body).await
}

/// A registration (`POST /v1/registrations`) by `actor`, whose API key records its down payment (none for
/// the demo's seed, which no key makes); `agent_id` is the agent whose key it is, if any.
pub async fn registration(
    state: &AppState,
    actor: &Actor,
    agent_id: Option<&str>,
    body: Value,
) -> ApiResult<(StatusCode, Json<Registered>)> {
    let _guard = state.db.write_guard().await;
    let mut tx = state.db.pool.begin().await?;
    let registered = register_in(state, &mut tx, actor, agent_id, body).await?;
    tx.commit().await?;
    tracing::info!(serial = %registered.device.serial, customer = %registered.customer.id, "device registered");
    Ok((StatusCode::CREATED, Json(registered)))
}

/// A registration's body registered in `tx` (which the caller commits) by `actor`: the one path of
/// `POST /v1/registrations` and of an agent's sync. A new customer registered with an agent's key
/// (`agent_id`) records that agent, whose customer it stays wherever it lives.
pub async fn register_in(
    state: &AppState,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    actor: &Actor,
    agent_id: Option<&str>,
    body: Value,
) -> ApiResult<Registered> {
    let prepared = prepare(state, tx, body).await?;
    let registered = register_prepared(state, tx, actor, prepared, &mut Lookups::default()).await?;
    if let (Some(agent_id), true) = (agent_id, registered.new_customer) {
        crate::storage::agent_sync::set_registered_by(&mut **tx, &registered.customer.id, agent_id).await?;
    }
    Ok(registered)
}

/// A registration's body made into the core's request: its day filled in, its plan filled from its
/// appliance type, its down-payment fields taken out.
pub struct Prepared {
    pub request: RegistrationRequest,
    appliance_type_id: Option<String>,
    down: DownPayment,
    /// The caller found no device with the request's serial in this transaction already (a bulk import
    /// checks every row's serial before it prepares the row): not looked up again.
    serial_known_free: bool,
}

impl Prepared {
    /// Says that no device has the request's serial, normalised, in the registration's transaction.
    pub fn serial_known_free(self) -> Self {
        Prepared { serial_known_free: true, ..self }
    }
}

/// Reads a registration's body (`POST /v1/registrations`) as [`Prepared`], in `tx` so that a bulk import
/// reads the appliance types as its own transaction sees them.
pub async fn prepare(
    state: &AppState,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    mut body: Value,
) -> ApiResult<Prepared> {
    // The body is the core's `RegistrationRequest` plus the server's down-payment fields: patched as JSON
    // (its open shape, before the core's parse names any field it refuses), then parsed once.
    if let Some(map) = body.as_object_mut() {
        map.entry("registered_on").or_insert_with(|| Value::String(state.today().to_string()));
    }
    let mut plan_in = body.get("plan").cloned();
    // A plan of a catalog type starts from the type's terms on the day of the registration (a day the core's
    // parse refuses below is refused there, whatever the day the plan was filled with).
    let registered_on = body.get("registered_on").and_then(Value::as_str).and_then(|d| d.parse().ok());
    let appliance_type_id = match plan_in.as_mut() {
        Some(plan) => fill_sale(&mut **tx, plan, registered_on.unwrap_or_else(|| state.today()), "plan").await?,
        None => None,
    };
    let down = DownPayment::take(&mut body, plan_in.as_mut(), "plan.down_payment_provider")?;
    if let (Some(plan), Some(map)) = (plan_in, body.as_object_mut()) {
        map.insert("plan".into(), plan);
    }
    let bytes = serde_json::to_vec(&body).map_err(ApiError::internal)?;
    let request: RegistrationRequest = parse(&bytes)?;
    Ok(Prepared { request, appliance_type_id, down, serial_known_free: false })
}

/// Registers a prepared request in `tx` (which the caller commits), audited as by `actor`: the one path
/// of `POST /v1/registrations` and of every row of a bulk import. The village and the maker are read
/// through `lookups`, which a bulk import keeps from row to row.
pub async fn register_prepared(
    state: &AppState,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    actor: &Actor,
    prepared: Prepared,
    lookups: &mut Lookups,
) -> ApiResult<Registered> {
    let Prepared { request, appliance_type_id, down, serial_known_free } = prepared;
    let recorded_by = actor.key_id();
    let serial_taken = !serial_known_free && {
        let serial =
            state.normalize_serial(&request.device.serial).await.map_err(|e| e.with("field", "device.serial"))?;
        repo::device(&mut **tx, &serial, "").await?.is_some()
    };

    let existing_customer = match &request.customer {
        CustomerInput::Existing { id } => repo::customer(&mut **tx, id).await?,
        CustomerInput::New(new) => {
            let mut found = None;
            for raw in new.phone.iter().chain(new.phones.iter()) {
                let phone =
                    state.core(calls::NormalizePhone { raw: raw.clone(), region: request.phone_region.clone() }).await;
                // A phone the core refuses is reported by `register` below with its field.
                if let Ok(phone) = phone {
                    if let Some(id) = repo::customer_id_by_phone(&mut **tx, &phone).await? {
                        found = repo::customer(&mut **tx, &id).await?;
                        break;
                    }
                }
            }
            found
        }
    };
    let village_id = match (&request.customer, &existing_customer) {
        (_, Some(c)) => c.village_id.clone(),
        (CustomerInput::New(new), None) => new.village_id.clone(),
        (CustomerInput::Existing { .. }, None) => String::new(),
    };
    let location = lookups.location(tx, &village_id).await?;
    let manufacturer = lookups.manufacturer(tx, &request.device.manufacturer_id).await?;
    let tariff = match &request.device.tariff_id {
        Some(id) => repo::tariff(&mut **tx, id, request.registered_on).await?.map(|(_, t)| t),
        None => None,
    };
    let context = RegistrationContext {
        location,
        existing_customer,
        manufacturer,
        tariff,
        serial_taken,
        new_customer_id: Some(new_id()),
        new_plan_id: Some(new_id()),
    };
    let registration = state.core(calls::Register { request, context }).await?;

    if registration.new_customer {
        crate::storage::customers::insert(tx, &registration.customer).await?;
    }
    let (plan, down_payment) = match &registration.plan {
        Some(plan) => {
            let serial = Some(registration.device.serial.as_str());
            let sold_on = registration.device.registered_on;
            let sale = Sale {
                customer_id: &registration.customer.id,
                serial,
                appliance_type_id: appliance_type_id.as_deref(),
                recorded_by,
            };
            let (row, paid) = sell(state, tx, plan, &sale, &down, sold_on).await?;
            (Some(row), paid)
        }
        None => (None, None),
    };
    insert_device(state, tx, &registration, plan.as_ref().map(|p| p.id.as_str())).await?;
    let plan = match plan {
        Some(p) => Some(plan_view(state, &p).await?),
        None => None,
    };
    let device = DeviceView::of(&registration);
    let after = RegistrationAudit {
        customer_id: &registration.customer.id,
        new_customer: registration.new_customer,
        device: &device,
        openpaygo_key: registration.device.openpaygo.is_some(),
        plan: plan.as_ref(),
        down_payment_id: down_payment.as_ref().map(|p| p.payment_id.as_str()),
    };
    let entry = Entry::new(actor, Action::RegistrationCreated, "device", &registration.device.serial).after(&after)?;
    audit::record(&mut **tx, &entry).await?;
    let Registration { customer, new_customer, .. } = registration;
    Ok(Registered { customer, new_customer, device, plan, down_payment })
}

/// A registration as the audit log keeps it: whether the device has an OpenPAYGO key, never the key.
#[derive(Serialize)]
struct RegistrationAudit<'a> {
    customer_id: &'a str,
    new_customer: bool,
    device: &'a DeviceView,
    openpaygo_key: bool,
    plan: Option<&'a PlanView>,
    down_payment_id: Option<&'a str>,
}

/// A sale as the audit log keeps it: the plan sold and the down payment it recorded.
#[derive(Serialize)]
struct SaleAudit<'a> {
    plan: &'a PlanView,
    down_payment_id: Option<&'a str>,
}

/// The answer of `POST /v1/registrations`.
#[derive(Serialize)]
pub struct Registered {
    customer: Customer,
    new_customer: bool,
    device: DeviceView,
    plan: Option<PlanView>,
    /// The down payment paid at the sale, as a payment's answer.
    down_payment: Option<PaymentAnswer>,
}

impl Registered {
    pub fn customer_id(&self) -> &str {
        &self.customer.id
    }

    /// The plan sold with the device, if any.
    pub fn plan_id(&self) -> Option<&str> {
        self.plan.as_ref().map(PlanView::id)
    }

    pub fn registered_on(&self) -> NaiveDate {
        self.device.registered_on
    }
}

/// The answer of `POST /v1/customers/{id}/plans`: the plan, and its down payment paid at the sale.
#[derive(Serialize)]
pub struct SoldPlan {
    #[serde(flatten)]
    plan: PlanView,
    down_payment: Option<PaymentAnswer>,
}

/// `POST /v1/customers/{id}/plans`: sell an appliance without a device. Besides the plan, the body may say
/// `down_payment_paid` (default true) and `down_payment_provider` (default `cash`).
pub async fn sell_plan(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(customer_id): Path<String>,
    Body(mut body): Body<Value>,
) -> ApiResult<(StatusCode, Json<SoldPlan>)> {
    // The core's `PlanInput` plus the server's down-payment fields, taken out before the core's parse.
    let mut sale = serde_json::Map::new();
    if let Some(paid) = body.as_object_mut().and_then(|m| m.remove("down_payment_paid")) {
        sale.insert("down_payment_paid".into(), paid);
    }
    let mut sale = Value::Object(sale);
    let down = DownPayment::take(&mut sale, Some(&mut body), "down_payment_provider")?;
    // As `take` left it: the core must not mark a down payment paid that the server records as a payment.
    let paid = match sale.get("down_payment_paid") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(paid)) => *paid,
        Some(_) => return Err(ApiError::invalid("down_payment_paid", "true or false is required")),
    };
    let appliance_type_id = fill_sale(&state.db.pool, &mut body, state.today(), "").await?;
    let plan_in: PlanInput = parse(&serde_json::to_vec(&body).map_err(ApiError::internal)?)?;
    let _guard = state.db.write_guard().await;
    let mut tx = state.db.pool.begin().await?;
    if repo::customer(&mut *tx, &customer_id).await?.is_none() {
        return Err(ApiError::not_found("customer", &customer_id));
    }
    let plan = state.core(calls::CreatePlan { id: new_id(), plan: plan_in, down_payment_paid: paid }).await?;
    let sale = Sale {
        customer_id: &customer_id,
        serial: None,
        appliance_type_id: appliance_type_id.as_deref(),
        recorded_by: Some(&caller.key_id),
    };
    let (row, down_payment) = sell(&state, &mut tx, &plan, &sale, &down, state.today()).await?;
    let plan = plan_view(&state, &row).await?;
    let after = SaleAudit { plan: &plan, down_payment_id: down_payment.as_ref().map(|p| p.payment_id.as_str()) };
    let entry =
        Entry::new(&Actor::ApiKey(caller.key_id.clone()), Action::SaleCreated, "plan", &row.id).after(&after)?;
    audit::record(&mut *tx, &entry).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(SoldPlan { plan, down_payment })))
}

/// Who a plan is sold to, with which device, from which catalog type, and the API key that sold it (which
/// records the down payment).
struct Sale<'a> {
    customer_id: &'a str,
    serial: Option<&'a str>,
    appliance_type_id: Option<&'a str>,
    recorded_by: Option<&'a str>,
}

/// Stores a sold plan, and, when its down payment was paid at the sale, that payment: a payment of its own
/// (provider `down.provider`, keyed by the plan: `down_payment:<plan id>`), allocated by the core to the
/// down-payment line, journalled and counted like any payment, in the sale's transaction. Returns the plan
/// as stored and the payment's answer.
async fn sell(
    state: &AppState,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    plan: &RegisteredPlan,
    sale: &Sale<'_>,
    down: &DownPayment,
    sold_on: NaiveDate,
) -> ApiResult<(PlanRow, Option<PaymentAnswer>)> {
    let Sale { customer_id, serial, .. } = *sale;
    let mut row = store_plan(tx, plan, sale).await?;
    let amount = match plan {
        RegisteredPlan::Installments { plan, .. } if down.paid => {
            plan.installments.iter().find(|i| i.number == 0).map(|i| i.amount).filter(|a| !a.is_zero())
        }
        _ => None,
    };
    let Some(amount) = amount else { return Ok((row, None)) };
    // The customer's lock, as for every payment of theirs: the credit balance read here is theirs alone.
    crate::payments::lock_customer(state, tx, customer_id).await?;
    let currency = row.currency;
    let allocation = crate::payments::plan_allocation(state, tx, &row, amount, currency).await?;
    let payment_id = new_id();
    let answer = crate::payments::answer(&payment_id, serial, Some(&row.id), &allocation, &[]);
    let received_at =
        if sold_on == state.today() { now_rfc3339() } else { crate::ids::instant_on(sold_on, state.timezone) };
    let payment = NewPayment {
        id: &payment_id,
        provider: &down.provider,
        provider_tx_id: &format!("down_payment:{}", row.id),
        serial: serial.unwrap_or_default(),
        plan_id: Some(&row.id),
        customer_id: Some(customer_id),
        received_at: &received_at,
        payer_phone: None,
        recorded_by_key: sale.recorded_by,
    };
    crate::payments::record(tx, &payment, &allocation, &answer).await?;
    if let Some(paid) = allocation.plans.iter().find(|p| p.id == row.id) {
        row.plan = PlanBody::Installments(paid.clone());
    }
    tracing::info!(plan = %row.id, payment = %payment_id, amount = %amount, "down payment recorded");
    Ok((row, Some(answer)))
}

async fn store_plan(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    plan: &RegisteredPlan,
    sale: &Sale<'_>,
) -> ApiResult<PlanRow> {
    let (appliance, id, currency, body) = match plan {
        RegisteredPlan::Installments { appliance, plan } => {
            (appliance, &plan.id, plan.currency, PlanBody::Installments(plan.clone()))
        }
        RegisteredPlan::Eaas { appliance, plan } => (appliance, &plan.id, plan.currency, PlanBody::Eaas(plan.clone())),
    };
    let row = PlanRow {
        id: id.clone(),
        customer_id: sale.customer_id.to_owned(),
        serial: sale.serial.map(str::to_owned),
        appliance: appliance.clone(),
        currency,
        plan: body,
        version: 1,
        appliance_type_id: sale.appliance_type_id.map(str::to_owned),
    };
    repo::insert_plan(&mut **tx, &row).await?;
    Ok(row)
}

async fn insert_device(
    state: &AppState,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    registration: &Registration,
    plan_id: Option<&str>,
) -> ApiResult<()> {
    let d = &registration.device;
    let (settings, sealed, count) = match &d.openpaygo {
        Some(opg) => {
            let settings = serde_json::to_string(&OpenPaygoSettings::from(opg)).map_err(ApiError::internal)?;
            (
                Some(settings),
                Some(state.sealer.seal(crate::crypto::Slot::openpaygo_key(&d.serial), opg.secret_key.trim())?),
                Some(i64::from(opg.count)),
            )
        }
        None => (None, None, None),
    };
    sqlx::query(
        "INSERT INTO devices (serial, serial_raw, kind, manufacturer_id, token_scheme, tariff_id, plan_id, owner_id, \
         registered_on, openpaygo, openpaygo_key_sealed, token_count, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&d.serial)
    .bind(&d.serial_raw)
    .bind(d.kind.as_str())
    .bind(&d.manufacturer_id)
    .bind(repo::token_scheme_name(d.token_scheme))
    .bind(&d.tariff_id)
    .bind(plan_id)
    .bind(&d.owner_id)
    .bind(d.registered_on.to_string())
    .bind(settings)
    .bind(sealed)
    .bind(count)
    .bind(now_rfc3339())
    .execute(&mut **tx)
    .await
    .map_err(|e| {
        if repo::is_unique_violation(&e) {
            ApiError::new(
                StatusCode::CONFLICT,
                "duplicate_serial",
                format!("serial {} is already registered", d.serial),
            )
            .with("field", "device.serial")
        } else {
            e.into()
        }
    })?;
    Ok(())
}

/// The registered device as the API shows it: never the OpenPAYGO key.
#[derive(Serialize)]
pub struct DeviceView {
    serial: String,
    serial_raw: String,
    kind: DeviceKind,
    manufacturer_id: String,
    token_scheme: TokenScheme,
    tariff_id: Option<String>,
    customer_id: String,
    registered_on: NaiveDate,
    token_count: Option<u32>,
}

impl DeviceView {
    fn of(registration: &Registration) -> Self {
        let d = &registration.device;
        DeviceView {
            serial: d.serial.clone(),
            serial_raw: d.serial_raw.clone(),
            kind: d.kind,
            manufacturer_id: d.manufacturer_id.clone(),
            token_scheme: d.token_scheme,
            tariff_id: d.tariff_id.clone(),
            customer_id: d.owner_id.clone(),
            registered_on: d.registered_on,
            token_count: d.openpaygo.as_ref().map(|o| o.count),
        }
    }
}
