//! `micropower-core` as a WebAssembly component: the `core` world of `host-server/wit/micropower.wit`.
//!
//! Each export is a thin conversion plus one call of [`micropower_core::json::call_text`] (JSON text straight
//! into the function's argument struct and out of its output); no rule lives here.
//! Built for `wasm32-wasip2` by the server's `build.rs`; on the host target it compiles (so the workspace's
//! fmt, clippy and tests cover it) but exports nothing.

// On the host target nothing calls the exports (they are exported only on wasm32), hence the allows below.
use micropower_core::calls::{CoreFn, NormalizePhone};
use micropower_core::CoreError;

#[allow(unsafe_code, missing_docs, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        world: "core",
        path: "../wit",
    });
}

use bindings::{CoreError as WitError, ErrorInfo};

/// The component: implements the world's exports.
pub struct Component;

impl bindings::Guest for Component {
    fn call(function: String, input: String) -> Result<String, WitError> {
        micropower_core::json::call_text(&function, &input).map_err(|e| to_wit(&e))
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

    #[test]
    fn spin_and_warm_up_run() {
        Component::warm_up();
        assert_eq!(Component::spin(0), 1);
        assert_ne!(Component::spin(3), Component::spin(4));
    }
}
