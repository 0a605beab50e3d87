//! The agent phone's offline store (issue 18): what the last sync brought (the agent's terms and balance,
//! its customers, their devices with account snapshots, plans and tariffs) and the queue of sales and
//! registrations recorded offline, waiting for `POST /v1/agents/{id}/sync`.
//!
//! The store is one JSON file the binding owns, at a path the app gives. Every change writes the whole file
//! to a temporary file in the same folder, fsyncs it and renames it over the old one, so a phone killed in the
//! middle of a write keeps the previous file whole: a sale the app was told is queued is on disk. One
//! implementation for Android and iOS, no SQL or schema migration in the apps, and an agent's area (hundreds
//! to a few thousand customers) is small enough to rewrite at every change.
//!
//! The binding does file I/O but no network: the app sends what [`AgentStore::sync_body`] writes and hands the
//! server's answers to [`AgentStore::apply_sync`] and [`AgentStore::apply_sync_answer`].
//!
//! No business rule lives here. A preview is the core's `allocate_payment` (on the device's synced snapshot)
//! or `allocate_plan_payment` (a plan paid by id) and the core's `agent_sale` (commission, risk ceiling) on
//! the balance of the last sync plus the amounts of this phone's queued, not yet answered sales. A
//! registration is checked by the core's `registration_field_errors`. The server decides again at sync and
//! its answer is what the phone keeps and shows.
//!
//! No OpenPAYGO token is made on the phone (the device keys stay on the server): a preview says what the
//! token will carry and that it comes with the sync answer.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use chrono::{DateTime, NaiveDate, SecondsFormat};
use micropower_core::api;
use micropower_core::CoreError;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::error::invalid;
use crate::records::{from_core, AccountSnapshot, Allocation, DeviceKind, InstallmentPlan, Tariff};
use crate::registration::{self, RegistrationForm};
use crate::{decimal, decimal_text, MicropowerError};

type Result<T> = std::result::Result<T, MicropowerError>;

/// The file's format; a file of another format is refused rather than misread.
const FORMAT: u32 = 1;

/// What the preview and the receipt say about the token: the phone never mints one (see the module docs).
const TOKEN_NOTE: &str = "No token is made on this phone: the server makes it when this sale syncs, \
                          and the customer receives it then.";

// --- records the app sees -------------------------------------------------------------------------------

/// The agent as of the last sync, with what this phone has queued on top.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct AgentInfo {
    /// The agent's id.
    pub id: String,
    /// Name.
    pub name: String,
    /// E.164 phone.
    pub phone: String,
    /// The agent's area.
    pub area_id: String,
    /// The currency the agent sells and holds cash in.
    pub currency: String,
    /// Commission on energy, a fraction (`"0.05"`).
    pub energy_rate: String,
    /// Commission on appliance installments, a fraction.
    pub appliance_rate: String,
    /// The most cash the agent may hold.
    pub risk_ceiling: String,
    /// Cash held, as the server said at the last sync.
    pub balance: String,
    /// The amounts of this phone's sales not yet answered by the server.
    pub queued_sales: String,
    /// `balance + queued_sales`: what a new sale is checked against.
    pub balance_with_queue: String,
    /// Commission earned, as the server said at the last sync.
    pub commission_earned: String,
    /// The server's time of the agent's last sync.
    pub last_sync_at: Option<String>,
}

/// A customer of the agent, as the server sent it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct CustomerRecord {
    /// The customer's id.
    pub id: String,
    /// Given name.
    #[serde(default)]
    pub name: String,
    /// Surname.
    #[serde(default)]
    pub surname: String,
    /// E.164 phones, the main one first.
    #[serde(default)]
    pub phones: Vec<String>,
    /// The village.
    #[serde(default)]
    pub village_id: String,
    /// National id, if known.
    #[serde(default)]
    pub national_id: Option<String>,
}

/// A device of one of the agent's customers, with its account as of the sync's day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct DeviceRecord {
    /// Canonical serial.
    pub serial: String,
    /// Meter, SHS or e-bike (from the snapshot).
    pub kind: DeviceKind,
    /// The owner.
    pub customer_id: Option<String>,
    /// `openpaygo` or `external`.
    pub token_scheme: Option<String>,
    /// A meter's tariff.
    pub tariff_id: Option<String>,
    /// An SHS's or e-bike's plan.
    pub plan_id: Option<String>,
    /// Whether the phone may make tokens for it: always false (the server makes every token).
    pub offline_token: bool,
    /// The account as the core sees it, as of the sync's `as_of` day: what a preview allocates on.
    pub snapshot: AccountSnapshot,
}

/// A plan of one of the agent's customers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct PlanRecord {
    /// The plan's id.
    pub id: String,
    /// The customer.
    pub customer_id: Option<String>,
    /// The device it came with; `None` for an appliance sold without a device (paid by the plan's id).
    pub serial: Option<String>,
    /// `installments` or `eaas`.
    pub kind: String,
    /// What was sold.
    pub appliance: String,
    /// ISO 4217 currency.
    pub currency: String,
    /// The owner's credit balance in the plan's currency.
    pub credit_balance: String,
    /// The installments with what was paid, for an installment plan.
    pub plan: Option<InstallmentPlan>,
}

/// A meter tariff used by the agent's customers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct TariffRecord {
    /// The tariff's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// ISO 4217 currency.
    pub currency: String,
    /// The prices, as the core reads them.
    pub tariff: Tariff,
}

/// What one `GET /sync` answer brought.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncSummary {
    /// The cursor to pass as `since` next time.
    pub cursor: String,
    /// Whether the answer was everything (the store's rows were replaced) or changes (upserted).
    pub full: bool,
    /// The day the snapshots are as of.
    pub as_of: String,
    /// Rows in the answer, per kind.
    pub customers: u32,
    /// Devices in the answer.
    pub devices: u32,
    /// Plans in the answer.
    pub plans: u32,
    /// Tariffs in the answer.
    pub tariffs: u32,
}

/// A sale as the agent types it: a device's serial or a device-less plan's id, and the cash taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct SaleDraft {
    /// The device's serial, as typed (the core normalises it).
    #[uniffi(default = None)]
    pub serial: Option<String>,
    /// Or the id of a plan without a device.
    #[uniffi(default = None)]
    pub plan_id: Option<String>,
    /// The cash taken, a decimal string.
    pub amount: String,
    /// ISO 4217 currency.
    pub currency: String,
    /// When the cash was taken, RFC 3339 with the phone's offset (its date is the preview's business day);
    /// `None`: now, in UTC.
    #[uniffi(default = None)]
    pub taken_at: Option<String>,
}

/// What a sale would do, by the core, before the agent takes the cash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct SalePreview {
    /// The canonical serial, for a device sale.
    pub serial: Option<String>,
    /// The plan, for a plan paid by id.
    pub plan_id: Option<String>,
    /// The customer credited.
    pub customer_id: Option<String>,
    /// "Name Surname" of the customer, to confirm to the payer.
    pub customer_name: Option<String>,
    /// The cash.
    pub amount: String,
    /// ISO 4217 currency.
    pub currency: String,
    /// When the cash was taken (RFC 3339).
    pub taken_at: String,
    /// The business day the preview allocates on (the date of `taken_at`).
    pub received_on: String,
    /// The core's allocation: what the money pays, and the token it buys.
    pub allocation: Allocation,
    /// What the sale earns the agent (the core's `agent_sale`).
    pub commission: String,
    /// Cash held before the sale: the last sync's balance plus the queued sales.
    pub balance_before: String,
    /// Cash held after it.
    pub balance_after: String,
    /// The agent's ceiling.
    pub risk_ceiling: String,
    /// That the token comes from the server at sync (no offline token).
    pub token_note: String,
}

/// What a queued item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    /// A cash sale.
    Sale,
    /// A customer and device registration.
    Registration,
}

/// Where a queued item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum ItemStatus {
    /// Not yet answered by the server: sent again at the next sync.
    Pending,
    /// The server applied it.
    Applied,
    /// The server had it already (an earlier sync whose answer was lost): applied once, at that time.
    Duplicate,
    /// The server refused it (`code` says why).
    Refused,
}

/// The server's decision on one item of a sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum SyncStatus {
    /// Applied by this sync.
    Applied,
    /// Applied before; the original answer again.
    Duplicate,
    /// Refused.
    Refused,
}

/// An item of the queue with where it stands; once answered, with the server's answer (which wins).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct QueuedItem {
    /// The phone's id of the item: its exactly-once key on the server.
    pub client_tx_id: String,
    /// Sale or registration.
    pub kind: ItemKind,
    /// Where it stands.
    pub status: ItemStatus,
    /// When it was recorded on the phone (RFC 3339, UTC).
    pub recorded_at: String,
    /// The item as it goes in the body of `POST /sync`.
    pub body_json: String,
    /// A sale's preview at the time it was recorded.
    pub preview: Option<SalePreview>,
    /// The printable receipt given when it was recorded.
    pub receipt: String,
    /// The server's HTTP status for the item, once answered.
    pub http_status: Option<u16>,
    /// The server's error code, when refused.
    pub code: Option<String>,
    /// The server's answer (JSON), once applied.
    pub answer_json: Option<String>,
    /// The server's error body (JSON), when refused.
    pub error_json: Option<String>,
    /// The commission to show: the server's once applied, the preview's while pending; `None` for a
    /// registration or a refused sale.
    pub commission: Option<String>,
    /// Whether the server's decision differs from the phone's preview.
    pub differs_from_preview: bool,
    /// What differs, one line each (`commission: preview 250, server 200`).
    pub differences: Vec<String>,
}

/// One item of a sync answer, as the phone took it.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncOutcome {
    /// The item.
    pub client_tx_id: String,
    /// Sale or registration.
    pub kind: ItemKind,
    /// Applied, duplicate or refused.
    pub status: SyncStatus,
    /// The HTTP status the single endpoint would have answered.
    pub http_status: u16,
    /// The error code, when refused (`risk_ceiling_exceeded`).
    pub code: Option<String>,
    /// The server's answer (JSON), when applied or duplicate.
    pub answer_json: Option<String>,
    /// The server's error body (JSON), when refused.
    pub error_json: Option<String>,
    /// Whether the server's decision differs from the phone's preview.
    pub differs_from_preview: bool,
    /// What differs.
    pub differences: Vec<String>,
}

// --- the file -------------------------------------------------------------------------------------------

/// The store's file: the synced rows as the server sent them (unknown fields kept), and the queue.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct StoreFile {
    format: u32,
    #[serde(default)]
    cursor: Option<String>,
    #[serde(default)]
    as_of: Option<String>,
    #[serde(default)]
    agent: Option<Value>,
    #[serde(default)]
    customers: BTreeMap<String, Value>,
    #[serde(default)]
    devices: BTreeMap<String, Value>,
    #[serde(default)]
    plans: BTreeMap<String, Value>,
    #[serde(default)]
    tariffs: BTreeMap<String, Value>,
    #[serde(default)]
    queue: Vec<StoredItem>,
}

/// A queued item on disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredItem {
    client_tx_id: String,
    kind: ItemKind,
    status: ItemStatus,
    recorded_at: String,
    body: Value,
    #[serde(default)]
    preview: Option<SalePreview>,
    #[serde(default)]
    receipt: String,
    #[serde(default)]
    http_status: Option<u16>,
    #[serde(default)]
    answer: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
    #[serde(default)]
    differences: Vec<String>,
}

impl StoredItem {
    fn is_pending_sale(&self) -> bool {
        self.kind == ItemKind::Sale && self.status == ItemStatus::Pending
    }

    fn view(&self) -> QueuedItem {
        let code = self.error.as_ref().and_then(|e| e.get("code")).and_then(Value::as_str).map(str::to_owned);
        let commission = match (self.status, &self.answer, &self.preview) {
            (ItemStatus::Refused, _, _) => None,
            (_, Some(answer), _) => server_commission(answer),
            (_, None, Some(preview)) => Some(preview.commission.clone()),
            _ => None,
        };
        QueuedItem {
            client_tx_id: self.client_tx_id.clone(),
            kind: self.kind,
            status: self.status,
            recorded_at: self.recorded_at.clone(),
            body_json: self.body.to_string(),
            preview: self.preview.clone(),
            receipt: self.receipt.clone(),
            http_status: self.http_status,
            code,
            answer_json: self.answer.as_ref().map(Value::to_string),
            error_json: self.error.as_ref().map(Value::to_string),
            commission,
            differs_from_preview: !self.differences.is_empty(),
            differences: self.differences.clone(),
        }
    }
}

// --- the server's rows, as far as the phone reads them -----------------------------------------------------

/// The agent's body as `GET /v1/agents/{id}` answers it (the fields the phone uses).
#[derive(Debug, Clone, Deserialize)]
struct WireAgent {
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    area_id: String,
    currency: String,
    commission: WireCommission,
    risk_ceiling: String,
    balance: String,
    #[serde(default = "zero_text")]
    commission_earned: String,
    #[serde(default)]
    last_sync_at: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct WireCommission {
    energy_rate: String,
    appliance_rate: String,
}

impl WireAgent {
    /// The agent's terms as the core reads them.
    fn terms(&self) -> std::result::Result<api::AgentTerms, CoreError> {
        let terms = json!({
            "currency": self.currency,
            "commission": {"energy_rate": self.commission.energy_rate, "appliance_rate": self.commission.appliance_rate},
            "risk_ceiling": self.risk_ceiling,
        });
        typed("agent", terms)
    }

    fn balance(&self) -> std::result::Result<Decimal, CoreError> {
        decimal("agent.balance", &self.balance)
    }
}

fn zero_text() -> String {
    "0".to_owned()
}

#[derive(Debug, Clone, Deserialize)]
struct WireDevice {
    serial: String,
    #[serde(default)]
    customer_id: Option<String>,
    #[serde(default)]
    token_scheme: Option<String>,
    #[serde(default)]
    tariff_id: Option<String>,
    #[serde(default)]
    plan_id: Option<String>,
    #[serde(default)]
    offline_token: bool,
    snapshot: Value,
}

#[derive(Debug, Clone, Deserialize)]
struct WirePlan {
    id: String,
    #[serde(default)]
    customer_id: Option<String>,
    #[serde(default)]
    serial: Option<String>,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    appliance: String,
    currency: String,
    #[serde(default)]
    plan: Option<Value>,
    #[serde(default = "zero_text")]
    credit_balance: String,
}

#[derive(Debug, Clone, Deserialize)]
struct WireTariff {
    id: String,
    #[serde(default)]
    name: String,
    currency: String,
    tariff: Tariff,
}

/// The body of `GET /v1/agents/{id}/sync`.
#[derive(Debug, Deserialize)]
struct SyncAnswer {
    cursor: String,
    #[serde(default)]
    full: bool,
    as_of: NaiveDate,
    agent: Value,
    #[serde(default)]
    customers: Vec<Value>,
    #[serde(default)]
    devices: Vec<Value>,
    #[serde(default)]
    plans: Vec<Value>,
    #[serde(default)]
    tariffs: Vec<Value>,
}

/// The body of the answer of `POST /v1/agents/{id}/sync`.
#[derive(Debug, Deserialize)]
struct BatchAnswer {
    items: Vec<BatchItem>,
    #[serde(default)]
    agent: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct BatchItem {
    client_tx_id: String,
    status: SyncStatus,
    http_status: u16,
    #[serde(default)]
    answer: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
}

/// Reads a JSON value as `T`, naming the failing path under `what` as the core names a malformed field.
fn typed<T: DeserializeOwned>(what: &str, value: Value) -> std::result::Result<T, CoreError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path.is_empty() || path == "." { what.to_owned() } else { format!("{what}.{path}") };
        invalid(field, e.inner().to_string())
    })
}

/// `rows` keyed by the text at `key`; a row without it is refused, naming it.
fn keyed(what: &str, key: &str, rows: &[Value]) -> std::result::Result<Vec<(String, Value)>, CoreError> {
    rows.iter()
        .enumerate()
        .map(|(i, row)| match row.get(key).and_then(Value::as_str) {
            Some(id) if !id.is_empty() => Ok((id.to_owned(), row.clone())),
            _ => Err(invalid(format!("{what}[{i}].{key}"), "missing")),
        })
        .collect()
}

// --- the store ------------------------------------------------------------------------------------------

/// The agent phone's offline store: one JSON file at a path the app gives (see the module docs).
#[derive(uniffi::Object)]
pub struct AgentStore {
    path: PathBuf,
    state: Mutex<StoreFile>,
}

/// An I/O failure of the store, reported as the core reports a field it cannot use: `store`.
fn store_error(reason: impl Into<String>) -> MicropowerError {
    invalid("store", reason).into()
}

#[uniffi::export]
impl AgentStore {
    /// Opens the store at `path` (a file in the app's private folder), creating it empty when it does not
    /// exist. A file that is not a store of this format is refused and left alone.
    #[uniffi::constructor]
    pub fn open(path: String) -> Result<Arc<Self>> {
        let path = PathBuf::from(path);
        remove_stale_temporaries(&path);
        let state = match fs::read(&path) {
            Ok(bytes) => {
                let file: StoreFile = serde_json::from_slice(&bytes)
                    .map_err(|e| store_error(format!("{} is not a readable store: {e}", path.display())))?;
                if file.format != FORMAT {
                    return Err(store_error(format!("store format {} (this binding reads {FORMAT})", file.format)));
                }
                file
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let file = StoreFile { format: FORMAT, ..StoreFile::default() };
                // Written at once, so an app given a path it cannot write learns it before taking any cash.
                save(&path, &file)?;
                file
            }
            Err(e) => return Err(store_error(format!("cannot read {}: {e}", path.display()))),
        };
        Ok(Arc::new(AgentStore { path, state: Mutex::new(state) }))
    }

    /// Takes the body of `GET /v1/agents/{id}/sync`: the agent, and the rows upserted by key (customer id,
    /// serial, plan id, tariff id), or replacing every row when the answer is `full`. Applying the same
    /// answer twice leaves the same store. Every row is read before anything changes: a malformed answer is
    /// refused whole, naming its field (`sync.devices[0].snapshot.billing`).
    pub fn apply_sync(&self, answer_json: String) -> Result<SyncSummary> {
        let value: Value = serde_json::from_str(&answer_json).map_err(|e| invalid("sync", format!("not JSON: {e}")))?;
        let answer: SyncAnswer = typed("sync", value)?;
        let agent: WireAgent = typed("sync.agent", answer.agent.clone())?;
        agent.terms()?;
        agent.balance()?;
        let customers = keyed("sync.customers", "id", &answer.customers)?;
        for (i, (_, row)) in customers.iter().enumerate() {
            typed::<CustomerRecord>(&format!("sync.customers[{i}]"), row.clone())?;
        }
        let devices = keyed("sync.devices", "serial", &answer.devices)?;
        for (i, (_, row)) in devices.iter().enumerate() {
            let device: WireDevice = typed(&format!("sync.devices[{i}]"), row.clone())?;
            // The core's own reader: a snapshot that would not allocate is refused now, not at the sale.
            typed::<api::AccountSnapshot>(&format!("sync.devices[{i}].snapshot"), device.snapshot.clone())?;
            typed::<AccountSnapshot>(&format!("sync.devices[{i}].snapshot"), device.snapshot)?;
        }
        let plans = keyed("sync.plans", "id", &answer.plans)?;
        for (i, (_, row)) in plans.iter().enumerate() {
            typed::<WirePlan>(&format!("sync.plans[{i}]"), row.clone())?;
        }
        let tariffs = keyed("sync.tariffs", "id", &answer.tariffs)?;
        for (i, (_, row)) in tariffs.iter().enumerate() {
            typed::<WireTariff>(&format!("sync.tariffs[{i}]"), row.clone())?;
        }
        let summary = SyncSummary {
            cursor: answer.cursor.clone(),
            full: answer.full,
            as_of: answer.as_of.to_string(),
            customers: count(customers.len()),
            devices: count(devices.len()),
            plans: count(plans.len()),
            tariffs: count(tariffs.len()),
        };
        self.change(|file| {
            // A store is one agent's: another agent's answer would put this queue under the wrong agent.
            let current = file.agent.as_ref().and_then(|a| a.get("id")).and_then(Value::as_str);
            if let Some(current) = current.filter(|id| *id != agent.id) {
                return Err(invalid("sync.agent.id", format!("this store belongs to agent {current}")).into());
            }
            if answer.full {
                file.customers.clear();
                file.devices.clear();
                file.plans.clear();
                file.tariffs.clear();
            }
            file.customers.extend(customers);
            file.devices.extend(devices);
            file.plans.extend(plans);
            file.tariffs.extend(tariffs);
            file.agent = Some(answer.agent);
            file.cursor = Some(answer.cursor);
            file.as_of = Some(answer.as_of.to_string());
            Ok(())
        })?;
        Ok(summary)
    }

    /// The cursor of the last sync, to pass as `since`; `None` before the first (ask for everything).
    pub fn cursor(&self) -> Option<String> {
        self.lock().ok().and_then(|file| file.cursor.clone())
    }

    /// The day the synced snapshots are as of.
    pub fn as_of(&self) -> Option<String> {
        self.lock().ok().and_then(|file| file.as_of.clone())
    }

    /// The agent as of the last sync, with the queued sales on top; `None` before the first sync.
    pub fn agent(&self) -> Result<Option<AgentInfo>> {
        let file = self.lock()?;
        let Some(agent) = &file.agent else { return Ok(None) };
        let agent: WireAgent = typed("agent", agent.clone())?;
        let queued = queued_sales(&file)?;
        let with_queue = agent.balance()?.checked_add(queued).ok_or_else(|| invalid("balance", "out of range"))?;
        Ok(Some(AgentInfo {
            id: agent.id,
            name: agent.name,
            phone: agent.phone,
            area_id: agent.area_id,
            currency: agent.currency,
            energy_rate: agent.commission.energy_rate,
            appliance_rate: agent.commission.appliance_rate,
            risk_ceiling: agent.risk_ceiling,
            balance: agent.balance,
            queued_sales: decimal_text(queued),
            balance_with_queue: decimal_text(with_queue),
            commission_earned: agent.commission_earned,
            last_sync_at: agent.last_sync_at,
        }))
    }

    /// The agent's customers, by id.
    pub fn customers(&self) -> Result<Vec<CustomerRecord>> {
        let file = self.lock()?;
        file.customers.values().map(|row| Ok(typed("customer", row.clone())?)).collect()
    }

    /// Their devices, by serial, each with its snapshot.
    pub fn devices(&self) -> Result<Vec<DeviceRecord>> {
        let file = self.lock()?;
        file.devices.values().map(device_record).collect()
    }

    /// Their plans, by id.
    pub fn plans(&self) -> Result<Vec<PlanRecord>> {
        let file = self.lock()?;
        file.plans
            .values()
            .map(|row| {
                let plan: WirePlan = typed("plan", row.clone())?;
                // An installment plan reads as one; an EaaS plan's object is another shape, shown without it.
                let installments = plan.plan.and_then(|p| serde_json::from_value::<InstallmentPlan>(p).ok());
                Ok(PlanRecord {
                    id: plan.id,
                    customer_id: plan.customer_id,
                    serial: plan.serial,
                    kind: plan.kind,
                    appliance: plan.appliance,
                    currency: plan.currency,
                    credit_balance: plan.credit_balance,
                    plan: installments,
                })
            })
            .collect()
    }

    /// The tariffs, by id.
    pub fn tariffs(&self) -> Result<Vec<TariffRecord>> {
        let file = self.lock()?;
        file.tariffs
            .values()
            .map(|row| {
                let t: WireTariff = typed("tariff", row.clone())?;
                Ok(TariffRecord { id: t.id, name: t.name, currency: t.currency, tariff: t.tariff })
            })
            .collect()
    }

    /// What a sale would do, by the core: the allocation on the device's synced snapshot (or the plan's, for a
    /// plan paid by id), the commission, and the balance after it. Refused with the core's error:
    /// `RiskCeilingExceeded` when the balance of the last sync plus the queued sales plus this one would pass
    /// the agent's ceiling, `UnknownSerial`, `CurrencyMismatch`, `InvalidAmount`…
    pub fn preview_sale(&self, draft: SaleDraft) -> Result<SalePreview> {
        let file = self.lock()?;
        preview(&file, &draft, &now_rfc3339())
    }

    /// Records a sale in the queue (on disk before this returns) with a new `client_tx_id`, and answers it
    /// with its printable receipt. Refused like [`AgentStore::preview_sale`]: a sale past the ceiling is never
    /// queued, so the agent does not take the cash.
    pub fn record_sale(&self, draft: SaleDraft) -> Result<QueuedItem> {
        let now = now_rfc3339();
        let mut item = None;
        self.change(|file| {
            let preview = preview(file, &draft, &now)?;
            let client_tx_id = uuid::Uuid::now_v7().to_string();
            let mut body = Map::new();
            body.insert("type".into(), json!("sale"));
            body.insert("client_tx_id".into(), json!(client_tx_id));
            match (&preview.serial, &preview.plan_id) {
                (Some(serial), _) => body.insert("serial".into(), json!(serial)),
                (None, Some(plan_id)) => body.insert("plan_id".into(), json!(plan_id)),
                (None, None) => return Err(invalid("serial", "a serial or a plan_id").into()),
            };
            body.insert("amount".into(), json!(preview.amount));
            body.insert("currency".into(), json!(preview.currency));
            body.insert("taken_at".into(), json!(preview.taken_at));
            let agent = file.agent.as_ref().and_then(|a| serde_json::from_value::<WireAgent>(a.clone()).ok());
            let stored = StoredItem {
                receipt: sale_receipt(&client_tx_id, agent.as_ref(), &preview),
                client_tx_id,
                kind: ItemKind::Sale,
                status: ItemStatus::Pending,
                recorded_at: now.clone(),
                body: Value::Object(body),
                preview: Some(preview),
                http_status: None,
                answer: None,
                error: None,
                differences: Vec::new(),
            };
            item = Some(stored.view());
            file.queue.push(stored);
            Ok(())
        })?;
        item.ok_or_else(|| store_error("the sale was not queued"))
    }

    /// Records a registration in the queue (on disk before this returns). A form with any rule failure is
    /// refused with `InvalidInput` (field `form`) whose `details.errors` lists every field error of
    /// `validate_registration`; nothing is queued.
    pub fn record_registration(&self, form: RegistrationForm) -> Result<QueuedItem> {
        let errors = crate::validate_registration(form.clone());
        if !errors.is_empty() {
            return Err(form_refused(&errors));
        }
        let request = registration::read_form(&form).map_err(|unreadable| match unreadable.into_iter().next() {
            Some(first) => MicropowerError::from(first.into_error()),
            None => invalid("form", "cannot be read").into(),
        })?;
        let mut body = match serde_json::to_value(&request) {
            Ok(Value::Object(body)) => body,
            _ => return Err(invalid("form", "cannot be written").into()),
        };
        let now = now_rfc3339();
        let client_tx_id = uuid::Uuid::now_v7().to_string();
        body.insert("type".into(), json!("registration"));
        body.insert("client_tx_id".into(), json!(client_tx_id));
        let stored = StoredItem {
            receipt: registration_receipt(&client_tx_id, &form, &now),
            client_tx_id,
            kind: ItemKind::Registration,
            status: ItemStatus::Pending,
            recorded_at: now,
            body: Value::Object(body),
            preview: None,
            http_status: None,
            answer: None,
            error: None,
            differences: Vec::new(),
        };
        let item = stored.view();
        self.change(|file| {
            file.queue.push(stored);
            Ok(())
        })?;
        Ok(item)
    }

    /// The body of `POST /v1/agents/{id}/sync`: every pending item, in the order recorded (the server applies
    /// them in that order). Items already answered are not sent again.
    pub fn sync_body(&self) -> Result<String> {
        let file = self.lock()?;
        let items: Vec<&Value> =
            file.queue.iter().filter(|i| i.status == ItemStatus::Pending).map(|i| &i.body).collect();
        Ok(json!({ "items": items }).to_string())
    }

    /// Takes the answer of `POST /v1/agents/{id}/sync`: each item's outcome is kept on its queued item (the
    /// server's answer wins over the preview), and the agent becomes the answer's. An item answered before
    /// keeps its first answer (a re-sent batch answers `duplicate` with the same). An item refused with a 5xx,
    /// a 404 or a 422 `unknown_serial` / `device_unassigned` stays pending with that refusal shown, to be sent
    /// again (the server keeps no outcome for those). Items of the answer that are not in this queue are left
    /// out of the outcomes.
    pub fn apply_sync_answer(&self, answer_json: String) -> Result<Vec<SyncOutcome>> {
        let value: Value =
            serde_json::from_str(&answer_json).map_err(|e| invalid("sync_answer", format!("not JSON: {e}")))?;
        let answer: BatchAnswer = typed("sync_answer", value)?;
        if let Some(agent) = &answer.agent {
            let agent: WireAgent = typed("sync_answer.agent", agent.clone())?;
            agent.terms()?;
            agent.balance()?;
        }
        let mut outcomes = Vec::new();
        self.change(|file| {
            for got in &answer.items {
                let Some(item) = file.queue.iter_mut().find(|i| i.client_tx_id == got.client_tx_id) else {
                    continue;
                };
                let differences = differences(item, got);
                if item.status == ItemStatus::Pending {
                    item.status = match got.status {
                        SyncStatus::Applied => ItemStatus::Applied,
                        SyncStatus::Duplicate => ItemStatus::Duplicate,
                        SyncStatus::Refused if sent_again(got) => ItemStatus::Pending,
                        SyncStatus::Refused => ItemStatus::Refused,
                    };
                    item.http_status = Some(got.http_status);
                    item.answer = got.answer.clone();
                    item.error = got.error.clone();
                    item.differences = differences.clone();
                }
                outcomes.push(SyncOutcome {
                    client_tx_id: got.client_tx_id.clone(),
                    kind: item.kind,
                    status: got.status,
                    http_status: got.http_status,
                    code: got.error.as_ref().and_then(|e| e.get("code")).and_then(Value::as_str).map(str::to_owned),
                    answer_json: got.answer.as_ref().map(Value::to_string),
                    error_json: got.error.as_ref().map(Value::to_string),
                    differs_from_preview: !differences.is_empty(),
                    differences,
                });
            }
            if let Some(agent) = &answer.agent {
                file.agent = Some(agent.clone());
            }
            Ok(())
        })?;
        Ok(outcomes)
    }

    /// Every queued item, in the order recorded, with its status and, once answered, the server's answer.
    pub fn queue(&self) -> Result<Vec<QueuedItem>> {
        Ok(self.lock()?.queue.iter().map(StoredItem::view).collect())
    }
}

impl AgentStore {
    fn lock(&self) -> Result<MutexGuard<'_, StoreFile>> {
        self.state.lock().map_err(|_| store_error("a previous change panicked; open the store again"))
    }

    /// Applies `edit` to a copy of the store, writes the copy to disk, and only then makes it the store's: a
    /// change that fails (in `edit` or on disk) leaves both the memory and the file as they were.
    fn change(&self, edit: impl FnOnce(&mut StoreFile) -> Result<()>) -> Result<()> {
        let mut file = self.lock()?;
        let mut next = file.clone();
        edit(&mut next)?;
        save(&self.path, &next)?;
        *file = next;
        Ok(())
    }
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn device_record(row: &Value) -> Result<DeviceRecord> {
    let device: WireDevice = typed("device", row.clone())?;
    let snapshot: AccountSnapshot = typed("device.snapshot", device.snapshot)?;
    Ok(DeviceRecord {
        serial: device.serial,
        kind: snapshot.device.kind,
        customer_id: device.customer_id,
        token_scheme: device.token_scheme,
        tariff_id: device.tariff_id,
        plan_id: device.plan_id,
        offline_token: device.offline_token,
        snapshot,
    })
}

/// The amounts of the sales not yet answered by the server.
fn queued_sales(file: &StoreFile) -> std::result::Result<Decimal, CoreError> {
    let mut sum = Decimal::ZERO;
    for item in file.queue.iter().filter(|i| i.is_pending_sale()) {
        let amount = item.body.get("amount").and_then(Value::as_str).unwrap_or("0");
        sum = sum.checked_add(decimal("queue.amount", amount)?).ok_or_else(|| invalid("balance", "out of range"))?;
    }
    Ok(sum)
}

/// The preview of a sale (see [`AgentStore::preview_sale`]); every decision is a core call.
fn preview(file: &StoreFile, draft: &SaleDraft, now: &str) -> Result<SalePreview> {
    let agent_row = file
        .agent
        .as_ref()
        .ok_or_else(|| invalid("agent", "the store has not synced yet: apply a GET /sync answer first"))?;
    let agent: WireAgent = typed("agent", agent_row.clone())?;
    let terms = agent.terms()?;
    let amount = decimal("amount", &draft.amount)?;
    let currency = api::Currency::parse(&draft.currency)?;
    let taken_at = draft.taken_at.clone().unwrap_or_else(|| now.to_owned());
    let received_on = DateTime::parse_from_rfc3339(&taken_at)
        .map_err(|e| invalid("taken_at", format!("{taken_at:?} is not an RFC 3339 time: {e}")))?
        .date_naive();

    let (serial, plan_id, customer_id, customer_name, allocation) = match (&draft.serial, &draft.plan_id) {
        (Some(raw), None) => {
            let serial = api::normalize_serial(raw)?;
            let snapshot: Option<api::AccountSnapshot> = file
                .devices
                .get(&serial)
                .and_then(|row| row.get("snapshot"))
                .map(|s| typed("device.snapshot", s.clone()))
                .transpose()?;
            let payment = api::Payment { serial: serial.clone(), amount, currency, received_on };
            let allocation = api::allocate_payment(snapshot.as_ref(), &payment)?;
            let owner = snapshot.and_then(|s| s.device.owner);
            let name = owner.as_ref().map(|o| format!("{} {}", o.name, o.surname).trim().to_owned());
            (Some(serial), None, owner.map(|o| o.id), name, allocation)
        }
        (None, Some(plan_id)) => {
            let row = file
                .plans
                .get(plan_id)
                .ok_or_else(|| CoreError::NotFound { entity: "plan".to_owned(), id: plan_id.clone() })?;
            let plan: WirePlan = typed("plan", row.clone())?;
            // Only an installment plan is paid by its id (`allocate_plan_payment`); an EaaS plan is paid through
            // its device's serial.
            let core_plan: api::InstallmentPlan = match plan.plan {
                Some(p) if plan.kind == "installments" => typed("plan.plan", p)?,
                _ => return Err(invalid("plan_id", "only an installment plan is paid by its id").into()),
            };
            let credit = decimal("plan.credit_balance", &plan.credit_balance)?;
            let allocation = api::allocate_plan_payment(&core_plan, credit, amount, &currency)?;
            let name = plan.customer_id.as_ref().and_then(|id| file.customers.get(id)).and_then(|c| {
                let c: CustomerRecord = serde_json::from_value(c.clone()).ok()?;
                Some(format!("{} {}", c.name, c.surname).trim().to_owned())
            });
            (None, Some(plan_id.clone()), plan.customer_id, name, allocation)
        }
        _ => return Err(invalid("serial", "give a device's serial or a plan_id, not both").into()),
    };

    let before = agent.balance()?.checked_add(queued_sales(file)?).ok_or_else(|| invalid("balance", "out of range"))?;
    let entry = api::agent_sale(&terms, before, &allocation)?;
    let commission = entry
        .lines
        .iter()
        .find(|l| l.kind == api::AgentLineKind::Commission)
        .map(|l| l.amount)
        .unwrap_or(Decimal::ZERO);
    Ok(SalePreview {
        serial,
        plan_id,
        customer_id,
        customer_name,
        amount: decimal_text(amount),
        currency: currency.code().to_owned(),
        taken_at,
        received_on: received_on.to_string(),
        allocation: from_core(&allocation)?,
        commission: decimal_text(commission),
        balance_before: decimal_text(before),
        balance_after: decimal_text(entry.balance),
        risk_ceiling: decimal_text(terms.risk_ceiling),
        token_note: TOKEN_NOTE.to_owned(),
    })
}

/// Whether a refused item stays queued and goes again with the next sync, as the server keeps no outcome for
/// it (contract, Changes 4): a server failure (5xx), or an unknown device or plan (404, 422 `unknown_serial`
/// or `device_unassigned`), which another item's registration may bring by the next sync. Its last refusal
/// is kept on the item for the agent to see.
fn sent_again(got: &BatchItem) -> bool {
    let code = got.error.as_ref().and_then(|e| e.get("code")).and_then(Value::as_str);
    got.http_status >= 500
        || got.http_status == 404
        || (got.http_status == 422 && matches!(code, Some("unknown_serial" | "device_unassigned")))
}

/// The refusal of a registration form with field errors: every error in `details.errors`.
fn form_refused(errors: &[crate::FieldError]) -> MicropowerError {
    let listed: Vec<String> = errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect();
    let reason = format!("the form has {} field error(s): {}", errors.len(), listed.join("; "));
    let details = json!({
        "code": "invalid_input",
        "message": reason,
        "field": "form",
        "errors": errors.iter().map(|e| json!({"field": e.field, "code": e.code, "message": e.message})).collect::<Vec<_>>(),
    });
    MicropowerError::InvalidInput { code: "invalid_input".to_owned(), reason, details: details.to_string() }
}

/// The commission line of a sale's answer (`ledger` of the SaleAnswer).
fn server_commission(answer: &Value) -> Option<String> {
    answer
        .get("ledger")?
        .as_array()?
        .iter()
        .find(|l| l.get("kind").and_then(Value::as_str) == Some("commission"))?
        .get("amount")?
        .as_str()
        .map(str::to_owned)
}

/// Two decimal texts equal as numbers (`"700"` and `"700.00"`).
fn same_amount(a: &str, b: &str) -> bool {
    match (a.parse::<Decimal>(), b.parse::<Decimal>()) {
        (Ok(x), Ok(y)) => x == y,
        _ => a == b,
    }
}

/// Where the server's decision on an item differs from the phone's preview, one line each: a refusal, the
/// allocation lines, the commission, the credit balance, the token's quantity.
fn differences(item: &StoredItem, got: &BatchItem) -> Vec<String> {
    let mut out = Vec::new();
    if got.status == SyncStatus::Refused {
        let code = got.error.as_ref().and_then(|e| e.get("code")).and_then(Value::as_str).unwrap_or("refused");
        out.push(format!("refused by the server: {code}"));
        return out;
    }
    let (Some(preview), Some(answer)) = (&item.preview, &got.answer) else { return out };
    let a = &preview.allocation;
    // The server lists money added to the credit balance as a line of its own, kind `credit`.
    let mut mine: Vec<(String, String)> = a
        .lines
        .iter()
        .map(|l| {
            (
                serde_json::to_value(l.kind).ok().and_then(|k| k.as_str().map(str::to_owned)).unwrap_or_default(),
                l.amount.clone(),
            )
        })
        .collect();
    if !same_amount(&a.credit_added, "0") {
        mine.push(("credit".to_owned(), a.credit_added.clone()));
    }
    let theirs: Vec<(String, String)> = answer
        .get("allocations")
        .and_then(Value::as_array)
        .map(|lines| {
            lines
                .iter()
                .map(|l| {
                    let text = |k: &str| l.get(k).and_then(Value::as_str).unwrap_or_default().to_owned();
                    (text("kind"), text("amount"))
                })
                .collect()
        })
        .unwrap_or_default();
    let same_lines = mine.len() == theirs.len()
        && mine.iter().zip(&theirs).all(|((k1, a1), (k2, a2))| k1 == k2 && same_amount(a1, a2));
    if !same_lines {
        let show =
            |lines: &[(String, String)]| lines.iter().map(|(k, a)| format!("{k} {a}")).collect::<Vec<_>>().join(", ");
        out.push(format!("allocation: preview [{}], server [{}]", show(&mine), show(&theirs)));
    }
    if let Some(server) = server_commission(answer) {
        if !same_amount(&preview.commission, &server) {
            out.push(format!("commission: preview {}, server {server}", preview.commission));
        }
    }
    if let Some(server) = answer.get("credit_balance").and_then(Value::as_str) {
        if !same_amount(&a.credit_balance, server) {
            out.push(format!("credit balance: preview {}, server {server}", a.credit_balance));
        }
    }
    let server_token =
        answer.get("tokens").and_then(Value::as_array).and_then(|t| t.first()).and_then(|t| t.get("quantity"));
    if let (Some(token), Some(server)) = (&a.token, server_token.and_then(Value::as_str)) {
        if !same_amount(&token.quantity, server) {
            out.push(format!("token: preview {}, server {server}", token.quantity));
        }
    }
    out
}

fn sale_receipt(client_tx_id: &str, agent: Option<&WireAgent>, p: &SalePreview) -> String {
    let mut lines = vec!["CASH SALE - offline receipt".to_owned(), format!("Receipt no: {client_tx_id}")];
    if let Some(agent) = agent {
        lines.push(format!("Agent: {} {}", agent.name, agent.phone));
    }
    if let Some(name) = &p.customer_name {
        lines.push(format!("Customer: {name}"));
    }
    match (&p.serial, &p.plan_id) {
        (Some(serial), _) => lines.push(format!("Device: {serial}")),
        (None, Some(plan)) => lines.push(format!("Plan: {plan}")),
        _ => {}
    }
    lines.push(format!("Taken at: {}", p.taken_at));
    lines.push(format!("Amount: {} {}", p.amount, p.currency));
    for l in &p.allocation.lines {
        let kind = serde_json::to_value(l.kind).ok().and_then(|k| k.as_str().map(str::to_owned)).unwrap_or_default();
        let what = match (&l.installment, &l.quantity) {
            (Some(n), _) => format!("installment {n}"),
            (None, Some(q)) => format!("{kind} {q}"),
            (None, None) => kind,
        };
        lines.push(format!("  {what}: {} {}", l.amount, p.currency));
    }
    if !same_amount(&p.allocation.credit_added, "0") {
        lines.push(format!("  to credit: {} {}", p.allocation.credit_added, p.currency));
    }
    if let Some(token) = &p.allocation.token {
        let unit =
            serde_json::to_value(token.unit).ok().and_then(|u| u.as_str().map(str::to_owned)).unwrap_or_default();
        lines.push(format!("Token: {} {unit}, made by the server when this sale syncs", token.quantity));
    } else {
        lines.push("Token: none for this payment".to_owned());
    }
    lines.push("Not yet synced: the server's receipt is final.".to_owned());
    lines.join("\n")
}

fn registration_receipt(client_tx_id: &str, form: &RegistrationForm, now: &str) -> String {
    let customer = match &form.customer {
        registration::CustomerInput::New { name, surname, .. } => format!("{name} {surname}").trim().to_owned(),
        registration::CustomerInput::Existing { id } => format!("customer {id}"),
    };
    [
        "REGISTRATION - offline receipt".to_owned(),
        format!("Receipt no: {client_tx_id}"),
        format!("Customer: {customer}"),
        format!("Device: {}", form.device.serial),
        format!("Recorded at: {now}"),
        "Not yet synced: the registration is final when the server accepts it.".to_owned(),
    ]
    .join("\n")
}

/// Now, RFC 3339 in UTC to the second. chrono's clock is not compiled in (the core takes dates as input), so
/// the time comes from the standard library.
fn now_rfc3339() -> String {
    let since = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = i64::try_from(since.as_secs()).unwrap_or(i64::MAX);
    DateTime::from_timestamp(seconds, 0)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".to_owned())
}

// --- the file on disk ------------------------------------------------------------------------------------

/// The prefix of the temporary files next to the store (`.<name>.tmp-…`).
fn temporary_prefix(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "store".to_owned());
    format!(".{name}.tmp-")
}

fn folder(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Removes temporary files a killed write left behind; the store itself is whole (the rename never ran).
fn remove_stale_temporaries(path: &Path) {
    let prefix = temporary_prefix(path);
    if let Ok(entries) = fs::read_dir(folder(path)) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
}

/// Writes the store atomically: a temporary file in the same folder (a rename is atomic only within one
/// file system), fsynced, renamed over the store, and the folder fsynced so the rename itself is durable.
fn save(path: &Path, file: &StoreFile) -> Result<()> {
    let bytes = serde_json::to_vec(file).map_err(|e| store_error(format!("cannot write the store: {e}")))?;
    let tmp = folder(path).join(format!("{}{}", temporary_prefix(path), uuid::Uuid::now_v7().simple()));
    let written = write_synced(&tmp, &bytes).and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(store_error(format!("cannot write {}: {e}", path.display())));
    }
    // Not every platform can open a folder to fsync it; the file itself is already durable.
    if let Ok(dir) = File::open(folder(path)) {
        let _ = dir.sync_all();
    }
    Ok(())
}

fn write_synced(tmp: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = File::create(tmp)?;
    #[cfg(test)]
    if let Some(cut) = tests::crash_after() {
        // A simulated kill: part of the bytes reach the temporary file, then the process is gone.
        f.write_all(bytes.get(..cut.min(bytes.len())).unwrap_or_default())?;
        return Err(std::io::Error::other("simulated kill mid-write"));
    }
    f.write_all(bytes)?;
    f.sync_all()
}

#[cfg(test)]
mod tests;
