//! The registration form of the field app: customer and device together (domain.md §1, the body of
//! `POST /v1/registrations`), checked offline by the core before it is queued.
//!
//! The form holds what an agent typed, as text. Reading it into the core's `RegistrationRequest` is the
//! only work done here: a date that is not `YYYY-MM-DD`, an amount that is not a decimal or an unknown
//! currency code is reported against its field. Every rule is the core's
//! (`micropower_core::api::registration_field_errors`).

use chrono::NaiveDate;
use micropower_core::api as core;
use micropower_core::CoreError;
use rust_decimal::Decimal;

use crate::error::invalid;
use crate::records::{DeviceKind, EaasTerms, FieldError, GeoPoint, InstallmentTerms, OpenPaygoDevice};

/// A registration form: a customer (new, or existing by id) and a device, with the plan for an SHS or an
/// e-bike (a meter carries a tariff instead).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct RegistrationForm {
    /// The customer part.
    pub customer: CustomerInput,
    /// The device part.
    pub device: DeviceInput,
    /// The plan sold with an SHS or e-bike; `None` for a meter.
    #[uniffi(default = None)]
    pub plan: Option<PlanInput>,
    /// `YYYY-MM-DD`, the day of registration (anchors access-rate periods).
    pub registered_on: String,
    /// Region (ISO 3166 alpha-2, e.g. `"TZ"`) for phone numbers typed without `+`.
    #[uniffi(default = None)]
    pub phone_region: Option<String>,
    /// Whether the plan's down payment was paid at the sale.
    #[uniffi(default = true)]
    pub down_payment_paid: bool,
}

/// A new customer, or an existing one by id.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum CustomerInput {
    /// A customer already in the registry.
    Existing {
        /// The customer's id.
        id: String,
    },
    /// A new customer, created with the device.
    New {
        /// Given name.
        name: String,
        /// Surname.
        surname: String,
        /// One or more phone numbers as typed; the first is the main one.
        phones: Vec<String>,
        /// The village.
        village_id: String,
        /// Where the customer lives, if known.
        #[uniffi(default = None)]
        geo: Option<GeoPoint>,
        /// National id, if given.
        #[uniffi(default = None)]
        national_id: Option<String>,
    },
}

/// The device part of a registration.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct DeviceInput {
    /// As typed; the core normalises it.
    pub serial: String,
    /// Meter, SHS or e-bike.
    pub kind: DeviceKind,
    /// The device maker.
    pub manufacturer_id: String,
    /// The meter's tariff.
    #[uniffi(default = None)]
    pub tariff_id: Option<String>,
    /// OpenPAYGO settings, for devices whose manufacturer uses OpenPAYGO.
    #[uniffi(default = None)]
    pub openpaygo: Option<OpenPaygoDevice>,
}

/// The plan sold with the device.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct PlanInput {
    /// What was sold (e.g. "SHS 80W").
    pub appliance: String,
    /// ISO 4217 currency.
    pub currency: String,
    /// Installments or energy-as-a-service.
    pub terms: PlanTerms,
}

/// Installments or energy-as-a-service.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum PlanTerms {
    /// An installment plan.
    Installments {
        /// Total, down payment, count, period, start.
        terms: InstallmentTerms,
    },
    /// Energy-as-a-service.
    Eaas {
        /// Price per day and minimum payable.
        terms: EaasTerms,
    },
}

/// A field the form could not be read at, with the core's error for it.
pub(crate) struct Unreadable {
    /// Dotted path of the field (`plan.total_cost`).
    pub field: String,
    /// The error, as the core reports a malformed field.
    pub error: CoreError,
}

impl Unreadable {
    pub(crate) fn field_error(&self) -> FieldError {
        FieldError { field: self.field.clone(), code: self.error.code().to_owned(), message: self.error.to_string() }
    }

    /// The error with the full path as its field, for callers that get one error rather than a list.
    pub(crate) fn into_error(self) -> CoreError {
        match self.error {
            CoreError::InvalidInput { reason, .. } => CoreError::InvalidInput { field: self.field, reason },
            other => other,
        }
    }
}

/// Reads text fields, collecting every one that does not parse.
#[derive(Default)]
struct Reader {
    unreadable: Vec<Unreadable>,
}

impl Reader {
    fn take<T>(&mut self, field: &str, result: Result<T, CoreError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(error) => {
                self.unreadable.push(Unreadable { field: field.to_owned(), error });
                None
            }
        }
    }

    fn decimal(&mut self, field: &str, text: &str) -> Option<Decimal> {
        let parsed = micropower_core::wire::dec::parse(text).map_err(|reason| invalid(leaf(field), reason));
        self.take(field, parsed)
    }

    fn optional_decimal(&mut self, field: &str, text: Option<&str>) -> Option<Option<Decimal>> {
        match text {
            None => Some(None),
            Some(text) => self.decimal(field, text).map(Some),
        }
    }

    fn date(&mut self, field: &str, text: &str) -> Option<NaiveDate> {
        let parsed =
            text.parse::<NaiveDate>().map_err(|_| invalid(leaf(field), format!("{text:?} is not a date (YYYY-MM-DD)")));
        self.take(field, parsed)
    }
}

/// The last segment of a dotted path: the core names a field by its own name in its messages.
fn leaf(field: &str) -> &str {
    field.rsplit('.').next().unwrap_or(field)
}

/// Reads the form into the core's request, or lists every field that could not be read.
pub(crate) fn read_form(form: &RegistrationForm) -> Result<core::RegistrationRequest, Vec<Unreadable>> {
    let mut r = Reader::default();
    let customer = read_customer(&mut r, &form.customer);
    let plan = match &form.plan {
        None => Some(None),
        Some(plan) => read_plan(&mut r, plan).map(Some),
    };
    let registered_on = r.date("registered_on", &form.registered_on);
    match (customer, plan, registered_on) {
        (Some(customer), Some(plan), Some(registered_on)) if r.unreadable.is_empty() => Ok(core::RegistrationRequest {
            customer,
            device: read_device(&form.device),
            plan,
            registered_on,
            phone_region: form.phone_region.clone(),
            down_payment_paid: form.down_payment_paid,
        }),
        _ => Err(r.unreadable),
    }
}

fn read_customer(r: &mut Reader, customer: &CustomerInput) -> Option<core::CustomerInput> {
    match customer {
        CustomerInput::Existing { id } => Some(core::CustomerInput::Existing { id: id.clone() }),
        CustomerInput::New { name, surname, phones, village_id, geo, national_id } => {
            let geo = match geo {
                None => Some(None),
                Some(g) => {
                    let lat = r.decimal("customer.geo.lat", &g.lat);
                    let lng = r.decimal("customer.geo.lng", &g.lng);
                    lat.zip(lng).map(|(lat, lng)| Some(core::GeoPoint { lat, lng }))
                }
            };
            // The HTTP body's `phone` is the main number; further ones travel in `phones`.
            let mut phones = phones.iter().cloned();
            geo.map(|geo| {
                core::CustomerInput::New(core::NewCustomer {
                    name: name.clone(),
                    surname: surname.clone(),
                    phone: phones.next(),
                    phones: phones.collect(),
                    village_id: village_id.clone(),
                    geo,
                    national_id: national_id.clone(),
                })
            })
        }
    }
}

fn read_device(device: &DeviceInput) -> core::DeviceInput {
    core::DeviceInput {
        serial: device.serial.clone(),
        kind: device.kind.into(),
        manufacturer_id: device.manufacturer_id.clone(),
        tariff_id: device.tariff_id.clone(),
        openpaygo: device.openpaygo.as_ref().map(|o| core::OpenPaygoDevice {
            secret_key: o.secret_key.clone(),
            starting_code: o.starting_code,
            count: o.count,
            time_divider: o.time_divider,
            restricted_digits: o.restricted_digits,
            extended: o.extended,
        }),
    }
}

fn read_plan(r: &mut Reader, plan: &PlanInput) -> Option<core::PlanInput> {
    let currency = r.take("plan.currency", core::Currency::parse(&plan.currency));
    let terms = match &plan.terms {
        PlanTerms::Installments { terms: t } => {
            let total_cost = r.decimal("plan.total_cost", &t.total_cost);
            let down_payment = r.decimal("plan.down_payment", &t.down_payment);
            let period = r.take("plan.period", t.period.parse::<core::Period>());
            let start_date = r.date("plan.start_date", &t.start_date);
            let minimum_payment = r.optional_decimal("plan.minimum_payment", t.minimum_payment.as_deref());
            match (total_cost, down_payment, period, start_date, minimum_payment) {
                (Some(total_cost), Some(down_payment), Some(period), Some(start_date), Some(minimum_payment)) => {
                    Some(micropower_core::registry::PlanTermsInput::Installments(core::InstallmentTerms {
                        total_cost,
                        down_payment,
                        installments: t.installments,
                        period,
                        start_date,
                        minimum_payment,
                    }))
                }
                _ => None,
            }
        }
        PlanTerms::Eaas { terms: t } => {
            let price_per_day = r.decimal("plan.price_per_day", &t.price_per_day);
            let minimum_payable = r.decimal("plan.minimum_payable", &t.minimum_payable);
            price_per_day.zip(minimum_payable).map(|(price_per_day, minimum_payable)| {
                micropower_core::registry::PlanTermsInput::Eaas {
                    eaas: core::EaasTerms { price_per_day, minimum_payable },
                }
            })
        }
    };
    Some(core::PlanInput { appliance: plan.appliance.clone(), currency: currency?, terms: terms? })
}

impl From<DeviceKind> for core::DeviceKind {
    fn from(kind: DeviceKind) -> Self {
        match kind {
            DeviceKind::Meter => core::DeviceKind::Meter,
            DeviceKind::SolarHomeSystem => core::DeviceKind::SolarHomeSystem,
            DeviceKind::EBike => core::DeviceKind::EBike,
        }
    }
}
