//! Reading and writing the records the core works on. Rows hold the core's own JSON where the core owns
//! the structure (customers, plans, tariffs), so what is stored is exactly what the core decided.

use chrono::NaiveDate;
use micropower_core::api::{
    AccessRateState, Customer, DeviceKind, EaasPlan, InstallmentPlan, Location, OpenPaygoDevice, Tariff,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::any::AnyRow;
use sqlx::{Any, Executor, Row};

use crate::error::{ApiError, ApiResult};

fn decode<T: for<'de> Deserialize<'de>>(text: &str, what: &str) -> ApiResult<T> {
    serde_json::from_str(text).map_err(|e| ApiError::internal(format!("stored {what} is unreadable: {e}")))
}

/// A column stored as text that has a typed form (a decimal, a day, a device kind).
pub fn parsed<T: std::str::FromStr>(text: &str, what: &str) -> ApiResult<T>
where
    T::Err: std::fmt::Display,
{
    text.parse().map_err(|e| ApiError::internal(format!("stored {what} {text:?} is unreadable: {e}")))
}

/// A customer by id.
pub async fn customer<'e, E: Executor<'e, Database = Any>>(exec: E, id: &str) -> ApiResult<Option<Customer>> {
    let row = sqlx::query("SELECT body FROM customers WHERE id = $1").bind(id).fetch_optional(exec).await?;
    row.map(|r| decode(&r.try_get::<String, _>("body")?, "customer")).transpose()
}

/// The customer who has this exact phone number (E.164), if any.
pub async fn customer_id_by_phone<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    phone: &str,
) -> ApiResult<Option<String>> {
    let row = sqlx::query("SELECT customer_id FROM customer_phones WHERE phone = $1")
        .bind(phone)
        .fetch_optional(exec)
        .await?;
    Ok(row.map(|r| r.try_get("customer_id")).transpose()?)
}

/// Village → area → cluster, if the village exists.
pub async fn location<'e, E: Executor<'e, Database = Any>>(exec: E, village_id: &str) -> ApiResult<Option<Location>> {
    let row = sqlx::query(
        "SELECT v.id AS village_id, a.id AS area_id, a.cluster_id AS cluster_id \
         FROM villages v JOIN areas a ON a.id = v.area_id WHERE v.id = $1",
    )
    .bind(village_id)
    .fetch_optional(exec)
    .await?;
    row.map(|r| {
        Ok(Location {
            cluster_id: r.try_get("cluster_id")?,
            area_id: r.try_get("area_id")?,
            village_id: r.try_get("village_id")?,
        })
    })
    .transpose()
}

/// A stored plan: installments or EaaS, with its owner and device.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlanRow {
    pub id: String,
    pub customer_id: String,
    pub serial: Option<String>,
    pub kind: String,
    pub appliance: String,
    pub currency: String,
    pub body: Value,
    /// 1 when sold; every write of the body adds one.
    pub version: i64,
}

impl PlanRow {
    fn from_row(r: &AnyRow) -> ApiResult<Self> {
        Ok(PlanRow {
            id: r.try_get("id")?,
            customer_id: r.try_get("customer_id")?,
            serial: r.try_get("serial")?,
            kind: r.try_get("kind")?,
            appliance: r.try_get("appliance")?,
            currency: r.try_get("currency")?,
            body: decode(&r.try_get::<String, _>("body")?, "plan")?,
            version: r.try_get("version")?,
        })
    }

    /// The installment plan, for `kind = installments`.
    pub fn installments(&self) -> ApiResult<InstallmentPlan> {
        InstallmentPlan::deserialize(&self.body)
            .map_err(|e| ApiError::internal(format!("stored plan {}: {e}", self.id)))
    }

    /// The energy-as-a-service plan, for `kind = eaas`.
    pub fn eaas(&self) -> ApiResult<EaasPlan> {
        EaasPlan::deserialize(&self.body).map_err(|e| ApiError::internal(format!("stored plan {}: {e}", self.id)))
    }
}

const PLAN_COLUMNS: &str = "id, customer_id, serial, kind, appliance, currency, body, version";

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
    let row = sqlx::query(&sql).bind(id).fetch_optional(exec).await?;
    row.as_ref().map(PlanRow::from_row).transpose()
}

/// A customer's plans in creation order; `deviceless` keeps only plans without a device.
pub async fn customer_plans<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    customer_id: &str,
    deviceless: bool,
) -> ApiResult<Vec<PlanRow>> {
    let filter = if deviceless { " AND serial IS NULL" } else { "" };
    let sql = format!("SELECT {PLAN_COLUMNS} FROM plans WHERE customer_id = $1{filter} ORDER BY seq");
    let rows = sqlx::query(&sql).bind(customer_id).fetch_all(exec).await?;
    rows.iter().map(PlanRow::from_row).collect()
}

/// Inserts a plan; `seq` keeps creation order (the core pays overdue plans in that order).
pub async fn insert_plan<'e, E: Executor<'e, Database = Any>>(exec: E, plan: &PlanRow) -> ApiResult<()> {
    let seq = crate::ids::now().timestamp_micros();
    sqlx::query(
        "INSERT INTO plans (id, customer_id, serial, kind, appliance, currency, body, seq, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(&plan.id)
    .bind(&plan.customer_id)
    .bind(&plan.serial)
    .bind(&plan.kind)
    .bind(&plan.appliance)
    .bind(&plan.currency)
    .bind(plan.body.to_string())
    .bind(seq)
    .bind(crate::ids::now_rfc3339())
    .execute(exec)
    .await?;
    Ok(())
}

/// Replaces a plan's body with the core's new version of it. The caller holds the plan owner's lock (every
/// writer of a plan takes it first: a payment after its device's, an edit before the plan's), so the body it
/// read is still the stored one.
pub async fn update_plan_body<'e, E: Executor<'e, Database = Any>, P: Serialize>(
    exec: E,
    id: &str,
    body: &P,
) -> ApiResult<()> {
    let text = serde_json::to_string(body).map_err(ApiError::internal)?;
    sqlx::query("UPDATE plans SET body = $1, version = version + 1 WHERE id = $2")
        .bind(text)
        .bind(id)
        .execute(exec)
        .await?;
    Ok(())
}

/// A device row.
#[derive(Debug, Clone)]
pub struct DeviceRow {
    pub serial: String,
    pub serial_raw: String,
    pub kind: DeviceKind,
    pub manufacturer_id: String,
    pub token_scheme: String,
    pub tariff_id: Option<String>,
    pub plan_id: Option<String>,
    pub owner_id: Option<String>,
    pub registered_on: NaiveDate,
    /// A meter's access-rate account as last stored (the core accrues it to the day it is used).
    pub access: AccessRateState,
    /// Settings without the key.
    pub openpaygo: Option<Value>,
    pub openpaygo_key_sealed: Option<String>,
    pub token_count: Option<i64>,
}

impl DeviceRow {
    fn from_row(r: &AnyRow) -> ApiResult<Self> {
        let openpaygo: Option<String> = r.try_get("openpaygo")?;
        Ok(DeviceRow {
            serial: r.try_get("serial")?,
            serial_raw: r.try_get("serial_raw")?,
            kind: parsed(&r.try_get::<String, _>("kind")?, "device kind")?,
            manufacturer_id: r.try_get("manufacturer_id")?,
            token_scheme: r.try_get("token_scheme")?,
            tariff_id: r.try_get("tariff_id")?,
            plan_id: r.try_get("plan_id")?,
            owner_id: r.try_get("owner_id")?,
            registered_on: parsed(&r.try_get::<String, _>("registered_on")?, "registration day")?,
            access: AccessRateState {
                accrued_periods: u32::try_from(r.try_get::<i64, _>("access_accrued_periods")?)
                    .map_err(|e| ApiError::internal(format!("stored access-rate periods: {e}")))?,
                debt: parsed(&r.try_get::<String, _>("access_debt")?, "access-rate debt")?,
            },
            openpaygo: openpaygo.map(|t| decode(&t, "openpaygo settings")).transpose()?,
            openpaygo_key_sealed: r.try_get("openpaygo_key_sealed")?,
            token_count: r.try_get("token_count")?,
        })
    }

    /// The device's OpenPAYGO state with its key opened, for the core to make tokens.
    pub fn openpaygo_device(&self, sealer: &crate::crypto::Sealer) -> ApiResult<Option<OpenPaygoDevice>> {
        let (Some(settings), Some(sealed)) = (&self.openpaygo, &self.openpaygo_key_sealed) else {
            return Ok(None);
        };
        let mut settings = settings.clone();
        if let Some(map) = settings.as_object_mut() {
            map.insert(
                "secret_key".into(),
                Value::String(sealer.open(crate::crypto::Slot::openpaygo_key(&self.serial), sealed)?),
            );
            map.insert("count".into(), Value::from(self.token_count.unwrap_or(0)));
        }
        serde_json::from_value(settings).map(Some).map_err(ApiError::internal)
    }
}

const DEVICE_COLUMNS: &str = "serial, serial_raw, kind, manufacturer_id, token_scheme, tariff_id, plan_id, owner_id, \
    registered_on, access_accrued_periods, access_debt, openpaygo, openpaygo_key_sealed, token_count";

/// A device by canonical serial; `lock` takes the row lock where the database has them.
pub async fn device<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    serial: &str,
    lock: &str,
) -> ApiResult<Option<DeviceRow>> {
    let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE serial = $1{lock}");
    let row = sqlx::query(&sql).bind(serial).fetch_optional(exec).await?;
    row.as_ref().map(DeviceRow::from_row).transpose()
}

/// A device as the API shows it: the row, its currency (its tariff's, else its plan's) and its owner's
/// credit balance in that currency.
pub struct ListedDevice {
    pub device: DeviceRow,
    pub currency: Option<String>,
    /// `None` when the owner has no balance in the currency yet.
    pub credit: Option<String>,
    /// A meter's tariff's access rate, which accrues on the stored account (`DeviceRow::access_debt`).
    pub access_rate: Option<micropower_core::api::AccessRate>,
}

/// Which devices to list.
pub enum DeviceFilter<'a> {
    /// One device by canonical serial.
    Serial(&'a str),
    /// Canonical serials matching a `LIKE` pattern.
    SerialLike(&'a str),
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
        DeviceFilter::SerialLike(pattern) => ("d.serial LIKE $1", pattern),
        DeviceFilter::Owner(id) => ("d.owner_id = $1", id),
    };
    let columns: Vec<String> = DEVICE_COLUMNS.split(',').map(|c| format!("d.{}", c.trim())).collect();
    let sql = format!(
        "SELECT {}, COALESCE(t.currency, p.currency) AS currency, cb.balance AS credit, t.body AS tariff FROM devices d \
         LEFT JOIN tariffs t ON t.id = d.tariff_id \
         LEFT JOIN plans p ON p.id = d.plan_id \
         LEFT JOIN credit_balances cb ON cb.customer_id = d.owner_id AND cb.currency = COALESCE(t.currency, p.currency) \
         WHERE {condition} ORDER BY d.serial LIMIT $2",
        columns.join(", ")
    );
    let rows = sqlx::query(&sql).bind(value).bind(limit).fetch_all(exec).await?;
    rows.iter()
        .map(|r| {
            let tariff: Option<String> = r.try_get("tariff")?;
            let access_rate = match tariff {
                Some(body) => decode::<micropower_core::api::Tariff>(&body, "tariff")?.access_rate,
                None => None,
            };
            Ok(ListedDevice {
                device: DeviceRow::from_row(r)?,
                currency: r.try_get("currency")?,
                credit: r.try_get("credit")?,
                access_rate,
            })
        })
        .collect()
}

/// A customer's credit balance in one currency ("0" when none).
pub async fn credit<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    customer_id: &str,
    currency: &str,
) -> ApiResult<Decimal> {
    let row = sqlx::query("SELECT balance FROM credit_balances WHERE customer_id = $1 AND currency = $2")
        .bind(customer_id)
        .bind(currency)
        .fetch_optional(exec)
        .await?;
    match row {
        Some(r) => parsed(&r.try_get::<String, _>("balance")?, "credit balance"),
        None => Ok(Decimal::ZERO),
    }
}

/// All of a customer's credit balances.
pub async fn credits<'e, E: Executor<'e, Database = Any>>(exec: E, customer_id: &str) -> ApiResult<Value> {
    let rows = sqlx::query("SELECT currency, balance FROM credit_balances WHERE customer_id = $1 ORDER BY currency")
        .bind(customer_id)
        .fetch_all(exec)
        .await?;
    let mut map = serde_json::Map::new();
    for r in rows {
        map.insert(r.try_get("currency")?, Value::String(r.try_get("balance")?));
    }
    Ok(Value::Object(map))
}

/// Sets a customer's credit balance in one currency.
pub async fn set_credit<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    customer_id: &str,
    currency: &str,
    balance: &str,
) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO credit_balances (customer_id, currency, balance) VALUES ($1, $2, $3) \
         ON CONFLICT (customer_id, currency) DO UPDATE SET balance = excluded.balance",
    )
    .bind(customer_id)
    .bind(currency)
    .bind(balance)
    .execute(exec)
    .await?;
    Ok(())
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

/// A stored tariff by id, with its name.
pub async fn tariff<'e, E: Executor<'e, Database = Any>>(exec: E, id: &str) -> ApiResult<Option<(String, Tariff)>> {
    let row = sqlx::query("SELECT name, body FROM tariffs WHERE id = $1").bind(id).fetch_optional(exec).await?;
    match row {
        None => Ok(None),
        Some(row) => {
            let body: String = row.try_get("body")?;
            Ok(Some((row.try_get("name")?, serde_json::from_str(&body).map_err(ApiError::internal)?)))
        }
    }
}
