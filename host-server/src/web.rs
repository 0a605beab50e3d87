//! The operator dashboard: static files served at `/` without authentication (the page asks for an API key
//! and sends it as `Authorization: Bearer` to `/v1`, like any client). Everything is embedded at build time
//! by `build/dashboard.rs`: `web/*` and the two browser modules of the JS package (the first-page module with
//! the previews, and the full module the registration form loads), already optimised and
//! compressed (gzip and brotli), so the binary alone serves a working dashboard and never compresses per
//! request.
//!
//! Caching: the modules have content-hashed names (`/pkg/micropower.<hash>.js`, rewritten into `app.js` by
//! the build), so they are `immutable` for a year; every other file keeps its name and is `no-cache`: the
//! browser revalidates it with its `ETag` and gets `304 Not Modified` while it is unchanged. A new binary
//! therefore shows its new page on the next load and never mixes old and new modules.

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::state::AppState;

/// One file of the dashboard as the build wrote it.
pub struct DashboardFile {
    /// The URL path.
    pub path: &'static str,
    /// `Content-Type`.
    pub content_type: &'static str,
    /// Content-hashed name: cached for good (`immutable`), else revalidated on every use (`no-cache`).
    pub immutable: bool,
    /// A weak validator (the same file in every content coding) from the content's SHA-256.
    pub etag: &'static str,
    /// The file itself.
    pub identity: &'static [u8],
    /// gzip -9, when smaller than the file.
    pub gzip: Option<&'static [u8]>,
    /// brotli quality 11, when smaller than the file.
    pub brotli: Option<&'static [u8]>,
}

/// Every file the dashboard serves.
pub const FILES: &[DashboardFile] = include!(concat!(env!("OUT_DIR"), "/dashboard/files.rs"));

const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// The page loads scripts, styles, icons and WebAssembly from this server only and calls only its API;
/// `'wasm-unsafe-eval'` lets it compile the core's modules and nothing else run from a string.
const CSP: &str = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// The dashboard's routes, outside `/v1` and without authentication.
pub fn router() -> Router<AppState> {
    FILES.iter().fold(Router::new(), |router, file| {
        router.route(file.path, get(move |request: HeaderMap| async move { serve(file, &request) }))
    })
}

fn serve(file: &'static DashboardFile, request: &HeaderMap) -> Response {
    let mut headers = HeaderMap::new();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(file.content_type));
    headers
        .insert(header::CACHE_CONTROL, HeaderValue::from_static(if file.immutable { IMMUTABLE } else { "no-cache" }));
    headers.insert(header::ETAG, HeaderValue::from_static(file.etag));
    headers.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    // The page's URL (a customer's id in its hash) stays with this server.
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if not_modified(request, file.etag) {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let body = match (file.brotli, file.gzip) {
        (Some(body), _) if accepts(request, "br") => Some(("br", body)),
        (_, Some(body)) if accepts(request, "gzip") => Some(("gzip", body)),
        _ => None,
    };
    match body {
        Some((coding, body)) => {
            headers.insert(header::CONTENT_ENCODING, HeaderValue::from_static(coding));
            (headers, body).into_response()
        }
        None => (headers, file.identity).into_response(),
    }
}

/// `If-None-Match` names this file's ETag (weak comparison, as RFC 9110 asks for this header) or is `*`.
fn not_modified(request: &HeaderMap, etag: &str) -> bool {
    let ours = etag.trim_start_matches("W/");
    request
        .get_all(header::IF_NONE_MATCH)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .any(|tag| tag == "*" || tag.trim_start_matches("W/") == ours)
}

/// `Accept-Encoding` lists `coding` (or `*`) without `q=0`.
fn accepts(request: &HeaderMap, coding: &str) -> bool {
    request
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| {
            let mut parts = item.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts
                .filter_map(|p| p.strip_prefix("q=").or_else(|| p.strip_prefix("Q=")))
                .any(|q| q.chars().all(|c| c == '0' || c == '.'));
            (name.eq_ignore_ascii_case(coding) || name == "*") && !refused
        })
}

#[cfg(test)]
mod tests {
    use axum::http::{header, HeaderMap, HeaderValue};

    use super::{accepts, not_modified, FILES};

    #[test]
    fn the_dashboard_and_its_two_modules_are_embedded_and_compressed() {
        for file in FILES {
            assert!(!file.identity.is_empty(), "{} is empty", file.path);
        }
        let wasm: Vec<_> = FILES.iter().filter(|f| f.path.ends_with(".wasm")).collect();
        assert_eq!(wasm.len(), 2, "the first-page module and the full module");
        for file in wasm {
            assert!(file.immutable, "{}", file.path);
            assert_eq!(file.identity.get(..4), Some(&b"\0asm"[..]));
            assert!(file.gzip.is_some() && file.brotli.is_some(), "{}", file.path);
        }
    }

    fn headers(name: header::HeaderName, value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(name, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn content_negotiation() {
        assert!(accepts(&headers(header::ACCEPT_ENCODING, "gzip, deflate, br"), "br"));
        assert!(accepts(&headers(header::ACCEPT_ENCODING, "gzip;q=0.5"), "gzip"));
        assert!(!accepts(&headers(header::ACCEPT_ENCODING, "br;q=0, gzip"), "br"));
        assert!(!accepts(&headers(header::ACCEPT_ENCODING, "identity"), "gzip"));
        assert!(!accepts(&HeaderMap::new(), "gzip"));
        assert!(not_modified(&headers(header::IF_NONE_MATCH, "\"x\", W/\"abc\""), "W/\"abc\""));
        assert!(not_modified(&headers(header::IF_NONE_MATCH, "*"), "W/\"abc\""));
        assert!(!not_modified(&headers(header::IF_NONE_MATCH, "W/\"abd\""), "W/\"abc\""));
    }
}
