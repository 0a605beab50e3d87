//! Request bodies: JSON parsed into typed values, with every failure in the error shape and the `field`
//! that caused it.

use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::ApiError;

/// A JSON body of type `T`.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = axum::body::Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "invalid_input", "request body too large")
            } else {
                ApiError::invalid("body", e.body_text())
            }
        })?;
        parse(&bytes).map(Body)
    }
}

/// Parses JSON into `T`, naming the field at fault.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    refuse_nul(bytes)?;
    let de = &mut serde_json::Deserializer::from_slice(bytes);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." || path.is_empty() { "body".to_owned() } else { path };
        ApiError::invalid(&field, e.inner().to_string())
    })
}

/// Refuses text holding a NUL character (`\u0000`): PostgreSQL cannot store one, and no name, serial or id
/// has a use for it, so it is bad input on every database alike. Only bodies that spell the escape are parsed
/// twice.
fn refuse_nul(bytes: &[u8]) -> Result<(), ApiError> {
    if !bytes.windows(6).any(|w| w == b"\\u0000") {
        return Ok(());
    }
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else { return Ok(()) };
    match nul_at(&value, String::new()) {
        Some(field) => Err(ApiError::invalid(&field, "text must not contain NUL characters")),
        None => Ok(()),
    }
}

/// The path of the first string (or key) holding a NUL, in serde_path_to_error's notation.
fn nul_at(value: &Value, path: String) -> Option<String> {
    let here = || if path.is_empty() { "body".to_owned() } else { path.clone() };
    match value {
        Value::String(s) if s.contains('\0') => Some(here()),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| nul_at(v, format!("{path}[{i}]"))),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            let field = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
            if k.contains('\0') {
                Some(field)
            } else {
                nul_at(v, field)
            }
        }),
        _ => None,
    }
}
