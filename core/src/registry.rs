//! The registry rules (domain.md §1): the service-area hierarchy, customers, devices and their
//! manufacturers, serial and phone normalisation, registration and re-assignment.
//!
//! The host owns the records; the core checks a request against what the host looked up and returns the
//! normalised records to store, so every client (server, phone app offline) applies the same rules.

use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::error::{CoreError, CoreResult};
use crate::openpaygo::OpenPaygoDevice;
use crate::plan::{EaasPlan, EaasTerms, InstallmentPlan, InstallmentTerms};
use crate::tariff::Tariff;

/// The longest canonical serial.
pub const MAX_SERIAL_LEN: usize = 32;

/// What a device is. Meters carry a tariff; SHS and e-bikes carry a payment plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// A prepaid electricity meter on a mini-grid.
    Meter,
    /// A pay-as-you-go solar home system.
    SolarHomeSystem,
    /// A pay-as-you-go electric bike.
    EBike,
}

impl DeviceKind {
    /// The snake_case name used on every wire.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Meter => "meter",
            Self::SolarHomeSystem => "solar_home_system",
            Self::EBike => "e_bike",
        }
    }

    /// Every kind, in declaration order.
    pub const ALL: [DeviceKind; 3] = [Self::Meter, Self::SolarHomeSystem, Self::EBike];
}

impl FromStr for DeviceKind {
    type Err = CoreError;

    /// The snake_case name ([`DeviceKind::as_str`]) back to the kind.
    fn from_str(text: &str) -> CoreResult<Self> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| CoreError::invalid("kind", format!("{text:?} is not meter, solar_home_system or e_bike")))
    }
}

/// How a manufacturer's devices get their tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenScheme {
    /// Tokens are made locally by the core (OpenPAYGO Token).
    Openpaygo,
    /// Tokens come from the vendor's system: the core emits a token request and the host fills it.
    External,
}

/// Brings a serial to its canonical form: trimmed, upper-cased, without spaces and dashes;
/// 1–32 characters of `A-Z0-9`. Every lookup by serial goes through this.
pub fn normalize_serial(raw: &str) -> CoreResult<String> {
    let canonical: String =
        raw.chars().filter(|c| !c.is_whitespace() && *c != '-').map(|c| c.to_ascii_uppercase()).collect();
    let refuse = |reason: &str| Err(CoreError::InvalidSerial { raw: raw.to_owned(), reason: reason.to_owned() });
    if canonical.is_empty() {
        return refuse("a serial needs at least one letter or digit");
    }
    if !canonical.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()) {
        return refuse("only the letters A-Z and digits 0-9 are allowed (spaces and dashes are dropped)");
    }
    if canonical.len() > MAX_SERIAL_LEN {
        return refuse("longer than 32 characters");
    }
    Ok(canonical)
}

/// Validates a phone number with libphonenumber's rules and returns it in E.164 (`+255712345678`).
/// `region` (ISO 3166 alpha-2, e.g. `"TZ"`) is needed only for numbers written without the `+` prefix.
#[cfg(feature = "phone")]
pub fn normalize_phone(raw: &str, region: Option<&str>) -> CoreResult<String> {
    let refuse = |reason: String| CoreError::InvalidPhone { raw: raw.to_owned(), reason };
    let country = match region.map(str::trim).filter(|r| !r.is_empty()) {
        Some(code) => Some(
            phonenumber::country::Id::from_str(&code.to_ascii_uppercase())
                .map_err(|_| CoreError::invalid("phone_region", format!("{code:?} is not a known region")))?,
        ),
        None => None,
    };
    let number = phonenumber::parse(country, raw).map_err(|e| refuse(e.to_string()))?;
    if !phonenumber::is_valid(&number) {
        return Err(refuse("not a valid number for its country".to_owned()));
    }
    Ok(number.format().mode(phonenumber::Mode::E164).to_string())
}

/// Without the `phone` feature there are no phone rules to apply: every number is refused as the facade
/// refuses a function it does not have, never accepted unchecked.
#[cfg(not(feature = "phone"))]
pub fn normalize_phone(_raw: &str, _region: Option<&str>) -> CoreResult<String> {
    Err(CoreError::NotFound { entity: "phone-module function".into(), id: "normalize_phone".into() })
}

/// A latitude/longitude pair, in degrees.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeoPoint {
    #[serde(with = "crate::wire::dec")]
    /// Latitude in degrees, -90 to 90.
    pub lat: Decimal,
    #[serde(with = "crate::wire::dec")]
    /// Longitude in degrees, -180 to 180.
    pub lng: Decimal,
}

impl GeoPoint {
    /// Errors unless −90 ≤ lat ≤ 90 and −180 ≤ lng ≤ 180.
    pub fn validate(&self) -> CoreResult<()> {
        if self.lat.abs() > Decimal::from(90) {
            return Err(CoreError::InvalidGeoPoint { reason: format!("latitude {} is outside [-90, 90]", self.lat) });
        }
        if self.lng.abs() > Decimal::from(180) {
            return Err(CoreError::InvalidGeoPoint {
                reason: format!("longitude {} is outside [-180, 180]", self.lng),
            });
        }
        Ok(())
    }
}

// --- hierarchy --------------------------------------------------------------------------------------

/// The top of the hierarchy: a group of service areas.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    /// Identifier given by the host.
    pub id: String,
    /// The cluster's name.
    pub name: String,
}

/// A service area (MPM's "mini-grid"): a real mini-grid or the area an SHS company serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatchmentArea {
    /// Identifier given by the host.
    pub id: String,
    /// The area's name.
    pub name: String,
    /// The cluster.
    pub cluster_id: String,
}

/// A village, where customers live.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Village {
    /// Identifier given by the host.
    pub id: String,
    /// The village's name.
    pub name: String,
    /// The catchment area.
    pub area_id: String,
}

/// The known hierarchy, or the part of it a request touches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hierarchy {
    #[serde(default)]
    /// Clusters.
    pub clusters: Vec<Cluster>,
    #[serde(default)]
    /// Catchment areas.
    pub areas: Vec<CatchmentArea>,
    #[serde(default)]
    /// Villages.
    pub villages: Vec<Village>,
}

/// Where a customer or device sits: village → area → cluster.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Location {
    /// The cluster.
    pub cluster_id: String,
    /// The catchment area.
    pub area_id: String,
    /// The village.
    pub village_id: String,
}

impl Hierarchy {
    /// Resolves a village to its full location; errors if the village, its area or its cluster is missing.
    pub fn locate(&self, village_id: &str) -> CoreResult<Location> {
        let village = self
            .villages
            .iter()
            .find(|v| v.id == village_id)
            .ok_or_else(|| CoreError::not_found("village", village_id))?;
        let area = self
            .areas
            .iter()
            .find(|a| a.id == village.area_id)
            .ok_or_else(|| CoreError::not_found("area", &village.area_id))?;
        if !self.clusters.iter().any(|c| c.id == area.cluster_id) {
            return Err(CoreError::not_found("cluster", &area.cluster_id));
        }
        Ok(Location { cluster_id: area.cluster_id.clone(), area_id: area.id.clone(), village_id: village.id.clone() })
    }

    /// Checks that a new area may be created under `cluster_id`.
    pub fn check_new_area(&self, name: &str, cluster_id: &str) -> CoreResult<()> {
        require_text("name", name)?;
        if self.clusters.iter().any(|c| c.id == cluster_id) {
            Ok(())
        } else {
            Err(CoreError::not_found("cluster", cluster_id))
        }
    }

    /// Checks that a new village may be created under `area_id`, and, when the caller names the cluster it
    /// expects, that the area belongs to it.
    pub fn check_new_village(&self, name: &str, area_id: &str, cluster_id: Option<&str>) -> CoreResult<()> {
        require_text("name", name)?;
        let area = self.areas.iter().find(|a| a.id == area_id).ok_or_else(|| CoreError::not_found("area", area_id))?;
        match cluster_id {
            Some(expected) if expected != area.cluster_id => Err(CoreError::ForeignParent {
                entity: "area".into(),
                id: area_id.to_owned(),
                parent: "cluster".into(),
                parent_id: expected.to_owned(),
            }),
            _ => Ok(()),
        }
    }
}

// --- customers, manufacturers, devices --------------------------------------------------------------

/// A customer as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Customer {
    /// Identifier given by the host.
    pub id: String,
    /// Given name.
    pub name: String,
    /// Surname.
    pub surname: String,
    /// E.164 numbers, the first is the main one.
    pub phones: Vec<String>,
    /// The village.
    pub village_id: String,
    #[serde(default)]
    /// Where the customer lives, if known.
    pub geo: Option<GeoPoint>,
    #[serde(default)]
    /// National id, if given.
    pub national_id: Option<String>,
}

impl Customer {
    /// "Name Surname", as the customer is addressed in answers and messages.
    pub fn display_name(&self) -> String {
        format!("{} {}", self.name, self.surname).trim().to_owned()
    }
}

/// A device maker and how its devices get tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manufacturer {
    /// Identifier given by the host.
    pub id: String,
    /// The maker's name.
    pub name: String,
    /// What kinds of device it makes.
    pub device_kinds: Vec<DeviceKind>,
    /// How the device gets tokens.
    pub token_scheme: TokenScheme,
}

/// A customer given in a registration: a new one, or an existing one by id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CustomerInput {
    /// A customer already in the registry, by id.
    Existing {
        /// The customer's id.
        id: String,
    },
    /// A new customer, created with the device.
    New(NewCustomer),
}

/// The fields of a new customer as typed by an agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewCustomer {
    #[serde(default)]
    /// Given name.
    pub name: String,
    #[serde(default)]
    /// Surname.
    pub surname: String,
    /// One phone number (the HTTP API's field) …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    /// … and/or several; together at least one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub phones: Vec<String>,
    #[serde(default)]
    /// The village.
    pub village_id: String,
    #[serde(default)]
    /// Where the customer lives, if known.
    pub geo: Option<GeoPoint>,
    #[serde(default)]
    /// National id, if given.
    pub national_id: Option<String>,
}

/// The device part of a registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceInput {
    /// As typed; normalised by the core.
    pub serial: String,
    /// Meter, SHS or e-bike.
    pub kind: DeviceKind,
    /// The device maker.
    pub manufacturer_id: String,
    #[serde(default)]
    /// The meter's tariff.
    pub tariff_id: Option<String>,
    #[serde(default)]
    /// OpenPAYGO settings, for devices whose manufacturer uses OpenPAYGO.
    pub openpaygo: Option<OpenPaygoDevice>,
}

/// The plan sold with an SHS or e-bike (or an appliance without a device).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanInput {
    /// What was sold (e.g. "SHS 80W", "TV").
    pub appliance: String,
    /// ISO 4217 currency.
    pub currency: crate::money::Currency,
    #[serde(flatten)]
    /// Installments or EaaS terms.
    pub terms: PlanTermsInput,
}

/// Installments or energy-as-a-service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum PlanTermsInput {
    /// Energy-as-a-service.
    Eaas {
        /// Price per day and minimum payable.
        eaas: EaasTerms,
    },
    /// An installment plan.
    Installments(InstallmentTerms),
}

/// `POST /v1/registrations`: a customer and a device together, atomically.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationRequest {
    /// The customer part.
    pub customer: CustomerInput,
    /// The device part.
    pub device: DeviceInput,
    #[serde(default)]
    /// The plan.
    pub plan: Option<PlanInput>,
    /// Anchors access-rate periods.
    pub registered_on: NaiveDate,
    /// Region for phone numbers written without `+` (ISO 3166 alpha-2).
    #[serde(default)]
    pub phone_region: Option<String>,
    /// Whether the plan's down payment was paid at the sale (recorded as a paid line). Default true.
    #[serde(default = "yes")]
    pub down_payment_paid: bool,
}

fn yes() -> bool {
    true
}

/// What the host looked up for a registration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationContext {
    /// The new customer's village resolved to its location (see [`Hierarchy::locate`]); `None` if unknown.
    #[serde(default)]
    pub location: Option<Location>,
    /// The existing customer, when the request names one by id (or the host matched the phone exactly).
    #[serde(default)]
    pub existing_customer: Option<Customer>,
    #[serde(default)]
    /// The device maker named by the request.
    pub manufacturer: Option<Manufacturer>,
    /// The meter's tariff, when the request names one.
    #[serde(default)]
    pub tariff: Option<Tariff>,
    /// True when some device already carries the normalised serial.
    #[serde(default)]
    pub serial_taken: bool,
    /// Ids the host will give the new customer and plan (the core invents no ids).
    #[serde(default)]
    pub new_customer_id: Option<String>,
    #[serde(default)]
    /// The id the host gives a new plan.
    pub new_plan_id: Option<String>,
}

/// A device as stored after registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredDevice {
    /// The device serial (canonical where the core produced it).
    pub serial: String,
    /// The serial as typed.
    pub serial_raw: String,
    /// Meter, SHS or e-bike.
    pub kind: DeviceKind,
    /// The device maker.
    pub manufacturer_id: String,
    /// How the device gets tokens.
    pub token_scheme: TokenScheme,
    /// The meter's tariff.
    pub tariff_id: Option<String>,
    /// The owner customer.
    pub owner_id: String,
    /// Registration day; anchors access-rate periods.
    pub registered_on: NaiveDate,
    /// OpenPAYGO settings, for devices whose manufacturer uses OpenPAYGO.
    pub openpaygo: Option<OpenPaygoDevice>,
}

/// The plan created with a registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RegisteredPlan {
    /// An installment plan.
    Installments {
        /// What was sold.
        appliance: String,
        /// The schedule.
        plan: InstallmentPlan,
    },
    /// Energy-as-a-service.
    Eaas {
        /// What was sold.
        appliance: String,
        /// The price per day.
        plan: EaasPlan,
    },
}

/// The records to store, all in one transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The customer part.
    pub customer: Customer,
    /// True when `customer` is new and must be inserted.
    pub new_customer: bool,
    /// Village -> area -> cluster.
    pub location: Location,
    /// The device part.
    pub device: RegisteredDevice,
    /// The plan.
    pub plan: Option<RegisteredPlan>,
}

/// A problem with one field of a registration form, for showing next to the field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Dotted path, e.g. `customer.phone`, `device.serial`, `plan.installments`.
    pub field: String,
    /// The error code (snake_case of the variant).
    pub code: String,
    /// Human text.
    pub message: String,
}

impl FieldError {
    fn from_error(field: &str, error: &CoreError) -> Self {
        let field = match error {
            CoreError::InvalidInput { field: inner, .. } if !inner.is_empty() && !field.ends_with(inner.as_str()) => {
                format!("{field}.{inner}")
            }
            _ => field.to_owned(),
        };
        FieldError { field, code: error.code().to_owned(), message: error.to_string() }
    }
}

/// Every rule of a registration that can be checked without the database, each failure tied to its field.
/// An empty list means the form may be queued or posted.
pub fn registration_field_errors(request: &RegistrationRequest) -> Vec<FieldError> {
    offline_checks(request)
        .into_iter()
        .filter_map(|(field, r)| r.err().map(|e| FieldError::from_error(field, &e)))
        .collect()
}

fn offline_checks(request: &RegistrationRequest) -> Vec<(&'static str, CoreResult<()>)> {
    let mut checks = Vec::new();
    if let CustomerInput::New(c) = &request.customer {
        checks.push(("customer.name", require_name("name", &c.name)));
        checks.push(("customer.surname", require_name("surname", &c.surname)));
        checks.push(("customer.village_id", require_text("village_id", &c.village_id)));
        checks.push(("customer.phone", phones_of(c, request.phone_region.as_deref()).map(|_| ())));
        if let Some(geo) = &c.geo {
            checks.push(("customer.geo", geo.validate()));
        }
    }
    if let CustomerInput::Existing { id } = &request.customer {
        checks.push(("customer.id", require_text("id", id)));
    }
    let d = &request.device;
    checks.push(("device.serial", normalize_serial(&d.serial).map(|_| ())));
    checks.push(("device.manufacturer_id", require_text("manufacturer_id", &d.manufacturer_id)));
    checks.push(("device", kind_rules(d, request.plan.as_ref())));
    if let Some(opg) = &d.openpaygo {
        checks.push(("device.openpaygo", crate::openpaygo::check_device(opg)));
    }
    if let Some(plan) = &request.plan {
        checks.push(("plan.appliance", require_text("appliance", &plan.appliance)));
        checks.push(("plan", plan_terms(plan, request.down_payment_paid, "").map(|_| ())));
    }
    checks
}

/// Meters carry a tariff and no plan; SHS and e-bikes carry a plan and no tariff.
fn kind_rules(device: &DeviceInput, plan: Option<&PlanInput>) -> CoreResult<()> {
    let refuse =
        |reason: &str| Err(CoreError::KindMismatch { kind: device.kind.as_str().into(), reason: reason.into() });
    match device.kind {
        DeviceKind::Meter if device.tariff_id.is_none() => refuse("a meter needs a tariff"),
        DeviceKind::Meter if plan.is_some() => refuse("a meter carries a tariff, not a payment plan"),
        DeviceKind::SolarHomeSystem | DeviceKind::EBike if device.tariff_id.is_some() => {
            refuse("a tariff is only for meters")
        }
        DeviceKind::SolarHomeSystem | DeviceKind::EBike if plan.is_none() => {
            refuse("a solar home system or e-bike needs a payment plan")
        }
        _ => Ok(()),
    }
}

/// A plan sold on its own (an appliance without a device) or with a device: installments with their
/// schedule, or energy-as-a-service.
pub fn create_plan(id: &str, plan: &PlanInput, down_payment_paid: bool) -> CoreResult<RegisteredPlan> {
    require_text("appliance", &plan.appliance)?;
    plan_terms(plan, down_payment_paid, id)
}

fn plan_terms(plan: &PlanInput, down_payment_paid: bool, id: &str) -> CoreResult<RegisteredPlan> {
    Ok(match &plan.terms {
        PlanTermsInput::Installments(terms) => RegisteredPlan::Installments {
            appliance: plan.appliance.clone(),
            plan: InstallmentPlan::create(id, plan.currency, terms, down_payment_paid)?,
        },
        PlanTermsInput::Eaas { eaas } => {
            RegisteredPlan::Eaas { appliance: plan.appliance.clone(), plan: EaasPlan::create(id, plan.currency, eaas)? }
        }
    })
}

fn phones_of(customer: &NewCustomer, region: Option<&str>) -> CoreResult<Vec<String>> {
    let raw: Vec<&String> = customer.phone.iter().chain(customer.phones.iter()).collect();
    if raw.is_empty() {
        return Err(CoreError::invalid("phone", "at least one phone number is required"));
    }
    let mut phones: Vec<String> = Vec::with_capacity(raw.len());
    for p in raw {
        let e164 = normalize_phone(p, region)?;
        if !phones.contains(&e164) {
            phones.push(e164);
        }
    }
    Ok(phones)
}

/// The most characters a name may have.
const MAX_NAME_CHARS: usize = 200;

/// A customer's record from the fields an operator typed, for a registration, a customer created on their
/// own and an edit (the host passes the record as it would be after the edit): name and surname trimmed,
/// 1 to 200 characters each; at least one phone, each in E.164, without repeats, the first the main one; a
/// village; a valid position if any; the national id trimmed, or none when blank.
pub fn customer_record(id: &str, customer: &NewCustomer, region: Option<&str>) -> CoreResult<Customer> {
    require_text("id", id)?;
    require_name("name", &customer.name)?;
    require_name("surname", &customer.surname)?;
    require_text("village_id", &customer.village_id)?;
    let phones = phones_of(customer, region)?;
    if let Some(geo) = &customer.geo {
        geo.validate()?;
    }
    Ok(Customer {
        id: id.to_owned(),
        name: customer.name.trim().to_owned(),
        surname: customer.surname.trim().to_owned(),
        phones,
        village_id: customer.village_id.trim().to_owned(),
        geo: customer.geo,
        national_id: customer.national_id.as_ref().map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()),
    })
}

/// A person's name: 1 to [`MAX_NAME_CHARS`] characters once trimmed.
fn require_name(field: &str, value: &str) -> CoreResult<()> {
    require_text(field, value)?;
    if value.trim().chars().count() > MAX_NAME_CHARS {
        return Err(CoreError::invalid(field, format!("at most {MAX_NAME_CHARS} characters")));
    }
    Ok(())
}

fn require_text(field: &str, value: &str) -> CoreResult<()> {
    if value.trim().is_empty() {
        Err(CoreError::invalid(field, "is required"))
    } else {
        Ok(())
    }
}

/// Checks a registration against the looked-up context and returns the records to store. The first
/// failing rule is the error; [`registration_field_errors`] lists all offline ones.
pub fn register(request: &RegistrationRequest, context: &RegistrationContext) -> CoreResult<Registration> {
    for (_, check) in offline_checks(request) {
        check?;
    }
    let serial = normalize_serial(&request.device.serial)?;
    if context.serial_taken {
        return Err(CoreError::DuplicateSerial { serial });
    }
    let (customer, new_customer) = resolve_customer(request, context)?;
    let location = match &context.location {
        Some(loc) if loc.village_id == customer.village_id => loc.clone(),
        Some(loc) => {
            return Err(CoreError::ForeignParent {
                entity: "village".into(),
                id: loc.village_id.clone(),
                parent: "customer".into(),
                parent_id: customer.id.clone(),
            })
        }
        None => return Err(CoreError::not_found("village", &customer.village_id)),
    };
    let d = &request.device;
    let manufacturer = match &context.manufacturer {
        Some(m) if m.id == d.manufacturer_id => m,
        _ => return Err(CoreError::not_found("manufacturer", &d.manufacturer_id)),
    };
    if !manufacturer.device_kinds.contains(&d.kind) {
        return Err(CoreError::KindMismatch {
            kind: d.kind.as_str().into(),
            reason: format!("manufacturer {} does not make this kind of device", manufacturer.name),
        });
    }
    if manufacturer.token_scheme == TokenScheme::Openpaygo && d.openpaygo.is_none() {
        return Err(CoreError::invalid("device.openpaygo", "an OpenPAYGO device needs its secret key and settings"));
    }
    if let Some(tariff_id) = &d.tariff_id {
        match &context.tariff {
            Some(t) if t.id.as_deref() == Some(tariff_id.as_str()) => t.validate()?,
            _ => return Err(CoreError::not_found("tariff", tariff_id)),
        }
    }
    let plan = match &request.plan {
        Some(p) => {
            let id = context.new_plan_id.as_deref().ok_or_else(|| CoreError::invalid("new_plan_id", "is required"))?;
            Some(plan_terms(p, request.down_payment_paid, id)?)
        }
        None => None,
    };
    let device = RegisteredDevice {
        serial,
        serial_raw: d.serial.clone(),
        kind: d.kind,
        manufacturer_id: manufacturer.id.clone(),
        token_scheme: manufacturer.token_scheme,
        tariff_id: d.tariff_id.clone(),
        owner_id: customer.id.clone(),
        registered_on: request.registered_on,
        openpaygo: if manufacturer.token_scheme == TokenScheme::Openpaygo { d.openpaygo.clone() } else { None },
    };
    Ok(Registration { customer, new_customer, location, device, plan })
}

fn resolve_customer(request: &RegistrationRequest, context: &RegistrationContext) -> CoreResult<(Customer, bool)> {
    match &request.customer {
        CustomerInput::Existing { id } => match &context.existing_customer {
            Some(c) if &c.id == id => Ok((c.clone(), false)),
            _ => Err(CoreError::not_found("customer", id)),
        },
        CustomerInput::New(new) => {
            let phones = phones_of(new, request.phone_region.as_deref())?;
            // An exact phone match found by the host means the customer already exists: no duplicate person.
            if let Some(existing) = &context.existing_customer {
                if existing.phones.iter().any(|p| phones.contains(p)) {
                    return Ok((existing.clone(), false));
                }
            }
            let id =
                context.new_customer_id.clone().ok_or_else(|| CoreError::invalid("new_customer_id", "is required"))?;
            Ok((customer_record(&id, new, request.phone_region.as_deref())?, true))
        }
    }
}

/// Re-assigns an existing device to another customer; returns the new owner's id. The device's plan and
/// token state stay with the device.
pub fn reassign_device(
    serial: &str,
    device_exists: bool,
    new_owner: Option<&Customer>,
    new_owner_id: &str,
) -> CoreResult<String> {
    let serial = normalize_serial(serial)?;
    if !device_exists {
        return Err(CoreError::UnknownSerial { serial });
    }
    match new_owner {
        Some(c) if c.id == new_owner_id => Ok(c.id.clone()),
        _ => Err(CoreError::not_found("customer", new_owner_id)),
    }
}
