//! Field agents (issue 18): `POST/GET/PATCH /v1/agents`, `GET /v1/agents/{id}/ledger` and an agent's cash
//! sales, `POST /v1/agents/{id}/sales`. An agent is created with its API key (role `agent`), answered once.
//! A sale goes through the payment path ([`crate::payments::apply`], [`crate::agents`]).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use micropower_core::api::{AgentTerms, CommissionRates, Currency};
use micropower_core::calls;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::auth::Caller;
use crate::crypto::{hash_api_key, new_api_key};
use crate::error::{ApiError, ApiResult};
use crate::extract::Body;
use crate::ids::{new_id, now_rfc3339};
use crate::payments::{apply, check_text, Outcome, PaymentAnswer, PaymentIn};
use crate::routes::registry::require_name;
use crate::state::AppState;
use crate::storage::agents::{self as stored, Agent, LedgerLine};
use crate::storage::audit::{self, Action, Actor, Entry};
use crate::storage::page::{Page, PageQuery};

/// The body of `POST /v1/agents`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAgent {
    name: String,
    phone: String,
    area_id: String,
    commission: CommissionRates,
    #[serde(with = "micropower_core::wire::dec")]
    risk_ceiling: Decimal,
    currency: Currency,
    /// ISO 3166 region a phone written without `+` is read in.
    #[serde(default)]
    phone_region: Option<String>,
}

/// The body of `PATCH /v1/agents/{id}`: any of the fields, each replacing the stored one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentEdit {
    name: Option<String>,
    phone: Option<String>,
    area_id: Option<String>,
    commission: Option<CommissionRates>,
    #[serde(with = "micropower_core::wire::dec_opt", default)]
    risk_ceiling: Option<Decimal>,
    currency: Option<Currency>,
    #[serde(default)]
    phone_region: Option<String>,
}

/// The answer of `POST /v1/agents`: the agent and its API key, the only time the key is shown.
#[derive(Serialize)]
pub struct CreatedAgent {
    #[serde(flatten)]
    agent: Agent,
    api_key: String,
    api_key_id: String,
}

/// The body of `POST /v1/agents/{id}/sales`: a cash sale as the agent's phone recorded it.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SaleIn {
    /// The phone's id of the sale: its exactly-once key, with the agent.
    client_tx_id: String,
    #[serde(default)]
    serial: Option<String>,
    #[serde(default)]
    plan_id: Option<String>,
    amount: String,
    currency: String,
    /// When the agent took the money (RFC 3339); default now.
    #[serde(default)]
    taken_at: Option<String>,
}

/// The answer of a sale: the payment's answer and the ledger lines the sale wrote, the same on a repeat.
#[derive(Serialize)]
pub struct SaleAnswer {
    #[serde(flatten)]
    payment: PaymentAnswer,
    ledger: Vec<LedgerLine>,
}

/// A phone in E.164, by the core.
async fn phone(state: &AppState, raw: &str, region: Option<&str>) -> ApiResult<String> {
    let normalized = state.core(calls::NormalizePhone { raw: raw.to_owned(), region: region.map(str::to_owned) }).await;
    normalized.map_err(|e| e.with("field", "phone"))
}

/// 404 naming `area_id` unless the area exists.
async fn require_area(state: &AppState, id: &str) -> ApiResult<()> {
    match crate::storage::registry::area(&state.db.pool, id).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found("area", id).with("field", "area_id")),
    }
}

/// The terms checked and in canonical form, by the core.
async fn checked_terms(state: &AppState, terms: AgentTerms) -> ApiResult<AgentTerms> {
    state.core(calls::AgentTermsCheck { terms }).await
}

fn set_terms(agent: &mut Agent, terms: AgentTerms) {
    agent.currency = terms.currency;
    agent.commission = terms.commission.into();
    agent.risk_ceiling = terms.risk_ceiling;
}

/// `POST /v1/agents`: the agent with a zero balance, and its API key (role `agent`), in one transaction.
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Body(body): Body<NewAgent>,
) -> ApiResult<(StatusCode, Json<CreatedAgent>)> {
    let name = require_name(&body.name)?;
    let phone = phone(&state, &body.phone, body.phone_region.as_deref()).await?;
    require_area(&state, &body.area_id).await?;
    let terms = AgentTerms { currency: body.currency, commission: body.commission, risk_ceiling: body.risk_ceiling };
    let terms = checked_terms(&state, terms).await?;
    let now = now_rfc3339();
    let agent = Agent {
        id: new_id(),
        name,
        phone,
        area_id: body.area_id,
        currency: terms.currency,
        commission: terms.commission.into(),
        risk_ceiling: terms.risk_ceiling,
        balance: Decimal::ZERO,
        commission_earned: Decimal::ZERO,
        last_sync_at: None,
        created_at: now.clone(),
        updated_at: now.clone(),
    };
    let key = new_api_key()?;
    let actor = Actor::ApiKey(caller.key_id);
    let _guard = state.db.write_guard().await;
    let mut tx = state.db.pool.begin().await?;
    stored::insert(&mut *tx, &agent).await?;
    let label = format!("agent {}", agent.name);
    let key_id =
        crate::storage::api_keys::insert_agent_key(&mut *tx, &hash_api_key(&key), &label, &agent.id, &now).await?;
    let created = crate::storage::api_keys::key(&mut *tx, &key_id)
        .await?
        .ok_or_else(|| ApiError::internal("an agent's key was not stored"))?;
    audit::record(&mut *tx, &Entry::new(&actor, Action::AgentCreated, "agent", &agent.id).after(&agent)?).await?;
    audit::record(&mut *tx, &Entry::new(&actor, Action::ApiKeyCreated, "api_key", &key_id).after(&created)?).await?;
    tx.commit().await?;
    tracing::info!(agent = %agent.id, "agent created");
    Ok((StatusCode::CREATED, Json(CreatedAgent { agent, api_key: key, api_key_id: key_id })))
}

/// `GET /v1/agents`: by name, each with its balance and commission earned.
pub async fn list(State(state): State<AppState>, Query(page): Query<PageQuery>) -> ApiResult<Json<Page<Agent>>> {
    let page = page.request("agents")?;
    Ok(Json(stored::list(&state.db.pool, &page).await?))
}

/// `GET /v1/agents/{id}`: with `balance` (cash held) and `commission_earned`.
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<Agent>> {
    Ok(Json(found(&state, &id).await?))
}

pub(crate) async fn found(state: &AppState, id: &str) -> ApiResult<Agent> {
    stored::get(&state.db.pool, id, "").await?.ok_or_else(|| ApiError::not_found("agent", id))
}

/// `PATCH /v1/agents/{id}`: the fields given replace the stored ones; the terms are checked again. The
/// currency of an agent with ledger lines cannot change (its sums are in it).
pub async fn patch(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(edit): Body<AgentEdit>,
) -> ApiResult<Json<Agent>> {
    let name = edit.name.as_deref().map(require_name).transpose()?;
    let phone = match &edit.phone {
        Some(raw) => Some(phone(&state, raw, edit.phone_region.as_deref()).await?),
        None => None,
    };
    if let Some(area) = &edit.area_id {
        require_area(&state, area).await?;
    }
    let _guard = state.db.write_guard().await;
    // The agent's row lock: a sale reads the terms under it, so it sees the terms before or after the edit.
    let mut tx = state.db.pool.begin().await?;
    let before =
        stored::get(&mut *tx, &id, state.db.for_update()).await?.ok_or_else(|| ApiError::not_found("agent", &id))?;
    let mut agent = before.clone();
    let mut terms = agent.terms();
    if let Some(currency) = edit.currency {
        if currency != agent.currency && stored::has_lines(&mut *tx, &id).await? {
            return Err(ApiError::conflict("the agent has ledger lines in its currency; its currency cannot change"));
        }
        terms.currency = currency;
    }
    if let Some(commission) = edit.commission {
        terms.commission = commission;
    }
    if let Some(ceiling) = edit.risk_ceiling {
        terms.risk_ceiling = ceiling;
    }
    set_terms(&mut agent, checked_terms(&state, terms).await?);
    if let Some(name) = name {
        agent.name = name;
    }
    if let Some(phone) = phone {
        agent.phone = phone;
    }
    if let Some(area) = edit.area_id {
        agent.area_id = area;
    }
    agent.updated_at = now_rfc3339();
    stored::update(&mut *tx, &agent).await?;
    let actor = Actor::ApiKey(caller.key_id);
    let entry = Entry::new(&actor, Action::AgentChanged, "agent", &id).before(&before)?.after(&agent)?;
    audit::record(&mut *tx, &entry).await?;
    tx.commit().await?;
    Ok(Json(agent))
}

/// `GET /v1/agents/{id}/ledger`: every line, newest first (paged).
pub async fn ledger(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<Page<LedgerLine>>> {
    let page = page.request("agent_ledger")?;
    found(&state, &id).await?;
    Ok(Json(stored::ledger(&state.db.pool, &id, &page).await?))
}

/// `POST /v1/agents/{id}/sales`: the sale as a payment of provider `agent:<id>` with the phone's
/// `client_tx_id`: 201 first, 200 with the identical body on a repeat (no new ledger line), 422
/// `risk_ceiling_exceeded` (kept in the refused log) when the agent's balance would pass its ceiling.
pub async fn sale(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(body): Body<SaleIn>,
) -> ApiResult<(StatusCode, Json<SaleAnswer>)> {
    let (status, answer) = sell(&state, &id, &caller.key_id, body).await?;
    Ok((status, Json(answer)))
}

/// An agent's sale recorded by `key_id`: the one path of `POST /v1/agents/{id}/sales` and of a sync's sale
/// item. 201 when applied now, 200 with the stored answer when its `client_tx_id` was applied before.
pub(crate) async fn sell(
    state: &AppState,
    id: &str,
    key_id: &str,
    body: SaleIn,
) -> ApiResult<(StatusCode, SaleAnswer)> {
    found(state, id).await?;
    // The payment path's own rule for its exactly-once key, under the name the sale's body gives it.
    check_text("client_tx_id", &body.client_tx_id, 128)?;
    let payment = PaymentIn {
        provider: crate::agents::provider_of(id),
        provider_tx_id: body.client_tx_id,
        serial: body.serial,
        plan_id: body.plan_id,
        amount: body.amount,
        currency: body.currency,
        received_at: body.taken_at,
        payer_phone: None,
        money_moved: false,
        recorded_by: Some(key_id.to_owned()),
        agent_id: Some(id.to_owned()),
    };
    let (status, payment) = match apply(state, &payment).await? {
        Outcome::Applied(answer) => (StatusCode::CREATED, answer),
        Outcome::Repeat(answer) => (StatusCode::OK, answer),
        Outcome::Unmatched(_) => return Err(ApiError::internal("an agent's sale cannot be unmatched")),
    };
    let ledger = stored::lines_of_payment(&state.db.pool, &payment.payment_id).await?;
    Ok((status, SaleAnswer { payment, ledger }))
}

/// The body of `POST /v1/agents/{id}/handovers`: cash handed over to the office.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoverIn {
    #[serde(with = "micropower_core::wire::dec")]
    amount: Decimal,
    /// Who at the office received the cash.
    received_by: String,
    /// The agent's currency when absent; another one is refused.
    #[serde(default)]
    currency: Option<Currency>,
}

/// The answer of a handover: its ledger line, the agent's sums after it and where its receipt prints.
#[derive(Serialize)]
pub struct HandoverAnswer {
    handover_id: String,
    agent_id: String,
    /// What was handed over (the line carries it negative).
    #[serde(with = "micropower_core::wire::dec")]
    amount: Decimal,
    currency: Currency,
    received_by: String,
    #[serde(with = "micropower_core::wire::dec")]
    balance: Decimal,
    #[serde(with = "micropower_core::wire::dec")]
    commission_earned: Decimal,
    line: LedgerLine,
    /// The printable receipt's path.
    receipt: String,
    created_at: String,
}

/// `POST /v1/agents/{id}/handovers` (an operator): a `handover` line of −amount, 201 with its receipt's path.
pub async fn handover(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    Body(body): Body<HandoverIn>,
) -> ApiResult<(StatusCode, Json<HandoverAnswer>)> {
    let received_by = body.received_by.trim();
    if received_by.is_empty() || received_by.chars().count() > 200 {
        return Err(ApiError::invalid("received_by", "the name of who received the cash, 1 to 200 characters"));
    }
    let done = crate::agents::handover(&state, &id, body.amount, body.currency, received_by, &caller.key_id).await?;
    let line = done.line;
    Ok((
        StatusCode::CREATED,
        Json(HandoverAnswer {
            handover_id: line.id.clone(),
            agent_id: id.clone(),
            amount: line.amount.abs(),
            currency: line.currency,
            received_by: received_by.to_owned(),
            balance: done.agent.balance,
            commission_earned: done.agent.commission_earned,
            receipt: format!("/v1/agents/{id}/handovers/{}/receipt", line.id),
            created_at: line.created_at.clone(),
            line,
        }),
    ))
}

/// A handover of agent `agent_id` by its line's id: 404 for any other line.
pub(crate) async fn handover_line(state: &AppState, agent_id: &str, id: &str) -> ApiResult<(Agent, LedgerLine)> {
    let agent = found(state, agent_id).await?;
    match stored::line(&state.db.pool, id).await? {
        Some(line) if line.agent_id == agent_id && line.kind == micropower_core::api::AgentLineKind::Handover => {
            Ok((agent, line))
        }
        _ => Err(ApiError::not_found("handover", id)),
    }
}
