//! The audit log (issue 19): who moved money or changed a secret, when, and the entity before and after.
//!
//! A row is written by [`record`] on the transaction of the write it records, so both commit or neither does.
//! Payments are the exception: the payments table already is an immutable journal of who recorded what, and
//! the payment path is the one the benchmark measures, so [`entries`] reads each stored payment as a
//! `payment.recorded` entry beside the rows of `audit_log` instead of writing one more row per payment.

use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use sqlx::{Any, Executor};

use crate::error::{ApiError, ApiResult};
use crate::payments::{JournalLine, PaymentAnswer};
use crate::storage::column::Text;
use crate::storage::page::{Keyset, ListQuery, Order, Page, PageRequest};

/// What an entry records. The names are the API's (`?action=`) and what is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Action {
    /// A payment stored (read from the payment journal, never written here).
    #[serde(rename = "payment.recorded")]
    PaymentRecorded,
    #[serde(rename = "unmatched.assigned")]
    UnmatchedAssigned,
    #[serde(rename = "conflict.resolved")]
    ConflictResolved,
    #[serde(rename = "token.issued")]
    TokenIssued,
    #[serde(rename = "plan.edited")]
    PlanEdited,
    #[serde(rename = "sale.created")]
    SaleCreated,
    #[serde(rename = "registration.created")]
    RegistrationCreated,
    #[serde(rename = "device.reassigned")]
    DeviceReassigned,
    #[serde(rename = "provider.created")]
    ProviderCreated,
    #[serde(rename = "provider.rotated")]
    ProviderRotated,
    #[serde(rename = "provider.deleted")]
    ProviderDeleted,
    #[serde(rename = "api_key.created")]
    ApiKeyCreated,
    #[serde(rename = "api_key.revoked")]
    ApiKeyRevoked,
    #[serde(rename = "sms_template.changed")]
    SmsTemplateChanged,
    #[serde(rename = "secret_key.rotated")]
    SecretKeyRotated,
    #[serde(rename = "tariff.version_added")]
    TariffVersionAdded,
    #[serde(rename = "device.tariff_changed")]
    DeviceTariffChanged,
    #[serde(rename = "reconciliation.applied")]
    ReconciliationApplied,
    #[serde(rename = "opening_balance.recorded")]
    OpeningBalanceRecorded,
    #[serde(rename = "agent.created")]
    AgentCreated,
    #[serde(rename = "agent.changed")]
    AgentChanged,
    #[serde(rename = "agent.handover")]
    AgentHandover,
}

impl Action {
    pub const ALL: [Action; 22] = [
        Action::PaymentRecorded,
        Action::UnmatchedAssigned,
        Action::ConflictResolved,
        Action::TokenIssued,
        Action::PlanEdited,
        Action::SaleCreated,
        Action::RegistrationCreated,
        Action::DeviceReassigned,
        Action::ProviderCreated,
        Action::ProviderRotated,
        Action::ProviderDeleted,
        Action::ApiKeyCreated,
        Action::ApiKeyRevoked,
        Action::SmsTemplateChanged,
        Action::SecretKeyRotated,
        Action::TariffVersionAdded,
        Action::DeviceTariffChanged,
        Action::ReconciliationApplied,
        Action::OpeningBalanceRecorded,
        Action::AgentCreated,
        Action::AgentChanged,
        Action::AgentHandover,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::PaymentRecorded => "payment.recorded",
            Action::UnmatchedAssigned => "unmatched.assigned",
            Action::ConflictResolved => "conflict.resolved",
            Action::TokenIssued => "token.issued",
            Action::PlanEdited => "plan.edited",
            Action::SaleCreated => "sale.created",
            Action::RegistrationCreated => "registration.created",
            Action::DeviceReassigned => "device.reassigned",
            Action::ProviderCreated => "provider.created",
            Action::ProviderRotated => "provider.rotated",
            Action::ProviderDeleted => "provider.deleted",
            Action::ApiKeyCreated => "api_key.created",
            Action::ApiKeyRevoked => "api_key.revoked",
            Action::SmsTemplateChanged => "sms_template.changed",
            Action::SecretKeyRotated => "secret_key.rotated",
            Action::TariffVersionAdded => "tariff.version_added",
            Action::DeviceTariffChanged => "device.tariff_changed",
            Action::ReconciliationApplied => "reconciliation.applied",
            Action::OpeningBalanceRecorded => "opening_balance.recorded",
            Action::AgentCreated => "agent.created",
            Action::AgentChanged => "agent.changed",
            Action::AgentHandover => "agent.handover",
        }
    }

    pub fn parse(text: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == text)
    }
}

/// Who made a write.
#[derive(Debug, Clone)]
pub enum Actor {
    /// A request with this API key (its label is read at listing, from `api_keys`, which keeps revoked keys).
    ApiKey(String),
    /// The server itself or a command line tool, by name (`first start`, `rotate-secret-key`, `demo`).
    System(&'static str),
}

impl Actor {
    /// The key that made the write, which payments record as `recorded_by_key`.
    pub fn key_id(&self) -> Option<&str> {
        match self {
            Actor::ApiKey(id) => Some(id),
            Actor::System(_) => None,
        }
    }
}

/// One write to record: its actor, action and entity, and the entity before and after as JSON text.
#[derive(Debug)]
pub struct Entry {
    actor: Actor,
    action: Action,
    entity_kind: &'static str,
    entity_id: String,
    before: Option<String>,
    after: Option<String>,
}

impl Entry {
    pub fn new(actor: &Actor, action: Action, entity_kind: &'static str, entity_id: impl Into<String>) -> Self {
        Entry { actor: actor.clone(), action, entity_kind, entity_id: entity_id.into(), before: None, after: None }
    }

    /// The entity as it was; `state` is one of the audit's own structs, which hold no secret.
    pub fn before<T: Serialize>(mut self, state: &T) -> ApiResult<Self> {
        self.before = Some(serde_json::to_string(state).map_err(ApiError::internal)?);
        Ok(self)
    }

    /// The entity as the write left it.
    pub fn after<T: Serialize>(mut self, state: &T) -> ApiResult<Self> {
        self.after = Some(serde_json::to_string(state).map_err(ApiError::internal)?);
        Ok(self)
    }
}

/// Writes `entry` on `exec`, which is the transaction of the write it records.
pub async fn record<'e, E: Executor<'e, Database = Any>>(exec: E, entry: &Entry) -> Result<(), sqlx::Error> {
    let (kind, id, label) = match &entry.actor {
        Actor::ApiKey(id) => ("api_key", Some(id.as_str()), None),
        Actor::System(name) => ("system", None, Some(*name)),
    };
    sqlx::query(
        "INSERT INTO audit_log (id, at, actor_kind, actor_id, actor_label, action, entity_kind, entity_id, \
         before_json, after_json) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(crate::ids::new_id())
    .bind(crate::ids::now_rfc3339())
    .bind(kind)
    .bind(id)
    .bind(label)
    .bind(entry.action.as_str())
    .bind(entry.entity_kind)
    .bind(&entry.entity_id)
    .bind(&entry.before)
    .bind(&entry.after)
    .execute(exec)
    .await?;
    Ok(())
}

/// Who made an entry, as listed.
#[derive(Debug, Serialize)]
pub struct ListedActor {
    /// `api_key`, `provider` (a hook delivery), `system`, or `unknown` for a payment stored before keys were
    /// recorded.
    pub kind: String,
    /// The API key's or provider's id.
    pub id: Option<String>,
    /// The key's label, the provider's name, or the system's part.
    pub label: Option<String>,
}

/// The entity an entry is about.
#[derive(Debug, Serialize)]
pub struct Entity {
    pub kind: String,
    pub id: String,
}

/// One entry of `GET /v1/audit`.
#[derive(Debug, Serialize)]
pub struct AuditEntry {
    pub id: String,
    pub at: String,
    pub actor: ListedActor,
    pub action: String,
    pub entity: Entity,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

/// What a `payment.recorded` entry says the payment did: its money and where it went. Not its tokens: an
/// unlock code is as good as the device's key for whoever reads it, and the payment's own page shows them.
#[derive(Debug, Serialize)]
pub struct PaymentRecorded {
    pub payment_id: String,
    pub provider: String,
    pub provider_tx_id: String,
    pub serial: Option<String>,
    pub plan_id: Option<String>,
    #[serde(with = "micropower_core::wire::dec")]
    pub amount: Decimal,
    pub currency: String,
    pub allocations: Vec<JournalLine>,
    #[serde(with = "micropower_core::wire::dec")]
    pub credit_used: Decimal,
}

/// A row of the merged list: an `audit_log` row, or a payment (then `payment_*` and `response` are set).
#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    at: String,
    actor_kind: String,
    actor_id: Option<String>,
    actor_label: Option<String>,
    action: String,
    entity_kind: String,
    entity_id: String,
    before_json: Option<String>,
    after_json: Option<String>,
    payment_provider: Option<String>,
    payment_tx_id: Option<String>,
    #[sqlx(try_from = "Text<Option<PaymentAnswer>>")]
    response: Option<PaymentAnswer>,
}

impl Row {
    fn entry(self) -> ApiResult<AuditEntry> {
        let json = |text: Option<String>| {
            text.map(|t| serde_json::from_str::<Value>(&t)).transpose().map_err(ApiError::internal)
        };
        let after = match self.response {
            Some(answer) => Some(
                serde_json::to_value(PaymentRecorded {
                    payment_id: answer.payment_id,
                    provider: self.payment_provider.unwrap_or_default(),
                    provider_tx_id: self.payment_tx_id.unwrap_or_default(),
                    serial: answer.serial,
                    plan_id: answer.plan_id,
                    amount: answer.amount,
                    currency: answer.currency.code().to_owned(),
                    allocations: answer.allocations,
                    credit_used: answer.credit_used,
                })
                .map_err(ApiError::internal)?,
            ),
            None => json(self.after_json)?,
        };
        Ok(AuditEntry {
            id: self.id,
            at: self.at,
            actor: ListedActor { kind: self.actor_kind, id: self.actor_id, label: self.actor_label },
            action: self.action,
            entity: Entity { kind: self.entity_kind, id: self.entity_id },
            before: json(self.before_json)?,
            after,
        })
    }
}

/// What the audit list is narrowed to.
#[derive(Debug, Default)]
pub struct AuditFilter {
    pub entity_kind: Option<String>,
    pub entity_id: Option<String>,
    pub action: Option<Action>,
    /// At or after this instant (RFC 3339 UTC, as `at` is written).
    pub since: Option<String>,
    /// Before this instant.
    pub until: Option<String>,
}

const AUDIT: Keyset = Keyset { list: "audit", key: "at", id: "id", order: Order::NewestFirst };

/// The audit log and the payment journal as one list, newest first. The filters apply to the merged rows;
/// both databases push them into each side of the `UNION ALL`.
const MERGED: &str = "SELECT * FROM (\
    SELECT a.id AS id, a.at AS at, a.actor_kind AS actor_kind, a.actor_id AS actor_id, \
           COALESCE(a.actor_label, k.label) AS actor_label, a.action AS action, a.entity_kind AS entity_kind, \
           a.entity_id AS entity_id, a.before_json AS before_json, a.after_json AS after_json, \
           CAST(NULL AS TEXT) AS payment_provider, CAST(NULL AS TEXT) AS payment_tx_id, CAST(NULL AS TEXT) AS response \
    FROM audit_log a LEFT JOIN api_keys k ON a.actor_kind = 'api_key' AND k.id = a.actor_id \
    UNION ALL \
    SELECT p.id, p.created_at, \
           CASE WHEN p.recorded_by_key IS NOT NULL THEN 'api_key' WHEN pr.id IS NOT NULL THEN 'provider' ELSE 'unknown' END, \
           COALESCE(p.recorded_by_key, pr.id), \
           CASE WHEN p.recorded_by_key IS NOT NULL THEN k.label ELSE pr.name END, \
           'payment.recorded', 'payment', p.id, CAST(NULL AS TEXT), CAST(NULL AS TEXT), \
           p.provider, p.provider_tx_id, p.response \
    FROM payments p \
    LEFT JOIN api_keys k ON k.id = p.recorded_by_key \
    LEFT JOIN providers pr ON pr.name = p.provider\
    ) merged";

/// One page of the audit list.
pub async fn entries<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    filter: &AuditFilter,
    page: &PageRequest,
) -> ApiResult<Page<AuditEntry>> {
    let mut q = ListQuery::new(MERGED);
    if let Some(kind) = &filter.entity_kind {
        q.filter("entity_kind = {}", kind.clone());
    }
    if let Some(id) = &filter.entity_id {
        q.filter("entity_id = {}", id.clone());
    }
    if let Some(action) = filter.action {
        q.filter("action = {}", action.as_str());
    }
    if let Some(since) = &filter.since {
        q.filter("at >= {}", since.clone());
    }
    if let Some(until) = &filter.until {
        q.filter("at < {}", until.clone());
    }
    let found = q.page(exec, AUDIT, page, |r: &Row| (r.at.clone(), r.id.clone())).await?;
    found.try_map(Row::entry)
}
