//! `micropower-core` as a WebAssembly component: the `core` world of `host-server/wit/micropower.wit`.
//!
//! Each export is a thin conversion plus one call: `call` of [`micropower_core::json::call_text`] (JSON text
//! straight into the function's argument struct and out of its output), the payment path's typed exports of
//! the core function they name, their records converted by `micropower_core::wit_records!`. No rule lives
//! here.
//! Built for `wasm32-wasip2` by the server's `build.rs`; on the host target it compiles (so the workspace's
//! fmt, clippy and tests cover it) but exports nothing.

// On the host target nothing calls the exports (they are exported only on wasm32), hence the allows below.
use micropower_core::api::{AccountSnapshot, Payment, ValidationRequest};
use micropower_core::calls::{AllocatePayment, CoreFn, NormalizePhone, NormalizeSerial, ValidatePayment};
use micropower_core::CoreError;

#[allow(unsafe_code, missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        world: "core",
        path: "../wit",
    });
}

use bindings::{CoreError as WitError, ErrorInfo};

micropower_core::wit_records!(bindings);

/// The component: implements the world's exports.
pub struct Component;

impl bindings::Guest for Component {
    fn call(function: String, input: String) -> Result<String, WitError> {
        micropower_core::json::call_text(&function, &input).map_err(|e| to_wit(&e))
    }

    fn allocate_payment(
        snapshot: Option<bindings::AccountSnapshot>,
        payment: bindings::Payment,
    ) -> Result<bindings::Allocation, WitError> {
        let call = || -> Result<bindings::Allocation, CoreError> {
            let snapshot = snapshot.map(AccountSnapshot::try_from).transpose()?;
            let payment = Payment::try_from(payment)?;
            Ok(AllocatePayment { snapshot, payment }.call()?.into())
        };
        call().map_err(|e| to_wit(&e))
    }

    fn validate_payment(
        snapshot: Option<bindings::AccountSnapshot>,
        request: bindings::ValidationRequest,
    ) -> Result<bindings::Validation, WitError> {
        let call = || -> Result<bindings::Validation, CoreError> {
            let snapshot = snapshot.map(AccountSnapshot::try_from).transpose()?;
            let request = ValidationRequest::try_from(request)?;
            Ok(ValidatePayment { snapshot, request }.call()?.into())
        };
        call().map_err(|e| to_wit(&e))
    }

    fn normalize_serial(raw: String) -> Result<String, WitError> {
        NormalizeSerial { raw }.call().map_err(|e| to_wit(&e))
    }

    fn warm_up() {
        // Parsing any phone number loads the phone-number metadata, the core's one costly lazy table.
        let warm = NormalizePhone { raw: "+255712345678".into(), region: None }.call();
        std::hint::black_box(warm.is_ok());
    }

    fn spin(iterations: u64) -> u64 {
        // An LCG the optimiser cannot fold into a closed form: one loop trip per iteration.
        let mut x = std::hint::black_box(1u64);
        for _ in 0..iterations {
            x = std::hint::black_box(x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407));
        }
        x
    }
}

#[cfg(target_arch = "wasm32")]
#[allow(unsafe_code)]
mod export {
    use super::{bindings, Component};
    bindings::export!(Component with_types_in bindings);
}

/// One case per `CoreError` variant; the match is exhaustive, so a new core variant needs a WIT case.
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
fn to_wit(error: &CoreError) -> WitError {
    let info = ErrorInfo { message: error.to_string(), details: error.details().to_string() };
    match error {
        CoreError::InvalidInput { .. } => WitError::InvalidInput(info),
        CoreError::InvalidAmount { .. } => WitError::InvalidAmount(info),
        CoreError::UnknownCurrency { .. } => WitError::UnknownCurrency(info),
        CoreError::InvalidSerial { .. } => WitError::InvalidSerial(info),
        CoreError::InvalidPhone { .. } => WitError::InvalidPhone(info),
        CoreError::InvalidGeoPoint { .. } => WitError::InvalidGeoPoint(info),
        CoreError::DateOutOfRange { .. } => WitError::DateOutOfRange(info),
        CoreError::NotFound { .. } => WitError::NotFound(info),
        CoreError::ForeignParent { .. } => WitError::ForeignParent(info),
        CoreError::DuplicateSerial { .. } => WitError::DuplicateSerial(info),
        CoreError::KindMismatch { .. } => WitError::KindMismatch(info),
        CoreError::UnknownSerial { .. } => WitError::UnknownSerial(info),
        CoreError::DeviceUnassigned { .. } => WitError::DeviceUnassigned(info),
        CoreError::CurrencyMismatch { .. } => WitError::CurrencyMismatch(info),
        CoreError::AmountBelowMinimum { .. } => WitError::AmountBelowMinimum(info),
        CoreError::TotalBelowPaid { .. } => WitError::TotalBelowPaid(info),
        CoreError::NoUntouchedInstallments => WitError::NoUntouchedInstallments(info),
        CoreError::InstallmentTouched { .. } => WitError::InstallmentTouched(info),
        CoreError::InvalidSecretKey { .. } => WitError::InvalidSecretKey(info),
        CoreError::InvalidTokenValue { .. } => WitError::InvalidTokenValue(info),
        CoreError::InvalidTokenCount { .. } => WitError::InvalidTokenCount(info),
        CoreError::TokenRejected { .. } => WitError::TokenRejected(info),
        CoreError::RiskCeilingExceeded { .. } => WitError::RiskCeilingExceeded(info),
    }
}

#[cfg(test)]
mod tests {
    use super::bindings::Guest;
    use super::*;

    #[test]
    fn output_is_the_core_output_as_json_text() {
        let got = Component::call("round_money".into(), r#"{"amount": "1.005", "currency": "KES"}"#.into());
        assert_eq!(got.ok().as_deref(), Some(r#""1.01""#));
    }

    #[test]
    fn a_refusal_carries_its_case_message_and_details() {
        match Component::call("round_money".into(), r#"{"amount": "1", "currency": "XYZ"}"#.into()) {
            Err(WitError::UnknownCurrency(info)) => {
                assert_eq!(info.message, r#"unknown currency "XYZ""#);
                assert!(info.details.contains(r#""currency":"XYZ""#), "{}", info.details);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn text_that_is_not_json_is_invalid_input() {
        let got = Component::call("round_money".into(), "{".into());
        assert!(matches!(got, Err(WitError::InvalidInput(ref info)) if info.details.contains(r#""field":"input""#)));
    }

    /// Every case of `F`'s vector file whose input reads as `F`: `typed` checks the case's arguments through
    /// the records and calls the typed export, whose answer must be what `call` answers by name, refusals
    /// included. Returns how many cases were checked.
    fn typed_export_answers_as_call<F, R>(file: &str, typed: impl Fn(&str, F) -> Result<R, WitError>) -> usize
    where
        F: CoreFn,
        F::Output: TryFrom<R, Error = CoreError> + PartialEq + std::fmt::Debug,
        R: std::fmt::Debug,
    {
        let file: serde_json::Value = serde_json::from_str(file).unwrap_or_default();
        let cases = file["cases"].as_array().cloned().unwrap_or_default();
        let mut checked = 0;
        for case in cases {
            let name = case["name"].as_str().unwrap_or_default();
            let Ok(args) = serde_json::from_value::<F>(case["input"].clone()) else {
                continue; // input the JSON reader refuses: `call` covers it, records cannot even hold it
            };
            let typed = typed(name, args);
            let by_name = Component::call(F::NAME.into(), case["input"].to_string());
            match (by_name, typed) {
                (Ok(text), Ok(record)) => {
                    let expected: F::Output = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
                    assert_eq!(F::Output::try_from(record).as_ref(), Ok(&expected), "{name}");
                }
                (Err(a), Err(b)) => assert_eq!(format!("{a:?}"), format!("{b:?}"), "{name}"),
                (a, b) => panic!("{name}: by name {a:?}, typed {b:?}"),
            }
            checked += 1;
        }
        checked
    }

    /// Every `allocate_payment` vector: its arguments and its output go through the records and come back
    /// equal, and the typed export answers what `call` answers by name.
    #[test]
    fn the_payment_records_carry_every_allocation_vector_unchanged() {
        let checked = typed_export_answers_as_call(
            include_str!("../../../tests/vectors/allocate_payment.json"),
            |name, args: AllocatePayment| {
                let payment = bindings::Payment::from(args.payment.clone());
                assert_eq!(Payment::try_from(payment.clone()).as_ref(), Ok(&args.payment), "{name}");
                let snapshot = args.snapshot.clone().map(bindings::AccountSnapshot::from);
                let back = snapshot.clone().map(AccountSnapshot::try_from).transpose();
                assert_eq!(back.as_ref().map(Option::as_ref), Ok(args.snapshot.as_ref()), "{name}");
                Component::allocate_payment(snapshot, payment)
            },
        );
        assert!(checked > 30, "only {checked} vectors were read");
    }

    /// Every `validate_payment` vector, as above: through the records and back unchanged, and the typed
    /// export answers what `call` answers by name, refusals included.
    #[test]
    fn the_validation_records_carry_every_validation_vector_unchanged() {
        let checked = typed_export_answers_as_call(
            include_str!("../../../tests/vectors/validate_payment.json"),
            |name, args: ValidatePayment| {
                let request = bindings::ValidationRequest::from(args.request.clone());
                assert_eq!(ValidationRequest::try_from(request.clone()).as_ref(), Ok(&args.request), "{name}");
                let snapshot = args.snapshot.clone().map(bindings::AccountSnapshot::from);
                Component::validate_payment(snapshot, request)
            },
        );
        assert!(checked >= 5, "only {checked} vectors were read");
    }

    #[test]
    fn normalize_serial_is_typed_too() {
        assert_eq!(Component::normalize_serial(" mtr-0001 ".into()).ok().as_deref(), Some("MTR0001"));
        assert!(matches!(Component::normalize_serial("".into()), Err(WitError::InvalidSerial(_))));
    }

    #[test]
    fn spin_and_warm_up_run() {
        Component::warm_up();
        assert_eq!(Component::spin(0), 1);
        assert_ne!(Component::spin(3), Component::spin(4));
    }
}
