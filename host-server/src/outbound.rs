//! The server's own calls to other services (the SMS gateway, the token vendor): one way to check their
//! address, build their HTTP client and read their answers. None follows a redirect (a gateway that answers
//! `302` to another host must not receive the message or the API key a second time, somewhere else), none
//! speaks plain HTTP to another machine (messages carry customers' phone numbers and token codes), and none
//! reads an answer of unbounded size into memory.

use std::net::IpAddr;
use std::time::Duration;

/// The largest answer read from another service: their answers are a status and a code or two.
pub const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Why an outbound address or answer is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OutboundError {
    #[error("{url:?} is not a URL: {reason}")]
    NotAUrl { url: String, reason: String },
    #[error("{url:?}: only https is allowed (plain http only to this machine: localhost, 127.0.0.1, ::1)")]
    Insecure { url: String },
    #[error("HTTP client: {0}")]
    Client(String),
    #[error("the answer is larger than {MAX_ANSWER_BYTES} bytes")]
    TooLarge,
    #[error("reading the answer: {0}")]
    Read(String),
}

/// `url` if the server may call it: `https`, or `http` to a loopback address (a gateway running beside the
/// server, and the fakes of the tests).
pub fn check_url(url: &str) -> Result<reqwest::Url, OutboundError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| OutboundError::NotAUrl { url: url.to_owned(), reason: e.to_string() })?;
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if parsed.host_str().is_some_and(is_loopback) => Ok(parsed),
        _ => Err(OutboundError::Insecure { url: url.to_owned() }),
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    bare.eq_ignore_ascii_case("localhost") || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The HTTP client for calls to other services: no redirects, `timeout` per call.
pub fn client(timeout: Duration) -> Result<reqwest::Client, OutboundError> {
    reqwest::Client::builder()
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| OutboundError::Client(e.to_string()))
}

/// The answer's body, refused past [`MAX_ANSWER_BYTES`] (by its announced length, or while it streams).
pub async fn read_capped(mut response: reqwest::Response) -> Result<Vec<u8>, OutboundError> {
    let too_large = |len: u64| usize::try_from(len).map_or(true, |len| len > MAX_ANSWER_BYTES);
    if response.content_length().is_some_and(too_large) {
        return Err(OutboundError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| OutboundError::Read(e.to_string()))? {
        if body.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(OutboundError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
mod tests {
    use axum::http::{header, StatusCode};
    use axum::response::IntoResponse;
    use axum::routing::get;
    use axum::Router;

    use super::*;

    #[test]
    fn only_https_or_loopback_http_is_called() {
        for ok in [
            "https://api.africastalking.com/version1/messaging",
            "http://127.0.0.1:9000/sms",
            "http://localhost/sms",
            "http://[::1]:8080/vendor",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for insecure in
            ["http://sms.example.com/send", "http://10.0.0.5/sms", "ftp://127.0.0.1/x", "file:///etc/passwd"]
        {
            assert_eq!(check_url(insecure), Err(OutboundError::Insecure { url: insecure.to_owned() }), "{insecure}");
        }
        assert!(matches!(check_url("not a url"), Err(OutboundError::NotAUrl { .. })));
    }

    /// A local service: `/redirect` answers 302 to `/elsewhere`, `/big` a body past the cap, `/small` a short one.
    async fn service() -> String {
        let app = Router::new()
            .route(
                "/redirect",
                get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/elsewhere")]).into_response() }),
            )
            .route("/elsewhere", get(|| async { "followed" }))
            .route("/big", get(|| async { "x".repeat(MAX_ANSWER_BYTES + 1) }))
            .route("/small", get(|| async { "{\"code\":\"123\"}" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    }

    #[tokio::test]
    async fn redirects_are_not_followed_and_answers_are_capped() {
        let base = service().await;
        let client = client(Duration::from_secs(5)).unwrap();
        let redirected = client.get(format!("{base}/redirect")).send().await.unwrap();
        assert_eq!(redirected.status(), reqwest::StatusCode::FOUND, "the redirect is the answer, not followed");
        let big = client.get(format!("{base}/big")).send().await.unwrap();
        assert_eq!(read_capped(big).await, Err(OutboundError::TooLarge));
        let small = client.get(format!("{base}/small")).send().await.unwrap();
        assert_eq!(read_capped(small).await.unwrap(), b"{\"code\":\"123\"}");
    }
}
