//! Payments: validate (no side effects), post (exactly once), read, list, the refused log, and the
//! unmatched queue with assignment.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use micropower_core::api::Channel;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::Row;

use crate::error::{ApiError, ApiResult};
use crate::extract::Body;
use crate::payments::{apply, Named, Outcome, PaymentIn};
use crate::repo;
use crate::state::AppState;

/// The body of `POST /v1/payments/validate`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateIn {
    /// The device; exactly one of `serial` and `plan_id`.
    #[serde(default)]
    serial: Option<String>,
    /// A plan, instead of a device.
    #[serde(default)]
    plan_id: Option<String>,
    amount: String,
    currency: String,
    /// `provider` (default) or `operator` (the web form, which refuses less than the next installment).
    #[serde(default)]
    channel: Option<Channel>,
}

/// `POST /v1/payments/validate`: `{accepted: true, customer_name, minimum_amount, preview}` or 422
/// `{accepted: false, code, message, minimum_amount?}`.
pub async fn validate(State(state): State<AppState>, Body(body): Body<ValidateIn>) -> Result<Json<Value>, ApiError> {
    let channel = body.channel.unwrap_or_default();
    let answer = match Named::of(body.serial.as_deref(), body.plan_id.as_deref()) {
        Ok(named) => crate::payments::validate(&state, named, &body.amount, &body.currency, channel).await,
        Err(e) => Err(e),
    };
    match answer {
        Ok(answer) => Ok(Json(accepted(&answer))),
        Err(refusal) if refusal.status == StatusCode::UNPROCESSABLE_ENTITY => {
            Err(refusal.with("accepted", json!(false)))
        }
        Err(other) => Err(other),
    }
}

/// The accepted answer of a validation, from the core's `Validation`.
pub fn accepted(answer: &Value) -> Value {
    let preview = answer.get("preview").cloned().unwrap_or(Value::Null);
    json!({
        "accepted": true,
        "customer_name": answer.get("customer_name"),
        "minimum_amount": answer.get("minimum_amount"),
        "preview": {
            "allocations": preview.get("lines"),
            "credit_used": preview.get("credit_used"),
            "credit_added": preview.get("credit_added"),
            "credit_balance": preview.get("credit_balance"),
            "tokens": preview.get("token").filter(|t| !t.is_null()).map(|t| vec![t.clone()]).unwrap_or_default(),
            "no_token_reason": preview.get("no_token_reason"),
        },
    })
}

/// `POST /v1/payments`: 201 on first delivery, 200 with the identical body on any repeat.
pub async fn post(State(state): State<AppState>, Body(body): Body<PaymentIn>) -> ApiResult<(StatusCode, Json<Value>)> {
    Ok(match apply(&state, &body).await? {
        Outcome::Applied(v) => (StatusCode::CREATED, Json(v)),
        Outcome::Repeat(v) => (StatusCode::OK, Json(v)),
        Outcome::Unmatched(v) => (StatusCode::ACCEPTED, Json(v)),
    })
}

/// `GET /v1/payments/{payment_id}`
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let row =
        sqlx::query("SELECT response, provider, provider_tx_id, received_at, payer_phone FROM payments WHERE id = $1")
            .bind(&id)
            .fetch_optional(&state.db.pool)
            .await?
            .ok_or_else(|| ApiError::not_found("payment", &id))?;
    let mut v: Value = serde_json::from_str(&row.try_get::<String, _>("response")?).map_err(ApiError::internal)?;
    // The stored answer shows tokens as they were; here they are as they are now (a vendor may have filled
    // a pending one since).
    let tokens = sqlx::query(
        "SELECT kind, unit, quantity, code, count, status FROM tokens WHERE payment_id = $1 ORDER BY count, id",
    )
    .bind(&id)
    .fetch_all(&state.db.pool)
    .await?;
    if !tokens.is_empty() {
        let mut now = Vec::new();
        let mut pending = false;
        for t in &tokens {
            pending |= t.try_get::<String, _>("status")? == "pending";
            now.push(json!({
                "kind": t.try_get::<String, _>("kind")?, "unit": t.try_get::<Option<String>, _>("unit")?,
                "quantity": t.try_get::<Option<String>, _>("quantity")?, "code": t.try_get::<Option<String>, _>("code")?,
                "count": t.try_get::<Option<i64>, _>("count")?,
            }));
        }
        if let Some(map) = v.as_object_mut() {
            map.insert("tokens".into(), json!(now));
            map.insert("status".into(), json!(if pending { "token_pending" } else { "completed" }));
        }
    }
    if let Some(map) = v.as_object_mut() {
        map.insert("provider".into(), json!(row.try_get::<String, _>("provider")?));
        map.insert("provider_tx_id".into(), json!(row.try_get::<String, _>("provider_tx_id")?));
        map.insert("received_at".into(), json!(row.try_get::<String, _>("received_at")?));
        map.insert("payer_phone".into(), json!(row.try_get::<Option<String>, _>("payer_phone")?));
    }
    Ok(Json(v))
}

/// Query of `GET /v1/payments`.
#[derive(Deserialize)]
pub struct ListQuery {
    serial: Option<String>,
    limit: Option<i64>,
}

/// `GET /v1/payments?serial=…`: newest first.
pub async fn list(State(state): State<AppState>, Query(q): Query<ListQuery>) -> ApiResult<Json<Value>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = match &q.serial {
        Some(raw) => {
            let serial = state.normalize_serial(raw).map_err(|e| e.with("field", json!("serial")))?;
            sqlx::query("SELECT response FROM payments WHERE serial = $1 ORDER BY created_at DESC, id DESC LIMIT $2")
                .bind(serial)
                .bind(limit)
                .fetch_all(&state.db.pool)
                .await?
        }
        None => {
            sqlx::query("SELECT response FROM payments ORDER BY created_at DESC, id DESC LIMIT $1")
                .bind(limit)
                .fetch_all(&state.db.pool)
                .await?
        }
    };
    let payments: Vec<Value> = rows
        .iter()
        .map(|r| r.try_get::<String, _>("response").map(|t| serde_json::from_str(&t).unwrap_or(Value::Null)))
        .collect::<Result<_, _>>()?;
    Ok(Json(json!({"payments": payments})))
}

/// `GET /v1/payments/refused`
pub async fn refused(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let rows = sqlx::query(
        "SELECT id, provider, provider_tx_id, NULLIF(serial, '') AS serial, plan_id, amount, currency, code, message, created_at \
         FROM refused_payments ORDER BY created_at DESC LIMIT 500",
    )
    .fetch_all(&state.db.pool)
    .await?;
    let columns = [
        "id",
        "provider",
        "provider_tx_id",
        "serial",
        "plan_id",
        "amount",
        "currency",
        "code",
        "message",
        "created_at",
    ];
    let out = rows.iter().map(|r| repo::text_columns(r, &columns)).collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(json!({"refused": out})))
}

/// `GET /v1/payments/unmatched`: money waiting for an operator.
pub async fn unmatched(State(state): State<AppState>) -> ApiResult<Json<Value>> {
    let rows = sqlx::query(
        "SELECT id, provider, provider_tx_id, serial, amount, currency, received_at, payer_phone, status, payment_id, created_at \
         FROM unmatched_payments ORDER BY created_at DESC LIMIT 500",
    )
    .fetch_all(&state.db.pool)
    .await?;
    let columns = [
        "id",
        "provider",
        "provider_tx_id",
        "serial",
        "amount",
        "currency",
        "received_at",
        "payer_phone",
        "status",
        "payment_id",
        "created_at",
    ];
    let out = rows.iter().map(|r| repo::text_columns(r, &columns)).collect::<ApiResult<Vec<_>>>()?;
    Ok(Json(json!({"unmatched": out})))
}

/// The body of `POST /v1/payments/unmatched/{id}/assign`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssignIn {
    serial: String,
}

/// `POST /v1/payments/unmatched/{id}/assign`: applies the waiting money to a device, once.
pub async fn assign(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(body): Body<AssignIn>,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let row = sqlx::query(
        "SELECT provider, provider_tx_id, amount, currency, received_at, payer_phone, status FROM unmatched_payments WHERE id = $1",
    )
    .bind(&id)
    .fetch_optional(&state.db.pool)
    .await?
    .ok_or_else(|| ApiError::not_found("unmatched payment", &id))?;
    let payment = PaymentIn {
        provider: row.try_get("provider")?,
        provider_tx_id: row.try_get("provider_tx_id")?,
        serial: Some(body.serial),
        plan_id: None,
        amount: row.try_get("amount")?,
        currency: row.try_get("currency")?,
        received_at: Some(row.try_get("received_at")?),
        payer_phone: row.try_get("payer_phone")?,
        money_moved: false,
    };
    let (status, answer) = match apply(&state, &payment).await? {
        Outcome::Applied(v) => (StatusCode::CREATED, v),
        Outcome::Repeat(v) => (StatusCode::OK, v),
        Outcome::Unmatched(_) => return Err(ApiError::internal("an assignment cannot be unmatched")),
    };
    sqlx::query("UPDATE unmatched_payments SET status = 'assigned', payment_id = $1 WHERE id = $2")
        .bind(answer.get("payment_id").and_then(Value::as_str))
        .bind(&id)
        .execute(&state.db.pool)
        .await?;
    Ok((status, Json(answer)))
}
