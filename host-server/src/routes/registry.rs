//! The hierarchy (clusters ⊃ areas ⊃ villages), manufacturers and tariffs.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use micropower_core::api::{DeviceKind, Tariff, TokenScheme};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::Row;

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
        None => Err(ApiError::not_found(what, id).with("field", json!(format!("{what}_id")))),
    }
}

/// `POST /v1/clusters`
pub async fn create_cluster(
    State(state): State<AppState>,
    Body(body): Body<NewCluster>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let name = require_name(&body.name)?;
    let id = new_id();
    sqlx::query("INSERT INTO clusters (id, name, created_at) VALUES ($1, $2, $3)")
        .bind(&id)
        .bind(&name)
        .bind(now_rfc3339())
        .execute(&state.db.pool)
        .await?;
    Ok((StatusCode::CREATED, Json(json!({"id": id, "name": name}))))
}

/// `POST /v1/areas`
pub async fn create_area(
    State(state): State<AppState>,
    Body(body): Body<NewArea>,
) -> ApiResult<(StatusCode, Json<Value>)> {
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
    Ok((StatusCode::CREATED, Json(json!({"id": id, "name": name, "cluster_id": body.cluster_id}))))
}

/// `POST /v1/villages`
pub async fn create_village(
    State(state): State<AppState>,
    Body(body): Body<NewVillage>,
) -> ApiResult<(StatusCode, Json<Value>)> {
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
    Ok((StatusCode::CREATED, Json(json!({"id": id, "name": name, "area_id": body.area_id}))))
}

/// `GET /v1/clusters`, with areas and villages nested.
pub async fn list_hierarchy(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let clusters = sqlx::query("SELECT id, name FROM clusters ORDER BY name").fetch_all(&state.db.pool).await?;
    let areas = sqlx::query("SELECT id, name, cluster_id FROM areas ORDER BY name").fetch_all(&state.db.pool).await?;
    let villages =
        sqlx::query("SELECT id, name, area_id FROM villages ORDER BY name").fetch_all(&state.db.pool).await?;
    let mut out = Vec::new();
    for c in &clusters {
        let cid: String = c.try_get("id")?;
        let mut area_list = Vec::new();
        for a in areas.iter().filter(|a| a.try_get::<String, _>("cluster_id").ok().as_deref() == Some(cid.as_str())) {
            let aid: String = a.try_get("id")?;
            let vs: Vec<Value> = villages
                .iter()
                .filter(|v| v.try_get::<String, _>("area_id").ok().as_deref() == Some(aid.as_str()))
                .map(|v| json!({"id": v.try_get::<String, _>("id").ok(), "name": v.try_get::<String, _>("name").ok()}))
                .collect();
            area_list.push(json!({"id": aid, "name": a.try_get::<String, _>("name")?, "villages": vs}));
        }
        out.push(json!({"id": cid, "name": c.try_get::<String, _>("name")?, "areas": area_list}));
    }
    Ok(Json(json!({"clusters": out})))
}

/// `POST /v1/manufacturers`
pub async fn create_manufacturer(
    State(state): State<AppState>,
    Body(body): Body<NewManufacturer>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let name = require_name(&body.name)?;
    if body.device_kinds.is_empty() {
        return Err(ApiError::invalid("device_kinds", "name at least one device kind"));
    }
    let id = new_id();
    let kinds = serde_json::to_string(&body.device_kinds).map_err(ApiError::internal)?;
    let scheme = serde_json::to_value(body.token_scheme).map_err(ApiError::internal)?;
    sqlx::query(
        "INSERT INTO manufacturers (id, name, device_kinds, token_scheme, created_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&id)
    .bind(&name)
    .bind(&kinds)
    .bind(scheme.as_str().unwrap_or_default())
    .bind(now_rfc3339())
    .execute(&state.db.pool)
    .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"id": id, "name": name, "device_kinds": body.device_kinds, "token_scheme": body.token_scheme})),
    ))
}

/// `POST /v1/tariffs`: the core validates the tariff and computes its unit price.
pub async fn create_tariff(
    State(state): State<AppState>,
    Body(body): Body<NewTariff>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let name = require_name(&body.name)?;
    let id = new_id();
    let tariff = Tariff { id: Some(id.clone()), ..body.tariff };
    let unit_price =
        state.core(micropower_core::calls::UnitPrice { tariff: tariff.clone() })?.0.normalize().to_string();
    let stored = serde_json::to_string(&tariff).map_err(ApiError::internal)?;
    sqlx::query("INSERT INTO tariffs (id, name, currency, body, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&id)
        .bind(&name)
        .bind(tariff.currency.code())
        .bind(&stored)
        .bind(now_rfc3339())
        .execute(&state.db.pool)
        .await?;
    Ok((StatusCode::CREATED, Json(tariff_json(&name, &tariff, &unit_price))))
}

/// A tariff as the API shows it.
pub fn tariff_json(name: &str, tariff: &Tariff, unit_price: &str) -> Value {
    let mut v = serde_json::to_value(tariff).unwrap_or(Value::Null);
    if let Some(map) = v.as_object_mut() {
        map.insert("name".into(), json!(name));
        map.insert("unit_price".into(), json!(unit_price));
    }
    v
}
