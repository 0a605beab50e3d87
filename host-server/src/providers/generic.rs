//! The generic HMAC hook for aggregators: the `POST /v1/payments` body (and the `POST /v1/payments/validate`
//! body), signed with `X-Signature: t=<unix>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, 5-minute window.
//! Answers are those of `/v1/payments`; a payment whose amount or currency differs from what the same
//! aggregator announced in a validation for that `provider_tx_id` is a 409 conflict and credits nothing.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use micropower_core::api::Channel;
use serde::{Deserialize, Serialize};

use super::store::{self, RawEvent};
use super::{
    by_path, check_signature, deliver, forbidden_source, source_allowed, unknown_hook, Delivered, Kind, Provider,
    Secret, Source,
};
use crate::error::ApiError;
use crate::ids::new_id;
use crate::payments::PaymentIn;
use crate::state::AppState;

/// A signed request that reached a generic hook and was kept.
struct Signed {
    provider: Provider,
    event: RawEvent,
    bytes: Bytes,
}

/// Finds the provider, checks the source and the signature, and only then keeps the delivery: a body whose
/// signature fails is not stored (see [`super::check_signature`]).
async fn admit(
    state: &AppState,
    secret: &str,
    source: &Source,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
    hook: &'static str,
) -> Result<Signed, Response> {
    let provider = match by_path(state, Kind::GenericHmac, secret).await {
        Ok(Some(p)) => p,
        Ok(None) => return Err(unknown_hook().into_response()),
        Err(e) => return Err(e.into_response()),
    };
    if !source_allowed(state, &provider, source) {
        return Err(forbidden_source().into_response());
    }
    let bytes = crate::extract::body_bytes(body).map_err(IntoResponse::into_response)?;
    let header = headers.get("x-signature").and_then(|v| v.to_str().ok());
    check_signature(state, &provider, header, b".", &bytes).map_err(IntoResponse::into_response)?;
    let event = RawEvent::new(&provider.id, hook, &bytes, header);
    store::write(state, vec![event.insert("received", None, None)]).await.map_err(IntoResponse::into_response)?;
    Ok(Signed { provider, event, bytes })
}

/// The body of the generic validate hook: `/v1/payments/validate`'s, plus the aggregator's transaction id
/// when it wants the later payment checked against this announcement.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidateIn {
    #[serde(default)]
    serial: Option<String>,
    #[serde(default)]
    plan_id: Option<String>,
    amount: String,
    currency: String,
    #[serde(default)]
    provider_tx_id: Option<String>,
}

/// `POST /hooks/hmac/{secret}/validate`: the answers of `POST /v1/payments/validate`.
pub async fn validate(
    State(state): State<AppState>,
    secret: Secret,
    source: Source,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let signed = match admit(&state, &secret, &source, &headers, body, "validate").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let input: ValidateIn = match crate::extract::parse(&signed.bytes) {
        Ok(v) => v,
        Err(e) => {
            store::set_outcome(&state, &signed.event.id, "malformed", None, Some(e.code())).await;
            return e.into_response();
        }
    };
    let answer = match crate::payments::Named::of(input.serial.as_deref(), input.plan_id.as_deref()) {
        Ok(named) => crate::payments::validate(&state, named, &input.amount, &input.currency, Channel::Provider).await,
        Err(e) => Err(e),
    };
    let code = match &answer {
        Ok(_) => "0".to_owned(),
        Err(e) => e.code().to_owned(),
    };
    if let Some(tx) = input.provider_tx_id.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let announce = store::announcement_insert(
            &new_id(),
            &signed.provider.id,
            tx,
            // The account announced: the serial, or the plan id.
            input.serial.as_deref().or(input.plan_id.as_deref()).unwrap_or_default(),
            Some(input.amount.trim().to_owned()),
            &input.currency.trim().to_uppercase(),
            &code,
        );
        if let Err(e) = store::write(&state, vec![announce]).await {
            return e.into_response();
        }
    }
    let outcome = if answer.is_ok() { "accepted" } else { "rejected" };
    store::set_outcome(&state, &signed.event.id, outcome, input.provider_tx_id.as_deref(), Some(&code)).await;
    match answer {
        Ok(accepted) => Json(accepted).into_response(),
        Err(refusal) => crate::routes::payments::refused_validation(refusal).into_response(),
    }
}

/// `POST /hooks/hmac/{secret}/payments`: 201 / 200 (repeat) / 202 (unmatched) as `POST /v1/payments`, 409
/// `conflict` when the money disagrees with the announcement, 401 for a bad signature, 403 from outside the
/// provider's allowlist.
pub async fn payments(
    State(state): State<AppState>,
    secret: Secret,
    source: Source,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let signed = match admit(&state, &secret, &source, &headers, body, "payments").await {
        Ok(s) => s,
        Err(r) => return r,
    };
    let payment: PaymentIn = match crate::extract::parse(&signed.bytes) {
        Ok(p) => p,
        Err(e) => {
            store::set_outcome(&state, &signed.event.id, "malformed", None, Some(e.code())).await;
            return e.into_response();
        }
    };
    let tx_id = payment.provider_tx_id.clone();
    let result = pay(&state, &signed, &payment).await;
    let (outcome, detail) = match &result {
        Ok(d) => (d.outcome(), if let Delivered::Conflict(r) = d { Some(r.clone()) } else { None }),
        Err(e) if e.status.is_client_error() => ("rejected", Some(e.code().to_owned())),
        Err(e) => ("error", Some(e.code().to_owned())),
    };
    store::set_outcome(&state, &signed.event.id, outcome, Some(&tx_id), detail.as_deref()).await;
    match result {
        Ok(Delivered::Credited(v)) => (StatusCode::CREATED, Json(v)).into_response(),
        Ok(Delivered::Duplicate(v)) => (StatusCode::OK, Json(v)).into_response(),
        Ok(Delivered::Unmatched(v)) => (StatusCode::ACCEPTED, Json(v)).into_response(),
        Ok(Delivered::Conflict(reason)) => ApiError::conflict(format!(
            "this payment disagrees with what was announced ({reason}); nothing was credited"
        ))
        .with("reason", reason)
        .into_response(),
        Err(e) => e.into_response(),
    }
}

async fn pay(state: &AppState, signed: &Signed, payment: &PaymentIn) -> Result<Delivered, ApiError> {
    let provider = &signed.provider;
    if payment.provider != provider.name {
        return Err(ApiError::invalid(
            "provider",
            format!("this hook records payments as provider {:?}", provider.name),
        ));
    }
    if let Some(reason) = store::conflict_reason(state, &provider.id, &payment.provider_tx_id).await? {
        return Ok(Delivered::Conflict(reason));
    }
    if let Some(a) = store::announcement(state, &provider.id, None, &payment.provider_tx_id).await? {
        let announced_amount = a.amount.as_deref().and_then(|t| t.parse::<rust_decimal::Decimal>().ok());
        let amount = payment.amount.trim().parse::<rust_decimal::Decimal>().ok();
        let currency = payment.currency.trim().to_uppercase();
        if announced_amount != amount || a.currency != currency {
            let announced = Announced { amount: a.amount.as_deref(), currency: &a.currency, serial: &a.serial_raw };
            let received = Received {
                amount: &payment.amount,
                currency: &payment.currency,
                serial: payment.serial.as_deref(),
                plan_id: payment.plan_id.as_deref(),
            };
            return super::conflict(
                state,
                provider,
                &payment.provider_tx_id,
                &signed.event.id,
                "amount_mismatch",
                Some(&announced),
                &received,
            )
            .await;
        }
    }
    deliver(state, provider, &signed.event.id, payment).await
}

/// What an aggregator announced in its validation, as a conflict keeps it.
#[derive(Serialize)]
struct Announced<'a> {
    amount: Option<&'a str>,
    currency: &'a str,
    serial: &'a str,
}

/// What the aggregator's payment said, as a conflict keeps it.
#[derive(Serialize)]
struct Received<'a> {
    amount: &'a str,
    currency: &'a str,
    serial: Option<&'a str>,
    plan_id: Option<&'a str>,
}
