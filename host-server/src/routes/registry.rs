//! The hierarchy (clusters ⊃ areas ⊃ villages), manufacturers and tariffs.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use micropower_core::api::{DeviceKind, Tariff, TokenScheme};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::extract::Body;
use crate::ids::{new_id, now_rfc3339};
use crate::state::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewCluster {
    name: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewArea {
    name: String,
    cluster_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewVillage {
    name: String,
    area_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewManufacturer {
    name: String,
    device_kinds: Vec<DeviceKind>,
    token_scheme: TokenScheme,
}

#[derive(Deserialize)]
pub struct NewTariff {
    name: String,
    #[serde(flatten)]
    tariff: Tariff,
}

/// A cluster of catchment areas.
#[derive(Serialize, sqlx::FromRow)]
pub struct Cluster {
    id: String,
    name: String,
}

/// A catchment area (MPM "mini-grid").
#[derive(Serialize, sqlx::FromRow)]
pub struct Area {
    id: String,
    name: String,
    cluster_id: String,
}

/// A village.
#[derive(Serialize, sqlx::FromRow)]
pub struct Village {
    id: String,
    name: String,
    area_id: String,
}

fn require_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err(ApiError::invalid("name", "a name of 1 to 200 characters is required"));
    }
    Ok(name.to_owned())
}

/// Checks that the parent row exists (registering under a missing parent is an error).
async fn require(state: &AppState, table: &str, id: &str, what: &str) -> ApiResult<()> {
    let sql = format!("SELECT id FROM {table} WHERE id = $1");
    match sqlx::query(&sql).bind(id).fetch_optional(&state.db.pool).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found(what, id).with("field", format!("{what}_id"))),
    }
}

/// `POST /v1/clusters`
pub async fn create_cluster(
    State(state): State<AppState>,
    Body(body): Body<NewCluster>,
) -> ApiResult<(StatusCode, Json<Cluster>)> {
    let name = require_name(&body.name)?;
    let id = new_id();
    sqlx::query("INSERT INTO clusters (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(&id)
        .bind(&name)
        .bind(now_rfc3339())
        .execute(&state.db.pool)
        .await?;
    Ok((StatusCode::CREATED, Json(Cluster { id, name })))
}

/// `POST /v1/areas`
pub async fn create_area(
    State(state): State<AppState>,
    Body(body): Body<NewArea>,
) -> ApiResult<(StatusCode, Json<Area>)> {
    let name = require_name(&body.name)?;
    require(&state, "clusters", &body.cluster_id, "cluster").await?;
    let id = new_id();
    sqlx::query("INSERT INTO areas (id, name, cluster_id, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(&name)
        .bind(&body.cluster_id)
        .bind(now_rfc3339())
        .execute(&state.db.pool)
        .await?;
    Ok((StatusCode::CREATED, Json(Area { id, name, cluster_id: body.cluster_id })))
}

/// `POST /v1/villages`
pub async fn create_village(
    State(state): State<AppState>,
    Body(body): Body<NewVillage>,
) -> ApiResult<(StatusCode, Json<Village>)> {
    let name = require_name(&body.name)?;
    require(&state, "areas", &body.area_id, "area").await?;
    let id = new_id();
    sqlx::query("INSERT INTO villages (id, name, area_id, created_at) VALUES ($1, $2, $3, $4)")
        .bind(&id)
        .bind(&name)
        .bind(&body.area_id)
        .bind(now_rfc3339())
        .execute(&state.db.pool)
        .await?;
    Ok((StatusCode::CREATED, Json(Village { id, name, area_id: body.area_id })))
}

/// The answer of `GET /v1/clusters`.
#[derive(Serialize)]
pub struct Hierarchy {
    clusters: Vec<ClusterTree>,
}

/// A cluster with its areas.
#[derive(Serialize)]
pub struct ClusterTree {
    id: String,
    name: String,
    areas: Vec<AreaTree>,
}

/// An area with its villages.
#[derive(Serialize)]
pub struct AreaTree {
    id: String,
    name: String,
    villages: Vec<VillageLeaf>,
}

/// A village in the hierarchy.
#[derive(Serialize)]
pub struct VillageLeaf {
    id: String,
    name: String,
}

/// `GET /v1/clusters`, with areas and villages nested.
pub async fn list_hierarchy(State(state): State<AppState>) -> ApiResult<Json<Hierarchy>> {
    let clusters: Vec<Cluster> =
        sqlx::query_as("SELECT id, name FROM clusters ORDER BY name").fetch_all(&state.db.pool).await?;
    let areas: Vec<Area> =
        sqlx::query_as("SELECT id, name, cluster_id FROM areas ORDER BY name").fetch_all(&state.db.pool).await?;
    let villages: Vec<Village> =
        sqlx::query_as("SELECT id, name, area_id FROM villages ORDER BY name").fetch_all(&state.db.pool).await?;
    let tree = clusters
        .into_iter()
        .map(|c| {
            let areas = areas
                .iter()
                .filter(|a| a.cluster_id == c.id)
                .map(|a| AreaTree {
                    id: a.id.clone(),
                    name: a.name.clone(),
                    villages: villages
                        .iter()
                        .filter(|v| v.area_id == a.id)
                        .map(|v| VillageLeaf { id: v.id.clone(), name: v.name.clone() })
                        .collect(),
                })
                .collect();
            ClusterTree { id: c.id, name: c.name, areas }
        })
        .collect();
    Ok(Json(Hierarchy { clusters: tree }))
}

/// `POST /v1/manufacturers`
pub async fn create_manufacturer(
    State(state): State<AppState>,
    Body(body): Body<NewManufacturer>,
) -> ApiResult<(StatusCode, Json<ManufacturerView>)> {
    let name = require_name(&body.name)?;
    if body.device_kinds.is_empty() {
        return Err(ApiError::invalid("device_kinds", "name at least one device kind"));
    }
    let id = new_id();
    let kinds = serde_json::to_string(&body.device_kinds).map_err(ApiError::internal)?;
    sqlx::query(
        "INSERT INTO manufacturers (id, name, device_kinds, token_scheme, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(&name)
    .bind(&kinds)
    .bind(crate::repo::token_scheme_name(body.token_scheme))
    .bind(now_rfc3339())
    .execute(&state.db.pool)
    .await?;
    let created = ManufacturerView { id, name, device_kinds: body.device_kinds, token_scheme: body.token_scheme };
    Ok((StatusCode::CREATED, Json(created)))
}

/// A manufacturer as the API shows it.
#[derive(Serialize)]
pub struct ManufacturerView {
    id: String,
    name: String,
    device_kinds: Vec<DeviceKind>,
    token_scheme: TokenScheme,
}

/// `POST /v1/tariffs`: the core validates the tariff and computes its unit price.
pub async fn create_tariff(
    State(state): State<AppState>,
    Body(body): Body<NewTariff>,
) -> ApiResult<(StatusCode, Json<TariffView>)> {
    let name = require_name(&body.name)?;
    let id = new_id();
    let tariff = Tariff { id: Some(id.clone()), ..body.tariff };
    let unit_price = state.core(micropower_core::calls::UnitPrice { tariff: tariff.clone() })?.0;
    let stored = serde_json::to_string(&tariff).map_err(ApiError::internal)?;
    sqlx::query("INSERT INTO tariffs (id, name, currency, body, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&id)
        .bind(&name)
        .bind(tariff.currency.code())
        .bind(&stored)
        .bind(now_rfc3339())
        .execute(&state.db.pool)
        .await?;
    Ok((StatusCode::CREATED, Json(TariffView { tariff, name, unit_price })))
}

/// A tariff as the API shows it: the core's tariff with its name and unit price.
#[derive(Serialize)]
pub struct TariffView {
    #[serde(flatten)]
    tariff: Tariff,
    name: String,
    #[serde(with = "micropower_core::wire::dec")]
    unit_price: Decimal,
}
