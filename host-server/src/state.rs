//! What every request handler shares.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use micropower_core::calls::CoreFn;

use crate::crypto::Sealer;
use crate::db::Db;
use crate::engine::Engine;
use crate::error::{ApiError, ApiResult};

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

/// The shared parts.
pub struct Inner {
    pub db: Db,
    pub engine: Arc<dyn Engine>,
    /// [`Engine::slots`] permits: what an async caller of the core waits for, holding no thread
    /// ([`Inner::core`]).
    pub engine_slots: Arc<tokio::sync::Semaphore>,
    /// The gate of the routes that read whole tables ([`crate::heavy`]).
    pub heavy: crate::heavy::Heavy,
    pub sealer: Sealer,
    pub metrics: Metrics,
    /// SQLite's group-commit payment writer (set once at start; PostgreSQL runs payments side by side).
    pub writer: std::sync::OnceLock<crate::payments::Writer>,
    /// SQLite's group-commit writer for provider hook deliveries (unset on PostgreSQL).
    pub hook_writer: std::sync::OnceLock<crate::providers::store::HookWriter>,
    /// API keys recently seen ([`crate::auth::cache`]).
    pub keys: crate::auth::cache::KeyCache,
    /// Failed authentications per client address ([`crate::auth::limit`]).
    pub failed_auth: crate::auth::limit::FailedAuth,
    /// The configured providers' names ([`crate::providers::names`]).
    pub provider_names: crate::providers::names::ProviderNames,
    /// The operator's time zone (`MICROPOWER_TIMEZONE`): the business day of every instant.
    pub timezone: chrono_tz::Tz,
    /// `MICROPOWER_TRUSTED_PROXY_HEADER`: where a hook's source address is read when a proxy fronts us.
    pub trusted_proxy_header: Option<axum::http::HeaderName>,
    /// `MICROPOWER_OPERATOR_NAME` and `MICROPOWER_OPERATOR_ADDRESS`: who prints the receipts.
    pub operator: Operator,
    /// How far the long requests that asked for it have come ([`crate::progress`]).
    pub progress: crate::progress::ProgressBoard,
}

/// The operator as its receipts name it.
#[derive(Debug, Clone, Default)]
pub struct Operator {
    pub name: String,
    pub address: String,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

/// Counters for `/metrics`.
#[derive(Default)]
pub struct Metrics {
    pub payments_applied: AtomicU64,
    pub payments_duplicate: AtomicU64,
    pub payments_refused: AtomicU64,
    pub payments_unmatched: AtomicU64,
    pub core_calls: AtomicU64,
    pub core_errors: AtomicU64,
    /// Commits of SQLite's payment writer, and the payments they carried: their ratio is the batch size.
    pub writer_batches: AtomicU64,
    pub writer_jobs: AtomicU64,
    /// Hook deliveries refused before they were kept, by provider kind and reason (bad signature, source
    /// not allowed): the only trace of them, since an unauthenticated body is not stored.
    pub hook_rejected: HookRejections,
}

/// `micropower_hook_rejected_total{provider_kind, reason}`: few label pairs, all known in advance.
#[derive(Default)]
pub struct HookRejections(std::sync::Mutex<std::collections::BTreeMap<(&'static str, &'static str), u64>>);

impl HookRejections {
    /// Counts one refused delivery.
    pub fn bump(&self, provider_kind: &'static str, reason: &'static str) {
        // A poisoned lock only means another thread panicked mid-increment: the map itself is still whole.
        let mut counts = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *counts.entry((provider_kind, reason)).or_insert(0) += 1;
    }

    /// Every `(provider_kind, reason, count)` counted so far.
    pub fn snapshot(&self) -> Vec<(&'static str, &'static str, u64)> {
        let counts = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        counts.iter().map(|(&(kind, reason), &n)| (kind, reason, n)).collect()
    }
}

impl Metrics {
    /// Adds one to a counter.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

impl Inner {
    /// Today in the operator's time zone: the business day of an instant the server stamps now.
    pub fn today(&self) -> chrono::NaiveDate {
        crate::ids::business_day(&crate::ids::now(), self.timezone)
    }

    /// The canonical form of a serial as typed (the core's `normalize_serial`), or its refusal.
    pub async fn normalize_serial(&self, raw: &str) -> ApiResult<String> {
        self.core(micropower_core::calls::NormalizeSerial { raw: raw.to_owned() }).await
    }

    /// Asks the core (through the configured engine) with a function's argument struct: every decision the
    /// server makes goes through here or [`Inner::core_blocking`]. The call runs on tokio's blocking pool once
    /// one of the engine's slots is free, never on a runtime worker (`engine/mod.rs`, "From async code").
    /// Outside a runtime (SQLite's payment writer drives the payment code's futures on its own thread) it
    /// calls at once: that thread is no worker, and the writer needs the decision before its next statement.
    pub async fn core<F: CoreFn>(&self, args: F) -> ApiResult<F::Output> {
        if tokio::runtime::Handle::try_current().is_err() {
            return self.core_blocking(args);
        }
        let slot = Arc::clone(&self.engine_slots)
            .acquire_owned()
            .await
            .map_err(|_| ApiError::internal("the core engine's slots are closed"))?;
        let engine = Arc::clone(&self.engine);
        let called = tokio::task::spawn_blocking(move || {
            let _slot = slot;
            engine.call(args)
        })
        .await
        .map_err(|e| ApiError::internal(format!("the core call did not finish: {e}")))?;
        self.counted(called)
    }

    /// [`Inner::core`] on the calling thread: only for threads that are not runtime workers.
    pub fn core_blocking<F: CoreFn>(&self, args: F) -> ApiResult<F::Output> {
        self.counted(self.engine.call(args))
    }

    fn counted<T>(&self, called: Result<T, crate::engine::EngineError>) -> ApiResult<T> {
        Metrics::bump(&self.metrics.core_calls);
        called.map_err(|e| {
            Metrics::bump(&self.metrics.core_errors);
            ApiError::from(e)
        })
    }
}
