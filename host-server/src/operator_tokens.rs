//! Operator tokens: codes an operator makes for an OpenPAYGO device without any money moving (MPM issue #490),
//! for one device (`POST /v1/devices/{serial}/tokens`) or many at once (`POST /v1/tokens/bulk`, e.g. seven
//! free days after an outage). Both make, count and record a token the same way, here.

use micropower_core::api::OpenPaygoKind;
use micropower_core::calls;
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::{Any, Transaction};

use crate::auth::Role;
use crate::error::{ApiError, ApiResult};
use crate::payments::{record_tokens, QuantityUnit, TokenKind, TokenOut, TokenStatus};
use crate::repo::DeviceRow;
use crate::state::AppState;
use crate::storage::audit::{self, Action, Actor, Entry};
use crate::storage::store::{self as sql, PaymentStore};

/// Which token to make, checked once for however many devices get it.
#[derive(Debug, Clone)]
pub struct TokenOrder {
    kind: TokenKind,
    openpaygo_kind: OpenPaygoKind,
    days: Option<Decimal>,
    /// As the operator typed them, for the answer.
    days_text: Option<String>,
}

impl TokenOrder {
    /// `kind` (`add_time`, `set_time`, `counter_sync`, `unlock`) with `days` for the two time kinds, asked by
    /// a caller with `role`.
    pub fn parse(kind: &str, days: Option<&str>, role: Role) -> ApiResult<TokenOrder> {
        let (kind, openpaygo_kind) = match kind.trim() {
            "add_time" => (TokenKind::AddTime, OpenPaygoKind::AddTime),
            "set_time" => (TokenKind::SetTime, OpenPaygoKind::SetTime),
            "counter_sync" => (TokenKind::CounterSync, OpenPaygoKind::CounterSync),
            "unlock" => (TokenKind::Unlock, OpenPaygoKind::DisablePayg),
            _ => return Err(ApiError::invalid("kind", "add_time, set_time, unlock or counter_sync")),
        };
        // An unlock token frees a device for good, whatever is still owed: an admin's decision.
        if kind == TokenKind::Unlock && role < Role::Admin {
            return Err(ApiError::new(
                axum::http::StatusCode::FORBIDDEN,
                "forbidden",
                "an unlock token needs the admin role",
            ));
        }
        let needs_days = matches!(kind, TokenKind::AddTime | TokenKind::SetTime);
        if needs_days != days.is_some() {
            return Err(ApiError::invalid(
                "days",
                if needs_days { "required for add_time and set_time" } else { "only for add_time and set_time" },
            ));
        }
        let parsed = match days {
            Some(text) => Some(micropower_core::wire::dec::parse(text).map_err(|why| ApiError::invalid("days", why))?),
            None => None,
        };
        Ok(TokenOrder { kind, openpaygo_kind, days: parsed, days_text: days.map(str::to_owned) })
    }

    pub fn kind(&self) -> TokenKind {
        self.kind
    }
}

/// A token made: the code to give the customer.
#[derive(Debug, Serialize)]
pub struct OperatorToken {
    pub serial: String,
    pub kind: TokenKind,
    /// As the operator typed them.
    pub days: Option<String>,
    pub code: String,
    pub count: i64,
}

/// Why a batch of tokens was made, kept with each token's audit entry.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Batch<'a> {
    pub id: &'a str,
    pub reason: &'a str,
}

/// An operator token as the audit log keeps it: not its code, which works on the device for whoever reads it.
#[derive(Serialize)]
struct TokenAudit<'a> {
    kind: TokenKind,
    days: Option<&'a str>,
    count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    batch: Option<Batch<'a>>,
}

/// Makes the next token of `order` for `device` (locked by the caller's transaction), moves the device's
/// token count on, and records the token and its audit entry, all in `tx`. A device without OpenPAYGO is a
/// conflict: the server has no key to make its codes.
pub async fn issue(
    state: &AppState,
    tx: &mut Transaction<'static, Any>,
    device: &DeviceRow,
    order: &TokenOrder,
    key_id: &str,
    batch: Option<Batch<'_>>,
) -> ApiResult<OperatorToken> {
    let opg = device
        .openpaygo_device(&state.sealer)?
        .ok_or_else(|| ApiError::conflict("operator tokens are made for OpenPAYGO devices only"))?;
    let token = state
        .core(calls::OpenpaygoGenerate {
            secret_key: opg.secret_key,
            starting_code: opg.starting_code,
            count: opg.count,
            kind: order.openpaygo_kind,
            value: order.days,
            time_divider: opg.time_divider,
            restricted_digits: opg.restricted_digits,
            extended: opg.extended,
        })
        .await?;
    let count = i64::from(token.count);
    tx.execute(sql::UPDATE_TOKEN_COUNT, &sql::args![count, &device.serial]).await?;
    let issued = TokenOut {
        kind: order.kind,
        unit: order.days.is_some().then_some(QuantityUnit::Days),
        quantity: order.days,
        code: Some(token.code.clone()),
        count: u32::try_from(count).ok(),
        status: TokenStatus::Issued,
    };
    record_tokens(tx, &device.serial, None, Some(key_id), &[issued]).await?;
    let after = TokenAudit { kind: order.kind, days: order.days_text.as_deref(), count, batch };
    let entry =
        Entry::new(&Actor::ApiKey(key_id.to_owned()), Action::TokenIssued, "device", &device.serial).after(&after)?;
    audit::record(&mut **tx, &entry).await?;
    Ok(OperatorToken {
        serial: device.serial.clone(),
        kind: order.kind,
        days: order.days_text.clone(),
        code: token.code,
        count,
    })
}
