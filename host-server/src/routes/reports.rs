//! Reports (domain.md §7), computed by the core over the same records the export writes.

use axum::extract::{Query, State};
use axum::Json;
use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::records;
use crate::state::AppState;

/// Query of the report endpoints; each uses the fields it needs.
#[derive(Deserialize)]
pub struct ReportQuery {
    from: Option<NaiveDate>,
    to: Option<NaiveDate>,
    group_by: Option<String>,
    by: Option<String>,
    currency: Option<String>,
    as_of: Option<NaiveDate>,
    days: Option<u32>,
}

fn currency_or(q: &ReportQuery, found: Option<String>) -> ApiResult<String> {
    q.currency
        .clone()
        .or(found)
        .ok_or_else(|| ApiError::invalid("currency", "no data yet: name a currency with ?currency="))
}

fn window(state: &AppState, q: &ReportQuery) -> ApiResult<(NaiveDate, NaiveDate)> {
    let to = q.to.unwrap_or_else(|| state.today());
    let from = q.from.unwrap_or_else(|| to - chrono::Days::new(365));
    if from > to {
        return Err(ApiError::invalid("from", "from must not be after to"));
    }
    Ok((from, to))
}

/// `GET /v1/reports/revenue?from&to&group_by=day|week|month&by=cluster|area|village|kind&currency`
pub async fn revenue(State(state): State<AppState>, Query(q): Query<ReportQuery>) -> ApiResult<Json<Value>> {
    let locations = records::customer_locations(&state.db.pool).await?;
    let payments = records::payments(&state.db.pool, &locations, state.timezone).await?;
    let currency = currency_or(&q, records::only_currency(payments.iter())?)?;
    let (from, to) = window(&state, &q)?;
    let args = json!({
        "payments": payments, "currency": currency, "from": from, "to": to,
        "group_by": q.group_by.as_deref().unwrap_or("month"), "by": q.by.as_deref().unwrap_or("none"),
    });
    Ok(Json(state.core("revenue_report", &args)?))
}

/// `GET /v1/reports/energy?from&to&group_by`
pub async fn energy(State(state): State<AppState>, Query(q): Query<ReportQuery>) -> ApiResult<Json<Value>> {
    let locations = records::customer_locations(&state.db.pool).await?;
    let payments = records::payments(&state.db.pool, &locations, state.timezone).await?;
    let (from, to) = window(&state, &q)?;
    let args = json!({
        "payments": payments, "currency": q.currency, "from": from, "to": to,
        "group_by": q.group_by.as_deref().unwrap_or("month"),
    });
    Ok(Json(state.core("energy_sold", &args)?))
}

/// What is owed: every installment, and every meter's access-rate account as stored (the core accrues it up
/// to the report's day, so debt no payment has touched yet is owed too), with the report's currency.
async fn debts(state: &AppState, q: &ReportQuery) -> ApiResult<(Vec<Value>, Vec<Value>, String)> {
    let locations = records::customer_locations(&state.db.pool).await?;
    let installments = records::installments(&state.db.pool, &locations).await?;
    let access_rates = records::access_rates(&state.db.pool, &locations).await?;
    let currency = currency_or(q, records::only_currency(installments.iter().chain(&access_rates))?)?;
    Ok((installments, access_rates, currency))
}

/// `GET /v1/reports/debt?as_of&currency`: aging buckets of what is owed, and the access-rate line.
pub async fn debt(State(state): State<AppState>, Query(q): Query<ReportQuery>) -> ApiResult<Json<Value>> {
    let (installments, access_rates, currency) = debts(&state, &q).await?;
    let args = json!({
        "installments": installments, "access_rates": access_rates, "currency": currency,
        "as_of": q.as_of.unwrap_or_else(|| state.today()),
    });
    Ok(Json(state.core("debt_aging", &args)?))
}

/// `GET /v1/reports/par?days=30&as_of&currency`
pub async fn par(State(state): State<AppState>, Query(q): Query<ReportQuery>) -> ApiResult<Json<Value>> {
    let (installments, access_rates, currency) = debts(&state, &q).await?;
    let args = json!({
        "installments": installments, "access_rates": access_rates, "currency": currency,
        "as_of": q.as_of.unwrap_or_else(|| state.today()), "days": q.days.unwrap_or(30),
    });
    Ok(Json(state.core("portfolio_at_risk", &args)?))
}

/// `GET /v1/reports/collection?from&to&currency`
pub async fn collection(State(state): State<AppState>, Query(q): Query<ReportQuery>) -> ApiResult<Json<Value>> {
    let locations = records::customer_locations(&state.db.pool).await?;
    let installments = records::installments(&state.db.pool, &locations).await?;
    let currency = currency_or(&q, records::only_currency(installments.iter())?)?;
    let (from, to) = window(&state, &q)?;
    let args = json!({"installments": installments, "currency": currency, "from": from, "to": to});
    Ok(Json(state.core("collection_rate", &args)?))
}
