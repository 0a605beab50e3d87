#![no_main]
//! Every JSON body of the API, through the parse its route uses (`extract::parse`): the first byte picks
//! the body type, the rest is the body. Accepted: the JSON holds no NUL character; refused: a 400
//! `invalid_input` naming its field. Registrations go the route's way: any JSON value first, then the
//! registration request with `registered_on` filled in.

use micropower_core::api::{PlanInput, RegistrationRequest};
use micropower_server::error::ApiError;
use micropower_server::extract::parse;
use micropower_server::{notify, payments, providers, routes};
use serde::de::DeserializeOwned;
use serde_json::{json, Value};

fn check<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    match parse::<T>(body) {
        Ok(value) => {
            micropower_fuzz::check_accepted(body);
            Some(value)
        }
        Err(refusal) => {
            micropower_fuzz::check_refusal(&refusal);
            None
        }
    }
}

/// `POST /v1/registrations`: a JSON value, `registered_on` defaulted, then the typed request.
fn registration(body: &[u8]) {
    let Some(mut value) = check::<Value>(body) else { return };
    if let Some(map) = value.as_object_mut() {
        map.entry("registered_on").or_insert_with(|| json!("2026-01-01"));
    }
    let Ok(bytes) = serde_json::to_vec(&value) else { panic!("a parsed value prints") };
    let _: Result<RegistrationRequest, ApiError> = parse(&bytes).inspect_err(micropower_fuzz::check_refusal);
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((pick, body)) = data.split_first() else { return };
    match pick % 20 {
        0 => {
            check::<payments::PaymentIn>(body);
        }
        1 => {
            check::<routes::payments::ValidateIn>(body);
        }
        2 => {
            check::<routes::payments::AssignIn>(body);
        }
        3 => {
            check::<routes::plans::TotalBody>(body);
        }
        4 => {
            check::<routes::plans::InstallmentBody>(body);
        }
        5 => {
            check::<routes::registry::NewCluster>(body);
        }
        6 => {
            check::<routes::registry::NewArea>(body);
        }
        7 => {
            check::<routes::registry::NewVillage>(body);
        }
        8 => {
            check::<routes::registry::NewManufacturer>(body);
        }
        9 => {
            check::<routes::tariffs::NewTariff>(body);
        }
        10 => {
            check::<routes::devices::OwnerIn>(body);
        }
        11 => {
            check::<routes::devices::OperatorTokenIn>(body);
        }
        12 => registration(body),
        13 => {
            check::<PlanInput>(body);
        }
        14 => {
            check::<routes::system::NewKey>(body);
        }
        15 => {
            check::<providers::ProviderIn>(body);
        }
        16 => {
            check::<providers::ResolveIn>(body);
        }
        17 => {
            check::<routes::tariffs::NewVersion>(body);
        }
        18 => {
            check::<routes::tariffs::TariffIn>(body);
        }
        _ => {
            check::<notify::templates::TemplateIn>(body);
        }
    }
});
