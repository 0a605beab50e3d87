//! The operator dashboard: static files served at `/` without authentication (the page asks for an API key
//! and sends it as `Authorization: Bearer` to `/v1`, like any client). Everything is embedded at build time:
//! `web/*` as written, and the browser build of the JS package (`micropower.js` + `micropower_bg.wasm`),
//! which `build.rs` makes from `bindings-js` with wasm-bindgen — so the binary alone serves a working
//! dashboard.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use tower_http::compression::CompressionLayer;

use crate::state::AppState;

/// `(path, content type, body)` of every file the dashboard serves.
const FILES: &[(&str, &str, &[u8])] = &[
    ("/", "text/html; charset=utf-8", include_bytes!("../web/index.html")),
    ("/app.js", "text/javascript; charset=utf-8", include_bytes!("../web/app.js")),
    ("/app.css", "text/css; charset=utf-8", include_bytes!("../web/app.css")),
    // The icon the page links to, and the same at the path browsers ask for by default (else a 404 in
    // every console).
    ("/favicon.svg", "image/svg+xml", include_bytes!("../web/favicon.svg")),
    ("/favicon.ico", "image/x-icon", include_bytes!("../web/favicon.ico")),
    ("/vendor/chart.umd.min.js", "text/javascript; charset=utf-8", include_bytes!("../web/vendor/chart.umd.min.js")),
    (
        "/pkg/micropower.js",
        "text/javascript; charset=utf-8",
        include_bytes!(concat!(env!("OUT_DIR"), "/dashboard/micropower.js")),
    ),
    (
        "/pkg/micropower_bg.wasm",
        "application/wasm",
        include_bytes!(concat!(env!("OUT_DIR"), "/dashboard/micropower_bg.wasm")),
    ),
];

/// The dashboard's routes, outside `/v1` and without authentication. Gzip when the browser accepts it: the
/// core's wasm is ~2.4 MB raw and a third of that compressed, and field offices are often on slow links.
pub fn router() -> Router<AppState> {
    FILES
        .iter()
        .fold(Router::new(), |router, &(path, content_type, body)| {
            router.route(path, get(move || async move { file(content_type, body) }))
        })
        .layer(CompressionLayer::new().gzip(true))
}

fn file(content_type: &'static str, body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            (header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::FILES;

    #[test]
    fn the_dashboard_and_its_wasm_are_embedded() {
        for (path, _, body) in FILES {
            assert!(!body.is_empty(), "{path} is empty");
        }
        let wasm = FILES.iter().find(|(path, _, _)| path.ends_with(".wasm")).map(|(_, _, body)| *body);
        assert_eq!(wasm.and_then(|b| b.get(..4)), Some(&b"\0asm"[..]));
    }
}
