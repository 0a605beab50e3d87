//! Payments: validate (no side effects), post (exactly once), read, list, the refused log, and the
//! unmatched queue with assignment.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::NaiveDate;
use micropower_core::api::Channel;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::Body;
use crate::payments::{apply, Accepted, Named, Outcome, PaymentAnswer, PaymentIn, PaymentStatus, Queued};
use crate::state::AppState;
use crate::storage::audit::{self, Action, Actor, Entry};
use crate::storage::page::{Page, PageQuery};
use crate::storage::payments::{
    self as stored, PaymentFilter, RecordedBy, RefusedPayment, UnmatchedPayment, UnmatchedStatus,
};

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

/// `POST /v1/payments`: 201 on first delivery, 200 with the identical body on any repeat. A configured
/// provider's name belongs to its hooks: money posted under it here is refused (403).
pub async fn post(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(mut body): Body<PaymentIn>,
) -> ApiResult<(StatusCode, Json<PostAnswer>)> {
    if state.provider_names.contains(&state.db.pool, &body.provider).await? {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("{:?} is a configured provider: its payments arrive through its hooks only", body.provider),
        )
        .with("field", "provider"));
    }
    body.recorded_by = Some(caller.key_id);
    Ok(apply(&state, &body).await?.response())
}

/// `GET /v1/payments/{payment_id}`: the stored answer with its tokens as they are now, and its origin.
#[derive(Serialize)]
pub struct PaymentDetail {
    #[serde(flatten)]
    pub answer: PaymentAnswer,
    pub provider: String,
    pub provider_tx_id: String,
    pub received_at: String,
    pub payer_phone: Option<String>,
    /// `{key_id, label}` of the API key that recorded it, `{provider}` for a provider's hook delivery.
    pub recorded_by: Option<RecordedBy>,
    /// Whom the payment was credited to (the receipt names them; the JSON answer names the serial or plan).
    #[serde(skip)]
    pub customer_id: Option<String>,
}

/// `GET /v1/payments/{payment_id}`
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<PaymentDetail>> {
    detail(&state, &id).await.map(Json)
}

/// A payment as `GET /v1/payments/{payment_id}` and its receipt show it; 404 for an unknown id.
pub async fn detail(state: &AppState, id: &str) -> ApiResult<PaymentDetail> {
    let stored = stored::payment(&state.db.pool, id).await?.ok_or_else(|| ApiError::not_found("payment", id))?;
    let recorded_by = stored.recorded_by();
    let mut answer = stored.response;
    // The stored answer shows tokens as they were; here they are as they are now (a vendor may have filled
    // a pending one since).
    let tokens = stored::payment_tokens(&state.db.pool, id).await?;
    if !tokens.is_empty() {
        answer.status = PaymentStatus::of(tokens.iter().map(|t| t.status));
        answer.tokens = tokens.iter().map(stored::PaymentToken::answer).collect();
    }
    Ok(PaymentDetail {
        answer,
        recorded_by,
        provider: stored.provider,
        provider_tx_id: stored.provider_tx_id,
        received_at: stored.received_at,
        payer_phone: stored.payer_phone,
        customer_id: stored.customer_id,
    })
}

/// Filters of `GET /v1/payments`.
#[derive(Deserialize)]
pub struct ListQuery {
    serial: Option<String>,
    /// First business day (YYYY-MM-DD, operator's time zone) the payment was recorded on.
    from: Option<String>,
    /// Last business day, included.
    to: Option<String>,
}

fn day(field: &str, text: &str) -> ApiResult<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| ApiError::unprocessable(field, "a date YYYY-MM-DD is required"))
}

/// `GET /v1/payments?serial=&from=&to=`: newest first. `from` and `to` are business days in the operator's
/// time zone and bound the time the server recorded the payment (`created_at`), the same instant the list
/// is ordered by; a provider's own `received_at` is kept as sent, with whatever offset, so it cannot be
/// compared as stored.
pub async fn list(
    State(state): State<AppState>,
    Query(page): Query<PageQuery>,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Page<PaymentAnswer>>> {
    let page = page.request("payments")?;
    let serial = match &q.serial {
        Some(raw) => Some(state.normalize_serial(raw).await.map_err(|e| e.with("field", "serial"))?),
        None => None,
    };
    let from = q.from.as_deref().map(|t| day("from", t)).transpose()?;
    let to = q.to.as_deref().map(|t| day("to", t)).transpose()?;
    if let (Some(from), Some(to)) = (from, to) {
        if to < from {
            return Err(ApiError::unprocessable("to", "to is before from"));
        }
    }
    let filter = PaymentFilter {
        serial,
        since: from.map(|d| crate::ids::day_start(d, state.timezone)),
        until: to.and_then(|d| d.succ_opt()).map(|d| crate::ids::day_start(d, state.timezone)),
    };
    Ok(Json(stored::answers(&state.db.pool, &filter, &page).await?))
}

/// `GET /v1/payments/refused`: newest first.
pub async fn refused(
    State(state): State<AppState>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<Page<RefusedPayment>>> {
    let page = page.request("refused")?;
    Ok(Json(stored::refused(&state.db.pool, &page).await?))
}

/// Filter of `GET /v1/payments/unmatched`.
#[derive(Deserialize)]
pub struct UnmatchedQuery {
    /// `open` or `assigned`; every entry when absent.
    status: Option<String>,
}

/// `GET /v1/payments/unmatched?status=`: money waiting for an operator, newest first.
pub async fn unmatched(
    State(state): State<AppState>,
    Query(page): Query<PageQuery>,
    Query(q): Query<UnmatchedQuery>,
) -> ApiResult<Json<Page<UnmatchedPayment>>> {
    let page = page.request("unmatched")?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(text) => Some(
            UnmatchedStatus::parse(text)
                .ok_or_else(|| ApiError::unprocessable("status", "status is open or assigned"))?,
        ),
    };
    Ok(Json(stored::unmatched(&state.db.pool, status, &page).await?))
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
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(body): Body<AssignIn>,
) -> ApiResult<(StatusCode, Json<PaymentAnswer>)> {
    let waiting = stored::unmatched_by_id(&state.db.pool, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("unmatched payment", &id))?;
    let payment = PaymentIn {
        provider: waiting.provider.clone(),
        provider_tx_id: waiting.provider_tx_id.clone(),
        serial: Some(body.serial),
        plan_id: None,
        amount: waiting.amount.to_string(),
        currency: waiting.currency.clone(),
        received_at: Some(waiting.received_at.clone()),
        payer_phone: waiting.payer_phone.clone(),
        money_moved: false,
        recorded_by: Some(caller.key_id),
        agent_id: None,
    };
    let (status, answer) = match apply(&state, &payment).await? {
        Outcome::Applied(a) => (StatusCode::CREATED, a),
        Outcome::Repeat(a) => (StatusCode::OK, a),
        Outcome::Unmatched(_) => return Err(ApiError::internal("an assignment cannot be unmatched")),
    };
    let actor = Actor::ApiKey(payment.recorded_by.clone().unwrap_or_default());
    let before = Assignment { status: waiting.status, serial: waiting.serial.as_deref(), payment_id: None };
    let after = Assignment {
        status: UnmatchedStatus::Assigned,
        serial: answer.serial.as_deref(),
        payment_id: Some(&answer.payment_id),
    };
    let entry =
        Entry::new(&actor, Action::UnmatchedAssigned, "unmatched_payment", &id).before(&before)?.after(&after)?;
    // The payment itself is in the journal, committed by `apply`; this records the operator's decision with
    // the mark that closes the entry.
    let _guard = state.db.write_guard().await;
    let mut tx = state.db.pool.begin().await?;
    stored::mark_assigned(&mut *tx, &id, &answer.payment_id).await?;
    audit::record(&mut *tx, &entry).await?;
    tx.commit().await?;
    Ok((status, Json(answer)))
}

/// An unmatched entry as the audit log keeps it.
#[derive(Serialize)]
struct Assignment<'a> {
    status: UnmatchedStatus,
    serial: Option<&'a str>,
    payment_id: Option<&'a str>,
}
