//! Issue 16, "Receipts", over a real socket on SQLite and on PostgreSQL: `GET /v1/payments/{id}/receipt`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[macro_use]
mod common;

use common::*;
use micropower_server::config::{EngineKind, Tz};
use reqwest::Method;
use serde_json::{json, Value};

on_both_databases!(a_cash_payment_prints_a_receipt, customer_names_are_escaped, an_unknown_payment_has_no_receipt);

/// (status, content type, body) of `path` read with `key`.
async fn page(s: &TestServer, path: &str, key: &str) -> (u16, String, String) {
    let response = s.client.get(format!("{}{path}", s.base)).bearer_auth(key).send().await.unwrap();
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

fn cash(tx: &str, serial: &str, amount: &str) -> Value {
    json!({"provider": "cash", "provider_tx_id": tx, "serial": serial, "amount": amount, "currency": "TZS",
           "received_at": "2026-01-02T09:30:00Z"})
}

async fn a_cash_payment_prints_a_receipt(s: TestServer) {
    let r = registry(&s).await;
    let registered = register_shs(&s, &r, "SHS-RCPT-1").await;
    let paid = s.ok("/v1/payments", cash("R-0042", "SHS-RCPT-1", "700"), 201).await;
    let code = paid["tokens"][0]["code"].as_str().expect("an OpenPAYGO token").to_owned();
    let viewer = s.ok("/v1/api-keys", json!({"role": "viewer", "label": "auditor"}), 201).await;
    let path = format!("/v1/payments/{}/receipt", paid["payment_id"].as_str().unwrap());
    let (status, content_type, html) = page(&s, &path, viewer["key"].as_str().unwrap()).await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(content_type, "text/html; charset=utf-8");
    let (_, customer) = s.get(&format!("/v1/customers/{}", registered["customer"]["id"].as_str().unwrap())).await;
    let name = format!("{} {}", customer["name"].as_str().unwrap(), customer["surname"].as_str().unwrap());
    assert!(html.contains(&name), "the customer's name {name:?}: {html}");
    let serial = paid["serial"].as_str().unwrap();
    assert!(html.contains(&format!("<td>{serial}</td>")), "the serial {serial:?}: {html}");
    assert!(html.contains("700 TZS"), "the amount");
    assert!(html.contains("R-0042") && html.contains("Receipt number"), "the cash receipt number");
    assert!(html.contains("micropower"), "the operator's default name");
    assert!(html.contains("installment"), "what it paid");
    let grouped: String =
        code.as_bytes().chunks(3).map(|group| std::str::from_utf8(group).unwrap()).collect::<Vec<_>>().join(" ");
    assert!(code.len() > 3 && grouped.contains(' '));
    assert!(html.contains(&grouped), "the token {code} grouped as {grouped:?}: {html}");
    assert!(html.contains("2026-01-02 09:30"), "when it was received");
}

async fn customer_names_are_escaped(s: TestServer) {
    let r = registry(&s).await;
    let mut customer = new_customer(&r.village);
    customer["name"] = json!("<script>alert(1)</script>");
    customer["surname"] = json!("O'Neil & \"Sons\"");
    register_shs_for(&s, &r, "SHS-RCPT-2", customer).await;
    let paid = s.ok("/v1/payments", cash("R-<b>", "SHS-RCPT-2", "700"), 201).await;
    let path = format!("/v1/payments/{}/receipt", paid["payment_id"].as_str().unwrap());
    let (status, _, html) = page(&s, &path, &s.key).await;
    assert_eq!(status, 200, "{html}");
    assert!(!html.contains("<script>") && !html.contains("<b>"), "{html}");
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; O&#39;Neil &amp; &quot;Sons&quot;"), "{html}");
    assert!(html.contains("R-&lt;b&gt;"), "{html}");
}

async fn an_unknown_payment_has_no_receipt(s: TestServer) {
    let (status, body) = s.send(Method::GET, "/v1/payments/no-such-payment/receipt", None, Some(&s.key)).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "not_found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_operator_is_the_configured_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(
        format!("sqlite://{}/test.db", dir.path().display()),
        dir.path(),
        EngineKind::Wasm,
        Tz::Africa__Dar_es_Salaam,
    );
    config.operator_name = "Jua & Co".into();
    config.operator_address = "P.O. Box 12, <Mwanza>".into();
    let s = TestServer::start_with(config, dir).await;
    let r = registry(&s).await;
    register_shs(&s, &r, "SHS-RCPT-3").await;
    let paid = s.ok("/v1/payments", cash("R-1", "SHS-RCPT-3", "700"), 201).await;
    let path = format!("/v1/payments/{}/receipt", paid["payment_id"].as_str().unwrap());
    let (status, _, html) = page(&s, &path, &s.key).await;
    assert_eq!(status, 200, "{html}");
    assert!(html.contains("Jua &amp; Co") && html.contains("P.O. Box 12, &lt;Mwanza&gt;"), "{html}");
    assert!(html.contains("2026-01-02 12:30"), "received in the operator's time zone: {html}");
}
