//! Statement reconciliation (issue 17 §2): a provider's statement set against what the server credited under
//! that provider, and the missing money credited afterwards.
//!
//! Callbacks get lost (an outage, a wrong hook URL for a day), and the provider's statement is the record of
//! what the provider took. Each completed payment in is `recorded`, `missing`, in `mismatch` (same transaction,
//! another amount or account) or `unmatched` (the server queued it for an unknown account); the server's own
//! payments of the period that the statement does not show are listed beside them.
//!
//! Applying sends every missing line down the very path of a live callback ([`providers::deliver`]): the
//! delivery kept raw first, then the exactly-once payment keyed by `(provider, provider_tx_id)`, with its
//! tokens and SMS, an unknown account queued as unmatched. So an apply repeated, racing another, or followed
//! by the late callback of the same transaction, credits it once. A mismatch becomes a conflict for an operator
//! and credits nothing.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, NaiveDate};
use rust_decimal::Decimal;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::ids::{business_day, day_start, new_id, now_rfc3339};
use crate::payments::{PaymentIn, TokenAnswer};
use crate::providers::statement::{self, Movement, Problem, Statement};
use crate::providers::store::{self as hooks, RawEvent};
use crate::providers::{self, Delivered, Provider};
use crate::state::AppState;
use crate::storage::audit::{Action, Actor, Entry};
use crate::storage::payments::UnmatchedStatus;
use crate::storage::reconciliations::{
    self as stored, Applied, Line, LineStatus, NotOnStatement, Outcome, Reconciliation, ServerPayment,
};

/// The most lines a statement may have: it is classified and stored in one request.
pub const MOST_LINES: usize = 20_000;

/// A reconciliation with its lines and the payments its statement does not show.
#[derive(Debug, Serialize)]
pub struct Answer {
    #[serde(flatten)]
    pub reconciliation: Reconciliation,
    pub lines: Vec<Line>,
    pub not_on_statement: Vec<NotOnStatement>,
}

/// Reads the statement's lines against `provider`'s payments and stores the result. `problems` of the file
/// (a line in another currency, a transaction listed twice) refuse it whole, before anything is stored.
pub async fn reconcile(
    state: &AppState,
    caller: &Caller,
    provider: &Provider,
    bytes: &[u8],
    file_name: Option<String>,
) -> ApiResult<Answer> {
    let statement = statement::read(bytes, state.timezone).map_err(|e| refusal(e.0))?;
    check(provider, &statement)?;
    let mut lines = Vec::with_capacity(statement.lines.len());
    for line in &statement.lines {
        lines.push(classify(state, provider, line).await?);
    }
    let (period, not_on_statement) = not_on_statement(state, provider, &statement).await?;
    let count = |status: LineStatus| i64::try_from(lines.iter().filter(|l| l.status == status).count()).unwrap_or(0);
    let reconciliation = Reconciliation {
        id: new_id(),
        provider: provider.name.clone(),
        provider_id: provider.id.clone(),
        format: statement.format,
        file_sha256: hex::encode(Sha256::digest(bytes)),
        // A browser's name for the file, shown back as a label: control characters (NUL among them, which
        // PostgreSQL cannot store) have no place in it.
        file_name: file_name.map(|n| n.chars().filter(|c| !c.is_control()).take(200).collect()),
        period_from: period.map(|(from, _)| from.to_string()),
        period_to: period.map(|(_, to)| to.to_string()),
        line_count: i64::try_from(lines.len()).unwrap_or(i64::MAX),
        recorded_count: count(LineStatus::Recorded),
        missing_count: count(LineStatus::Missing),
        mismatch_count: count(LineStatus::Mismatch),
        not_on_statement,
        created_by_key: Some(caller.key_id.clone()),
        created_at: now_rfc3339(),
        applied_at: None,
        applied_by_key: None,
    };
    {
        let _guard = state.db.write_guard().await;
        let mut tx = state.db.pool.begin().await?;
        stored::insert(&mut tx, &reconciliation, &lines).await?;
        tx.commit().await?;
    }
    tracing::info!(
        reconciliation = %reconciliation.id,
        provider = %provider.name,
        lines = lines.len(),
        missing = reconciliation.missing_count,
        mismatch = reconciliation.mismatch_count,
        "statement reconciled"
    );
    let not_on_statement = reconciliation.not_on_statement.clone();
    Ok(Answer { reconciliation, lines, not_on_statement })
}

/// The most problems an answer lists; its message says how many there were.
const MOST_PROBLEMS: usize = 50;

/// 422 naming the statement's problems, each with its line and column.
pub fn refusal(mut problems: Vec<Problem>) -> ApiError {
    let total = problems.len();
    let message = match problems.first() {
        Some(only) if total == 1 && only.line == 0 => only.message.clone(),
        _ => format!("{total} problem(s) in the statement; nothing was reconciled"),
    };
    problems.truncate(MOST_PROBLEMS);
    let listed = serde_json::to_value(&problems).unwrap_or_default();
    ApiError::unprocessable("body", message).with("problems", listed)
}

/// What a statement must agree on with its provider before its lines mean anything: one currency, the
/// provider's; each transaction once.
fn check(provider: &Provider, statement: &Statement) -> ApiResult<()> {
    if statement.lines.len() > MOST_LINES {
        return Err(ApiError::unprocessable("body", format!("at most {MOST_LINES} lines per statement")));
    }
    let mut problems = Vec::new();
    let mut seen: HashMap<&str, u64> = HashMap::new();
    for line in &statement.lines {
        if let Some(currency) = line.currency.as_deref().filter(|c| *c != provider.currency) {
            problems.push(Problem {
                line: line.line,
                column: "currency".into(),
                code: "currency_mismatch",
                message: format!(
                    "{currency} is not the currency of provider {:?} ({})",
                    provider.name, provider.currency
                ),
            });
        }
        if let Some(first) = seen.insert(&line.provider_tx_id, line.line) {
            problems.push(Problem {
                line: line.line,
                column: String::new(),
                code: "listed_twice",
                message: format!("transaction {} is listed on line {first} already", line.provider_tx_id),
            });
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(refusal(problems))
    }
}

/// One line set against the server's record of its transaction.
async fn classify(state: &AppState, provider: &Provider, line: &statement::Line) -> ApiResult<Line> {
    let mut out = Line {
        line: i64::try_from(line.line).unwrap_or(i64::MAX),
        status: LineStatus::Missing,
        provider_tx_id: line.provider_tx_id.clone(),
        amount: line.amount,
        currency: Some(line.currency.clone().unwrap_or_else(|| provider.currency.clone())),
        account: line.account.clone(),
        occurred_at: line.occurred_at.as_ref().map(statement::rfc3339),
        payer: line.payer.clone(),
        phone: line.phone.clone(),
        detail: None,
        payment_id: None,
        server_amount: None,
        server_account: None,
        outcome: None,
        outcome_payment_id: None,
        unmatched_id: None,
        outcome_detail: None,
        applied_at: None,
    };
    match &line.movement {
        Movement::NotCompleted(status) => {
            out.status = LineStatus::NotCompleted;
            out.detail = Some(format!("the provider's status is {status:?}"));
            return Ok(out);
        }
        Movement::NotPaidIn => {
            out.status = LineStatus::NotPaidIn;
            out.detail = Some("no money paid in (a withdrawal or a charge)".into());
            return Ok(out);
        }
        Movement::PaidIn => {}
    }
    let pool = &state.db.pool;
    let canonical = match line.account.as_deref() {
        Some(account) => state.normalize_serial(account).await.ok(),
        None => None,
    };
    let unmatched = stored::unmatched_of(pool, &provider.name, &line.provider_tx_id).await?;
    if let Some(payment) = stored::payment_of(pool, &provider.name, &line.provider_tx_id).await? {
        out.payment_id = Some(payment.payment_id.clone());
        out.server_amount = Some(payment.amount);
        out.server_account = payment.serial.clone().or_else(|| payment.plan_id.clone());
        // Money an operator placed from the unmatched queue went where the operator said, not where the payer
        // typed: the account typed is then the one the queue kept.
        let placed = unmatched.as_ref().filter(|u| u.payment_id.as_deref() == Some(payment.payment_id.as_str()));
        let placed_account = match placed.and_then(|u| u.serial.as_deref()) {
            Some(raw) => state.normalize_serial(raw).await.ok().or_else(|| Some(raw.trim().to_owned())),
            None => None,
        };
        let same_amount = Some(payment.amount) == line.amount;
        let same_account = same_account(line.account.as_deref(), canonical.as_deref(), &payment)
            || (placed_account.is_some() && placed_account == canonical);
        out.status = if same_amount && same_account { LineStatus::Recorded } else { LineStatus::Mismatch };
        if out.status == LineStatus::Mismatch {
            out.detail = Some(format!(
                "the server recorded {} {} to {}",
                payment.amount,
                payment.currency,
                out.server_account.as_deref().unwrap_or("?")
            ));
        }
        return Ok(out);
    }
    if let Some(queued) = unmatched.filter(|u| u.status == UnmatchedStatus::Open) {
        out.server_amount = Some(queued.amount);
        out.server_account = queued.serial.clone();
        out.unmatched_id = Some(queued.id.clone());
        if Some(queued.amount) == line.amount {
            out.status = LineStatus::Unmatched;
            out.detail = Some("waiting in the unmatched queue for an operator".into());
        } else {
            out.status = LineStatus::Mismatch;
            out.detail = Some(format!("the unmatched queue holds {} {}", queued.amount, queued.currency));
        }
        return Ok(out);
    }
    Ok(out)
}

/// Whether the account a payer typed names what the server credited: the device (by the core's canonical
/// serial) or the plan. A statement without an account has nothing to disagree with.
fn same_account(account: Option<&str>, canonical: Option<&str>, payment: &ServerPayment) -> bool {
    let Some(account) = account else { return true };
    (canonical.is_some() && canonical == payment.serial.as_deref())
        || Some(account.trim()) == payment.plan_id.as_deref()
}

/// The statement's period (the business days of its first and last completed payment in) and the server's
/// payments of that provider and period that it does not show.
async fn not_on_statement(
    state: &AppState,
    provider: &Provider,
    statement: &Statement,
) -> ApiResult<(Option<(NaiveDate, NaiveDate)>, Vec<NotOnStatement>)> {
    let days: BTreeSet<NaiveDate> = statement
        .lines
        .iter()
        .filter(|l| l.movement == Movement::PaidIn)
        .filter_map(|l| l.occurred_at.as_ref())
        .map(|at| business_day(at, state.timezone))
        .collect();
    let (Some(&from), Some(&to)) = (days.first(), days.last()) else { return Ok((None, Vec::new())) };
    // A payment is recorded when its callback arrives, which is after the money moved: nothing received in
    // the period was recorded before the day before it began (a day of slack for clocks and time zones).
    let since = day_start(from.pred_opt().unwrap_or(from), state.timezone);
    let listed: BTreeSet<&str> = statement.lines.iter().map(|l| l.provider_tx_id.as_str()).collect();
    let found = stored::payments_since(&state.db.pool, &provider.name, &since).await?;
    let missing_here = found
        .into_iter()
        .filter(|p| !listed.contains(p.provider_tx_id.as_str()))
        .filter(|p| {
            DateTime::parse_from_rfc3339(&p.received_at)
                .map(|at| (from..=to).contains(&business_day(&at, state.timezone)))
                .unwrap_or(false)
        })
        .collect();
    Ok((Some((from, to)), missing_here))
}

/// A reconciliation with its lines, by id.
pub async fn answer(state: &AppState, id: &str) -> ApiResult<Answer> {
    let reconciliation =
        stored::get(&state.db.pool, id).await?.ok_or_else(|| ApiError::not_found("reconciliation", id))?;
    let lines = stored::lines(&state.db.pool, id).await?;
    let not_on_statement = reconciliation.not_on_statement.clone();
    Ok(Answer { reconciliation, lines, not_on_statement })
}

/// The answer of an apply: every line it concerns (missing and mismatch), with what became of it.
#[derive(Debug, Serialize)]
pub struct ApplyAnswer {
    pub id: String,
    /// The first apply's instant.
    pub applied_at: Option<String>,
    /// How many lines this apply credited.
    pub credited: usize,
    pub lines: Vec<AppliedLine>,
}

/// One line an apply concerns.
#[derive(Debug, Serialize)]
pub struct AppliedLine {
    pub line: i64,
    pub provider_tx_id: String,
    pub status: LineStatus,
    pub account: Option<String>,
    #[serde(with = "micropower_core::wire::dec_opt")]
    pub amount: Option<Decimal>,
    pub outcome: Outcome,
    /// True when this apply did it; false when an earlier one had.
    pub applied_now: bool,
    pub payment_id: Option<String>,
    pub unmatched_id: Option<String>,
    pub detail: Option<String>,
    /// The tokens the payment made (a credit of this apply).
    pub tokens: Vec<TokenAnswer>,
}

/// What applying a line did (now or in an earlier apply).
struct Done {
    outcome: Outcome,
    payment_id: Option<String>,
    unmatched_id: Option<String>,
    detail: Option<String>,
    tokens: Vec<TokenAnswer>,
}

impl AppliedLine {
    fn new(line: &Line, done: Done, applied_now: bool) -> Self {
        AppliedLine {
            line: line.line,
            provider_tx_id: line.provider_tx_id.clone(),
            status: line.status,
            account: line.account.clone(),
            amount: line.amount,
            outcome: done.outcome,
            applied_now,
            payment_id: done.payment_id,
            unmatched_id: done.unmatched_id,
            detail: done.detail,
            tokens: done.tokens,
        }
    }
}

/// What the audit log keeps of an apply: the file, and what this apply did to each line.
#[derive(Serialize)]
struct ApplyAudit<'a> {
    provider: &'a str,
    file_sha256: &'a str,
    lines: Vec<AuditedLine<'a>>,
}

#[derive(Serialize)]
struct AuditedLine<'a> {
    line: i64,
    provider_tx_id: &'a str,
    outcome: Outcome,
    payment_id: Option<&'a str>,
    unmatched_id: Option<&'a str>,
}

/// `POST /v1/reconciliations/{id}/apply`: credits the missing lines and turns the mismatches into conflicts,
/// each line once. Lines an earlier apply did are reported as they were done.
pub async fn apply(state: &AppState, caller: &Caller, id: &str) -> ApiResult<ApplyAnswer> {
    let reconciliation =
        stored::get(&state.db.pool, id).await?.ok_or_else(|| ApiError::not_found("reconciliation", id))?;
    let provider = providers::by_name(state, &reconciliation.provider)
        .await?
        .filter(|p| p.id == reconciliation.provider_id)
        .ok_or_else(|| ApiError::conflict("the statement's provider was removed: nothing can be credited under it"))?;
    let lines = stored::lines(&state.db.pool, id).await?;
    let mut answered = Vec::new();
    for line in lines.iter().filter(|l| matches!(l.status, LineStatus::Missing | LineStatus::Mismatch)) {
        if let Some(outcome) = line.outcome {
            let earlier = Done {
                outcome,
                payment_id: line.outcome_payment_id.clone(),
                unmatched_id: line.unmatched_id.clone(),
                detail: line.outcome_detail.clone(),
                tokens: Vec::new(),
            };
            answered.push(AppliedLine::new(line, earlier, false));
            continue;
        }
        let done = apply_line(state, caller, &provider, id, line).await?;
        let at = now_rfc3339();
        let applied = Applied {
            line: line.line,
            outcome: done.outcome,
            payment_id: done.payment_id.as_deref(),
            unmatched_id: done.unmatched_id.as_deref(),
            detail: done.detail.as_deref(),
            at: &at,
        };
        let _guard = state.db.write_guard().await;
        let mut tx = state.db.pool.begin().await?;
        stored::set_outcome(&mut tx, id, &applied).await?;
        tx.commit().await?;
        answered.push(done);
    }
    let now: Vec<&AppliedLine> = answered.iter().filter(|l| l.applied_now).collect();
    if !now.is_empty() {
        let audited = ApplyAudit {
            provider: &provider.name,
            file_sha256: &reconciliation.file_sha256,
            lines: now
                .iter()
                .map(|l| AuditedLine {
                    line: l.line,
                    provider_tx_id: &l.provider_tx_id,
                    outcome: l.outcome,
                    payment_id: l.payment_id.as_deref(),
                    unmatched_id: l.unmatched_id.as_deref(),
                })
                .collect(),
        };
        let actor = Actor::ApiKey(caller.key_id.clone());
        let entry = Entry::new(&actor, Action::ReconciliationApplied, "reconciliation", id).after(&audited)?;
        let at = now_rfc3339();
        let _guard = state.db.write_guard().await;
        let mut tx = state.db.pool.begin().await?;
        stored::mark_applied(&mut tx, id, Some(&caller.key_id), &at, &entry).await?;
        tx.commit().await?;
    }
    let credited = answered.iter().filter(|l| l.applied_now && l.outcome == Outcome::Credited).count();
    tracing::info!(reconciliation = %id, credited, lines = answered.len(), "reconciliation applied");
    let applied_at = stored::get(&state.db.pool, id).await?.and_then(|r| r.applied_at);
    Ok(ApplyAnswer { id: id.to_owned(), applied_at, credited, lines: answered })
}

/// A statement line as its kept delivery shows it (`hook_events`, hook `statement`).
#[derive(Serialize)]
struct StatementDelivery<'a> {
    reconciliation_id: &'a str,
    line: i64,
    provider_tx_id: &'a str,
    /// What the line paid, as a conflict keeps it: the fields an operator's decision reads.
    serial: Option<&'a str>,
    #[serde(with = "micropower_core::wire::dec_opt")]
    amount: Option<Decimal>,
    currency: &'a str,
    occurred_at: Option<&'a str>,
    payer: Option<&'a str>,
}

/// The server's side of a mismatch, as its conflict keeps it.
#[derive(Serialize)]
struct ServerSide<'a> {
    payment_id: Option<&'a str>,
    #[serde(with = "micropower_core::wire::dec_opt")]
    amount: Option<Decimal>,
    account: Option<&'a str>,
    unmatched_id: Option<&'a str>,
}

/// One missing line delivered as its provider's callback would be, or one mismatch kept as a conflict. The
/// line is kept raw first, as every delivery is.
async fn apply_line(
    state: &AppState,
    caller: &Caller,
    provider: &Provider,
    reconciliation_id: &str,
    line: &Line,
) -> ApiResult<AppliedLine> {
    let delivery = StatementDelivery {
        reconciliation_id,
        line: line.line,
        provider_tx_id: &line.provider_tx_id,
        serial: line.account.as_deref(),
        amount: line.amount,
        currency: &provider.currency,
        occurred_at: line.occurred_at.as_deref(),
        payer: line.payer.as_deref(),
    };
    let bytes = serde_json::to_vec(&delivery).map_err(ApiError::internal)?;
    let event = RawEvent::new(&provider.id, "statement", &bytes, None);
    hooks::write(state, vec![event.insert("received", None, None)]).await?;
    let tx_id = line.provider_tx_id.as_str();
    let delivered = match (line.status, line.account.as_deref(), line.amount) {
        (LineStatus::Mismatch, _, _) => {
            let server = ServerSide {
                payment_id: line.payment_id.as_deref(),
                amount: line.server_amount,
                account: line.server_account.as_deref(),
                unmatched_id: line.unmatched_id.as_deref(),
            };
            providers::conflict(state, provider, tx_id, &event.id, "statement_mismatch", Some(&server), &delivery).await
        }
        (_, None, _) => {
            providers::conflict(
                state,
                provider,
                tx_id,
                &event.id,
                "no_account_number",
                providers::NO_ANNOUNCEMENT,
                &delivery,
            )
            .await
        }
        (_, _, None) => {
            providers::conflict(
                state,
                provider,
                tx_id,
                &event.id,
                "invalid_amount",
                providers::NO_ANNOUNCEMENT,
                &delivery,
            )
            .await
        }
        (_, Some(account), Some(amount)) => {
            let payment = PaymentIn {
                provider: provider.name.clone(),
                provider_tx_id: tx_id.to_owned(),
                serial: Some(account.to_owned()),
                plan_id: None,
                amount: amount.to_string(),
                currency: provider.currency.clone(),
                received_at: line.occurred_at.clone(),
                payer_phone: line.phone.clone(),
                money_moved: true,
                // Credited on the operator's word that the statement shows it, like a conflict's credit.
                recorded_by: Some(caller.key_id.clone()),
                agent_id: None,
            };
            providers::deliver(state, provider, &event.id, &payment).await
        }
    };
    let delivered = match delivered {
        Ok(d) => d,
        Err(e) => {
            hooks::set_outcome(state, &event.id, "error", None, Some(e.code())).await;
            return Err(e);
        }
    };
    let detail = match &delivered {
        Delivered::Conflict(reason) => Some(reason.clone()),
        _ => None,
    };
    hooks::set_outcome(state, &event.id, delivered.outcome(), None, detail.as_deref()).await;
    let (outcome, payment_id, unmatched_id, tokens) = match delivered {
        Delivered::Credited(a) => (Outcome::Credited, Some(a.payment_id), None, a.tokens),
        Delivered::Duplicate(a) => (Outcome::Duplicate, Some(a.payment_id), None, Vec::new()),
        Delivered::Unmatched(q) => (Outcome::Unmatched, None, Some(q.unmatched_id), Vec::new()),
        Delivered::Conflict(_) => (Outcome::Conflict, None, None, Vec::new()),
    };
    Ok(AppliedLine::new(line, Done { outcome, payment_id, unmatched_id, detail, tokens }, true))
}
