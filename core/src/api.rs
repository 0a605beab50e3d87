//! The one public facade every binding calls: each function here has cases in `tests/vectors/` under the
//! same name, and [`crate::json::call`] reaches it by that name.
//!
//! The rules live in the modules; this file only names the entry points and the types they exchange.

use chrono::NaiveDate;
use rust_decimal::Decimal;

pub use crate::access_rate::{AccessRateState, Accrual};
pub use crate::agent::{AgentEntry, AgentLine, AgentLineKind, AgentTerms, CommissionRates};
pub use crate::allocation::{
    AccountSnapshot, Allocation, AllocationKind, AllocationLine, Billing, Channel, DeviceAccount, NoTokenReason, Owner,
    Payment, Validation, ValidationRequest,
};
pub use crate::error::{CoreError, CoreResult};
pub use crate::money::{Currency, Money};
pub use crate::openpaygo::OpenPaygoDevice;
pub use crate::openpaygo::{
    openpaygo_decode, openpaygo_generate, tokens_for_request, DecodedToken, DecoderState, IssuedToken, IssuedTokens,
    OpenPaygoKind, OpenPaygoToken,
};
pub use crate::plan::{
    EaasPlan, EaasTerms, Installment, InstallmentPlan, InstallmentTerms, InstallmentView, Period, PlanSummary,
    ScheduledInstallment, TotalEdit,
};
pub use crate::registry::{
    CatchmentArea, Cluster, Customer, CustomerInput, DeviceInput, DeviceKind, FieldError, GeoPoint, Hierarchy,
    Location, Manufacturer, NewCustomer, PlanInput, RegisteredDevice, RegisteredPlan, Registration,
    RegistrationContext, RegistrationRequest, TokenScheme, Village,
};
pub use crate::report::{
    collection_rate, collection_rate_by, debt_aging, debt_aging_by, energy_sold, par_30_60_90, par_30_60_90_by,
    portfolio_at_risk, portfolio_at_risk_by, revenue_report, AccessRateDebt, AccessRateRecord, CollectionRate,
    DebtAging, EnergySold, GroupBy, Grouped, GroupedReport, InstallmentRecord, ParSummary, PaymentRecord, PeriodUnit,
    PortfolioAtRisk, ReportGroup, RevenueReport,
};
pub use crate::tariff::{AccessRate, EnergyPurchase, FeeComponent, Tariff};
pub use crate::token::{Resolution, TokenRequest, TokenUnit};

// --- money ----------------------------------------------------------------------------------------

/// Rounds an amount half up to its currency's minor unit (TZS 0 digits, KES 2).
pub fn round_money(amount: Decimal, currency: &str) -> CoreResult<Decimal> {
    Ok(Currency::parse(currency)?.round(amount))
}

// --- registry -------------------------------------------------------------------------------------

/// Canonical serial: trimmed, upper-case, without spaces and dashes; 1–32 of `A-Z0-9`.
pub fn normalize_serial(raw: &str) -> CoreResult<String> {
    crate::registry::normalize_serial(raw)
}

/// A valid phone number in E.164; `region` (e.g. `"TZ"`) for numbers written without `+`.
pub fn normalize_phone(raw: &str, region: Option<&str>) -> CoreResult<String> {
    crate::registry::normalize_phone(raw, region)
}

/// Resolves a village to village → area → cluster; errors when any level is missing.
pub fn locate_village(hierarchy: &Hierarchy, village_id: &str) -> CoreResult<Location> {
    hierarchy.locate(village_id)
}

/// A customer's record from the fields an operator typed (created alone, or as it would be after an edit):
/// names required, at least one phone in E.164 without repeats, a village.
pub fn customer_record(id: &str, customer: &NewCustomer, region: Option<&str>) -> CoreResult<Customer> {
    crate::registry::customer_record(id, customer, region)
}

/// Every offline rule of a registration form, each failure tied to its field.
pub fn registration_field_errors(request: &RegistrationRequest) -> Vec<FieldError> {
    crate::registry::registration_field_errors(request)
}

/// Checks a registration (customer and device together) and returns the records to store atomically.
pub fn register(request: &RegistrationRequest, context: &RegistrationContext) -> CoreResult<Registration> {
    crate::registry::register(request, context)
}

/// Moves an existing device to another customer; returns the new owner's id.
pub fn reassign_device(
    serial: &str,
    device_exists: bool,
    new_owner: Option<&Customer>,
    new_owner_id: &str,
) -> CoreResult<String> {
    crate::registry::reassign_device(serial, device_exists, new_owner, new_owner_id)
}

// --- tariffs and access rate ---------------------------------------------------------------------

/// `price_per_kwh + Σ fees`.
pub fn unit_price(tariff: &Tariff) -> CoreResult<Decimal> {
    tariff.unit_price()
}

/// kWh for net money (floored to the step), their cost, and the leftover credit.
pub fn energy_for_money(tariff: &Tariff, net_amount: Decimal) -> CoreResult<EnergyPurchase> {
    tariff.energy_for_money(net_amount)
}

/// Charges every access-rate period due by `now` and not charged yet; idempotent.
pub fn accrue_access_rate(
    rate: &AccessRate,
    registered_on: NaiveDate,
    state: &AccessRateState,
    now: NaiveDate,
) -> CoreResult<Accrual> {
    crate::access_rate::accrue(rate, registered_on, state, now)
}

// --- plans ----------------------------------------------------------------------------------------

/// The installments of a sale: floor split, remainder last, month-end clamping.
pub fn installment_schedule(terms: &InstallmentTerms, currency: &Currency) -> CoreResult<Vec<ScheduledInstallment>> {
    crate::plan::installment_schedule(terms, currency)
}

/// A new installment plan, the down payment as its own line (paid when paid at the sale).
pub fn create_installment_plan(
    id: &str,
    currency: Currency,
    terms: &InstallmentTerms,
    down_payment_paid: bool,
) -> CoreResult<InstallmentPlan> {
    InstallmentPlan::create(id, currency, terms, down_payment_paid)
}

/// A plan sold with or without a device: installments (schedule made) or energy-as-a-service.
pub fn create_plan(id: &str, plan: &PlanInput, down_payment_paid: bool) -> CoreResult<RegisteredPlan> {
    crate::registry::create_plan(id, plan, down_payment_paid)
}

/// Totals, paid, outstanding and what remains on each installment.
pub fn plan_summary(plan: &InstallmentPlan) -> CoreResult<PlanSummary> {
    crate::plan::plan_summary(plan)
}

/// MPM's total edit: refuse below paid, spread over untouched installments or reschedule them.
pub fn edit_plan_total(plan: &InstallmentPlan, edit: &TotalEdit) -> CoreResult<InstallmentPlan> {
    crate::plan::edit_plan_total(plan, edit)
}

/// Changes one untouched installment (0 removes it); the total moves with it.
pub fn edit_installment(plan: &InstallmentPlan, number: u32, amount: Decimal) -> CoreResult<InstallmentPlan> {
    crate::plan::edit_installment(plan, number, amount)
}

/// The price of `days` days of energy-as-a-service.
pub fn eaas_price(plan: &EaasPlan, days: Decimal) -> CoreResult<Decimal> {
    plan.price_of(days)
}

// --- payments -------------------------------------------------------------------------------------

/// Decides what a payment that has arrived pays for (debts first, then a token request).
pub fn allocate_payment(snapshot: Option<&AccountSnapshot>, payment: &Payment) -> CoreResult<Allocation> {
    crate::allocation::allocate_payment(snapshot, payment)
}

/// A payment against a device-less plan by its id.
pub fn allocate_plan_payment(
    plan: &InstallmentPlan,
    credit_balance: Decimal,
    amount: Decimal,
    currency: &Currency,
) -> CoreResult<Allocation> {
    crate::allocation::allocate_plan_payment(plan, credit_balance, amount, currency)
}

/// Whether a payment would be accepted, before the money moves; no side effects.
pub fn validate_payment(snapshot: Option<&AccountSnapshot>, request: &ValidationRequest) -> CoreResult<Validation> {
    crate::allocation::validate_payment(snapshot, request)
}

// --- agents ---------------------------------------------------------------------------------------

/// An agent's terms checked and in canonical form (rates from 0 to 1, a ceiling in the currency's units).
pub fn agent_terms(terms: &AgentTerms) -> CoreResult<AgentTerms> {
    crate::agent::agent_terms(terms)
}

/// The ledger lines (sale, commission) of an agent's cash sale whose payment was allocated as `allocation`,
/// or `RiskCeilingExceeded` when the agent's balance would pass its ceiling.
pub fn agent_sale(terms: &AgentTerms, balance: Decimal, allocation: &Allocation) -> CoreResult<AgentEntry> {
    crate::agent::agent_sale(terms, balance, allocation)
}

/// The ledger line (handover, −amount) of cash an agent hands over to the office.
pub fn agent_handover(
    terms: &AgentTerms,
    balance: Decimal,
    amount: Decimal,
    currency: &Currency,
) -> CoreResult<AgentEntry> {
    crate::agent::agent_handover(terms, balance, amount, currency)
}
