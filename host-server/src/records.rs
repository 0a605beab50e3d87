//! The records of the export (`micropower_core::export`), read from the database. The reports read the same
//! records (`report::PaymentRecord`, `report::InstallmentRecord`, `report::AccessRateRecord`), so an
//! analyst's reports equal the server's.

use std::collections::HashMap;

use chrono::NaiveDate;
use micropower_core::api::{
    AccessRateRecord, AccessRateState, AllocationKind, AllocationLine, CatchmentArea, Cluster, Currency, Customer,
    DeviceKind, Hierarchy, InstallmentPlan, InstallmentRecord, Location, PaymentRecord, Tariff, Village,
};
use micropower_core::export::{
    ExportDevice, ExportLine, ExportPayment, ExportPlan, ExportToken, NamedTariff, PaymentDetails,
};
use rust_decimal::Decimal;
use sqlx::AnyPool;

use crate::error::{ApiError, ApiResult};
use crate::payments::{LineKind, PaymentStatus, QuantityUnit, TokenKind, TokenStatus};
use crate::repo::StoredAccess;
use crate::storage::column::Text;

/// A customer's place.
#[derive(sqlx::FromRow)]
struct CustomerLocation {
    customer_id: String,
    village_id: String,
    area_id: String,
    cluster_id: String,
}

/// Every customer's location (village → area → cluster).
pub async fn customer_locations(pool: &AnyPool) -> ApiResult<HashMap<String, Location>> {
    let rows: Vec<CustomerLocation> = sqlx::query_as(
        "SELECT c.id AS customer_id, v.id AS village_id, a.id AS area_id, a.cluster_id AS cluster_id \
         FROM customers c JOIN villages v ON v.id = c.village_id JOIN areas a ON a.id = v.area_id",
    )
    .fetch_all(pool)
    .await?;
    let places = rows
        .into_iter()
        .map(|r| (r.customer_id, Location { cluster_id: r.cluster_id, area_id: r.area_id, village_id: r.village_id }));
    Ok(places.collect())
}

/// A row of a payment's journal.
#[derive(sqlx::FromRow)]
struct JournalRow {
    payment_id: String,
    #[sqlx(try_from = "Text<LineKind>")]
    kind: LineKind,
    #[sqlx(try_from = "Text<Decimal>")]
    amount: Decimal,
    plan_id: Option<String>,
    installment: Option<i64>,
    #[sqlx(try_from = "Text<Option<Decimal>>")]
    quantity: Option<Decimal>,
}

/// An applied payment with its device's kind.
#[derive(sqlx::FromRow)]
struct PaymentRow {
    id: String,
    provider: String,
    provider_tx_id: String,
    serial: Option<String>,
    plan_id: Option<String>,
    customer_id: Option<String>,
    #[sqlx(try_from = "Text<Decimal>")]
    amount: Decimal,
    #[sqlx(try_from = "Text<Currency>")]
    currency: Currency,
    received_at: String,
    #[sqlx(try_from = "Text<PaymentStatus>")]
    status: PaymentStatus,
    #[sqlx(try_from = "Text<Option<DeviceKind>>")]
    device_kind: Option<DeviceKind>,
    created_at: String,
}

/// The allocation kind of a journal line that is one of the payment's allocation lines (not credit).
fn allocation_kind(kind: LineKind) -> Option<AllocationKind> {
    match kind {
        LineKind::Installment => Some(AllocationKind::Installment),
        LineKind::AccessRate => Some(AllocationKind::AccessRate),
        LineKind::Energy => Some(AllocationKind::Energy),
        LineKind::Eaas => Some(AllocationKind::Eaas),
        LineKind::Credit | LineKind::CreditUsed => None,
    }
}

/// A payment's allocation lines and the credit it added and used.
#[derive(Default)]
struct Journal {
    lines: Vec<AllocationLine>,
    credit_added: Decimal,
    credit_used: Decimal,
}

/// How many rows a paged read takes per query: memory stays bounded whatever the table's size.
pub const PAGE_ROWS: i64 = 1000;

/// Where a paged read resumes: the sort key and id of the last row read.
pub type After = (String, String);

/// One payment record per payment, oldest first: the core's `PaymentRecord` with the rest of the payment, its
/// `received_on` the business day of its instant in `zone`. Up to [`PAGE_ROWS`] after `after` (`created_at`,
/// `id`), and where the next page starts (`None` after the last).
pub async fn payments_page(
    pool: &AnyPool,
    locations: &HashMap<String, Location>,
    zone: chrono_tz::Tz,
    after: Option<&After>,
) -> ApiResult<(Vec<ExportPayment>, Option<After>)> {
    let filter = if after.is_some() { "WHERE (p.created_at, p.id) > ($1, $2)" } else { "" };
    let page = format!("SELECT p.id FROM payments p {filter} ORDER BY p.created_at, p.id LIMIT {PAGE_ROWS}");
    let lines_sql = format!(
        "SELECT payment_id, kind, amount, plan_id, installment, quantity FROM allocations \
         WHERE payment_id IN ({page}) ORDER BY payment_id, line_no"
    );
    let mut lines_query = sqlx::query_as::<_, JournalRow>(&lines_sql);
    if let Some((created_at, id)) = after {
        lines_query = lines_query.bind(created_at).bind(id);
    }
    let lines: Vec<JournalRow> = lines_query.fetch_all(pool).await?;
    let mut by_payment: HashMap<String, Journal> = HashMap::new();
    for r in lines {
        let journal = by_payment.entry(r.payment_id).or_default();
        match (r.kind, allocation_kind(r.kind)) {
            (LineKind::Credit, _) => journal.credit_added = r.amount,
            (LineKind::CreditUsed, _) => journal.credit_used = r.amount,
            (_, Some(kind)) => {
                let installment = r
                    .installment
                    .map(u32::try_from)
                    .transpose()
                    .map_err(|e| ApiError::internal(format!("installment number: {e}")))?;
                journal.lines.push(AllocationLine {
                    kind,
                    amount: r.amount,
                    plan_id: r.plan_id,
                    installment,
                    quantity: r.quantity,
                });
            }
            (_, None) => {}
        }
    }
    // A payment to a device-less plan has no device (serial ''): no device kind, and the plan it paid.
    let rows_sql = format!(
        "SELECT p.id, p.provider, p.provider_tx_id, NULLIF(p.serial, '') AS serial, p.plan_id, p.customer_id, \
         p.amount, p.currency, p.received_at, p.status, d.kind AS device_kind, p.created_at \
         FROM payments p LEFT JOIN devices d ON d.serial = p.serial {filter} ORDER BY p.created_at, p.id \
         LIMIT {PAGE_ROWS}"
    );
    let mut rows_query = sqlx::query_as::<_, PaymentRow>(&rows_sql);
    if let Some((created_at, id)) = after {
        rows_query = rows_query.bind(created_at).bind(id);
    }
    let rows: Vec<PaymentRow> = rows_query.fetch_all(pool).await?;
    let next = next_page(&rows, |r| (r.created_at.clone(), r.id.clone()));
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let received_on = chrono::DateTime::parse_from_rfc3339(&r.received_at)
            .map(|t| crate::ids::business_day(&t, zone))
            .map_err(|e| ApiError::internal(format!("payment {} received_at: {e}", r.id)))?;
        let journal = by_payment.remove(&r.id).unwrap_or_default();
        // Every payment names a customer with a village: a device payment its owner, a plan payment the
        // plan's customer.
        let location = r
            .customer_id
            .as_ref()
            .and_then(|c| locations.get(c))
            .cloned()
            .ok_or_else(|| ApiError::internal(format!("payment {} has no customer location", r.id)))?;
        out.push(ExportPayment {
            record: PaymentRecord {
                payment_id: r.id,
                received_on,
                currency: r.currency,
                device_kind: r.device_kind,
                location,
                lines: journal.lines,
            },
            details: PaymentDetails {
                serial: r.serial,
                plan_id: r.plan_id,
                amount: Some(r.amount),
                provider: Some(r.provider),
                provider_tx_id: Some(r.provider_tx_id),
                received_at: Some(r.received_at),
                customer_id: r.customer_id,
                status: Some(r.status.as_str().to_owned()),
                credit_added: Some(journal.credit_added),
                credit_used: Some(journal.credit_used),
            },
        });
    }
    Ok((out, next))
}

/// The key of the next page: the last row's, when the page is full.
fn next_page<R>(rows: &[R], key: impl Fn(&R) -> After) -> Option<After> {
    let full = i64::try_from(rows.len()).is_ok_and(|n| n >= PAGE_ROWS);
    rows.last().filter(|_| full).map(key)
}

/// Where a read of plans resumes: the last plan's `seq` and id.
pub type AfterPlan = (i64, String);

/// One installment record per installment of every installment plan (the core's `InstallmentRecord`): those
/// of up to [`PAGE_ROWS`] plans after `after`, and where the next page starts. A page holds whole plans.
pub async fn installments_page(
    pool: &AnyPool,
    locations: &HashMap<String, Location>,
    after: Option<&AfterPlan>,
) -> ApiResult<(Vec<InstallmentRecord>, Option<AfterPlan>)> {
    let filter = if after.is_some() { "AND (seq, id) > ($1, $2)" } else { "" };
    let sql = format!(
        "SELECT customer_id, body, seq, id FROM plans WHERE kind = 'installments' {filter} ORDER BY seq, id \
         LIMIT {PAGE_ROWS}"
    );
    let mut query = sqlx::query_as::<_, (String, Text<InstallmentPlan>, i64, String)>(&sql);
    if let Some((seq, id)) = after {
        query = query.bind(*seq).bind(id);
    }
    let rows = query.fetch_all(pool).await?;
    let full = i64::try_from(rows.len()).is_ok_and(|n| n >= PAGE_ROWS);
    let next = rows.last().filter(|_| full).map(|(_, _, seq, id)| (*seq, id.clone()));
    let mut out = Vec::new();
    for (customer, plan, _, _) in rows {
        let plan: InstallmentPlan = plan.into();
        for i in &plan.installments {
            out.push(InstallmentRecord {
                plan_id: plan.id.clone(),
                customer_id: customer.clone(),
                currency: plan.currency,
                location: locations.get(&customer).cloned(),
                number: i.number,
                due_date: i.due_date,
                amount: i.amount.normalize(),
                paid: i.paid.normalize(),
            });
        }
    }
    Ok((out, next))
}

/// A meter's access-rate account with its tariff.
#[derive(sqlx::FromRow)]
struct MeterAccount {
    serial: String,
    owner_id: Option<String>,
    #[sqlx(try_from = "Text<NaiveDate>")]
    registered_on: NaiveDate,
    #[sqlx(flatten, try_from = "StoredAccess")]
    access: AccessRateState,
    #[sqlx(try_from = "Text<Tariff>")]
    tariff: Tariff,
}

/// One access-rate record per meter whose tariff charges an access rate: the core's `AccessRateRecord`, the
/// account as stored at the meter's last payment. Reports accrue it up to their own day (the core does);
/// nothing here writes.
/// Those of up to [`PAGE_ROWS`] devices with a tariff after serial `after`, and the serial the next page
/// starts after.
pub async fn access_rates_page(
    pool: &AnyPool,
    locations: &HashMap<String, Location>,
    after: Option<&str>,
) -> ApiResult<(Vec<AccessRateRecord>, Option<String>)> {
    let filter = if after.is_some() { "WHERE d.serial > $1" } else { "" };
    let sql = format!(
        "SELECT d.serial, d.owner_id, d.registered_on, d.access_accrued_periods, d.access_debt, t.body AS tariff \
         FROM devices d JOIN tariffs t ON t.id = d.tariff_id {filter} ORDER BY d.serial LIMIT {PAGE_ROWS}"
    );
    let mut query = sqlx::query_as::<_, MeterAccount>(&sql);
    if let Some(serial) = after {
        query = query.bind(serial);
    }
    let rows: Vec<MeterAccount> = query.fetch_all(pool).await?;
    let next = next_key(&rows, |r| r.serial.clone());
    let mut out = Vec::new();
    for r in rows {
        let Some(rate) = r.tariff.access_rate else { continue };
        out.push(AccessRateRecord {
            location: r.owner_id.as_ref().and_then(|o| locations.get(o)).cloned(),
            serial: r.serial,
            customer_id: r.owner_id,
            currency: r.tariff.currency,
            registered_on: r.registered_on,
            rate,
            state: r.access,
        });
    }
    Ok((out, next))
}

/// The key of the next page of a table read by one text key: the last row's, when the page is full.
fn next_key<R>(rows: &[R], key: impl Fn(&R) -> String) -> Option<String> {
    let full = i64::try_from(rows.len()).is_ok_and(|n| n >= PAGE_ROWS);
    rows.last().filter(|_| full).map(key)
}

/// The one currency the records use, for reports asked without `currency`.
pub fn only_currency(mut currencies: impl Iterator<Item = Currency>) -> ApiResult<Option<String>> {
    let Some(first) = currencies.next() else { return Ok(None) };
    if currencies.any(|c| c != first) {
        return Err(ApiError::invalid("currency", "the data holds several currencies: name one with ?currency="));
    }
    Ok(Some(first.code().to_owned()))
}

/// The currencies of the payment records (of [`payments_page`]).
pub async fn payment_currencies(pool: &AnyPool) -> ApiResult<Vec<Currency>> {
    let rows: Vec<(Text<Currency>,)> = sqlx::query_as("SELECT DISTINCT currency FROM payments").fetch_all(pool).await?;
    Ok(rows.into_iter().map(|(c,)| c.into()).collect())
}

/// The currencies of the installment records (of [`installments_page`]).
pub async fn installment_currencies(pool: &AnyPool) -> ApiResult<Vec<Currency>> {
    let rows: Vec<(Text<Currency>,)> =
        sqlx::query_as("SELECT DISTINCT currency FROM plans WHERE kind = 'installments'").fetch_all(pool).await?;
    Ok(rows.into_iter().map(|(c,)| c.into()).collect())
}

/// The currencies of the access-rate records (of [`access_rates_page`]): those of the tariffs in use that
/// charge an access rate.
pub async fn access_rate_currencies(pool: &AnyPool) -> ApiResult<Vec<Currency>> {
    let rows: Vec<(Text<Tariff>,)> =
        sqlx::query_as("SELECT body FROM tariffs WHERE id IN (SELECT tariff_id FROM devices)").fetch_all(pool).await?;
    let tariffs = rows.into_iter().map(|(t,)| Tariff::from(t));
    Ok(tariffs.filter(|t| t.access_rate.is_some()).map(|t| t.currency).collect())
}

/// The registry's clusters, areas and villages: what names the groups of a report split by place.
pub async fn names(pool: &AnyPool) -> ApiResult<Hierarchy> {
    let clusters: Vec<(String, String)> =
        sqlx::query_as("SELECT id, name FROM clusters ORDER BY id").fetch_all(pool).await?;
    let areas: Vec<(String, String, String)> =
        sqlx::query_as("SELECT id, name, cluster_id FROM areas ORDER BY id").fetch_all(pool).await?;
    let villages: Vec<(String, String, String)> =
        sqlx::query_as("SELECT id, name, area_id FROM villages ORDER BY id").fetch_all(pool).await?;
    Ok(Hierarchy {
        clusters: clusters.into_iter().map(|(id, name)| Cluster { id, name }).collect(),
        areas: areas.into_iter().map(|(id, name, cluster_id)| CatchmentArea { id, name, cluster_id }).collect(),
        villages: villages.into_iter().map(|(id, name, area_id)| Village { id, name, area_id }).collect(),
    })
}

/// The registry's clusters, areas and villages, as export lines.
pub async fn places(pool: &AnyPool) -> ApiResult<Vec<ExportLine>> {
    let names = names(pool).await?;
    let clusters = names.clusters.into_iter().map(ExportLine::Cluster);
    let areas = names.areas.into_iter().map(ExportLine::Area);
    let villages = names.villages.into_iter().map(ExportLine::Village);
    Ok(clusters.chain(areas).chain(villages).collect())
}

/// Up to [`PAGE_ROWS`] customers as the core stores them, by id after `after`, and the id the next page
/// starts after.
pub async fn customers_page(pool: &AnyPool, after: Option<&str>) -> ApiResult<(Vec<Customer>, Option<String>)> {
    let filter = if after.is_some() { "WHERE id > $1" } else { "" };
    let sql = format!("SELECT id, body FROM customers {filter} ORDER BY id LIMIT {PAGE_ROWS}");
    let mut query = sqlx::query_as::<_, (String, Text<Customer>)>(&sql);
    if let Some(id) = after {
        query = query.bind(id);
    }
    let rows = query.fetch_all(pool).await?;
    let next = next_key(&rows, |(id, _)| id.clone());
    Ok((rows.into_iter().map(|(_, c)| Customer::from(c)).collect(), next))
}

/// Every tariff with the server's id and name.
pub async fn tariffs(pool: &AnyPool) -> ApiResult<Vec<NamedTariff>> {
    let rows: Vec<(String, String, Text<Tariff>)> =
        sqlx::query_as("SELECT id, name, body FROM tariffs ORDER BY id").fetch_all(pool).await?;
    let named = rows.into_iter().map(|(id, name, tariff)| {
        let tariff = Tariff { id: Some(id), ..tariff.into() };
        NamedTariff { name: Some(name), tariff }
    });
    Ok(named.collect())
}

/// A device row of the export.
#[derive(sqlx::FromRow)]
struct DeviceLine {
    serial: String,
    #[sqlx(try_from = "Text<DeviceKind>")]
    kind: DeviceKind,
    owner_id: Option<String>,
    tariff_id: Option<String>,
    plan_id: Option<String>,
    #[sqlx(try_from = "Text<NaiveDate>")]
    registered_on: NaiveDate,
}

/// Up to [`PAGE_ROWS`] devices by serial after `after`, with where their owner lives, and the serial the
/// next page starts after.
pub async fn devices_page(
    pool: &AnyPool,
    locations: &HashMap<String, Location>,
    after: Option<&str>,
) -> ApiResult<(Vec<ExportDevice>, Option<String>)> {
    let filter = if after.is_some() { "WHERE serial > $1" } else { "" };
    let sql = format!(
        "SELECT serial, kind, owner_id, tariff_id, plan_id, registered_on FROM devices {filter} ORDER BY serial \
         LIMIT {PAGE_ROWS}"
    );
    let mut query = sqlx::query_as::<_, DeviceLine>(&sql);
    if let Some(serial) = after {
        query = query.bind(serial);
    }
    let rows: Vec<DeviceLine> = query.fetch_all(pool).await?;
    let next = next_key(&rows, |r| r.serial.clone());
    let devices = rows.into_iter().map(|r| ExportDevice {
        location: r.owner_id.as_ref().and_then(|o| locations.get(o)).cloned(),
        serial: r.serial,
        kind: r.kind,
        customer_id: r.owner_id,
        tariff_id: r.tariff_id,
        plan_id: r.plan_id,
        registered_on: Some(r.registered_on),
    });
    Ok((devices.collect(), next))
}

/// A plan row of the export.
#[derive(sqlx::FromRow)]
struct PlanLine {
    id: String,
    #[sqlx(try_from = "Text<crate::repo::PlanKind>")]
    kind: crate::repo::PlanKind,
    appliance: String,
    customer_id: String,
    serial: Option<String>,
    #[sqlx(try_from = "Text<Currency>")]
    currency: Currency,
    #[sqlx(try_from = "Text<serde_json::Value>")]
    body: serde_json::Value,
    seq: i64,
}

/// Up to [`PAGE_ROWS`] plans by `seq` and id after `after`, their bodies as stored (installments or EaaS
/// terms), and where the next page starts.
pub async fn plans_page(pool: &AnyPool, after: Option<&AfterPlan>) -> ApiResult<(Vec<ExportPlan>, Option<AfterPlan>)> {
    let filter = if after.is_some() { "WHERE (seq, id) > ($1, $2)" } else { "" };
    let sql = format!(
        "SELECT id, kind, appliance, customer_id, serial, currency, body, seq FROM plans {filter} \
         ORDER BY seq, id LIMIT {PAGE_ROWS}"
    );
    let mut query = sqlx::query_as::<_, PlanLine>(&sql);
    if let Some((seq, id)) = after {
        query = query.bind(*seq).bind(id);
    }
    let rows: Vec<PlanLine> = query.fetch_all(pool).await?;
    let full = i64::try_from(rows.len()).is_ok_and(|n| n >= PAGE_ROWS);
    let next = rows.last().filter(|_| full).map(|r| (r.seq, r.id.clone()));
    let plans = rows.into_iter().map(|r| ExportPlan {
        id: r.id,
        kind: r.kind.as_str().to_owned(),
        appliance: Some(r.appliance),
        customer_id: Some(r.customer_id),
        serial: r.serial,
        currency: r.currency,
        body: r.body,
    });
    Ok((plans.collect(), next))
}

/// A token row of the export.
#[derive(sqlx::FromRow)]
struct TokenLine {
    id: String,
    serial: String,
    payment_id: Option<String>,
    #[sqlx(try_from = "Text<TokenKind>")]
    kind: TokenKind,
    #[sqlx(try_from = "Text<Option<QuantityUnit>>")]
    unit: Option<QuantityUnit>,
    #[sqlx(try_from = "Text<Option<Decimal>>")]
    quantity: Option<Decimal>,
    code: Option<String>,
    count: Option<i64>,
    #[sqlx(try_from = "Text<TokenStatus>")]
    status: TokenStatus,
    created_at: String,
}

/// Every token issued, oldest first: up to [`PAGE_ROWS`] after `after` (`created_at`, `id`), and where the
/// next page starts (`None` after the last).
pub async fn tokens_page(pool: &AnyPool, after: Option<&After>) -> ApiResult<(Vec<ExportToken>, Option<After>)> {
    let filter = if after.is_some() { "WHERE (created_at, id) > ($1, $2)" } else { "" };
    let sql = format!(
        "SELECT id, serial, payment_id, kind, unit, quantity, code, count, status, created_at FROM tokens \
         {filter} ORDER BY created_at, id LIMIT {PAGE_ROWS}"
    );
    let mut query = sqlx::query_as::<_, TokenLine>(&sql);
    if let Some((created_at, id)) = after {
        query = query.bind(created_at).bind(id);
    }
    let rows: Vec<TokenLine> = query.fetch_all(pool).await?;
    let next = next_page(&rows, |r| (r.created_at.clone(), r.id.clone()));
    let tokens = rows
        .into_iter()
        .map(|r| {
            let count =
                r.count.map(u32::try_from).transpose().map_err(|e| ApiError::internal(format!("token count: {e}")))?;
            Ok(ExportToken {
                id: r.id,
                serial: r.serial,
                payment_id: r.payment_id,
                kind: r.kind.as_str().to_owned(),
                unit: r.unit.map(|u| u.as_str().to_owned()),
                quantity: r.quantity,
                code: r.code,
                count,
                status: Some(r.status.as_str().to_owned()),
                created_at: Some(r.created_at),
            })
        })
        .collect::<ApiResult<_>>()?;
    Ok((tokens, next))
}
