//! The gate of the routes that read whole tables (the reports, the export): at most
//! [`HeavyConfig::concurrent`] run at once, a request waits at most [`HeavyConfig::queue_wait`] for its turn
//! (then `503 busy` with `Retry-After`), and one runs at most [`HeavyConfig::timeout`] (then `504 timeout`,
//! or, once a streamed export has started, its connection is cut so the client sees an incomplete body).
//!
//! Why a gate rather than SQL aggregation for the reports: each report is the core's, over the same records
//! the export writes, so that an analyst's reports equal the server's; pre-aggregating in SQL would move the
//! report's rules (window, currency, grouping, which journal lines count) into the host's queries, and the
//! debt reports accrue access rates and age installments day by day, which no `GROUP BY` reproduces. A
//! report's memory grows with the database (about 1 KiB per payment while the core reads it), so the gate
//! bounds the whole: `concurrent` reports at a time, each on the blocking pool (`state::Inner::core`), never
//! holding a runtime worker. The export needs no such memory: it streams (`routes/export.rs`).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::Stream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;
use crate::state::AppState;

/// `MICROPOWER_HEAVY_CONCURRENCY`, `MICROPOWER_HEAVY_QUEUE_WAIT_MS`, `MICROPOWER_HEAVY_TIMEOUT_SECS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeavyConfig {
    /// Heavy requests served at once (default 2: on a small server each may take a core).
    pub concurrent: u32,
    /// How long a heavy request waits for its turn before `503` (default 10 s).
    pub queue_wait: Duration,
    /// How long a heavy request may run, streaming included (default 300 s).
    pub timeout: Duration,
}

impl Default for HeavyConfig {
    fn default() -> Self {
        Self { concurrent: 2, queue_wait: Duration::from_secs(10), timeout: Duration::from_secs(300) }
    }
}

/// The `/v1` paths (as routed, without `/v1`) that read whole tables.
pub const HEAVY_PATHS: &[&str] =
    &["/reports/revenue", "/reports/energy", "/reports/debt", "/reports/par", "/reports/collection", "/export"];

/// The gate's state, shared by every request.
pub struct Heavy {
    turns: Arc<Semaphore>,
    config: HeavyConfig,
}

impl Heavy {
    /// A gate with `config`'s limits, its turns fewer than the engine's `engine_slots`: a heavy request
    /// holds an engine slot while the core reads its records, and a payment or a validation must always
    /// find one free.
    pub fn new(config: HeavyConfig, engine_slots: usize) -> Self {
        let most = u32::try_from(engine_slots.saturating_sub(1)).unwrap_or(u32::MAX).max(1);
        if config.concurrent > most {
            tracing::warn!(
                asked = config.concurrent,
                most,
                "MICROPOWER_HEAVY_CONCURRENCY lowered below the engine's slots"
            );
        }
        let config = HeavyConfig { concurrent: config.concurrent.clamp(1, most), ..config };
        Self { turns: Arc::new(Semaphore::new(config.concurrent as usize)), config }
    }
}

/// Middleware of the `/v1` routes: passes light requests through and gates the [`HEAVY_PATHS`].
pub async fn limit(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let heavy = request.extensions().get::<MatchedPath>().is_some_and(|p| {
        let path = p.as_str();
        HEAVY_PATHS.contains(&path.strip_prefix("/v1").unwrap_or(path))
    });
    if !heavy {
        return next.run(request).await;
    }
    let config = state.heavy.config;
    let turn = match tokio::time::timeout(config.queue_wait, Arc::clone(&state.heavy.turns).acquire_owned()).await {
        Ok(Ok(turn)) => turn,
        Ok(Err(_)) => return ApiError::internal("the heavy-route gate is closed").into_response(),
        Err(_) => return busy(config.queue_wait),
    };
    let deadline = tokio::time::Instant::now() + config.timeout;
    match tokio::time::timeout_at(deadline, next.run(request)).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            let body = Body::from_stream(Bounded {
                body: body.into_data_stream(),
                deadline: Box::pin(tokio::time::sleep_until(deadline)),
                _turn: turn,
                done: false,
            });
            Response::from_parts(parts, body)
        }
        Err(_) => timed_out(config.timeout),
    }
}

/// 503 `busy` with `Retry-After`: every turn was taken for the whole queue wait.
fn busy(waited: Duration) -> Response {
    let seconds = waited.as_secs().max(1);
    let refusal = ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "busy",
        format!("too many reports or exports at once; retry in {seconds} s"),
    );
    let mut response = refusal.into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    response
}

/// 504 `timeout`: the request ran out of time before it answered.
fn timed_out(limit: Duration) -> Response {
    let message = format!("the request took longer than {} s; ask for a shorter window", limit.as_secs());
    ApiError::new(StatusCode::GATEWAY_TIMEOUT, "timeout", message).into_response()
}

/// A response body that holds its request's turn until it is sent or dropped, and fails (cutting the
/// connection rather than ending the body as if complete) at the deadline.
struct Bounded<S> {
    body: S,
    deadline: Pin<Box<tokio::time::Sleep>>,
    _turn: OwnedSemaphorePermit,
    done: bool,
}

impl<S: Stream<Item = Result<Bytes, axum::Error>> + Unpin> Stream for Bounded<S> {
    type Item = Result<Bytes, std::io::Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.done {
            return Poll::Ready(None);
        }
        if self.deadline.as_mut().poll(cx).is_ready() {
            self.done = true;
            return Poll::Ready(Some(Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "heavy request timed out",
            ))));
        }
        Pin::new(&mut self.body).poll_next(cx).map(|item| item.map(|chunk| chunk.map_err(std::io::Error::other)))
    }
}
