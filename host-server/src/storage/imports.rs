//! What a bulk registration import reads and writes besides a registration itself: the registry's rows by
//! the names an operator's spreadsheet uses, the villages it may create, and each imported serial's
//! fingerprint (migration 0014).

use sqlx::{Any, Executor, Transaction};

use crate::error::ApiResult;
use crate::ids::{new_id, now_rfc3339};

/// The registry tables a spreadsheet names rows of.
#[derive(Debug, Clone, Copy)]
pub enum ByName {
    Cluster,
    Manufacturer,
    Tariff,
    ApplianceType,
}

impl ByName {
    fn table(self) -> &'static str {
        match self {
            ByName::Cluster => "clusters",
            ByName::Manufacturer => "manufacturers",
            ByName::Tariff => "tariffs",
            ByName::ApplianceType => "appliance_types",
        }
    }
}

/// The ids of the rows of `table` with this name, whatever its case; two at most, which is enough to tell
/// a unique name from an ambiguous one.
pub async fn ids_by_name<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    table: ByName,
    name: &str,
) -> ApiResult<Vec<String>> {
    let sql = format!("SELECT id FROM {} WHERE LOWER(name) = LOWER($1) ORDER BY id LIMIT 2", table.table());
    Ok(sqlx::query_scalar(&sql).bind(name).fetch_all(exec).await?)
}

/// The ids of the areas of a cluster with this name, whatever its case (two at most).
pub async fn area_ids<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    cluster_id: &str,
    name: &str,
) -> ApiResult<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT id FROM areas WHERE cluster_id = $1 AND LOWER(name) = LOWER($2) ORDER BY id LIMIT 2")
        .bind(cluster_id)
        .bind(name)
        .fetch_all(exec)
        .await?)
}

/// The ids of the villages of an area with this name, whatever its case (two at most).
pub async fn village_ids<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    area_id: &str,
    name: &str,
) -> ApiResult<Vec<String>> {
    Ok(sqlx::query_scalar("SELECT id FROM villages WHERE area_id = $1 AND LOWER(name) = LOWER($2) ORDER BY id LIMIT 2")
        .bind(area_id)
        .bind(name)
        .fetch_all(exec)
        .await?)
}

/// A level of the hierarchy an import creates when asked to (`create_missing=true`).
#[derive(Debug, Clone, Copy)]
pub enum Level {
    Cluster,
    /// Under a cluster.
    Area,
    /// Under an area.
    Village,
}

/// Creates a cluster, area or village named `name` under `parent` (none for a cluster); answers its id.
pub async fn create(
    tx: &mut Transaction<'_, Any>,
    level: Level,
    name: &str,
    parent: Option<&str>,
) -> ApiResult<String> {
    let id = new_id();
    let now = now_rfc3339();
    let query = match level {
        Level::Cluster => sqlx::query("INSERT INTO clusters (id, name, created_at) VALUES ($1, $2, $3)")
            .bind(id.clone())
            .bind(name.to_owned())
            .bind(now),
        Level::Area => sqlx::query("INSERT INTO areas (id, name, cluster_id, created_at) VALUES ($1, $2, $3, $4)")
            .bind(id.clone())
            .bind(name.to_owned())
            .bind(parent.map(str::to_owned))
            .bind(now),
        Level::Village => sqlx::query("INSERT INTO villages (id, name, area_id, created_at) VALUES ($1, $2, $3, $4)")
            .bind(id.clone())
            .bind(name.to_owned())
            .bind(parent.map(str::to_owned))
            .bind(now),
    };
    query.execute(&mut **tx).await?;
    Ok(id)
}

/// The fingerprint of the row an import registered `serial` with, if an import did.
pub async fn fingerprint<'e, E: Executor<'e, Database = Any>>(exec: E, serial: &str) -> ApiResult<Option<String>> {
    Ok(sqlx::query_scalar("SELECT fingerprint FROM registration_imports WHERE serial = $1")
        .bind(serial)
        .fetch_optional(exec)
        .await?)
}

/// Keeps the fingerprint of the row that registered `serial`.
pub async fn record(tx: &mut Transaction<'_, Any>, serial: &str, fingerprint: &str) -> ApiResult<()> {
    sqlx::query("INSERT INTO registration_imports (serial, fingerprint, imported_at) VALUES ($1, $2, $3)")
        .bind(serial)
        .bind(fingerprint)
        .bind(now_rfc3339())
        .execute(&mut **tx)
        .await?;
    Ok(())
}
