//! Request bodies: JSON parsed into typed values, with every failure in the error shape and the `field`
//! that caused it.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
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
        let bytes = body_bytes(Bytes::from_request(req, state).await)?;
        parse(&bytes).map(Body)
    }
}

/// The bytes of a request body, or its refusal: 413 past the body limit, 400 for a body that could not be
/// read. One mapping for the API's JSON bodies ([`Body`]) and the hooks, which take the raw bytes because
/// they keep them before parsing.
pub fn body_bytes(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "invalid_input", "request body too large")
        } else {
            ApiError::invalid("body", e.body_text())
        }
    })
}

/// `#[serde(default, deserialize_with = "present")]` on an `Option<Option<T>>` field: absent is `None`
/// (leave it as it is), `null` is `Some(None)` (remove it), a value is `Some(Some(value))`.
pub fn present<'de, D: serde::Deserializer<'de>, T: serde::Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// Parses JSON into `T`, naming the field at fault. Every JSON the server reads from outside goes through
/// here (the API's bodies and the providers' hooks), so a NUL character is refused the same way everywhere.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // JSON is UTF-8 (RFC 8259). Reading from bytes, serde_json checks that only in the strings it keeps: a
    // body with invalid UTF-8 in a field the type ignores was accepted (found by the fuzz target daraja_c2b).
    let text = std::str::from_utf8(bytes).map_err(|e| ApiError::invalid("body", format!("not UTF-8 text: {e}")))?;
    let mut de = serde_json::Deserializer::from_str(text);
    let parsed = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." || path.is_empty() { "body".to_owned() } else { path };
        // serde repeats the offending value ("invalid type: integer `2982…`"); for a secret that is nearly
        // the secret, and error messages reach logs and screens.
        if holds_secret(&field) {
            return ApiError::invalid(&field, "invalid value (not repeated: the field holds a secret)");
        }
        ApiError::invalid(&field, e.inner().to_string())
    })?;
    // Text after the value is refused, as `serde_json::from_slice` does: the typed read stops at the end of
    // the value, and `{…} x` used to be accepted while the NUL check below could not read it.
    de.end().map_err(|e| ApiError::invalid("body", e.to_string()))?;
    refuse_nul(bytes)?;
    Ok(parsed)
}

/// Whether the field at `path` (serde_path_to_error's notation) holds a secret: an OpenPAYGO key or a
/// provider's signing secret.
fn holds_secret(path: &str) -> bool {
    matches!(path.rsplit('.').next(), Some("secret_key" | "secret"))
}

/// Refuses text holding a NUL character (`\u0000`): PostgreSQL cannot store one, and no name, serial or id
/// has a use for it, so it is bad input on every database alike. Only bodies that spell the escape are parsed
/// twice.
fn refuse_nul(bytes: &[u8]) -> Result<(), ApiError> {
    if !bytes.windows(6).any(|w| w == b"\\u0000") {
        return Ok(());
    }
    // A body the typed read accepted can still fail as a plain value (a number out of f64's range in a field
    // the type ignores): then the escape cannot be placed, and it is refused as a whole.
    let Ok(value) = serde_json::from_slice::<Value>(bytes) else {
        return Err(ApiError::invalid("body", "text must not contain NUL characters"));
    };
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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[derive(serde::Deserialize)]
    struct Named {
        name: String,
    }

    /// The field a refusal names; `"accepted"` when the body was not refused.
    fn refused_field<T: DeserializeOwned>(body: &str) -> String {
        match parse::<T>(body.as_bytes()) {
            Ok(_) => "accepted".to_owned(),
            Err(e) => e.body.get("field").and_then(Value::as_str).unwrap_or_default().to_owned(),
        }
    }

    #[test]
    fn nul_characters_are_refused_with_their_field() {
        assert_eq!(refused_field::<Named>(r#"{"name": "a\u0000b"}"#), "name");
        assert_eq!(refused_field::<Value>(r#"{"a": [1, {"b": "\u0000"}]}"#), "a[1].b");
        assert_eq!(
            parse::<Named>(r#"{"name": "a\\u0000b"}"#.as_bytes()).map(|n| n.name).ok().as_deref(),
            Some("a\\u0000b")
        );
    }

    /// Text after the value was accepted, and with it a NUL the check could not read (found writing the fuzz
    /// target `api_bodies`, whose "accepted means no NUL" check it fails).
    #[test]
    fn text_after_the_value_is_refused() {
        assert_eq!(refused_field::<Named>(r#"{"name": "x"} x"#), "body");
        assert_eq!(refused_field::<Named>(r#"{"name": "a\u0000b"} x"#), "body");
        assert_eq!(refused_field::<Named>(r#"{"name": "x"}{"name": "y"}"#), "body");
        assert!(parse::<Named>(b"{\"name\": \"x\"} \n\t").is_ok(), "whitespace after the value is fine");
    }

    /// Fuzz finding (daraja_c2b): a byte that is not UTF-8, inside a field the type ignores, was accepted.
    #[test]
    fn bodies_that_are_not_utf8_are_refused() {
        assert_eq!(refused_field::<Named>("{\"name\": \"x\"}"), "accepted");
        let mut body = br#"{"name": "x", "FirstName": "NICHOLA"}"#.to_vec();
        body.insert(body.len() - 3, 0x87);
        assert_eq!(parse::<Named>(&body).err().and_then(|e| e.body.get("field").cloned()), Some(json!("body")));
    }

    /// A number out of f64's range in a field the type ignores made the plain-value read fail, which skipped
    /// the NUL check while the typed read accepted the body.
    #[test]
    fn a_nul_behind_an_unreadable_number_is_refused() {
        assert!(parse::<Named>(br#"{"name": "x", "pad": 1e400}"#).is_ok(), "the type ignores `pad`");
        assert_eq!(refused_field::<Named>(r#"{"name": "a\u0000b", "pad": 1e400}"#), "body");
    }
}
