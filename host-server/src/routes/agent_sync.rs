//! Issue 18's sync, the server's side: `GET /v1/agents/{id}/sync` (what the agent's phone keeps offline)
//! and `POST /v1/agents/{id}/sync` (the phone's queued sales and registrations, each exactly once).
//!
//! Download: the agent, its customers (its area's, and those it registered), their devices with the core's
//! snapshot of each (what the phone previews a sale with), their plans and the tariffs their meters use. A
//! phone never mints an OpenPAYGO token (`offline_token: false`): the server keeps the keys and alone counts.
//!
//! Upload: every item in its own transaction, its outcome kept in `agent_sync_items` so that a re-sent item
//! answers what it answered the first time and writes nothing. A sale is the `POST /v1/agents/{id}/sales`
//! path itself, whose payment key (`agent:<id>`, `client_tx_id`) already makes it exactly once; its outcome
//! is kept after it commits, so a sale first posted to `/sales` (or kept by a crash before its record) is
//! answered from the payment path as a `duplicate`. A registration stores its record first, in the
//! registration's own transaction: the primary key decides between two copies before anything registers.

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use chrono::{DateTime, NaiveDate, Utc};
use micropower_core::api::{AccountSnapshot, Currency, Customer, DeviceKind, Tariff, TokenScheme};
use micropower_core::CoreError;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::extract::{parse, Body};
use crate::ids::now_rfc3339;
use crate::repo::{self, PlanBody, PlanKind};
use crate::routes::agents::{found, sell, SaleIn};
use crate::routes::registrations::register_in;
use crate::state::AppState;
use crate::storage::agent_sync::{self as stored, ItemKind, Kept, NewItem, Scope, StoredItem};
use crate::storage::agents::Agent;
use crate::storage::audit::Actor;

/// Most items one upload may carry.
const MAX_ITEMS: usize = 500;

/// How far before a download's start its cursor points: a write that took its time before this download
/// began but committed after it read is sent again by the next one (the phone upserts by key).
const CURSOR_OVERLAP_MINUTES: i64 = 5;

/// The query of `GET /v1/agents/{id}/sync`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncQuery {
    /// The `cursor` of an earlier download; absent: everything.
    #[serde(default)]
    since: Option<String>,
}

/// A download's cursor: the instant its next download starts from, the business day of its snapshots and
/// the agent's area it was made for. On the wire `v1.<unix milliseconds>.<YYYY-MM-DD>.<area id>`, opaque to
/// the phone.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cursor {
    at: DateTime<Utc>,
    day: NaiveDate,
    area_id: String,
}

impl Cursor {
    fn parse(text: &str) -> ApiResult<Cursor> {
        let unreadable = || ApiError::invalid("since", "a cursor from an earlier GET /v1/agents/{id}/sync");
        let mut parts = text.splitn(4, '.');
        let (Some("v1"), Some(millis), Some(day), Some(area_id)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(unreadable());
        };
        let at = millis.parse::<i64>().ok().and_then(DateTime::from_timestamp_millis).ok_or_else(unreadable)?;
        let day = day.parse::<NaiveDate>().map_err(|_| unreadable())?;
        Ok(Cursor { at, day, area_id: area_id.to_owned() })
    }

    fn text(&self) -> String {
        format!("v1.{}.{}.{}", self.at.timestamp_millis(), self.day, self.area_id)
    }

    /// The instant as stored instants are written (RFC 3339, milliseconds, UTC), which compare as text.
    fn instant(&self) -> String {
        self.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }
}

/// The answer of `GET /v1/agents/{id}/sync`.
#[derive(Serialize)]
pub struct Download {
    cursor: String,
    /// Everything in scope: the phone replaces what it keeps. Also when the cursor's day is past (every
    /// snapshot depends on the day) or the agent's area is not the cursor's.
    full: bool,
    /// The business day of the snapshots.
    as_of: NaiveDate,
    agent: Agent,
    customers: Vec<Customer>,
    devices: Vec<SyncDevice>,
    plans: Vec<SyncPlan>,
    tariffs: Vec<SyncTariff>,
}

/// A device as the phone keeps it, with the core's snapshot of its account as of `as_of`.
#[derive(Serialize)]
pub struct SyncDevice {
    serial: String,
    kind: DeviceKind,
    customer_id: Option<String>,
    token_scheme: TokenScheme,
    tariff_id: Option<String>,
    plan_id: Option<String>,
    /// Always false: a phone never makes a token (the server keeps the keys and alone counts tokens).
    offline_token: bool,
    snapshot: AccountSnapshot,
}

/// A plan as the phone keeps it: `plan` is the core's plan, as `allocate_plan_payment` takes it.
#[derive(Serialize)]
pub struct SyncPlan {
    id: String,
    customer_id: String,
    serial: Option<String>,
    kind: PlanKind,
    appliance: String,
    currency: Currency,
    /// The core's plan, installments or EaaS as `kind` says.
    plan: PlanBody,
    /// The customer's credit balance in the plan's currency.
    #[serde(with = "micropower_core::wire::dec")]
    credit_balance: Decimal,
}

/// A tariff as in force on `as_of`.
#[derive(Serialize)]
pub struct SyncTariff {
    id: String,
    name: String,
    currency: Currency,
    tariff: Tariff,
}

/// `GET /v1/agents/{id}/sync?since=`: everything the agent's phone keeps, or what changed since `since`.
pub async fn download(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Query(query): Query<SyncQuery>,
) -> ApiResult<Json<Download>> {
    let agent = found(&state, &id).await?;
    let started = crate::ids::now();
    let today = state.today();
    let since = query.since.as_deref().map(Cursor::parse).transpose()?;
    // Incremental only from a cursor of today made for the agent's present area.
    let since = since.filter(|c| c.day == today && c.area_id == agent.area_id).map(|c| c.instant());
    let scope = Scope { agent_id: &agent.id, area_id: &agent.area_id, since: since.as_deref() };

    let mut tx = state.db.pool.begin().await?;
    let customers = stored::customers(&mut *tx, &scope).await?;
    let rows = stored::devices(&mut *tx, &scope).await?;
    let plan_rows = stored::plans(&mut *tx, &scope).await?;
    let owners: BTreeMap<&str, &Customer> = customers.iter().map(|c| (c.id.as_str(), c)).collect();
    let mut devices = Vec::with_capacity(rows.len());
    let mut tariff_ids = BTreeSet::new();
    for row in rows {
        let owner = row.owner_id.as_deref().and_then(|o| owners.get(o).copied());
        let snapshot = crate::snapshot::load_for_owner(&mut tx, &row, owner, None, today).await?;
        if let Some(tariff) = &row.tariff_id {
            tariff_ids.insert(tariff.clone());
        }
        devices.push(SyncDevice {
            serial: row.serial,
            kind: row.kind,
            customer_id: row.owner_id,
            token_scheme: row.token_scheme,
            tariff_id: row.tariff_id,
            plan_id: row.plan_id,
            offline_token: false,
            snapshot,
        });
    }
    let mut plans = Vec::with_capacity(plan_rows.len());
    // A customer with several plans in one currency has one balance: read it once.
    let mut balances: BTreeMap<(String, String), Decimal> = BTreeMap::new();
    for row in plan_rows {
        let key = (row.customer_id.clone(), row.currency.code().to_owned());
        let credit_balance = match balances.get(&key) {
            Some(balance) => *balance,
            None => {
                let balance = repo::credit(&mut *tx, &row.customer_id, row.currency.code()).await?;
                *balances.entry(key).or_insert(balance)
            }
        };
        plans.push(SyncPlan {
            id: row.id,
            customer_id: row.customer_id,
            serial: row.serial,
            kind: row.plan.kind(),
            appliance: row.appliance,
            currency: row.currency,
            plan: row.plan,
            credit_balance,
        });
    }
    let mut tariffs = Vec::with_capacity(tariff_ids.len());
    for tariff_id in tariff_ids {
        let (name, tariff) = repo::tariff(&mut *tx, &tariff_id, today)
            .await?
            .ok_or_else(|| ApiError::internal(format!("a meter names the missing tariff {tariff_id}")))?;
        tariffs.push(SyncTariff { id: tariff_id, name, currency: tariff.currency, tariff });
    }
    drop(tx);

    let agent = synced(&state, &caller, &id).await?;
    let cursor = Cursor {
        at: started - chrono::Duration::minutes(CURSOR_OVERLAP_MINUTES),
        day: today,
        area_id: agent.area_id.clone(),
    };
    Ok(Json(Download {
        cursor: cursor.text(),
        full: since.is_none(),
        as_of: today,
        agent,
        customers,
        devices,
        plans,
        tariffs,
    }))
}

/// Sets the agent's `last_sync_at` to now when the caller is the agent's own key (its phone: an operator's
/// look at what the phone would get is no sync of the phone); answers the agent as it then stands.
async fn synced(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Agent> {
    if caller.agent_id.as_deref() == Some(id) {
        let _guard = state.db.write_guard().await;
        stored::set_last_sync(&state.db.pool, id, &now_rfc3339()).await?;
    }
    found(state, id).await
}

/// The body of `POST /v1/agents/{id}/sync`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upload {
    items: Vec<ItemIn>,
}

/// One uploaded item: its type, its key and the body of its single endpoint (`POST /v1/agents/{id}/sales`
/// for a sale, `POST /v1/registrations` for a registration), read by that endpoint's own rules.
#[derive(Deserialize)]
pub struct ItemIn {
    #[serde(rename = "type")]
    kind: ItemKind,
    client_tx_id: String,
    #[serde(flatten)]
    fields: Map<String, Value>,
}

/// How an item ended in this upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Applied now.
    Applied,
    /// Applied before (by an earlier upload, or by the single endpoint): its original answer.
    Duplicate,
    /// Refused, now or before: the error body its single endpoint answers.
    Refused,
}

/// One item's answer.
#[derive(Serialize)]
pub struct ItemOut {
    client_tx_id: String,
    #[serde(rename = "type")]
    kind: ItemKind,
    status: Status,
    http_status: u16,
    /// The single endpoint's answer (applied, duplicate).
    #[serde(skip_serializing_if = "Option::is_none")]
    answer: Option<Value>,
    /// The single endpoint's error body (refused).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Value>,
}

/// The answer of `POST /v1/agents/{id}/sync`.
#[derive(Serialize)]
pub struct UploadAnswer {
    items: Vec<ItemOut>,
    agent: Agent,
}

/// `POST /v1/agents/{id}/sync`: the items in order, each in its own transaction (a refusal undoes no other).
pub async fn upload(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(body): Body<Upload>,
) -> ApiResult<Json<UploadAnswer>> {
    if body.items.len() > MAX_ITEMS {
        return Err(ApiError::invalid("items", format!("at most {MAX_ITEMS} items in one upload")));
    }
    found(&state, &id).await?;
    let mut items = Vec::with_capacity(body.items.len());
    for item in body.items {
        let kind = item.kind;
        let client_tx_id = item.client_tx_id.clone();
        let out = match kind {
            ItemKind::Sale => sale_item(&state, &id, &caller.key_id, item).await,
            ItemKind::Registration => registration_item(&state, &id, &caller.key_id, item).await,
        };
        // An item the server could not decide (a database failure) is answered as such and kept nowhere: the
        // phone sends it again.
        items.push(out.unwrap_or_else(|e| ItemOut::refused(client_tx_id, kind, &e)));
    }
    let agent = synced(&state, &caller, &id).await?;
    Ok(Json(UploadAnswer { items, agent }))
}

impl ItemOut {
    fn answered(client_tx_id: String, kind: ItemKind, status: Status, http: StatusCode, answer: Value) -> Self {
        ItemOut { client_tx_id, kind, status, http_status: http.as_u16(), answer: Some(answer), error: None }
    }

    fn refused(client_tx_id: String, kind: ItemKind, error: &ApiError) -> Self {
        ItemOut {
            client_tx_id,
            kind,
            status: Status::Refused,
            http_status: error.status.as_u16(),
            answer: None,
            error: Some(Value::Object(error.body.clone())),
        }
    }

    /// The answer of an item kept before: its answer again as a duplicate, or its refusal again.
    fn kept(client_tx_id: String, kind: ItemKind, kept: StoredItem) -> ApiResult<Self> {
        if kept.kind != kind.as_str() {
            let message = format!("client_tx_id {client_tx_id} was already used by a {} item", kept.kind);
            return Ok(ItemOut::refused(
                client_tx_id,
                kind,
                &ApiError::conflict(message).with("field", "client_tx_id"),
            ));
        }
        let body: Value = serde_json::from_str(&kept.body).map_err(ApiError::internal)?;
        if kept.applied() {
            return Ok(ItemOut::answered(client_tx_id, kind, Status::Duplicate, StatusCode::OK, body));
        }
        let http_status = u16::try_from(kept.http_status).map_err(ApiError::internal)?;
        Ok(ItemOut { client_tx_id, kind, status: Status::Refused, http_status, answer: None, error: Some(body) })
    }
}

/// Whether a refusal is about the item itself and is kept, to be answered again: a malformed or unknown
/// field (400), a rule of the core on the item as decided then (422: the risk ceiling among them; the agent was
/// told, so the cash is not applied later). Others are answered and not kept, so a re-send asks again: a
/// device or plan the server does not know or has no owner for yet (404, 422 `unknown_serial` and
/// `device_unassigned`: its registration may sync later), a conflict about the key (409), a failure of the
/// server.
fn kept_refusal(error: &ApiError) -> bool {
    let not_yet =
        matches!(error.refusal.as_deref(), Some(CoreError::UnknownSerial { .. } | CoreError::DeviceUnassigned { .. }));
    match error.status {
        StatusCode::BAD_REQUEST => true,
        StatusCode::UNPROCESSABLE_ENTITY => !not_yet,
        _ => false,
    }
}

/// The item's own fields, read as `T` by the single endpoint's rules (a refused field is named as there).
fn fields_as<T: serde::de::DeserializeOwned>(mut fields: Map<String, Value>, client_tx_id: &str) -> ApiResult<T> {
    fields.insert("client_tx_id".into(), Value::String(client_tx_id.to_owned()));
    parse(&serde_json::to_vec(&Value::Object(fields)).map_err(ApiError::internal)?)
}

/// A sale item: the `/sales` path, then its outcome kept (after the payment commits: the payment's own key
/// makes the sale exactly once, this record makes a refusal answer the same).
async fn sale_item(state: &AppState, agent_id: &str, key_id: &str, item: ItemIn) -> ApiResult<ItemOut> {
    let ItemIn { kind, client_tx_id, fields } = item;
    crate::payments::check_text("client_tx_id", &client_tx_id, 128)?;
    if let Some(kept) = stored::item(&state.db.pool, agent_id, &client_tx_id).await? {
        return ItemOut::kept(client_tx_id, kind, kept);
    }
    let decided = match fields_as::<SaleIn>(fields, &client_tx_id) {
        Ok(sale) => sell(state, agent_id, key_id, sale).await,
        Err(e) => Err(e),
    };
    let (status, answer) = match decided {
        Ok(done) => done,
        Err(e) => return refusal(state, agent_id, client_tx_id, kind, e).await,
    };
    let answer = serde_json::to_value(&answer).map_err(ApiError::internal)?;
    let body = answer.to_string();
    let now = now_rfc3339();
    let record = NewItem {
        agent_id,
        client_tx_id: &client_tx_id,
        kind,
        kept: Kept::Applied,
        http_status: StatusCode::CREATED.as_u16(),
        body: &body,
        created_at: &now,
    };
    {
        let _guard = state.db.write_guard().await;
        stored::insert_if_absent(&state.db.pool, &record).await?;
    }
    // Applied now, or before (by `/sales`, an earlier upload that crashed before its record, a concurrent copy).
    let status = if status == StatusCode::CREATED { Status::Applied } else { Status::Duplicate };
    let http = if status == Status::Applied { StatusCode::CREATED } else { StatusCode::OK };
    Ok(ItemOut::answered(client_tx_id, kind, status, http, answer))
}

/// A refused item: kept when the refusal is about the item ([`kept_refusal`]), unless a concurrent copy kept
/// its outcome first, which is then the answer.
async fn refusal(
    state: &AppState,
    agent_id: &str,
    client_tx_id: String,
    kind: ItemKind,
    error: ApiError,
) -> ApiResult<ItemOut> {
    if !kept_refusal(&error) {
        return Ok(ItemOut::refused(client_tx_id, kind, &error));
    }
    let body = Value::Object(error.body.clone()).to_string();
    let now = now_rfc3339();
    let record = NewItem {
        agent_id,
        client_tx_id: &client_tx_id,
        kind,
        kept: Kept::Refused,
        http_status: error.status.as_u16(),
        body: &body,
        created_at: &now,
    };
    let inserted = {
        let _guard = state.db.write_guard().await;
        stored::insert_if_absent(&state.db.pool, &record).await?
    };
    if inserted {
        return Ok(ItemOut::refused(client_tx_id, kind, &error));
    }
    let kept = stored::item(&state.db.pool, agent_id, &client_tx_id)
        .await?
        .ok_or_else(|| ApiError::internal("a kept sync item vanished"))?;
    ItemOut::kept(client_tx_id, kind, kept)
}

/// A registration item: its record is written first, in the registration's transaction, so a registration
/// never commits without it and of two concurrent copies the primary key lets one register; the other waits
/// for it (PostgreSQL) or for the write guard (SQLite) and answers its outcome.
async fn registration_item(state: &AppState, agent_id: &str, key_id: &str, item: ItemIn) -> ApiResult<ItemOut> {
    let ItemIn { kind, client_tx_id, fields } = item;
    crate::payments::check_text("client_tx_id", &client_tx_id, 128)?;
    let guard = state.db.write_guard().await;
    let mut tx = state.db.pool.begin().await?;
    if let Some(kept) = stored::item(&mut *tx, agent_id, &client_tx_id).await? {
        return ItemOut::kept(client_tx_id, kind, kept);
    }
    let now = now_rfc3339();
    // Its body is the registration's answer, set below once there is one.
    let record = NewItem {
        agent_id,
        client_tx_id: &client_tx_id,
        kind,
        kept: Kept::Applied,
        http_status: StatusCode::CREATED.as_u16(),
        body: "null",
        created_at: &now,
    };
    if let Err(e) = stored::insert(&mut *tx, &record).await {
        if !repo::is_unique_violation(&e) {
            return Err(e.into());
        }
        drop(tx);
        drop(guard);
        let kept = stored::item(&state.db.pool, agent_id, &client_tx_id)
            .await?
            .ok_or_else(|| ApiError::internal("a kept sync item vanished"))?;
        return ItemOut::kept(client_tx_id, kind, kept);
    }
    let actor = Actor::ApiKey(key_id.to_owned());
    let registered = match register_in(state, &mut tx, &actor, Some(agent_id), Value::Object(fields)).await {
        Ok(registered) => registered,
        Err(e) => {
            // Rolled back, the record with it; the refusal is kept (or not) on its own.
            drop(tx);
            drop(guard);
            return refusal(state, agent_id, client_tx_id, kind, e).await;
        }
    };
    let answer = serde_json::to_value(&registered).map_err(ApiError::internal)?;
    stored::set_body(&mut *tx, agent_id, &client_tx_id, &answer.to_string()).await?;
    tx.commit().await?;
    drop(guard);
    tracing::info!(agent = agent_id, customer = %registered.customer_id(), "registration synced");
    Ok(ItemOut::answered(client_tx_id, kind, Status::Applied, StatusCode::CREATED, answer))
}
