//! Reading and writing the records the core works on. Rows hold the core's own JSON where the core owns
//! the structure (customers, plans, tariffs), so what is stored is exactly what the core decided.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use micropower_core::api::{
    AccessRateState, Currency, Customer, DeviceKind, EaasPlan, InstallmentPlan, Location, Manufacturer,
    OpenPaygoDevice, Tariff, TokenScheme,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use crate::error::{ApiError, ApiResult};
use crate::storage::column::Text;

/// A customer by id.
pub async fn customer<'e, E: Executor<'e, Database = Any>>(exec: E, id: &str) -> ApiResult<Option<Customer>> {
    let found: Option<Text<Customer>> =
        sqlx::query_scalar("SELECT body FROM customers WHERE id = $1").bind(id).fetch_optional(exec).await?;
    Ok(found.map(Into::into))
}

/// A customer, read under its row lock (PostgreSQL only: SQLite has no `FOR UPDATE`).
pub async fn locked_customer<'e, E: Executor<'e, Database = Any>>(exec: E, id: &str) -> ApiResult<Option<Customer>> {
    let sql = "SELECT body FROM customers WHERE id = $1 FOR UPDATE";
    let found: Option<Text<Customer>> = sqlx::query_scalar(sql).bind(id).fetch_optional(exec).await?;
    Ok(found.map(Into::into))
}

/// The customer who has this exact phone number (E.164), if any.
pub async fn customer_id_by_phone<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    phone: &str,
) -> ApiResult<Option<String>> {
    let sql = "SELECT customer_id FROM customer_phones WHERE phone = $1";
    Ok(sqlx::query_scalar(sql).bind(phone).fetch_optional(exec).await?)
}

/// A village with its area and cluster: the core's `Location`.
#[derive(sqlx::FromRow)]
struct LocationRow {
    cluster_id: String,
    area_id: String,
    village_id: String,
}

impl From<LocationRow> for Location {
    fn from(r: LocationRow) -> Self {
        Location { cluster_id: r.cluster_id, area_id: r.area_id, village_id: r.village_id }
    }
}

/// Village → area → cluster, if the village exists.
pub async fn location<'e, E: Executor<'e, Database = Any>>(exec: E, village_id: &str) -> ApiResult<Option<Location>> {
    let sql = "SELECT v.id AS village_id, a.id AS area_id, a.cluster_id AS cluster_id \
               FROM villages v JOIN areas a ON a.id = v.area_id WHERE v.id = $1";
    let found: Option<LocationRow> = sqlx::query_as(sql).bind(village_id).fetch_optional(exec).await?;
    Ok(found.map(Into::into))
}

/// What a plan sells: installments toward a price, or energy as a service by the day.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanKind {
    Installments,
    Eaas,
}

impl PlanKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            PlanKind::Installments => "installments",
            PlanKind::Eaas => "eaas",
        }
    }
}

/// A plan as the core keeps it; the `kind` column says which. Written as the core's JSON of the plan itself
/// (untagged: `kind` stands beside it, in the column or the answer).
#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum PlanBody {
    Installments(InstallmentPlan),
    Eaas(EaasPlan),
}

impl PlanBody {
    pub fn kind(&self) -> PlanKind {
        match self {
            PlanBody::Installments(_) => PlanKind::Installments,
            PlanBody::Eaas(_) => PlanKind::Eaas,
        }
    }

    /// The core's JSON of the plan, as stored in `body`.
    fn to_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(self)
    }
}

/// The two columns a plan's body is read from.
#[derive(sqlx::FromRow)]
struct StoredPlan {
    #[sqlx(try_from = "Text<PlanKind>")]
    kind: PlanKind,
    body: String,
}

impl TryFrom<StoredPlan> for PlanBody {
    type Error = serde_json::Error;
    fn try_from(stored: StoredPlan) -> Result<Self, serde_json::Error> {
        Ok(match stored.kind {
            PlanKind::Installments => PlanBody::Installments(serde_json::from_str(&stored.body)?),
            PlanKind::Eaas => PlanBody::Eaas(serde_json::from_str(&stored.body)?),
        })
    }
}

/// A stored plan: installments or EaaS, with its owner and device.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PlanRow {
    pub id: String,
    pub customer_id: String,
    pub serial: Option<String>,
    pub appliance: String,
    #[sqlx(try_from = "Text<Currency>")]
    pub currency: Currency,
    #[sqlx(flatten, try_from = "StoredPlan")]
    pub plan: PlanBody,
    /// 1 when sold; every write of the body adds one.
    pub version: i64,
    /// The catalog type the plan was sold from, if any (its terms were copied at the sale).
    pub appliance_type_id: Option<String>,
}

impl PlanRow {
    pub fn kind(&self) -> PlanKind {
        self.plan.kind()
    }

    /// The installment plan, when it is one.
    pub fn installments(&self) -> Option<&InstallmentPlan> {
        match &self.plan {
            PlanBody::Installments(plan) => Some(plan),
            PlanBody::Eaas(_) => None,
        }
    }
}

pub const PLAN_COLUMNS: &str = "id, customer_id, serial, kind, appliance, currency, body, version, appliance_type_id";

/// A plan by id.
pub async fn plan<'e, E: Executor<'e, Database = Any>>(exec: E, id: &str) -> ApiResult<Option<PlanRow>> {
    plan_locked(exec, id, "").await
}

/// A plan by id; `lock` takes the row lock where the database has them.
pub async fn plan_locked<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    id: &str,
    lock: &str,
) -> ApiResult<Option<PlanRow>> {
    let sql = format!("SELECT {PLAN_COLUMNS} FROM plans WHERE id = $1{lock}");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(exec).await?)
}

/// A customer's plans in creation order; `deviceless` keeps only plans without a device.
pub async fn customer_plans<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    customer_id: &str,
    deviceless: bool,
) -> ApiResult<Vec<PlanRow>> {
    let filter = if deviceless { " AND serial IS NULL" } else { "" };
    let sql = format!("SELECT {PLAN_COLUMNS} FROM plans WHERE customer_id = $1{filter} ORDER BY seq");
    Ok(sqlx::query_as(&sql).bind(customer_id).fetch_all(exec).await?)
}

/// Inserts a plan; `seq` keeps creation order (the core pays overdue plans in that order).
pub async fn insert_plan<'e, E: Executor<'e, Database = Any>>(exec: E, plan: &PlanRow) -> ApiResult<()> {
    let seq = crate::ids::now().timestamp_micros();
    sqlx::query(
        "INSERT INTO plans (id, customer_id, serial, kind, appliance, currency, body, seq, created_at, \
         appliance_type_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&plan.id)
    .bind(&plan.customer_id)
    .bind(&plan.serial)
    .bind(plan.kind().as_str())
    .bind(&plan.appliance)
    .bind(plan.currency.code())
    .bind(plan.plan.to_json().map_err(ApiError::internal)?)
    .bind(seq)
    .bind(crate::ids::now_rfc3339())
    .bind(&plan.appliance_type_id)
    .execute(exec)
    .await?;
    Ok(())
}

pub const UPDATE_PLAN_BODY: &str = "UPDATE plans SET body = $1, version = version + 1 WHERE id = $2";

/// Replaces a plan's body with the core's new version of it. The caller holds the plan owner's lock (every
/// writer of a plan takes it first: a payment after its device's, an edit before the plan's), so the body it
/// read is still the stored one.
pub async fn update_plan_body<'e, E: Executor<'e, Database = Any>, P: Serialize>(
    exec: E,
    id: &str,
    body: &P,
) -> ApiResult<()> {
    let text = serde_json::to_string(body).map_err(ApiError::internal)?;
    // An edit outside the payment path: `updated_at` makes an agent's incremental sync send the plan again
    // (a payment's writes are found by the payment's own time, so UPDATE_PLAN_BODY leaves it alone).
    let sql = "UPDATE plans SET body = $1, version = version + 1, updated_at = $2 WHERE id = $3";
    sqlx::query(sql).bind(text).bind(crate::ids::now_rfc3339()).bind(id).execute(exec).await?;
    Ok(())
}

/// A device's OpenPAYGO settings as stored: the core's `OpenPaygoDevice` without its key (sealed in a
/// column of its own) and its count (`token_count`, which every token moves).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenPaygoSettings {
    #[serde(default)]
    pub starting_code: Option<u32>,
    #[serde(default = "one")]
    pub time_divider: u32,
    #[serde(default)]
    pub restricted_digits: bool,
    #[serde(default)]
    pub extended: bool,
}

fn one() -> u32 {
    1
}

impl From<&OpenPaygoDevice> for OpenPaygoSettings {
    fn from(d: &OpenPaygoDevice) -> Self {
        OpenPaygoSettings {
            starting_code: d.starting_code,
            time_divider: d.time_divider,
            restricted_digits: d.restricted_digits,
            extended: d.extended,
        }
    }
}

/// The two columns of a meter's access-rate account.
#[derive(sqlx::FromRow)]
pub struct StoredAccess {
    access_accrued_periods: i64,
    #[sqlx(try_from = "Text<Decimal>")]
    access_debt: Decimal,
}

impl TryFrom<StoredAccess> for AccessRateState {
    type Error = std::num::TryFromIntError;
    fn try_from(stored: StoredAccess) -> Result<Self, Self::Error> {
        Ok(AccessRateState { accrued_periods: u32::try_from(stored.access_accrued_periods)?, debt: stored.access_debt })
    }
}

/// A device row.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeviceRow {
    pub serial: String,
    pub serial_raw: String,
    #[sqlx(try_from = "Text<DeviceKind>")]
    pub kind: DeviceKind,
    pub manufacturer_id: String,
    #[sqlx(try_from = "Text<TokenScheme>")]
    pub token_scheme: TokenScheme,
    pub tariff_id: Option<String>,
    pub plan_id: Option<String>,
    pub owner_id: Option<String>,
    #[sqlx(try_from = "Text<NaiveDate>")]
    pub registered_on: NaiveDate,
    /// A meter's access-rate account as last stored (the core accrues it to the day it is used).
    #[sqlx(flatten, try_from = "StoredAccess")]
    pub access: AccessRateState,
    #[sqlx(try_from = "Text<Option<OpenPaygoSettings>>")]
    pub openpaygo: Option<OpenPaygoSettings>,
    pub openpaygo_key_sealed: Option<String>,
    pub token_count: Option<i64>,
}

impl DeviceRow {
    /// The device's OpenPAYGO state with its key opened, for the core to make tokens.
    pub fn openpaygo_device(&self, sealer: &crate::crypto::Sealer) -> ApiResult<Option<OpenPaygoDevice>> {
        let (Some(settings), Some(sealed)) = (&self.openpaygo, &self.openpaygo_key_sealed) else {
            return Ok(None);
        };
        let count = u32::try_from(self.token_count.unwrap_or(0))
            .map_err(|e| ApiError::internal(format!("stored token count of {}: {e}", self.serial)))?;
        Ok(Some(OpenPaygoDevice {
            secret_key: sealer.open(crate::crypto::Slot::openpaygo_key(&self.serial), sealed)?,
            starting_code: settings.starting_code,
            count,
            time_divider: settings.time_divider,
            restricted_digits: settings.restricted_digits,
            extended: settings.extended,
        }))
    }
}

/// A list of columns such as [`DEVICE_COLUMNS`], each named through the table's `alias` (`d.serial, …`),
/// for a statement that joins other tables.
pub fn qualified(columns: &str, alias: &str) -> String {
    columns.split(',').map(|c| format!("{alias}.{}", c.trim())).collect::<Vec<_>>().join(", ")
}

pub const DEVICE_COLUMNS: &str =
    "serial, serial_raw, kind, manufacturer_id, token_scheme, tariff_id, plan_id, owner_id, \
    registered_on, access_accrued_periods, access_debt, openpaygo, openpaygo_key_sealed, token_count";

/// A device by canonical serial; `lock` takes the row lock where the database has them.
pub async fn device<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    serial: &str,
    lock: &str,
) -> ApiResult<Option<DeviceRow>> {
    let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE serial = $1{lock}");
    Ok(sqlx::query_as(&sql).bind(serial).fetch_optional(exec).await?)
}

/// A device as the API shows it: the row, its currency (its tariff's, else its plan's) and its owner's
/// credit balance in that currency.
#[derive(sqlx::FromRow)]
pub struct ListedDevice {
    #[sqlx(flatten)]
    pub device: DeviceRow,
    pub currency: Option<String>,
    /// `None` when the owner has no balance in the currency yet.
    #[sqlx(try_from = "Text<Option<Decimal>>")]
    pub credit: Option<Decimal>,
    /// A meter's tariff, whose access rate accrues on the stored account (`DeviceRow::access`).
    #[sqlx(try_from = "Text<Option<Tariff>>")]
    pub tariff: Option<Tariff>,
}

impl ListedDevice {
    /// A meter's tariff's access rate.
    pub fn access_rate(&self) -> Option<micropower_core::api::AccessRate> {
        self.tariff.as_ref().and_then(|t| t.access_rate)
    }
}

/// Which devices to list.
pub enum DeviceFilter<'a> {
    /// One device by canonical serial.
    Serial(&'a str),
    /// A customer's devices.
    Owner(&'a str),
}

/// Devices with their currency and credit, by serial, in one query (a list of a thousand devices is one
/// round trip, not three thousand).
pub async fn listed_devices<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    filter: DeviceFilter<'_>,
    limit: i64,
) -> ApiResult<Vec<ListedDevice>> {
    let (condition, value) = match filter {
        DeviceFilter::Serial(serial) => ("d.serial = $1", serial),
        DeviceFilter::Owner(id) => ("d.owner_id = $1", id),
    };
    let sql = format!(
        "SELECT {}, COALESCE(t.currency, p.currency) AS currency, cb.balance AS credit, t.body AS tariff FROM devices d \
         LEFT JOIN tariffs t ON t.id = d.tariff_id \
         LEFT JOIN plans p ON p.id = d.plan_id \
         LEFT JOIN credit_balances cb ON cb.customer_id = d.owner_id AND cb.currency = COALESCE(t.currency, p.currency) \
         WHERE {condition} ORDER BY d.serial LIMIT $2",
        qualified(DEVICE_COLUMNS, "d")
    );
    Ok(sqlx::query_as(&sql).bind(value).bind(limit).fetch_all(exec).await?)
}

/// A customer's credit balance in one currency (zero when none).
pub async fn credit<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    customer_id: &str,
    currency: &str,
) -> ApiResult<Decimal> {
    let sql = "SELECT balance FROM credit_balances WHERE customer_id = $1 AND currency = $2";
    let found: Option<Text<Decimal>> =
        sqlx::query_scalar(sql).bind(customer_id).bind(currency).fetch_optional(exec).await?;
    Ok(found.map_or(Decimal::ZERO, Into::into))
}

/// All of a customer's credit balances, by currency.
pub async fn credits<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    customer_id: &str,
) -> ApiResult<BTreeMap<String, Decimal>> {
    let sql = "SELECT currency, balance FROM credit_balances WHERE customer_id = $1 ORDER BY currency";
    let rows: Vec<(String, Text<Decimal>)> = sqlx::query_as(sql).bind(customer_id).fetch_all(exec).await?;
    Ok(rows.into_iter().map(|(currency, balance)| (currency, balance.into())).collect())
}

pub const SET_CREDIT: &str = "INSERT INTO credit_balances (customer_id, currency, balance) VALUES ($1, $2, $3) \
     ON CONFLICT (customer_id, currency) DO UPDATE SET balance = excluded.balance";

/// Sets a customer's credit balance in one currency.
pub async fn set_credit<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    customer_id: &str,
    currency: &str,
    balance: Decimal,
) -> ApiResult<()> {
    sqlx::query(SET_CREDIT)
        .bind(customer_id)
        .bind(currency)
        .bind(balance.normalize().to_string())
        .execute(exec)
        .await?;
    Ok(())
}

/// A device maker as stored: its kinds as the core's JSON list, its scheme by name.
#[derive(sqlx::FromRow)]
struct ManufacturerRow {
    id: String,
    name: String,
    #[sqlx(try_from = "Text<Vec<DeviceKind>>")]
    device_kinds: Vec<DeviceKind>,
    #[sqlx(try_from = "Text<TokenScheme>")]
    token_scheme: TokenScheme,
}

/// A manufacturer by id.
pub async fn manufacturer<'e, E: Executor<'e, Database = Any>>(exec: E, id: &str) -> ApiResult<Option<Manufacturer>> {
    let sql = "SELECT id, name, device_kinds, token_scheme FROM manufacturers WHERE id = $1";
    let found: Option<ManufacturerRow> = sqlx::query_as(sql).bind(id).fetch_optional(exec).await?;
    Ok(found.map(|m| Manufacturer {
        id: m.id,
        name: m.name,
        device_kinds: m.device_kinds,
        token_scheme: m.token_scheme,
    }))
}

/// The stored name of a token scheme (its wire name).
pub fn token_scheme_name(scheme: TokenScheme) -> &'static str {
    match scheme {
        TokenScheme::Openpaygo => "openpaygo",
        TokenScheme::External => "external",
    }
}

/// A row's text columns as a JSON object (NULL stays null).
pub fn text_columns(row: &AnyRow, columns: &[&str]) -> ApiResult<Value> {
    let mut map = serde_json::Map::new();
    for c in columns {
        map.insert((*c).to_owned(), row.try_get::<Option<String>, _>(*c)?.map_or(Value::Null, Value::String));
    }
    Ok(Value::Object(map))
}

/// True for a unique-key violation (a duplicate insert lost a race).
pub fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(db) if db.is_unique_violation())
}

/// A stored tariff with its name.
#[derive(sqlx::FromRow)]
struct TariffRow {
    name: String,
    #[sqlx(try_from = "Text<Tariff>")]
    body: Tariff,
}

/// The body of a tariff's version in force on business day `$1` (`YYYY-MM-DD`) of the tariff `t`: the latest
/// `tariff_versions` row starting on or before it, else the tariff's first body. The day is `$1` because it
/// comes first in a statement, and SQLite numbers `$n` by first appearance.
pub const TARIFF_IN_FORCE: &str = "COALESCE((SELECT v.body FROM tariff_versions v WHERE v.tariff_id = t.id \
     AND v.effective_from <= $1 ORDER BY v.effective_from DESC LIMIT 1), t.body)";

/// A stored tariff by id, with its name, as in force on business day `on`.
pub async fn tariff<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    id: &str,
    on: NaiveDate,
) -> ApiResult<Option<(String, Tariff)>> {
    let sql = format!("SELECT t.name AS name, {TARIFF_IN_FORCE} AS body FROM tariffs t WHERE t.id = $2");
    let found: Option<TariffRow> = sqlx::query_as(&sql).bind(on.to_string()).bind(id).fetch_optional(exec).await?;
    Ok(found.map(|t| (t.name, t.body)))
}
