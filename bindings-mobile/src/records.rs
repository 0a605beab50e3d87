//! Thin mirrors of the core's types for uniffi: the same fields under the same names, with money, energy,
//! days and dates as text (decimal strings such as `"1000"` or `"1.4"`, dates `YYYY-MM-DD`), never floats.
//!
//! Each mirror serialises to exactly the JSON shape of its core type (the shape of the shared vectors), and
//! that is how it converts: [`to_core`] and [`from_core`] go through that JSON, so a decimal or date that
//! does not parse is refused by the core's own readers, with the field's path (`plan.installments[0].paid`).

use micropower_core::CoreError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::error::invalid;

/// Reads a mirror as the core type of the same JSON shape; a field that does not parse is an
/// `InvalidInput` naming its path under `what`.
pub(crate) fn to_core<M: Serialize, C: DeserializeOwned>(what: &str, mirror: &M) -> Result<C, CoreError> {
    let value = serde_json::to_value(mirror).map_err(|e| invalid(what, e.to_string()))?;
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path.is_empty() || path == "." { what.to_owned() } else { format!("{what}.{path}") };
        invalid(field, e.inner().to_string())
    })
}

/// Writes a core value as its mirror.
pub(crate) fn from_core<C: Serialize, M: DeserializeOwned>(core: &C) -> Result<M, CoreError> {
    let value = serde_json::to_value(core).map_err(|e| invalid("output", e.to_string()))?;
    serde_path_to_error::deserialize(value).map_err(|e| invalid(format!("output.{}", e.path()), e.inner().to_string()))
}

// --- enums --------------------------------------------------------------------------------------------

/// What a device is. Meters carry a tariff; SHS and e-bikes carry a payment plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// A prepaid electricity meter on a mini-grid.
    Meter,
    /// A pay-as-you-go solar home system.
    SolarHomeSystem,
    /// A pay-as-you-go electric bike.
    EBike,
}

/// What a line of an allocation paid for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum AllocationKind {
    /// Paid (part of) an installment.
    Installment,
    /// Paid the meter's access-rate debt.
    AccessRate,
    /// Bought energy for a meter.
    Energy,
    /// Energy-as-a-service days.
    Eaas,
}

/// The unit of a token request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum TokenUnit {
    /// Energy credit for a meter.
    Kwh,
    /// Days of use for an SHS or e-bike.
    Days,
    /// A permanent unlock: the plan is paid off.
    Unlock,
}

/// Why a payment bought no token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum NoTokenReason {
    /// Debt took everything.
    NothingLeftAfterDebt,
    /// Below the tariff's minimum purchase; it waits as credit.
    BelowMinimumPurchase,
    /// Does not buy one energy step / one token resolution of days.
    BelowOneUnit,
    /// An EaaS payment below the plan's minimum payable; it waits as credit.
    BelowMinimumPayable,
    /// The plan was already paid off; the money waits as credit.
    PlanAlreadyPaid,
    /// A payment to a plan without a device makes no token.
    NoDevice,
}

/// Who enters a payment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, uniffi::Enum)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// Sent by a payment provider (the default).
    #[default]
    Provider,
    /// Entered by an operator or agent.
    Operator,
}

// --- OpenPAYGO ----------------------------------------------------------------------------------------

/// A token to give the customer, and the count to persist for the device with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct OpenPaygoToken {
    /// What the customer types (leading zeros are part of it).
    pub code: String,
    /// The device's new last count once this token is issued.
    pub count: u32,
}

/// What a device remembers of the tokens it accepted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct DecoderState {
    /// The highest count the device accepted (0 before the first token).
    #[serde(default)]
    #[uniffi(default = 0)]
    pub last_count: u32,
    /// Counts the device will not accept again, ascending.
    #[serde(default)]
    #[uniffi(default)]
    pub used_counts: Vec<u32>,
}

/// A token the device accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct DecodedToken {
    /// `add_time`, `set_time`, `disable_payg` or `counter_sync`.
    pub kind: String,
    /// Days (or the device's unit) added or set, as a decimal string; `"0"` for the kinds without a value.
    pub value: String,
    /// The count the token was minted at.
    pub count: u32,
    /// The device's state once the token is applied.
    pub state: DecoderState,
}

// --- registration -------------------------------------------------------------------------------------

/// A problem with one field of a form, for showing next to the field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct FieldError {
    /// Dotted path: `customer.phone`, `device.serial`, `plan.total_cost`, `device` (kind rules), …
    pub field: String,
    /// The error code (snake_case of the core's variant).
    pub code: String,
    /// Human text.
    pub message: String,
}

/// A latitude/longitude pair in degrees, as decimal strings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct GeoPoint {
    /// Latitude, -90 to 90.
    pub lat: String,
    /// Longitude, -180 to 180.
    pub lng: String,
}

/// A device's OpenPAYGO settings, as registered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct OpenPaygoDevice {
    /// 16-byte secret key as 32 hexadecimal characters.
    pub secret_key: String,
    /// The 9-digit starting code; derived from the key when absent.
    #[serde(default)]
    #[uniffi(default = None)]
    pub starting_code: Option<u32>,
    /// The last count used for this device.
    #[serde(default)]
    #[uniffi(default = 0)]
    pub count: u32,
    /// Raw value = value × divider (1–255); 1 is OpenPAYGO's standard (whole days).
    #[serde(default = "one")]
    #[uniffi(default = 1)]
    pub time_divider: u32,
    /// Keypads with the keys 1–4 only.
    #[serde(default)]
    #[uniffi(default = false)]
    pub restricted_digits: bool,
    /// Non-standard 12-digit tokens.
    #[serde(default)]
    #[uniffi(default = false)]
    pub extended: bool,
}

/// The terms of an installment sale (also the plan of a registration).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct InstallmentTerms {
    /// The full price, down payment included.
    pub total_cost: String,
    /// Paid at the sale, not financed.
    #[serde(default = "zero")]
    #[uniffi(default = "0")]
    pub down_payment: String,
    /// How many installments.
    pub installments: u32,
    /// `weekly`, `monthly` or `every_N_days`.
    pub period: String,
    /// `YYYY-MM-DD`; installment i falls due i periods after it.
    pub start_date: String,
    /// Optional operator minimum per payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[uniffi(default = None)]
    pub minimum_payment: Option<String>,
}

/// The terms of an energy-as-a-service sale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct EaasTerms {
    /// Price of one day of use.
    pub price_per_day: String,
    /// Least amount one payment must bring.
    #[serde(default = "zero")]
    #[uniffi(default = "0")]
    pub minimum_payable: String,
}

/// One line of a schedule before any payment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct ScheduledInstallment {
    /// 1-based.
    pub number: u32,
    /// `YYYY-MM-DD`.
    pub due_date: String,
    /// Decimal string.
    pub amount: String,
}

// --- tariffs ------------------------------------------------------------------------------------------

/// A per-kWh surcharge on top of the base price.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct FeeComponent {
    /// The fee's name.
    pub name: String,
    /// Price of one kWh.
    pub price_per_kwh: String,
}

/// A fixed fee every `period_days` on a meter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct AccessRate {
    /// The fee.
    pub amount: String,
    /// Days between two fees (at least 1).
    pub period_days: u32,
}

/// What a meter's customer pays for energy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct Tariff {
    /// Identifier given by the server.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[uniffi(default = None)]
    pub id: Option<String>,
    /// ISO 4217 currency.
    pub currency: String,
    /// Price of one kWh.
    pub price_per_kwh: String,
    /// Per-kWh surcharges.
    #[serde(default)]
    #[uniffi(default)]
    pub fees: Vec<FeeComponent>,
    /// The access-rate fee, if the tariff charges one.
    #[serde(default)]
    #[uniffi(default = None)]
    pub access_rate: Option<AccessRate>,
    /// Below this net amount no token is made.
    #[serde(default = "zero")]
    #[uniffi(default = "0")]
    pub minimum_purchase: String,
    /// The meter's credit resolution in kWh; `None`: the core's default (0.01).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[uniffi(default = None)]
    pub energy_step_kwh: Option<String>,
}

/// The energy that an amount of net money buys, and what is left over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct EnergyPurchase {
    /// kWh, a multiple of the tariff's step.
    pub kwh: String,
    /// What the energy costs.
    pub cost: String,
    /// Net money minus cost: goes to the customer's credit balance.
    pub credit: String,
}

// --- plans and accounts -------------------------------------------------------------------------------

/// A meter's access-rate account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct AccessRateState {
    /// Periods charged since registration.
    #[serde(default)]
    #[uniffi(default = 0)]
    pub accrued_periods: u32,
    /// Charged and not yet paid.
    #[serde(default = "zero")]
    #[uniffi(default = "0")]
    pub debt: String,
}

impl Default for AccessRateState {
    fn default() -> Self {
        AccessRateState { accrued_periods: 0, debt: zero() }
    }
}

fn zero() -> String {
    "0".to_owned()
}

fn one() -> u32 {
    1
}

/// One installment with what has been paid on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct Installment {
    /// 1-based; 0 is the down payment.
    pub number: u32,
    /// `YYYY-MM-DD`.
    pub due_date: String,
    /// The amount.
    pub amount: String,
    /// What has been paid on it.
    #[serde(default = "zero")]
    #[uniffi(default = "0")]
    pub paid: String,
}

/// An installment plan as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct InstallmentPlan {
    /// Identifier given by the server.
    pub id: String,
    /// ISO 4217 currency.
    pub currency: String,
    /// `weekly`, `monthly` or `every_N_days`.
    pub period: String,
    /// `YYYY-MM-DD`.
    pub start_date: String,
    /// In number order; the down payment (if any) is number 0.
    pub installments: Vec<Installment>,
    /// An operator minimum per payment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[uniffi(default = None)]
    pub minimum_payment: Option<String>,
}

/// An energy-as-a-service plan as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct EaasPlan {
    /// Identifier given by the server.
    pub id: String,
    /// ISO 4217 currency.
    pub currency: String,
    /// Price of one day of use.
    pub price_per_day: String,
    /// Least amount one payment must bring.
    #[serde(default = "zero")]
    #[uniffi(default = "0")]
    pub minimum_payable: String,
}

/// The device's owner, as far as a payment needs to know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct Owner {
    /// Identifier given by the server.
    pub id: String,
    /// Given name.
    pub name: String,
    /// Surname.
    #[serde(default)]
    #[uniffi(default = "")]
    pub surname: String,
}

/// The device a payment is for, and its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct DeviceAccount {
    /// Canonical serial.
    pub serial: String,
    /// Meter, SHS or e-bike.
    pub kind: DeviceKind,
    /// `YYYY-MM-DD`; anchors access-rate periods.
    pub registered_on: String,
    /// The owner; `None` if the device is unassigned.
    #[serde(default)]
    #[uniffi(default = None)]
    pub owner: Option<Owner>,
}

/// How the device is billed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Enum)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Billing {
    /// A meter on a tariff, with its access-rate account.
    Meter {
        /// The meter's tariff.
        tariff: Tariff,
        /// The access-rate account.
        #[serde(default)]
        access_rate: AccessRateState,
        /// What one of the meter's tokens can carry, in kWh: a decimal (`"0.1"`) or `"1/<n>"` (OpenPAYGO
        /// with time divider n); `None`: the tariff's step alone.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[uniffi(default = None)]
        token_resolution: Option<String>,
    },
    /// An SHS or e-bike on an installment plan.
    Installments {
        /// The plan.
        plan: InstallmentPlan,
        /// The token's resolution in days, a decimal or `"1/<n>"`: days are rounded up to a decimal multiple
        /// of it; `None`: whole days (the core's default).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[uniffi(default = None)]
        day_resolution: Option<String>,
    },
    /// An SHS or e-bike sold as energy-as-a-service.
    Eaas {
        /// The plan.
        plan: EaasPlan,
        /// The token's resolution in days, a decimal or `"1/<n>"`: days are rounded down to a decimal
        /// multiple of it; `None`: whole days (the core's default).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[uniffi(default = None)]
        day_resolution: Option<String>,
    },
}

/// Everything a payment decision needs about one device and its owner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct AccountSnapshot {
    /// The device part.
    pub device: DeviceAccount,
    /// How the device is billed.
    pub billing: Billing,
    /// The owner's plans without a device, in creation order.
    #[serde(default)]
    #[uniffi(default)]
    pub customer_plans: Vec<InstallmentPlan>,
    /// The owner's credit balance in the billing currency.
    #[serde(default = "zero")]
    #[uniffi(default = "0")]
    pub credit_balance: String,
}

/// A payment as the core sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct Payment {
    /// As the payer typed it; normalised by the core.
    pub serial: String,
    /// The amount.
    pub amount: String,
    /// ISO 4217 currency.
    pub currency: String,
    /// `YYYY-MM-DD`.
    pub received_on: String,
}

/// One use of the money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct AllocationLine {
    /// What the money paid for.
    pub kind: AllocationKind,
    /// The amount.
    pub amount: String,
    /// The plan paid, for installment lines.
    #[serde(default)]
    pub plan_id: Option<String>,
    /// The installment number, for installment lines.
    #[serde(default)]
    pub installment: Option<u32>,
    /// kWh for energy, days for EaaS.
    #[serde(default)]
    pub quantity: Option<String>,
}

/// A request for one token for one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct TokenRequest {
    /// The device's canonical serial.
    pub serial: String,
    /// kWh, days, or unlock.
    pub unit: TokenUnit,
    /// kWh or days; `"0"` for an unlock.
    pub quantity: String,
}

/// A payment decision: what it pays, and which token to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct Allocation {
    /// The device serial.
    pub serial: String,
    /// ISO 4217 currency.
    pub currency: String,
    /// The amount paid.
    pub amount: String,
    /// Where the money went, in order.
    pub lines: Vec<AllocationLine>,
    /// Credit spent on this purchase.
    pub credit_used: String,
    /// Money that went to the credit balance.
    pub credit_added: String,
    /// The credit balance after this payment.
    pub credit_balance: String,
    /// A meter's access-rate account after accrual and payment.
    #[serde(default)]
    pub access_rate: Option<AccessRateState>,
    /// Every installment plan this payment touched, as it stands after the payment.
    #[serde(default)]
    pub plans: Vec<InstallmentPlan>,
    /// The token to make, if any.
    #[serde(default)]
    pub token: Option<TokenRequest>,
    /// Why there is no token, when there is none.
    #[serde(default)]
    pub no_token_reason: Option<NoTokenReason>,
}

/// A question asked before the money moves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct ValidationRequest {
    /// The serial as typed.
    pub serial: String,
    /// The amount.
    pub amount: String,
    /// ISO 4217 currency.
    pub currency: String,
    /// `YYYY-MM-DD`.
    pub received_on: String,
    /// Who enters the payment.
    #[serde(default)]
    pub channel: Channel,
}

/// A positive answer: who will be credited, the least acceptable amount, what the payment would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, uniffi::Record)]
pub struct Validation {
    /// Always true in an answer; refusals are errors.
    pub accepted: bool,
    /// "Name Surname" of the owner, to confirm to the payer.
    pub customer_name: String,
    /// The least amount that would be accepted.
    pub minimum_amount: String,
    /// What the payment would do if it arrived now.
    pub preview: Allocation,
}
