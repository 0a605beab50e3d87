//! The appliance catalog as the API reads and writes it: one row per type an operator sells, with its price
//! and the terms a sale starts from.

use micropower_core::api::{Currency, EaasTerms, Period};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::{Any, Executor};

use crate::error::{ApiError, ApiResult};
use crate::storage::column::Text;
use crate::storage::page::{Keyset, ListQuery, Order, Page, PageRequest};

/// What an appliance is: SHS and e-bikes are PAYG devices (domain.md §4); anything else (a TV, a fridge) is
/// sold without a device of its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplianceKind {
    SolarHomeSystem,
    EBike,
    Other,
}

impl ApplianceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ApplianceKind::SolarHomeSystem => "solar_home_system",
            ApplianceKind::EBike => "e_bike",
            ApplianceKind::Other => "other",
        }
    }
}

/// The terms a sale of the type starts from. The installment plan's total is the type's price; its start is
/// the day of the sale. Both shapes are the sale's own (`PlanInput`), so a sale's fields override them one by
/// one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DefaultTerms {
    Eaas { eaas: EaasTerms },
    Installments(InstallmentDefaults),
}

/// An installment plan's terms without its total (the type's price) and start (the sale's day).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstallmentDefaults {
    #[serde(with = "micropower_core::wire::dec", default)]
    pub down_payment: Decimal,
    pub installments: u32,
    pub period: Period,
}

/// One type of the catalog, as stored and as the API shows it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ApplianceType {
    pub id: String,
    pub name: String,
    #[sqlx(try_from = "Text<ApplianceKind>")]
    pub kind: ApplianceKind,
    #[sqlx(try_from = "Text<Decimal>")]
    #[serde(with = "micropower_core::wire::dec")]
    pub price: Decimal,
    #[sqlx(try_from = "Text<Currency>")]
    pub currency: Currency,
    #[sqlx(try_from = "Text<DefaultTerms>")]
    pub default_terms: DefaultTerms,
    pub created_at: String,
    pub updated_at: String,
}

const COLUMNS: &str = "id, name, kind, price, currency, default_terms, created_at, updated_at";

/// The catalog by name, as the dashboard's choice of what is sold lists it.
pub async fn list<'e, E: Executor<'e, Database = Any>>(exec: E, page: &PageRequest) -> ApiResult<Page<ApplianceType>> {
    let q = ListQuery::new(format!("SELECT {COLUMNS} FROM appliance_types"));
    let keyset = Keyset { list: "appliance_types", key: "name", id: "id", order: Order::Ascending };
    q.page(exec, keyset, page, |t: &ApplianceType| (t.name.clone(), t.id.clone())).await
}

/// A type by id.
pub async fn get<'e, E: Executor<'e, Database = Any>>(exec: E, id: &str) -> ApiResult<Option<ApplianceType>> {
    get_locked(exec, id, "").await
}

/// A type by id; `lock` takes the row lock where the database has them (`Db::for_update`).
pub async fn get_locked<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    id: &str,
    lock: &str,
) -> ApiResult<Option<ApplianceType>> {
    let sql = format!("SELECT {COLUMNS} FROM appliance_types WHERE id = $1{lock}");
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(exec).await?)
}

/// Stores a new type.
pub async fn insert<'e, E: Executor<'e, Database = Any>>(exec: E, t: &ApplianceType) -> ApiResult<()> {
    sqlx::query(&format!("INSERT INTO appliance_types ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"))
        .bind(&t.id)
        .bind(&t.name)
        .bind(t.kind.as_str())
        .bind(t.price.normalize().to_string())
        .bind(t.currency.code())
        .bind(serde_json::to_string(&t.default_terms).map_err(ApiError::internal)?)
        .bind(&t.created_at)
        .bind(&t.updated_at)
        .execute(exec)
        .await?;
    Ok(())
}

/// Writes a changed type back whole; false when there is no type with its id.
pub async fn update<'e, E: Executor<'e, Database = Any>>(exec: E, t: &ApplianceType) -> ApiResult<bool> {
    let done = sqlx::query(
        "UPDATE appliance_types SET name = $1, kind = $2, price = $3, currency = $4, default_terms = $5, \
         updated_at = $6 WHERE id = $7",
    )
    .bind(&t.name)
    .bind(t.kind.as_str())
    .bind(t.price.normalize().to_string())
    .bind(t.currency.code())
    .bind(serde_json::to_string(&t.default_terms).map_err(ApiError::internal)?)
    .bind(&t.updated_at)
    .bind(&t.id)
    .execute(exec)
    .await?;
    Ok(done.rows_affected() > 0)
}
