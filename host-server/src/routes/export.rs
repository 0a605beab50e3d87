//! `GET /v1/export`: every record as JSON Lines, one object per line with a `type` — the input of the
//! Python package's `load_export`. The debt reports' inputs are the server's own (`installment`,
//! `access_rate`), so an analyst's reports equal the server's.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::{json, Value};
use sqlx::Row;

use crate::error::{ApiError, ApiResult};
use crate::records;
use crate::state::AppState;

fn push(out: &mut Vec<u8>, value: &Value) {
    out.extend_from_slice(value.to_string().as_bytes());
    out.push(b'\n');
}

async fn simple(state: &AppState, out: &mut Vec<u8>, kind: &str, sql: &str, columns: &[&str]) -> ApiResult<()> {
    for r in sqlx::query(sql).fetch_all(&state.db.pool).await? {
        let mut v = crate::repo::text_columns(&r, columns)?;
        if let Some(map) = v.as_object_mut() {
            map.insert("type".into(), json!(kind));
        }
        push(out, &v);
    }
    Ok(())
}

/// The whole export.
pub async fn export(State(state): State<AppState>) -> ApiResult<impl IntoResponse> {
    let mut out = Vec::new();
    push(&mut out, &json!({"type": "meta", "version": 1, "exported_at": crate::ids::now_rfc3339()}));
    simple(&state, &mut out, "cluster", "SELECT id, name FROM clusters ORDER BY id", &["id", "name"]).await?;
    simple(
        &state,
        &mut out,
        "area",
        "SELECT id, name, cluster_id FROM areas ORDER BY id",
        &["id", "name", "cluster_id"],
    )
    .await?;
    simple(
        &state,
        &mut out,
        "village",
        "SELECT id, name, area_id FROM villages ORDER BY id",
        &["id", "name", "area_id"],
    )
    .await?;
    for r in sqlx::query("SELECT body FROM customers ORDER BY id").fetch_all(&state.db.pool).await? {
        let mut v: Value = serde_json::from_str(&r.try_get::<String, _>("body")?).map_err(ApiError::internal)?;
        if let Some(map) = v.as_object_mut() {
            map.insert("type".into(), json!("customer"));
        }
        push(&mut out, &v);
    }
    for r in sqlx::query("SELECT id, name, body FROM tariffs ORDER BY id").fetch_all(&state.db.pool).await? {
        let mut v: Value = serde_json::from_str(&r.try_get::<String, _>("body")?).map_err(ApiError::internal)?;
        if let Some(map) = v.as_object_mut() {
            map.insert("type".into(), json!("tariff"));
            map.insert("id".into(), json!(r.try_get::<String, _>("id")?));
            map.insert("name".into(), json!(r.try_get::<String, _>("name")?));
        }
        push(&mut out, &v);
    }
    let locations = records::customer_locations(&state.db.pool).await?;
    let devices =
        sqlx::query("SELECT serial, kind, owner_id, tariff_id, plan_id, registered_on FROM devices ORDER BY serial")
            .fetch_all(&state.db.pool)
            .await?;
    for r in devices {
        let owner: Option<String> = r.try_get("owner_id")?;
        push(
            &mut out,
            &json!({
                "type": "device", "serial": r.try_get::<String, _>("serial")?, "kind": r.try_get::<String, _>("kind")?,
                "customer_id": owner, "tariff_id": r.try_get::<Option<String>, _>("tariff_id")?,
                "plan_id": r.try_get::<Option<String>, _>("plan_id")?, "registered_on": r.try_get::<String, _>("registered_on")?,
                "location": owner.as_ref().and_then(|o| locations.get(o)),
            }),
        );
    }
    let plans = sqlx::query("SELECT id, kind, appliance, customer_id, serial, currency, body FROM plans ORDER BY seq")
        .fetch_all(&state.db.pool)
        .await?;
    for r in plans {
        let body: Value = serde_json::from_str(&r.try_get::<String, _>("body")?).map_err(ApiError::internal)?;
        push(
            &mut out,
            &json!({
                "type": "plan", "id": r.try_get::<String, _>("id")?, "kind": r.try_get::<String, _>("kind")?,
                "appliance": r.try_get::<String, _>("appliance")?, "customer_id": r.try_get::<String, _>("customer_id")?,
                "serial": r.try_get::<Option<String>, _>("serial")?, "currency": r.try_get::<String, _>("currency")?, "body": body,
            }),
        );
    }
    for v in records::installments(&state.db.pool, &locations).await? {
        push(&mut out, &v);
    }
    // Each meter's access-rate account as stored; the reports accrue it up to their own day.
    for v in records::access_rates(&state.db.pool, &locations).await? {
        push(&mut out, &v);
    }
    for v in records::payments(&state.db.pool, &locations, state.timezone).await? {
        push(&mut out, &v);
    }
    let tokens = sqlx::query(
        "SELECT id, serial, payment_id, kind, unit, quantity, code, count, status, created_at FROM tokens ORDER BY created_at, id",
    )
    .fetch_all(&state.db.pool)
    .await?;
    for r in tokens {
        push(
            &mut out,
            &json!({
                "type": "token", "id": r.try_get::<String, _>("id")?, "serial": r.try_get::<String, _>("serial")?,
                "payment_id": r.try_get::<Option<String>, _>("payment_id")?, "kind": r.try_get::<String, _>("kind")?,
                "unit": r.try_get::<Option<String>, _>("unit")?, "quantity": r.try_get::<Option<String>, _>("quantity")?,
                "code": r.try_get::<Option<String>, _>("code")?, "count": r.try_get::<Option<i64>, _>("count")?,
                "status": r.try_get::<String, _>("status")?, "created_at": r.try_get::<String, _>("created_at")?,
            }),
        );
    }
    Ok(([(header::CONTENT_TYPE, "application/x-ndjson")], out))
}
