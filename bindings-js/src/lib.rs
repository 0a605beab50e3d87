//! JavaScript bindings (wasm-bindgen) over `micropower-core`: the WebAssembly modules of the npm package
//! `micropower`.
//!
//! A binding is conversions plus one call: every exported function writes its JS arguments as one JSON
//! argument object (`JSON.stringify` of each argument, joined as text), calls the core function by name
//! through the core's JSON facade, and reads the answer with `JSON.parse`. Money and energy are decimal
//! strings both ways, dates are `YYYY-MM-DD` strings, record properties keep the core's snake_case names;
//! function names are camelCase. A core refusal becomes a JS `Error` whose `name` is the variant
//! (`"UnknownSerial"`), with `code` (`"unknown_serial"`) and `details` (the variant's fields, `code` and
//! `message`).
//!
//! Text crosses the JS/wasm boundary instead of objects walked property by property (serde-wasm-bindgen):
//! V8's `JSON.stringify`/`JSON.parse` are native code and the string is copied once each way, which made a
//! Node preview several times faster (BENCHMARKS.md).
//!
//! Two modules come from this crate. With the `full` feature (default): every core function, built for speed
//! (it is also the Node build). Without it: the first-page module, only the functions in [`FIRST_PAGE`] (what
//! a page computes to show a device, a tariff, a plan or a payment before it is made), built for size and with
//! a core without phone-number metadata. Every other function (phone rules and registration, plan edits,
//! OpenPAYGO tokens, reports) is never compiled into it: a page that needs one loads the full module.
//!
//! The TypeScript declarations are hand-written in `src/micropower.d.ts` (every record and the first-page
//! functions) and `src/full.d.ts` (the full module's other functions), emitted into the package's `.d.ts` by
//! wasm-bindgen; the generated signatures are skipped.

use js_sys::JSON;
use micropower_core::calls::{self, CoreFn, Visitor};
use micropower_core::{json, CoreError, CoreResult};
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = include_str!("micropower.d.ts");

#[cfg(feature = "full")]
#[wasm_bindgen(typescript_custom_section)]
const FULL_TYPES: &str = include_str!("full.d.ts");

/// The core functions of the first-page module, by their core names. The dashboard's pages and a payment
/// preview need only these; what they leave out is more than a third of the module (BENCHMARKS.md).
pub const FIRST_PAGE: &[&str] = &[
    "round_money",
    "normalize_serial",
    "unit_price",
    "energy_for_money",
    "installment_schedule",
    "plan_summary",
    "eaas_price",
    "allocate_payment",
    "allocate_plan_payment",
    "validate_payment",
];

fn invalid(field: &str, reason: String) -> CoreError {
    CoreError::InvalidInput { field: field.to_owned(), reason }
}

/// The JS `Error` for a core refusal: `name` = variant, `code` = snake_case code, `details` = its fields.
fn js_error(error: &CoreError) -> JsValue {
    let js = js_sys::Error::new(&error.to_string());
    js.set_name(error.variant_name());
    let target: &JsValue = js.as_ref();
    // Setting a property on a fresh Error cannot fail; a failure would only lose the extra property.
    let _ = js_sys::Reflect::set(target, &JsValue::from_str("code"), &JsValue::from_str(error.code()));
    if let Ok(details) = JSON::parse(&error.details().to_string()) {
        let _ = js_sys::Reflect::set(target, &JsValue::from_str("details"), &details);
    }
    js.into()
}

/// Whether this module has the core function `name`: the full module has all of them.
const fn available(name: &str) -> bool {
    cfg!(feature = "full") || listed(FIRST_PAGE, name.as_bytes())
}

const fn listed(names: &[&str], name: &[u8]) -> bool {
    match names.split_first() {
        Some((first, rest)) => same(first.as_bytes(), name) || listed(rest, name),
        None => false,
    }
}

const fn same(a: &[u8], b: &[u8]) -> bool {
    match (a.split_first(), b.split_first()) {
        (Some((x, a)), Some((y, b))) => *x == *y && same(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// One core call, JSON text in and out: read straight into the function's argument struct, no
/// `serde_json::Value` in between.
fn call_text(function: &str, input: &str) -> CoreResult<String> {
    struct FromText<'a>(&'a str);
    impl Visitor for FromText<'_> {
        type Output = CoreResult<String>;
        fn visit<F: CoreFn>(self) -> CoreResult<String> {
            // Decided at compile time: for a function this module leaves out, the call below is never
            // compiled, and with it its argument and output types' JSON code.
            if !const { available(F::NAME) } {
                return Err(CoreError::NotFound { entity: "full-module function".into(), id: F::NAME.to_owned() });
            }
            json::call_text_as::<F>(self.0)
        }
    }
    calls::dispatch(function, FromText(input)).unwrap_or_else(|| Err(json::unknown(function)))
}

/// Calls `function` with an argument object written as JSON text; the answer as plain JS objects.
fn call_json(function: &str, input: &str) -> Result<JsValue, JsValue> {
    let output = call_text(function, input).map_err(|e| js_error(&e))?;
    JSON::parse(&output).map_err(|_| js_error(&invalid("output", "is not JSON".to_owned())))
}

/// `value` as JSON text; `None` for `undefined` and `null`, which are left out so the core's default applies.
fn json_text(name: &str, value: &JsValue) -> Result<Option<String>, JsValue> {
    if value.is_undefined() || value.is_null() {
        return Ok(None);
    }
    let unwritable = || js_error(&invalid(name, "cannot be written as JSON".to_owned()));
    // A BigInt or a cycle throws; a function or a symbol gives `undefined`.
    JSON::stringify(value).map_err(|_| unwritable())?.as_string().map(Some).ok_or_else(unwritable)
}

/// Calls the core function `function` with the named arguments.
fn call(function: &str, args: &[(&str, JsValue)]) -> Result<JsValue, JsValue> {
    let mut input = String::from("{");
    for (name, value) in args {
        if let Some(text) = json_text(name, value)? {
            if input.len() > 1 {
                input.push(',');
            }
            // Argument names are the core's snake_case identifiers: nothing to escape.
            input.push('"');
            input.push_str(name);
            input.push_str("\":");
            input.push_str(&text);
        }
    }
    input.push('}');
    call_json(function, &input)
}

/// The fields of an options object (`undefined`/`null` for none), as named arguments.
#[cfg(feature = "full")]
fn options(value: JsValue, names: &[&'static str]) -> Vec<(&'static str, JsValue)> {
    if value.is_undefined() || value.is_null() {
        return Vec::new();
    }
    names
        .iter()
        .map(|name| (*name, js_sys::Reflect::get(&value, &JsValue::from_str(name)).unwrap_or(JsValue::UNDEFINED)))
        .collect()
}

/// Every core function this module exports, by the core's snake_case name (the names of `tests/vectors/`).
#[wasm_bindgen(js_name = coreFunctions, skip_typescript)]
pub fn core_functions() -> Vec<String> {
    json::FUNCTIONS.iter().filter(|name| available(name)).map(|name| (*name).to_owned()).collect()
}

/// Every error code the core can return, in declaration order.
#[wasm_bindgen(js_name = errorCodes, skip_typescript)]
pub fn error_codes() -> Vec<String> {
    CoreError::ALL_CODES.iter().map(|code| (*code).to_owned()).collect()
}

/// The core function `function` by its snake_case name with one argument object, as the shared vectors
/// describe it. The typed functions below are the API; this is the escape hatch for tools.
#[wasm_bindgen(js_name = callCore, skip_typescript)]
pub fn call_core(function: &str, args: JsValue) -> Result<JsValue, JsValue> {
    let input = json_text("input", &args)?.unwrap_or_else(|| "{}".to_owned());
    call_json(function, &input)
}

/// The core function `function` with its argument object as JSON text, answered as JSON text: the fast path
/// for a caller that already holds text (a server's response body, a file, a message). Nothing is walked or
/// written as objects on either side; the text is copied into the module and the answer out of it once.
#[wasm_bindgen(js_name = callCoreText, skip_typescript)]
pub fn call_core_text(function: &str, args: &str) -> Result<String, JsValue> {
    call_text(function, args).map_err(|e| js_error(&e))
}

/// Declares one exported function per core function: JS name, core name, positional arguments (each named
/// as in the core's argument object), and optionally a trailing options object with the fields it may set.
macro_rules! functions {
    ($(
        $(#[$doc:meta])*
        $js:literal => fn $rust:ident ( $($arg:ident),* $(; $opts:ident { $($field:literal),* })? ) = $core:literal;
    )*) => {$(
        $(#[$doc])*
        #[wasm_bindgen(js_name = $js, skip_typescript)]
        // A JS function takes its core function's arguments in order: a report has eight.
        #[allow(clippy::too_many_arguments)]
        pub fn $rust($($arg: JsValue,)* $($opts: JsValue)?) -> Result<JsValue, JsValue> {
            #[allow(unused_mut)]
            let mut args: Vec<(&str, JsValue)> = vec![$((stringify!($arg), $arg)),*];
            $(args.extend(options($opts, &[$($field),*]));)?
            call($core, &args)
        }
    )*};
}

functions! {
    /// Rounds an amount half up to its currency's minor unit.
    "roundMoney" => fn round_money(amount, currency) = "round_money";
    /// The canonical serial.
    "normalizeSerial" => fn normalize_serial(raw) = "normalize_serial";
    /// A valid phone number in E.164.
    #[cfg(feature = "full")]
    "normalizePhone" => fn normalize_phone(raw, region) = "normalize_phone";
    /// Village → area → cluster.
    #[cfg(feature = "full")]
    "locateVillage" => fn locate_village(hierarchy, village_id) = "locate_village";
    /// A customer's record from the typed fields: names required, phones in E.164 without repeats.
    #[cfg(feature = "full")]
    "customerRecord" => fn customer_record(id, customer, phone_region) = "customer_record";
    /// Every offline rule of a registration form, each failure tied to its field.
    #[cfg(feature = "full")]
    "registrationFieldErrors" => fn registration_field_errors(request) = "registration_field_errors";
    /// Checks a registration and returns the records to store.
    #[cfg(feature = "full")]
    "register" => fn register(request, context) = "register";
    /// Moves a device to another customer; returns the new owner's id.
    #[cfg(feature = "full")]
    "reassignDevice" => fn reassign_device(serial, device_exists, new_owner_id, new_owner) = "reassign_device";
    /// `price_per_kwh + Σ fees`.
    "unitPrice" => fn unit_price(tariff) = "unit_price";
    /// kWh for net money, their cost and the leftover credit.
    "energyForMoney" => fn energy_for_money(tariff, net_amount) = "energy_for_money";
    /// Charges every access-rate period due by `now` and not charged yet.
    #[cfg(feature = "full")]
    "accrueAccessRate" => fn accrue_access_rate(rate, registered_on, now, state) = "accrue_access_rate";
    /// The installments of a sale.
    "installmentSchedule" => fn installment_schedule(terms, currency) = "installment_schedule";
    /// A new installment plan.
    #[cfg(feature = "full")]
    "createInstallmentPlan" => fn create_installment_plan(id, currency, terms, down_payment_paid) = "create_installment_plan";
    /// A plan sold with or without a device.
    #[cfg(feature = "full")]
    "createPlan" => fn create_plan(id, plan, down_payment_paid) = "create_plan";
    /// Totals, paid, outstanding and what remains on each installment.
    "planSummary" => fn plan_summary(plan) = "plan_summary";
    /// A plan's new total, spread or rescheduled.
    #[cfg(feature = "full")]
    "editPlanTotal" => fn edit_plan_total(plan, edit) = "edit_plan_total";
    /// Changes one untouched installment (0 removes it).
    #[cfg(feature = "full")]
    "editInstallment" => fn edit_installment(plan, number, amount) = "edit_installment";
    /// The price of `days` days of energy-as-a-service.
    "eaasPrice" => fn eaas_price(plan, days) = "eaas_price";
    /// What a payment pays for: debts first, then a token request.
    "allocatePayment" => fn allocate_payment(snapshot, payment) = "allocate_payment";
    /// A payment against a device-less plan.
    "allocatePlanPayment" => fn allocate_plan_payment(plan, amount, currency, credit_balance) = "allocate_plan_payment";
    /// Whether a payment would be accepted, and its allocation preview.
    "validatePayment" => fn validate_payment(snapshot, request) = "validate_payment";
    /// An agent's terms checked and in canonical form.
    #[cfg(feature = "full")]
    "agentTerms" => fn agent_terms(terms) = "agent_terms";
    /// The ledger lines (sale, commission) of an agent's cash sale, refused past the risk ceiling.
    #[cfg(feature = "full")]
    "agentSale" => fn agent_sale(terms, balance, allocation) = "agent_sale";
    /// The ledger line of cash an agent hands over to the office.
    #[cfg(feature = "full")]
    "agentHandover" => fn agent_handover(terms, balance, amount, currency) = "agent_handover";
    /// One OpenPAYGO token.
    #[cfg(feature = "full")]
    "openpaygoGenerate" => fn openpaygo_generate(secret_key, starting_code, count, kind, value;
        settings { "time_divider", "restricted_digits", "extended" }) = "openpaygo_generate";
    /// Decodes an OpenPAYGO token as the device would.
    #[cfg(feature = "full")]
    "openpaygoDecode" => fn openpaygo_decode(secret_key, token, starting_code, state;
        settings { "time_divider", "restricted_digits", "extended" }) = "openpaygo_decode";
    /// The OpenPAYGO tokens that carry a token request.
    #[cfg(feature = "full")]
    "openpaygoTokensForRequest" => fn openpaygo_tokens_for_request(device, request) = "openpaygo_tokens_for_request";
    /// Revenue per period (and group), by allocation kind. Every report takes `soFar`: the report of earlier
    /// records under the same arguments, which the answer continues (records folded in page by page); a
    /// report split by place takes `names` (clusters, areas, villages), which name its groups `{id, name}`.
    #[cfg(feature = "full")]
    "revenueReport" => fn revenue_report(payments, currency, from, to, group_by, by, so_far, names) = "revenue_report";
    /// kWh sold per period.
    #[cfg(feature = "full")]
    "energySold" => fn energy_sold(payments, from, to, group_by, currency, so_far) = "energy_sold";
    /// What is still owed, in aging buckets.
    #[cfg(feature = "full")]
    "debtAging" => fn debt_aging(installments, currency, as_of, access_rates, so_far, by, names) = "debt_aging";
    /// Portfolio at risk: plans with an installment overdue more than `days`, and meters' access-rate debt.
    #[cfg(feature = "full")]
    "portfolioAtRisk" => fn portfolio_at_risk(installments, currency, as_of, days, access_rates, so_far, by, names) = "portfolio_at_risk";
    /// PAR 30, 60 and 90.
    #[cfg(feature = "full")]
    "par30_60_90" => fn par_30_60_90(installments, currency, as_of, access_rates, so_far, by, names) = "par_30_60_90";
    /// Collected over due for installments due in a period.
    #[cfg(feature = "full")]
    "collectionRate" => fn collection_rate(installments, currency, from, to, so_far, by, names) = "collection_rate";
}
