//! The hierarchy (clusters ⊃ areas ⊃ villages), manufacturers and tariffs as the lists and edits read and
//! write them.

use chrono::NaiveDate;
use micropower_core::api::{DeviceKind, Tariff, TokenScheme};
use serde::Serialize;
use sqlx::{Any, Executor};

use crate::error::{ApiError, ApiResult};
use crate::repo;
use crate::storage::column::Text;
use crate::storage::page::{Keyset, ListQuery, Order, Page, PageRequest};

/// A cluster of catchment areas.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Cluster {
    pub id: String,
    pub name: String,
}

/// A catchment area (MPM "mini-grid").
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Area {
    pub id: String,
    pub name: String,
    pub cluster_id: String,
}

/// A village.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct Village {
    pub id: String,
    pub name: String,
    pub area_id: String,
}

/// A manufacturer as the API shows it.
#[derive(Debug, Serialize, sqlx::FromRow)]
pub struct ManufacturerView {
    pub id: String,
    pub name: String,
    #[sqlx(try_from = "Text<Vec<DeviceKind>>")]
    pub device_kinds: Vec<DeviceKind>,
    #[sqlx(try_from = "Text<TokenScheme>")]
    pub token_scheme: TokenScheme,
}

/// A stored tariff with its name.
#[derive(Debug, sqlx::FromRow)]
pub struct StoredTariff {
    pub id: String,
    pub name: String,
    #[sqlx(try_from = "Text<Tariff>")]
    pub body: Tariff,
}

/// The registry tables whose rows carry a name an operator may change.
#[derive(Debug, Clone, Copy)]
pub enum Named {
    Cluster,
    Area,
    Village,
    Manufacturer,
}

impl Named {
    fn table(self) -> &'static str {
        match self {
            Named::Cluster => "clusters",
            Named::Area => "areas",
            Named::Village => "villages",
            Named::Manufacturer => "manufacturers",
        }
    }
}

/// Names order these lists: they fill the dashboard's choices, where an operator looks a name up.
fn by_name(list: &'static str) -> Keyset {
    Keyset { list, key: "name", id: "id", order: Order::Ascending }
}

/// Clusters by name.
pub async fn clusters<'e, E: Executor<'e, Database = Any>>(exec: E, page: &PageRequest) -> ApiResult<Page<Cluster>> {
    let q = ListQuery::new("SELECT id, name FROM clusters");
    q.page(exec, by_name("clusters"), page, |c: &Cluster| (c.name.clone(), c.id.clone())).await
}

/// Areas by name, of one cluster when given.
pub async fn areas<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    cluster_id: Option<&str>,
    page: &PageRequest,
) -> ApiResult<Page<Area>> {
    let mut q = ListQuery::new("SELECT id, name, cluster_id FROM areas");
    if let Some(id) = cluster_id {
        q.filter("cluster_id = {}", id);
    }
    q.page(exec, by_name("areas"), page, |a: &Area| (a.name.clone(), a.id.clone())).await
}

/// Villages by name, of one area when given.
pub async fn villages<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    area_id: Option<&str>,
    page: &PageRequest,
) -> ApiResult<Page<Village>> {
    let mut q = ListQuery::new("SELECT id, name, area_id FROM villages");
    if let Some(id) = area_id {
        q.filter("area_id = {}", id);
    }
    q.page(exec, by_name("villages"), page, |v: &Village| (v.name.clone(), v.id.clone())).await
}

/// Manufacturers by name.
pub async fn manufacturers<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    page: &PageRequest,
) -> ApiResult<Page<ManufacturerView>> {
    let q = ListQuery::new("SELECT id, name, device_kinds, token_scheme FROM manufacturers");
    q.page(exec, by_name("manufacturers"), page, |m: &ManufacturerView| (m.name.clone(), m.id.clone())).await
}

/// `SELECT` of [`StoredTariff`]s from `tariffs t`, each as in force on business day `on`. The day is a
/// `NaiveDate`'s own text (digits and dashes), so it is written into the statement, which keeps the list
/// builder's parameter numbering its own.
fn tariffs_in_force(on: NaiveDate) -> String {
    format!(
        "SELECT t.id AS id, t.name AS name, {} AS body FROM tariffs t",
        repo::TARIFF_IN_FORCE.replace("$1", &format!("'{on}'"))
    )
}

/// Tariffs by name, each as in force on business day `on`.
pub async fn tariffs<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    page: &PageRequest,
    on: NaiveDate,
) -> ApiResult<Page<StoredTariff>> {
    let q = ListQuery::new(tariffs_in_force(on));
    q.page(exec, by_name("tariffs"), page, |t: &StoredTariff| (t.name.clone(), t.id.clone())).await
}

/// A cluster by id.
pub async fn cluster<'e, E: Executor<'e, Database = Any>>(exec: E, id: &str) -> ApiResult<Option<Cluster>> {
    Ok(sqlx::query_as("SELECT id, name FROM clusters WHERE id = $1").bind(id).fetch_optional(exec).await?)
}

/// An area by id.
pub async fn area<'e, E: Executor<'e, Database = Any>>(exec: E, id: &str) -> ApiResult<Option<Area>> {
    Ok(sqlx::query_as("SELECT id, name, cluster_id FROM areas WHERE id = $1").bind(id).fetch_optional(exec).await?)
}

/// A village by id.
pub async fn village<'e, E: Executor<'e, Database = Any>>(exec: E, id: &str) -> ApiResult<Option<Village>> {
    Ok(sqlx::query_as("SELECT id, name, area_id FROM villages WHERE id = $1").bind(id).fetch_optional(exec).await?)
}

/// A manufacturer by id.
pub async fn manufacturer<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    id: &str,
) -> ApiResult<Option<ManufacturerView>> {
    let sql = "SELECT id, name, device_kinds, token_scheme FROM manufacturers WHERE id = $1";
    Ok(sqlx::query_as(sql).bind(id).fetch_optional(exec).await?)
}

/// A tariff by id as in force on business day `on`; `lock` is `Db::for_update` when the caller is about to
/// add a version.
pub async fn tariff<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    id: &str,
    on: NaiveDate,
    lock: &str,
) -> ApiResult<Option<StoredTariff>> {
    let sql = format!("{} WHERE t.id = $1 {lock}", tariffs_in_force(on));
    Ok(sqlx::query_as(&sql).bind(id).fetch_optional(exec).await?)
}

/// A tariff's first body: the prices in force before its first version.
pub async fn first_tariff<'e, E: Executor<'e, Database = Any>>(exec: E, id: &str) -> ApiResult<Option<Tariff>> {
    let row: Option<(Text<Tariff>,)> =
        sqlx::query_as("SELECT body FROM tariffs WHERE id = $1").bind(id).fetch_optional(exec).await?;
    Ok(row.map(|(t,)| t.into()))
}

/// A later version of a tariff: its prices from `effective_from` on.
#[derive(Debug, sqlx::FromRow)]
pub struct TariffVersion {
    #[sqlx(try_from = "Text<NaiveDate>")]
    pub effective_from: NaiveDate,
    #[sqlx(try_from = "Text<Tariff>")]
    pub body: Tariff,
    pub created_at: String,
}

/// A tariff's versions after its first, oldest first.
pub async fn tariff_versions<'e, E: Executor<'e, Database = Any>>(exec: E, id: &str) -> ApiResult<Vec<TariffVersion>> {
    let sql =
        "SELECT effective_from, body, created_at FROM tariff_versions WHERE tariff_id = $1 ORDER BY effective_from";
    Ok(sqlx::query_as(sql).bind(id).fetch_all(exec).await?)
}

/// Stores a version of tariff `id`.
pub async fn add_tariff_version<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    id: &str,
    effective_from: NaiveDate,
    body: &Tariff,
) -> ApiResult<()> {
    let body = serde_json::to_string(body).map_err(ApiError::internal)?;
    sqlx::query("INSERT INTO tariff_versions (tariff_id, effective_from, body, created_at) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(effective_from.to_string())
        .bind(body)
        .bind(crate::ids::now_rfc3339())
        .execute(exec)
        .await?;
    Ok(())
}

/// The latest business day in `zone` of a payment to a meter on tariff `id` received on or after `since`,
/// if any. Instants are kept as sent, with their own offsets, so the text comparison only narrows the read
/// (an instant's own date is at most a day from its business day) and each candidate's day is computed.
pub async fn last_priced_day<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    id: &str,
    since: NaiveDate,
    zone: chrono_tz::Tz,
) -> ApiResult<Option<NaiveDate>> {
    let narrowed = since.checked_sub_days(chrono::Days::new(2)).unwrap_or(since);
    let sql = "SELECT p.received_at FROM payments p JOIN devices d ON d.serial = p.serial \
               WHERE d.tariff_id = $1 AND p.received_at >= $2";
    let instants: Vec<(String,)> = sqlx::query_as(sql).bind(id).bind(narrowed.to_string()).fetch_all(exec).await?;
    let mut last = None;
    for (text,) in instants {
        let at = chrono::DateTime::parse_from_rfc3339(&text)
            .map_err(|e| ApiError::internal(format!("a stored payment instant {text:?}: {e}")))?;
        let day = crate::ids::business_day(&at, zone);
        if day >= since && last.is_none_or(|l| day > l) {
            last = Some(day);
        }
    }
    Ok(last)
}

/// Renames a row; false when there is no row with that id.
pub async fn rename<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    what: Named,
    id: &str,
    name: &str,
) -> ApiResult<bool> {
    let sql = format!("UPDATE {} SET name = $1 WHERE id = $2", what.table());
    Ok(sqlx::query(&sql).bind(name).bind(id).execute(exec).await?.rows_affected() > 0)
}
