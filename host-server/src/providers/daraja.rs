//! Safaricom M-Pesa Daraja C2B, in Safaricom's own wire format (reference/payment-providers.md §1).
//!
//! Validation (before the money moves) asks the core and answers `0` or a rejection code, always HTTP 200,
//! with our validation id as `ThirdPartyTransID`; M-PESA echoes it in the confirmation, which is checked
//! against what was validated (an echoed id we never gave is a conflict; with the provider's
//! `require_validation`, so is a confirmation without an accepted validation). Confirmation (the money has
//! moved) credits once per `TransID`, queues an unknown serial as unmatched, and always acknowledges: a
//! non-zero answer cannot undo a completed payment.
//! The `MSISDN` is masked by Safaricom, so it is never used as an identity (nor kept as the payer's phone).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::TimeZone;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::store::{self, RawEvent};
use super::{
    by_path, decimal, deliver, forbidden_source, source_allowed, unknown_hook, Delivered, Kind, Provider, Secret,
    Source,
};
use crate::error::ApiError;
use crate::ids::new_id;
use crate::payments::PaymentIn;
use crate::state::AppState;

/// Safaricom waits about 8 s; past this we refuse rather than let its default (`ResponseType`) decide.
const VALIDATION_BUDGET: Duration = Duration::from_secs(3);

/// The fields of a C2B validation or confirmation we use; the others stay in the kept raw payload.
#[derive(Debug, Deserialize)]
pub struct C2b {
    #[serde(rename = "TransID")]
    pub trans_id: String,
    #[serde(rename = "TransTime", default)]
    pub trans_time: Option<String>,
    #[serde(rename = "TransAmount")]
    pub trans_amount: Value,
    #[serde(rename = "BusinessShortCode")]
    pub short_code: Value,
    #[serde(rename = "BillRefNumber", default)]
    pub bill_ref: Option<String>,
    #[serde(rename = "ThirdPartyTransID", default)]
    pub third_party: Option<String>,
}

/// Reads a validation or confirmation body. It goes through the API's checked parse, so text holding a NUL
/// character is refused here as on every other route: PostgreSQL cannot store one, and an unrefused NUL in
/// `TransID` or `BillRefNumber` reached the database as a 500. The error is `<field>: <why>`.
pub fn parse(bytes: &[u8]) -> Result<C2b, String> {
    let c2b: C2b = crate::extract::parse(bytes).map_err(|e| {
        let text = |key: &str| e.body.get(key).and_then(Value::as_str).unwrap_or_default().to_owned();
        format!("{}: {}", text("field"), text("message"))
    })?;
    let id = c2b.trans_id.trim();
    if id.is_empty() || id.len() > 64 {
        return Err("TransID: 1 to 64 characters are required".into());
    }
    Ok(c2b)
}

fn text(value: &Value) -> String {
    super::field_text(value).unwrap_or_default()
}

/// `TransTime` (`YYYYMMDDHHmmss`, East Africa Time) as an RFC 3339 instant.
pub fn received_at(trans_time: Option<&str>) -> Option<String> {
    let naive = chrono::NaiveDateTime::parse_from_str(trans_time?.trim(), "%Y%m%d%H%M%S").ok()?;
    let eat = chrono::FixedOffset::east_opt(3 * 3600)?;
    Some(eat.from_local_datetime(&naive).single()?.to_rfc3339())
}

/// A validation's answer in Safaricom's format. `ResultCode` is text here (`"0"`, `"C2B00012"`).
#[derive(Serialize)]
struct ValidationAnswer<'a> {
    #[serde(rename = "ResultCode")]
    code: &'a str,
    #[serde(rename = "ResultDesc")]
    description: &'static str,
    /// Our validation id, which M-PESA echoes in the confirmation; only on acceptance.
    #[serde(rename = "ThirdPartyTransID", skip_serializing_if = "Option::is_none")]
    reference: Option<&'a str>,
}

/// A confirmation's acknowledgement in Safaricom's format, where `ResultCode` is the number 0.
#[derive(Serialize)]
struct Acknowledgement {
    #[serde(rename = "ResultCode")]
    code: u8,
    #[serde(rename = "ResultDesc")]
    description: &'static str,
}

fn reject(code: &str) -> Response {
    let answer = ValidationAnswer { code, description: "Rejected", reference: None };
    (StatusCode::OK, Json(answer)).into_response()
}

/// What a validation decided, before it is written.
struct Verdict {
    code: &'static str,
    detail: Option<String>,
    parsed: Option<(String, String, Option<String>)>,
}

/// The core's refusal as Safaricom's result code.
fn result_code(refusal: &ApiError) -> &'static str {
    if refusal.status.is_server_error() {
        return "C2B00016";
    }
    match refusal.code() {
        "amount_below_minimum" | "invalid_amount" => "C2B00013",
        "engine_limit" => "C2B00016",
        // Unknown, unassigned, or billed in another currency than this paybill's: not an account here.
        _ => "C2B00012",
    }
}

async fn judge(state: &AppState, provider: &Provider, bytes: &[u8]) -> Verdict {
    let c2b = match parse(bytes) {
        Ok(c) => c,
        Err(e) => return Verdict { code: "C2B00016", detail: Some(format!("malformed: {e}")), parsed: None },
    };
    let tx_id = c2b.trans_id.trim().to_owned();
    let serial_raw = c2b.bill_ref.clone().unwrap_or_default();
    let amount = decimal(&c2b.trans_amount);
    let parsed = Some((tx_id, serial_raw.clone(), amount.map(|a| a.to_string())));
    if provider.shortcode.as_deref() != Some(text(&c2b.short_code).as_str()) {
        return Verdict { code: "C2B00015", detail: Some(format!("shortcode {}", text(&c2b.short_code))), parsed };
    }
    let Some(amount) = amount else {
        return Verdict { code: "C2B00013", detail: Some("TransAmount is not a positive decimal".into()), parsed };
    };
    if serial_raw.trim().is_empty() {
        return Verdict { code: "C2B00012", detail: Some("no BillRefNumber".into()), parsed };
    }
    match crate::payments::validate(
        state,
        crate::payments::Named::Serial(&serial_raw),
        &amount.to_string(),
        &provider.currency,
        micropower_core::api::Channel::Provider,
    )
    .await
    {
        Ok(_) => Verdict { code: "0", detail: None, parsed },
        Err(refusal) => Verdict { code: result_code(&refusal), detail: Some(refusal.code().to_owned()), parsed },
    }
}

/// `POST /hooks/c2b/{secret}/validation`: always HTTP 200 in Safaricom's format (an unknown path is 404, an
/// oversized body 413, and a delivery from outside the provider's allowlist 403 with Safaricom's rejection:
/// none comes from Safaricom).
pub async fn validation(
    State(state): State<AppState>,
    secret: Secret,
    source: Source,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let provider = match by_path(&state, Kind::DarajaC2b, &secret).await {
        Ok(Some(p)) => p,
        Ok(None) => return unknown_hook().into_response(),
        Err(_) => return reject("C2B00016"),
    };
    if !source_allowed(&state, &provider, &source) {
        let answer = ValidationAnswer { code: "C2B00016", description: "Rejected", reference: None };
        return (StatusCode::FORBIDDEN, Json(answer)).into_response();
    }
    let bytes = match crate::extract::body_bytes(body) {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    match tokio::time::timeout(VALIDATION_BUDGET, validate(&state, &provider, &bytes)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::error!(provider = %provider.id, "Daraja validation over budget: rejected with C2B00016");
            reject("C2B00016")
        }
    }
}

async fn validate(state: &AppState, provider: &Provider, bytes: &[u8]) -> Response {
    let verdict = judge(state, provider, bytes).await;
    let event = RawEvent::new(&provider.id, "validation", bytes, None);
    let outcome = if verdict.code == "0" { "accepted" } else { "rejected" };
    let detail = format!("{}{}", verdict.code, verdict.detail.as_deref().map(|d| format!(": {d}")).unwrap_or_default());
    let reference = new_id();
    let mut inserts = vec![event.insert(outcome, verdict.parsed.as_ref().map(|(tx, _, _)| tx.as_str()), Some(&detail))];
    if let Some((tx, serial, amount)) = &verdict.parsed {
        inserts.push(store::announcement_insert(
            &reference,
            &provider.id,
            tx,
            serial,
            amount.clone(),
            &provider.currency,
            verdict.code,
        ));
    }
    // Nothing is answered before the delivery is kept; if it cannot be kept, refuse (the customer can retry).
    if let Err(e) = store::write(state, inserts).await {
        tracing::error!(provider = %provider.id, error = ?e.body, "Daraja validation not kept: rejected with C2B00016");
        return reject("C2B00016");
    }
    tracing::info!(provider = %provider.id, code = verdict.code, detail = %detail, "Daraja validation answered");
    if verdict.code == "0" {
        Json(ValidationAnswer { code: "0", description: "Accepted", reference: Some(&reference) }).into_response()
    } else {
        reject(verdict.code)
    }
}

fn acknowledge() -> Response {
    Json(Acknowledgement { code: 0, description: "Success" }).into_response()
}

/// `POST /hooks/c2b/{secret}/confirmation`: the delivery is kept first; then credited once per `TransID`,
/// queued as unmatched, or kept as a conflict; answered with Safaricom's success acknowledgement. A body
/// that is not a confirmation is 400 (kept raw for an operator); a failure of ours is 500, never a false
/// acknowledgement. A delivery from outside the provider's allowlist is 403 and not kept.
pub async fn confirmation(
    State(state): State<AppState>,
    secret: Secret,
    source: Source,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let provider = match by_path(&state, Kind::DarajaC2b, &secret).await {
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
    let event = RawEvent::new(&provider.id, "confirmation", &bytes, None);
    if let Err(e) = store::write(&state, vec![event.insert("received", None, None)]).await {
        return e.into_response();
    }
    let c2b = match parse(&bytes) {
        Ok(c) => c,
        Err(e) => {
            store::set_outcome(&state, &event.id, "malformed", None, Some(&e)).await;
            return ApiError::invalid("body", format!("not a C2B confirmation: {e}")).into_response();
        }
    };
    let tx_id = c2b.trans_id.trim().to_owned();
    match confirm(&state, &provider, &event.id, &c2b).await {
        Ok(delivered) => {
            let detail = match &delivered {
                Delivered::Conflict(reason) => Some(reason.clone()),
                _ => None,
            };
            store::set_outcome(&state, &event.id, delivered.outcome(), Some(&tx_id), detail.as_deref()).await;
            tracing::info!(provider = %provider.id, trans_id = %tx_id, outcome = delivered.outcome(), "Daraja confirmation");
            acknowledge()
        }
        Err(e) => {
            store::set_outcome(&state, &event.id, "error", Some(&tx_id), Some(e.code())).await;
            e.into_response()
        }
    }
}

async fn confirm(state: &AppState, provider: &Provider, event_id: &str, c2b: &C2b) -> Result<Delivered, ApiError> {
    let tx_id = c2b.trans_id.trim();
    let serial_raw = c2b.bill_ref.clone().unwrap_or_default();
    let amount = decimal(&c2b.trans_amount);
    let received = Received {
        trans_id: tx_id,
        third_party_trans_id: c2b.third_party.as_deref().map(str::trim).unwrap_or_default(),
        serial: &serial_raw,
        amount: text(&c2b.trans_amount),
        currency: &provider.currency,
        shortcode: text(&c2b.short_code),
    };
    if let Some(reason) = store::conflict_reason(state, &provider.id, tx_id).await? {
        return Ok(Delivered::Conflict(reason));
    }
    let received = &received;
    let conflict = |reason: &'static str, announced: Option<Announced>| async move {
        super::conflict(state, provider, tx_id, event_id, reason, announced.as_ref(), received).await
    };
    if provider.shortcode.as_deref() != Some(received.shortcode.as_str()) {
        return conflict("foreign_shortcode", Some(Announced::Shortcode { shortcode: provider.shortcode.clone() }))
            .await;
    }
    let Some(amount) = amount else { return conflict("invalid_amount", None).await };
    if serial_raw.trim().is_empty() {
        return conflict("no_account_number", None).await;
    }
    // Our reference, when M-PESA echoes one: the id of the validation we accepted.
    let reference = c2b.third_party.as_deref().map(str::trim).filter(|r| !r.is_empty());
    match store::announcement(state, &provider.id, reference, tx_id).await? {
        // A reference we never gave out is forged or meant for someone else: it names no validation to
        // check the money against, so it is never credited on trust, whatever `require_validation` says.
        None if reference.is_some() => return conflict("unknown_validation_reference", None).await,
        None if provider.require_validation => return conflict("no_validation", None).await,
        None => {}
        Some(a) => {
            let announced = || Announced::Validation {
                validation_id: a.id.clone(),
                trans_id: a.provider_tx_id.clone(),
                serial: a.serial_raw.clone(),
                amount: a.amount.clone(),
                currency: a.currency.clone(),
                result_code: a.result_code.clone(),
            };
            if a.provider_tx_id != tx_id {
                return conflict("reference_mismatch", Some(announced())).await;
            }
            if provider.require_validation && a.result_code != "0" {
                return conflict("validation_rejected", Some(announced())).await;
            }
            let announced_amount = a.amount.as_deref().and_then(|t| t.parse::<rust_decimal::Decimal>().ok());
            if announced_amount != Some(amount) || a.currency != provider.currency {
                return conflict("amount_mismatch", Some(announced())).await;
            }
            if same_serial(state, &a.serial_raw, &serial_raw).await == Some(false) {
                return conflict("account_mismatch", Some(announced())).await;
            }
        }
    }
    let payment = PaymentIn {
        provider: provider.name.clone(),
        provider_tx_id: tx_id.to_owned(),
        serial: Some(serial_raw),
        plan_id: None,
        amount: amount.to_string(),
        currency: provider.currency.clone(),
        received_at: received_at(c2b.trans_time.as_deref()),
        payer_phone: None,
        money_moved: true,
        recorded_by: None,
        agent_id: None,
    };
    deliver(state, provider, event_id, &payment).await
}

/// What a confirmation said, as a conflict keeps it.
#[derive(Serialize)]
struct Received<'a> {
    trans_id: &'a str,
    /// The validation reference M-PESA echoed (empty when none).
    third_party_trans_id: &'a str,
    serial: &'a str,
    amount: String,
    currency: &'a str,
    shortcode: String,
}

/// The side a confirmation is set against: the shortcode we are, or the validation that came before.
#[derive(Serialize)]
#[serde(untagged)]
enum Announced {
    Shortcode {
        shortcode: Option<String>,
    },
    Validation {
        validation_id: String,
        trans_id: String,
        serial: String,
        amount: Option<String>,
        currency: String,
        result_code: String,
    },
}

/// Whether two typed account numbers name the same serial (the core normalises); `None` if either is not a
/// serial at all.
async fn same_serial(state: &AppState, a: &str, b: &str) -> Option<bool> {
    let a = state.normalize_serial(a).await.ok()?;
    let b = state.normalize_serial(b).await.ok()?;
    Some(a == b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn trans_time_is_east_africa_time() {
        assert_eq!(received_at(Some("20231121121325")).as_deref(), Some("2023-11-21T12:13:25+03:00"));
        assert_eq!(received_at(Some("2023-11-21")), None);
        assert_eq!(received_at(None), None);
    }

    #[test]
    fn amounts_are_exact_decimals() {
        assert_eq!(decimal(&json!("5.00")).map(|d| d.to_string()).as_deref(), Some("5.00"));
        assert_eq!(decimal(&json!(5)).map(|d| d.to_string()).as_deref(), Some("5"));
        assert_eq!(decimal(&json!(1234.56)).map(|d| d.to_string()).as_deref(), Some("1234.56"));
        // Numbers an f64 cannot carry exactly are refused rather than rounded.
        let read = |text: &str| decimal(&serde_json::from_str(text).unwrap()).map(|d| d.to_string());
        assert_eq!(read("123456789012.345").as_deref(), Some("123456789012.345"));
        assert_eq!(read("0.12345678901234567"), None);
        assert_eq!(read("1e3").as_deref(), Some("1000.0"));
        assert_eq!(read("1.5e300"), None);
        assert_eq!(read("18446744073709551615").as_deref(), Some("18446744073709551615"));
        assert_eq!(read("100000000000000000000"), None);
        assert_eq!(decimal(&json!("0")), None);
        assert_eq!(decimal(&json!("-5")), None);
        assert_eq!(decimal(&json!("five")), None);
        assert_eq!(decimal(&json!(null)), None);
    }
}
