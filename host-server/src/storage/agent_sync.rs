//! Issue 18's sync: what an agent's phone downloads (the agent's customers, their devices and plans) and the
//! items it uploaded with their answers (`agent_sync_items`).
//!
//! An agent's customers are those of the villages in its area, and those it registered wherever they live.
//! Incremental reads keep the customers touched since an instant: the customer, one of its devices or plans
//! written outside the payment path (`updated_at`), a payment or an opening balance of theirs, or a new
//! version of a tariff one of their meters uses; each such customer comes with all its devices and plans.

use micropower_core::api::Customer;
use serde::{Deserialize, Serialize};
use sqlx::{Any, Executor};

use crate::error::ApiResult;
use crate::repo::{DeviceRow, PlanRow, DEVICE_COLUMNS, PLAN_COLUMNS};
use crate::storage::column::Text;

/// The ids of an agent's customers (`$1` the agent's area, `$2` the agent), touched since `$3` when
/// [`CHANGED`] follows.
const AGENT_CUSTOMERS: &str = "SELECT c.id FROM customers c JOIN villages v ON v.id = c.village_id \
     WHERE (v.area_id = $1 OR c.registered_by_agent = $2)";

/// Keeps the customers touched since `$3` (an RFC 3339 instant, compared as text like every stored instant).
const CHANGED: &str = " AND (COALESCE(c.updated_at, c.created_at) >= $3 \
     OR EXISTS (SELECT 1 FROM payments p WHERE p.customer_id = c.id AND p.created_at >= $3) \
     OR EXISTS (SELECT 1 FROM devices d WHERE d.owner_id = c.id AND COALESCE(d.updated_at, d.created_at) >= $3) \
     OR EXISTS (SELECT 1 FROM plans pl WHERE pl.customer_id = c.id AND COALESCE(pl.updated_at, pl.created_at) >= $3) \
     OR EXISTS (SELECT 1 FROM opening_balances o WHERE o.customer_id = c.id AND o.created_at >= $3) \
     OR EXISTS (SELECT 1 FROM devices d JOIN tariff_versions tv ON tv.tariff_id = d.tariff_id \
                WHERE d.owner_id = c.id AND tv.created_at >= $3))";

/// Whose rows a sync reads: the agent and its area, and for an incremental sync the instant it starts from.
#[derive(Debug, Clone, Copy)]
pub struct Scope<'a> {
    pub agent_id: &'a str,
    pub area_id: &'a str,
    pub since: Option<&'a str>,
}

impl Scope<'_> {
    /// The ids of the customers in scope, as a subquery.
    fn customer_ids(&self) -> String {
        match self.since {
            Some(_) => format!("{AGENT_CUSTOMERS}{CHANGED}"),
            None => AGENT_CUSTOMERS.to_owned(),
        }
    }

    fn bind<'q, O>(
        &self,
        query: sqlx::query::QueryAs<'q, Any, O, sqlx::any::AnyArguments<'q>>,
    ) -> sqlx::query::QueryAs<'q, Any, O, sqlx::any::AnyArguments<'q>> {
        let query = query.bind(self.area_id.to_owned()).bind(self.agent_id.to_owned());
        match self.since {
            Some(since) => query.bind(since.to_owned()),
            None => query,
        }
    }
}

/// The customers in scope, by id.
pub async fn customers<'e, E: Executor<'e, Database = Any>>(exec: E, scope: &Scope<'_>) -> ApiResult<Vec<Customer>> {
    let sql = format!("SELECT body FROM customers WHERE id IN ({}) ORDER BY id", scope.customer_ids());
    let rows: Vec<(Text<Customer>,)> = scope.bind(sqlx::query_as(&sql)).fetch_all(exec).await?;
    Ok(rows.into_iter().map(|(c,)| c.into()).collect())
}

/// The devices of the customers in scope, by serial.
pub async fn devices<'e, E: Executor<'e, Database = Any>>(exec: E, scope: &Scope<'_>) -> ApiResult<Vec<DeviceRow>> {
    let sql =
        format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE owner_id IN ({}) ORDER BY serial", scope.customer_ids());
    Ok(scope.bind(sqlx::query_as(&sql)).fetch_all(exec).await?)
}

/// The plans of the customers in scope, by customer and then in the order sold.
pub async fn plans<'e, E: Executor<'e, Database = Any>>(exec: E, scope: &Scope<'_>) -> ApiResult<Vec<PlanRow>> {
    let sql = format!(
        "SELECT {PLAN_COLUMNS} FROM plans WHERE customer_id IN ({}) ORDER BY customer_id, seq",
        scope.customer_ids()
    );
    Ok(scope.bind(sqlx::query_as(&sql)).fetch_all(exec).await?)
}

/// Whether `customer_id` is one of the agent's customers (its village in `area_id`, or registered by it).
pub async fn is_agents_customer<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    agent_id: &str,
    area_id: &str,
    customer_id: &str,
) -> ApiResult<bool> {
    let sql = format!("{AGENT_CUSTOMERS} AND c.id = $3");
    let found: Option<(String,)> =
        sqlx::query_as(&sql).bind(area_id).bind(agent_id).bind(customer_id).fetch_optional(exec).await?;
    Ok(found.is_some())
}

/// Records the agent whose key registered a new customer.
pub async fn set_registered_by<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    customer_id: &str,
    agent_id: &str,
) -> ApiResult<()> {
    sqlx::query("UPDATE customers SET registered_by_agent = $1 WHERE id = $2")
        .bind(agent_id)
        .bind(customer_id)
        .execute(exec)
        .await?;
    Ok(())
}

/// Records the agent phone's sync (the agent's `updated_at` is left alone: it dates edits of its terms).
pub async fn set_last_sync<'e, E: Executor<'e, Database = Any>>(exec: E, agent_id: &str, at: &str) -> ApiResult<()> {
    sqlx::query("UPDATE agents SET last_sync_at = $1 WHERE id = $2").bind(at).bind(agent_id).execute(exec).await?;
    Ok(())
}

/// What an uploaded item was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Sale,
    Registration,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ItemKind::Sale => "sale",
            ItemKind::Registration => "registration",
        }
    }
}

impl std::str::FromStr for ItemKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "sale" => Ok(ItemKind::Sale),
            "registration" => Ok(ItemKind::Registration),
            other => Err(format!("unknown sync item type {other:?}")),
        }
    }
}

/// How an item ended, as kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    Applied,
    Refused,
}

impl Kept {
    fn as_str(self) -> &'static str {
        match self {
            Kept::Applied => "applied",
            Kept::Refused => "refused",
        }
    }
}

/// An uploaded item's outcome as stored: `body` is the answer's JSON (applied) or the error body (refused).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredItem {
    #[sqlx(rename = "type")]
    pub kind: String,
    pub status: String,
    pub http_status: i64,
    pub body: String,
}

impl StoredItem {
    pub fn applied(&self) -> bool {
        self.status == Kept::Applied.as_str()
    }
}

/// An item's outcome to store.
pub struct NewItem<'a> {
    pub agent_id: &'a str,
    pub client_tx_id: &'a str,
    pub kind: ItemKind,
    pub kept: Kept,
    pub http_status: u16,
    pub body: &'a str,
    pub created_at: &'a str,
}

/// The stored outcome of an agent's item.
pub async fn item<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    agent_id: &str,
    client_tx_id: &str,
) -> ApiResult<Option<StoredItem>> {
    let sql = "SELECT type, status, http_status, body FROM agent_sync_items WHERE agent_id = $1 AND client_tx_id = $2";
    Ok(sqlx::query_as(sql).bind(agent_id).bind(client_tx_id).fetch_optional(exec).await?)
}

const INSERT_ITEM: &str = "INSERT INTO agent_sync_items \
     (agent_id, client_tx_id, type, status, http_status, body, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)";

fn insert_query<'q>(item: &'q NewItem<'q>, sql: &'q str) -> sqlx::query::Query<'q, Any, sqlx::any::AnyArguments<'q>> {
    sqlx::query(sql)
        .bind(item.agent_id)
        .bind(item.client_tx_id)
        .bind(item.kind.as_str())
        .bind(item.kept.as_str())
        .bind(i64::from(item.http_status))
        .bind(item.body)
        .bind(item.created_at)
}

/// Stores an item's outcome; the database's error as it is, so that the caller can tell a concurrent copy
/// of the item that stored first (a unique violation) from any other failure.
pub async fn insert<'e, E: Executor<'e, Database = Any>>(exec: E, item: &NewItem<'_>) -> Result<(), sqlx::Error> {
    insert_query(item, INSERT_ITEM).execute(exec).await?;
    Ok(())
}

/// Stores an item's outcome unless one is stored already; whether this one was.
pub async fn insert_if_absent<'e, E: Executor<'e, Database = Any>>(exec: E, item: &NewItem<'_>) -> ApiResult<bool> {
    let sql = format!("{INSERT_ITEM} ON CONFLICT (agent_id, client_tx_id) DO NOTHING");
    let done = insert_query(item, &sql).execute(exec).await?;
    Ok(done.rows_affected() == 1)
}

/// Replaces a stored item's answer (a registration stores its row first, so the primary key decides between
/// two copies before anything is registered, and its answer once it has one).
pub async fn set_body<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    agent_id: &str,
    client_tx_id: &str,
    body: &str,
) -> ApiResult<()> {
    sqlx::query("UPDATE agent_sync_items SET body = $1 WHERE agent_id = $2 AND client_tx_id = $3")
        .bind(body)
        .bind(agent_id)
        .bind(client_tx_id)
        .execute(exec)
        .await?;
    Ok(())
}
