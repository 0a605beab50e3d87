//! `--demo`: a small realistic dataset so a new user sees data at once — one cluster, two service areas,
//! four villages, a meter tariff with an access rate, twenty customers with meters and solar home systems on
//! monthly plans, and a few months of payments. Everything goes through the same paths as real requests
//! (registration and payment handlers, so the core decides every number).

use axum::extract::State;
use serde_json::{json, Value};

use crate::error::{ApiError, ApiResult};
use crate::extract::Body;
use crate::payments::{apply, PaymentIn};
use crate::routes::{registrations, registry, tariffs};
use crate::state::AppState;

const NAMES: [(&str, &str); 20] = [
    ("Amina", "Juma"),
    ("Baraka", "Mushi"),
    ("Neema", "Mollel"),
    ("Juma", "Hassan"),
    ("Rehema", "Kimaro"),
    ("Daudi", "Mwakyusa"),
    ("Zawadi", "Nyerere"),
    ("Emmanuel", "Lyimo"),
    ("Halima", "Said"),
    ("Petro", "Massawe"),
    ("Upendo", "Mrema"),
    ("Saidi", "Omari"),
    ("Grace", "Temba"),
    ("Hamisi", "Bakari"),
    ("Mwanaidi", "Ali"),
    ("Joseph", "Shirima"),
    ("Fatuma", "Athumani"),
    ("Elia", "Mbwambo"),
    ("Tumaini", "Kessy"),
    ("Khadija", "Mfinanga"),
];

/// The `id` of a created record's answer.
fn id(answer: &impl serde::Serialize) -> ApiResult<String> {
    let v = serde_json::to_value(answer).map_err(ApiError::internal)?;
    v.get("id").and_then(Value::as_str).map(str::to_owned).ok_or_else(|| ApiError::internal("demo: no id"))
}

fn key() -> ApiResult<String> {
    Ok(hex::encode(crate::crypto::random_bytes::<16>()?))
}

/// Seeds an empty database; returns false (and changes nothing) when it already has customers.
pub async fn seed(state: &AppState) -> ApiResult<bool> {
    let existing: i64 =
        sqlx::Row::try_get(&sqlx::query("SELECT COUNT(*) AS n FROM customers").fetch_one(&state.db.pool).await?, "n")?;
    if existing > 0 {
        return Ok(false);
    }
    let cluster = registry::create_cluster(
        State(state.clone()),
        Body(serde_json::from_value(json!({"name": "Lake Zone"})).map_err(ApiError::internal)?),
    )
    .await?
    .1
     .0;
    let mut villages = Vec::new();
    for (area_name, village_names) in
        [("Mwanza mini-grid", ["Igoma", "Buhongwa"]), ("Ukerewe solar", ["Nansio", "Bukongo"])]
    {
        let area = registry::create_area(
            State(state.clone()),
            Body(
                serde_json::from_value(json!({"name": area_name, "cluster_id": id(&cluster)?}))
                    .map_err(ApiError::internal)?,
            ),
        )
        .await?
        .1
         .0;
        for v in village_names {
            let village = registry::create_village(
                State(state.clone()),
                Body(serde_json::from_value(json!({"name": v, "area_id": id(&area)?})).map_err(ApiError::internal)?),
            )
            .await?
            .1
             .0;
            villages.push(id(&village)?);
        }
    }
    let maker = |name: &str, kinds: Value| json!({"name": name, "device_kinds": kinds, "token_scheme": "openpaygo"});
    let meters = registry::create_manufacturer(
        State(state.clone()),
        Body(serde_json::from_value(maker("Demo Meters", json!(["meter"]))).map_err(ApiError::internal)?),
    )
    .await?
    .1
     .0;
    let shs = registry::create_manufacturer(
        State(state.clone()),
        Body(
            serde_json::from_value(maker("Demo Solar", json!(["solar_home_system", "e_bike"])))
                .map_err(ApiError::internal)?,
        ),
    )
    .await?
    .1
     .0;
    let tariff = tariffs::create_tariff(
        State(state.clone()),
        Body(
            serde_json::from_value(json!({
                "name": "Residential", "currency": "TZS", "price_per_kwh": "500", "fees": [{"name": "REA levy", "price_per_kwh": "50"}],
                "access_rate": {"amount": "1000", "period_days": 30}, "minimum_purchase": "500", "energy_step_kwh": "0.1"
            }))
            .map_err(ApiError::internal)?,
        ),
    )
    .await?
    .1
     .0;
    let start = state.today() - chrono::Days::new(120);
    for (n, (name, surname)) in NAMES.iter().enumerate() {
        let village = villages.get(n % villages.len()).cloned().unwrap_or_default();
        let customer =
            json!({"name": name, "surname": surname, "phone": format!("+25575400{:04}", n + 1), "village_id": village});
        let opg = json!({"secret_key": key()?, "starting_code": 100_000_000 + n * 7919, "count": 0});
        let (serial, body) = if n % 2 == 0 {
            let serial = format!("MTR-{:04}", n + 1);
            (
                serial.clone(),
                json!({
                    "customer": customer, "registered_on": start,
                    "device": {"serial": serial, "kind": "meter", "manufacturer_id": id(&meters)?, "tariff_id": id(&tariff)?, "openpaygo": opg},
                }),
            )
        } else {
            let serial = format!("SHS-{:04}", n + 1);
            (
                serial.clone(),
                json!({
                    "customer": customer, "registered_on": start,
                    "device": {"serial": serial, "kind": "solar_home_system", "manufacturer_id": id(&shs)?, "openpaygo": opg},
                    "plan": {"appliance": "SHS 80W kit", "currency": "TZS", "total_cost": "90000", "down_payment": "10000",
                             "installments": 12, "period": "monthly", "start_date": start},
                }),
            )
        };
        // No API key seeds the demo: its down payments are recorded by none.
        let _registered =
            registrations::registration(state, &crate::storage::audit::Actor::System("demo"), None, body).await?;
        // A few payments spread over the last months; some customers fall behind on purpose.
        let payments = if n % 5 == 4 { 1 } else { 3 + n % 3 };
        for p in 0..payments {
            let days_ago = 110u64.saturating_sub(p as u64 * 30 + (n as u64 % 7));
            let at = (crate::ids::now() - chrono::Duration::days(i64::try_from(days_ago).unwrap_or(0))).to_rfc3339();
            let amount = if n % 2 == 0 { 2000 + 500 * (n % 4) } else { 7000 + 1000 * (p % 2) };
            let payment = PaymentIn {
                provider: "demo".into(),
                provider_tx_id: format!("demo-{n}-{p}"),
                serial: Some(serial.clone()),
                plan_id: None,
                amount: amount.to_string(),
                currency: "TZS".into(),
                received_at: Some(at),
                payer_phone: None,
                money_moved: false,
                recorded_by: None,
                agent_id: None,
            };
            apply(state, &payment).await?;
        }
    }
    tracing::info!("demo data seeded: 20 customers, 10 meters, 10 solar home systems");
    Ok(true)
}
