//! `POST /v1/tokens/bulk` on SQLite and PostgreSQL: one operator token for many devices, all or none, from a
//! JSON list or a spreadsheet column, each token the one a single operator token would have been, the reason
//! kept in the audit log, admins only.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[macro_use]
mod common;

use common::*;
use micropower_core::api::{openpaygo_generate, OpenPaygoKind};
use micropower_server::config::EngineKind;
use reqwest::Method;
use serde_json::{json, Value};

on_both_databases!(tokens_for_many_devices_at_once, one_bad_device_makes_none, only_admins_make_them);

/// Posts a bulk request; answers the status, the content type and the text.
async fn bulk(
    s: &TestServer,
    body: reqwest::Body,
    content_type: &str,
    query: &str,
    key: &str,
) -> (u16, String, String) {
    let response = s
        .client
        .post(format!("{}/v1/tokens/bulk{query}", s.base))
        .bearer_auth(key)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let kind = response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, kind, response.text().await.unwrap())
}

async fn bulk_json(s: &TestServer, body: Value) -> (u16, String, String) {
    bulk(s, body.to_string().into(), "application/json", "", &s.key.clone()).await
}

/// `serial,code,count` rows of a CSV answer.
fn rows(csv: &str) -> Vec<(String, String, u32)> {
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("serial,code,count"));
    lines
        .map(|line| {
            let cells: Vec<&str> = line.split(',').collect();
            (cells[0].to_owned(), cells[1].to_owned(), cells[2].parse().unwrap())
        })
        .collect()
}

/// The code the device's key makes for `kind` when its count moves on to `count` (each test device has the
/// same key). A token's code depends on the count it takes, not on the one before.
fn expected(count: u32, kind: OpenPaygoKind, days: Option<u32>) -> String {
    let token = openpaygo_generate(KEY, Some(123456789), count - 1, kind, days.map(Into::into), 1, false, false);
    let token = token.unwrap();
    assert_eq!(token.count, count);
    token.code
}

async fn token_counts(s: &TestServer, serials: &[&str]) -> Vec<u64> {
    let mut counts = Vec::new();
    for serial in serials {
        let (_, device) = s.get(&format!("/v1/devices/{serial}")).await;
        counts.push(device["token_count"].as_u64().unwrap_or(0));
    }
    counts
}

async fn tokens_for_many_devices_at_once(s: TestServer) {
    let r = registry(&s).await;
    for serial in ["SHS-B1", "SHS-B2", "SHS-B3"] {
        register_shs(&s, &r, serial).await;
    }
    let body = json!({"serials": ["shs-b2", "SHS-B1", "SHS B3"], "kind": "add_time", "days": "7",
                      "reason": "outage 2026-12-01, mini-grid north"});
    let (code, content_type, csv) = bulk_json(&s, body).await;
    assert_eq!(code, 201, "{csv}");
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    let made = rows(&csv);
    let serials: Vec<&str> = made.iter().map(|(serial, _, _)| serial.as_str()).collect();
    assert_eq!(serials, ["SHSB2", "SHSB1", "SHSB3"], "canonical serials, in the order given");
    for (serial, code, count) in &made {
        // The code a single operator token makes at the device's next count.
        assert_eq!(code, &expected(*count, OpenPaygoKind::AddTime, Some(7)), "{serial}");
        let (_, history) = s.get(&format!("/v1/devices/{serial}/tokens")).await;
        let newest = &history["items"][0];
        assert_eq!((newest["code"].as_str(), newest["cause"].as_str()), (Some(code.as_str()), Some("operator")));
    }

    // The same from a spreadsheet: BOM, `;`, the header in another case, a blank row.
    let sheet = "\u{feff}Name; Serial ;Village\nAmina;SHS-B1;North\n;;\nJuma;SHS-B3;North\n";
    let query = "?kind=add_time&days=1&reason=goodwill%20day";
    let (code, _, csv) = bulk(&s, sheet.to_owned().into(), "text/csv", query, &s.key.clone()).await;
    assert_eq!(code, 201, "{csv}");
    let again = rows(&csv);
    assert_eq!(again.len(), 2);
    for ((serial, code, count), before) in again.iter().zip([&made[1], &made[2]]) {
        assert_eq!(serial, &before.0);
        assert!(count > &before.2, "counts move on: {count} after {}", before.2);
        assert_eq!(code, &expected(*count, OpenPaygoKind::AddTime, Some(1)));
    }

    // Every token has its audit entry with the batch's reason; no code in it.
    let (_, audit) = s.get("/v1/audit?action=token.issued&limit=500").await;
    let entries = audit["items"].as_array().unwrap();
    assert_eq!(entries.len(), 5);
    let reasons: Vec<&str> = entries.iter().map(|e| e["after"]["batch"]["reason"].as_str().unwrap()).collect();
    assert_eq!(reasons.iter().filter(|r| **r == "goodwill day").count(), 2, "{reasons:?}");
    assert_eq!(reasons.iter().filter(|r| r.starts_with("outage")).count(), 3, "{reasons:?}");
    let text = audit.to_string();
    assert!(made.iter().all(|(_, code, _)| !text.contains(code.as_str())), "no token code in the audit log");
    let (_, payments) = s.get("/v1/payments").await;
    assert!(payments["items"].as_array().unwrap().is_empty(), "no money moves");
}

async fn one_bad_device_makes_none(s: TestServer) {
    let r = registry(&s).await;
    register_shs(&s, &r, "SHS-C1").await;
    register_shs(&s, &r, "SHS-C2").await;
    register_meter(&s, &r, "MTR-C3", json!({"name": "T", "currency": "TZS", "price_per_kwh": "500"})).await;
    let before = token_counts(&s, &["SHS-C1", "SHS-C2"]).await;
    let body = json!({"serials": ["SHS-C1", "NOPE-9", "MTR-C3", "shs-c1", "SHS-C2"], "kind": "add_time",
                      "days": "7", "reason": "outage"});
    let (code, _, text) = bulk_json(&s, body).await;
    assert_eq!(code, 422, "{text}");
    let refusal: Value = serde_json::from_str(&text).unwrap();
    let problems: Vec<(u64, &str)> = refusal["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["row"].as_u64().unwrap(), p["code"].as_str().unwrap()))
        .collect();
    assert_eq!(problems, [(2, "unknown_serial"), (3, "not_openpaygo"), (4, "listed_twice")], "{refusal}");
    assert_eq!(token_counts(&s, &["SHS-C1", "SHS-C2"]).await, before, "no token made");
    let (_, history) = s.get("/v1/devices/SHS-C2/tokens").await;
    assert!(history["items"].as_array().unwrap().iter().all(|t| t["cause"] != "operator"));

    for (body, field) in [
        (json!({"serials": ["SHS-C1"], "kind": "add_time", "days": "7", "reason": "  "}), "reason"),
        (json!({"serials": [], "kind": "add_time", "days": "7", "reason": "x"}), "serials"),
        (json!({"serials": ["SHS-C1"], "kind": "add_time", "reason": "x"}), "days"),
        (json!({"serials": ["SHS-C1"], "kind": "free_energy", "reason": "x"}), "kind"),
    ] {
        let (code, _, text) = bulk_json(&s, body).await;
        let refusal: Value = serde_json::from_str(&text).unwrap();
        assert_eq!((code, refusal["field"].as_str()), (400, Some(field)), "{text}");
    }
    let (code, _, text) =
        bulk(&s, "serial_number\nSHS-C1\n".into(), "text/csv", "?kind=unlock&reason=x", &s.key.clone()).await;
    assert_eq!(code, 400, "a CSV without a serial column: {text}");
    assert_eq!(token_counts(&s, &["SHS-C1", "SHS-C2"]).await, before);

    // A file larger than the general body limit (64 KiB in the tests) is read under the uploads' own limit:
    // 10,000 serials are refused for what they say (the first 50 named), not for their size; 10,001 for their
    // number.
    for (rows, expected) in [(10_000, "unknown_serial"), (10_001, "")] {
        let sheet: String =
            std::iter::once("serial\n".to_owned()).chain((0..rows).map(|i| format!("GONE-{i:06}\n"))).collect();
        assert!(sheet.len() > 64 * 1024);
        let query = "?kind=add_time&days=7&reason=outage";
        let (code, _, text) = bulk(&s, sheet.into(), "text/csv", query, &s.key.clone()).await;
        assert_eq!(code, if expected.is_empty() { 400 } else { 422 }, "{rows} rows: {}", &text[..text.len().min(300)]);
        if !expected.is_empty() {
            let refusal: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(refusal["problems"].as_array().unwrap().len(), 50, "the first 50 rows named");
            assert_eq!(refusal["problems"][0]["code"], expected);
        }
    }
}

async fn only_admins_make_them(s: TestServer) {
    let r = registry(&s).await;
    register_shs(&s, &r, "SHS-D1").await;
    let operator = s.ok("/v1/api-keys", json!({"role": "operator"}), 201).await;
    let body = json!({"serials": ["SHS-D1"], "kind": "add_time", "days": "7", "reason": "outage"});
    let (code, _, _) =
        bulk(&s, body.to_string().into(), "application/json", "", operator["key"].as_str().unwrap()).await;
    assert_eq!(code, 403);
    let (code, _) = s.send(Method::POST, "/v1/tokens/bulk", Some(body), None).await;
    assert_eq!(code, 401);
    let (code, _, csv) =
        bulk_json(&s, json!({"serials": ["SHS-D1"], "kind": "unlock", "reason": "paid in cash"})).await;
    assert_eq!(code, 201, "an admin may unlock in bulk: {csv}");
    assert_eq!(rows(&csv)[0].2, 1, "an unlock takes the next odd count");
}
