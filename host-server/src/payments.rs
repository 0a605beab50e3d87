//! Applying a payment: one database transaction that records the payment, locks the account, loads the
//! snapshot, asks the core, writes the journal, balances, plans, tokens and the new token count, commits, and
//! only then answers. The same `(provider, provider_tx_id)` twice returns the stored answer.

use axum::http::StatusCode;
use micropower_core::api::{
    Allocation, AllocationKind, AllocationLine, Channel, Currency, NoTokenReason, Payment, TokenRequest, TokenScheme,
    TokenUnit, Validation, ValidationRequest,
};
use micropower_core::calls;
use micropower_core::CoreError;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sqlx::{Any, Transaction};

use crate::db::Backend;
use crate::error::{ApiError, ApiResult};
use crate::group_commit::{GroupCommit, Step, StepFuture};
use crate::ids::{new_id, now_rfc3339};
use crate::repo::{self, DeviceRow, PlanRow};
use crate::state::{AppState, Metrics};
use crate::storage::batched::Batched;
use crate::storage::store::{self as sql, LockedDevice, PaymentStore};

/// A payment as providers and operators post it (`POST /v1/payments`): for a device by its `serial`, or
/// for a plan by its `plan_id` (domain.md §5: a TV sold without a device is paid by its plan's id).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentIn {
    pub provider: String,
    pub provider_tx_id: String,
    /// The device's serial as typed; exactly one of `serial` and `plan_id`.
    #[serde(default)]
    pub serial: Option<String>,
    /// The plan paid, instead of a serial.
    #[serde(default)]
    pub plan_id: Option<String>,
    pub amount: String,
    pub currency: String,
    /// RFC 3339; default now.
    #[serde(default)]
    pub received_at: Option<String>,
    #[serde(default)]
    pub payer_phone: Option<String>,
    /// True when the provider only notifies after the money moved: an unknown serial then goes to the
    /// unmatched queue instead of being refused.
    #[serde(default)]
    pub money_moved: bool,
    /// The API key that posted the payment (its id): the server's, never read from the body; None for a
    /// provider's hook delivery.
    #[serde(skip)]
    pub recorded_by: Option<String>,
    /// The field agent whose cash sale this is (`POST /v1/agents/{id}/sales`): the server's, never read from
    /// the body. The decision then also writes the agent's ledger lines, or refuses a sale past the agent's
    /// risk ceiling ([`crate::agents`]).
    #[serde(skip)]
    pub agent_id: Option<String>,
}

/// What a payment (or a validation) names: a device, or a plan.
#[derive(Debug, Clone, Copy)]
pub enum Named<'a> {
    Serial(&'a str),
    Plan(&'a str),
}

impl<'a> Named<'a> {
    /// Exactly one of `serial` and `plan_id`, each 1 to 128 characters. Both or neither is a 422 naming the
    /// field: the body is well-formed JSON, but it does not say what to pay.
    pub fn of(serial: Option<&'a str>, plan_id: Option<&'a str>) -> ApiResult<Self> {
        let named = match (serial, plan_id) {
            (Some(serial), None) => Named::Serial(serial),
            (None, Some(plan)) => Named::Plan(plan),
            (Some(_), Some(_)) => {
                return Err(unprocessable("plan_id", "give either serial or plan_id, not both"));
            }
            (None, None) => {
                return Err(unprocessable("serial", "a payment names its device (serial) or its plan (plan_id)"));
            }
        };
        match named {
            Named::Serial(serial) => check_text("serial", serial, 128)?,
            Named::Plan(plan) => check_text("plan_id", plan, 128)?,
        }
        Ok(named)
    }
}

impl PaymentIn {
    /// What the payment names ([`Named::of`]).
    pub fn named(&self) -> ApiResult<Named<'_>> {
        Named::of(self.serial.as_deref(), self.plan_id.as_deref())
    }
}

/// 422 `invalid_input` for one field.
fn unprocessable(field: &str, message: &str) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", message).with("field", field)
}

/// 422 `not_found` for a plan a payment names: like an unknown serial, a refusal of the payment (kept in
/// the refused log), not a missing resource of the request's path.
fn unknown_plan(id: &str) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "not_found", format!("plan {id:?} not found"))
        .with("field", "plan_id")
}

/// What happened to a posted payment.
pub enum Outcome {
    /// Applied now (201).
    Applied(PaymentAnswer),
    /// Applied before: the stored answer (200).
    Repeat(PaymentAnswer),
    /// Money that moved for an unknown serial, queued for an operator (202).
    Unmatched(Queued),
}

/// The answer to money that moved for an unknown serial (202): where it waits for an operator.
#[derive(Debug, Clone, Serialize)]
pub struct Queued {
    /// Always `unmatched`.
    pub status: &'static str,
    pub unmatched_id: String,
    pub serial: Option<String>,
    /// As queued (the decimal as sent, scale kept).
    pub amount: Decimal,
    /// As sent: nothing was decided in it yet.
    pub currency: String,
}

/// The accepted answer of a validation (`POST /v1/payments/validate`): who is paid, the least amount
/// accepted (null for a device-less plan, which has no minimum) and what the payment would do now.
#[derive(Debug, Clone, Serialize)]
pub struct Accepted {
    /// Always true: a refusal is an error answer.
    pub accepted: bool,
    pub customer_name: String,
    #[serde(with = "micropower_core::wire::dec_opt")]
    pub minimum_amount: Option<Decimal>,
    pub preview: Preview,
}

/// What a validated payment would do: the core's allocation, its token as a list (none or one).
#[derive(Debug, Clone, Serialize)]
pub struct Preview {
    pub allocations: Vec<AllocationLine>,
    #[serde(with = "micropower_core::wire::dec")]
    pub credit_used: Decimal,
    #[serde(with = "micropower_core::wire::dec")]
    pub credit_added: Decimal,
    #[serde(with = "micropower_core::wire::dec")]
    pub credit_balance: Decimal,
    pub tokens: Vec<TokenRequest>,
    pub no_token_reason: Option<NoTokenReason>,
}

impl Accepted {
    fn new(customer_name: String, minimum_amount: Option<Decimal>, preview: Allocation) -> Self {
        Accepted {
            accepted: true,
            customer_name,
            minimum_amount,
            preview: Preview {
                allocations: preview.lines,
                credit_used: preview.credit_used,
                credit_added: preview.credit_added,
                credit_balance: preview.credit_balance,
                tokens: preview.token.into_iter().collect(),
                no_token_reason: preview.no_token_reason,
            },
        }
    }
}

impl From<Validation> for Accepted {
    fn from(v: Validation) -> Self {
        Accepted::new(v.customer_name, Some(v.minimum_amount), v.preview)
    }
}

/// 400 `invalid_input` for `field` unless `value` has 1 to `max` bytes and is not blank.
pub(crate) fn check_text(field: &str, value: &str, max: usize) -> ApiResult<()> {
    if value.trim().is_empty() || value.len() > max {
        return Err(ApiError::invalid(field, format!("1 to {max} characters are required")));
    }
    Ok(())
}

/// The instant of a payment (kept as sent; now when absent) and its business day: the date of that instant
/// in the operator's time zone, whatever offset it was sent with.
fn received(state: &AppState, payment: &PaymentIn) -> ApiResult<(String, chrono::NaiveDate)> {
    match &payment.received_at {
        None => Ok((now_rfc3339(), state.today())),
        Some(text) => {
            let at = chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|_| ApiError::invalid("received_at", "an RFC 3339 instant is required"))?;
            Ok((text.clone(), crate::ids::business_day(&at, state.timezone)))
        }
    }
}

/// Asks the core whether a payment would be accepted now (domain.md §5.5), without side effects: the
/// core's `Validation` as the accepted answer, or its refusal. A plan sold with a device is validated as its device; a
/// device-less plan gets the core's allocation of a plan payment as its preview.
pub async fn validate(
    state: &AppState,
    named: Named<'_>,
    amount: &str,
    currency: &str,
    channel: Channel,
) -> ApiResult<Accepted> {
    let (amount, currency) = money(amount, currency)?;
    let serial = match named {
        Named::Serial(serial) => serial.to_owned(),
        Named::Plan(id) => {
            let mut tx = state.db.pool.begin().await?;
            let plan = repo::plan(&mut *tx, id).await?.ok_or_else(|| unknown_plan(id))?;
            match &plan.serial {
                Some(serial) => serial.clone(),
                None => return validate_plan(state, &mut tx, &plan, amount, currency).await,
            }
        }
    };
    let canonical = state.normalize_serial(&serial).await.ok();
    let mut tx = state.db.pool.begin().await?;
    let device = match &canonical {
        Some(s) => repo::device(&mut *tx, s, "").await?,
        None => None,
    };
    let today = state.today();
    let snapshot = match &device {
        Some(d) => Some(crate::snapshot::load(&mut tx, d, today).await?),
        None => None,
    };
    drop(tx);
    let request = ValidationRequest { serial, amount, currency, received_on: today, channel };
    Ok(state.core(calls::ValidatePayment { snapshot, request }).await?.into())
}

/// A payment's amount and currency as the core takes them; a refusal names the field, like the core's own.
fn money(amount: &str, currency: &str) -> Result<(Decimal, Currency), CoreError> {
    let amount = micropower_core::wire::dec::parse(amount)
        .map_err(|reason| CoreError::InvalidInput { field: "amount".into(), reason })?;
    Ok((amount, Currency::parse(currency)?))
}

/// The validation of a payment to a device-less plan, in the answer's shape of the core's `Validation`: the core's
/// allocation of a plan payment is the preview (its refusals, such as another currency, are the answer).
/// The core has no minimum for a plan paid by id, so `minimum_amount` is null.
async fn validate_plan(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    plan: &PlanRow,
    amount: Decimal,
    currency: Currency,
) -> ApiResult<Accepted> {
    let owner = repo::customer(&mut **tx, &plan.customer_id).await?;
    let preview = plan_allocation(state, tx, plan, amount, currency).await?;
    let customer_name = owner.map(|c| format!("{} {}", c.name, c.surname).trim().to_owned()).unwrap_or_default();
    Ok(Accepted::new(customer_name, None, preview))
}

/// The core's allocation of `amount` paid to a device-less plan, with its owner's credit balance. Only
/// installment plans can be paid by id: an energy-as-a-service plan sells days of its device.
pub async fn plan_allocation<S: PaymentStore>(
    state: &AppState,
    tx: &mut S,
    plan: &PlanRow,
    amount: Decimal,
    currency: Currency,
) -> ApiResult<Allocation> {
    let Some(installments) = plan.installments() else {
        return Err(unprocessable("plan_id", "only an installment plan can be paid by its id"));
    };
    let credit_balance = tx.credit(&plan.customer_id, plan.currency.code()).await?;
    state.core(calls::AllocatePlanPayment { plan: installments.clone(), credit_balance, amount, currency }).await
}

/// What a checked payment pays.
enum Target {
    /// A device: the serial in canonical form, or None when it cannot be one (then no device has it).
    Device(Option<String>),
    /// A plan, by id.
    Plan(String),
}

/// A payment checked and ready to apply.
pub struct Checked {
    payment: PaymentIn,
    /// Worked out before the payment waits for the writer, so the one-at-a-time part does no more than it
    /// must.
    target: Target,
    received_at: String,
    received_on: chrono::NaiveDate,
    /// The amount and currency read, or why they cannot be: a refusal kept in the refused log like the
    /// core's own, once the payment is known to name something.
    money: Result<(Decimal, Currency), CoreError>,
}

impl Checked {
    /// True when a stored answer is one to this payment: the same device (or plan) and the same money.
    fn repeats(&self, stored: &PaymentAnswer) -> bool {
        let same_target = match &self.target {
            Target::Device(serial) => serial.is_some() && stored.serial == *serial,
            Target::Plan(id) => stored.plan_id.as_deref() == Some(id.as_str()),
        };
        let same_money =
            matches!(&self.money, Ok((amount, currency)) if *amount == stored.amount && *currency == stored.currency);
        same_target && same_money
    }

    async fn new(state: &AppState, payment: &PaymentIn) -> ApiResult<Self> {
        check_text("provider", &payment.provider, 64)?;
        check_text("provider_tx_id", &payment.provider_tx_id, 128)?;
        let target = match payment.named()? {
            Named::Serial(raw) => Target::Device(state.normalize_serial(raw).await.ok()),
            Named::Plan(id) => Target::Plan(id.to_owned()),
        };
        let (received_at, received_on) = received(state, payment)?;
        let money = money(&payment.amount, &payment.currency);
        Ok(Checked { payment: payment.clone(), target, received_at, received_on, money })
    }
}

/// Why a payment's transaction stopped without a decision: the server's own reasons are told apart by type,
/// never by reading an answer's body.
#[derive(Debug)]
pub enum Stop {
    /// A concurrent copy of the same `(provider, provider_tx_id)` committed first (the unique key refused
    /// this one): its stored answer is the answer.
    Duplicate,
    /// Anything else, answered as it is.
    Api(ApiError),
}

impl From<ApiError> for Stop {
    fn from(e: ApiError) -> Self {
        Stop::Api(e)
    }
}

impl From<sqlx::Error> for Stop {
    fn from(e: sqlx::Error) -> Self {
        Stop::Api(e.into())
    }
}

impl From<Stop> for ApiError {
    /// Where no stored answer can be looked up in its place, a duplicate is a conflict.
    fn from(stop: Stop) -> Self {
        match stop {
            Stop::Duplicate => ApiError::conflict("this payment was applied by a concurrent delivery"),
            Stop::Api(e) => e,
        }
    }
}

/// What one payment's transaction decided, before it commits.
pub enum Decision {
    Done(Outcome),
    /// Refused: the refusal is logged in the same transaction and answered after the commit.
    Refused(ApiError),
}

/// Applies a payment exactly once. On SQLite, payments waiting at the same moment share one commit (and so
/// one fsync) through the group-commit writer; each still answers only after that commit.
pub async fn apply(state: &AppState, payment: &PaymentIn) -> ApiResult<Outcome> {
    let checked = Checked::new(state, payment).await?;
    // No look for a stored answer out here: the decision looks under the account's lock (it must, for a copy
    // that commits meanwhile), and one more read before it was one more round trip for every new payment.
    if let Some(writer) = state.writer.get() {
        let decision = writer.submit(checked).await?;
        return finish(state, decision);
    }
    let mut tx = state.db.pool.begin().await?;
    let decided = match state.db.backend {
        // PostgreSQL: the decision's writes go in one statement (`storage::batched`).
        Backend::Postgres => {
            let mut batched = Batched::new(&mut tx);
            let decided = match decide(state, &mut batched, &checked).await {
                Ok(decision) => batched.flush().await.map(|()| decision).map_err(Stop::Api),
                Err(stop) => Err(stop),
            };
            match decided {
                Err(Stop::Api(_)) if batched.duplicate() => Err(Stop::Duplicate),
                other => other,
            }
        }
        Backend::Sqlite => decide(state, &mut tx, &checked).await,
    };
    match decided {
        Ok(decision) => {
            tx.commit().await?;
            finish(state, decision)
        }
        // A concurrent copy of this payment won the race to the unique key: answer what it stored.
        Err(Stop::Duplicate) => {
            drop(tx);
            let answer =
                crate::storage::payments::answer_of(&state.db.pool, &payment.provider, &payment.provider_tx_id)
                    .await?
                    .ok_or_else(|| ApiError::internal("a duplicate payment vanished"))?;
            if !checked.repeats(&answer) {
                return Err(changed_repeat());
            }
            Metrics::bump(&state.metrics.payments_duplicate);
            Ok(Outcome::Repeat(answer))
        }
        Err(Stop::Api(e)) => Err(e),
    }
}

/// Decides a payment inside the caller's transaction, for a write that must commit with it (a conflict's
/// resolution); the caller commits, then answers through [`finish`]. On SQLite the caller holds the write
/// guard.
pub(crate) async fn decide_payment(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    payment: &PaymentIn,
) -> ApiResult<Decision> {
    let checked = Checked::new(state, payment).await?;
    Ok(decide(state, tx, &checked).await?)
}

/// Counts and logs a committed decision and turns it into the answer.
pub(crate) fn finish(state: &AppState, decision: Decision) -> ApiResult<Outcome> {
    match decision {
        Decision::Done(outcome) => {
            let counter = match &outcome {
                Outcome::Applied(v) => {
                    tracing::info!(
                        payment = v.payment_id,
                        serial = v.serial.as_deref().unwrap_or_default(),
                        plan = v.plan_id.as_deref().unwrap_or_default(),
                        "payment applied"
                    );
                    &state.metrics.payments_applied
                }
                Outcome::Repeat(_) => &state.metrics.payments_duplicate,
                Outcome::Unmatched(v) => {
                    tracing::warn!(
                        serial = v.serial.as_deref().unwrap_or_default(),
                        "payment for an unknown serial queued as unmatched"
                    );
                    &state.metrics.payments_unmatched
                }
            };
            Metrics::bump(counter);
            Ok(outcome)
        }
        Decision::Refused(refusal) => {
            Metrics::bump(&state.metrics.payments_refused);
            Err(refusal)
        }
    }
}

/// Everything one payment writes, inside the caller's transaction.
pub(crate) async fn decide<S: PaymentStore>(state: &AppState, tx: &mut S, c: &Checked) -> Result<Decision, Stop> {
    match &c.target {
        Target::Device(serial) => decide_device(state, tx, c, serial.as_deref(), None).await,
        Target::Plan(id) => decide_plan(state, tx, c, id).await,
    }
}

/// Takes the row lock of a customer on PostgreSQL: every write of a customer's plans, credit balance or
/// payments holds it, so they apply one after the other. SQLite's single writer does that already.
pub async fn lock_customer<S: PaymentStore>(state: &AppState, tx: &mut S, id: &str) -> ApiResult<()> {
    if state.db.backend == Backend::Postgres {
        tx.locked_customer(id).await?;
    }
    Ok(())
}

/// A device payment: lock the device (and its owner), check for a copy applied meanwhile, load the
/// snapshot, ask the core, write the decision. `plan_id` is the plan the payment named, when it named the
/// device's plan instead of the device.
async fn decide_device<S: PaymentStore>(
    state: &AppState,
    tx: &mut S,
    c: &Checked,
    serial: Option<&str>,
    plan_id: Option<&str>,
) -> Result<Decision, Stop> {
    let payment = &c.payment;
    // The stored answer is read under the device's lock: a concurrent copy of this payment may have committed
    // meanwhile. The owner's row lock serialises payments on the owner's other devices (shared credit and
    // device-less plans) and edits of the owner's plans.
    let (account, stored) = tx
        .device_account(serial, state.db.for_update(), c.received_on, &payment.provider, &payment.provider_tx_id)
        .await?;
    if let Some(answer) = stored {
        return repeat(tx, c, answer).await;
    }
    let Some(LockedDevice { device, owner, tariff }) = account else {
        if payment.money_moved {
            let queued = queue_unmatched(tx, payment, &c.received_at).await?;
            return Ok(Decision::Done(Outcome::Unmatched(queued)));
        }
        let unknown = micropower_core::CoreError::UnknownSerial { serial: payment.serial.clone().unwrap_or_default() };
        let refusal = ApiError::from(unknown);
        return refuse(tx, payment, refusal).await;
    };
    let (amount, currency) = match &c.money {
        Ok(money) => *money,
        Err(refusal) => return refuse(tx, payment, refusal.clone().into()).await,
    };
    let snapshot = crate::snapshot::load_for_owner(tx, &device, owner.as_ref(), tariff, c.received_on).await?;
    let paid = Payment { serial: device.serial.clone(), amount, currency, received_on: c.received_on };
    let allocation = match state.core(calls::AllocatePayment { snapshot: Some(snapshot), payment: paid }).await {
        Ok(a) => a,
        Err(refusal) => return refuse(tx, payment, refusal).await,
    };
    let agent_sale = match crate::agents::sale_entry(state, tx, payment, &allocation).await? {
        Ok(sale) => sale,
        Err(refusal) => return refuse(tx, payment, refusal).await,
    };
    let payment_id = new_id();
    let tokens = make_tokens(state, tx, &device, allocation.token.as_ref()).await?;
    let response = answer(&payment_id, Some(&device.serial), plan_id, &allocation, &tokens);
    let row = NewPayment {
        id: &payment_id,
        provider: &payment.provider,
        provider_tx_id: &payment.provider_tx_id,
        serial: &device.serial,
        plan_id,
        customer_id: device.owner_id.as_deref(),
        received_at: &c.received_at,
        payer_phone: payment.payer_phone.as_deref(),
        recorded_by_key: payment.recorded_by.as_deref(),
    };
    record(tx, &row, &allocation, &response).await?;
    if let Some(sale) = &agent_sale {
        crate::agents::record_sale(tx, sale, payment, &payment_id).await?;
    }
    if let Some(access) = &allocation.access_rate {
        let args = sql::args![i64::from(access.accrued_periods), access.debt.normalize().to_string(), &device.serial];
        tx.execute(sql::UPDATE_ACCESS, &args).await?;
    }
    record_tokens(tx, &device.serial, Some(&payment_id), None, &tokens).await?;
    // The customer's SMS is queued in the payment's own transaction: both happen, or neither.
    if let Some(owner) = &owner {
        crate::notify::enqueue_payment(tx, &payment_id, owner).await?;
    }
    Ok(Decision::Done(Outcome::Applied(response)))
}

/// A payment that names a plan. A plan sold with a device is paid as its device (the token goes to the
/// device it was sold with); a device-less plan through the core's allocation of a plan payment, under its
/// owner's lock like any payment of that customer.
async fn decide_plan<S: PaymentStore>(state: &AppState, tx: &mut S, c: &Checked, id: &str) -> Result<Decision, Stop> {
    let payment = &c.payment;
    let Some(found) = tx.plan(id).await? else {
        if let Some(answer) = tx.stored_answer(&payment.provider, &payment.provider_tx_id).await? {
            return repeat(tx, c, answer).await;
        }
        return refuse(tx, payment, unknown_plan(id)).await;
    };
    if let Some(serial) = &found.serial {
        return decide_device(state, tx, c, Some(serial), Some(&found.id)).await;
    }
    // A device-less plan never changes owner (only a device is re-assigned, with its plan), so the owner
    // read before the lock is the one to lock; the plan is read again under it.
    lock_customer(state, tx, &found.customer_id).await?;
    if let Some(answer) = tx.stored_answer(&payment.provider, &payment.provider_tx_id).await? {
        return repeat(tx, c, answer).await;
    }
    let plan = tx.plan(id).await?.ok_or_else(|| ApiError::internal(format!("plan {id} vanished")))?;
    let allocation = match &c.money {
        Ok((amount, currency)) => plan_allocation(state, tx, &plan, *amount, *currency).await,
        Err(refusal) => Err(refusal.clone().into()),
    };
    let allocation = match allocation {
        Ok(a) => a,
        Err(refusal) => return refuse(tx, payment, refusal).await,
    };
    let agent_sale = match crate::agents::sale_entry(state, tx, payment, &allocation).await? {
        Ok(sale) => sale,
        Err(refusal) => return refuse(tx, payment, refusal).await,
    };
    let payment_id = new_id();
    let response = answer(&payment_id, None, Some(&plan.id), &allocation, &[]);
    let row = NewPayment {
        id: &payment_id,
        provider: &payment.provider,
        provider_tx_id: &payment.provider_tx_id,
        serial: "",
        plan_id: Some(&plan.id),
        customer_id: Some(&plan.customer_id),
        received_at: &c.received_at,
        payer_phone: payment.payer_phone.as_deref(),
        recorded_by_key: payment.recorded_by.as_deref(),
    };
    record(tx, &row, &allocation, &response).await?;
    if let Some(sale) = &agent_sale {
        crate::agents::record_sale(tx, sale, payment, &payment_id).await?;
    }
    if let Some(owner) = tx.customer(&plan.customer_id).await? {
        crate::notify::enqueue_payment(tx, &payment_id, &owner).await?;
    }
    Ok(Decision::Done(Outcome::Applied(response)))
}

/// The answer to a second delivery of a stored `(provider, provider_tx_id)`: the stored answer when it
/// names the same account and money, else a 409 kept in the refused log. Answering the stored answer to a
/// changed repeat would tell a provider that 5,000 was credited when it now says 500.
async fn repeat<S: PaymentStore>(tx: &mut S, c: &Checked, stored: PaymentAnswer) -> Result<Decision, Stop> {
    if c.repeats(&stored) {
        return Ok(Decision::Done(Outcome::Repeat(stored)));
    }
    refuse(tx, &c.payment, changed_repeat()).await
}

fn changed_repeat() -> ApiError {
    ApiError::conflict(
        "this provider_tx_id was applied before with another serial, plan, amount or currency; nothing was applied",
    )
}

/// Keeps a refused attempt in the refused log (in the payment's transaction) and returns the refusal.
async fn refuse<S: PaymentStore>(tx: &mut S, payment: &PaymentIn, refusal: ApiError) -> Result<Decision, Stop> {
    if refusal.status.is_server_error() {
        return Err(Stop::Api(refusal));
    }
    let message = refusal.message().to_owned();
    let args = sql::args![
        new_id(),
        &payment.provider,
        &payment.provider_tx_id,
        // The column predates payments by plan id: "" when the payment named a plan.
        payment.serial.as_deref().unwrap_or_default(),
        &payment.plan_id,
        &payment.amount,
        &payment.currency,
        refusal.code().to_owned(),
        message,
        now_rfc3339(),
    ];
    tx.execute(sql::INSERT_REFUSED, &args).await?;
    drop(args);
    Ok(Decision::Refused(refusal))
}

/// Queues money that moved for an unknown serial; a repeat of the same transaction finds its first entry.
async fn queue_unmatched<S: PaymentStore>(tx: &mut S, payment: &PaymentIn, received_at: &str) -> ApiResult<Queued> {
    let amount = payment
        .amount
        .parse::<rust_decimal::Decimal>()
        .map_err(|_| ApiError::invalid("amount", "a decimal string is required"))?;
    let args = sql::args![
        new_id(),
        &payment.provider,
        &payment.provider_tx_id,
        &payment.serial,
        amount.to_string(),
        &payment.currency,
        received_at,
        &payment.payer_phone,
        now_rfc3339(),
    ];
    tx.execute(sql::INSERT_UNMATCHED, &args).await?;
    let unmatched_id = tx
        .text(sql::UNMATCHED_ID, &sql::args![&payment.provider, &payment.provider_tx_id])
        .await?
        .ok_or_else(|| ApiError::internal("an unmatched payment vanished"))?;
    Ok(Queued {
        status: "unmatched",
        unmatched_id,
        serial: payment.serial.clone(),
        amount,
        currency: payment.currency.clone(),
    })
}

/// SQLite's payment writer: payments waiting together share one commit (one fsync), and each answers only
/// after it.
pub enum Writer {
    /// A thread with its own connection to the database file ([`crate::storage::sqlite_writer`]).
    Thread(crate::storage::sqlite_writer::SqliteWriter),
    /// sqlx's group commit ([`crate::group_commit`]), for an in-memory database, which a second
    /// connection could not open.
    Group(GroupCommit<Checked>),
}

impl Writer {
    /// The decision of `checked`, after the commit that made it durable.
    pub async fn submit(&self, checked: Checked) -> ApiResult<Decision> {
        match self {
            Writer::Thread(writer) => writer.submit(checked).await,
            Writer::Group(writer) => writer.submit(checked).await,
        }
    }
}

impl Step for Checked {
    type Output = Decision;
    fn apply<'a>(&'a self, state: &'a AppState, tx: &'a mut Transaction<'static, Any>) -> StepFuture<'a, Decision> {
        // The writer checks for a stored answer under the one write lock, so a copy never races here; were
        // it to, the job's savepoint is undone and the copy answered as a conflict.
        Box::pin(async move { decide(state, tx, self).await.map_err(ApiError::from) })
    }
}

/// What a token does, as the answers and the `tokens` table name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenKind {
    Energy,
    AddTime,
    SetTime,
    Unlock,
    CounterSync,
}

/// The unit of a token's quantity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QuantityUnit {
    Kwh,
    Days,
}

/// Whether a token's code exists yet: an external vendor's token waits as `pending` until it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenStatus {
    Issued,
    Pending,
    Failed,
}

/// The database's text for the enums above (their serde names).
macro_rules! column_names {
    ($($ty:ident { $($variant:ident => $name:literal),* $(,)? })*) => {$(
        impl $ty {
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),* }
            }
        }
        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(text: &str) -> Result<Self, String> {
                match text {
                    $($name => Ok($ty::$variant),)*
                    other => Err(format!("unknown {} {other:?}", stringify!($ty))),
                }
            }
        }
    )*};
}

column_names! {
    TokenKind { Energy => "energy", AddTime => "add_time", SetTime => "set_time", Unlock => "unlock", CounterSync => "counter_sync" }
    QuantityUnit { Kwh => "kwh", Days => "days" }
    TokenStatus { Issued => "issued", Pending => "pending", Failed => "failed" }
    LineKind {
        Installment => "installment", AccessRate => "access_rate", Energy => "energy", Eaas => "eaas",
        Credit => "credit", CreditUsed => "credit_used",
    }
    PaymentStatus { Completed => "completed", TokenPending => "token_pending", Credited => "credited" }
}

/// A token as recorded and answered.
#[derive(Debug, Clone)]
pub struct TokenOut {
    pub kind: TokenKind,
    pub unit: Option<QuantityUnit>,
    pub quantity: Option<Decimal>,
    pub code: Option<String>,
    pub count: Option<u32>,
    pub status: TokenStatus,
}

/// A token in a payment's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenAnswer {
    pub kind: TokenKind,
    pub unit: Option<QuantityUnit>,
    /// Days or kWh, as recorded (a decimal string).
    pub quantity: Option<Decimal>,
    pub code: Option<String>,
    pub count: Option<u32>,
}

impl From<&TokenOut> for TokenAnswer {
    fn from(t: &TokenOut) -> Self {
        TokenAnswer { kind: t.kind, unit: t.unit, quantity: t.quantity, code: t.code.clone(), count: t.count }
    }
}

fn token_kind(unit: TokenUnit) -> (TokenKind, Option<QuantityUnit>) {
    match unit {
        TokenUnit::Kwh => (TokenKind::Energy, Some(QuantityUnit::Kwh)),
        TokenUnit::Days => (TokenKind::AddTime, Some(QuantityUnit::Days)),
        TokenUnit::Unlock => (TokenKind::Unlock, None),
    }
}

/// Makes the tokens a decision asks for: OpenPAYGO codes now (the new count persisted in the same
/// transaction), or a pending request for an external vendor's system.
pub async fn make_tokens<S: PaymentStore>(
    state: &AppState,
    tx: &mut S,
    device: &DeviceRow,
    request: Option<&TokenRequest>,
) -> ApiResult<Vec<TokenOut>> {
    let Some(request) = request else { return Ok(Vec::new()) };
    let (kind, unit) = token_kind(request.unit);
    let quantity = (request.unit != TokenUnit::Unlock).then(|| request.quantity.normalize());
    let mut out = Vec::new();
    match device.openpaygo_device(&state.sealer)? {
        Some(opg) if device.token_scheme == TokenScheme::Openpaygo => {
            let issued = state.core(calls::OpenpaygoTokensForRequest { device: opg, request: request.clone() }).await?;
            for t in issued.tokens {
                out.push(TokenOut {
                    kind,
                    unit,
                    quantity: quantity.map(|_| t.value.normalize()),
                    code: Some(t.code),
                    count: Some(t.count),
                    status: TokenStatus::Issued,
                });
            }
            tx.execute(sql::UPDATE_TOKEN_COUNT, &sql::args![i64::from(issued.new_count), &device.serial]).await?;
        }
        _ => out.push(TokenOut { kind, unit, quantity, code: None, count: None, status: TokenStatus::Pending }),
    }
    Ok(out)
}

/// Records tokens in the device's history, after the payment (or operator action) that caused them.
pub async fn record_tokens<S: PaymentStore>(
    tx: &mut S,
    serial: &str,
    payment_id: Option<&str>,
    operator_key: Option<&str>,
    tokens: &[TokenOut],
) -> ApiResult<()> {
    for t in tokens {
        let args = sql::args![
            new_id(),
            serial,
            payment_id,
            operator_key,
            t.kind.as_str(),
            t.unit.map(QuantityUnit::as_str),
            t.quantity.map(|q| q.to_string()),
            &t.code,
            t.count.map(i64::from),
            t.status.as_str(),
            (t.status == TokenStatus::Pending).then(now_rfc3339),
            now_rfc3339(),
        ];
        tx.execute(sql::INSERT_TOKEN, &args).await?;
    }
    Ok(())
}

/// What one journal line paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    Installment,
    AccessRate,
    Energy,
    Eaas,
    /// Added to the credit balance.
    Credit,
    /// Taken from the credit balance (journal only, never in an answer's allocations).
    CreditUsed,
}

impl From<AllocationKind> for LineKind {
    fn from(kind: AllocationKind) -> Self {
        match kind {
            AllocationKind::Installment => LineKind::Installment,
            AllocationKind::AccessRate => LineKind::AccessRate,
            AllocationKind::Energy => LineKind::Energy,
            AllocationKind::Eaas => LineKind::Eaas,
        }
    }
}

/// One line of a payment's journal: a row of `allocations`, and an entry of the answer's `allocations`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalLine {
    pub kind: LineKind,
    #[serde(with = "micropower_core::wire::dec")]
    pub amount: Decimal,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub installment: Option<u32>,
    #[serde(with = "micropower_core::wire::dec_opt", default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<Decimal>,
}

impl JournalLine {
    fn credit(kind: LineKind, amount: Decimal) -> Self {
        JournalLine { kind, amount, plan_id: None, installment: None, quantity: None }
    }
}

/// The allocation lines as the API shows them, credit included as a line of its own.
fn allocation_lines(allocation: &Allocation) -> Vec<JournalLine> {
    let mut lines: Vec<JournalLine> = allocation
        .lines
        .iter()
        .map(|l| JournalLine {
            kind: l.kind.into(),
            amount: l.amount,
            plan_id: l.plan_id.clone(),
            installment: l.installment,
            quantity: l.quantity,
        })
        .collect();
    if !allocation.credit_added.is_zero() {
        lines.push(JournalLine::credit(LineKind::Credit, allocation.credit_added));
    }
    lines
}

/// How an applied payment stands: its tokens made, one waiting for a vendor, or no token at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Completed,
    TokenPending,
    Credited,
}

impl PaymentStatus {
    /// The status of a payment whose tokens stand so.
    pub fn of(tokens: impl IntoIterator<Item = TokenStatus>) -> Self {
        let mut status = PaymentStatus::Credited;
        for token in tokens {
            match token {
                TokenStatus::Pending => return PaymentStatus::TokenPending,
                TokenStatus::Issued | TokenStatus::Failed => status = PaymentStatus::Completed,
            }
        }
        status
    }
}

/// The answer to `POST /v1/payments`, stored with the payment so a retry gets the same answer. `serial` is
/// the device paid (null for a device-less plan); `plan_id` is there when the payment named a plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentAnswer {
    pub payment_id: String,
    pub status: PaymentStatus,
    pub serial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_id: Option<String>,
    #[serde(with = "micropower_core::wire::dec")]
    pub amount: Decimal,
    pub currency: Currency,
    pub allocations: Vec<JournalLine>,
    #[serde(with = "micropower_core::wire::dec")]
    pub credit_used: Decimal,
    pub tokens: Vec<TokenAnswer>,
    #[serde(with = "micropower_core::wire::dec")]
    pub credit_balance: Decimal,
    pub no_token_reason: Option<NoTokenReason>,
}

/// The answer of an applied payment ([`PaymentAnswer`]).
pub fn answer(
    payment_id: &str,
    serial: Option<&str>,
    plan_id: Option<&str>,
    allocation: &Allocation,
    tokens: &[TokenOut],
) -> PaymentAnswer {
    PaymentAnswer {
        payment_id: payment_id.to_owned(),
        status: PaymentStatus::of(tokens.iter().map(|t| t.status)),
        serial: serial.map(str::to_owned),
        plan_id: plan_id.map(str::to_owned),
        amount: allocation.amount,
        currency: allocation.currency,
        allocations: allocation_lines(allocation),
        credit_used: allocation.credit_used,
        tokens: tokens.iter().map(TokenAnswer::from).collect(),
        credit_balance: allocation.credit_balance,
        no_token_reason: allocation.no_token_reason,
    }
}

/// The row of an applied payment.
pub struct NewPayment<'a> {
    pub id: &'a str,
    pub provider: &'a str,
    pub provider_tx_id: &'a str,
    /// The device paid; "" for a device-less plan (the column predates payments by plan id).
    pub serial: &'a str,
    /// The plan the payment named, if it named one.
    pub plan_id: Option<&'a str>,
    pub customer_id: Option<&'a str>,
    pub received_at: &'a str,
    pub payer_phone: Option<&'a str>,
    /// The API key that recorded it; None for a hook delivery.
    pub recorded_by_key: Option<&'a str>,
}

/// Writes what every applied payment writes, inside the caller's transaction: the payment with its stored
/// answer, its journal, the plans it touched and the owner's credit balance. A duplicate
/// `(provider, provider_tx_id)` stops with [`Stop::Duplicate`].
pub async fn record<S: PaymentStore>(
    tx: &mut S,
    payment: &NewPayment<'_>,
    allocation: &Allocation,
    response: &PaymentAnswer,
) -> Result<(), Stop> {
    let stored = serde_json::to_string(response).map_err(ApiError::internal)?;
    let args = sql::args![
        payment.id,
        payment.provider,
        payment.provider_tx_id,
        payment.serial,
        payment.plan_id,
        payment.customer_id,
        allocation.amount.normalize().to_string(),
        allocation.currency.code(),
        payment.received_at,
        payment.payer_phone,
        response.status.as_str(),
        stored,
        now_rfc3339(),
        payment.recorded_by_key,
    ];
    if !tx.insert_unique(sql::INSERT_PAYMENT, &args).await? {
        return Err(Stop::Duplicate);
    }
    let mut journal = allocation_lines(allocation);
    if !allocation.credit_used.is_zero() {
        journal.push(JournalLine::credit(LineKind::CreditUsed, allocation.credit_used));
    }
    insert_journal(tx, payment.id, &journal).await?;
    for plan in &allocation.plans {
        let body = serde_json::to_string(plan).map_err(ApiError::internal)?;
        tx.execute(repo::UPDATE_PLAN_BODY, &sql::args![body, plan.id.as_str()]).await?;
    }
    if let Some(owner) = payment.customer_id {
        let balance = allocation.credit_balance.normalize().to_string();
        tx.execute(repo::SET_CREDIT, &sql::args![owner, allocation.currency.code(), balance]).await?;
    }
    Ok(())
}

/// The payment's journal lines in multi-row INSERTs (one statement for any usual payment instead of one per
/// line), in chunks that stay far below SQLite's and PostgreSQL's limits on bound parameters.
async fn insert_journal<S: PaymentStore>(tx: &mut S, payment_id: &str, journal: &[JournalLine]) -> ApiResult<()> {
    const COLUMNS: usize = 7;
    const ROWS_PER_STATEMENT: usize = 256;
    for (chunk_no, chunk) in journal.chunks(ROWS_PER_STATEMENT).enumerate() {
        let rows: Vec<String> = (0..chunk.len())
            .map(|row| {
                let first = row * COLUMNS + 1;
                let params: Vec<String> = (first..first + COLUMNS).map(|n| format!("${n}")).collect();
                format!("({})", params.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO allocations (payment_id, line_no, kind, amount, plan_id, installment, quantity) VALUES {}",
            rows.join(", ")
        );
        let mut args = Vec::with_capacity(chunk.len() * COLUMNS);
        for (n, line) in chunk.iter().enumerate() {
            let line_no = chunk_no * ROWS_PER_STATEMENT + n;
            args.extend(sql::args![
                payment_id,
                i64::try_from(line_no).unwrap_or(i64::MAX),
                line.kind.as_str(),
                line.amount.normalize().to_string(),
                line.plan_id.as_deref(),
                line.installment.map(i64::from),
                line.quantity.map(|q| q.normalize().to_string()),
            ]);
        }
        tx.execute(&sql, &args).await?;
    }
    Ok(())
}
