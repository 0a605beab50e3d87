//! The hierarchy (clusters ⊃ areas ⊃ villages), manufacturers and tariffs as the lists and edits read and
//! write them.

use micropower_core::api::{DeviceKind, Tariff, TokenScheme};
use serde::Serialize;
use sqlx::{Any, Executor};

use crate::error::ApiResult;
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

/// Tariffs by name.
pub async fn tariffs<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    page: &PageRequest,
) -> ApiResult<Page<StoredTariff>> {
    let q = ListQuery::new("SELECT id, name, body FROM tariffs");
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

/// A tariff by id.
pub async fn tariff<'e, E: Executor<'e, Database = Any>>(exec: E, id: &str) -> ApiResult<Option<StoredTariff>> {
    Ok(sqlx::query_as("SELECT id, name, body FROM tariffs WHERE id = $1").bind(id).fetch_optional(exec).await?)
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
