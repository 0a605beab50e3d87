//! `GET /v1/payments/{payment_id}/receipt`: a payment as a printable HTML page for the customer (issue 16);
//! `GET /v1/agents/{id}/handovers/{handover_id}/receipt`: an agent's cash handover, for the agent and the
//! office (issue 18).

use axum::extract::{Path, State};
use axum::response::Response;

use crate::error::ApiResult;
use crate::html::{escape, grouped_code, printable};
use crate::payments::{JournalLine, TokenAnswer};
use crate::routes::payments::{detail, PaymentDetail};
use crate::state::AppState;
use crate::storage::payments::RecordedBy;

/// The page's only style; the Content-Security-Policy allows exactly it (by its hash) and nothing else.
const STYLE: &str = "body{font-family:sans-serif;max-width:40em;margin:1em auto;padding:0 1em;color:#000}\
h1{font-size:1.3em;margin:0}p.operator{margin:0 0 1em}table{border-collapse:collapse;width:100%}\
th,td{text-align:left;padding:.2em .4em;border-bottom:1px solid #ccc;vertical-align:top}\
td.num{text-align:right}code.token{font-size:1.4em;letter-spacing:.05em}@media print{body{margin:0}}";

/// `GET /v1/payments/{payment_id}/receipt`: `text/html; charset=utf-8`, 404 `not_found` for an unknown id.
pub async fn receipt(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let payment = detail(&state, &id).await?;
    let customer = match &payment.customer_id {
        Some(customer_id) => crate::repo::customer(&state.db.pool, customer_id).await?,
        None => None,
    };
    let customer = customer.map(|c| (c.display_name(), c.phones.first().cloned().unwrap_or_default()));
    let page = page(&state, &payment, customer.as_ref().map(|(name, phone)| (name.as_str(), phone.as_str())));
    Ok(printable(page, STYLE))
}

/// The whole page; every value from the database or the settings is escaped.
fn page(state: &AppState, p: &PaymentDetail, customer: Option<(&str, &str)>) -> String {
    let a = &p.answer;
    let currency = a.currency.to_string();
    let row = |label: &str, value: &str| format!("<tr><th>{}</th><td>{}</td></tr>\n", escape(label), escape(value));
    let mut out = String::with_capacity(4096);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str(&format!("<title>Receipt {}</title>\n", escape(&a.payment_id)));
    out.push_str(&format!("<style>{STYLE}</style>\n</head>\n<body>\n"));
    out.push_str(&format!("<h1>{}</h1>\n", escape(&state.operator.name)));
    out.push_str(&format!("<p class=\"operator\">{}</p>\n", escape(&state.operator.address)));
    out.push_str("<h2>Payment receipt</h2>\n<table>\n");
    let number_label = if p.provider == "cash" { "Receipt number" } else { "Transaction id" };
    out.push_str(&row(number_label, &p.provider_tx_id));
    out.push_str(&row("Provider", &p.provider));
    out.push_str(&row("Received", &received(&p.received_at, state.timezone)));
    if let Some((name, phone)) = customer {
        out.push_str(&row("Customer", name));
        out.push_str(&row("Phone", phone));
    }
    match (&a.serial, &a.plan_id) {
        (Some(serial), _) => out.push_str(&row("Device", serial)),
        (None, Some(plan_id)) => out.push_str(&row("Plan", plan_id)),
        (None, None) => {}
    }
    out.push_str(&row("Amount", &format!("{} {currency}", a.amount)));
    out.push_str(&row("Credit balance after", &format!("{} {currency}", a.credit_balance)));
    if let Some(label) = recorded_by(p.recorded_by.as_ref()) {
        out.push_str(&row("Recorded by", &label));
    }
    out.push_str(&row("Payment id", &a.payment_id));
    out.push_str("</table>\n");
    out.push_str(
        "<h2>Paid for</h2>\n<table>\n<tr><th>What</th><th>Plan</th><th>Installment</th><th>Amount</th></tr>\n",
    );
    for line in &a.allocations {
        out.push_str(&allocation(line, &currency));
    }
    out.push_str("</table>\n");
    if !a.tokens.is_empty() {
        out.push_str("<h2>Tokens</h2>\n<table>\n<tr><th>Code</th><th>For</th></tr>\n");
        for token in &a.tokens {
            out.push_str(&token_row(token));
        }
        out.push_str("</table>\n");
    }
    out.push_str("</body>\n</html>\n");
    out
}

/// `GET /v1/agents/{id}/handovers/{handover_id}/receipt`: `text/html; charset=utf-8`, 404 `not_found` for a
/// line that is not a handover of this agent.
pub async fn handover_receipt(
    State(state): State<AppState>,
    Path((agent_id, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (agent, line) = crate::routes::agents::handover_line(&state, &agent_id, &id).await?;
    let row = |label: &str, value: &str| format!("<tr><th>{}</th><td>{}</td></tr>\n", escape(label), escape(value));
    let mut out = String::with_capacity(2048);
    out.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    out.push_str(&format!("<title>Handover {}</title>\n", escape(&line.id)));
    out.push_str(&format!("<style>{STYLE}</style>\n</head>\n<body>\n"));
    out.push_str(&format!("<h1>{}</h1>\n", escape(&state.operator.name)));
    out.push_str(&format!("<p class=\"operator\">{}</p>\n", escape(&state.operator.address)));
    out.push_str("<h2>Cash handover receipt</h2>\n<table>\n");
    out.push_str(&row("Receipt number", &line.id));
    out.push_str(&row("Agent", &agent.name));
    out.push_str(&row("Agent phone", &agent.phone));
    out.push_str(&row("Amount handed over", &format!("{} {}", line.amount.abs(), line.currency)));
    out.push_str(&row("Received by", line.received_by.as_deref().unwrap_or_default()));
    out.push_str(&row("Recorded", &received(&line.created_at, state.timezone)));
    out.push_str("</table>\n</body>\n</html>\n");
    Ok(printable(out, STYLE))
}

/// When the money was received, in the operator's time zone; the stored text when it cannot be read.
pub(crate) fn received(at: &str, timezone: chrono_tz::Tz) -> String {
    match chrono::DateTime::parse_from_rfc3339(at) {
        Ok(t) => t.with_timezone(&timezone).format("%Y-%m-%d %H:%M %Z").to_string(),
        Err(_) => at.to_owned(),
    }
}

fn recorded_by(by: Option<&RecordedBy>) -> Option<String> {
    match by? {
        RecordedBy::Key { label, .. } if !label.trim().is_empty() => Some(label.clone()),
        RecordedBy::Key { .. } => None,
        RecordedBy::Provider { provider } => Some(provider.clone()),
    }
}

/// A snake_case name of the API (`access_rate`) as words (`access rate`).
fn words<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s.replace('_', " "),
        _ => String::new(),
    }
}

fn allocation(line: &JournalLine, currency: &str) -> String {
    format!(
        "<tr><td>{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>\n",
        escape(&words(&line.kind)),
        escape(line.plan_id.as_deref().unwrap_or("")),
        line.installment.map(|n| n.to_string()).unwrap_or_default(),
        escape(&format!("{} {currency}", line.amount)),
    )
}

fn token_row(token: &TokenAnswer) -> String {
    let code = match &token.code {
        Some(code) => format!("<code class=\"token\">{}</code>", escape(&grouped_code(code))),
        None => "pending".to_owned(),
    };
    let what = match (token.quantity, token.unit) {
        (Some(q), Some(unit)) => format!("{} {q} {}", words(&token.kind), words(&unit)),
        _ => words(&token.kind),
    };
    format!("<tr><td>{code}</td><td>{}</td></tr>\n", escape(&what))
}
