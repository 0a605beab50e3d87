//! Payments: validate (no side effects), post (exactly once), read, list, the refused log, and the
//! unmatched queue with assignment.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use micropower_core::api::Channel;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::extract::Body;
use crate::payments::{apply, Accepted, Named, Outcome, PaymentAnswer, PaymentIn, PaymentStatus, Queued};
use crate::state::AppState;
use crate::storage::payments::{self as stored, RefusedPayment, UnmatchedPayment};

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
pub async fn validate(State(state): State<AppState>, Body(body): Body<ValidateIn>) -> Result<Json<Accepted>, ApiError> {
    let channel = body.channel.unwrap_or_default();
    let answer = match Named::of(body.serial.as_deref(), body.plan_id.as_deref()) {
        Ok(named) => crate::payments::validate(&state, named, &body.amount, &body.currency, channel).await,
        Err(e) => Err(e),
    };
    answer.map(Json).map_err(refused_validation)
}

/// A validation's refusal: a 422 says `accepted: false` beside the error.
pub fn refused_validation(refusal: ApiError) -> ApiError {
    if refusal.status == StatusCode::UNPROCESSABLE_ENTITY {
        refusal.with("accepted", false)
    } else {
        refusal
    }
}

/// Any answer to a posted payment: applied (or applied before), or queued as unmatched.
#[derive(Serialize)]
#[serde(untagged)]
pub enum PostAnswer {
    Payment(PaymentAnswer),
    Queued(Queued),
}

impl Outcome {
    /// The status and body that answer this outcome: 201 applied now, 200 applied before, 202 queued.
    pub fn response(self) -> (StatusCode, Json<PostAnswer>) {
        match self {
            Outcome::Applied(a) => (StatusCode::CREATED, Json(PostAnswer::Payment(a))),
            Outcome::Repeat(a) => (StatusCode::OK, Json(PostAnswer::Payment(a))),
            Outcome::Unmatched(q) => (StatusCode::ACCEPTED, Json(PostAnswer::Queued(q))),
        }
    }
}

/// `POST /v1/payments`: 201 on first delivery, 200 with the identical body on any repeat.
pub async fn post(
    State(state): State<AppState>,
    Body(body): Body<PaymentIn>,
) -> ApiResult<(StatusCode, Json<PostAnswer>)> {
    Ok(apply(&state, &body).await?.response())
}

/// `GET /v1/payments/{payment_id}`: the stored answer with its tokens as they are now, and its origin.
#[derive(Serialize)]
pub struct PaymentDetail {
    #[serde(flatten)]
    answer: PaymentAnswer,
    provider: String,
    provider_tx_id: String,
    received_at: String,
    payer_phone: Option<String>,
}

/// `GET /v1/payments/{payment_id}`
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<PaymentDetail>> {
    let stored = stored::payment(&state.db.pool, &id).await?.ok_or_else(|| ApiError::not_found("payment", &id))?;
    let mut answer = stored.response;
    // The stored answer shows tokens as they were; here they are as they are now (a vendor may have filled
    // a pending one since).
    let tokens = stored::payment_tokens(&state.db.pool, &id).await?;
    if !tokens.is_empty() {
        answer.status = PaymentStatus::of(tokens.iter().map(|t| t.status));
        answer.tokens = tokens.iter().map(stored::PaymentToken::answer).collect();
    }
    Ok(Json(PaymentDetail {
        answer,
        provider: stored.provider,
        provider_tx_id: stored.provider_tx_id,
        received_at: stored.received_at,
        payer_phone: stored.payer_phone,
    }))
}

/// Query of `GET /v1/payments`.
#[derive(Deserialize)]
pub struct ListQuery {
    serial: Option<String>,
    limit: Option<i64>,
}

/// The answer of `GET /v1/payments`.
#[derive(Serialize)]
pub struct PaymentList {
    payments: Vec<PaymentAnswer>,
}

/// `GET /v1/payments?serial=…`: newest first.
pub async fn list(State(state): State<AppState>, Query(q): Query<ListQuery>) -> ApiResult<Json<PaymentList>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let serial = match &q.serial {
        Some(raw) => Some(state.normalize_serial(raw).map_err(|e| e.with("field", "serial"))?),
        None => None,
    };
    let payments = stored::answers(&state.db.pool, serial.as_deref(), limit).await?;
    Ok(Json(PaymentList { payments }))
}

/// The answer of `GET /v1/payments/refused`.
#[derive(Serialize)]
pub struct RefusedList {
    refused: Vec<RefusedPayment>,
}

/// `GET /v1/payments/refused`
pub async fn refused(State(state): State<AppState>) -> ApiResult<Json<RefusedList>> {
    Ok(Json(RefusedList { refused: stored::refused(&state.db.pool, 500).await? }))
}

/// The answer of `GET /v1/payments/unmatched`.
#[derive(Serialize)]
pub struct UnmatchedList {
    unmatched: Vec<UnmatchedPayment>,
}

/// `GET /v1/payments/unmatched`: money waiting for an operator.
pub async fn unmatched(State(state): State<AppState>) -> ApiResult<Json<UnmatchedList>> {
    Ok(Json(UnmatchedList { unmatched: stored::unmatched(&state.db.pool, 500).await? }))
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
) -> ApiResult<(StatusCode, Json<PaymentAnswer>)> {
    let waiting = stored::unmatched_by_id(&state.db.pool, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("unmatched payment", &id))?;
    let payment = PaymentIn {
        provider: waiting.provider,
        provider_tx_id: waiting.provider_tx_id,
        serial: Some(body.serial),
        plan_id: None,
        amount: waiting.amount.to_string(),
        currency: waiting.currency,
        received_at: Some(waiting.received_at),
        payer_phone: waiting.payer_phone,
        money_moved: false,
    };
    let (status, answer) = match apply(&state, &payment).await? {
        Outcome::Applied(a) => (StatusCode::CREATED, a),
        Outcome::Repeat(a) => (StatusCode::OK, a),
        Outcome::Unmatched(_) => return Err(ApiError::internal("an assignment cannot be unmatched")),
    };
    stored::mark_assigned(&state.db.pool, &id, &answer.payment_id).await?;
    Ok((status, Json(answer)))
}
