//! # micropower-mobile
//!
//! The core (`micropower-core`) for Android and iOS through uniffi: Kotlin package `org.micropower`, Swift
//! module `Micropower`. The field apps use it offline: validate a registration completely before it is
//! queued, preview a plan's schedule and what a payment buys, make and check OpenPAYGO tokens.
//!
//! Every function here is a conversion plus one call of the core's facade (`micropower_core::api`, or
//! `micropower_core::json` for [`call`]); no rule is written here. Money, energy and days travel as
//! decimal strings, dates as `YYYY-MM-DD`, and every refusal is a [`MicropowerError`] whose variant is the
//! core's (`MicropowerException.UnknownSerial` in Kotlin).
//!
//! The core stays free of uniffi: the types here are thin mirrors ([`records`], [`registration`]).

uniffi::setup_scaffolding!();

pub mod agent_store;
pub mod error;
pub mod records;
pub mod registration;

use micropower_core::api;
use micropower_core::CoreError;
use rust_decimal::Decimal;

pub use agent_store::{
    AgentInfo, AgentStore, CustomerRecord, DeviceRecord, ItemKind, ItemStatus, PlanRecord, QueuedItem, SaleDraft,
    SalePreview, SyncOutcome, SyncStatus, SyncSummary, TariffRecord,
};
pub use error::MicropowerError;
pub use records::*;
pub use registration::{CustomerInput, DeviceInput, PlanInput, PlanTerms, RegistrationForm};

use error::invalid;
use records::{from_core, to_core};

type Result<T> = std::result::Result<T, MicropowerError>;

/// A decimal string as the core reads one (`"1000"`, `"12.50"`), refused with `field` named otherwise.
fn decimal(field: &str, text: &str) -> std::result::Result<Decimal, CoreError> {
    micropower_core::wire::dec::parse(text).map_err(|reason| invalid(field, reason))
}

/// A currency code.
fn currency(text: &str) -> std::result::Result<api::Currency, CoreError> {
    api::Currency::parse(text)
}

/// The canonical decimal string of a core result.
fn decimal_text(value: Decimal) -> String {
    value.normalize().to_string()
}

// --- the generic entry point -----------------------------------------------------------------------------

/// Calls any core function by name (`micropower_core::json::FUNCTIONS`) with its arguments as one JSON
/// object, as the shared vectors write them; returns the result as JSON.
#[uniffi::export]
pub fn call(function: String, args_json: String) -> Result<String> {
    let args: serde_json::Value =
        serde_json::from_str(&args_json).map_err(|e| invalid("args_json", format!("not JSON: {e}")))?;
    let out = micropower_core::json::call(&function, &args)?;
    Ok(out.to_string())
}

/// The names [`call`] knows.
#[uniffi::export]
pub fn core_functions() -> Vec<String> {
    micropower_core::json::FUNCTIONS.iter().map(|f| (*f).to_owned()).collect()
}

/// Every error code of the core, in declaration order; each is a [`MicropowerError`] variant.
#[uniffi::export]
pub fn error_codes() -> Vec<String> {
    CoreError::ALL_CODES.iter().map(|c| (*c).to_owned()).collect()
}

// --- registry ------------------------------------------------------------------------------------------

/// Canonical serial: trimmed, upper-case, without spaces and dashes; 1–32 of `A-Z0-9`.
#[uniffi::export]
pub fn normalize_serial(raw: String) -> Result<String> {
    Ok(api::normalize_serial(&raw)?)
}

/// A valid phone number in E.164; `region` (e.g. `"TZ"`) for numbers written without `+`.
#[uniffi::export]
pub fn normalize_phone(raw: String, region: Option<String>) -> Result<String> {
    Ok(api::normalize_phone(&raw, region.as_deref())?)
}

/// Every rule of a registration that can be checked offline (required fields, phone numbers, serial, geo
/// point, device kind against tariff and plan, OpenPAYGO settings, plan terms), each failure tied to its
/// field. An empty list means the form may be queued or posted.
///
/// A field that cannot be read at all (a date that is not `YYYY-MM-DD`, an amount that is not a decimal
/// string, an unknown currency) is listed on its own first: the rules need the values.
#[uniffi::export]
pub fn validate_registration(form: RegistrationForm) -> Vec<FieldError> {
    match registration::read_form(&form) {
        Err(unreadable) => unreadable.iter().map(registration::Unreadable::field_error).collect(),
        Ok(request) => api::registration_field_errors(&request)
            .into_iter()
            .map(|e| FieldError { field: e.field, code: e.code, message: e.message })
            .collect(),
    }
}

/// The JSON body of `POST /v1/registrations` for this form. Check the form with
/// [`validate_registration`] first: this only writes it (and refuses a field it cannot read).
#[uniffi::export]
pub fn registration_body(form: RegistrationForm) -> Result<String> {
    let request = registration::read_form(&form).map_err(|unreadable| match unreadable.into_iter().next() {
        Some(first) => first.into_error(),
        None => invalid("form", "cannot be read"),
    })?;
    serde_json::to_string(&request).map_err(|e| MicropowerError::from(invalid("form", e.to_string())))
}

// --- money, tariffs, plans -----------------------------------------------------------------------------

/// Rounds an amount half up to its currency's minor unit (TZS 0 digits, KES 2).
#[uniffi::export]
pub fn round_money(amount: String, currency_code: String) -> Result<String> {
    Ok(decimal_text(api::round_money(decimal("amount", &amount)?, &currency_code)?))
}

/// A tariff's unit price: `price_per_kwh + Σ fees`.
#[uniffi::export]
pub fn unit_price(tariff: Tariff) -> Result<String> {
    let tariff: api::Tariff = to_core("tariff", &tariff)?;
    Ok(decimal_text(api::unit_price(&tariff)?))
}

/// Energy preview for a meter: the kWh that net money buys, their cost, and the credit left over.
#[uniffi::export]
pub fn energy_for_money(tariff: Tariff, net_amount: String) -> Result<EnergyPurchase> {
    let tariff: api::Tariff = to_core("tariff", &tariff)?;
    let purchase = api::energy_for_money(&tariff, decimal("net_amount", &net_amount)?)?;
    Ok(from_core(&purchase)?)
}

/// Schedule preview: the installments of a sale (floor split, remainder last, month-end clamping).
#[uniffi::export]
pub fn installment_schedule(terms: InstallmentTerms, currency_code: String) -> Result<Vec<ScheduledInstallment>> {
    let terms: api::InstallmentTerms = to_core("terms", &terms)?;
    let schedule = api::installment_schedule(&terms, &currency(&currency_code)?)?;
    Ok(from_core(&schedule)?)
}

/// The price of `days` days of energy-as-a-service.
#[uniffi::export]
pub fn eaas_price(plan: EaasPlan, days: String) -> Result<String> {
    let plan: api::EaasPlan = to_core("plan", &plan)?;
    Ok(decimal_text(api::eaas_price(&plan, decimal("days", &days)?)?))
}

// --- payments ------------------------------------------------------------------------------------------

/// Allocation preview on a snapshot: what a payment pays (debts first) and the token it buys — kWh for a
/// meter, days (or an unlock) for an SHS or e-bike. `None` as the snapshot means no device has the serial.
#[uniffi::export]
pub fn allocate_payment(snapshot: Option<AccountSnapshot>, payment: Payment) -> Result<Allocation> {
    let snapshot: Option<api::AccountSnapshot> = snapshot.map(|s| to_core("snapshot", &s)).transpose()?;
    let payment: api::Payment = to_core("payment", &payment)?;
    Ok(from_core(&api::allocate_payment(snapshot.as_ref(), &payment)?)?)
}

/// Whether a payment would be accepted (refusals are errors, e.g. `AmountBelowMinimum` with its
/// `minimum_amount` in `details`), and its preview; no side effects.
#[uniffi::export]
pub fn validate_payment(snapshot: Option<AccountSnapshot>, request: ValidationRequest) -> Result<Validation> {
    let snapshot: Option<api::AccountSnapshot> = snapshot.map(|s| to_core("snapshot", &s)).transpose()?;
    let request: api::ValidationRequest = to_core("request", &request)?;
    Ok(from_core(&api::validate_payment(snapshot.as_ref(), &request)?)?)
}

// --- OpenPAYGO -----------------------------------------------------------------------------------------

/// Mints the OpenPAYGO token of `kind` (`add_time`, `set_time`, `disable_payg`, `counter_sync`) that
/// follows `count`, the device's last used count. `value` (days, a decimal string) is required for
/// `add_time` and `set_time`. Persist the returned count with the device.
// The argument list is the shape every binding exposes under this name.
#[allow(clippy::too_many_arguments)]
#[uniffi::export]
pub fn openpaygo_generate(
    secret_key: String,
    starting_code: Option<u32>,
    count: u32,
    kind: String,
    value: Option<String>,
    time_divider: u32,
    restricted_digits: bool,
    extended: bool,
) -> Result<OpenPaygoToken> {
    let kind: api::OpenPaygoKind = to_core("kind", &kind)?;
    let value = value.map(|v| decimal("value", &v)).transpose()?;
    let token = api::openpaygo_generate(
        &secret_key,
        starting_code,
        count,
        kind,
        value,
        time_divider,
        restricted_digits,
        extended,
    )?;
    Ok(OpenPaygoToken { code: token.code, count: token.count })
}

/// Checks a token as the device with this key, starting code and state would: what it does and the
/// device's state after it (`TokenRejected` when the device would refuse it).
#[uniffi::export]
pub fn openpaygo_decode(
    secret_key: String,
    starting_code: Option<u32>,
    token: String,
    state: DecoderState,
    time_divider: u32,
    restricted_digits: bool,
    extended: bool,
) -> Result<DecodedToken> {
    let state = api::DecoderState { last_count: state.last_count, used_counts: state.used_counts };
    let decoded =
        api::openpaygo_decode(&secret_key, starting_code, &token, &state, time_divider, restricted_digits, extended)?;
    Ok(from_core(&decoded)?)
}
