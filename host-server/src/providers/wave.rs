//! Wave webhooks (reference/payment-providers.md §5.1): `Wave-Signature: t=…,v1=…` is an HMAC-SHA256 of
//! `t + raw body` with the signing secret, accepted within 5 minutes; the event `id` deduplicates
//! deliveries and the payment key is the Wave transaction. Both payment events are customer money that has
//! already moved: an unknown serial goes to the unmatched queue.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::store::{self, RawEvent};
use super::{
    by_path, check_signature, decimal, deliver, forbidden_source, source_allowed, unknown_hook, Delivered, Kind,
    Provider, Secret, Source, NO_ANNOUNCEMENT,
};
use crate::error::ApiError;
use crate::payments::PaymentIn;
use crate::state::AppState;

/// A Wave event as delivered: the fields every event has.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub data: Value,
}

/// Reads a (signature-checked) webhook body through the API's checked parse, so text holding a NUL character
/// anywhere in the event is refused here as on every other route: PostgreSQL cannot store one, and an
/// unrefused NUL in the event `id` reached the database as a 500.
pub fn parse_envelope(bytes: &[u8]) -> Result<Envelope, ApiError> {
    crate::extract::parse(bytes)
}

/// A payment an event carries.
#[derive(Debug)]
pub struct WavePayment {
    pub tx_id: String,
    pub serial: String,
    pub amount: Value,
    pub currency: String,
    pub received_at: Option<String>,
}

fn str_at<'a>(data: &'a Value, pointer: &str) -> Option<&'a str> {
    data.pointer(pointer).and_then(Value::as_str).map(str::trim).filter(|s| !s.is_empty())
}

/// The payment in a `checkout.session.completed` (serial in `client_reference`) or a
/// `merchant.payment_received` (serial in `custom_fields.account_number`); `Ok(None)` for events that move
/// no money to us (failed checkouts, test events), `Err` when a payment event lacks a field.
pub fn payment_of(envelope: &Envelope) -> Result<Option<WavePayment>, String> {
    let data = &envelope.data;
    let (tx_id, serial, at) = match envelope.kind.as_str() {
        "checkout.session.completed" => {
            if str_at(data, "/payment_status") != Some("succeeded") {
                return Ok(None);
            }
            (
                str_at(data, "/transaction_id").or_else(|| str_at(data, "/id")),
                str_at(data, "/client_reference"),
                str_at(data, "/when_completed"),
            )
        }
        "merchant.payment_received" => (
            str_at(data, "/transaction_id").or_else(|| str_at(data, "/id")),
            str_at(data, "/custom_fields/account_number"),
            str_at(data, "/when_created"),
        ),
        _ => return Ok(None),
    };
    let tx_id = tx_id.ok_or("data.transaction_id is missing")?;
    let currency = str_at(data, "/currency").ok_or("data.currency is missing")?;
    let amount = data.get("amount").cloned().ok_or("data.amount is missing")?;
    Ok(Some(WavePayment {
        tx_id: tx_id.to_owned(),
        // A payer who typed no account number is still money to match by hand.
        serial: serial.unwrap_or_default().to_owned(),
        amount,
        currency: currency.to_uppercase(),
        received_at: at.filter(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok()).map(str::to_owned),
    }))
}

/// `POST /hooks/wave/{secret}`: 200 once the event is kept and handled (Wave retries anything else), 401 for
/// a missing, stale or wrong signature (not kept: see [`super::check_signature`]), 403 from outside the
/// provider's allowlist, 400 for a body that is not a Wave event.
pub async fn webhook(
    State(state): State<AppState>,
    secret: Secret,
    source: Source,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let provider = match by_path(&state, Kind::Wave, &secret).await {
        Ok(Some(p)) => p,
        Ok(None) => return unknown_hook().into_response(),
        Err(e) => return e.into_response(),
    };
    if !source_allowed(&state, &provider, &source) {
        return forbidden_source().into_response();
    }
    let bytes = match crate::extract::body_bytes(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let header = headers.get("wave-signature").and_then(|v| v.to_str().ok());
    if let Err(refused) = check_signature(&state, &provider, header, b"", &bytes) {
        return refused.into_response();
    }
    let event = RawEvent::new(&provider.id, "webhook", &bytes, header);
    if let Err(e) = store::write(&state, vec![event.insert("received", None, None)]).await {
        return e.into_response();
    }
    let envelope = match parse_envelope(&bytes) {
        Ok(e) => e,
        Err(e) => {
            let why = e.body.get("message").and_then(Value::as_str).unwrap_or_default().to_owned();
            store::set_outcome(&state, &event.id, "malformed", None, Some(&why)).await;
            return e.into_response();
        }
    };
    let event_id = envelope.id.trim().to_owned();
    match store::event_processed(&state, &provider.id, &event_id).await {
        Ok(true) => {
            store::set_outcome(&state, &event.id, "duplicate", Some(&event_id), None).await;
            return Json(EventAnswer { status: "duplicate", event: &event_id }).into_response();
        }
        Ok(false) => {}
        Err(e) => return e.into_response(),
    }
    let payment = match payment_of(&envelope) {
        Ok(Some(p)) => p,
        Ok(None) => {
            store::set_outcome(&state, &event.id, "ignored", Some(&event_id), Some(&envelope.kind)).await;
            return Json(EventAnswer { status: "ignored", event: &event_id }).into_response();
        }
        Err(e) => {
            store::set_outcome(&state, &event.id, "malformed", Some(&event_id), Some(&e)).await;
            return ApiError::invalid("data", e).into_response();
        }
    };
    match handle(&state, &provider, &event.id, &payment).await {
        Ok(delivered) => {
            let detail = match &delivered {
                Delivered::Conflict(reason) => Some(reason.clone()),
                _ => None,
            };
            store::set_outcome(&state, &event.id, delivered.outcome(), Some(&event_id), detail.as_deref()).await;
            tracing::info!(provider = %provider.id, event = %event_id, outcome = delivered.outcome(), "Wave event");
            Json(EventAnswer { status: delivered.outcome(), event: &event_id }).into_response()
        }
        Err(e) => {
            store::set_outcome(&state, &event.id, "error", Some(&event_id), Some(e.code())).await;
            e.into_response()
        }
    }
}

async fn handle(state: &AppState, provider: &Provider, event_id: &str, p: &WavePayment) -> Result<Delivered, ApiError> {
    let received = Received { transaction_id: &p.tx_id, serial: &p.serial, amount: &p.amount, currency: &p.currency };
    if let Some(reason) = store::conflict_reason(state, &provider.id, &p.tx_id).await? {
        return Ok(Delivered::Conflict(reason));
    }
    if p.currency != provider.currency {
        let announced = Announced { currency: &provider.currency };
        return super::conflict(state, provider, &p.tx_id, event_id, "currency_mismatch", Some(&announced), &received)
            .await;
    }
    let Some(amount) = decimal(&p.amount) else {
        return super::conflict(state, provider, &p.tx_id, event_id, "invalid_amount", NO_ANNOUNCEMENT, &received)
            .await;
    };
    if p.serial.is_empty() {
        return super::conflict(state, provider, &p.tx_id, event_id, "no_account_number", NO_ANNOUNCEMENT, &received)
            .await;
    }
    let payment = PaymentIn {
        provider: provider.name.clone(),
        provider_tx_id: p.tx_id.clone(),
        serial: Some(p.serial.clone()),
        plan_id: None,
        amount: amount.to_string(),
        currency: p.currency.clone(),
        received_at: p.received_at.clone(),
        payer_phone: None,
        money_moved: true,
        recorded_by: None,
        agent_id: None,
    };
    deliver(state, provider, event_id, &payment).await
}

/// Our answer to a Wave event: what became of it.
#[derive(Serialize)]
struct EventAnswer<'a> {
    status: &'a str,
    event: &'a str,
}

/// What a Wave payment said, as a conflict keeps it (the amount as Wave sent it: a string or a number).
#[derive(Serialize)]
struct Received<'a> {
    transaction_id: &'a str,
    serial: &'a str,
    amount: &'a Value,
    currency: &'a str,
}

/// The provider's side of a currency conflict: the currency it is configured for.
#[derive(Serialize)]
struct Announced<'a> {
    currency: &'a str,
}
