//! The customer SMS outbox as operators read it.

use serde::Serialize;
use sqlx::{Any, Executor};

use crate::error::ApiResult;
use crate::storage::page::{Keyset, ListQuery, Order, Page, PageRequest};

/// One message of the outbox. `message` is empty for a payment confirmation not yet delivered: it is
/// rendered at delivery, when the payment's token is known.
#[derive(Debug, sqlx::FromRow, Serialize)]
pub struct Notification {
    pub id: String,
    pub kind: String,
    pub payment_id: Option<String>,
    pub customer_id: Option<String>,
    pub phone: String,
    pub message: Option<String>,
    pub status: String,
    pub attempts: i64,
    pub next_attempt: String,
    pub last_error: Option<String>,
    pub sent_at: Option<String>,
    pub created_at: String,
}

/// The statuses a message can be in, as stored and as a query names them.
pub const STATUSES: &[&str] = &["pending", "sent", "failed"];

/// The outbox, newest first; only messages in `status` when given (one of [`STATUSES`]).
pub async fn outbox<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    status: Option<&str>,
    page: &PageRequest,
) -> ApiResult<Page<Notification>> {
    let mut q = ListQuery::new(
        "SELECT id, kind, payment_id, customer_id, phone, message, status, attempts, next_attempt, last_error, \
         sent_at, created_at FROM notifications",
    );
    if let Some(status) = status {
        q.filter("status = {}", status);
    }
    let keyset = Keyset { list: "notifications", key: "created_at", id: "id", order: Order::NewestFirst };
    q.page(exec, keyset, page, |n: &Notification| (n.created_at.clone(), n.id.clone())).await
}
