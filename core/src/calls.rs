//! Every public core function as a type: its argument object is a struct, and [`CoreFn`] names it and fixes
//! its output. One table below defines them all; the JSON facade ([`crate::json`]), the shared-vector runners
//! and the server's engine all reach the core through it, so a function's name, arguments and output are
//! written once.
//!
//! A host that holds the types calls `AllocatePayment { snapshot, payment }.call()` (or hands the value to an
//! engine that runs the core elsewhere, such as inside wasmtime); a host that holds text calls
//! [`crate::json::call_text`] with the name and the argument object, exactly as in `tests/vectors/`.

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::api::{
    self, AccessRate, AccessRateState, AccountSnapshot, AgentTerms, Currency, Customer, EaasPlan, Hierarchy,
    InstallmentPlan, InstallmentTerms, NewCustomer, Payment, PlanInput, RegistrationContext, RegistrationRequest,
    Tariff, TotalEdit, ValidationRequest,
};
use crate::error::CoreResult;
use crate::openpaygo;
use crate::report::{self, AccessRateRecord, GroupBy, InstallmentRecord, PaymentRecord, PeriodUnit};
use crate::wire::Dec;

/// One core function: `Self` is its argument object.
pub trait CoreFn: Clone + Serialize + DeserializeOwned + Send + 'static {
    /// The function's name: the `function` of its vector file, the name every binding calls it by.
    const NAME: &'static str;
    /// What it answers.
    type Output: Serialize + DeserializeOwned + Send + 'static;
    /// Runs the function.
    fn call(self) -> CoreResult<Self::Output>;
}

/// Something to do with the function a name chooses: [`dispatch`] calls `visit::<F>()` with that function's
/// type, so code that works on any function (parse its arguments, run it, print its output) is written once.
pub trait Visitor {
    /// What the visit gives.
    type Output;
    /// Works on the function `F`.
    fn visit<F: CoreFn>(self) -> Self::Output;
}

fn yes() -> bool {
    true
}

fn one() -> u32 {
    1
}

/// Defines each function's argument struct, its [`CoreFn`] impl, [`FUNCTIONS`] and [`dispatch`].
macro_rules! core_functions {
    ($(
        $(#[$meta:meta])*
        $name:literal => $call:ident -> $output:ty { $($fields:tt)* }
        |$a:ident| $body:expr;
    )*) => {
        $(
            $(#[$meta])*
            #[allow(missing_docs)]
            #[derive(Debug, Clone, Serialize, Deserialize)]
            #[serde(deny_unknown_fields)]
            pub struct $call { $($fields)* }

            impl CoreFn for $call {
                const NAME: &'static str = $name;
                type Output = $output;
                fn call(self) -> CoreResult<$output> {
                    let $a = self;
                    $body
                }
            }
        )*

        /// Every function name, in the table's order.
        pub const FUNCTIONS: &[&str] = &[$($name),*];

        /// Visits the function called `name`; `None` when no function has that name.
        pub fn dispatch<V: Visitor>(name: &str, visitor: V) -> Option<V::Output> {
            match name {
                $($name => Some(visitor.visit::<$call>()),)*
                _ => None,
            }
        }
    };
}

// The fields are the named parameters of the function in `api.rs` (or `openpaygo`, `report`), documented
// there; the field names are the vectors' argument names.
core_functions! {
    /// [`api::round_money`]
    "round_money" => RoundMoney -> Dec {
        #[serde(with = "crate::wire::dec")]
        pub amount: Decimal,
        pub currency: String,
    } |a| api::round_money(a.amount, &a.currency).map(Dec);

    /// [`api::normalize_serial`]
    "normalize_serial" => NormalizeSerial -> String {
        pub raw: String,
    } |a| api::normalize_serial(&a.raw);

    /// [`api::normalize_phone`]
    "normalize_phone" => NormalizePhone -> String {
        pub raw: String,
        #[serde(default)]
        pub region: Option<String>,
    } |a| api::normalize_phone(&a.raw, a.region.as_deref());

    /// [`api::locate_village`]
    "locate_village" => LocateVillage -> api::Location {
        pub hierarchy: Hierarchy,
        pub village_id: String,
    } |a| api::locate_village(&a.hierarchy, &a.village_id);

    /// [`api::customer_record`]
    "customer_record" => CustomerRecord -> Customer {
        pub id: String,
        pub customer: NewCustomer,
        #[serde(default)]
        pub phone_region: Option<String>,
    } |a| api::customer_record(&a.id, &a.customer, a.phone_region.as_deref());

    /// [`api::registration_field_errors`]
    "registration_field_errors" => RegistrationFieldErrors -> Vec<api::FieldError> {
        pub request: RegistrationRequest,
    } |a| Ok(api::registration_field_errors(&a.request));

    /// [`api::register`]
    "register" => Register -> api::Registration {
        pub request: RegistrationRequest,
        pub context: RegistrationContext,
    } |a| api::register(&a.request, &a.context);

    /// [`api::reassign_device`]
    "reassign_device" => ReassignDevice -> String {
        pub serial: String,
        pub device_exists: bool,
        #[serde(default)]
        pub new_owner: Option<Customer>,
        pub new_owner_id: String,
    } |a| api::reassign_device(&a.serial, a.device_exists, a.new_owner.as_ref(), &a.new_owner_id);

    /// [`api::unit_price`]
    "unit_price" => UnitPrice -> Dec {
        pub tariff: Tariff,
    } |a| api::unit_price(&a.tariff).map(Dec);

    /// [`api::energy_for_money`]
    "energy_for_money" => EnergyForMoney -> api::EnergyPurchase {
        pub tariff: Tariff,
        #[serde(with = "crate::wire::dec")]
        pub net_amount: Decimal,
    } |a| api::energy_for_money(&a.tariff, a.net_amount);

    /// [`api::accrue_access_rate`]
    "accrue_access_rate" => AccrueAccessRate -> api::Accrual {
        pub rate: AccessRate,
        pub registered_on: NaiveDate,
        #[serde(default)]
        pub state: AccessRateState,
        pub now: NaiveDate,
    } |a| api::accrue_access_rate(&a.rate, a.registered_on, &a.state, a.now);

    /// [`api::installment_schedule`]
    "installment_schedule" => InstallmentSchedule -> Vec<api::ScheduledInstallment> {
        pub terms: InstallmentTerms,
        pub currency: Currency,
    } |a| api::installment_schedule(&a.terms, &a.currency);

    /// [`api::create_installment_plan`]
    "create_installment_plan" => CreateInstallmentPlan -> InstallmentPlan {
        pub id: String,
        pub currency: Currency,
        pub terms: InstallmentTerms,
        #[serde(default = "yes")]
        pub down_payment_paid: bool,
    } |a| api::create_installment_plan(&a.id, a.currency, &a.terms, a.down_payment_paid);

    /// [`api::create_plan`]
    "create_plan" => CreatePlan -> api::RegisteredPlan {
        pub id: String,
        pub plan: PlanInput,
        #[serde(default = "yes")]
        pub down_payment_paid: bool,
    } |a| api::create_plan(&a.id, &a.plan, a.down_payment_paid);

    /// [`api::plan_summary`]
    "plan_summary" => PlanSummary -> api::PlanSummary {
        pub plan: InstallmentPlan,
    } |a| api::plan_summary(&a.plan);

    /// [`api::edit_plan_total`]
    "edit_plan_total" => EditPlanTotal -> InstallmentPlan {
        pub plan: InstallmentPlan,
        pub edit: TotalEdit,
    } |a| api::edit_plan_total(&a.plan, &a.edit);

    /// [`api::edit_installment`]
    "edit_installment" => EditInstallment -> InstallmentPlan {
        pub plan: InstallmentPlan,
        pub number: u32,
        #[serde(with = "crate::wire::dec")]
        pub amount: Decimal,
    } |a| api::edit_installment(&a.plan, a.number, a.amount);

    /// [`api::eaas_price`]
    "eaas_price" => EaasPrice -> Dec {
        pub plan: EaasPlan,
        #[serde(with = "crate::wire::dec")]
        pub days: Decimal,
    } |a| api::eaas_price(&a.plan, a.days).map(Dec);

    /// [`api::allocate_payment`]
    "allocate_payment" => AllocatePayment -> api::Allocation {
        #[serde(default)]
        pub snapshot: Option<AccountSnapshot>,
        pub payment: Payment,
    } |a| api::allocate_payment(a.snapshot.as_ref(), &a.payment);

    /// [`api::allocate_plan_payment`]
    "allocate_plan_payment" => AllocatePlanPayment -> api::Allocation {
        pub plan: InstallmentPlan,
        #[serde(with = "crate::wire::dec", default)]
        pub credit_balance: Decimal,
        #[serde(with = "crate::wire::dec")]
        pub amount: Decimal,
        pub currency: Currency,
    } |a| api::allocate_plan_payment(&a.plan, a.credit_balance, a.amount, &a.currency);

    /// [`api::validate_payment`]
    "validate_payment" => ValidatePayment -> api::Validation {
        #[serde(default)]
        pub snapshot: Option<AccountSnapshot>,
        pub request: ValidationRequest,
    } |a| api::validate_payment(a.snapshot.as_ref(), &a.request);

    /// [`api::agent_terms`]
    "agent_terms" => AgentTermsCheck -> AgentTerms {
        pub terms: AgentTerms,
    } |a| api::agent_terms(&a.terms);

    /// [`api::agent_sale`]
    "agent_sale" => AgentSale -> api::AgentEntry {
        pub terms: AgentTerms,
        #[serde(with = "crate::wire::dec")]
        pub balance: Decimal,
        pub allocation: api::Allocation,
    } |a| api::agent_sale(&a.terms, a.balance, &a.allocation);

    /// [`api::agent_handover`]
    "agent_handover" => AgentHandover -> api::AgentEntry {
        pub terms: AgentTerms,
        #[serde(with = "crate::wire::dec")]
        pub balance: Decimal,
        #[serde(with = "crate::wire::dec")]
        pub amount: Decimal,
        pub currency: Currency,
    } |a| api::agent_handover(&a.terms, a.balance, a.amount, &a.currency);

    /// [`openpaygo::openpaygo_generate`]
    "openpaygo_generate" => OpenpaygoGenerate -> openpaygo::OpenPaygoToken {
        pub secret_key: String,
        #[serde(default)]
        pub starting_code: Option<u32>,
        pub count: u32,
        pub kind: openpaygo::OpenPaygoKind,
        #[serde(default, with = "crate::wire::dec_opt")]
        pub value: Option<Decimal>,
        #[serde(default = "one")]
        pub time_divider: u32,
        #[serde(default)]
        pub restricted_digits: bool,
        #[serde(default)]
        pub extended: bool,
    } |a| openpaygo::openpaygo_generate(
        &a.secret_key, a.starting_code, a.count, a.kind, a.value, a.time_divider, a.restricted_digits, a.extended,
    );

    /// [`openpaygo::openpaygo_decode`]
    "openpaygo_decode" => OpenpaygoDecode -> openpaygo::DecodedToken {
        pub secret_key: String,
        #[serde(default)]
        pub starting_code: Option<u32>,
        pub token: String,
        #[serde(default)]
        pub state: openpaygo::DecoderState,
        #[serde(default = "one")]
        pub time_divider: u32,
        #[serde(default)]
        pub restricted_digits: bool,
        #[serde(default)]
        pub extended: bool,
    } |a| openpaygo::openpaygo_decode(
        &a.secret_key, a.starting_code, &a.token, &a.state, a.time_divider, a.restricted_digits, a.extended,
    );

    /// [`openpaygo::tokens_for_request`]
    "openpaygo_tokens_for_request" => OpenpaygoTokensForRequest -> openpaygo::IssuedTokens {
        pub device: openpaygo::OpenPaygoDevice,
        pub request: crate::token::TokenRequest,
    } |a| openpaygo::tokens_for_request(&a.device, &a.request);

    // Reports: currencies arrive as text and are parsed in the call, so an unknown code is
    // `unknown_currency` rather than a generic shape error. Unknown argument names are refused: a misspelt
    // `by` must not quietly mean "none".

    /// [`report::revenue_report`]
    "revenue_report" => RevenueReport -> report::RevenueReport {
        pub payments: Vec<PaymentRecord>,
        pub currency: String,
        pub from: NaiveDate,
        pub to: NaiveDate,
        pub group_by: PeriodUnit,
        #[serde(default)]
        pub by: GroupBy,
        /// The report of earlier records under the same arguments: the answer continues it (a host folding
        /// its records in page by page).
        #[serde(default)]
        pub so_far: Option<report::RevenueReport>,
        /// The registry (clusters, areas, villages) that names the groups; absent, no group has a name.
        #[serde(default)]
        pub names: Hierarchy,
    } |a| report::revenue_report_after(
        a.so_far.as_ref(), &a.payments, &Currency::parse(&a.currency)?, a.from, a.to, a.group_by, a.by, &a.names,
    );

    /// [`report::energy_sold`]
    "energy_sold" => EnergySold -> report::EnergySold {
        pub payments: Vec<PaymentRecord>,
        #[serde(default)]
        pub currency: Option<String>,
        pub from: NaiveDate,
        pub to: NaiveDate,
        pub group_by: PeriodUnit,
        /// The report of earlier records under the same arguments: the answer continues it (a host folding
        /// its records in page by page).
        #[serde(default)]
        pub so_far: Option<report::EnergySold>,
    } |a| {
        let currency = a.currency.as_deref().map(Currency::parse).transpose()?;
        report::energy_sold_after(a.so_far.as_ref(), &a.payments, currency.as_ref(), a.from, a.to, a.group_by)
    };

    /// [`report::debt_aging_by`]
    "debt_aging" => DebtAging -> report::GroupedReport<report::DebtAging> {
        pub installments: Vec<InstallmentRecord>,
        /// Meters' access-rate accounts; absent in calls written before access-rate debt was reported.
        #[serde(default)]
        pub access_rates: Vec<AccessRateRecord>,
        pub currency: String,
        pub as_of: NaiveDate,
        /// The report of earlier records under the same arguments: the answer continues it (a host folding
        /// its records in page by page).
        #[serde(default)]
        pub so_far: Option<report::GroupedReport<report::DebtAging>>,
        /// Split by `cluster`, `area` or `village` (default `none`): the answer adds `groups`.
        #[serde(default)]
        pub by: GroupBy,
        /// The registry (clusters, areas, villages) that names the groups; absent, no group has a name.
        #[serde(default)]
        pub names: Hierarchy,
    } |a| report::debt_aging_by_after(
        a.so_far.as_ref(), &a.installments, &a.access_rates, &Currency::parse(&a.currency)?, a.as_of, a.by, &a.names,
    );

    /// [`report::portfolio_at_risk_by`]
    "portfolio_at_risk" => PortfolioAtRisk -> report::GroupedReport<report::PortfolioAtRisk> {
        pub installments: Vec<InstallmentRecord>,
        #[serde(default)]
        pub access_rates: Vec<AccessRateRecord>,
        pub currency: String,
        pub as_of: NaiveDate,
        pub days: u32,
        /// The report of earlier plans under the same arguments: the answer continues it (a host folding
        /// its plans in page by page).
        #[serde(default)]
        pub so_far: Option<report::GroupedReport<report::PortfolioAtRisk>>,
        /// Split by `cluster`, `area` or `village` (default `none`): the answer adds `groups`.
        #[serde(default)]
        pub by: GroupBy,
        /// The registry (clusters, areas, villages) that names the groups; absent, no group has a name.
        #[serde(default)]
        pub names: Hierarchy,
    } |a| report::portfolio_at_risk_by_after(
        a.so_far.as_ref(), &a.installments, &a.access_rates, &Currency::parse(&a.currency)?, a.as_of, a.days, a.by,
        &a.names,
    );

    /// [`report::par_30_60_90_by`]
    "par_30_60_90" => Par306090 -> report::GroupedReport<report::ParSummary> {
        pub installments: Vec<InstallmentRecord>,
        #[serde(default)]
        pub access_rates: Vec<AccessRateRecord>,
        pub currency: String,
        pub as_of: NaiveDate,
        /// The report of earlier plans under the same arguments: the answer continues it (a host folding
        /// its plans in page by page).
        #[serde(default)]
        pub so_far: Option<report::GroupedReport<report::ParSummary>>,
        /// Split by `cluster`, `area` or `village` (default `none`): the answer adds `groups`.
        #[serde(default)]
        pub by: GroupBy,
        /// The registry (clusters, areas, villages) that names the groups; absent, no group has a name.
        #[serde(default)]
        pub names: Hierarchy,
    } |a| report::par_30_60_90_by_after(
        a.so_far.as_ref(), &a.installments, &a.access_rates, &Currency::parse(&a.currency)?, a.as_of, a.by, &a.names,
    );

    /// [`report::collection_rate_by`]
    "collection_rate" => CollectionRate -> report::GroupedReport<report::CollectionRate> {
        pub installments: Vec<InstallmentRecord>,
        pub currency: String,
        pub from: NaiveDate,
        pub to: NaiveDate,
        /// The report of earlier records under the same arguments: the answer continues it (a host folding
        /// its records in page by page).
        #[serde(default)]
        pub so_far: Option<report::GroupedReport<report::CollectionRate>>,
        /// Split by `cluster`, `area` or `village` (default `none`): the answer adds `groups`.
        #[serde(default)]
        pub by: GroupBy,
        /// The registry (clusters, areas, villages) that names the groups; absent, no group has a name.
        #[serde(default)]
        pub names: Hierarchy,
    } |a| report::collection_rate_by_after(
        a.so_far.as_ref(), &a.installments, &Currency::parse(&a.currency)?, a.from, a.to, a.by, &a.names,
    );
}
