//! Bulk registration (issue 17 §1): `POST /v1/imports/registrations` takes a spreadsheet (CSV or XLSX) of customers
//! with their device and plan, one registration a row, the registry named by the names an operator knows,
//! and `GET /v1/imports/registrations/template.csv` publishes its headers with an example row.
//!
//! Every row goes through the very path of `POST /v1/registrations` ([`registrations::prepare`] and
//! [`registrations::register_prepared`]), each new row in a savepoint of the import's one transaction: a row the
//! core refuses leaves no trace, and the others are kept (`mode=valid_rows`), all dropped (the default, when
//! any row is refused) or never written (`dry_run=true`, rolled back whatever the rows).
//!
//! A migrated plan brings what was already paid on it (`paid_to_date`, applied to its schedule by the core as
//! a payment would be) and a customer their credit (`opening_credit`): both are kept as opening balances
//! (migration 0015), not as payments, so no report counts them as revenue of the import day.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use micropower_core::api::{Currency, RegistrationRequest};
use micropower_core::calls;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use sqlx::{Acquire, Any, Transaction};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::progress::{valid_id, ProgressView};
use crate::repo;
use crate::routes::registrations::{self, Registered};
use crate::spreadsheet::{self, Sheet};
use crate::state::AppState;
use crate::storage::audit::{self, Action, Actor, Entry};
use crate::storage::imports::{self, ByName, Level};
use crate::storage::lookups::Lookups;
use crate::storage::opening_balances::{self, OpeningBalance};
use crate::upload::Upload;

/// The most rows one import takes: it runs in one transaction that holds the write lock.
const MOST_ROWS: usize = 10_000;
/// What separates several phone numbers in the `phone` cell.
const PHONE_SEPARATOR: char = '|';
/// What separates the levels of the `village` cell: `Cluster / Area / Village`.
const LEVEL_SEPARATOR: char = '/';

/// The spreadsheet's columns, in the template's order, with the template's example value and whether a
/// file must have the column.
const COLUMNS: &[(&str, &str, bool)] = &[
    ("name", "Amina", true),
    ("surname", "Otieno", true),
    ("phone", "+254712345678", true),
    ("national_id", "", false),
    ("village", "Kisumu / Nyando / Ahero", true),
    ("phone_region", "KE", false),
    ("serial", "SHS-000123", true),
    ("device_kind", "solar_home_system", true),
    ("manufacturer", "SunKing", true),
    ("tariff", "", false),
    ("openpaygo_key", "000102030405060708090a0b0c0d0e0f", false),
    ("openpaygo_starting_code", "123456789", false),
    ("openpaygo_count", "", false),
    ("registered_on", "2026-01-15", false),
    ("appliance_type", "", false),
    ("appliance", "SHS 80W", false),
    ("currency", "KES", false),
    ("total_cost", "12000", false),
    ("down_payment", "2000", false),
    ("installments", "10", false),
    ("period", "monthly", false),
    ("start_date", "2026-01-15", false),
    ("minimum_payment", "", false),
    ("eaas_price_per_day", "", false),
    ("eaas_minimum_payable", "", false),
    ("down_payment_paid", "true", false),
    ("down_payment_provider", "cash", false),
    ("paid_to_date", "", false),
    ("opening_credit", "", false),
];

/// Columns that hold a day: `YYYY-MM-DD`, or the serial number Excel keeps a date as when a cell lost its
/// date format on the way to CSV.
const DATE_COLUMNS: &[&str] = &["registered_on", "start_date"];

/// Columns whose value makes a row sell a plan.
const PLAN_COLUMNS: &[&str] = &[
    "appliance_type",
    "appliance",
    "total_cost",
    "down_payment",
    "installments",
    "period",
    "start_date",
    "minimum_payment",
    "eaas_price_per_day",
    "eaas_minimum_payable",
];

/// The query of an import.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportQuery {
    #[serde(default)]
    dry_run: bool,
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    create_missing: bool,
    /// An id of the client's choosing under which `GET /v1/imports/registrations/progress/{id}` tells how
    /// many rows are done.
    #[serde(default)]
    progress: Option<String>,
}

/// What an import without `dry_run` does when some rows are refused.
#[derive(Deserialize, Default, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum Mode {
    /// Registers nothing (422).
    #[default]
    AllOrNothing,
    /// Registers the good rows and reports the others.
    ValidRows,
}

/// The answer of an import, whether it wrote or not.
#[derive(Serialize)]
pub struct ImportAnswer {
    rows: Vec<RowAnswer>,
    /// Rows registered by this request (none in a dry run, or when all-or-nothing refused the file).
    created: usize,
    /// Rows already imported with the same data.
    unchanged: usize,
    /// Rows refused.
    errors: usize,
    /// Rows that were registered, or would be (a dry run, a refused all-or-nothing file).
    ok: usize,
    dry_run: bool,
}

/// One row's outcome; `row` is the spreadsheet's own row number (the header is row 1).
#[derive(Serialize)]
struct RowAnswer {
    row: usize,
    status: RowStatus,
    errors: Vec<CellError>,
}

#[derive(Serialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
enum RowStatus {
    Ok,
    Error,
    Unchanged,
}

/// Why a row is refused, tied to its column (empty when no one column is at fault).
#[derive(Debug, Serialize)]
struct CellError {
    column: String,
    code: String,
    message: String,
}

impl CellError {
    fn new(column: &str, code: &str, message: impl Into<String>) -> Self {
        CellError { column: column.to_owned(), code: code.to_owned(), message: message.into() }
    }

    /// A refusal of the registration path, placed in the column its field came from.
    fn of(error: &ApiError) -> Self {
        let field = error.body.get("field").and_then(Value::as_str).unwrap_or_default();
        let column = column_of_field(field).unwrap_or_else(|| column_of_code(error.code())).to_owned();
        CellError { column, code: error.code().to_owned(), message: error.message().to_owned() }
    }
}

/// One data row: its number and its cells by column name (blank cells left out).
struct Row {
    number: usize,
    cells: std::collections::BTreeMap<&'static str, String>,
}

impl Row {
    fn get(&self, column: &str) -> Option<&str> {
        self.cells.get(column).map(String::as_str)
    }

    /// What identifies the row's data: the SHA-256 of every filled cell with its column, in the template's
    /// order (a column added to the template later leaves the rows that do not use it as they were).
    fn fingerprint(&self) -> String {
        let mut hash = Sha256::new();
        for (column, value) in COLUMNS.iter().filter_map(|(c, _, _)| Some((*c, self.get(c)?))) {
            hash.update(column.as_bytes());
            hash.update([0x1e]);
            hash.update(value.as_bytes());
            hash.update([0x1f]);
        }
        hex::encode(hash.finalize())
    }

    /// A money cell, when filled; a cell that is not a decimal number is reported.
    fn decimal(&self, column: &str) -> Result<Option<Decimal>, CellError> {
        let Some(cell) = self.get(column) else { return Ok(None) };
        cell.parse::<Decimal>()
            .map(Some)
            .map_err(|_| CellError::new(column, "invalid_input", format!("{cell:?} is not a decimal amount")))
    }
}

/// The registry rows an import has found by name, so that 10,000 rows naming the same few villages and
/// makers look each up once. Only rows that existed before the row that found them are kept: one created by
/// a row may be rolled back with that row's savepoint.
#[derive(Default)]
struct Names(std::collections::HashMap<(&'static str, String), String>);

impl Names {
    fn get(&self, kind: &'static str, name: &str) -> Option<String> {
        self.0.get(&(kind, name.to_lowercase())).cloned()
    }

    fn keep(&mut self, kind: &'static str, name: &str, id: &str) {
        self.0.insert((kind, name.to_lowercase()), id.to_owned());
    }
}

/// `POST /v1/imports/registrations`
pub async fn import(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<ImportQuery>,
    upload: Upload,
) -> ApiResult<Response> {
    if !upload.is_csv() && !spreadsheet::is_xlsx(&upload) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "invalid_input",
            "send the spreadsheet as CSV or XLSX: a text/csv or XLSX body, or the multipart field `file`",
        ));
    }
    if query.progress.as_deref().is_some_and(|id| !valid_id(id)) {
        return Err(ApiError::invalid("progress", "8 to 64 letters, digits, - or _"));
    }
    let rows = read_rows(spreadsheet::read(&upload)?)?;
    if rows.is_empty() || rows.len() > MOST_ROWS {
        return Err(ApiError::unprocessable("body", format!("1 to {MOST_ROWS} rows")));
    }
    let actor = Actor::ApiKey(caller.key_id.clone());
    let progress = state.progress.start(query.progress.as_deref(), rows.len());

    let _guard = state.db.write_guard().await;
    let mut tx = state.db.pool.begin().await?;
    imports::lock_imports(&mut tx, state.db.backend).await?;
    let mut answers = Vec::with_capacity(rows.len());
    let mut names = Names::default();
    let mut lookups = Lookups::default();
    for row in &rows {
        let (status, errors) = match registered_before(&state, &mut tx, row).await? {
            Before::Unchanged => (RowStatus::Unchanged, Vec::new()),
            Before::Refused(errors) => (RowStatus::Error, errors),
            Before::New(serial) => {
                // Only a row that writes needs a savepoint: a refused row leaves no trace in the import.
                let mut savepoint = tx.begin().await?;
                let mut writing = Writing { names: &mut names, lookups: &mut lookups, actor: &actor };
                match import_row(&state, &mut savepoint, &mut writing, row, serial, query.create_missing).await {
                    Ok(()) => {
                        savepoint.commit().await?;
                        lookups.keep_row();
                        (RowStatus::Ok, Vec::new())
                    }
                    Err(errors) => {
                        savepoint.rollback().await?;
                        lookups.drop_row();
                        (RowStatus::Error, errors?)
                    }
                }
            }
        };
        answers.push(RowAnswer { row: row.number, status, errors });
        progress.step();
    }
    let count = |s: RowStatus| answers.iter().filter(|a| a.status == s).count();
    let (ok, unchanged, errors) = (count(RowStatus::Ok), count(RowStatus::Unchanged), count(RowStatus::Error));
    let refused = errors > 0 && query.mode == Mode::AllOrNothing;
    let created = if query.dry_run || refused {
        tx.rollback().await?;
        0
    } else {
        tx.commit().await?;
        ok
    };
    tracing::info!(rows = rows.len(), created, unchanged, errors, dry_run = query.dry_run, "registration import");
    let status = if refused && !query.dry_run {
        StatusCode::UNPROCESSABLE_ENTITY
    } else if created > 0 {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let answer = ImportAnswer { rows: answers, created, unchanged, errors, ok, dry_run: query.dry_run };
    Ok((status, Json(answer)).into_response())
}

/// What the transaction holds already of a row's serial.
enum Before {
    /// Nothing: the row is new, its serial as the core normalised it.
    New(String),
    /// The row, imported or registered before with the same data.
    Unchanged,
    /// Something else, or a serial the core refuses.
    Refused(Vec<CellError>),
}

/// Reads what is registered under the row's serial; writes only to remember that a device registered one at
/// a time is this row. A database error ends the whole import.
async fn registered_before(state: &AppState, tx: &mut Transaction<'_, Any>, row: &Row) -> ApiResult<Before> {
    let serial = match row.get("serial") {
        None => return Ok(Before::Refused(vec![CellError::new("serial", "invalid_input", "a serial is required")])),
        Some(raw) => match state.normalize_serial(raw).await {
            Ok(serial) => serial,
            Err(e) if e.status.is_server_error() => return Err(e),
            Err(e) => return Ok(Before::Refused(vec![CellError::of(&e.with("field", "device.serial"))])),
        },
    };
    if repo::device(&mut **tx, &serial, "").await?.is_none() {
        return Ok(Before::New(serial));
    }
    let fingerprint = row.fingerprint();
    let imported = imports::fingerprint(&mut **tx, &serial).await?;
    if imported.as_deref() == Some(fingerprint.as_str()) {
        return Ok(Before::Unchanged);
    }
    // Registered otherwise (one at a time, or by an import of an older template): the same row if the
    // registry says what the row says; remembered, so that the next upload need not ask again.
    if imported.is_none() && registered_as_row(state, tx, row, &serial).await? {
        imports::record(tx, &serial, &fingerprint).await?;
        return Ok(Before::Unchanged);
    }
    Ok(Before::Refused(vec![CellError::new(
        "serial",
        "serial_taken_with_other_data",
        format!("serial {serial} is already registered with other data; an import never overwrites it"),
    )]))
}

/// What the rows of one import share while they write: the registry found by name and read by id, and who
/// imports.
struct Writing<'a> {
    names: &'a mut Names,
    lookups: &'a mut Lookups,
    actor: &'a Actor,
}

/// Registers a new row (its `serial` free in the transaction), in its own savepoint. `Err(Ok(errors))` is
/// the row refused; `Err(Err(_))` a failure of the server (a database error), which ends the whole import.
async fn import_row(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    writing: &mut Writing<'_>,
    row: &Row,
    serial: String,
    create_missing: bool,
) -> Result<(), ApiResult<Vec<CellError>>> {
    let refused = |e: ApiError| if e.status.is_server_error() { Err(e) } else { Ok(vec![CellError::of(&e)]) };
    let opening = Opening::read(row).map_err(|e| Ok(vec![e]))?;
    let body = registration_body(tx, writing.names, row, create_missing).await?;
    let prepared = registrations::prepare(state, tx, body).await.map_err(refused)?.serial_known_free();
    // Registered straight away: the core checks every field first and writes nothing when one is wrong.
    // Only a refused row asks the core for all its field errors, so that each wrong cell is reported.
    let request = prepared.request.clone();
    let registered = match registrations::register_prepared(state, tx, writing.actor, prepared, writing.lookups).await {
        Ok(registered) => registered,
        Err(e) if e.status.is_server_error() => return Err(Err(e)),
        Err(e) => return Err(Ok(every_field_error(state, request, &e).await.map_err(Err)?)),
    };
    opening.record(state, tx, writing.actor, &registered).await?;
    imports::record(tx, &serial, &row.fingerprint()).await.map_err(Err)?;
    Ok(())
}

/// Every wrong cell of a row the registration refused with `refusal`, as the core lists them; the refusal
/// itself when the core finds no field at fault (a taken serial, a phone of another village).
async fn every_field_error(
    state: &AppState,
    request: RegistrationRequest,
    refusal: &ApiError,
) -> ApiResult<Vec<CellError>> {
    let field_errors = state.core(calls::RegistrationFieldErrors { request }).await?;
    if field_errors.is_empty() {
        return Ok(vec![CellError::of(refusal)]);
    }
    Ok(field_errors
        .iter()
        .map(|e| {
            let column = column_of_field(&e.field).unwrap_or_else(|| column_of_code(&e.code));
            CellError::new(column, &e.code, e.message.clone())
        })
        .collect())
}

/// Whether the device `serial`, registered already, is what `row` describes: the owner's name, surname and
/// phones, the device's kind, maker and tariff, and whether it has a plan.
async fn registered_as_row(
    state: &AppState,
    tx: &mut Transaction<'_, Any>,
    row: &Row,
    serial: &str,
) -> ApiResult<bool> {
    let Some(stored) = imports::registered(tx, serial).await? else { return Ok(false) };
    let same_text = |column: &str, stored: &str| row.get(column).unwrap_or_default() == stored;
    let same_name = |column: &str, stored: Option<&str>| match (row.get(column), stored) {
        (None, None) => true,
        (Some(a), Some(b)) => a.to_lowercase() == b.to_lowercase(),
        _ => false,
    };
    let has_plan = PLAN_COLUMNS.iter().any(|c| row.get(c).is_some());
    if !same_text("name", &stored.name)
        || !same_text("surname", &stored.surname)
        || !same_text("device_kind", &stored.kind)
        || !same_name("manufacturer", Some(&stored.manufacturer))
        || !same_name("tariff", stored.tariff.as_deref())
        || has_plan != stored.has_plan
    {
        return Ok(false);
    }
    let region = row.get("phone_region").map(str::to_owned);
    for raw in row.get("phone").unwrap_or_default().split(PHONE_SEPARATOR).map(str::trim).filter(|p| !p.is_empty()) {
        match state.core(calls::NormalizePhone { raw: raw.to_owned(), region: region.clone() }).await {
            Ok(phone) if stored.phones.contains(&phone) => {}
            Ok(_) => return Ok(false),
            Err(e) if e.status.is_server_error() => return Err(e),
            Err(_) => return Ok(false),
        }
    }
    Ok(true)
}

/// A row's opening balances: `paid_to_date` on its plan and `opening_credit` of its customer.
struct Opening {
    paid_to_date: Option<Decimal>,
    credit: Option<Decimal>,
    /// The `currency` cell: the credit's currency when the row sells no plan.
    currency: Option<String>,
}

impl Opening {
    fn read(row: &Row) -> Result<Self, CellError> {
        let positive = |column: &str| -> Result<Option<Decimal>, CellError> {
            match row.decimal(column)? {
                Some(amount) if amount < Decimal::ZERO => {
                    Err(CellError::new(column, "invalid_input", "an amount of zero or more"))
                }
                Some(amount) if amount.is_zero() => Ok(None),
                amount => Ok(amount),
            }
        };
        Ok(Opening {
            paid_to_date: positive("paid_to_date")?,
            credit: positive("opening_credit")?,
            currency: row.get("currency").map(str::to_owned),
        })
    }

    /// Applies the balances to what `registered` created, each kept with its audit entry.
    async fn record(
        &self,
        state: &AppState,
        tx: &mut Transaction<'_, Any>,
        actor: &Actor,
        registered: &Registered,
    ) -> Result<(), ApiResult<Vec<CellError>>> {
        if self.paid_to_date.is_none() && self.credit.is_none() {
            return Ok(());
        }
        let plan = match registered.plan_id() {
            Some(id) => repo::plan(&mut **tx, id).await.map_err(Err)?,
            None => None,
        };
        let in_column = |column: &'static str| {
            move |e: ApiError| {
                if e.status.is_server_error() {
                    Err(e)
                } else {
                    Ok(vec![CellError::new(column, e.code(), e.message())])
                }
            }
        };
        let refuse = |column: &str, message: String| Err(Ok(vec![CellError::new(column, "invalid_input", message)]));
        let mut balances = Vec::new();
        if let Some(amount) = self.paid_to_date {
            let Some((plan_row, schedule)) = plan.as_ref().and_then(|p| Some((p, p.installments()?))) else {
                return refuse("paid_to_date", "paid_to_date needs an installment plan on the row".into());
            };
            let paid = calls::AllocatePlanPayment {
                plan: schedule.clone(),
                credit_balance: Decimal::ZERO,
                amount,
                currency: plan_row.currency,
            };
            let allocation = state.core(paid).await.map_err(in_column("paid_to_date"))?;
            if allocation.credit_added > Decimal::ZERO {
                let owed = amount - allocation.credit_added;
                return refuse(
                    "paid_to_date",
                    format!("more than the plan costs: at most {owed} is left to pay on it"),
                );
            }
            let Some(updated) = allocation.plans.into_iter().next() else {
                return Err(Err(ApiError::internal("the core answered a plan payment without the plan")));
            };
            repo::update_plan_body(&mut **tx, &plan_row.id, &updated).await.map_err(Err)?;
            balances.push(OpeningBalance {
                customer_id: registered.customer_id().to_owned(),
                plan_id: Some(plan_row.id.clone()),
                kind: opening_balances::Kind::PlanPaid,
                amount,
                currency: plan_row.currency,
                recorded_on: registered.registered_on(),
            });
        }
        if let Some(amount) = self.credit {
            let currency = match (&self.currency, &plan) {
                (Some(code), _) => Currency::parse(code).map_err(|e| in_column("currency")(ApiError::from(e)))?,
                (None, Some(p)) => p.currency,
                (None, None) => return refuse("opening_credit", "opening_credit needs the currency column".into()),
            };
            let rounded = state.core(calls::RoundMoney { amount, currency: currency.to_string() }).await;
            if rounded.map_err(in_column("opening_credit"))?.0 != amount {
                return refuse("opening_credit", format!("{amount} is not an amount of {currency}"));
            }
            let customer = registered.customer_id();
            let balance = repo::credit(&mut **tx, customer, &currency.to_string()).await.map_err(Err)?;
            repo::set_credit(&mut **tx, customer, &currency.to_string(), balance + amount).await.map_err(Err)?;
            balances.push(OpeningBalance {
                customer_id: customer.to_owned(),
                plan_id: None,
                kind: opening_balances::Kind::Credit,
                amount,
                currency,
                recorded_on: registered.registered_on(),
            });
        }
        for balance in &balances {
            let id = opening_balances::insert(&mut **tx, balance).await.map_err(Err)?;
            let entry = Entry::new(actor, Action::OpeningBalanceRecorded, "opening_balance", &id)
                .after(balance)
                .map_err(Err)?;
            audit::record(&mut **tx, &entry).await.map_err(|e| Err(e.into()))?;
        }
        Ok(())
    }
}

/// The row as the body of `POST /v1/registrations`, its names resolved to ids; every cell that cannot be
/// read or resolved is reported, not just the first.
async fn registration_body(
    tx: &mut Transaction<'_, Any>,
    names: &mut Names,
    row: &Row,
    create_missing: bool,
) -> Result<Value, ApiResult<Vec<CellError>>> {
    let mut errors = Vec::new();
    let text = |s: &str| Value::String(s.to_owned());

    let mut customer = Map::new();
    for (column, field) in [("name", "name"), ("surname", "surname"), ("national_id", "national_id")] {
        if let Some(v) = row.get(column) {
            customer.insert(field.into(), text(v));
        }
    }
    if let Some(phones) = row.get("phone") {
        let phones: Vec<Value> =
            phones.split(PHONE_SEPARATOR).map(str::trim).filter(|p| !p.is_empty()).map(text).collect();
        customer.insert("phones".into(), Value::Array(phones));
    }
    match row.get("village") {
        None => {
            errors.push(CellError::new("village", "invalid_input", "a village is required: Cluster / Area / Village"))
        }
        Some(path) => match village(tx, names, path, create_missing).await.map_err(Err)? {
            Ok(id) => {
                customer.insert("village_id".into(), Value::String(id));
            }
            Err(e) => errors.push(e),
        },
    }

    let mut device = Map::new();
    for (column, field) in [("serial", "serial"), ("device_kind", "kind")] {
        device.insert(field.into(), text(row.get(column).unwrap_or_default()));
    }
    for (column, table, field) in
        [("manufacturer", ByName::Manufacturer, "manufacturer_id"), ("tariff", ByName::Tariff, "tariff_id")]
    {
        match row.get(column) {
            None if column == "manufacturer" => {
                errors.push(CellError::new(column, "invalid_input", "a manufacturer is required"))
            }
            None => {}
            Some(name) => match by_name(tx, names, table, column, name).await.map_err(Err)? {
                Ok(id) => {
                    device.insert(field.into(), Value::String(id));
                }
                Err(e) => errors.push(e),
            },
        }
    }
    if let Some(key) = row.get("openpaygo_key") {
        let mut opg = Map::new();
        opg.insert("secret_key".into(), text(key));
        for (column, field) in [("openpaygo_starting_code", "starting_code"), ("openpaygo_count", "count")] {
            if let Some(n) = number(row, column, &mut errors) {
                opg.insert(field.into(), n);
            }
        }
        device.insert("openpaygo".into(), Value::Object(opg));
    } else {
        for column in ["openpaygo_starting_code", "openpaygo_count"] {
            if row.get(column).is_some() {
                errors.push(CellError::new(column, "invalid_input", "given without an openpaygo_key"));
            }
        }
    }

    let mut body = Map::new();
    body.insert("customer".into(), Value::Object(customer));
    body.insert("device".into(), Value::Object(device));
    for column in ["registered_on", "phone_region"] {
        if let Some(v) = row.get(column) {
            body.insert(column.into(), text(v));
        }
    }
    if PLAN_COLUMNS.iter().any(|c| row.get(c).is_some()) {
        let mut plan = Map::new();
        if let Some(name) = row.get("appliance_type") {
            match by_name(tx, names, ByName::ApplianceType, "appliance_type", name).await.map_err(Err)? {
                Ok(id) => {
                    plan.insert("appliance_type_id".into(), Value::String(id));
                }
                Err(e) => errors.push(e),
            }
        }
        for column in [
            "appliance",
            "currency",
            "total_cost",
            "down_payment",
            "period",
            "start_date",
            "minimum_payment",
            "down_payment_provider",
        ] {
            if let Some(v) = row.get(column) {
                plan.insert(column.into(), text(v));
            }
        }
        if let Some(n) = number(row, "installments", &mut errors) {
            plan.insert("installments".into(), n);
        }
        let mut eaas = Map::new();
        for (column, field) in [("eaas_price_per_day", "price_per_day"), ("eaas_minimum_payable", "minimum_payable")] {
            if let Some(v) = row.get(column) {
                eaas.insert(field.into(), text(v));
            }
        }
        if !eaas.is_empty() {
            plan.insert("eaas".into(), Value::Object(eaas));
        }
        body.insert("plan".into(), Value::Object(plan));
    }
    if let Some(paid) = row.get("down_payment_paid") {
        match paid.to_ascii_lowercase().as_str() {
            "true" | "yes" | "1" => body.insert("down_payment_paid".into(), Value::Bool(true)),
            "false" | "no" | "0" => body.insert("down_payment_paid".into(), Value::Bool(false)),
            _ => {
                errors.push(CellError::new("down_payment_paid", "invalid_input", "true or false"));
                None
            }
        };
    }
    if errors.is_empty() {
        Ok(Value::Object(body))
    } else {
        Err(Ok(errors))
    }
}

/// A whole number cell, as JSON; a cell that is not one is reported.
fn number(row: &Row, column: &str, errors: &mut Vec<CellError>) -> Option<Value> {
    let cell = row.get(column)?;
    match cell.parse::<u32>() {
        Ok(n) => Some(Value::from(n)),
        Err(_) => {
            errors.push(CellError::new(column, "invalid_input", format!("{cell:?} is not a whole number")));
            None
        }
    }
}

/// The id of the registry row with this name, or the cell's error: unknown, or a name two rows share.
async fn by_name(
    tx: &mut Transaction<'_, Any>,
    names: &mut Names,
    table: ByName,
    column: &'static str,
    name: &str,
) -> ApiResult<Result<String, CellError>> {
    if let Some(id) = names.get(column, name) {
        return Ok(Ok(id));
    }
    let ids = imports::ids_by_name(&mut **tx, table, name).await?;
    let found = one(ids, column, name);
    if let Ok(id) = &found {
        names.keep(column, name, id);
    }
    Ok(found)
}

fn one(mut ids: Vec<String>, column: &str, name: &str) -> Result<String, CellError> {
    match ids.len() {
        1 => Ok(ids.remove(0)),
        0 => Err(CellError::new(column, "not_found", format!("no {} is named {name:?}", column.replace('_', " ")))),
        _ => Err(CellError::new(column, "ambiguous_name", format!("several rows are named {name:?}: rename one"))),
    }
}

/// The village of a `Cluster / Area / Village` cell, each level created when `create_missing` is set and
/// none has the name (its parent being the level above).
async fn village(
    tx: &mut Transaction<'_, Any>,
    names: &mut Names,
    path: &str,
    create_missing: bool,
) -> ApiResult<Result<String, CellError>> {
    if let Some(id) = names.get("village", path) {
        return Ok(Ok(id));
    }
    let levels: Vec<&str> = path.split(LEVEL_SEPARATOR).map(str::trim).collect();
    let [cluster, area, village] = levels[..] else {
        return Ok(Err(CellError::new(
            "village",
            "invalid_input",
            "three names are required: Cluster / Area / Village",
        )));
    };
    if [cluster, area, village].iter().any(|n| n.is_empty() || n.chars().count() > 200) {
        return Ok(Err(CellError::new("village", "invalid_input", "each name is 1 to 200 characters")));
    }
    let mut parent: Option<String> = None;
    let mut created = false;
    for (level, name) in [(Level::Cluster, cluster), (Level::Area, area), (Level::Village, village)] {
        let ids = match (level, parent.as_deref()) {
            (Level::Cluster, _) => imports::ids_by_name(&mut **tx, ByName::Cluster, name).await?,
            (Level::Area, Some(p)) => imports::area_ids(&mut **tx, p, name).await?,
            (Level::Village, Some(p)) => imports::village_ids(&mut **tx, p, name).await?,
            _ => Vec::new(),
        };
        let id = match one(ids, "village", name) {
            Ok(id) => id,
            Err(e) if e.code == "not_found" && create_missing => {
                created = true;
                imports::create(tx, level, name, parent.as_deref()).await?
            }
            Err(e) if e.code == "not_found" => {
                let what = match level {
                    Level::Cluster => "cluster",
                    Level::Area => "area",
                    Level::Village => "village",
                };
                return Ok(Err(CellError::new(
                    "village",
                    "not_found",
                    format!("no {what} is named {name:?} there (create_missing=true creates it)"),
                )));
            }
            Err(e) => return Ok(Err(e)),
        };
        parent = Some(id);
    }
    if let (Some(id), false) = (&parent, created) {
        names.keep("village", path, id);
    }
    Ok(parent.ok_or_else(|| CellError::new("village", "not_found", "no village")))
}

/// The column a registration field (`customer.phone`, `plan.eaas.price_per_day`, …) is read from.
fn column_of_field(field: &str) -> Option<&'static str> {
    let field = field.trim_start_matches('.');
    let column = match field {
        "" | "body" => return None,
        "customer.name" => "name",
        "customer.surname" => "surname",
        "customer.national_id" => "national_id",
        f if f.starts_with("customer.phone") => "phone",
        f if f.starts_with("customer.village") => "village",
        f if f.starts_with("device.serial") => "serial",
        "device.kind" => "device_kind",
        f if f.starts_with("device.manufacturer") => "manufacturer",
        f if f.starts_with("device.tariff") => "tariff",
        f if f.starts_with("device.openpaygo.starting_code") => "openpaygo_starting_code",
        f if f.starts_with("device.openpaygo.count") => "openpaygo_count",
        f if f.starts_with("device.openpaygo") => "openpaygo_key",
        f if f.starts_with("plan.appliance_type") => "appliance_type",
        f if f.starts_with("plan.eaas.minimum_payable") => "eaas_minimum_payable",
        f if f.starts_with("plan.eaas") => "eaas_price_per_day",
        f if f.starts_with("registered_on") => "registered_on",
        f if f.starts_with("phone_region") => "phone_region",
        f if f.starts_with("down_payment_paid") => "down_payment_paid",
        f => {
            let rest = f.strip_prefix("plan.").unwrap_or(f);
            let name = rest.split(['.', '[']).next().unwrap_or(rest);
            return COLUMNS.iter().find(|(c, _, _)| *c == name).map(|(c, _, _)| *c).or(Some("appliance"));
        }
    };
    Some(column)
}

/// The column of a refusal that names no field, by its code.
fn column_of_code(code: &str) -> &'static str {
    match code {
        "duplicate_serial" | "invalid_serial" => "serial",
        "invalid_phone" => "phone",
        "invalid_secret_key" => "openpaygo_key",
        "kind_mismatch" => "device_kind",
        "foreign_parent" => "village",
        "unknown_currency" | "currency_mismatch" => "currency",
        "date_out_of_range" => "registered_on",
        _ => "",
    }
}

/// A header as matched: its letters and digits, lower case (`Customer Name`, `customer_name` and
/// `CUSTOMERNAME` are one column).
fn header_key(header: &str) -> String {
    header.chars().filter(char::is_ascii_alphanumeric).map(|c| c.to_ascii_lowercase()).collect()
}

/// The sheet's rows by column. Headers are matched by name in any order, whatever their case and spaces;
/// a day may be an Excel date serial. An unknown or repeated header, or a missing required one, refuses the
/// file: a column it would drop is data the operator meant to bring.
fn read_rows(sheet: Sheet) -> ApiResult<Vec<Row>> {
    let mut columns: Vec<Option<&'static str>> = Vec::with_capacity(sheet.headers.len());
    for header in &sheet.headers {
        let key = header_key(header);
        if key.is_empty() {
            columns.push(None);
            continue;
        }
        let Some((name, _, _)) = COLUMNS.iter().find(|(c, _, _)| header_key(c) == key) else {
            return Err(ApiError::unprocessable("body", format!("unknown column {header:?}; see the template")));
        };
        if columns.contains(&Some(name)) {
            return Err(ApiError::unprocessable("body", format!("the column {name:?} is given twice")));
        }
        columns.push(Some(name));
    }
    if let Some((missing, _, _)) = COLUMNS.iter().find(|(c, _, required)| *required && !columns.contains(&Some(*c))) {
        return Err(ApiError::unprocessable("body", format!("the spreadsheet needs a {missing:?} column")));
    }
    let rows = sheet
        .rows
        .into_iter()
        .map(|row| {
            let cells = columns
                .iter()
                .zip(row.cells)
                .filter_map(|(column, cell)| Some(((*column)?, cell)))
                .filter(|(_, cell)| !cell.is_empty())
                .map(|(column, cell)| {
                    let cell = if DATE_COLUMNS.contains(&column) { excel_day(&cell).unwrap_or(cell) } else { cell };
                    (column, cell)
                })
                .collect();
            Row { number: row.number, cells }
        })
        .collect();
    Ok(rows)
}

/// The day an Excel date serial stands for (days since 1899-12-30, as Excel counts from March 1900 on), as
/// `YYYY-MM-DD`; `None` for a cell that is no such number (an ISO day is left as it is).
fn excel_day(cell: &str) -> Option<String> {
    let serial: i64 = cell.split_once('.').map_or(cell, |(days, _)| days).parse().ok()?;
    // 61 is 1900-03-01, below which Excel counts a 29 February 1900 that never was; 2958465 is 9999-12-31.
    if !(61..=2_958_465).contains(&serial) {
        return None;
    }
    let epoch = chrono::NaiveDate::from_ymd_opt(1899, 12, 30)?;
    Some(epoch.checked_add_days(chrono::Days::new(u64::try_from(serial).ok()?))?.to_string())
}

/// `GET /v1/imports/registrations/progress/{id}`: how far the import started with `?progress={id}` has come.
pub async fn progress(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<ProgressView>> {
    state.progress.get(&id).map(Json).ok_or_else(|| ApiError::not_found("import", &id))
}

/// `GET /v1/imports/registrations/template.csv`: the headers and one example row.
pub async fn template() -> Response {
    let headers: Vec<&str> = COLUMNS.iter().map(|(c, _, _)| *c).collect();
    let example: Vec<&str> = COLUMNS.iter().map(|(_, e, _)| *e).collect();
    let mut writer = csv::Writer::from_writer(Vec::new());
    let written = writer.write_record(&headers).and_then(|()| writer.write_record(&example));
    let bytes = match written.map_err(ApiError::internal).and_then(|()| writer.into_inner().map_err(ApiError::internal))
    {
        Ok(bytes) => bytes,
        Err(e) => return e.into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
            (header::CONTENT_DISPOSITION, "attachment; filename=\"registrations-template.csv\""),
        ],
        bytes,
    )
        .into_response()
}
