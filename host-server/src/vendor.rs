//! Tokens from `external` manufacturers: a vendor adapter fills pending token requests in the background,
//! with retries and backoff. A vendor outage never touches the payment: its allocation is already committed,
//! and the token stays pending until the vendor answers.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::ids::now;
use crate::outbound;
use crate::state::AppState;

/// What a vendor is asked for.
#[derive(Debug, Clone, Serialize)]
pub struct VendorRequest {
    /// Our token id: vendors that deduplicate can use it as an idempotency key.
    pub token_id: String,
    pub serial: String,
    /// `kwh`, `days`, or null for an unlock.
    pub unit: Option<String>,
    pub quantity: Option<String>,
    pub kind: String,
}

/// A vendor's failure, kept on the token for operators.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct VendorError(pub String);

/// A boxed future returned by adapters (keeps the trait object-safe).
pub type VendorFuture<'a> = Pin<Box<dyn Future<Output = Result<String, VendorError>> + Send + 'a>>;

/// Fills one token request with the vendor's code.
pub trait VendorAdapter: Send + Sync {
    /// The token code for `request`.
    fn fulfil<'a>(&'a self, request: &'a VendorRequest) -> VendorFuture<'a>;
}

/// A vendor reached over HTTP: `POST <url>` with the request as JSON, answered with `{"code": "…"}`.
pub struct HttpVendor {
    url: String,
    client: reqwest::Client,
}

#[derive(Deserialize)]
struct VendorAnswer {
    code: String,
}

impl HttpVendor {
    /// An adapter for `url` (`MICROPOWER_VENDOR_URL`: https, or http to this machine), with a 10-second
    /// timeout per call.
    pub fn new(url: &str) -> Result<Self, VendorError> {
        let checked = outbound::check_url(url).map_err(|e| VendorError(e.to_string()))?;
        let client = outbound::client(Duration::from_secs(10)).map_err(|e| VendorError(e.to_string()))?;
        Ok(HttpVendor { url: checked.into(), client })
    }
}

impl VendorAdapter for HttpVendor {
    fn fulfil<'a>(&'a self, request: &'a VendorRequest) -> VendorFuture<'a> {
        Box::pin(async move {
            let response = self
                .client
                .post(&self.url)
                .json(request)
                .send()
                .await
                .map_err(|e| VendorError(format!("vendor unreachable: {e}")))?;
            let status = response.status();
            if !status.is_success() {
                return Err(VendorError(format!("vendor answered HTTP {status}")));
            }
            let body = outbound::read_capped(response).await.map_err(|e| VendorError(format!("vendor answer: {e}")))?;
            let answer: VendorAnswer =
                serde_json::from_slice(&body).map_err(|e| VendorError(format!("vendor answer unreadable: {e}")))?;
            if answer.code.trim().is_empty() {
                return Err(VendorError("vendor answered an empty code".into()));
            }
            Ok(answer.code)
        })
    }
}

/// The delay before attempt `attempts + 1`: 5 s doubling, at most an hour.
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(5u64.saturating_mul(1u64 << attempts.min(10)).min(3600))
}

/// Fills every pending token that is due, once; returns how many were filled.
pub async fn run_once(state: &AppState, vendor: &dyn VendorAdapter) -> Result<usize, sqlx::Error> {
    let now_text = now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let due = sqlx::query(
        "SELECT id, serial, kind, unit, quantity, attempts, next_attempt FROM tokens \
         WHERE status = 'pending' AND next_attempt <= $1 ORDER BY next_attempt LIMIT 50",
    )
    .bind(&now_text)
    .fetch_all(&state.db.pool)
    .await?;
    let mut filled = 0;
    for row in due {
        let id: String = row.try_get("id")?;
        let attempts = u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX);
        let seen: String = row.try_get("next_attempt")?;
        // Claim the token with a lease, so a second server on the same database does not ask twice.
        let lease = (now() + chrono::Duration::seconds(60)).to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let claimed = sqlx::query(
            "UPDATE tokens SET next_attempt = $1 WHERE id = $2 AND status = 'pending' AND next_attempt = $3",
        )
        .bind(&lease)
        .bind(&id)
        .bind(&seen)
        .execute(&state.db.pool)
        .await?
        .rows_affected();
        if claimed != 1 {
            continue;
        }
        let request = VendorRequest {
            token_id: id.clone(),
            serial: row.try_get("serial")?,
            unit: row.try_get("unit")?,
            quantity: row.try_get("quantity")?,
            kind: row.try_get("kind")?,
        };
        match vendor.fulfil(&request).await {
            Ok(code) => {
                sqlx::query(
                    "UPDATE tokens SET status = 'issued', code = $1, attempts = $2, last_error = NULL WHERE id = $3",
                )
                .bind(&code)
                .bind(i64::from(attempts.saturating_add(1)))
                .bind(&id)
                .execute(&state.db.pool)
                .await?;
                tracing::info!(token = %id, serial = %request.serial, "vendor token filled");
                filled += 1;
            }
            Err(e) => {
                let next = now() + chrono::Duration::from_std(backoff(attempts)).unwrap_or(chrono::Duration::hours(1));
                sqlx::query("UPDATE tokens SET attempts = $1, next_attempt = $2, last_error = $3 WHERE id = $4")
                    .bind(i64::from(attempts.saturating_add(1)))
                    .bind(next.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
                    .bind(e.to_string())
                    .bind(&id)
                    .execute(&state.db.pool)
                    .await?;
                tracing::warn!(token = %id, serial = %request.serial, error = %e, attempt = attempts + 1, "vendor token failed; will retry");
            }
        }
    }
    Ok(filled)
}

/// Polls for due tokens every `every` until the process ends.
pub fn spawn_worker(state: AppState, vendor: Arc<dyn VendorAdapter>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(e) = run_once(&state, vendor.as_ref()).await {
                tracing::error!(error = %e, "vendor worker: database error");
            }
            tokio::time::sleep(every).await;
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(0), Duration::from_secs(5));
        assert_eq!(backoff(1), Duration::from_secs(10));
        assert_eq!(backoff(30), Duration::from_secs(3600));
    }
}
