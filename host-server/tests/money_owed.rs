//! Money a customer paid or owes that the system must not lose sight of (issue 14), over HTTP on SQLite and
//! PostgreSQL: what an OpenPAYGO token cannot carry stays as credit, and access-rate debt that accrued since
//! a meter's last payment (or with no payment at all) is owed in the debt report, PAR, and the device and
//! customer views.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[macro_use]
mod common;

use common::*;
use micropower_server::config::EngineKind;
use serde_json::{json, Value};

on_both_databases!(openpaygo_tokens_carry_what_was_booked, access_rate_debt_is_owed_without_a_payment);

/// An OpenPAYGO maker of meters.
async fn openpaygo_meter_maker(s: &TestServer) -> String {
    let maker = s
        .ok(
            "/v1/manufacturers",
            json!({"name": "OpenMeter", "device_kinds": ["meter"], "token_scheme": "openpaygo"}),
            201,
        )
        .await;
    maker["id"].as_str().unwrap().to_owned()
}

fn allocations(answer: &Value) -> Vec<(String, String, Option<String>)> {
    answer["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_owned(),
                l["amount"].as_str().unwrap().to_owned(),
                l["quantity"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

fn line(kind: &str, amount: &str, quantity: Option<&str>) -> (String, String, Option<String>) {
    (kind.to_owned(), amount.to_owned(), quantity.map(str::to_owned))
}

fn token_quantities(answer: &Value) -> Vec<String> {
    answer["tokens"].as_array().unwrap().iter().map(|t| t["quantity"].as_str().unwrap().to_owned()).collect()
}

/// Issue 14, item 1: an OpenPAYGO meter (divider 1) at 500/kWh paid 700 sells 1 kWh for 500 and keeps 200
/// as credit; before, it booked 1.4 kWh for 700 while the token carried 1 kWh. Also divider 3 on a meter
/// (whole kWh, the rest credit) and on an SHS (7.5 days rounded up to 8 whole days, not 7.67).
async fn openpaygo_tokens_carry_what_was_booked(s: TestServer) {
    let r = registry(&s).await;
    let maker = openpaygo_meter_maker(&s).await;
    let register = |serial: &'static str, price: &'static str, divider: u32| {
        let (s, village, maker) = (&s, r.village.clone(), maker.clone());
        async move {
            let tariff =
                s.ok("/v1/tariffs", json!({"name": serial, "currency": "TZS", "price_per_kwh": price}), 201).await;
            s.ok(
                "/v1/registrations",
                json!({
                    "customer": new_customer(&village),
                    "device": {"serial": serial, "kind": "meter", "manufacturer_id": maker, "tariff_id": tariff["id"],
                               "openpaygo": {"secret_key": KEY, "starting_code": 123456789, "count": 0, "time_divider": divider}},
                    "registered_on": "2026-01-01"
                }),
                201,
            )
            .await
        }
    };

    register("OPM1", "500", 1).await;
    // The validation preview says it before the money moves...
    let (code, preview) =
        s.post("/v1/payments/validate", json!({"serial": "OPM1", "amount": "700", "currency": "TZS"})).await;
    assert_eq!(code, 200, "{preview}");
    assert_eq!(preview["preview"]["allocations"], json!([{"kind": "energy", "amount": "500", "quantity": "1"}]));
    assert_eq!(preview["preview"]["credit_added"], "200");
    assert_eq!(preview["preview"]["tokens"][0]["quantity"], "1");
    // ... and the payment does it.
    let paid = s.ok("/v1/payments", payment("opm1", "OPM1", "700", "2026-02-01T08:00:00Z"), 201).await;
    assert_eq!(allocations(&paid), [line("energy", "500", Some("1")), line("credit", "200", None)], "{paid}");
    assert_eq!(token_quantities(&paid), ["1"], "{paid}");
    assert_eq!(paid["tokens"][0]["unit"], "kwh");
    assert!(paid["tokens"][0]["code"].is_string(), "an OpenPAYGO token is made at once: {paid}");
    assert_eq!(paid["credit_balance"], "200");
    let (_, device) = s.get("/v1/devices/OPM1").await;
    assert_eq!(device["credit_balance"], "200", "{device}");
    let (_, history) = s.get("/v1/devices/OPM1/tokens").await;
    assert_eq!(history["items"][0]["quantity"], "1", "{history}");
    // Divider 3: a third of a kWh is no decimal, so whole kWh: 1000 at 300/kWh is 3 kWh for 900, 100 credit.
    register("OPM3", "300", 3).await;
    let paid = s.ok("/v1/payments", payment("opm3", "OPM3", "1000", "2026-02-01T08:00:00Z"), 201).await;
    assert_eq!(allocations(&paid), [line("energy", "900", Some("3")), line("credit", "100", None)], "{paid}");
    assert_eq!(token_quantities(&paid), ["3"]);

    // An SHS at divider 3 on a weekly 700 plan: 750 buys 7.5 days, rounded up to whole days (8), and its
    // tokens carry exactly those 8 days.
    s.ok(
        "/v1/registrations",
        json!({
            "customer": new_customer(&r.village),
            "device": {"serial": "SHS-D3", "kind": "solar_home_system", "manufacturer_id": r.shs_maker,
                       "openpaygo": {"secret_key": KEY, "starting_code": 123456789, "count": 0, "time_divider": 3}},
            "plan": {"appliance": "SHS 80W", "currency": "TZS", "total_cost": "2100", "down_payment": "0",
                     "installments": 3, "period": "weekly", "start_date": "2026-01-01"},
            "registered_on": "2026-01-01"
        }),
        201,
    )
    .await;
    let paid = s.ok("/v1/payments", payment("shs3", "SHS-D3", "750", "2026-01-02T08:00:00Z"), 201).await;
    assert_eq!(token_quantities(&paid), ["8"], "{paid}");
    assert_eq!(paid["tokens"][0]["unit"], "days");
}

/// Issue 14, item 5: a meter registered 10 periods ago with an access rate and no payment owes 10 fees today:
/// in the debt report (its own line), PAR, and its device and customer views. Reading writes nothing, and a
/// payment today finds the same debt.
async fn access_rate_debt_is_owed_without_a_payment(s: TestServer) {
    let r = registry(&s).await;
    let today = micropower_server::ids::business_day(&micropower_server::ids::now(), chrono_tz::Tz::UTC);
    let registered_on = today - chrono::Days::new(70);
    let tariff = s
        .ok(
            "/v1/tariffs",
            json!({"name": "Weekly fee", "currency": "TZS", "price_per_kwh": "500",
                                    "access_rate": {"amount": "300", "period_days": 7}}),
            201,
        )
        .await;
    let reg = s
        .ok(
            "/v1/registrations",
            json!({
                "customer": new_customer(&r.village),
                "device": {"serial": "MTR-AR", "kind": "meter", "manufacturer_id": r.meter_maker, "tariff_id": tariff["id"]},
                "registered_on": registered_on
            }),
            201,
        )
        .await;
    let customer = reg["customer"]["id"].as_str().unwrap().to_owned();

    let (code, debt) = s.get("/v1/reports/debt").await;
    assert_eq!(code, 200, "{debt}");
    assert_eq!(debt["access_rate"], json!({"amount": "3000", "meters": 1}), "{debt}");
    assert_eq!(debt["outstanding"], "3000");
    assert_eq!(debt["installments"], 0);
    let (_, earlier) =
        s.get(&format!("/v1/reports/debt?currency=TZS&as_of={}", registered_on + chrono::Days::new(6))).await;
    assert_eq!(earlier["access_rate"], json!({"amount": "0", "meters": 0}), "no fee is due in the first period");
    // The oldest fee fell due 63 days ago: the whole debt is at risk at 30 days, none of it at 63.
    let (_, par) = s.get("/v1/reports/par?days=30").await;
    assert_eq!(
        (par["at_risk"].as_str(), par["outstanding"].as_str(), par["ratio"].as_str()),
        (Some("3000"), Some("3000"), Some("1"))
    );
    let (_, par) = s.get("/v1/reports/par?days=63").await;
    assert_eq!(par["at_risk"], "0", "{par}");

    let (_, device) = s.get("/v1/devices/MTR-AR").await;
    assert_eq!(device["access_rate_debt"], "3000", "{device}");
    let (_, listed) = s.get("/v1/devices?query=MTR-AR").await;
    let mut listed = listed["items"][0].clone();
    listed.as_object_mut().unwrap().remove("customer");
    assert_eq!(listed, device);
    let (_, owner) = s.get(&format!("/v1/customers/{customer}")).await;
    assert_eq!(owner["devices"][0]["access_rate_debt"], "3000", "{owner}");
    assert_eq!(owner["access_rate_debt"], json!({"TZS": "3000"}), "{owner}");

    // Nothing was written by those reads: the stored account is still the registration's.
    let (_, snapshot) = s.get("/v1/devices/MTR-AR/snapshot").await;
    assert_eq!(snapshot["snapshot"]["billing"]["access_rate"], json!({"accrued_periods": 0, "debt": "0"}));
    let export = s.client.get(format!("{}/v1/export", s.base)).bearer_auth(&s.key).send().await.unwrap();
    let line = export
        .text()
        .await
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|l| l["type"] == "access_rate")
        .expect("the export carries the meter's access-rate account");
    assert_eq!((&line["serial"], &line["state"]["debt"]), (&json!("MTRAR"), &json!("0")));

    // A payment today accrues the same ten fees and pays 1000 of them; the views then show the rest.
    let now =
        json!({"provider": "test", "provider_tx_id": "ar1", "serial": "MTR-AR", "amount": "1000", "currency": "TZS"});
    let paid = s.ok("/v1/payments", now, 201).await;
    assert_eq!(paid["allocations"][0], json!({"kind": "access_rate", "amount": "1000"}), "{paid}");
    let (_, device) = s.get("/v1/devices/MTR-AR").await;
    assert_eq!(device["access_rate_debt"], "2000");
    let (_, debt) = s.get("/v1/reports/debt?currency=TZS").await;
    assert_eq!(debt["access_rate"], json!({"amount": "2000", "meters": 1}));
}
