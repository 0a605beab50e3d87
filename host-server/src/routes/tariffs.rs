//! Meter tariffs and their versions (issue 16): a tariff's prices change from a business day on, a payment
//! is priced by the version in force on its business day, and a meter can move to another tariff.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::NaiveDate;
use micropower_core::api::{AccessRate, FeeComponent, Tariff};
use micropower_core::calls;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::Body;
use crate::ids::{new_id, now_rfc3339};
use crate::repo;
use crate::routes::devices::{device_to_change, one_device, DeviceView};
use crate::routes::registry::require_name;
use crate::state::AppState;
use crate::storage::audit::{self, Action, Actor, Entry};
use crate::storage::page::{Page, PageQuery};
use crate::storage::registry::{self as stored, StoredTariff};

/// The body of `POST /v1/tariffs`.
#[derive(Deserialize)]
pub struct NewTariff {
    name: String,
    #[serde(flatten)]
    tariff: Tariff,
}

/// `POST /v1/tariffs`: the core validates the tariff and computes its unit price.
pub async fn create_tariff(
    State(state): State<AppState>,
    Body(body): Body<NewTariff>,
) -> ApiResult<(StatusCode, Json<TariffView>)> {
    let name = require_name(&body.name)?;
    let id = new_id();
    let tariff = Tariff { id: Some(id.clone()), ..body.tariff };
    let unit_price = unit_price(&state, &tariff).await?;
    let stored = serde_json::to_string(&tariff).map_err(ApiError::internal)?;
    sqlx::query("INSERT INTO tariffs (id, name, currency, body, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&id)
        .bind(&name)
        .bind(tariff.currency.code())
        .bind(&stored)
        .bind(now_rfc3339())
        .execute(&state.db.pool)
        .await?;
    Ok((StatusCode::CREATED, Json(TariffView { tariff, name, unit_price, versions: None })))
}

/// A tariff as the API shows it: the core's tariff as in force today, with its name and unit price; one
/// tariff (`GET /v1/tariffs/{id}`, and the answer of a new version) also lists every version.
#[derive(Debug, Serialize)]
pub struct TariffView {
    #[serde(flatten)]
    tariff: Tariff,
    name: String,
    #[serde(with = "micropower_core::wire::dec")]
    unit_price: Decimal,
    #[serde(skip_serializing_if = "Option::is_none")]
    versions: Option<Vec<VersionView>>,
}

/// One version of a tariff: its prices and the first business day they apply (`null` for the tariff's
/// first prices, in force before every later version).
#[derive(Debug, Serialize)]
pub struct VersionView {
    effective_from: Option<NaiveDate>,
    #[serde(flatten)]
    tariff: Tariff,
    #[serde(with = "micropower_core::wire::dec")]
    unit_price: Decimal,
    /// When the version was added; `null` for the first prices (the tariff's creation).
    created_at: Option<String>,
}

async fn unit_price(state: &AppState, tariff: &Tariff) -> ApiResult<Decimal> {
    Ok(state.core(calls::UnitPrice { tariff: tariff.clone() }).await?.0)
}

async fn tariff_view(state: &AppState, stored: StoredTariff) -> ApiResult<TariffView> {
    let tariff = Tariff { id: Some(stored.id), ..stored.body };
    let unit_price = unit_price(state, &tariff).await?;
    Ok(TariffView { tariff, name: stored.name, unit_price, versions: None })
}

/// One tariff as in force today, with every version.
async fn full_view(state: &AppState, id: &str) -> ApiResult<TariffView> {
    let pool = &state.db.pool;
    let found = stored::tariff(pool, id, state.today(), "").await?.ok_or_else(|| ApiError::not_found("tariff", id))?;
    let first = stored::first_tariff(pool, id).await?.ok_or_else(|| ApiError::not_found("tariff", id))?;
    let mut versions = vec![VersionView {
        effective_from: None,
        unit_price: unit_price(state, &first).await?,
        tariff: Tariff { id: Some(id.to_owned()), ..first },
        created_at: None,
    }];
    for v in stored::tariff_versions(pool, id).await? {
        let tariff = Tariff { id: Some(id.to_owned()), ..v.body };
        let unit_price = unit_price(state, &tariff).await?;
        versions.push(VersionView {
            effective_from: Some(v.effective_from),
            tariff,
            unit_price,
            created_at: Some(v.created_at),
        });
    }
    Ok(TariffView { versions: Some(versions), ..tariff_view(state, found).await? })
}

/// `GET /v1/tariffs`: by name, each as in force today with its unit price.
pub async fn tariffs(
    State(state): State<AppState>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<Page<TariffView>>> {
    let page = page.request("tariffs")?;
    let found = stored::tariffs(&state.db.pool, &page, state.today()).await?;
    Ok(Json(found.try_map_async(|t| tariff_view(&state, t)).await?))
}

/// `GET /v1/tariffs/{id}`: as in force today, with every version.
pub async fn tariff(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<TariffView>> {
    Ok(Json(full_view(&state, &id).await?))
}

/// The body of `POST /v1/tariffs/{id}/versions`: the new prices and their first business day. Fields left
/// out keep the values of the version this one replaces; the currency never changes (meters keep their
/// credit in it).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewVersion {
    effective_from: NaiveDate,
    #[serde(with = "micropower_core::wire::dec")]
    price_per_kwh: Decimal,
    #[serde(default)]
    fees: Option<Vec<FeeComponent>>,
    /// Absent: as before; `null`: no access rate from this day on.
    #[serde(default, deserialize_with = "crate::extract::present")]
    access_rate: Option<Option<AccessRate>>,
    #[serde(default, with = "micropower_core::wire::dec_opt")]
    minimum_purchase: Option<Decimal>,
    #[serde(default, with = "micropower_core::wire::dec_opt")]
    energy_step_kwh: Option<Decimal>,
}

/// `POST /v1/tariffs/{id}/versions`: new prices from `effective_from` on. Versions are added in date order,
/// and one cannot start on or before the business day of a payment the version it replaces already priced
/// (that payment's tokens are made; re-pricing it would make the books disagree with them).
pub async fn add_version(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(body): Body<NewVersion>,
) -> ApiResult<(StatusCode, Json<TariffView>)> {
    let _guard = state.db.write_guard().await;
    let mut tx = state.db.pool.begin().await?;
    // The row lock makes two new versions of one tariff wait for each other on PostgreSQL.
    let lock = state.db.for_update();
    let found = stored::tariff(&mut *tx, &id, body.effective_from, lock).await?;
    let replaced = found.ok_or_else(|| ApiError::not_found("tariff", &id))?.body;
    let versions = stored::tariff_versions(&mut *tx, &id).await?;
    if let Some(latest) = versions.last().filter(|v| v.effective_from >= body.effective_from) {
        let message = format!("must be after {}, the first day of the latest version", latest.effective_from);
        return Err(ApiError::unprocessable("effective_from", message));
    }
    if let Some(day) = stored::last_priced_day(&mut *tx, &id, body.effective_from, state.timezone).await? {
        let message = format!("a payment of {day} was priced by the version this one would replace");
        return Err(ApiError::unprocessable("effective_from", message));
    }
    let tariff = Tariff {
        id: Some(id.clone()),
        currency: replaced.currency,
        price_per_kwh: body.price_per_kwh,
        fees: body.fees.unwrap_or_else(|| replaced.fees.clone()),
        access_rate: body.access_rate.unwrap_or(replaced.access_rate),
        minimum_purchase: body.minimum_purchase.unwrap_or(replaced.minimum_purchase),
        energy_step_kwh: body.energy_step_kwh.unwrap_or(replaced.energy_step_kwh),
    };
    // The core's checks of a tariff (prices, fees, step, access rate) apply to every version.
    unit_price(&state, &tariff).await?;
    stored::add_tariff_version(&mut *tx, &id, body.effective_from, &tariff).await?;
    let entry = Entry::new(&Actor::ApiKey(caller.key_id), Action::TariffVersionAdded, "tariff", &id)
        .before(&AuditedVersion { effective_from: None, tariff: &replaced })?
        .after(&AuditedVersion { effective_from: Some(body.effective_from), tariff: &tariff })?;
    audit::record(&mut *tx, &entry).await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(full_view(&state, &id).await?)))
}

/// A tariff version as the audit log keeps it (a tariff holds no secret).
#[derive(Serialize)]
struct AuditedVersion<'a> {
    effective_from: Option<NaiveDate>,
    #[serde(flatten)]
    tariff: &'a Tariff,
}

/// The body of `PUT /v1/devices/{serial}/tariff`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TariffIn {
    tariff_id: String,
}

/// `PUT /v1/devices/{serial}/tariff`: moves a meter to another tariff in the same currency (its credit and
/// access-rate account stay as they are); its next payment is priced by the new tariff.
pub async fn move_meter(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(raw): Path<String>,
    Body(body): Body<TariffIn>,
) -> ApiResult<Json<DeviceView>> {
    let _guard = state.db.write_guard().await;
    let mut tx = state.db.pool.begin().await?;
    let device = device_to_change(&state, &mut tx, &raw).await?.ok_or_else(|| ApiError::not_found("device", &raw))?;
    let Some(from) = device.tariff_id.clone() else {
        return Err(ApiError::unprocessable("serial", "only a meter has a tariff; this device is paid by its plan"));
    };
    let today = state.today();
    let new = repo::tariff(&mut *tx, &body.tariff_id, today).await?;
    let (_, new) = new.ok_or_else(|| ApiError::unprocessable("tariff_id", "no such tariff"))?;
    let (_, old) =
        repo::tariff(&mut *tx, &from, today).await?.ok_or_else(|| ApiError::internal("a meter's tariff vanished"))?;
    if new.currency != old.currency {
        let message =
            format!("the meter's credit is in {}; the tariff sells in {}", old.currency.code(), new.currency.code());
        return Err(ApiError::unprocessable("tariff_id", message));
    }
    // `updated_at`: an agent's incremental sync sends the meter again.
    sqlx::query("UPDATE devices SET tariff_id = $1, updated_at = $2 WHERE serial = $3")
        .bind(&body.tariff_id)
        .bind(crate::ids::now_rfc3339())
        .bind(&device.serial)
        .execute(&mut *tx)
        .await?;
    let entry = Entry::new(&Actor::ApiKey(caller.key_id), Action::DeviceTariffChanged, "device", &device.serial)
        .before(&MeterTariff { tariff_id: &from })?
        .after(&MeterTariff { tariff_id: &body.tariff_id })?;
    audit::record(&mut *tx, &entry).await?;
    tx.commit().await?;
    Ok(Json(one_device(&state, &device.serial, &raw).await?))
}

/// A meter's tariff as the audit log keeps it.
#[derive(Serialize)]
struct MeterTariff<'a> {
    tariff_id: &'a str,
}
