//! `GET /v1/customers/{id}/statement?from=&to=&currency=` (issue 16): every payment of a customer, what each
//! paid for, every installment that fell due, and the running balance, in date order; as JSON, as CSV
//! (`Accept: text/csv`) or as a printable page (`Accept: text/html`).
//!
//! The running balance is bookkeeping over stored amounts, not a business rule: a plan's total (the core's
//! `plan_summary`) is owed from its start date, each installment line of the journal pays it down, and the
//! journal's `credit` and `credit_used` lines move the credit balance. An installment falling due changes
//! neither (what is owed was owed since the sale).
//!
//! Access-rate fees are owed too (`owed` holds them, `access_rate` says how much of it they are): each fee
//! of the customer's meters is a line on the day it falls due — the days the core's accrual charges them
//! (`access_rate::fee_due_dates`), so a fee no payment has accrued yet is owed all the same, as in the debt
//! reports — and each `access_rate` journal line pays them down. The store keeps a meter's account, not the
//! rate of each past period, so every fee is shown at the meter's tariff's access rate; the meters are the
//! customer's now (a meter's fees from before a re-assignment show on its new owner's statement).

use std::collections::{BTreeMap, BTreeSet};

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::NaiveDate;
use micropower_core::api::Currency;
use micropower_core::calls;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{ApiError, ApiResult};
use crate::html::{escape, printable};
use crate::payments::LineKind;
use crate::repo;
use crate::state::AppState;
use crate::storage::opening_balances;
use crate::storage::statements::{self as stored, StatementAllocation, StatementPayment};

/// The query of a statement.
#[derive(Deserialize)]
pub struct StatementQuery {
    /// First day (YYYY-MM-DD) shown; default the customer's first record.
    from: Option<String>,
    /// Last day shown, included; default today (the operator's time zone).
    to: Option<String>,
    /// The currency of the statement; required only when the customer has records in several.
    currency: Option<String>,
}

/// A customer's statement.
#[derive(Debug, Serialize)]
pub struct Statement {
    pub customer: StatementCustomer,
    pub from: NaiveDate,
    pub to: NaiveDate,
    /// Null for a customer without any plan or payment.
    pub currency: Option<Currency>,
    /// The balance at the start of `from` (after every line before it).
    pub opening: Balance,
    pub lines: Vec<StatementLine>,
    /// The balance at the end of `to`.
    pub closing: Balance,
}

/// Who the statement is of.
#[derive(Debug, Serialize)]
pub struct StatementCustomer {
    pub id: String,
    pub name: String,
    pub surname: String,
    pub phones: Vec<String>,
}

/// What the customer owes (installment plans and access-rate fees), and their credit balance.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Balance {
    /// Everything owed: installment plans and access-rate fees.
    #[serde(with = "micropower_core::wire::dec")]
    pub owed: Decimal,
    /// The part of `owed` that is access-rate fees of the customer's meters.
    #[serde(with = "micropower_core::wire::dec")]
    pub access_rate: Decimal,
    #[serde(with = "micropower_core::wire::dec")]
    pub credit: Decimal,
}

/// What a statement line is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StatementKind {
    /// An installment plan starts: its total is owed (amount: the total).
    PlanSold,
    /// An installment of a plan falls due (amount: the installment); the balance does not move.
    InstallmentDue,
    /// Money received (amount: the money); its allocation lines follow it.
    Payment,
    /// What a payment paid for (`paid_for`), or credit it added or used.
    Allocation,
    /// Paid on a plan before micropower (a migrated plan's `paid_to_date`, issue 17): owed goes down.
    OpeningPaid,
    /// Credit held before micropower (a migrated customer's `opening_credit`): credit goes up.
    OpeningCredit,
    /// A meter's access-rate fee falls due (amount: the fee; `serial`: the meter): owed goes up.
    AccessRateDue,
}

/// One line of a statement; every line has every field (null where it does not apply), so the JSON and the
/// CSV have the same columns.
#[derive(Debug, Clone, Serialize)]
pub struct StatementLine {
    /// The business day (a payment's: the day it was received, in the operator's time zone).
    pub date: NaiveDate,
    pub kind: StatementKind,
    /// An allocation's kind: installment, access_rate, energy, eaas, credit or credit_used.
    pub paid_for: Option<LineKind>,
    /// The payment the line is, or belongs to.
    pub payment_id: Option<String>,
    pub provider: Option<String>,
    pub provider_tx_id: Option<String>,
    /// The device a payment was made to.
    pub serial: Option<String>,
    pub plan_id: Option<String>,
    pub installment: Option<u32>,
    /// Energy in kWh, or EaaS days.
    #[serde(with = "micropower_core::wire::dec_opt")]
    pub quantity: Option<Decimal>,
    /// `kWh` or `days`, with a quantity.
    pub unit: Option<&'static str>,
    #[serde(with = "micropower_core::wire::dec")]
    pub amount: Decimal,
    #[serde(with = "micropower_core::wire::dec")]
    pub owed_after: Decimal,
    #[serde(with = "micropower_core::wire::dec")]
    pub credit_after: Decimal,
}

impl StatementLine {
    fn new(date: NaiveDate, kind: StatementKind, amount: Decimal) -> Self {
        StatementLine {
            date,
            kind,
            paid_for: None,
            payment_id: None,
            provider: None,
            provider_tx_id: None,
            serial: None,
            plan_id: None,
            installment: None,
            quantity: None,
            unit: None,
            amount,
            owed_after: Decimal::ZERO,
            credit_after: Decimal::ZERO,
        }
    }
}

/// `GET /v1/customers/{id}/statement`: 404 for an unknown customer, 422 (`field`) for a bad date, `from`
/// after `to`, or several currencies and no `currency`.
pub async fn statement(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<StatementQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let from = q.from.as_deref().map(|text| day("from", text)).transpose()?;
    let to = q.to.as_deref().map(|text| day("to", text)).transpose()?;
    if let (Some(from), Some(to)) = (from, to) {
        if from > to {
            return Err(ApiError::unprocessable("from", "from must not be after to"));
        }
    }
    let customer = repo::customer(&state.db.pool, &id).await?.ok_or_else(|| ApiError::not_found("customer", &id))?;
    let plans = repo::customer_plans(&state.db.pool, &id, false).await?;
    let payments = stored::payments(&state.db.pool, &id).await?;
    let allocations = stored::allocations(&state.db.pool, &id).await?;
    let openings = opening_balances::of_customer(&state.db.pool, &id).await?;
    let devices = repo::listed_devices(&state.db.pool, repo::DeviceFilter::Owner(&id), i64::MAX).await?;

    let to = to.unwrap_or_else(|| state.today());
    // A meter with an access rate owes fees even before any payment: its currency counts.
    let meters =
        devices.iter().filter(|d| d.access_rate().is_some()).filter_map(|d| d.tariff.as_ref().map(|t| t.currency));
    let currency = statement_currency(&q, &plans, &payments, &openings, meters)?;
    let mut all = Vec::new();
    if let Some(currency) = currency {
        all = plan_lines(&state, &plans, currency).await?;
        all.extend(payment_lines(&state, &payments, allocations, currency));
        all.extend(opening_lines(&openings, currency));
        all.extend(access_rate_lines(&devices, currency, to)?);
    }
    // Plans first on a day, then installments and fees falling due, then payments as received (each followed
    // by its allocation lines, which the stable sort keeps together).
    all.sort_by(|a, b| a.0.cmp(&b.0));
    let lines: Vec<StatementLine> = all.into_iter().map(|(_, line)| line).collect();

    let from = from.unwrap_or_else(|| lines.first().map_or(to, |l| l.date).min(to));
    if from > to {
        return Err(ApiError::unprocessable("from", "from must not be after to"));
    }
    let mut balance = Balance::default();
    let mut opening = balance;
    let mut shown = Vec::new();
    for mut line in lines {
        if line.date > to {
            break;
        }
        balance = moved(balance, &line)?;
        line.owed_after = balance.owed;
        line.credit_after = balance.credit;
        if line.date < from {
            opening = balance;
        } else {
            shown.push(line);
        }
    }
    let statement = Statement {
        customer: StatementCustomer {
            id: customer.id.clone(),
            name: customer.name.clone(),
            surname: customer.surname.clone(),
            phones: customer.phones.clone(),
        },
        from,
        to,
        currency,
        opening,
        lines: shown,
        closing: balance,
    };
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).unwrap_or_default();
    if accept.contains("text/csv") {
        csv_answer(&statement)
    } else if accept.contains("text/html") {
        Ok(printable(page(&state, &statement), STYLE))
    } else {
        Ok(Json(statement).into_response())
    }
}

fn day(field: &str, text: &str) -> ApiResult<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d")
        .map_err(|_| ApiError::unprocessable(field, "a date YYYY-MM-DD is required"))
}

/// The query's currency, or the one currency of the customer's plans and payments (None when they have
/// none); 422 when they have several and the query names none.
fn statement_currency(
    q: &StatementQuery,
    plans: &[repo::PlanRow],
    payments: &[StatementPayment],
    openings: &[opening_balances::Stored],
    meters: impl Iterator<Item = Currency>,
) -> ApiResult<Option<Currency>> {
    if let Some(text) = &q.currency {
        return text.parse().map(Some).map_err(|_| ApiError::unprocessable("currency", "an ISO 4217 code is required"));
    }
    let found: BTreeSet<Currency> = plans
        .iter()
        .map(|p| p.currency)
        .chain(payments.iter().map(|p| p.currency))
        .chain(openings.iter().map(|o| o.currency))
        .chain(meters)
        .collect();
    if found.len() > 1 {
        let codes: Vec<String> = found.iter().map(ToString::to_string).collect();
        return Err(ApiError::unprocessable(
            "currency",
            format!("the customer has records in {}: name one with ?currency=", codes.join(", ")),
        ));
    }
    Ok(found.into_iter().next())
}

/// The key lines are ordered by: the day, then plans, installments due, payments; then the time received.
type Order = (NaiveDate, u8, String);

/// A plan sold and its installments falling due, for each installment plan in `currency` (the core's
/// `plan_summary` gives the total and the schedule).
async fn plan_lines(
    state: &AppState,
    plans: &[repo::PlanRow],
    currency: Currency,
) -> ApiResult<Vec<(Order, StatementLine)>> {
    let mut lines = Vec::new();
    for row in plans.iter().filter(|p| p.currency == currency) {
        let Some(plan) = row.installments() else { continue };
        let summary = state.core(calls::PlanSummary { plan: plan.clone() }).await?;
        let mut sold = StatementLine::new(plan.start_date, StatementKind::PlanSold, summary.total_cost);
        sold.plan_id = Some(row.id.clone());
        sold.serial = row.serial.clone();
        lines.push(((plan.start_date, 0, row.id.clone()), sold));
        for installment in &summary.installments {
            let mut due = StatementLine::new(installment.due_date, StatementKind::InstallmentDue, installment.amount);
            due.plan_id = Some(row.id.clone());
            due.serial = row.serial.clone();
            due.installment = Some(installment.number);
            lines.push(((installment.due_date, 1, format!("{}:{:010}", row.id, installment.number)), due));
        }
    }
    Ok(lines)
}

/// The opening balances in `currency` of a customer brought in by an import: after the plans sold on
/// their day, before its payments.
fn opening_lines(openings: &[opening_balances::Stored], currency: Currency) -> Vec<(Order, StatementLine)> {
    let mut lines = Vec::new();
    for (n, o) in openings.iter().enumerate().filter(|(_, o)| o.currency == currency) {
        let kind = match o.kind {
            opening_balances::Kind::PlanPaid => StatementKind::OpeningPaid,
            opening_balances::Kind::Credit => StatementKind::OpeningCredit,
        };
        let mut line = StatementLine::new(o.recorded_on, kind, o.amount);
        line.plan_id = o.plan_id.clone();
        lines.push(((o.recorded_on, 1, format!("opening|{n:010}")), line));
    }
    lines
}

/// At most this many fees per meter: a daily fee over 27 years. A statement is a page, not an archive.
const MAX_FEES: usize = 10_000;

/// The access-rate fees in `currency` of the customer's meters that fall due up to `to`, each on its day
/// (the core's dates), at the meter's tariff's rate.
fn access_rate_lines(
    devices: &[repo::ListedDevice],
    currency: Currency,
    to: NaiveDate,
) -> ApiResult<Vec<(Order, StatementLine)>> {
    let mut lines = Vec::new();
    for device in devices {
        let Some(rate) = device.access_rate() else { continue };
        if device.tariff.as_ref().map(|t| t.currency) != Some(currency) {
            continue;
        }
        let serial = &device.device.serial;
        let dates = micropower_core::access_rate::fee_due_dates(&rate, device.device.registered_on, to, MAX_FEES)
            .map_err(|e| ApiError::internal(format!("access-rate fees of {serial}: {e}")))?;
        for (k, date) in dates.into_iter().enumerate() {
            let mut line = StatementLine::new(date, StatementKind::AccessRateDue, rate.amount);
            line.serial = Some(serial.clone());
            lines.push(((date, 1, format!("fee|{serial}|{k:010}")), line));
        }
    }
    Ok(lines)
}

/// Each payment in `currency` and its journal lines.
fn payment_lines(
    state: &AppState,
    payments: &[StatementPayment],
    allocations: Vec<StatementAllocation>,
    currency: Currency,
) -> Vec<(Order, StatementLine)> {
    let mut journal: BTreeMap<String, Vec<StatementAllocation>> = BTreeMap::new();
    for a in allocations {
        journal.entry(a.payment_id.clone()).or_default().push(a);
    }
    let mut lines = Vec::new();
    for p in payments.iter().filter(|p| p.currency == currency) {
        let (date, at) = match chrono::DateTime::parse_from_rfc3339(&p.received_at) {
            Ok(at) => (crate::ids::business_day(&at, state.timezone), at.to_utc().to_rfc3339()),
            Err(_) => (state.today(), p.created_at.clone()),
        };
        let order = (date, 2, format!("{at}|{}|{}", p.created_at, p.id));
        let mut line = StatementLine::new(date, StatementKind::Payment, p.amount);
        line.payment_id = Some(p.id.clone());
        line.provider = Some(p.provider.clone());
        line.provider_tx_id = Some(p.provider_tx_id.clone());
        line.serial = p.serial.clone();
        line.plan_id = p.plan_id.clone();
        lines.push((order.clone(), line));
        for a in journal.remove(&p.id).unwrap_or_default() {
            let mut line = StatementLine::new(date, StatementKind::Allocation, a.amount);
            line.paid_for = Some(a.kind);
            line.payment_id = Some(p.id.clone());
            line.serial = p.serial.clone();
            line.plan_id = a.plan_id.clone();
            line.installment = a.installment.and_then(|n| u32::try_from(n).ok());
            line.quantity = a.quantity;
            line.unit = match (a.kind, a.quantity) {
                (LineKind::Energy, Some(_)) => Some("kWh"),
                (LineKind::Eaas, Some(_)) => Some("days"),
                _ => None,
            };
            lines.push((order.clone(), line));
        }
    }
    lines
}

/// The balance after `line`: sums of stored amounts.
fn moved(balance: Balance, line: &StatementLine) -> ApiResult<Balance> {
    let overflow = || ApiError::internal("a statement balance overflows");
    let mut b = balance;
    match (line.kind, line.paid_for) {
        (StatementKind::PlanSold, _) => b.owed = b.owed.checked_add(line.amount).ok_or_else(overflow)?,
        (StatementKind::AccessRateDue, _) => {
            b.owed = b.owed.checked_add(line.amount).ok_or_else(overflow)?;
            b.access_rate = b.access_rate.checked_add(line.amount).ok_or_else(overflow)?;
        }
        (StatementKind::Allocation, Some(LineKind::AccessRate)) => {
            b.owed = b.owed.checked_sub(line.amount).ok_or_else(overflow)?;
            b.access_rate = b.access_rate.checked_sub(line.amount).ok_or_else(overflow)?;
        }
        (StatementKind::Allocation, Some(LineKind::Installment)) | (StatementKind::OpeningPaid, _) => {
            b.owed = b.owed.checked_sub(line.amount).ok_or_else(overflow)?;
        }
        (StatementKind::Allocation, Some(LineKind::Credit)) | (StatementKind::OpeningCredit, _) => {
            b.credit = b.credit.checked_add(line.amount).ok_or_else(overflow)?;
        }
        (StatementKind::Allocation, Some(LineKind::CreditUsed)) => {
            b.credit = b.credit.checked_sub(line.amount).ok_or_else(overflow)?;
        }
        _ => {}
    }
    Ok(b)
}

/// The CSV columns, in order (the fields of [`StatementLine`]).
pub const CSV_HEADER: &[&str] = &[
    "date",
    "kind",
    "paid_for",
    "payment_id",
    "provider",
    "provider_tx_id",
    "serial",
    "plan_id",
    "installment",
    "quantity",
    "unit",
    "amount",
    "owed_after",
    "credit_after",
];

/// One row per line, under a header row; the file is named after the customer and the window.
fn csv_answer(statement: &Statement) -> ApiResult<Response> {
    let mut writer = csv::Writer::from_writer(Vec::new());
    writer.write_record(CSV_HEADER).map_err(ApiError::internal)?;
    for line in &statement.lines {
        let text = |value: &Option<String>| value.clone().unwrap_or_default();
        let record = [
            line.date.to_string(),
            name_of(&line.kind),
            line.paid_for.map(|k| k.as_str().to_owned()).unwrap_or_default(),
            text(&line.payment_id),
            text(&line.provider),
            text(&line.provider_tx_id),
            text(&line.serial),
            text(&line.plan_id),
            line.installment.map(|n| n.to_string()).unwrap_or_default(),
            line.quantity.map(|q| q.normalize().to_string()).unwrap_or_default(),
            line.unit.unwrap_or_default().to_owned(),
            line.amount.normalize().to_string(),
            line.owed_after.normalize().to_string(),
            line.credit_after.normalize().to_string(),
        ];
        writer.write_record(record.iter().map(|field| csv_safe(field))).map_err(ApiError::internal)?;
    }
    let body = writer.into_inner().map_err(ApiError::internal)?;
    let disposition = format!(
        "attachment; filename=\"statement-{}-{}-{}.csv\"",
        statement.customer.id.chars().filter(char::is_ascii_alphanumeric).collect::<String>(),
        statement.from,
        statement.to
    );
    Ok((
        [(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()), (header::CONTENT_DISPOSITION, disposition)],
        body,
    )
        .into_response())
}

/// A field a spreadsheet would read as a formula (`=`, `+`, `-`, `@` first) gets a leading `'`; a
/// negative number stays a number.
fn csv_safe(field: &str) -> String {
    let formula =
        field.starts_with(['=', '+', '@', '\t', '\r']) || (field.starts_with('-') && field.parse::<Decimal>().is_err());
    if formula {
        format!("'{field}")
    } else {
        field.to_owned()
    }
}

/// A unit enum's wire name (`installment_due`).
fn name_of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// The page's only style; the Content-Security-Policy allows exactly it (by its hash) and nothing else.
const STYLE: &str = "body{font-family:sans-serif;max-width:60em;margin:1em auto;padding:0 1em;color:#000}\
h1{font-size:1.3em;margin:0}p.operator{margin:0 0 1em}table{border-collapse:collapse;width:100%}\
th,td{text-align:left;padding:.2em .4em;border-bottom:1px solid #ccc;vertical-align:top}\
td.num{text-align:right}tr.payment td{font-weight:bold}@media print{body{margin:0}}";

/// The printable statement; every value from the database or the settings is escaped.
fn page(state: &AppState, s: &Statement) -> String {
    let currency = s.currency.map(|c| c.to_string()).unwrap_or_default();
    let money = |amount: Decimal| escape(format!("{} {currency}", amount.normalize()).trim());
    let name = format!("{} {}", s.customer.name, s.customer.surname);
    let mut out = String::with_capacity(8192);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str(&format!("<title>Statement {}</title>\n", escape(&name)));
    out.push_str(&format!("<style>{STYLE}</style>\n</head>\n<body>\n"));
    out.push_str(&format!("<h1>{}</h1>\n", escape(&state.operator.name)));
    out.push_str(&format!("<p class=\"operator\">{}</p>\n", escape(&state.operator.address)));
    out.push_str("<h2>Customer statement</h2>\n<table>\n");
    let row = |label: &str, value: &str| format!("<tr><th>{}</th><td>{}</td></tr>\n", escape(label), escape(value));
    out.push_str(&row("Customer", &name));
    out.push_str(&row("Phone", &s.customer.phones.join(", ")));
    out.push_str(&row("Customer id", &s.customer.id));
    out.push_str(&row("Period", &format!("{} to {}", s.from, s.to)));
    out.push_str(&format!(
        "<tr><th>Opening balance</th><td>owed {} (access-rate fees {}), credit {}</td></tr>\n",
        money(s.opening.owed),
        money(s.opening.access_rate),
        money(s.opening.credit)
    ));
    out.push_str(&format!(
        "<tr><th>Closing balance</th><td>owed {} (access-rate fees {}), credit {}</td></tr>\n",
        money(s.closing.owed),
        money(s.closing.access_rate),
        money(s.closing.credit)
    ));
    out.push_str("</table>\n<h2>Lines</h2>\n<table>\n");
    out.push_str("<tr><th>Date</th><th>What</th><th>Amount</th><th>Owed after</th><th>Credit after</th></tr>\n");
    for line in &s.lines {
        let class = if line.kind == StatementKind::Payment { " class=\"payment\"" } else { "" };
        out.push_str(&format!(
            "<tr{class}><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>\n",
            line.date,
            escape(&describe(line)),
            money(line.amount),
            money(line.owed_after),
            money(line.credit_after),
        ));
    }
    out.push_str("</table>\n</body>\n</html>\n");
    out
}

/// A line in words (`Installment 2 of plan P`, `Payment (cash R-1) to SHS-1`).
fn describe(line: &StatementLine) -> String {
    let plan = line.plan_id.as_deref().unwrap_or("");
    let installment = line.installment.map(|n| n.to_string()).unwrap_or_default();
    match (line.kind, line.paid_for) {
        (StatementKind::PlanSold, _) => format!("Plan {plan} sold"),
        (StatementKind::InstallmentDue, _) => format!("Installment {installment} of plan {plan} due"),
        (StatementKind::OpeningPaid, _) => format!("Paid on plan {plan} before micropower"),
        (StatementKind::OpeningCredit, _) => "Credit held before micropower".to_owned(),
        (StatementKind::AccessRateDue, _) => format!("Access-rate fee of {} due", line.serial.as_deref().unwrap_or("")),
        (StatementKind::Payment, _) => {
            let to = line.serial.as_deref().or(line.plan_id.as_deref()).unwrap_or("");
            format!(
                "Payment ({} {}) to {to}",
                line.provider.as_deref().unwrap_or(""),
                line.provider_tx_id.as_deref().unwrap_or("")
            )
        }
        (StatementKind::Allocation, Some(LineKind::Installment)) => {
            format!("paid installment {installment} of plan {plan}")
        }
        (StatementKind::Allocation, Some(LineKind::Credit)) => "added to credit".to_owned(),
        (StatementKind::Allocation, Some(LineKind::CreditUsed)) => "paid from credit".to_owned(),
        (StatementKind::Allocation, Some(kind)) => {
            let what = name_of(&kind).replace('_', " ");
            match (line.quantity, line.unit) {
                (Some(q), Some(unit)) => format!("paid {what}: {} {unit}", q.normalize()),
                _ => format!("paid {what}"),
            }
        }
        (StatementKind::Allocation, None) => "paid".to_owned(),
    }
}
