//! The HTTP error shape: `{"code": "<snake_case>", "message": "…", …details}` with a fitting status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{Map, Value};

use micropower_core::CoreError;

use crate::engine::EngineError;

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// The JSON body: at least `code` and `message`.
    pub body: Map<String, Value>,
    /// The core's refusal this error answers, if it is one: the server's own layers decide by this typed
    /// value, never by reading the body's `code`.
    pub refusal: Option<Box<CoreError>>,
}

impl ApiError {
    /// An error with a code and a message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        let mut body = Map::new();
        body.insert("code".into(), Value::String(code.to_owned()));
        body.insert("message".into(), Value::String(message.into()));
        ApiError { status, body, refusal: None }
    }

    /// 400 `invalid_input` for one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_input", message).with("field", field)
    }

    /// 422 `invalid_input` for a well-formed request whose value is refused (a list's limit, cursor or filter).
    pub fn unprocessable(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", message).with("field", field)
    }

    /// 404 `not_found`.
    pub fn not_found(what: &str, id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} {id:?} not found"))
    }

    /// 409 `conflict`.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 500, logged with its cause; the client sees no internals.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(%cause, "internal error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "internal error; see the server log")
    }

    /// Adds a detail field. The details are open by design (http-api.md: `…details`, the core's own among
    /// them), so the body stays a JSON map.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.body.insert(key.to_owned(), value.into());
        self
    }

    /// The error code.
    pub fn code(&self) -> &str {
        self.body.get("code").and_then(Value::as_str).unwrap_or("internal")
    }

    /// The human text.
    pub fn message(&self) -> &str {
        self.body.get("message").and_then(Value::as_str).unwrap_or_default()
    }
}

/// Where each core refusal lands in HTTP. Exhaustive: a new variant of the core must choose its status here.
fn status_of(refusal: &CoreError) -> StatusCode {
    match refusal {
        CoreError::NotFound { .. } => StatusCode::NOT_FOUND,
        CoreError::DuplicateSerial { .. } => StatusCode::CONFLICT,
        CoreError::UnknownSerial { .. }
        | CoreError::DeviceUnassigned { .. }
        | CoreError::CurrencyMismatch { .. }
        | CoreError::AmountBelowMinimum { .. }
        | CoreError::TotalBelowPaid { .. }
        | CoreError::NoUntouchedInstallments
        | CoreError::InstallmentTouched { .. }
        | CoreError::TokenRejected { .. }
        | CoreError::RiskCeilingExceeded { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        CoreError::InvalidInput { .. }
        | CoreError::InvalidAmount { .. }
        | CoreError::UnknownCurrency { .. }
        | CoreError::InvalidSerial { .. }
        | CoreError::InvalidPhone { .. }
        | CoreError::InvalidGeoPoint { .. }
        | CoreError::DateOutOfRange { .. }
        | CoreError::ForeignParent { .. }
        | CoreError::KindMismatch { .. }
        | CoreError::InvalidSecretKey { .. }
        | CoreError::InvalidTokenValue { .. }
        | CoreError::InvalidTokenCount { .. } => StatusCode::BAD_REQUEST,
    }
}

impl From<CoreError> for ApiError {
    /// The refusal's code and message, and its fields beside them (`CoreError::details`).
    fn from(refusal: CoreError) -> Self {
        let mut err = ApiError::new(status_of(&refusal), refusal.code(), refusal.to_string());
        if let Value::Object(map) = refusal.details() {
            for (k, v) in map {
                err.body.entry(k).or_insert(v);
            }
        }
        err.refusal = Some(Box::new(refusal));
        err
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Core(refusal) => refusal.into(),
            // Deterministic (fuel counts instructions): this input costs too much to decide, on any server.
            EngineError::Limit(why) => {
                tracing::warn!(%why, "core call stopped by a limit");
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "engine_limit", "the input is too costly to decide")
            }
            other => ApiError::internal(other),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::internal(e)
    }
}

impl From<crate::crypto::CryptoError> for ApiError {
    fn from(e: crate::crypto::CryptoError) -> Self {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(Value::Object(self.body))).into_response()
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;
