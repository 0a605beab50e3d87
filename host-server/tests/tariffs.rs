//! Tariff versions and moving a meter to another tariff (issue 16), on SQLite and PostgreSQL: a payment is
//! priced by the version in force on its business day, old versions stay readable, a version cannot start
//! before a payment the version it replaces priced, and two new versions of one tariff at once add one.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[macro_use]
mod common;

use common::*;
use micropower_server::config::EngineKind;
use serde_json::{json, Value};

/// kWh of a payment's energy line.
fn kwh(answer: &Value) -> &str {
    let lines = answer["allocations"].as_array().unwrap();
    let energy = lines.iter().find(|l| l["kind"] == "energy").unwrap_or_else(|| panic!("no energy line: {answer}"));
    energy["quantity"].as_str().unwrap()
}

async fn pay(s: &TestServer, tx: &str, serial: &str, amount: &str, at: &str) -> Value {
    s.ok("/v1/payments", payment(tx, serial, amount, at), 201).await
}

async fn tariff_id(s: &TestServer, serial: &str) -> String {
    let (_, device) = s.get(&format!("/v1/devices/{serial}")).await;
    device["tariff_id"].as_str().unwrap_or_else(|| panic!("no tariff: {device}")).to_owned()
}

/// Prices change from a business day on; earlier and later payments are each priced by their own day's
/// version, and every version stays readable.
async fn payments_are_priced_by_the_version_of_their_day(s: TestServer) {
    let r = registry(&s).await;
    register_meter(&s, &r, "MTR-V1", json!({"name": "Village A", "currency": "TZS", "price_per_kwh": "500"})).await;
    let id = tariff_id(&s, "MTR-V1").await;
    let before = pay(&s, "v-1", "MTR-V1", "1000", "2026-02-10T08:00:00Z").await;
    assert_eq!(kwh(&before), "2");

    let path = format!("/v1/tariffs/{id}/versions");
    let added = s.ok(&path, json!({"effective_from": "2026-03-01", "price_per_kwh": "1000"}), 201).await;
    let versions = added["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{added}");
    assert_eq!((&versions[0]["effective_from"], &versions[0]["price_per_kwh"]), (&Value::Null, &json!("500")));
    assert_eq!((&versions[1]["effective_from"], &versions[1]["price_per_kwh"]), (&json!("2026-03-01"), &json!("1000")));
    assert_eq!(versions[1]["currency"], "TZS", "the currency never changes");

    // The day before the new prices still buys at 500; from the first day on at 1000.
    assert_eq!(kwh(&pay(&s, "v-2", "MTR-V1", "1000", "2026-02-28T20:00:00Z").await), "2");
    assert_eq!(kwh(&pay(&s, "v-3", "MTR-V1", "1000", "2026-03-01T00:00:00Z").await), "1");
    assert_eq!(kwh(&pay(&s, "v-4", "MTR-V1", "3000", "2026-03-05T08:00:00Z").await), "3");

    // A version may not start on or before a day already priced by the one it replaces, nor before the
    // latest version; nothing is stored by a refusal.
    for (from, why) in [("2026-03-05", "priced"), ("2026-03-04", "priced"), ("2026-02-20", "latest version")] {
        let (status, body) = s.post(&path, json!({"effective_from": from, "price_per_kwh": "800"})).await;
        assert_eq!(status, 422, "{from}: {body}");
        assert_eq!(body["field"], "effective_from", "{body}");
        assert!(body["message"].as_str().unwrap().contains(why), "{from}: {body}");
    }
    let later = s
        .ok(&path, json!({"effective_from": "2026-03-06", "price_per_kwh": "250", "minimum_purchase": "500"}), 201)
        .await;
    assert_eq!(later["versions"].as_array().unwrap().len(), 3);
    let (_, today) = s.get(&format!("/v1/tariffs/{id}")).await;
    assert_eq!((&today["price_per_kwh"], &today["minimum_purchase"]), (&json!("250"), &json!("500")), "{today}");
    assert_eq!(kwh(&pay(&s, "v-5", "MTR-V1", "500", "2026-03-07T08:00:00Z").await), "2");
    let (_, list) = s.get("/v1/tariffs").await;
    assert_eq!(list["items"][0]["price_per_kwh"], "250", "the list shows the prices in force today: {list}");

    // Bad bodies: the core's checks apply to a version; unknown tariffs and fields are refused.
    let (status, _) = s.post(&path, json!({"effective_from": "2026-04-01", "price_per_kwh": "-1"})).await;
    assert!(status == 400 || status == 422, "{status}");
    let (status, _) =
        s.post("/v1/tariffs/nope/versions", json!({"effective_from": "2026-04-01", "price_per_kwh": "1"})).await;
    assert_eq!(status, 404);
    let (status, _) =
        s.post(&path, json!({"effective_from": "2026-04-01", "price_per_kwh": "1", "currency": "KES"})).await;
    assert_eq!(status, 400, "the currency is not a version's to change");

    let (_, audit) = s.get("/v1/audit?action=tariff.version_added").await;
    let entries = audit["items"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "{audit}");
    assert_eq!(entries[0]["after"]["effective_from"], "2026-03-06");
    assert_eq!(entries[0]["before"]["price_per_kwh"], "1000");
}

/// Two new versions of one tariff sent at once for the same day: one is added, the other refused.
async fn concurrent_versions_of_one_tariff_add_one(s: TestServer) {
    let r = registry(&s).await;
    register_meter(&s, &r, "MTR-V2", json!({"name": "Village B", "currency": "TZS", "price_per_kwh": "500"})).await;
    let id = tariff_id(&s, "MTR-V2").await;
    let path = format!("/v1/tariffs/{id}/versions");
    let send = |price: &str| s.post(&path, json!({"effective_from": "2026-05-01", "price_per_kwh": price}));
    let (a, b) = tokio::join!(send("600"), send("700"));
    let mut statuses = [a.0, b.0];
    statuses.sort_unstable();
    assert_eq!(statuses[0], 201, "{a:?} {b:?}");
    assert!(statuses[1] == 409 || statuses[1] == 422, "{a:?} {b:?}");
    let (_, tariff) = s.get(&format!("/v1/tariffs/{id}")).await;
    assert_eq!(tariff["versions"].as_array().unwrap().len(), 2, "{tariff}");
}

/// A meter moves to another tariff in its currency; its next payment is priced by it. A device paid by its
/// plan has no tariff, and a tariff in another currency is refused.
async fn a_meter_moves_to_another_tariff(s: TestServer) {
    let r = registry(&s).await;
    register_meter(&s, &r, "MTR-V3", json!({"name": "Old", "currency": "TZS", "price_per_kwh": "500"})).await;
    register_shs(&s, &r, "SHS-V3").await;
    let cheaper = s.ok("/v1/tariffs", json!({"name": "Cheaper", "currency": "TZS", "price_per_kwh": "250"}), 201).await;
    let kes = s.ok("/v1/tariffs", json!({"name": "Kenya", "currency": "KES", "price_per_kwh": "20"}), 201).await;
    let old = tariff_id(&s, "MTR-V3").await;

    let (status, body) = s.put("/v1/devices/MTR-V3/tariff", json!({"tariff_id": kes["id"]})).await;
    assert_eq!((status, &body["field"]), (422, &json!("tariff_id")), "{body}");
    let (status, body) = s.put("/v1/devices/SHS-V3/tariff", json!({"tariff_id": cheaper["id"]})).await;
    assert_eq!(status, 422, "{body}");
    let (status, _) = s.put("/v1/devices/NOPE/tariff", json!({"tariff_id": cheaper["id"]})).await;
    assert_eq!(status, 404);
    let (status, _) = s.put("/v1/devices/MTR-V3/tariff", json!({"tariff_id": "nope"})).await;
    assert_eq!(status, 422);

    let moved = s.put("/v1/devices/MTR-V3/tariff", json!({"tariff_id": cheaper["id"]})).await;
    assert_eq!(moved.0, 200, "{}", moved.1);
    assert_eq!(moved.1["tariff_id"], cheaper["id"]);
    assert_eq!(kwh(&pay(&s, "m-1", "MTR-V3", "1000", "2026-02-10T08:00:00Z").await), "4");
    let (_, audit) = s.get("/v1/audit?action=device.tariff_changed").await;
    let entry = &audit["items"][0];
    assert_eq!((&entry["before"]["tariff_id"], &entry["after"]["tariff_id"]), (&json!(old), &cheaper["id"]));
}

on_both_databases!(
    payments_are_priced_by_the_version_of_their_day,
    concurrent_versions_of_one_tariff_add_one,
    a_meter_moves_to_another_tariff,
);
