//! `POST /v1/registrations`: a customer and a device together, atomically (domain.md §1), and selling an
//! appliance without a device to an existing customer.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use micropower_core::api::{
    CustomerInput, Manufacturer, PlanInput, RegisteredPlan, Registration, RegistrationContext, RegistrationRequest,
};
use serde_json::{json, Value};
use sqlx::Row;

use crate::error::{ApiError, ApiResult};
use crate::extract::{parse, Body};
use crate::ids::{new_id, now_rfc3339, today};
use crate::repo::{self, PlanRow};
use crate::routes::registry::load_tariff;
use crate::state::AppState;

/// `POST /v1/registrations`
pub async fn register(
    State(state): State<AppState>,
    Body(mut body): Body<Value>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    if let Some(map) = body.as_object_mut() {
        map.entry("registered_on").or_insert_with(|| json!(today()));
    }
    let bytes = serde_json::to_vec(&body).map_err(ApiError::internal)?;
    let request: RegistrationRequest = parse(&bytes)?;

    let _guard = state.db.write_guard().await;
    let mut tx = state.db.pool.begin().await?;
    let serial: String = state
        .core("normalize_serial", &json!({"raw": request.device.serial}))
        .map_err(|e| e.with("field", json!("device.serial")))?;
    let serial_taken = repo::device(&mut *tx, &serial, "").await?.is_some();

    let existing_customer = match &request.customer {
        CustomerInput::Existing { id } => repo::customer(&mut *tx, id).await?,
        CustomerInput::New(new) => {
            let mut found = None;
            for raw in new.phone.iter().chain(new.phones.iter()) {
                let phone: Result<String, ApiError> =
                    state.core("normalize_phone", &json!({"raw": raw, "region": request.phone_region}));
                // A phone the core refuses is reported by `register` below with its field.
                if let Ok(phone) = phone {
                    if let Some(id) = repo::customer_id_by_phone(&mut *tx, &phone).await? {
                        found = repo::customer(&mut *tx, &id).await?;
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
    let location = repo::location(&mut *tx, &village_id).await?;
    let manufacturer = load_manufacturer(&mut tx, &request.device.manufacturer_id).await?;
    let tariff = match &request.device.tariff_id {
        Some(id) => load_tariff(&mut *tx, id).await?.map(|(_, t)| t),
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
    let registration: Registration = state.core("register", &json!({"request": request, "context": context}))?;

    if registration.new_customer {
        insert_customer(&mut tx, &registration.customer).await?;
    }
    let plan = match &registration.plan {
        Some(plan) => {
            Some(store_plan(&mut tx, plan, &registration.customer.id, Some(&registration.device.serial)).await?)
        }
        None => None,
    };
    insert_device(&state, &mut tx, &registration, plan.as_ref().map(|p| p.id.as_str())).await?;
    tx.commit().await?;
    tracing::info!(serial = %registration.device.serial, customer = %registration.customer.id, "device registered");
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "customer": registration.customer,
            "new_customer": registration.new_customer,
            "device": device_json(&registration),
            "plan": plan.map(|p| crate::routes::plans::plan_json(&state, &p)).transpose()?,
        })),
    ))
}

/// `POST /v1/customers/{id}/plans`: sell an appliance without a device.
pub async fn sell_plan(
    State(state): State<AppState>,
    Path(customer_id): Path<String>,
    Body(body): Body<PlanInput>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let _guard = state.db.write_guard().await;
    let mut tx = state.db.pool.begin().await?;
    if repo::customer(&mut *tx, &customer_id).await?.is_none() {
        return Err(ApiError::not_found("customer", &customer_id));
    }
    let plan: RegisteredPlan = state.core("create_plan", &json!({"id": new_id(), "plan": body}))?;
    let row = store_plan(&mut tx, &plan, &customer_id, None).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(crate::routes::plans::plan_json(&state, &row)?)))
}

async fn load_manufacturer(tx: &mut sqlx::Transaction<'_, sqlx::Any>, id: &str) -> ApiResult<Option<Manufacturer>> {
    let row = sqlx::query("SELECT id, name, device_kinds, token_scheme FROM manufacturers WHERE id = $1")
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let kinds: String = row.try_get("device_kinds")?;
    let scheme: String = row.try_get("token_scheme")?;
    Ok(Some(Manufacturer {
        id: row.try_get("id")?,
        name: row.try_get("name")?,
        device_kinds: serde_json::from_str(&kinds).map_err(ApiError::internal)?,
        token_scheme: serde_json::from_value(json!(scheme)).map_err(ApiError::internal)?,
    }))
}

async fn insert_customer(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    customer: &micropower_core::api::Customer,
) -> ApiResult<()> {
    let search = format!("{} {} {}", customer.name, customer.surname, customer.phones.join(" ")).to_lowercase();
    sqlx::query("INSERT INTO customers (id, name, surname, village_id, body, search, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)")
        .bind(&customer.id)
        .bind(&customer.name)
        .bind(&customer.surname)
        .bind(&customer.village_id)
        .bind(serde_json::to_string(customer).map_err(ApiError::internal)?)
        .bind(search)
        .bind(now_rfc3339())
        .execute(&mut **tx)
        .await?;
    for phone in &customer.phones {
        sqlx::query("INSERT INTO customer_phones (phone, customer_id) VALUES ($1, $2)")
            .bind(phone)
            .bind(&customer.id)
            .execute(&mut **tx)
            .await
            .map_err(|e| {
                if repo::is_unique_violation(&e) {
                    ApiError::conflict(format!("phone {phone} belongs to another customer"))
                        .with("field", json!("customer.phone"))
                } else {
                    e.into()
                }
            })?;
    }
    Ok(())
}

async fn store_plan(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    plan: &RegisteredPlan,
    customer_id: &str,
    serial: Option<&str>,
) -> ApiResult<PlanRow> {
    let (kind, appliance, id, currency, body) = match plan {
        RegisteredPlan::Installments { appliance, plan } => {
            ("installments", appliance, &plan.id, plan.currency.code(), serde_json::to_value(plan))
        }
        RegisteredPlan::Eaas { appliance, plan } => {
            ("eaas", appliance, &plan.id, plan.currency.code(), serde_json::to_value(plan))
        }
    };
    let row = PlanRow {
        id: id.clone(),
        customer_id: customer_id.to_owned(),
        serial: serial.map(str::to_owned),
        kind: kind.to_owned(),
        appliance: appliance.clone(),
        currency: currency.to_owned(),
        body: body.map_err(ApiError::internal)?,
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
            let mut settings = serde_json::to_value(opg).map_err(ApiError::internal)?;
            if let Some(map) = settings.as_object_mut() {
                map.remove("secret_key");
                map.remove("count");
            }
            (Some(settings.to_string()), Some(state.sealer.seal(opg.secret_key.trim())?), Some(i64::from(opg.count)))
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
    .bind(json!(d.token_scheme).as_str().unwrap_or_default().to_owned())
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
            .with("field", json!("device.serial"))
        } else {
            e.into()
        }
    })?;
    Ok(())
}

/// The registered device as the API shows it: never the OpenPAYGO key.
fn device_json(registration: &Registration) -> Value {
    let d = &registration.device;
    json!({
        "serial": d.serial,
        "serial_raw": d.serial_raw,
        "kind": d.kind,
        "manufacturer_id": d.manufacturer_id,
        "token_scheme": d.token_scheme,
        "tariff_id": d.tariff_id,
        "customer_id": d.owner_id,
        "registered_on": d.registered_on,
        "token_count": d.openpaygo.as_ref().map(|o| o.count),
    })
}
