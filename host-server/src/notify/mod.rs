//! Customer notifications: an outbox written in the same transaction as the payment (or reminder) it
//! announces, and a worker that delivers it through the configured SMS gateway with retries and backoff
//! (modelled on the vendor worker). A payment's text is rendered at delivery, once its token is known: an
//! external vendor's token may still be pending when the payment commits.

pub mod gateway;
pub mod reminders;
pub mod templates;

use std::sync::Arc;
use std::time::Duration;

use sqlx::{Any, Row, Transaction};

use crate::error::{ApiError, ApiResult};
use crate::ids::{new_id, now, now_rfc3339};
use crate::state::AppState;
use gateway::SmsGateway;

/// Attempts before a notification is given up (the operator sees it as `failed` with the last error).
pub const MAX_ATTEMPTS: u32 = 8;

fn stamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

pub const INSERT_NOTIFICATION: &str = "INSERT INTO notifications (id, kind, payment_id, customer_id, phone, message, status, attempts, next_attempt, created_at) \
     VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $8)";

/// Queues a notification, inside the caller's transaction.
pub async fn enqueue(
    tx: &mut Transaction<'_, Any>,
    kind: &str,
    payment_id: Option<&str>,
    customer_id: &str,
    phone: &str,
    message: Option<&str>,
) -> ApiResult<String> {
    let id = new_id();
    let at = now_rfc3339();
    sqlx::query(INSERT_NOTIFICATION)
        .bind(&id)
        .bind(kind)
        .bind(payment_id)
        .bind(customer_id)
        .bind(phone)
        .bind(message)
        .bind(&at)
        .bind(&at)
        .execute(&mut **tx)
        .await?;
    Ok(id)
}

/// Queues the confirmation SMS of an applied payment to the device owner's main phone (never to the payer's
/// number a provider reports: Daraja masks it, and the payer may not be the customer).
pub async fn enqueue_payment<S: crate::storage::store::PaymentStore>(
    tx: &mut S,
    payment_id: &str,
    owner: &micropower_core::api::Customer,
) -> ApiResult<()> {
    let Some(phone) = owner.phones.first() else { return Ok(()) };
    let at = now_rfc3339();
    let args = crate::storage::store::args![
        new_id(),
        "payment",
        Some(payment_id),
        owner.id.as_str(),
        phone.as_str(),
        None::<&str>,
        at.as_str(),
        at.as_str()
    ];
    tx.execute(INSERT_NOTIFICATION, &args).await
}

/// A payment's text, or `None` while one of its tokens is still pending.
async fn render_payment(state: &AppState, payment_id: &str) -> ApiResult<Option<String>> {
    let row = sqlx::query(
        // A payment to a device-less plan names the appliance where others name the serial.
        "SELECT COALESCE(NULLIF(p.serial, ''), pl.appliance, '') AS serial, p.amount, p.currency, c.name, c.surname \
         FROM payments p LEFT JOIN customers c ON c.id = p.customer_id LEFT JOIN plans pl ON pl.id = p.plan_id \
         WHERE p.id = $1",
    )
    .bind(payment_id)
    .fetch_optional(&state.db.pool)
    .await?
    .ok_or_else(|| ApiError::internal(format!("notification for a missing payment {payment_id}")))?;
    let tokens =
        sqlx::query("SELECT kind, quantity, code, status FROM tokens WHERE payment_id = $1 ORDER BY count, id")
            .bind(payment_id)
            .fetch_all(&state.db.pool)
            .await?;
    let mut codes = Vec::new();
    let mut total = rust_decimal::Decimal::ZERO;
    let mut kind = None;
    for t in &tokens {
        if t.try_get::<String, _>("status")? != "issued" {
            return Ok(None);
        }
        kind = Some(t.try_get::<String, _>("kind")?);
        codes.push(t.try_get::<Option<String>, _>("code")?.unwrap_or_default());
        if let Some(q) = t.try_get::<Option<String>, _>("quantity")? {
            total += q.parse::<rust_decimal::Decimal>().unwrap_or_default();
        }
    }
    let quantity = total.normalize().to_string();
    let mut vars = vec![
        ("name", row.try_get::<Option<String>, _>("name")?.unwrap_or_default()),
        ("surname", row.try_get::<Option<String>, _>("surname")?.unwrap_or_default()),
        ("serial", row.try_get::<String, _>("serial")?),
        ("amount", row.try_get::<String, _>("amount")?),
        ("currency", row.try_get::<String, _>("currency")?),
        ("token", codes.join(", ")),
    ];
    let template = match kind.as_deref() {
        None => "no_token",
        Some("energy") => {
            vars.push(("kwh", quantity));
            "meter_token"
        }
        Some("unlock") => "unlock",
        Some(_) => {
            vars.push(("days", quantity));
            "device_token"
        }
    };
    let text = templates::text(&state.db.pool, template).await?;
    Ok(Some(templates::render(&text, &vars)))
}

/// Delivers every due notification once; returns how many were sent.
pub async fn run_once(state: &AppState, gateway: &dyn SmsGateway) -> Result<usize, ApiError> {
    let due = sqlx::query(
        "SELECT id, kind, payment_id, phone, message, attempts, next_attempt FROM notifications \
         WHERE status = 'pending' AND next_attempt <= $1 ORDER BY next_attempt LIMIT 50",
    )
    .bind(now_rfc3339())
    .fetch_all(&state.db.pool)
    .await?;
    let mut sent = 0;
    for row in due {
        let id: String = row.try_get("id")?;
        let attempts = u32::try_from(row.try_get::<i64, _>("attempts")?).unwrap_or(u32::MAX);
        let seen: String = row.try_get("next_attempt")?;
        // A lease, so a second server on the same database does not send the same SMS.
        let claimed = sqlx::query(
            "UPDATE notifications SET next_attempt = $1 WHERE id = $2 AND status = 'pending' AND next_attempt = $3",
        )
        .bind(stamp(now() + chrono::Duration::seconds(60)))
        .bind(&id)
        .bind(&seen)
        .execute(&state.db.pool)
        .await?
        .rows_affected();
        if claimed != 1 {
            continue;
        }
        let message = match row.try_get::<Option<String>, _>("message")? {
            Some(m) => m,
            None => {
                let payment_id: Option<String> = row.try_get("payment_id")?;
                match render_payment(state, payment_id.as_deref().unwrap_or_default()).await? {
                    Some(m) => m,
                    // The token is not made yet: look again in a minute (the lease), no attempt spent.
                    None => continue,
                }
            }
        };
        let phone: String = row.try_get("phone")?;
        let attempt = attempts.saturating_add(1);
        match gateway.send(&id, &phone, &message).await {
            Ok(()) => {
                sqlx::query(
                    "UPDATE notifications SET status = 'sent', message = $1, attempts = $2, sent_at = $3, last_error = NULL WHERE id = $4",
                )
                .bind(&message)
                .bind(i64::from(attempt))
                .bind(now_rfc3339())
                .bind(&id)
                .execute(&state.db.pool)
                .await?;
                tracing::info!(notification = %id, attempt, "SMS sent");
                sent += 1;
            }
            Err(e) => {
                let status = if attempt >= MAX_ATTEMPTS { "failed" } else { "pending" };
                let next = now() + chrono::Duration::from_std(backoff(attempts)).unwrap_or(chrono::Duration::hours(1));
                sqlx::query(
                    "UPDATE notifications SET status = $1, message = $2, attempts = $3, next_attempt = $4, last_error = $5 WHERE id = $6",
                )
                .bind(status)
                .bind(&message)
                .bind(i64::from(attempt))
                .bind(stamp(next))
                .bind(e.to_string())
                .bind(&id)
                .execute(&state.db.pool)
                .await?;
                tracing::warn!(notification = %id, attempt, status, error = %e, "SMS not sent");
            }
        }
    }
    Ok(sent)
}

/// The delay before attempt `attempts + 1`: 10 s doubling, at most an hour.
pub fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(10u64.saturating_mul(1u64 << attempts.min(10)).min(3600))
}

/// Delivers due notifications every `every` until the process ends.
pub fn spawn_worker(state: AppState, gateway: Arc<dyn SmsGateway>, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            if let Err(e) = run_once(&state, gateway.as_ref()).await {
                tracing::error!(error = ?e.body, "SMS worker failed a round");
            }
            tokio::time::sleep(every).await;
        }
    })
}

/// Filter of `GET /v1/notifications`.
#[derive(serde::Deserialize)]
pub struct OutboxQuery {
    /// `pending`, `sent` or `failed`; every message when absent.
    status: Option<String>,
}

/// `GET /v1/notifications?status=`: the outbox, newest first.
pub async fn list(
    axum::extract::State(state): axum::extract::State<AppState>,
    axum::extract::Query(page): axum::extract::Query<crate::storage::page::PageQuery>,
    axum::extract::Query(q): axum::extract::Query<OutboxQuery>,
) -> ApiResult<axum::Json<crate::storage::page::Page<crate::storage::notifications::Notification>>> {
    use crate::storage::notifications::{outbox, STATUSES};
    let page = page.request("notifications")?;
    let status = match q.status.as_deref() {
        None | Some("") => None,
        Some(text) if STATUSES.contains(&text) => Some(text),
        Some(_) => return Err(ApiError::unprocessable("status", "status is pending, sent or failed")),
    };
    Ok(axum::Json(outbox(&state.db.pool, status, &page).await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        assert_eq!(backoff(0), Duration::from_secs(10));
        assert_eq!(backoff(2), Duration::from_secs(40));
        assert_eq!(backoff(20), Duration::from_secs(3600));
    }
}
