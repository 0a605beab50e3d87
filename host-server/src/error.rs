//! The HTTP error shape: `{"code": "<snake_case>", "message": "…", …details}` with a fitting status.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

use crate::engine::EngineError;

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// The JSON body: at least `code` and `message`.
    pub body: Map<String, Value>,
}

impl ApiError {
    /// An error with a code and a message.
    pub fn new(status: StatusCode, code: &str, message: impl Into<String>) -> Self {
        let mut body = Map::new();
        body.insert("code".into(), Value::String(code.to_owned()));
        body.insert("message".into(), Value::String(message.into()));
        ApiError { status, body }
    }

    /// 400 `invalid_input` for one field.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_input", message).with("field", json!(field))
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

    /// Adds a detail field.
    pub fn with(mut self, key: &str, value: Value) -> Self {
        self.body.insert(key.to_owned(), value);
        self
    }

    /// The error code.
    pub fn code(&self) -> &str {
        self.body.get("code").and_then(Value::as_str).unwrap_or("internal")
    }
}

/// Where each core refusal lands in HTTP.
fn status_of(code: &str) -> StatusCode {
    match code {
        "not_found" => StatusCode::NOT_FOUND,
        "duplicate_serial" => StatusCode::CONFLICT,
        "unknown_serial"
        | "device_unassigned"
        | "currency_mismatch"
        | "amount_below_minimum"
        | "total_below_paid"
        | "no_untouched_installments"
        | "installment_touched"
        | "token_rejected" => StatusCode::UNPROCESSABLE_ENTITY,
        _ => StatusCode::BAD_REQUEST,
    }
}

impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Core { code, message, details, .. } => {
                let mut err = ApiError::new(status_of(code), code, message);
                if let Value::Object(map) = details {
                    for (k, v) in map {
                        err.body.entry(k).or_insert(v);
                    }
                }
                err
            }
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
