//! Reports (domain.md §7), computed by the core over the same records the export writes, read and folded in
//! page by page so that neither the server's memory nor one core call grows with the history.

use axum::extract::{Query, State};
use axum::Json;
use chrono::NaiveDate;
use micropower_core::api::{AccessRateRecord, Currency, GroupBy, Hierarchy, InstallmentRecord, PaymentRecord};
use micropower_core::calls::{self, CoreFn};
use micropower_core::report::{CollectionRate, DebtAging, EnergySold, GroupedReport, PortfolioAtRisk, RevenueReport};
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

/// The report's currency: the query's, else the only one the records hold. `stored` reads the records'
/// currencies; it runs only when the query names none (a `DISTINCT` over every payment is a full read).
async fn report_currency(
    q: &ReportQuery,
    stored: impl std::future::Future<Output = ApiResult<Vec<Currency>>>,
) -> ApiResult<String> {
    if let Some(currency) = &q.currency {
        return Ok(currency.clone());
    }
    records::only_currency(stored.await?.into_iter())?
        .ok_or_else(|| ApiError::invalid("currency", "no data yet: name a currency with ?currency="))
}

/// A query value that names one of an enum's cases (`group_by=week`), or `default` when absent.
fn choice<T: DeserializeOwned>(field: &str, text: Option<&str>, default: &str) -> ApiResult<T> {
    T::deserialize(text.unwrap_or(default).into_deserializer())
        .map_err(|e: serde::de::value::Error| ApiError::invalid(field, e.to_string()))
}

/// A report over every payment record, folded in page by page: the core continues the report of the
/// pages before (`so_far`) with each page, so the server holds one page and the report, never the whole
/// history, and no single core call grows with it. `call` makes the core call for a page.
async fn over_payments<F: CoreFn>(
    state: &AppState,
    call: impl Fn(Vec<PaymentRecord>, Option<F::Output>) -> F,
) -> ApiResult<F::Output> {
    let locations = records::customer_locations(&state.db.pool).await?;
    let (mut after, mut so_far) = (None, None);
    loop {
        let (page, next) = records::payments_page(&state.db.pool, &locations, state.timezone, after.as_ref()).await?;
        let report = state.core(call(page.into_iter().map(|p| p.record).collect(), so_far.take())).await?;
        match next {
            Some(key) => (after, so_far) = (Some(key), Some(report)),
            None => return Ok(report),
        }
    }
}

/// A report over what is owed, folded in as [`over_payments`] does: installment plans page by page (a page
/// holds whole plans, which PAR needs), then, when `with_meters`, the meters' access-rate accounts.
async fn over_debts<F: CoreFn>(
    state: &AppState,
    with_meters: bool,
    call: impl Fn(Vec<InstallmentRecord>, Vec<AccessRateRecord>, Option<F::Output>) -> F,
) -> ApiResult<F::Output> {
    let pool = &state.db.pool;
    let locations = records::customer_locations(pool).await?;
    let (mut after_plan, mut so_far) = (None, None);
    loop {
        let (page, next) = records::installments_page(pool, &locations, after_plan.as_ref()).await?;
        let report = state.core(call(page, Vec::new(), so_far.take())).await?;
        so_far = Some(report);
        match next {
            Some(key) => after_plan = Some(key),
            None => break,
        }
    }
    if with_meters {
        let mut after_serial: Option<String> = None;
        loop {
            let (page, next) = records::access_rates_page(pool, &locations, after_serial.as_deref()).await?;
            // A page of devices without an access rate holds no record: nothing to fold in.
            if !page.is_empty() {
                so_far = Some(state.core(call(Vec::new(), page, so_far.take())).await?);
            }
            match next {
                Some(key) => after_serial = Some(key),
                None => break,
            }
        }
    }
    so_far.ok_or_else(|| ApiError::internal("a report folded no page"))
}

/// The registry that names a report's groups: read only when the report is split by place (the core names
/// nothing else), so an ungrouped report does not read the registry.
async fn names_for(state: &AppState, by: GroupBy) -> ApiResult<Hierarchy> {
    match by {
        GroupBy::Cluster | GroupBy::Area | GroupBy::Village => records::names(&state.db.pool).await,
        GroupBy::Kind | GroupBy::None => Ok(Hierarchy::default()),
    }
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
    let currency = report_currency(&q, records::payment_currencies(&state.db.pool)).await?;
    let (from, to) = window(&state, &q)?;
    let group_by = choice("group_by", q.group_by.as_deref(), "month")?;
    let by = choice("by", q.by.as_deref(), "none")?;
    let names = names_for(&state, by).await?;
    let report = over_payments(&state, |payments, so_far| calls::RevenueReport {
        payments,
        currency: currency.clone(),
        from,
        to,
        group_by,
        by,
        so_far,
        names: names.clone(),
    });
    Ok(Json(report.await?))
}

/// `GET /v1/reports/energy?from&to&group_by`
pub async fn energy(State(state): State<AppState>, Query(q): Query<ReportQuery>) -> ApiResult<Json<EnergySold>> {
    let (from, to) = window(&state, &q)?;
    let group_by = choice("group_by", q.group_by.as_deref(), "month")?;
    let report = over_payments(&state, |payments, so_far| calls::EnergySold {
        payments,
        currency: q.currency.clone(),
        from,
        to,
        group_by,
        so_far,
    });
    Ok(Json(report.await?))
}

/// The currency of a report over what is owed: the query's, or the only one the installment plans (and,
/// `with_meters`, the access-rate tariffs in use) hold.
async fn debt_currency(state: &AppState, q: &ReportQuery, with_meters: bool) -> ApiResult<String> {
    let owed = async {
        let mut owed = records::installment_currencies(&state.db.pool).await?;
        if with_meters {
            owed.extend(records::access_rate_currencies(&state.db.pool).await?);
        }
        Ok(owed)
    };
    report_currency(q, owed).await
}

/// `GET /v1/reports/debt?as_of&currency&by=cluster|area|village`: aging buckets of what is owed, and the
/// access-rate line; split `by` a place, also each group's (`groups: [{group: {id, name}, …}]`).
pub async fn debt(
    State(state): State<AppState>,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Json<GroupedReport<DebtAging>>> {
    let currency = debt_currency(&state, &q, true).await?;
    let as_of = q.as_of.unwrap_or_else(|| state.today());
    let by = choice("by", q.by.as_deref(), "none")?;
    let names = names_for(&state, by).await?;
    let report = over_debts(&state, true, |installments, access_rates, so_far| calls::DebtAging {
        installments,
        access_rates,
        currency: currency.clone(),
        as_of,
        so_far,
        by,
        names: names.clone(),
    });
    Ok(Json(report.await?))
}

/// `GET /v1/reports/par?days=30&as_of&currency&by=cluster|area|village`
pub async fn par(
    State(state): State<AppState>,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Json<GroupedReport<PortfolioAtRisk>>> {
    let currency = debt_currency(&state, &q, true).await?;
    let as_of = q.as_of.unwrap_or_else(|| state.today());
    let days = q.days.unwrap_or(30);
    let by = choice("by", q.by.as_deref(), "none")?;
    let names = names_for(&state, by).await?;
    let report = over_debts(&state, true, |installments, access_rates, so_far| calls::PortfolioAtRisk {
        installments,
        access_rates,
        currency: currency.clone(),
        as_of,
        days,
        so_far,
        by,
        names: names.clone(),
    });
    Ok(Json(report.await?))
}

/// `GET /v1/reports/collection?from&to&currency&by=cluster|area|village`
pub async fn collection(
    State(state): State<AppState>,
    Query(q): Query<ReportQuery>,
) -> ApiResult<Json<GroupedReport<CollectionRate>>> {
    let currency = debt_currency(&state, &q, false).await?;
    let (from, to) = window(&state, &q)?;
    let by = choice("by", q.by.as_deref(), "none")?;
    let names = names_for(&state, by).await?;
    let report = over_debts(&state, false, |installments, _, so_far| calls::CollectionRate {
        installments,
        currency: currency.clone(),
        from,
        to,
        so_far,
        by,
        names: names.clone(),
    });
    Ok(Json(report.await?))
}
