//! What every request handler shares.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::crypto::Sealer;
use crate::db::Db;
use crate::engine::{Engine, EngineError};
use crate::error::{ApiError, ApiResult};

/// Shared by every handler; cheap to clone.
#[derive(Clone)]
pub struct AppState(pub Arc<Inner>);

/// The shared parts.
pub struct Inner {
    pub db: Db,
    pub engine: Arc<dyn Engine>,
    pub sealer: Sealer,
    pub metrics: Metrics,
    /// SQLite's group-commit payment writer (set once at start; PostgreSQL runs payments side by side).
    pub writer: std::sync::OnceLock<crate::payments::Writer>,
    /// SQLite's group-commit writer for provider hook deliveries (unset on PostgreSQL).
    pub hook_writer: std::sync::OnceLock<crate::providers::store::HookWriter>,
    /// The operator's time zone (`MICROPOWER_TIMEZONE`): the business day of every instant.
    pub timezone: chrono_tz::Tz,
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

    /// Asks the core (through the configured engine) and converts its answer: every decision the server
    /// makes goes through here.
    pub fn core<A: Serialize, R: DeserializeOwned>(&self, function: &str, args: &A) -> ApiResult<R> {
        Metrics::bump(&self.metrics.core_calls);
        let input = serde_json::to_value(args).map_err(ApiError::internal)?;
        let output: Value = self.engine.call(function, &input).map_err(|e| {
            Metrics::bump(&self.metrics.core_errors);
            ApiError::from(e)
        })?;
        serde_json::from_value(output)
            .map_err(|e| ApiError::internal(format!("{function}: unexpected core output: {e}")))
    }

    /// Like [`Inner::core`] but keeps the core's refusal as a value.
    pub fn core_raw(&self, function: &str, input: &Value) -> Result<Value, EngineError> {
        Metrics::bump(&self.metrics.core_calls);
        self.engine.call(function, input)
    }
}
