//! Applying a payment: one database transaction that records the payment, locks the account, loads the
//! snapshot, asks the core, writes the journal, balances, plans, tokens and the new token count, commits, and
//! only then answers. The same `(provider, provider_tx_id)` twice returns the stored answer.

use micropower_core::api::{Allocation, AllocationKind, TokenRequest, TokenUnit};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::{Any, Row, Transaction};

use crate::db::Backend;
use crate::error::{ApiError, ApiResult};
use crate::group_commit::{GroupCommit, Step, StepFuture};
use crate::ids::{new_id, now_rfc3339};
use crate::repo::{self, DeviceRow};
use crate::state::{AppState, Metrics};

/// A payment as providers and operators post it (`POST /v1/payments`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentIn {
    pub provider: String,
    pub provider_tx_id: String,
    pub serial: String,
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
}

/// What happened to a posted payment.
pub enum Outcome {
    /// Applied now (201).
    Applied(Value),
    /// Applied before: the stored answer (200).
    Repeat(Value),
    /// Money that moved for an unknown serial, queued for an operator (202).
    Unmatched(Value),
}

fn check_text(field: &str, value: &str, max: usize) -> ApiResult<()> {
    if value.trim().is_empty() || value.len() > max {
        return Err(ApiError::invalid(field, format!("1 to {max} characters are required")));
    }
    Ok(())
}

/// The day of a payment: the date part of `received_at` (operators run the server in their time zone's
/// UTC offset; the instant is kept as sent).
fn received(payment: &PaymentIn) -> ApiResult<(String, chrono::NaiveDate)> {
    match &payment.received_at {
        None => Ok((now_rfc3339(), crate::ids::today())),
        Some(text) => {
            let at = chrono::DateTime::parse_from_rfc3339(text)
                .map_err(|_| ApiError::invalid("received_at", "an RFC 3339 instant is required"))?;
            Ok((text.clone(), at.date_naive()))
        }
    }
}

/// Asks the core whether a payment would be accepted now (domain.md §5.5), without side effects: the
/// core's `Validation` as JSON, or its refusal.
pub async fn validate(state: &AppState, serial: &str, amount: &str, currency: &str, channel: &str) -> ApiResult<Value> {
    let canonical: Option<String> = state.core("normalize_serial", &json!({"raw": serial})).ok();
    let mut tx = state.db.pool.begin().await?;
    let device = match &canonical {
        Some(s) => repo::device(&mut *tx, s, "").await?,
        None => None,
    };
    let snapshot = match &device {
        Some(d) => Some(crate::snapshot::load(&mut tx, d).await?),
        None => None,
    };
    drop(tx);
    let request = json!({
        "serial": serial, "amount": amount, "currency": currency, "received_on": crate::ids::today(), "channel": channel,
    });
    state.core::<_, Value>("validate_payment", &json!({"snapshot": snapshot, "request": request}))
}

/// Looks up a stored answer for `(provider, provider_tx_id)`.
async fn stored_answer<'e, E: sqlx::Executor<'e, Database = Any>>(
    exec: E,
    provider: &str,
    tx_id: &str,
) -> ApiResult<Option<Value>> {
    let row = sqlx::query("SELECT response FROM payments WHERE provider = $1 AND provider_tx_id = $2")
        .bind(provider)
        .bind(tx_id)
        .fetch_optional(exec)
        .await?;
    row.map(|r| serde_json::from_str(&r.try_get::<String, _>("response")?).map_err(ApiError::internal)).transpose()
}

/// A payment checked and ready to apply.
pub struct Checked {
    payment: PaymentIn,
    /// The serial in canonical form, or None when it cannot be one (then no device has it). Worked out
    /// before the payment waits for the writer, so the one-at-a-time part does no more than it must.
    serial: Option<String>,
    received_at: String,
    received_on: chrono::NaiveDate,
}

impl Checked {
    fn new(state: &AppState, payment: &PaymentIn) -> ApiResult<Self> {
        let (received_at, received_on) = received(payment)?;
        let serial = state.core("normalize_serial", &json!({"raw": payment.serial})).ok();
        Ok(Checked { payment: payment.clone(), serial, received_at, received_on })
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
    check_text("provider", &payment.provider, 64)?;
    check_text("provider_tx_id", &payment.provider_tx_id, 128)?;
    check_text("serial", &payment.serial, 128)?;
    let checked = Checked::new(state, payment)?;
    if let Some(answer) = stored_answer(&state.db.pool, &payment.provider, &payment.provider_tx_id).await? {
        Metrics::bump(&state.metrics.payments_duplicate);
        return Ok(Outcome::Repeat(answer));
    }
    if let Some(writer) = state.writer.get() {
        let decision = writer.submit(checked).await?;
        return finish(state, decision);
    }
    let mut tx = state.db.pool.begin().await?;
    match decide(state, &mut tx, &checked).await {
        Ok(decision) => {
            tx.commit().await?;
            finish(state, decision)
        }
        // A concurrent copy of this payment won the race to the unique key: answer what it stored.
        Err(e) if e.body.contains_key("duplicate_payment") => {
            drop(tx);
            let answer = stored_answer(&state.db.pool, &payment.provider, &payment.provider_tx_id)
                .await?
                .ok_or_else(|| ApiError::internal("a duplicate payment vanished"))?;
            Metrics::bump(&state.metrics.payments_duplicate);
            Ok(Outcome::Repeat(answer))
        }
        Err(e) => Err(e),
    }
}

/// A text field of an answer, for the logs ("" when absent).
fn text<'v>(answer: &'v Value, field: &str) -> &'v str {
    answer.get(field).and_then(Value::as_str).unwrap_or_default()
}

/// Counts and logs a committed decision and turns it into the answer.
fn finish(state: &AppState, decision: Decision) -> ApiResult<Outcome> {
    match decision {
        Decision::Done(outcome) => {
            let counter = match &outcome {
                Outcome::Applied(v) => {
                    tracing::info!(payment = text(v, "payment_id"), serial = text(v, "serial"), "payment applied");
                    &state.metrics.payments_applied
                }
                Outcome::Repeat(_) => &state.metrics.payments_duplicate,
                Outcome::Unmatched(v) => {
                    tracing::warn!(serial = text(v, "serial"), "payment for an unknown serial queued as unmatched");
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

/// Everything one payment writes, inside the caller's transaction: lock the device (and its owner), check
/// for a copy applied meanwhile, load the snapshot, ask the core, write the decision.
async fn decide(state: &AppState, tx: &mut Transaction<'_, Any>, c: &Checked) -> ApiResult<Decision> {
    let payment = &c.payment;
    let device = match &c.serial {
        Some(s) => repo::device(&mut **tx, s, state.db.for_update()).await?,
        None => None,
    };
    // Checked again under the lock: a concurrent copy of this payment may have committed meanwhile.
    if let Some(answer) = stored_answer(&mut **tx, &payment.provider, &payment.provider_tx_id).await? {
        return Ok(Decision::Done(Outcome::Repeat(answer)));
    }
    let Some(device) = device else {
        if payment.money_moved {
            return queue_unmatched(tx, payment, &c.received_at).await.map(|v| Decision::Done(Outcome::Unmatched(v)));
        }
        let unknown = micropower_core::CoreError::UnknownSerial { serial: payment.serial.clone() };
        let refusal = ApiError::from(crate::engine::EngineError::from_core(&unknown));
        return refuse(tx, payment, refusal).await;
    };
    // PostgreSQL: the owner's row lock serialises payments on the owner's other devices (shared credit and
    // device-less plans). SQLite's writer applies one payment at a time already.
    if let (Some(owner), Backend::Postgres) = (&device.owner_id, state.db.backend) {
        let sql = format!("SELECT id FROM customers WHERE id = $1{}", state.db.for_update());
        sqlx::query(&sql).bind(owner).fetch_optional(&mut **tx).await?;
    }
    let (snapshot, owner) = crate::snapshot::load_with_owner(tx, &device).await?;
    let args = json!({
        "snapshot": snapshot,
        "payment": {"serial": payment.serial, "amount": payment.amount, "currency": payment.currency, "received_on": c.received_on},
    });
    let allocation: Allocation = match state.core("allocate_payment", &args) {
        Ok(a) => a,
        Err(refusal) => return refuse(tx, payment, refusal).await,
    };
    let payment_id = new_id();
    let tokens = make_tokens(state, tx, &device, allocation.token.as_ref()).await?;
    let response = answer(&payment_id, &allocation, &tokens);
    write(tx, payment, &device, &allocation, &payment_id, &c.received_at, &response).await?;
    record_tokens(tx, &device.serial, Some(&payment_id), None, &tokens).await?;
    // The customer's SMS is queued in the payment's own transaction: both happen, or neither.
    if let Some(owner) = &owner {
        crate::notify::enqueue_payment(tx, &payment_id, owner).await?;
    }
    Ok(Decision::Done(Outcome::Applied(response)))
}

/// Keeps a refused attempt in the refused log (in the payment's transaction) and returns the refusal.
async fn refuse(tx: &mut Transaction<'_, Any>, payment: &PaymentIn, refusal: ApiError) -> ApiResult<Decision> {
    if refusal.status.is_server_error() {
        return Err(refusal);
    }
    let message = refusal.body.get("message").and_then(Value::as_str).unwrap_or_default().to_owned();
    sqlx::query(
        "INSERT INTO refused_payments (id, provider, provider_tx_id, serial, amount, currency, code, message, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(new_id())
    .bind(&payment.provider)
    .bind(&payment.provider_tx_id)
    .bind(&payment.serial)
    .bind(&payment.amount)
    .bind(&payment.currency)
    .bind(refusal.code())
    .bind(message)
    .bind(now_rfc3339())
    .execute(&mut **tx)
    .await?;
    Ok(Decision::Refused(refusal))
}

/// Queues money that moved for an unknown serial; a repeat of the same transaction finds its first entry.
async fn queue_unmatched(tx: &mut Transaction<'_, Any>, payment: &PaymentIn, received_at: &str) -> ApiResult<Value> {
    payment
        .amount
        .parse::<rust_decimal::Decimal>()
        .map_err(|_| ApiError::invalid("amount", "a decimal string is required"))?;
    sqlx::query(
        "INSERT INTO unmatched_payments (id, provider, provider_tx_id, serial, amount, currency, received_at, payer_phone, status, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'open', $9) ON CONFLICT (provider, provider_tx_id) DO NOTHING",
    )
    .bind(new_id())
    .bind(&payment.provider)
    .bind(&payment.provider_tx_id)
    .bind(&payment.serial)
    .bind(&payment.amount)
    .bind(&payment.currency)
    .bind(received_at)
    .bind(&payment.payer_phone)
    .bind(now_rfc3339())
    .execute(&mut **tx)
    .await?;
    let row = sqlx::query("SELECT id FROM unmatched_payments WHERE provider = $1 AND provider_tx_id = $2")
        .bind(&payment.provider)
        .bind(&payment.provider_tx_id)
        .fetch_one(&mut **tx)
        .await?;
    let id: String = row.try_get("id")?;
    Ok(
        json!({"status": "unmatched", "unmatched_id": id, "serial": payment.serial, "amount": payment.amount, "currency": payment.currency}),
    )
}

/// A payment applied by SQLite's group-commit writer ([`crate::group_commit`]).
pub type Writer = GroupCommit<Checked>;

impl Step for Checked {
    type Output = Decision;
    fn apply<'a>(&'a self, state: &'a AppState, tx: &'a mut Transaction<'static, Any>) -> StepFuture<'a, Decision> {
        Box::pin(decide(state, tx, self))
    }
}

/// A token as recorded and answered.
#[derive(Debug, Clone, Serialize)]
pub struct TokenOut {
    pub kind: &'static str,
    pub unit: Option<&'static str>,
    pub quantity: Option<String>,
    pub code: Option<String>,
    pub count: Option<u32>,
    pub status: &'static str,
}

#[derive(Deserialize)]
struct IssuedTokens {
    tokens: Vec<IssuedToken>,
    new_count: u32,
}

#[derive(Deserialize)]
struct IssuedToken {
    code: String,
    count: u32,
    value: String,
}

fn token_kind(unit: TokenUnit) -> (&'static str, Option<&'static str>) {
    match unit {
        TokenUnit::Kwh => ("energy", Some("kwh")),
        TokenUnit::Days => ("add_time", Some("days")),
        TokenUnit::Unlock => ("unlock", None),
    }
}

/// Makes the tokens a decision asks for: OpenPAYGO codes now (the new count persisted in the same
/// transaction), or a pending request for an external vendor's system.
pub async fn make_tokens(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    device: &DeviceRow,
    request: Option<&TokenRequest>,
) -> ApiResult<Vec<TokenOut>> {
    let Some(request) = request else { return Ok(Vec::new()) };
    let (kind, unit) = token_kind(request.unit);
    let quantity = (request.unit != TokenUnit::Unlock).then(|| request.quantity.normalize().to_string());
    let mut out = Vec::new();
    match device.openpaygo_device(&state.sealer)? {
        Some(opg) if device.token_scheme == "openpaygo" => {
            let issued: IssuedTokens =
                state.core("openpaygo_tokens_for_request", &json!({"device": opg, "request": request}))?;
            for t in issued.tokens {
                out.push(TokenOut {
                    kind,
                    unit,
                    quantity: quantity.as_ref().map(|_| t.value.clone()),
                    code: Some(t.code),
                    count: Some(t.count),
                    status: "issued",
                });
            }
            sqlx::query("UPDATE devices SET token_count = $1 WHERE serial = $2")
                .bind(i64::from(issued.new_count))
                .bind(&device.serial)
                .execute(&mut **tx)
                .await?;
        }
        _ => out.push(TokenOut { kind, unit, quantity, code: None, count: None, status: "pending" }),
    }
    Ok(out)
}

/// Records tokens in the device's history, after the payment (or operator action) that caused them.
pub async fn record_tokens(
    tx: &mut Transaction<'_, Any>,
    serial: &str,
    payment_id: Option<&str>,
    operator_key: Option<&str>,
    tokens: &[TokenOut],
) -> ApiResult<()> {
    for t in tokens {
        sqlx::query(
            "INSERT INTO tokens (id, serial, payment_id, operator_key, kind, unit, quantity, code, count, status, next_attempt, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(new_id())
        .bind(serial)
        .bind(payment_id)
        .bind(operator_key)
        .bind(t.kind)
        .bind(t.unit)
        .bind(&t.quantity)
        .bind(&t.code)
        .bind(t.count.map(i64::from))
        .bind(t.status)
        .bind((t.status == "pending").then(now_rfc3339))
        .bind(now_rfc3339())
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

fn kind_name(kind: AllocationKind) -> &'static str {
    match kind {
        AllocationKind::Installment => "installment",
        AllocationKind::AccessRate => "access_rate",
        AllocationKind::Energy => "energy",
        AllocationKind::Eaas => "eaas",
    }
}

/// The allocation lines as the API shows them, credit included as a line of its own.
fn allocation_lines(allocation: &Allocation) -> Vec<Value> {
    let mut lines: Vec<Value> = allocation
        .lines
        .iter()
        .map(|l| {
            let mut v = json!({"kind": kind_name(l.kind), "amount": l.amount.normalize().to_string()});
            if let Some(map) = v.as_object_mut() {
                if let Some(p) = &l.plan_id {
                    map.insert("plan_id".into(), json!(p));
                }
                if let Some(n) = l.installment {
                    map.insert("installment".into(), json!(n));
                }
                if let Some(q) = l.quantity {
                    map.insert("quantity".into(), json!(q.normalize().to_string()));
                }
            }
            v
        })
        .collect();
    if !allocation.credit_added.is_zero() {
        lines.push(json!({"kind": "credit", "amount": allocation.credit_added.normalize().to_string()}));
    }
    lines
}

/// The answer to `POST /v1/payments`, stored with the payment so a retry gets it byte for byte.
fn answer(payment_id: &str, allocation: &Allocation, tokens: &[TokenOut]) -> Value {
    let status = if tokens.is_empty() {
        "credited"
    } else if tokens.iter().any(|t| t.status == "pending") {
        "token_pending"
    } else {
        "completed"
    };
    let tokens: Vec<Value> = tokens
        .iter()
        .map(|t| json!({"kind": t.kind, "unit": t.unit, "quantity": t.quantity, "code": t.code, "count": t.count}))
        .collect();
    json!({
        "payment_id": payment_id,
        "status": status,
        "serial": allocation.serial,
        "amount": allocation.amount.normalize().to_string(),
        "currency": allocation.currency,
        "allocations": allocation_lines(allocation),
        "credit_used": allocation.credit_used.normalize().to_string(),
        "tokens": tokens,
        "credit_balance": allocation.credit_balance.normalize().to_string(),
        "no_token_reason": allocation.no_token_reason,
    })
}

async fn write(
    tx: &mut Transaction<'_, Any>,
    payment: &PaymentIn,
    device: &DeviceRow,
    allocation: &Allocation,
    payment_id: &str,
    received_at: &str,
    response: &Value,
) -> ApiResult<()> {
    let status = response.get("status").and_then(Value::as_str).unwrap_or("credited");
    sqlx::query(
        "INSERT INTO payments (id, provider, provider_tx_id, serial, customer_id, amount, currency, received_at, payer_phone, status, response, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(payment_id)
    .bind(&payment.provider)
    .bind(&payment.provider_tx_id)
    .bind(&allocation.serial)
    .bind(&device.owner_id)
    .bind(allocation.amount.normalize().to_string())
    .bind(allocation.currency.code())
    .bind(received_at)
    .bind(&payment.payer_phone)
    .bind(status)
    .bind(response.to_string())
    .bind(now_rfc3339())
    .execute(&mut **tx)
    .await
    .map_err(|e| {
        if repo::is_unique_violation(&e) {
            ApiError::conflict("this payment was applied by a concurrent delivery").with("duplicate_payment", json!(true))
        } else {
            e.into()
        }
    })?;
    let mut journal = allocation_lines(allocation);
    if !allocation.credit_used.is_zero() {
        journal.push(json!({"kind": "credit_used", "amount": allocation.credit_used.normalize().to_string()}));
    }
    insert_journal(tx, payment_id, &journal).await?;
    for plan in &allocation.plans {
        repo::update_plan_body(&mut **tx, &plan.id, plan).await?;
    }
    if let Some(access) = &allocation.access_rate {
        sqlx::query("UPDATE devices SET access_accrued_periods = $1, access_debt = $2 WHERE serial = $3")
            .bind(i64::from(access.accrued_periods))
            .bind(access.debt.normalize().to_string())
            .bind(&device.serial)
            .execute(&mut **tx)
            .await?;
    }
    if let Some(owner) = &device.owner_id {
        repo::set_credit(
            &mut **tx,
            owner,
            allocation.currency.code(),
            &allocation.credit_balance.normalize().to_string(),
        )
        .await?;
    }
    Ok(())
}

/// The payment's journal lines in multi-row INSERTs (one statement for any usual payment instead of one per
/// line), in chunks that stay far below SQLite's and PostgreSQL's limits on bound parameters.
async fn insert_journal(tx: &mut Transaction<'_, Any>, payment_id: &str, journal: &[Value]) -> ApiResult<()> {
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
        let mut query = sqlx::query(&sql);
        for (n, line) in chunk.iter().enumerate() {
            let line_no = chunk_no * ROWS_PER_STATEMENT + n;
            query = query
                .bind(payment_id)
                .bind(i64::try_from(line_no).unwrap_or(i64::MAX))
                .bind(line.get("kind").and_then(Value::as_str))
                .bind(line.get("amount").and_then(Value::as_str))
                .bind(line.get("plan_id").and_then(Value::as_str))
                .bind(line.get("installment").and_then(Value::as_i64))
                .bind(line.get("quantity").and_then(Value::as_str));
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}
