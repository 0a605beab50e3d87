//! The JSON facade: every public function of [`crate::api`] by name, with its arguments as one JSON object.
//!
//! The shared vectors (`tests/vectors/*.json`) are written against these names and argument objects, and
//! hosts that speak JSON (the WebAssembly guest) call through here. Each arm is a conversion plus one call.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::api::{self, *};
use crate::error::{CoreError, CoreResult};
use crate::openpaygo;

/// Calls the core function `function` with the named arguments in `input`; returns its output as JSON.
pub fn call(function: &str, input: &Value) -> CoreResult<Value> {
    match function {
        "round_money" => run(input, |a: RoundMoney| api::round_money(a.amount, &a.currency).map(Dec)),
        "normalize_serial" => run(input, |a: Raw| api::normalize_serial(&a.raw)),
        "normalize_phone" => run(input, |a: Phone| api::normalize_phone(&a.raw, a.region.as_deref())),
        "locate_village" => run(input, |a: Locate| api::locate_village(&a.hierarchy, &a.village_id)),
        "registration_field_errors" => run(input, |a: Form| Ok(api::registration_field_errors(&a.request))),
        "register" => run(input, |a: Register| api::register(&a.request, &a.context)),
        "reassign_device" => run(input, |a: Reassign| {
            api::reassign_device(&a.serial, a.device_exists, a.new_owner.as_ref(), &a.new_owner_id)
        }),
        "unit_price" => run(input, |a: TariffOnly| api::unit_price(&a.tariff).map(Dec)),
        "energy_for_money" => run(input, |a: Energy| api::energy_for_money(&a.tariff, a.net_amount)),
        "accrue_access_rate" => {
            run(input, |a: Accrue| api::accrue_access_rate(&a.rate, a.registered_on, &a.state, a.now))
        }
        "installment_schedule" => run(input, |a: Schedule| api::installment_schedule(&a.terms, &a.currency)),
        "create_installment_plan" => {
            run(input, |a: CreatePlan| api::create_installment_plan(&a.id, a.currency, &a.terms, a.down_payment_paid))
        }
        "create_plan" => run(input, |a: CreateAnyPlan| api::create_plan(&a.id, &a.plan, a.down_payment_paid)),
        "plan_summary" => run(input, |a: PlanOnly| api::plan_summary(&a.plan)),
        "edit_plan_total" => run(input, |a: EditTotal| api::edit_plan_total(&a.plan, &a.edit)),
        "edit_installment" => run(input, |a: EditOne| api::edit_installment(&a.plan, a.number, a.amount)),
        "eaas_price" => run(input, |a: EaasPrice| api::eaas_price(&a.plan, a.days).map(Dec)),
        "allocate_payment" => run(input, |a: Allocate| api::allocate_payment(a.snapshot.as_ref(), &a.payment)),
        "allocate_plan_payment" => {
            run(input, |a: PlanPayment| api::allocate_plan_payment(&a.plan, a.credit_balance, a.amount, &a.currency))
        }
        "validate_payment" => run(input, |a: Validate| api::validate_payment(a.snapshot.as_ref(), &a.request)),
        // --- OpenPAYGO (filled by the OpenPAYGO issue) ---
        "openpaygo_generate" => run(input, |a: OpenPaygoGenerateArgs| {
            openpaygo::openpaygo_generate(
                &a.secret_key,
                a.starting_code,
                a.count,
                a.kind,
                a.value,
                a.time_divider,
                a.restricted_digits,
                a.extended,
            )
        }),
        "openpaygo_decode" => run(input, |a: OpenPaygoDecodeArgs| {
            openpaygo::openpaygo_decode(
                &a.secret_key,
                a.starting_code,
                &a.token,
                &a.state,
                a.time_divider,
                a.restricted_digits,
                a.extended,
            )
        }),
        "openpaygo_tokens_for_request" => {
            run(input, |a: OpenPaygoTokensForRequestArgs| openpaygo::tokens_for_request(&a.device, &a.request))
        }
        // --- end OpenPAYGO ---
        // --- reports ---
        "revenue_report" => run(input, |a: RevenueArgs| {
            crate::report::revenue_report(
                &a.payments,
                &crate::money::Currency::parse(&a.currency)?,
                a.from,
                a.to,
                a.group_by,
                a.by,
            )
        }),
        "energy_sold" => run(input, |a: EnergyArgs| {
            let currency = a.currency.as_deref().map(crate::money::Currency::parse).transpose()?;
            crate::report::energy_sold(&a.payments, currency.as_ref(), a.from, a.to, a.group_by)
        }),
        "debt_aging" => run(input, |a: AsOfArgs| {
            crate::report::debt_aging(
                &a.installments,
                &a.access_rates,
                &crate::money::Currency::parse(&a.currency)?,
                a.as_of,
            )
        }),
        "portfolio_at_risk" => run(input, |a: ParArgs| {
            crate::report::portfolio_at_risk(
                &a.installments,
                &a.access_rates,
                &crate::money::Currency::parse(&a.currency)?,
                a.as_of,
                a.days,
            )
        }),
        "par_30_60_90" => run(input, |a: AsOfArgs| {
            crate::report::par_30_60_90(
                &a.installments,
                &a.access_rates,
                &crate::money::Currency::parse(&a.currency)?,
                a.as_of,
            )
        }),
        "collection_rate" => run(input, |a: CollectionArgs| {
            crate::report::collection_rate(&a.installments, &crate::money::Currency::parse(&a.currency)?, a.from, a.to)
        }),
        // --- end reports ---
        _ => Err(CoreError::NotFound { entity: "function".into(), id: function.to_owned() }),
    }
}

/// Every function name [`call`] knows, for bindings and runners that check their coverage.
pub const FUNCTIONS: &[&str] = &[
    "round_money",
    "normalize_serial",
    "normalize_phone",
    "locate_village",
    "registration_field_errors",
    "register",
    "reassign_device",
    "unit_price",
    "energy_for_money",
    "accrue_access_rate",
    "installment_schedule",
    "create_installment_plan",
    "create_plan",
    "plan_summary",
    "edit_plan_total",
    "edit_installment",
    "eaas_price",
    "allocate_payment",
    "allocate_plan_payment",
    "validate_payment",
    // --- OpenPAYGO ---
    "openpaygo_generate",
    "openpaygo_decode",
    "openpaygo_tokens_for_request",
    // --- end OpenPAYGO ---
    // --- reports ---
    "revenue_report",
    "energy_sold",
    "debt_aging",
    "portfolio_at_risk",
    "par_30_60_90",
    "collection_rate",
    // --- end reports ---
];

/// Deserialises the argument object, runs `f`, serialises its output.
fn run<A, R, F>(input: &Value, f: F) -> CoreResult<Value>
where
    A: DeserializeOwned,
    R: Serialize,
    F: FnOnce(A) -> CoreResult<R>,
{
    let args = A::deserialize(input).map_err(|e| CoreError::invalid("input", e.to_string()))?;
    let out = f(args)?;
    serde_json::to_value(out).map_err(|e| CoreError::invalid("output", e.to_string()))
}

/// A bare decimal result, written as its canonical string.
struct Dec(Decimal);

impl Serialize for Dec {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::wire::dec::serialize(&self.0, s)
    }
}

// Argument objects: one per function, field names are the vectors' argument names.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoundMoney {
    #[serde(with = "crate::wire::dec")]
    amount: Decimal,
    currency: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Raw {
    raw: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Phone {
    raw: String,
    #[serde(default)]
    region: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Locate {
    hierarchy: Hierarchy,
    village_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Form {
    request: RegistrationRequest,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Register {
    request: RegistrationRequest,
    context: RegistrationContext,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Reassign {
    serial: String,
    device_exists: bool,
    #[serde(default)]
    new_owner: Option<Customer>,
    new_owner_id: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TariffOnly {
    tariff: Tariff,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Energy {
    tariff: Tariff,
    #[serde(with = "crate::wire::dec")]
    net_amount: Decimal,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Accrue {
    rate: AccessRate,
    registered_on: NaiveDate,
    #[serde(default)]
    state: AccessRateState,
    now: NaiveDate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Schedule {
    terms: InstallmentTerms,
    currency: Currency,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreatePlan {
    id: String,
    currency: Currency,
    terms: InstallmentTerms,
    #[serde(default = "yes")]
    down_payment_paid: bool,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateAnyPlan {
    id: String,
    plan: PlanInput,
    #[serde(default = "yes")]
    down_payment_paid: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanOnly {
    plan: InstallmentPlan,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditTotal {
    plan: InstallmentPlan,
    edit: TotalEdit,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EditOne {
    plan: InstallmentPlan,
    number: u32,
    #[serde(with = "crate::wire::dec")]
    amount: Decimal,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EaasPrice {
    plan: EaasPlan,
    #[serde(with = "crate::wire::dec")]
    days: Decimal,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Allocate {
    #[serde(default)]
    snapshot: Option<AccountSnapshot>,
    payment: Payment,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanPayment {
    plan: InstallmentPlan,
    #[serde(with = "crate::wire::dec", default)]
    credit_balance: Decimal,
    #[serde(with = "crate::wire::dec")]
    amount: Decimal,
    currency: Currency,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Validate {
    #[serde(default)]
    snapshot: Option<AccountSnapshot>,
    request: ValidationRequest,
}

// --- OpenPAYGO arguments ---

fn one() -> u32 {
    1
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenPaygoGenerateArgs {
    secret_key: String,
    #[serde(default)]
    starting_code: Option<u32>,
    count: u32,
    kind: openpaygo::OpenPaygoKind,
    #[serde(default, with = "crate::wire::dec_opt")]
    value: Option<rust_decimal::Decimal>,
    #[serde(default = "one")]
    time_divider: u32,
    #[serde(default)]
    restricted_digits: bool,
    #[serde(default)]
    extended: bool,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenPaygoDecodeArgs {
    secret_key: String,
    #[serde(default)]
    starting_code: Option<u32>,
    token: String,
    #[serde(default)]
    state: openpaygo::DecoderState,
    #[serde(default = "one")]
    time_divider: u32,
    #[serde(default)]
    restricted_digits: bool,
    #[serde(default)]
    extended: bool,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenPaygoTokensForRequestArgs {
    device: openpaygo::OpenPaygoDevice,
    request: crate::token::TokenRequest,
}

// --- end OpenPAYGO arguments ---

// --- reports ---
// Currencies arrive as text and are parsed in the arm, so an unknown code is `unknown_currency` rather than
// a generic shape error. Unknown argument names are refused: a misspelt `by` must not quietly mean "none".

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RevenueArgs {
    payments: Vec<crate::report::PaymentRecord>,
    currency: String,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    group_by: crate::report::PeriodUnit,
    #[serde(default)]
    by: crate::report::GroupBy,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct EnergyArgs {
    payments: Vec<crate::report::PaymentRecord>,
    #[serde(default)]
    currency: Option<String>,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
    group_by: crate::report::PeriodUnit,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AsOfArgs {
    installments: Vec<crate::report::InstallmentRecord>,
    /// Meters' access-rate accounts; absent in calls written before access-rate debt was reported.
    #[serde(default)]
    access_rates: Vec<crate::report::AccessRateRecord>,
    currency: String,
    as_of: chrono::NaiveDate,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ParArgs {
    installments: Vec<crate::report::InstallmentRecord>,
    #[serde(default)]
    access_rates: Vec<crate::report::AccessRateRecord>,
    currency: String,
    as_of: chrono::NaiveDate,
    days: u32,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CollectionArgs {
    installments: Vec<crate::report::InstallmentRecord>,
    currency: String,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
}
// --- end reports ---
