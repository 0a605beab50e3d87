//! The appliance catalog (MPM's "Appliance" menu): what an operator sells, its price and the terms a sale
//! starts from. The catalog is the server's data; whether its terms make a plan is the core's decision, asked
//! the same way a sale asks it, so a type the catalog accepts is one a sale can be made of.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use chrono::NaiveDate;
use micropower_core::api::{Currency, InstallmentTerms, PlanInput};
use micropower_core::calls;
use micropower_core::registry::PlanTermsInput;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};
use sqlx::{Any, Executor};

use crate::error::{ApiError, ApiResult};
use crate::extract::{parse, Body};
use crate::ids::{new_id, now_rfc3339};
use crate::state::AppState;
use crate::storage::appliance_types::{
    self as stored, ApplianceKind, ApplianceType, DefaultTerms, InstallmentDefaults,
};
use crate::storage::page::{Page, PageQuery};

/// The body of `POST /v1/appliance-types`. `default_terms` is read on its own ([`read_terms`]) so that a
/// refusal names the field inside it rather than "no variant matched".
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewType {
    name: String,
    kind: ApplianceKind,
    #[serde(with = "micropower_core::wire::dec")]
    price: Decimal,
    currency: Currency,
    default_terms: Value,
}

/// The body of `PATCH /v1/appliance-types/{id}`: any of the fields, each replacing the stored one.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TypeEdit {
    name: Option<String>,
    kind: Option<ApplianceKind>,
    #[serde(with = "micropower_core::wire::dec_opt", default)]
    price: Option<Decimal>,
    currency: Option<Currency>,
    default_terms: Option<Value>,
}

/// A refusal of catalog input: every one is a 422 `invalid_input` with its `field`, the malformed body
/// included, as the catalog's contract says (issue 16).
fn unprocessable(mut e: ApiError) -> ApiError {
    e.status = StatusCode::UNPROCESSABLE_ENTITY;
    e
}

/// Parses a JSON value as `T`, a refusal naming the field under `prefix`.
fn read<T: DeserializeOwned>(value: &Value, prefix: &str) -> ApiResult<T> {
    let bytes = serde_json::to_vec(value).map_err(ApiError::internal)?;
    parse(&bytes).map_err(|e| {
        let inner = e.body.get("field").and_then(Value::as_str).unwrap_or("body");
        let field = if prefix.is_empty() {
            inner.to_owned()
        } else if inner == "body" {
            prefix.to_owned()
        } else {
            format!("{prefix}.{inner}")
        };
        // The position serde gives is in the re-written JSON, not in what the client sent.
        let message = e.body.get("message").and_then(Value::as_str).unwrap_or("invalid");
        let message = message.split(" at line ").next().unwrap_or(message).to_owned();
        ApiError::unprocessable(&field, message)
    })
}

/// `default_terms`: EaaS terms when it has `eaas`, installment terms otherwise.
fn read_terms(value: &Value) -> ApiResult<DefaultTerms> {
    match value.get("eaas") {
        Some(eaas) => {
            if value.as_object().is_some_and(|m| m.len() > 1) {
                return Err(ApiError::unprocessable("default_terms", "EaaS terms have only `eaas`"));
            }
            Ok(DefaultTerms::Eaas { eaas: read(eaas, "default_terms.eaas")? })
        }
        None => Ok(DefaultTerms::Installments(read::<InstallmentDefaults>(value, "default_terms")?)),
    }
}

fn require_name(name: &str) -> ApiResult<String> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ApiError::unprocessable("name", "a name of 1 to 200 characters is required"));
    }
    Ok(name.to_owned())
}

/// Refuses a type whose terms would not make a plan: the core is asked to create the plan a sale of it today
/// would create, and its refusal is given the catalog's field names.
async fn check(state: &AppState, t: &ApplianceType) -> ApiResult<()> {
    if t.price.is_sign_negative() {
        return Err(ApiError::unprocessable("price", "must not be negative"));
    }
    let plan = PlanInput { appliance: t.name.clone(), currency: t.currency, terms: terms_of(t, state.today()) };
    match state.core(calls::CreatePlan { id: "appliance-type-check".into(), plan, down_payment_paid: false }).await {
        Ok(_) => Ok(()),
        Err(e) => {
            let mut e = unprocessable(e);
            let field = match e.body.get("field").and_then(Value::as_str) {
                Some(sale_field) => catalog_field(sale_field),
                // An amount with more decimals than its currency has is refused by amount, not by field.
                None => field_of_amount(t, e.body.get("amount")),
            };
            e.body.insert("field".into(), Value::String(field));
            Err(e)
        }
    }
}

/// The sale's field a refusal of the core names, as the catalog names it.
fn catalog_field(sale_field: &str) -> String {
    match sale_field {
        "total_cost" => "price".to_owned(),
        "appliance" => "name".to_owned(),
        "currency" => "currency".to_owned(),
        "price_per_day" | "minimum_payable" => format!("default_terms.eaas.{sale_field}"),
        other => format!("default_terms.{other}"),
    }
}

/// The catalog field holding `amount` (a refusal's amount, a decimal string), or `default_terms`.
fn field_of_amount(t: &ApplianceType, amount: Option<&Value>) -> String {
    let amount = amount.and_then(Value::as_str).and_then(|a| a.parse::<Decimal>().ok());
    let mut fields = vec![(t.price, "price")];
    match &t.default_terms {
        DefaultTerms::Installments(d) => fields.push((d.down_payment, "default_terms.down_payment")),
        DefaultTerms::Eaas { eaas } => {
            fields.push((eaas.price_per_day, "default_terms.eaas.price_per_day"));
            fields.push((eaas.minimum_payable, "default_terms.eaas.minimum_payable"));
        }
    }
    let found = fields.into_iter().find(|(value, _)| Some(*value) == amount);
    found.map_or("default_terms", |(_, field)| field).to_owned()
}

/// The plan terms a sale of `t` on `sold_on` starts from.
fn terms_of(t: &ApplianceType, sold_on: NaiveDate) -> PlanTermsInput {
    match &t.default_terms {
        DefaultTerms::Eaas { eaas } => PlanTermsInput::Eaas { eaas: eaas.clone() },
        DefaultTerms::Installments(d) => PlanTermsInput::Installments(InstallmentTerms {
            total_cost: t.price,
            down_payment: d.down_payment,
            installments: d.installments,
            period: d.period,
            start_date: sold_on,
            minimum_payment: None,
        }),
    }
}

/// `POST /v1/appliance-types`
pub async fn create(
    State(state): State<AppState>,
    Body(body): Body<Value>,
) -> ApiResult<(StatusCode, Json<ApplianceType>)> {
    let body: NewType = read(&body, "")?;
    let now = now_rfc3339();
    let created = ApplianceType {
        id: new_id(),
        name: require_name(&body.name)?,
        kind: body.kind,
        price: body.price,
        currency: body.currency,
        default_terms: read_terms(&body.default_terms)?,
        created_at: now.clone(),
        updated_at: now,
    };
    check(&state, &created).await?;
    stored::insert(&state.db.pool, &created).await?;
    tracing::info!(id = %created.id, name = %created.name, "appliance type created");
    Ok((StatusCode::CREATED, Json(created)))
}

/// `GET /v1/appliance-types`: by name.
pub async fn list(
    State(state): State<AppState>,
    Query(page): Query<PageQuery>,
) -> ApiResult<Json<Page<ApplianceType>>> {
    let page = page.request("appliance_types")?;
    Ok(Json(stored::list(&state.db.pool, &page).await?))
}

/// `GET /v1/appliance-types/{id}`
pub async fn get(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Json<ApplianceType>> {
    let found = stored::get(&state.db.pool, &id).await?;
    Ok(Json(found.ok_or_else(|| ApiError::not_found("appliance type", &id))?))
}

/// `PATCH /v1/appliance-types/{id}`: the fields given replace the stored ones, and the whole type is checked
/// again. Plans already sold keep the terms they were sold on.
pub async fn patch(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(body): Body<Value>,
) -> ApiResult<Json<ApplianceType>> {
    let edit: TypeEdit = read(&body, "")?;
    let _guard = state.db.write_guard().await;
    // The row lock keeps two edits of different fields from each writing back the other's old value.
    let mut tx = state.db.pool.begin().await?;
    let mut t = stored::get_locked(&mut *tx, &id, state.db.for_update())
        .await?
        .ok_or_else(|| ApiError::not_found("appliance type", &id))?;
    if let Some(name) = &edit.name {
        t.name = require_name(name)?;
    }
    if let Some(kind) = edit.kind {
        t.kind = kind;
    }
    if let Some(price) = edit.price {
        t.price = price;
    }
    if let Some(currency) = edit.currency {
        t.currency = currency;
    }
    if let Some(terms) = &edit.default_terms {
        t.default_terms = read_terms(terms)?;
    }
    t.updated_at = now_rfc3339();
    check(&state, &t).await?;
    stored::update(&mut *tx, &t).await?;
    tx.commit().await?;
    Ok(Json(t))
}

/// Starts a sale's plan from the appliance type it names. `plan` is the sale's plan as sent (the JSON the
/// core will parse as `PlanInput`); its `appliance_type_id` is taken out, and every term the sale leaves out
/// is filled from the type: the name as the appliance, the currency, and the type's terms, an installment
/// plan's total being the type's price and its start the day of the sale. Terms the sale gives win, one by
/// one. Answers the type's id, or None when the sale names no type. `field` is where the sale's plan sits
/// in the request (`plan` in a registration, empty when the plan is the body), for the refusals' field.
pub async fn fill_sale<'e, E: Executor<'e, Database = Any>>(
    exec: E,
    plan: &mut Value,
    sold_on: NaiveDate,
    field: &str,
) -> ApiResult<Option<String>> {
    let field = if field.is_empty() { "appliance_type_id".to_owned() } else { format!("{field}.appliance_type_id") };
    let Some(map) = plan.as_object_mut() else { return Ok(None) };
    let id = match map.remove("appliance_type_id") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(id)) => id,
        Some(_) => return Err(ApiError::unprocessable(&field, "an appliance type id is required")),
    };
    let t = stored::get(exec, &id).await?.ok_or_else(|| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "not_found", format!("appliance type {id:?} not found"))
            .with("field", field.as_str())
    })?;
    let terms = serde_json::to_value(terms_of(&t, sold_on)).map_err(ApiError::internal)?;
    let defaults =
        [("appliance", Value::String(t.name.clone())), ("currency", Value::String(t.currency.code().into()))];
    for (key, value) in defaults {
        map.entry(key).or_insert(value);
    }
    // A sale that gives EaaS terms is an EaaS sale whatever the type's terms, and one that gives installment
    // terms an installment sale: the type fills only terms of the same kind.
    let sale_is_eaas = map.contains_key("eaas");
    let sale_is_installments =
        ["total_cost", "installments", "period", "start_date"].iter().any(|k| map.contains_key(*k));
    match (&t.default_terms, terms) {
        (DefaultTerms::Eaas { .. }, Value::Object(mut terms)) if !sale_is_installments => {
            let defaults = terms.remove("eaas").unwrap_or(Value::Object(Map::new()));
            let eaas = map.entry("eaas").or_insert_with(|| Value::Object(Map::new()));
            if let (Some(eaas), Value::Object(defaults)) = (eaas.as_object_mut(), defaults) {
                for (key, value) in defaults {
                    eaas.entry(key).or_insert(value);
                }
            }
        }
        (DefaultTerms::Installments(_), Value::Object(terms)) if !sale_is_eaas => {
            for (key, value) in terms {
                map.entry(key).or_insert(value);
            }
        }
        _ => {}
    }
    Ok(Some(t.id))
}
