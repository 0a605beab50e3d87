//! Reports (domain.md §7), computed by the core over the same records the export writes.

use axum::extract::{Query, State};
use axum::Json;
use chrono::NaiveDate;
use micropower_core::api::{AccessRateRecord, InstallmentRecord, PaymentRecord};
use micropower_core::calls;
use micropower_core::report::{CollectionRate, DebtAging, EnergySold, PortfolioAtRisk, RevenueReport};
use serde::de::{DeserializeOwned, IntoDeserializer};
use serde::Deserialize;

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

/// A query value that names one of an enum's cases (`group_by=week`), or `default` when absent.
fn choice<T: DeserializeOwned>(field: &str, text: Option<&str>, default: &str) -> ApiResult<T> {
    T::deserialize(text.unwrap_or(default).into_deserializer())
        .map_err(|e: serde::de::value::Error| ApiError::invalid(field, e.to_string()))
}

/// The core's records of the export's payment lines.
async fn payment_records(state: &AppState) -> ApiResult<Vec<PaymentRecord>> {
    let locations = records::customer_locations(&state.db.pool).await?;
    let payments = records::payments(&state.db.pool, &locations, state.timezone).await?;
    Ok(payments.into_iter().map(|p| p.record).collect())
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
pub async fn revenue(State(state): State<AppState>, Query(q): Query<ReportQuery>) -> ApiResult<Json<RevenueReport>> {
    let payments = payment_records(&state).await?;
    let currency = currency_or(&q, records::only_currency(payments.iter().map(|p| p.currency))?)?;
    let (from, to) = window(&state, &q)?;
    let group_by = choice("group_by", q.group_by.as_deref(), "month")?;
    let by = choice("by", q.by.as_deref(), "none")?;
    Ok(Json(state.core(calls::RevenueReport { payments, currency, from, to, group_by, by }).await?))
}

/// `GET /v1/reports/energy?from&to&group_by`
pub async fn energy(State(state): State<AppState>, Query(q): Query<ReportQuery>) -> ApiResult<Json<EnergySold>> {
    let payments = payment_records(&state).await?;
    let (from, to) = window(&state, &q)?;
    let group_by = choice("group_by", q.group_by.as_deref(), "month")?;
    Ok(Json(state.core(calls::EnergySold { payments, currency: q.currency, from, to, group_by }).await?))
}

/// What is owed: every installment, and every meter's access-rate account as stored (the core accrues it up
/// to the report's day, so debt no payment has touched yet is owed too), with the report's currency.
async fn debts(
    state: &AppState,
    q: &ReportQuery,
) -> ApiResult<(Vec<InstallmentRecord>, Vec<AccessRateRecord>, String)> {
    let locations = records::customer_locations(&state.db.pool).await?;
    let installments = records::installments(&state.db.pool, &locations).await?;
    let access_rates = records::access_rates(&state.db.pool, &locations).await?;
    let owed = installments.iter().map(|i| i.currency).chain(access_rates.iter().map(|a| a.currency));
    let currency = currency_or(q, records::only_currency(owed)?)?;
    Ok((installments, access_rates, currency))
}

/// `GET /v1/reports/debt?as_of&currency`: aging buckets of what is owed, and the access-rate line.
pub async fn debt(State(state): State<AppState>, Query(q): Query<ReportQuery>) -> ApiResult<Json<DebtAging>> {
    let (installments, access_rates, currency) = debts(&state, &q).await?;
    let as_of = q.as_of.unwrap_or_else(|| state.today());
    Ok(Json(state.core(calls::DebtAging { installments, access_rates, currency, as_of }).await?))
}

/// `GET /v1/reports/par?days=30&as_of&currency`
pub async fn par(State(state): State<AppState>, Query(q): Query<ReportQuery>) -> ApiResult<Json<PortfolioAtRisk>> {
    let (installments, access_rates, currency) = debts(&state, &q).await?;
    let as_of = q.as_of.unwrap_or_else(|| state.today());
    let days = q.days.unwrap_or(30);
    Ok(Json(state.core(calls::PortfolioAtRisk { installments, access_rates, currency, as_of, days }).await?))
}

/// `GET /v1/reports/collection?from&to&currency`
pub async fn collection(
    State(state): State<AppState>,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Json<CollectionRate>> {
    let locations = records::customer_locations(&state.db.pool).await?;
    let installments = records::installments(&state.db.pool, &locations).await?;
    let currency = currency_or(&q, records::only_currency(installments.iter().map(|i| i.currency))?)?;
    let (from, to) = window(&state, &q)?;
    Ok(Json(state.core(calls::CollectionRate { installments, currency, from, to }).await?))
}
