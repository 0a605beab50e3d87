//! The JSON facade: every public function of [`crate::api`] by name, with its arguments as one JSON object.
//!
//! The shared vectors (`tests/vectors/*.json`) are written against these names and argument objects, and
//! hosts that speak JSON (the WebAssembly guest) call through here. Each arm is a conversion plus one call.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::{CoreError, CoreResult};

/// Calls the core function `function` with the named arguments in `input`; returns its output as JSON.
pub fn call(function: &str, input: &Value) -> CoreResult<Value> {
    match function {
        // --- OpenPAYGO (filled by the OpenPAYGO issue) ---
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
            crate::report::debt_aging(&a.installments, &crate::money::Currency::parse(&a.currency)?, a.as_of)
        }),
        "portfolio_at_risk" => run(input, |a: ParArgs| {
            crate::report::portfolio_at_risk(
                &a.installments,
                &crate::money::Currency::parse(&a.currency)?,
                a.as_of,
                a.days,
            )
        }),
        "par_30_60_90" => run(input, |a: AsOfArgs| {
            crate::report::par_30_60_90(&a.installments, &crate::money::Currency::parse(&a.currency)?, a.as_of)
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
    // --- OpenPAYGO ---
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
    currency: String,
    as_of: chrono::NaiveDate,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ParArgs {
    installments: Vec<crate::report::InstallmentRecord>,
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
