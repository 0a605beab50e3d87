//! The names of configured providers, which an API caller may not post payments under: a payment with
//! `provider: "mpesa-main"` would otherwise look in every list and report like money the hook received.
//!
//! Read on every `POST /v1/payments`, so kept in memory: the whole set, read again when older than
//! [`FRESH_FOR`] (another server on the same PostgreSQL database may have added one) and at once after a
//! provider is created here.

use std::collections::HashSet;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use sqlx::AnyPool;

use crate::error::ApiResult;

const FRESH_FOR: Duration = Duration::from_secs(5);

/// The set, with when it was read.
#[derive(Default)]
pub struct ProviderNames {
    read: RwLock<Option<(Instant, Arc<HashSet<String>>)>>,
}

impl ProviderNames {
    /// True when `name` is a configured provider's (removed ones included: their payments keep the name).
    pub async fn contains(&self, pool: &AnyPool, name: &str) -> ApiResult<bool> {
        let cached = self.read.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let names = match cached {
            Some((at, names)) if at.elapsed() < FRESH_FOR => names,
            _ => {
                let names: Vec<String> = sqlx::query_scalar("SELECT name FROM providers").fetch_all(pool).await?;
                let names = Arc::new(names.into_iter().collect::<HashSet<_>>());
                *self.read.write().unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Some((Instant::now(), Arc::clone(&names)));
                names
            }
        };
        Ok(names.contains(name))
    }

    /// Forgets the set: the next payment reads it again.
    pub fn invalidate(&self) {
        *self.read.write().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }
}
