//! File uploads (issue 17): a spreadsheet or statement arrives either as the request body itself
//! (`Content-Type: text/csv`) or as the field `file` of a `multipart/form-data` form, which is what a browser's
//! file input sends. Handlers take [`Upload`] and see the same bytes either way.

use axum::body::Bytes;
use axum::extract::{FromRequest, Multipart, Request};
use axum::http::{header, HeaderMap, StatusCode};

use crate::error::ApiError;

/// The form field a multipart upload carries its file in.
pub const FILE_FIELD: &str = "file";

/// An uploaded file's bytes, and how they came.
pub struct Upload {
    pub bytes: Bytes,
    /// The file's own name, when a form gave one.
    pub file_name: Option<String>,
    /// The media type of the body, or of the form's file part.
    pub content_type: Option<String>,
    /// True when the file came as a form's `file` field.
    pub multipart: bool,
}

impl Upload {
    /// Whether the file is declared as CSV (`text/csv`), or came in a form, where browsers often declare a
    /// `.csv` file as `application/vnd.ms-excel` or nothing: there the reader decides.
    pub fn is_csv(&self) -> bool {
        self.multipart || self.content_type.as_deref().is_some_and(|t| media_type(t) == "text/csv")
    }
}

/// The media type of a `Content-Type` value, lower case, without its parameters.
pub fn media_type(value: &str) -> String {
    value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase()
}

fn content_type(headers: &HeaderMap) -> Option<String> {
    headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

impl<S: Send + Sync> FromRequest<S> for Upload {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let declared = content_type(req.headers());
        if declared.as_deref().is_none_or(|t| media_type(t) != "multipart/form-data") {
            let bytes = crate::extract::body_bytes(Bytes::from_request(req, state).await)?;
            return Ok(Upload { bytes, file_name: None, content_type: declared, multipart: false });
        }
        let mut form = Multipart::from_request(req, state)
            .await
            .map_err(|e| ApiError::invalid("body", format!("not a multipart form: {}", e.body_text())))?;
        loop {
            let field = form.next_field().await.map_err(form_error)?;
            let Some(field) = field else {
                return Err(ApiError::unprocessable(
                    FILE_FIELD,
                    format!("the form has no `{FILE_FIELD}` field: send the file in it"),
                ));
            };
            if field.name() != Some(FILE_FIELD) {
                continue;
            }
            let file_name = field.file_name().map(str::to_owned);
            let content_type = field.content_type().map(str::to_owned);
            let bytes = field.bytes().await.map_err(form_error)?;
            return Ok(Upload { bytes, file_name, content_type, multipart: true });
        }
    }
}

/// A form that cannot be read: too large (413, as for any body) or malformed (400).
fn form_error(e: axum::extract::multipart::MultipartError) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "invalid_input", "request body too large")
    } else {
        ApiError::invalid("body", format!("not a readable multipart form: {}", e.body_text()))
    }
}
