//! What a bulk registration import reads and writes besides a registration itself: the registry's rows by
//! the names an operator's spreadsheet uses, the villages it may create, and each imported serial's
//! fingerprint (migration 0014).

use sqlx::{Any, Executor, Transaction};

use crate::db::Backend;
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

/// The key of the PostgreSQL advisory lock that imports take: two imports with `create_missing`, on one
/// server or several, would otherwise both find a village missing and both create it.
const IMPORT_LOCK: i64 = 0x6d70_696d_706f_7274; // "mpimport"

/// Makes the imports of every server on the database run one after another, until `tx` ends. SQLite needs
/// nothing: its writers are serialised already ([`crate::db::Db::write_guard`]).
pub async fn lock_imports(tx: &mut Transaction<'_, Any>, backend: Backend) -> ApiResult<()> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(IMPORT_LOCK).execute(&mut **tx).await?;
    }
    Ok(())
}

/// A registered device as a spreadsheet row would describe it: its owner's names and phones, its kind,
/// maker and tariff by name, and whether it came with a plan.
#[derive(Debug)]
pub struct Registered {
    pub name: String,
    pub surname: String,
    pub kind: String,
    pub manufacturer: String,
    pub tariff: Option<String>,
    pub has_plan: bool,
    pub phones: Vec<String>,
}

/// The device `serial` as [`Registered`] describes it, when it has an owner.
pub async fn registered(tx: &mut Transaction<'_, Any>, serial: &str) -> ApiResult<Option<Registered>> {
    let sql = "SELECT c.name, c.surname, d.kind, m.name AS manufacturer, t.name AS tariff, \
                      CAST(CASE WHEN d.plan_id IS NULL THEN 0 ELSE 1 END AS BIGINT) AS has_plan_flag, c.id AS customer_id \
               FROM devices d JOIN customers c ON c.id = d.owner_id \
               JOIN manufacturers m ON m.id = d.manufacturer_id LEFT JOIN tariffs t ON t.id = d.tariff_id \
               WHERE d.serial = $1";
    let Some(row) = sqlx::query_as::<_, RegisteredRow>(sql).bind(serial).fetch_optional(&mut **tx).await? else {
        return Ok(None);
    };
    let phones = sqlx::query_scalar("SELECT phone FROM customer_phones WHERE customer_id = $1")
        .bind(&row.customer_id)
        .fetch_all(&mut **tx)
        .await?;
    Ok(Some(Registered {
        name: row.name,
        surname: row.surname,
        kind: row.kind,
        manufacturer: row.manufacturer,
        tariff: row.tariff,
        has_plan: row.has_plan_flag != 0,
        phones,
    }))
}

#[derive(sqlx::FromRow)]
struct RegisteredRow {
    name: String,
    surname: String,
    kind: String,
    manufacturer: String,
    tariff: Option<String>,
    has_plan_flag: i64,
    customer_id: String,
}
