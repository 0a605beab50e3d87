//! The hierarchy (clusters ⊃ areas ⊃ villages) and manufacturers.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use micropower_core::api::{DeviceKind, TokenScheme};
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::extract::Body;
use crate::ids::{new_id, now_rfc3339};
use crate::state::AppState;
use crate::storage::page::{Page, PageQuery};
use crate::storage::registry::{self as stored, Area, Cluster, ManufacturerView, Named, Village};

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

pub(crate) fn require_name(name: &str) -> ApiResult<String> {
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

/// Filter of `GET /v1/areas`.
#[derive(Deserialize)]
pub struct AreaQuery {
    cluster_id: Option<String>,
}

/// Filter of `GET /v1/villages`.
#[derive(Deserialize)]
pub struct VillageQuery {
    area_id: Option<String>,
}

/// `GET /v1/clusters`: by name.
pub async fn clusters(State(state): State<AppState>, Query(page): Query<PageQuery>) -> ApiResult<Json<Page<Cluster>>> {
    let page = page.request("clusters")?;
    Ok(Json(stored::clusters(&state.db.pool, &page).await?))
}

/// `GET /v1/areas?cluster_id=`: by name.
pub async fn areas(
    State(state): State<AppState>,
    Query(page): Query<PageQuery>,
    Query(q): Query<AreaQuery>,
) -> ApiResult<Json<Page<Area>>> {
    let page = page.request("areas")?;
    Ok(Json(stored::areas(&state.db.pool, q.cluster_id.as_deref().filter(|s| !s.is_empty()), &page).await?))
}

/// `GET /v1/villages?area_id=`: by name.
pub async fn villages(
    State(state): State<AppState>,
    Query(page): Query<PageQuery>,
    Query(q): Query<VillageQuery>,
) -> ApiResult<Json<Page<Village>>> {
    let page = page.request("villages")?;
    Ok(Json(stored::villages(&state.db.pool, q.area_id.as_deref().filter(|s| !s.is_empty()), &page).await?))
}

/// `GET /v1/manufacturers`: by name.
pub async fn manufacturers(
    State(state): State<AppState>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<Page<ManufacturerView>>> {
    let page = page.request("manufacturers")?;
    Ok(Json(stored::manufacturers(&state.db.pool, &page).await?))
}

/// `GET /v1/clusters/{id}`
pub async fn cluster(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Cluster>> {
    stored::cluster(&state.db.pool, &id).await?.map(Json).ok_or_else(|| ApiError::not_found("cluster", &id))
}

/// `GET /v1/areas/{id}`
pub async fn area(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Area>> {
    stored::area(&state.db.pool, &id).await?.map(Json).ok_or_else(|| ApiError::not_found("area", &id))
}

/// `GET /v1/villages/{id}`
pub async fn village(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Village>> {
    stored::village(&state.db.pool, &id).await?.map(Json).ok_or_else(|| ApiError::not_found("village", &id))
}

/// `GET /v1/manufacturers/{id}`
pub async fn manufacturer(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<ManufacturerView>> {
    stored::manufacturer(&state.db.pool, &id).await?.map(Json).ok_or_else(|| ApiError::not_found("manufacturer", &id))
}

/// The body of the `PATCH` of a cluster, area, village or manufacturer: only its name changes here (a
/// village moving to another area would move its customers' reports with it).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rename {
    name: String,
}

async fn rename(state: &AppState, what: Named, id: &str, body: &Rename) -> ApiResult<()> {
    let name = require_name(&body.name)?;
    if stored::rename(&state.db.pool, what, id, &name).await? {
        Ok(())
    } else {
        let noun = match what {
            Named::Cluster => "cluster",
            Named::Area => "area",
            Named::Village => "village",
            Named::Manufacturer => "manufacturer",
        };
        Err(ApiError::not_found(noun, id))
    }
}

/// `PATCH /v1/clusters/{id}` `{name}`
pub async fn patch_cluster(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(body): Body<Rename>,
) -> ApiResult<Json<Cluster>> {
    rename(&state, Named::Cluster, &id, &body).await?;
    cluster(State(state), Path(id)).await
}

/// `PATCH /v1/areas/{id}` `{name}`
pub async fn patch_area(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(body): Body<Rename>,
) -> ApiResult<Json<Area>> {
    rename(&state, Named::Area, &id, &body).await?;
    area(State(state), Path(id)).await
}

/// `PATCH /v1/villages/{id}` `{name}`
pub async fn patch_village(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(body): Body<Rename>,
) -> ApiResult<Json<Village>> {
    rename(&state, Named::Village, &id, &body).await?;
    village(State(state), Path(id)).await
}

/// `PATCH /v1/manufacturers/{id}` `{name}`
pub async fn patch_manufacturer(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(body): Body<Rename>,
) -> ApiResult<Json<ManufacturerView>> {
    rename(&state, Named::Manufacturer, &id, &body).await?;
    manufacturer(State(state), Path(id)).await
}
