//! Payment providers end to end (issue #5), on SQLite and PostgreSQL: Daraja C2B validation and
//! confirmation in Safaricom's format, Wave webhooks, the generic HMAC hook. For each: the happy path, an
//! unknown serial, duplicates (sequential and concurrent), bad signatures, stale timestamps, tampered
//! amounts, malformed and oversized bodies — and that nothing is credited when it must not be.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[macro_use]
mod common;

use std::sync::Arc;

use common::*;
use micropower_server::config::EngineKind;
use micropower_server::providers::signature::sign;
use reqwest::Method;
use serde_json::{json, Value};

on_both_databases!(
    providers_are_configured_by_admins,
    daraja_c2b,
    wave,
    generic_hmac,
    nul_characters_in_hook_bodies,
    daraja_can_require_validation_and_never_trusts_an_unknown_reference,
    signatures_are_checked_before_a_delivery_is_kept,
    hook_paths_rotate_with_a_grace_period_and_removed_providers_close,
    deliveries_from_outside_the_allowlist_are_refused,
);

/// POSTs raw bytes to a hook (no API key) with extra headers; returns status and JSON (or text).
async fn hook(s: &TestServer, path: &str, body: impl Into<Vec<u8>>, headers: &[(&str, String)]) -> (u16, Value) {
    let mut req =
        s.client.post(format!("{}{path}", s.base)).header("content-type", "application/json").body(body.into());
    for (k, v) in headers {
        req = req.header(*k, v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// Registers an OpenPAYGO SHS on a weekly 3 × 700 plan in `currency`.
async fn register_shs_in(s: &TestServer, r: &Registry, serial: &str, currency: &str) -> Value {
    s.ok(
        "/v1/registrations",
        json!({
            "customer": new_customer(&r.village),
            "device": {"serial": serial, "kind": "solar_home_system", "manufacturer_id": r.shs_maker,
                       "openpaygo": {"secret_key": KEY, "starting_code": 123456789, "count": 0}},
            "plan": {"appliance": "SHS 80W", "currency": currency, "total_cost": "2100", "down_payment": "0",
                     "installments": 3, "period": "weekly", "start_date": "2026-01-01"},
            "registered_on": "2026-01-01"
        }),
        201,
    )
    .await
}

async fn payments_of(s: &TestServer, serial: &str) -> Vec<Value> {
    let (code, list) = s.get(&format!("/v1/payments?serial={serial}")).await;
    assert_eq!(code, 200, "{list}");
    list["items"].as_array().unwrap().clone()
}

async fn conflicts(s: &TestServer) -> Vec<Value> {
    s.get("/v1/payments/conflicts").await.1["items"].as_array().unwrap().clone()
}

async fn hook_events(s: &TestServer) -> i64 {
    let row: (i64,) = sqlx::query_as("SELECT COUNT(*) FROM hook_events").fetch_one(&s.state.db.pool).await.unwrap();
    row.0
}

fn secret_segment(path: &str) -> String {
    path.split('/').nth(3).unwrap().to_owned()
}

/// Admin-only configuration; hook paths with an unguessable segment and no banned word; secrets never shown.
async fn providers_are_configured_by_admins(s: TestServer) {
    let operator = s.ok("/v1/api-keys", json!({"role": "operator"}), 201).await;
    let (code, _) = s
        .send(
            Method::POST,
            "/v1/providers",
            Some(json!({"kind": "daraja_c2b", "shortcode": "600984", "currency": "KES"})),
            operator["key"].as_str(),
        )
        .await;
    assert_eq!(code, 403, "providers are admin-only");
    let daraja =
        s.ok("/v1/providers", json!({"kind": "daraja_c2b", "shortcode": "600984", "currency": "KES"}), 201).await;
    let wave = s
        .ok("/v1/providers", json!({"kind": "wave", "secret": "wave-signing-secret-0001", "currency": "XOF"}), 201)
        .await;
    let generic = s
        .ok(
            "/v1/providers",
            json!({"kind": "generic_hmac", "secret": "aggregator-secret-0001", "currency": "TZS", "name": "agg"}),
            201,
        )
        .await;
    let mut paths = Vec::new();
    for p in [&daraja, &wave, &generic] {
        for (_, path) in p["hook_paths"].as_object().unwrap() {
            paths.push(path.as_str().unwrap().to_owned());
        }
    }
    assert_eq!(paths.len(), 5);
    let mut segments = std::collections::HashSet::new();
    for path in &paths {
        let lower = path.to_lowercase();
        for banned in micropower_server::providers::BANNED_URL_WORDS {
            assert!(!lower.contains(banned), "{path} contains {banned}");
        }
        let segment = secret_segment(path);
        assert_eq!(segment.len(), 64, "{path}: a 256-bit secret segment");
        segments.insert(segment);
    }
    assert_eq!(segments.len(), 3, "one secret per provider");
    // A configured provider's name belongs to its hooks: no API key posts money under it.
    let mut posed = payment("posed-1", "ANY-1", "100", "2026-01-02T08:00:00Z");
    posed["provider"] = json!("agg");
    let (code, body) = s.post("/v1/payments", posed).await;
    assert_eq!((code, body["field"].as_str()), (403, Some("provider")), "{body}");
    let (code, body) =
        s.post("/v1/providers", json!({"kind": "daraja_c2b", "shortcode": "12", "currency": "KES"})).await;
    assert_eq!((code, body["field"].as_str()), (400, Some("shortcode")));
    let (code, body) = s.post("/v1/providers", json!({"kind": "wave", "secret": "short", "currency": "XOF"})).await;
    assert_eq!((code, body["field"].as_str()), (400, Some("secret")));
    let (code, body) =
        s.post("/v1/providers", json!({"kind": "wave", "secret": "x".repeat(20), "currency": "ZZZ"})).await;
    assert_eq!((code, body["field"].as_str()), (400, Some("currency")));
    let (code, _) = s.post("/v1/providers", json!({"kind": "wave", "secret": "y".repeat(20), "currency": "XOF"})).await;
    assert_eq!(code, 409, "names are unique (default: the kind)");
    let (code, list) = s.get("/v1/providers").await;
    assert_eq!(code, 200);
    let text = list.to_string();
    assert!(!text.contains("wave-signing-secret-0001") && !text.contains(&secret_segment(&paths[0])), "{text}");
    let sealed: Vec<(Option<String>,)> =
        sqlx::query_as("SELECT secret_sealed FROM providers").fetch_all(&s.state.db.pool).await.unwrap();
    assert!(
        sealed.iter().all(|(s,)| !s.as_deref().unwrap_or_default().contains("signing")),
        "secrets are sealed at rest"
    );
    // The hooks answer without an API key, and the OpenAPI document lists them.
    let (code, doc) = s.get("/v1/openapi.json").await;
    assert_eq!(code, 200);
    assert!(doc["paths"]["/hooks/c2b/{secret}/validation"]["post"].is_object());
    assert!(doc["paths"]["/v1/providers"]["post"].is_object());
}

fn c2b(trans_id: &str, bill_ref: &str, amount: Value, shortcode: &str, third_party: &str) -> Value {
    json!({
        "TransactionType": "Pay Bill", "TransID": trans_id, "TransTime": "20260102081325", "TransAmount": amount,
        "BusinessShortCode": shortcode, "BillRefNumber": bill_ref, "InvoiceNumber": "", "OrgAccountBalance": "",
        "ThirdPartyTransID": third_party, "MSISDN": "2547 ***** 126", "FirstName": "NICHOLAS", "MiddleName": "", "LastName": ""
    })
}

async fn daraja_c2b(s: TestServer) {
    let s = Arc::new(s);
    let r = registry(&s).await;
    let provider =
        s.ok("/v1/providers", json!({"kind": "daraja_c2b", "shortcode": "600984", "currency": "KES"}), 201).await;
    let validation = provider["hook_paths"]["validation"].as_str().unwrap().to_owned();
    let confirmation = provider["hook_paths"]["confirmation"].as_str().unwrap().to_owned();
    register_shs_in(&s, &r, "SHS-K1", "KES").await;
    register_meter(
        &s,
        &r,
        "MTR-K1",
        json!({"name": "KES", "currency": "KES", "price_per_kwh": "20", "minimum_purchase": "50"}),
    )
    .await;
    let post = |path: String, body: Value| {
        let s = &s;
        async move { hook(s, &path, body.to_string(), &[]).await }
    };

    // Validation: accepted (serial typed by hand, amount "800.00"), with our reference as ThirdPartyTransID.
    let started = std::time::Instant::now();
    let (code, ok) = post(validation.clone(), c2b("RKL1", " shs-k1 ", json!("800.00"), "600984", "")).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(1), "well under a second: {:?}", started.elapsed());
    assert_eq!(code, 200);
    assert_eq!((ok["ResultCode"].as_str(), ok["ResultDesc"].as_str()), (Some("0"), Some("Accepted")), "{ok}");
    let reference = ok["ThirdPartyTransID"].as_str().unwrap().to_owned();
    assert!(!reference.is_empty());
    for (body, expected) in [
        (c2b("RKL2", "NO-SUCH-9", json!("800.00"), "600984", ""), "C2B00012"),
        (c2b("RKL3", "MTR-K1", json!("10.00"), "600984", ""), "C2B00013"),
        (c2b("RKL4", "MTR-K1", json!("five"), "600984", ""), "C2B00013"),
        (c2b("RKL5", "SHS-K1", json!("800.00"), "174379", ""), "C2B00015"),
        (c2b("RKL6", "SHS-K1", json!(800), "600984", ""), "0"),
    ] {
        let (code, answer) = post(validation.clone(), body).await;
        assert_eq!((code, answer["ResultCode"].as_str()), (200, Some(expected)), "{answer}");
        if expected != "0" {
            assert_eq!(answer, json!({"ResultCode": expected, "ResultDesc": "Rejected"}));
        }
    }
    // Malformed: still Safaricom's shape, HTTP 200, "other error".
    let (code, answer) = hook(&s, &validation, "{not json", &[]).await;
    assert_eq!((code, answer["ResultCode"].as_str()), (200, Some("C2B00016")));
    assert!(payments_of(&s, "SHS-K1").await.is_empty(), "validation credits nothing");

    // Confirmation: credits once, linked by ThirdPartyTransID; the masked MSISDN is not kept as a phone.
    let confirmed = c2b("RKL1", " shs-k1 ", json!("800.00"), "600984", &reference);
    let (code, ack) = post(confirmation.clone(), confirmed.clone()).await;
    assert_eq!((code, &ack), (200, &json!({"ResultCode": 0, "ResultDesc": "Success"})));
    let paid = payments_of(&s, "SHS-K1").await;
    assert_eq!(paid.len(), 1);
    assert_eq!((paid[0]["amount"].as_str(), paid[0]["currency"].as_str()), (Some("800"), Some("KES")));
    assert_eq!(paid[0]["tokens"][0]["quantity"], "8");
    let (_, one) = s.get(&format!("/v1/payments/{}", paid[0]["payment_id"].as_str().unwrap())).await;
    assert_eq!((one["provider"].as_str(), one["provider_tx_id"].as_str()), (Some("daraja_c2b"), Some("RKL1")));
    assert_eq!(one["payer_phone"], Value::Null, "the masked MSISDN is never an identity");
    assert_eq!(one["received_at"], "2026-01-02T08:13:25+03:00");

    // Duplicates: sequential, then twelve copies of a new one at once (no validation before it).
    let (code, again) = post(confirmation.clone(), confirmed.clone()).await;
    assert_eq!((code, again["ResultCode"].as_i64()), (200, Some(0)));
    let concurrent = c2b("RKL7", "SHS-K1", json!("100.00"), "600984", "");
    let mut tasks = Vec::new();
    for _ in 0..12 {
        let (s, path, body) = (s.clone(), confirmation.clone(), concurrent.to_string());
        tasks.push(tokio::spawn(async move { hook(&s, &path, body, &[]).await }));
    }
    for t in tasks {
        let (code, ack) = t.await.unwrap();
        assert_eq!((code, ack["ResultCode"].as_i64()), (200, Some(0)));
    }
    let paid = payments_of(&s, "SHS-K1").await;
    assert_eq!(paid.len(), 2, "RKL1 once, RKL7 once");
    let (_, device) = s.get("/v1/devices/SHS-K1").await;
    let (_, plan) = s.get(&format!("/v1/plans/{}", device["plan_id"].as_str().unwrap())).await;
    assert_eq!(plan["paid"], "900");

    // Unknown serial after the money moved: acknowledged, queued as unmatched, not credited.
    let (code, ack) = post(confirmation.clone(), c2b("RKL8", "SHS-TYPO", json!("300.00"), "600984", "")).await;
    assert_eq!((code, ack["ResultCode"].as_i64()), (200, Some(0)));
    let (_, queue) = s.get("/v1/payments/unmatched").await;
    let queued: Vec<&Value> =
        queue["items"].as_array().unwrap().iter().filter(|u| u["provider_tx_id"] == "RKL8").collect();
    assert_eq!(queued.len(), 1);
    assert_eq!((queued[0]["amount"].as_str(), queued[0]["serial"].as_str()), (Some("300.00"), Some("SHS-TYPO")));

    // Tampered amount: validated at 800, confirmed at 8000 → a conflict, nothing credited, on every retry.
    let (_, ok) = post(validation.clone(), c2b("RKL9", "SHS-K1", json!("800.00"), "600984", "")).await;
    let reference = ok["ThirdPartyTransID"].as_str().unwrap().to_owned();
    for _ in 0..2 {
        let (code, ack) =
            post(confirmation.clone(), c2b("RKL9", "SHS-K1", json!("8000.00"), "600984", &reference)).await;
        assert_eq!((code, ack["ResultCode"].as_i64()), (200, Some(0)), "the money moved: acknowledged anyway");
    }
    let found: Vec<Value> = conflicts(&s).await.into_iter().filter(|c| c["provider_tx_id"] == "RKL9").collect();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["reason"], "amount_mismatch");
    assert_eq!(found[0]["announced"]["amount"], "800.00");
    assert_eq!(payments_of(&s, "SHS-K1").await.len(), 2, "the conflicting confirmation credited nothing");
    // A confirmation to another shortcode is a conflict too.
    post(confirmation.clone(), c2b("RKL10", "SHS-K1", json!("100.00"), "999999", "")).await;
    assert!(conflicts(&s).await.iter().any(|c| c["provider_tx_id"] == "RKL10" && c["reason"] == "foreign_shortcode"));

    // Malformed, oversized, unknown path: clean 4xx, nothing credited.
    let before = hook_events(&s).await;
    let (code, body) = hook(&s, &confirmation, "[1,2", &[]).await;
    assert_eq!((code, body["code"].as_str()), (400, Some("invalid_input")));
    assert_eq!(hook_events(&s).await, before + 1, "a malformed delivery is kept raw for an operator");
    let big = json!({"TransID": "BIG", "pad": "x".repeat(20_000)}).to_string();
    let (code, body) = hook(&s, &confirmation, big, &[]).await;
    assert_eq!((code, body["code"].as_str()), (413, Some("invalid_input")));
    let wrong = confirmation.replace(&secret_segment(&confirmation), &"0".repeat(64));
    let (code, _) = hook(&s, &wrong, confirmed.to_string(), &[]).await;
    assert_eq!(code, 404);
    assert_eq!(payments_of(&s, "SHS-K1").await.len(), 2);

    // Every delivery is kept raw with its hash, before the answer.
    let (body, sha): (String, String) = sqlx::query_as(
        "SELECT body, body_sha256 FROM hook_events WHERE hook = 'confirmation' AND event_key = 'RKL1' ORDER BY created_at LIMIT 1",
    )
    .fetch_one(&s.state.db.pool)
    .await
    .unwrap();
    assert_eq!(body, confirmed.to_string());
    use sha2::Digest;
    assert_eq!(sha, hex::encode(sha2::Sha256::digest(body.as_bytes())));
    // And the customer's SMS is queued with the payment.
    let (_, outbox) = s.get("/v1/notifications").await;
    assert_eq!(outbox["items"].as_array().unwrap().iter().filter(|n| n["kind"] == "payment").count(), 2);

    // The operator decides: credit the tampered one as received (once), dismiss the foreign shortcode.
    let all = conflicts(&s).await;
    let id_of = |tx: &str| all.iter().find(|c| c["provider_tx_id"] == tx).unwrap()["id"].as_str().unwrap().to_owned();
    let (rkl9, rkl10) = (id_of("RKL9"), id_of("RKL10"));
    let credited = s.ok(&format!("/v1/payments/conflicts/{rkl9}/resolve"), json!({"credit": true}), 201).await;
    assert_eq!(
        (credited["resolution"].as_str(), credited["payment"]["amount"].as_str()),
        (Some("credited"), Some("8000"))
    );
    // Credited by the operator's decision: recorded by the operator's key; a hook's payment by its provider.
    let payment_id = credited["payment"]["payment_id"].as_str().unwrap();
    let (_, detail) = s.get(&format!("/v1/payments/{payment_id}")).await;
    assert!(detail["recorded_by"]["key_id"].is_string(), "{detail}");
    let hooked = payments_of(&s, "SHS-K1").await;
    let hooked = hooked.iter().find(|p| p["payment_id"] != payment_id).unwrap();
    let (_, detail) = s.get(&format!("/v1/payments/{}", hooked["payment_id"].as_str().unwrap())).await;
    assert_eq!(detail["recorded_by"], json!({"provider": detail["provider"]}), "{detail}");
    let (code, again) = s.post(&format!("/v1/payments/conflicts/{rkl9}/resolve"), json!({"credit": true})).await;
    assert_eq!((code, again["code"].as_str()), (409, Some("conflict")), "decided once");
    assert_eq!(payments_of(&s, "SHS-K1").await.len(), 3);
    let dismissed = s.ok(&format!("/v1/payments/conflicts/{rkl10}/resolve"), json!({"credit": false}), 200).await;
    assert_eq!(dismissed["resolution"], "dismissed");
    assert_eq!(payments_of(&s, "SHS-K1").await.len(), 3, "dismissing credits nothing");
    let statuses: Vec<String> = conflicts(&s).await.iter().map(|c| c["status"].as_str().unwrap().to_owned()).collect();
    assert!(statuses.iter().all(|st| st == "resolved"), "{statuses:?}");

    // A credit and a dismissal of one conflict sent at once: exactly one decision wins, and money moves
    // only when the credit won.
    let (_, ok) = post(validation.clone(), c2b("RKL11", "SHS-K1", json!("700.00"), "600984", "")).await;
    let reference = ok["ThirdPartyTransID"].as_str().unwrap().to_owned();
    post(confirmation.clone(), c2b("RKL11", "SHS-K1", json!("7000.00"), "600984", &reference)).await;
    let rkl11 =
        conflicts(&s).await.iter().find(|c| c["provider_tx_id"] == "RKL11").unwrap()["id"].as_str().unwrap().to_owned();
    let s = std::sync::Arc::new(s);
    let mut tasks = Vec::new();
    for n in 0..8 {
        let (s, path) = (s.clone(), format!("/v1/payments/conflicts/{rkl11}/resolve"));
        tasks.push(tokio::spawn(async move { s.post(&path, json!({"credit": n % 2 == 0})).await }));
    }
    let mut won = Vec::new();
    for t in tasks {
        let (code, body) = t.await.unwrap();
        match code {
            200 | 201 => won.push(body["resolution"].as_str().unwrap().to_owned()),
            409 => assert_eq!(body["code"], "conflict"),
            other => panic!("{other}: {body}"),
        }
    }
    assert_eq!(won.len(), 1, "one decision wins: {won:?}");
    let credited = usize::from(won[0] == "credited");
    assert_eq!(payments_of(&s, "SHS-K1").await.len(), 3 + credited);
    let decided = conflicts(&s).await.into_iter().find(|c| c["provider_tx_id"] == "RKL11").unwrap();
    assert_eq!(decided["resolution"].as_str(), Some(won[0].as_str()));
}

fn wave_event(id: &str, tx: &str, serial: &str, amount: &str, currency: &str) -> Value {
    json!({"id": id, "type": "checkout.session.completed",
           "data": {"id": format!("cos-{tx}"), "amount": amount, "currency": currency, "checkout_status": "complete",
                    "payment_status": "succeeded", "transaction_id": tx, "client_reference": serial,
                    "when_created": "2026-01-02T08:00:00Z", "when_completed": "2026-01-02T08:00:19Z",
                    "last_payment_error": null}})
}

const WAVE_SECRET: &str = "wave-signing-secret-0001";

async fn wave(s: TestServer) {
    let s = Arc::new(s);
    let r = registry(&s).await;
    let provider = s.ok("/v1/providers", json!({"kind": "wave", "secret": WAVE_SECRET, "currency": "XOF"}), 201).await;
    let path = provider["hook_paths"]["webhook"].as_str().unwrap().to_owned();
    register_shs_in(&s, &r, "SHS-W1", "XOF").await;
    let signed = |body: &Value, t: i64| {
        let text = body.to_string();
        (text.clone(), vec![("Wave-Signature", sign(WAVE_SECRET.as_bytes(), t, b"", text.as_bytes()))])
    };
    let send = |body: Value, t: i64| {
        let s = &s;
        let path = path.clone();
        let (text, headers) = signed(&body, t);
        async move { hook(s, &path, text, &headers).await }
    };

    let (code, answer) = send(wave_event("AE_1", "T1", "shs-w1", "800", "XOF"), now()).await;
    assert_eq!((code, answer["status"].as_str()), (200, Some("credited")), "{answer}");
    assert_eq!(payments_of(&s, "SHS-W1").await.len(), 1);
    // merchant.payment_received: the serial travels in custom_fields.account_number.
    let qr = json!({"id": "AE_2", "type": "merchant.payment_received",
                    "data": {"id": "T2", "amount": "100", "fee": "1", "currency": "XOF", "sender_mobile": "+221761110001",
                             "merchant_name": "Sun", "when_created": "2026-01-03T08:00:00Z", "custom_fields": {"account_number": "SHS W1"}}});
    let (code, answer) = send(qr, now()).await;
    assert_eq!((code, answer["status"].as_str()), (200, Some("credited")), "{answer}");
    assert_eq!(payments_of(&s, "SHS-W1").await.len(), 2);

    // Duplicates: the same event again, then ten copies of a new event at once.
    let (code, answer) = send(wave_event("AE_1", "T1", "shs-w1", "800", "XOF"), now()).await;
    assert_eq!((code, answer["status"].as_str()), (200, Some("duplicate")));
    let (text, headers) = signed(&wave_event("AE_3", "T3", "SHS-W1", "50", "XOF"), now());
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (s, path, text, headers) = (s.clone(), path.clone(), text.clone(), headers.clone());
        tasks.push(tokio::spawn(async move { hook(&s, &path, text, &headers).await }));
    }
    for t in tasks {
        let (code, answer) = t.await.unwrap();
        assert_eq!(code, 200, "{answer}");
        assert!(["credited", "duplicate"].contains(&answer["status"].as_str().unwrap()), "{answer}");
    }
    assert_eq!(payments_of(&s, "SHS-W1").await.len(), 3, "T3 once");

    // Unknown serial: money moved, queued as unmatched.
    let (code, answer) = send(wave_event("AE_4", "T4", "NOPE-1", "500", "XOF"), now()).await;
    assert_eq!((code, answer["status"].as_str()), (200, Some("unmatched")));

    // Bad signature, stale timestamp, tampered amount, missing header: 401, nothing credited.
    let body = wave_event("AE_5", "T5", "SHS-W1", "800", "XOF").to_string();
    let bad = vec![("Wave-Signature", sign(b"not-the-secret-at-all", now(), b"", body.as_bytes()))];
    let (code, answer) = hook(&s, &path, body.clone(), &bad).await;
    assert_eq!((code, answer["code"].as_str()), (401, Some("unauthorized")));
    let stale = vec![("Wave-Signature", sign(WAVE_SECRET.as_bytes(), now() - 400, b"", body.as_bytes()))];
    assert_eq!(hook(&s, &path, body.clone(), &stale).await.0, 401);
    let good = vec![("Wave-Signature", sign(WAVE_SECRET.as_bytes(), now(), b"", body.as_bytes()))];
    let tampered = body.replace("\"800\"", "\"80000\"");
    assert_ne!(tampered, body);
    assert_eq!(hook(&s, &path, tampered, &good).await.0, 401);
    assert_eq!(hook(&s, &path, body.clone(), &[]).await.0, 401);
    assert_eq!(payments_of(&s, "SHS-W1").await.len(), 3);
    // Another currency than the provider's: a conflict for an operator, nothing credited.
    let (code, answer) = send(wave_event("AE_6", "T6", "SHS-W1", "800", "USD"), now()).await;
    assert_eq!((code, answer["status"].as_str()), (200, Some("conflict")));
    assert!(conflicts(&s).await.iter().any(|c| c["provider_tx_id"] == "T6" && c["reason"] == "currency_mismatch"));
    // Malformed (signed but not an event), oversized: clean 4xx.
    let junk = "[\"not an event\"]";
    let headers = vec![("Wave-Signature", sign(WAVE_SECRET.as_bytes(), now(), b"", junk.as_bytes()))];
    let (code, answer) = hook(&s, &path, junk, &headers).await;
    assert_eq!((code, answer["code"].as_str()), (400, Some("invalid_input")));
    let big = "x".repeat(20_000);
    let headers = vec![("Wave-Signature", sign(WAVE_SECRET.as_bytes(), now(), b"", big.as_bytes()))];
    assert_eq!(hook(&s, &path, big, &headers).await.0, 413);
    // Events that move no money are acknowledged and ignored.
    let (code, answer) = send(json!({"id": "AE_7", "type": "test.test_event", "data": {}}), now()).await;
    assert_eq!((code, answer["status"].as_str()), (200, Some("ignored")));
    assert_eq!(payments_of(&s, "SHS-W1").await.len(), 3);
}

const AGG_SECRET: &str = "aggregator-secret-0001";

async fn generic_hmac(s: TestServer) {
    let s = Arc::new(s);
    let r = registry(&s).await;
    let provider = s
        .ok(
            "/v1/providers",
            json!({"kind": "generic_hmac", "secret": AGG_SECRET, "currency": "TZS", "name": "agg"}),
            201,
        )
        .await;
    let pay_path = provider["hook_paths"]["payments"].as_str().unwrap().to_owned();
    let validate_path = provider["hook_paths"]["validate"].as_str().unwrap().to_owned();
    register_shs(&s, &r, "SHS-G1").await;
    let headers = |text: &str, t: i64| vec![("X-Signature", sign(AGG_SECRET.as_bytes(), t, b".", text.as_bytes()))];
    let body = |tx: &str, serial: &str, amount: &str| {
        let mut p = payment(tx, serial, amount, "2026-01-02T08:00:00Z");
        p["provider"] = json!("agg");
        p
    };
    let send = |path: String, value: Value| {
        let s = &s;
        let text = value.to_string();
        let h = headers(&text, now());
        async move { hook(s, &path, text, &h).await }
    };

    let (code, first) = send(pay_path.clone(), body("G1", "SHS-G1", "800")).await;
    assert_eq!(code, 201, "{first}");
    assert_eq!(first["tokens"][0]["quantity"], "8");
    let (code, again) = send(pay_path.clone(), body("G1", "SHS-G1", "800")).await;
    assert_eq!((code, &again), (200, &first), "a repeat gets the identical answer");
    let text = body("G2", "SHS-G1", "100").to_string();
    let h = headers(&text, now());
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let (s, path, text, h) = (s.clone(), pay_path.clone(), text.clone(), h.clone());
        tasks.push(tokio::spawn(async move { hook(&s, &path, text, &h).await }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    assert_eq!(answers.iter().filter(|(c, _)| *c == 201).count(), 1, "{answers:?}");
    assert!(answers.iter().all(|(c, v)| (*c == 201 || *c == 200) && v == &answers[0].1));
    assert_eq!(payments_of(&s, "SHS-G1").await.len(), 2);

    // Unknown serial: refused before the money moves (422, logged); queued when it already moved.
    let (code, refused) = send(pay_path.clone(), body("G3", "NOPE-2", "800")).await;
    assert_eq!((code, refused["code"].as_str()), (422, Some("unknown_serial")));
    let mut moved = body("G4", "NOPE-2", "800");
    moved["money_moved"] = json!(true);
    let (code, queued) = send(pay_path.clone(), moved).await;
    assert_eq!((code, queued["status"].as_str()), (202, Some("unmatched")));

    // Bad signature, stale timestamp, tampered amount after signing, no header: 401.
    let text = body("G5", "SHS-G1", "800").to_string();
    let bad = vec![("X-Signature", sign(b"wrong-secret-wrong-secret", now(), b".", text.as_bytes()))];
    assert_eq!(hook(&s, &pay_path, text.clone(), &bad).await.0, 401);
    assert_eq!(hook(&s, &pay_path, text.clone(), &headers(&text, now() - 301)).await.0, 401);
    let tampered = text.replace("\"800\"", "\"8000\"");
    assert_eq!(hook(&s, &pay_path, tampered, &headers(&text, now())).await.0, 401);
    assert_eq!(hook(&s, &pay_path, text.clone(), &[]).await.0, 401);
    // Wave's separator-less signature is not ours: refused.
    let wave_style = vec![("X-Signature", sign(AGG_SECRET.as_bytes(), now(), b"", text.as_bytes()))];
    assert_eq!(hook(&s, &pay_path, text.clone(), &wave_style).await.0, 401);
    assert_eq!(payments_of(&s, "SHS-G1").await.len(), 2);

    // Announced 800 in a validation, then 8000 in the payment (validly signed): 409 conflict, not credited.
    let (code, ok) = send(
        validate_path.clone(),
        json!({"serial": "SHS-G1", "amount": "800", "currency": "TZS", "provider_tx_id": "G6"}),
    )
    .await;
    assert_eq!((code, ok["accepted"].as_bool()), (200, Some(true)), "{ok}");
    let (code, unknown) =
        send(validate_path.clone(), json!({"serial": "ZZZ", "amount": "800", "currency": "TZS"})).await;
    assert_eq!(
        (code, unknown["code"].as_str(), unknown["accepted"].as_bool()),
        (422, Some("unknown_serial"), Some(false))
    );
    for _ in 0..2 {
        let (code, conflict) = send(pay_path.clone(), body("G6", "SHS-G1", "8000")).await;
        assert_eq!(
            (code, conflict["code"].as_str(), conflict["reason"].as_str()),
            (409, Some("conflict"), Some("amount_mismatch"))
        );
    }
    assert_eq!(payments_of(&s, "SHS-G1").await.len(), 2);
    assert!(conflicts(&s).await.iter().any(|c| c["provider_tx_id"] == "G6" && c["provider"] == "agg"));

    // Another provider name than this hook's, malformed and oversized bodies: clean 4xx.
    let mut other = body("G7", "SHS-G1", "800");
    other["provider"] = json!("someone-else");
    let (code, refused) = send(pay_path.clone(), other).await;
    assert_eq!((code, refused["field"].as_str()), (400, Some("provider")));
    let (code, refused) = send(pay_path.clone(), json!({"provider": "agg", "serial": "SHS-G1"})).await;
    assert_eq!((code, refused["code"].as_str()), (400, Some("invalid_input")));
    let junk = "{\"provider\":";
    let (code, _) = hook(&s, &pay_path, junk, &headers(junk, now())).await;
    assert_eq!(code, 400);
    let big = "y".repeat(20_000);
    assert_eq!(hook(&s, &pay_path, big.clone(), &headers(&big, now())).await.0, 413);
    assert_eq!(payments_of(&s, "SHS-G1").await.len(), 2);
}

/// The unit-level check of the Daraja wire answer runs without a database: the engine is native for speed.
#[tokio::test]
async fn hooks_need_no_api_key_but_a_known_secret() {
    let s = TestServer::start(Db::Sqlite, EngineKind::Native).await.unwrap();
    for path in ["/hooks/c2b/abc/validation", "/hooks/wave/abc", "/hooks/hmac/abc/payments"] {
        let (code, body) = hook(&s, path, "{}", &[]).await;
        assert_eq!((code, body["code"].as_str()), (404, Some("not_found")), "{path}");
    }
    // A Daraja secret does not open a Wave hook.
    let p = s.ok("/v1/providers", json!({"kind": "daraja_c2b", "shortcode": "600984", "currency": "KES"}), 201).await;
    let segment = secret_segment(p["hook_paths"]["validation"].as_str().unwrap());
    assert_eq!(hook(&s, &format!("/hooks/wave/{segment}"), "{}", &[]).await.0, 404);
}

/// Rows of the tables a delivery's money or announcement lands in.
async fn money_rows(s: &TestServer) -> Vec<i64> {
    let mut out = Vec::new();
    for table in
        ["payments", "allocations", "tokens", "unmatched_payments", "provider_validations", "payment_conflicts"]
    {
        let row: (i64,) =
            sqlx::query_as(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&s.state.db.pool).await.unwrap();
        out.push(row.0);
    }
    out
}

/// A `\u0000` anywhere in a hook's body is refused as on every API route (PostgreSQL cannot store a NUL, and
/// an unrefused one in a Daraja `TransID` or a Wave event `id` was a 500 there): Daraja's validation answers
/// its "other error" in Safaricom's format (always HTTP 200), every other hook 400 naming the field; nothing
/// is credited, announced or queued; the raw delivery is kept, marked malformed or rejected.
async fn nul_characters_in_hook_bodies(s: TestServer) {
    let r = registry(&s).await;
    register_shs_in(&s, &r, "SHS-N1", "KES").await;
    let daraja =
        s.ok("/v1/providers", json!({"kind": "daraja_c2b", "shortcode": "600984", "currency": "KES"}), 201).await;
    let wave = s.ok("/v1/providers", json!({"kind": "wave", "secret": WAVE_SECRET, "currency": "KES"}), 201).await;
    let agg = s
        .ok(
            "/v1/providers",
            json!({"kind": "generic_hmac", "secret": AGG_SECRET, "currency": "KES", "name": "agg"}),
            201,
        )
        .await;
    let path = |v: &Value, key: &str| v["hook_paths"][key].as_str().unwrap().to_owned();
    let before = money_rows(&s).await;

    for body in [
        c2b("RKN\u{0}1", "SHS-N1", json!("100.00"), "600984", ""),
        c2b("RKN2", "SHS\u{0}N1", json!("100.00"), "600984", ""),
        c2b("RKN3", "SHS-N1", json!("100.00"), "600984", "ref\u{0}"),
    ] {
        let (code, answer) = hook(&s, &path(&daraja, "validation"), body.to_string(), &[]).await;
        assert_eq!((code, &answer), (200, &json!({"ResultCode": "C2B00016", "ResultDesc": "Rejected"})));
        let (code, refused) = hook(&s, &path(&daraja, "confirmation"), body.to_string(), &[]).await;
        assert_eq!((code, refused["code"].as_str()), (400, Some("invalid_input")), "{refused}");
        assert!(refused["message"].as_str().unwrap().contains("NUL"), "{refused}");
    }

    for (body, field) in [
        (wave_event("AE_\u{0}", "TWN1", "SHS-N1", "100", "KES"), "id"),
        // `data.id` is `cos-<transaction id>`: the first field holding the NUL, in key order.
        (wave_event("AE_N2", "TWN\u{0}2", "SHS-N1", "100", "KES"), "data.id"),
        (wave_event("AE_N3", "TWN3", "SHS\u{0}N1", "100", "KES"), "data.client_reference"),
    ] {
        let text = body.to_string();
        let headers = vec![("Wave-Signature", sign(WAVE_SECRET.as_bytes(), now(), b"", text.as_bytes()))];
        let (code, refused) = hook(&s, &path(&wave, "webhook"), text, &headers).await;
        assert_eq!((code, refused["field"].as_str()), (400, Some(field)), "{refused}");
    }

    let payment = |tx: &str, serial: &str| {
        json!({"provider": "agg", "provider_tx_id": tx, "serial": serial, "amount": "100", "currency": "KES",
               "money_moved": true})
    };
    for (hook_path, body, field) in [
        (path(&agg, "payments"), payment("GN\u{0}1", "SHS-N1"), "provider_tx_id"),
        (path(&agg, "payments"), payment("GN2", "SHS\u{0}N1"), "serial"),
        (path(&agg, "validate"), json!({"serial": "SHS\u{0}N1", "amount": "100", "currency": "KES"}), "serial"),
    ] {
        let text = body.to_string();
        let headers = vec![("X-Signature", sign(AGG_SECRET.as_bytes(), now(), b".", text.as_bytes()))];
        let (code, refused) = hook(&s, &hook_path, text, &headers).await;
        assert_eq!((code, refused["field"].as_str()), (400, Some(field)), "{refused}");
    }

    assert_eq!(money_rows(&s).await, before, "a NUL delivery credited, announced or queued something");
    assert!(payments_of(&s, "SHS-N1").await.is_empty());
    let kept: Vec<(String, String)> = sqlx::query_as("SELECT hook, outcome FROM hook_events ORDER BY created_at, id")
        .fetch_all(&s.state.db.pool)
        .await
        .unwrap();
    assert_eq!(kept.len(), 12, "every delivery is kept raw: {kept:?}");
    for (hook, outcome) in &kept {
        let expected = if hook == "validation" { "rejected" } else { "malformed" };
        assert_eq!(outcome, expected, "{hook}");
    }
}

/// `/metrics`' count of hook deliveries refused for `reason` at `kind`'s hooks (0 when never counted).
async fn rejected(s: &TestServer, kind: &str, reason: &str) -> u64 {
    let (code, text) = s.get("/metrics").await;
    assert_eq!(code, 200);
    let line = format!("micropower_hook_rejected_total{{provider_kind=\"{kind}\",reason=\"{reason}\"}} ");
    text.as_str().unwrap().lines().find_map(|l| l.strip_prefix(&line)).map_or(0, |n| n.parse().unwrap())
}

/// Issue 19: with `require_validation`, a Daraja confirmation credits only after an accepted validation; and
/// whatever the flag, a `ThirdPartyTransID` that names no validation of ours is a conflict (it used to skip
/// every check against the validation and credit).
async fn daraja_can_require_validation_and_never_trusts_an_unknown_reference(s: TestServer) {
    let r = registry(&s).await;
    register_shs_in(&s, &r, "SHS-V1", "KES").await;
    let lenient =
        s.ok("/v1/providers", json!({"kind": "daraja_c2b", "shortcode": "600984", "currency": "KES"}), 201).await;
    assert_eq!(lenient["require_validation"], false, "off by default");
    let strict = s
        .ok(
            "/v1/providers",
            json!({"kind": "daraja_c2b", "shortcode": "600985", "currency": "KES", "name": "strict",
                   "require_validation": true}),
            201,
        )
        .await;
    assert_eq!(strict["require_validation"], true);
    let (_, list) = s.get("/v1/providers").await;
    let flags: Vec<(String, bool)> = list["providers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["name"].as_str().unwrap().to_owned(), p["require_validation"].as_bool().unwrap()))
        .collect();
    assert_eq!(flags, vec![("daraja_c2b".to_owned(), false), ("strict".to_owned(), true)]);
    let (code, body) = s
        .post(
            "/v1/providers",
            json!({"kind": "wave", "secret": WAVE_SECRET, "currency": "KES", "require_validation": true}),
        )
        .await;
    assert_eq!((code, body["field"].as_str()), (400, Some("require_validation")));
    let path = |p: &Value, key: &str| p["hook_paths"][key].as_str().unwrap().to_owned();
    let reason_of = |tx: &'static str| {
        let s = &s;
        async move {
            let found: Vec<Value> = conflicts(s).await.into_iter().filter(|c| c["provider_tx_id"] == tx).collect();
            assert_eq!(found.len(), 1, "{tx}: {found:?}");
            found[0]["reason"].as_str().unwrap().to_owned()
        }
    };

    // Without the flag: no validation, no reference → credited as before; a forged reference → a conflict.
    let (code, _) =
        hook(&s, &path(&lenient, "confirmation"), c2b("RV1", "SHS-V1", json!("100.00"), "600984", "").to_string(), &[])
            .await;
    assert_eq!(code, 200);
    assert_eq!(payments_of(&s, "SHS-V1").await.len(), 1);
    let forged = c2b("RV2", "SHS-V1", json!("100.00"), "600984", "no-such-validation");
    let (code, ack) = hook(&s, &path(&lenient, "confirmation"), forged.to_string(), &[]).await;
    assert_eq!((code, ack["ResultCode"].as_i64()), (200, Some(0)), "the money moved: acknowledged");
    assert_eq!(reason_of("RV2").await, "unknown_validation_reference");
    assert_eq!(
        conflicts(&s).await.iter().find(|c| c["provider_tx_id"] == "RV2").unwrap()["received"]["third_party_trans_id"],
        "no-such-validation"
    );
    // Another provider's reference is unknown to this one.
    let (_, ok) =
        hook(&s, &path(&strict, "validation"), c2b("RV3", "SHS-V1", json!("100.00"), "600985", "").to_string(), &[])
            .await;
    let strict_ref = ok["ThirdPartyTransID"].as_str().unwrap().to_owned();
    hook(
        &s,
        &path(&lenient, "confirmation"),
        c2b("RV3", "SHS-V1", json!("100.00"), "600984", &strict_ref).to_string(),
        &[],
    )
    .await;
    assert_eq!(reason_of("RV3").await, "unknown_validation_reference");
    assert_eq!(payments_of(&s, "SHS-V1").await.len(), 1, "neither was credited");

    // With the flag: credited after an accepted validation (by its reference, or by TransID alone).
    let strict_confirm = path(&strict, "confirmation");
    let (code, _) =
        hook(&s, &strict_confirm, c2b("RV3", "SHS-V1", json!("100.00"), "600985", &strict_ref).to_string(), &[]).await;
    assert_eq!(code, 200);
    assert_eq!(payments_of(&s, "SHS-V1").await.len(), 2);
    hook(&s, &path(&strict, "validation"), c2b("RV4", "SHS-V1", json!("100.00"), "600985", "").to_string(), &[]).await;
    hook(&s, &strict_confirm, c2b("RV4", "SHS-V1", json!("100.00"), "600985", "").to_string(), &[]).await;
    assert_eq!(payments_of(&s, "SHS-V1").await.len(), 3);
    // No validation at all, or only a rejected one: a conflict, nothing credited.
    let (code, ack) =
        hook(&s, &strict_confirm, c2b("RV5", "SHS-V1", json!("100.00"), "600985", "").to_string(), &[]).await;
    assert_eq!((code, ack["ResultCode"].as_i64()), (200, Some(0)));
    assert_eq!(reason_of("RV5").await, "no_validation");
    let (_, refused) =
        hook(&s, &path(&strict, "validation"), c2b("RV6", "NO-SUCH-V", json!("100.00"), "600985", "").to_string(), &[])
            .await;
    assert_eq!(refused["ResultCode"], "C2B00012");
    hook(&s, &strict_confirm, c2b("RV6", "SHS-V1", json!("100.00"), "600985", "").to_string(), &[]).await;
    assert_eq!(reason_of("RV6").await, "validation_rejected");
    assert_eq!(payments_of(&s, "SHS-V1").await.len(), 3);
}

/// Issue 19: a Wave or generic delivery whose signature fails is refused before anything of it is stored,
/// and counted in `/metrics` by kind and reason; a signing provider cannot be created without its secret.
async fn signatures_are_checked_before_a_delivery_is_kept(s: TestServer) {
    let (code, body) = s.post("/v1/providers", json!({"kind": "wave", "currency": "XOF"})).await;
    assert_eq!((code, body["field"].as_str()), (422, Some("secret")), "{body}");
    let (code, body) = s.post("/v1/providers", json!({"kind": "generic_hmac", "currency": "TZS"})).await;
    assert_eq!((code, body["field"].as_str()), (422, Some("secret")), "{body}");
    let wave = s.ok("/v1/providers", json!({"kind": "wave", "secret": WAVE_SECRET, "currency": "XOF"}), 201).await;
    let agg = s
        .ok(
            "/v1/providers",
            json!({"kind": "generic_hmac", "secret": AGG_SECRET, "currency": "TZS", "name": "agg"}),
            201,
        )
        .await;
    let wave_path = wave["hook_paths"]["webhook"].as_str().unwrap();
    let agg_path = agg["hook_paths"]["payments"].as_str().unwrap();
    let body = json!({"id": "AE_S1", "type": "test.test_event", "data": {"pad": "p".repeat(2000)}}).to_string();

    let forged = vec![("Wave-Signature", sign(b"not-the-wave-secret", now(), b"", body.as_bytes()))];
    assert_eq!(hook(&s, wave_path, body.clone(), &forged).await.0, 401);
    assert_eq!(hook(&s, wave_path, body.clone(), &[]).await.0, 401);
    let stale = vec![("Wave-Signature", sign(WAVE_SECRET.as_bytes(), now() - 400, b"", body.as_bytes()))];
    assert_eq!(hook(&s, wave_path, body.clone(), &stale).await.0, 401);
    let forged = vec![("X-Signature", sign(b"not-the-agg-secret", now(), b".", body.as_bytes()))];
    assert_eq!(hook(&s, agg_path, body.clone(), &forged).await.0, 401);
    assert_eq!(hook(&s, agg_path, body.clone(), &[("X-Signature", "t=1,v1".into())]).await.0, 401);
    assert_eq!(hook_events(&s).await, 0, "no refused delivery is stored");
    assert_eq!(rejected(&s, "wave", "signature_mismatch").await, 1);
    assert_eq!(rejected(&s, "wave", "signature_missing").await, 1);
    assert_eq!(rejected(&s, "wave", "signature_stale").await, 1);
    assert_eq!(rejected(&s, "generic_hmac", "signature_mismatch").await, 1);
    assert_eq!(rejected(&s, "generic_hmac", "signature_malformed").await, 1);

    // A good signature is still kept whole, before the answer.
    let good = vec![("Wave-Signature", sign(WAVE_SECRET.as_bytes(), now(), b"", body.as_bytes()))];
    let (code, answer) = hook(&s, wave_path, body.clone(), &good).await;
    assert_eq!((code, answer["status"].as_str()), (200, Some("ignored")));
    let kept: (String,) = sqlx::query_as("SELECT body FROM hook_events").fetch_one(&s.state.db.pool).await.unwrap();
    assert_eq!(kept.0, body);
}

/// Issue 19: `POST /v1/providers/{id}/rotate` answers new hook paths; the old ones work for the grace period,
/// then answer 404. `DELETE /v1/providers/{id}` closes every hook and keeps the history.
async fn hook_paths_rotate_with_a_grace_period_and_removed_providers_close(s: TestServer) {
    let r = registry(&s).await;
    register_shs_in(&s, &r, "SHS-R1", "XOF").await;
    let created = s.ok("/v1/providers", json!({"kind": "wave", "secret": WAVE_SECRET, "currency": "XOF"}), 201).await;
    let id = created["id"].as_str().unwrap().to_owned();
    let send = |path: String, event: Value| {
        let s = &s;
        let text = event.to_string();
        let headers = vec![("Wave-Signature", sign(WAVE_SECRET.as_bytes(), now(), b"", text.as_bytes()))];
        async move { hook(s, &path, text, &headers).await.0 }
    };
    let ping = |n: u32| json!({"id": format!("AE_P{n}"), "type": "test.test_event", "data": {}});
    let first = created["hook_paths"]["webhook"].as_str().unwrap().to_owned();
    assert_eq!(send(first.clone(), wave_event("AE_R1", "TR1", "SHS-R1", "100", "XOF")).await, 200);

    // Only an admin rotates; an unknown provider is 404.
    let operator = s.ok("/v1/api-keys", json!({"role": "operator"}), 201).await;
    let (code, _) =
        s.send(Method::POST, &format!("/v1/providers/{id}/rotate"), Some(json!({})), operator["key"].as_str()).await;
    assert_eq!(code, 403);
    let (code, _) = s.post("/v1/providers/no-such-provider/rotate", json!({})).await;
    assert_eq!(code, 404);
    let (code, body) = s.post(&format!("/v1/providers/{id}/rotate"), json!({"grace_seconds": 700_000})).await;
    assert_eq!((code, body["field"].as_str()), (400, Some("grace_seconds")));

    // Grace 0 (the default): the old path closes at once; the answer has creation's shape.
    let rotated = s.ok(&format!("/v1/providers/{id}/rotate"), json!({}), 200).await;
    for key in ["id", "kind", "name", "currency", "shortcode", "require_validation", "allowed_sources"] {
        assert_eq!(rotated[key], created[key], "{key}");
    }
    let second = rotated["hook_paths"]["webhook"].as_str().unwrap().to_owned();
    assert_eq!(secret_segment(&second).len(), 64);
    assert_ne!(second, first);
    assert_eq!(send(first.clone(), ping(1)).await, 404);
    assert_eq!(send(second.clone(), ping(2)).await, 200);

    // A grace period: both paths work until it is over, then only the new one.
    let rotated = s.ok(&format!("/v1/providers/{id}/rotate"), json!({"grace_seconds": 1}), 200).await;
    let third = rotated["hook_paths"]["webhook"].as_str().unwrap().to_owned();
    assert!(rotated["previous_paths_expire_at"].is_string(), "{rotated}");
    assert_eq!(send(second.clone(), ping(3)).await, 200, "within the grace period");
    assert_eq!(send(third.clone(), ping(4)).await, 200);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    assert_eq!(send(second.clone(), ping(5)).await, 404, "after the grace period");
    assert_eq!(send(third.clone(), wave_event("AE_R2", "TR2", "SHS-R1", "100", "XOF")).await, 200);
    assert_eq!(send(third.clone(), wave_event("AE_R3", "TR3", "SHS-R1", "100", "EUR")).await, 200, "a conflict");

    // Removal: hooks 404, listed as removed, history kept, name still taken; repeating it changes nothing.
    let (code, _) = s.send(Method::DELETE, &format!("/v1/providers/{id}"), None, operator["key"].as_str()).await;
    assert_eq!(code, 403);
    let (code, removed) = s.send(Method::DELETE, &format!("/v1/providers/{id}"), None, Some(&s.key)).await;
    assert_eq!(code, 200, "{removed}");
    let removed_at = removed["removed_at"].as_str().unwrap().to_owned();
    assert_eq!(send(third.clone(), ping(6)).await, 404);
    let (code, again) = s.send(Method::DELETE, &format!("/v1/providers/{id}"), None, Some(&s.key)).await;
    assert_eq!((code, again["removed_at"].as_str()), (200, Some(removed_at.as_str())));
    let (code, _) = s.send(Method::DELETE, "/v1/providers/no-such-provider", None, Some(&s.key)).await;
    assert_eq!(code, 404);
    let (_, list) = s.get("/v1/providers").await;
    assert_eq!(list["providers"][0]["removed_at"].as_str(), Some(removed_at.as_str()));
    let (code, _) = s.post(&format!("/v1/providers/{id}/rotate"), json!({})).await;
    assert_eq!(code, 404, "a removed provider has no paths to rotate");
    assert_eq!(payments_of(&s, "SHS-R1").await.len(), 2, "its payments stay");
    assert!(conflicts(&s).await.iter().any(|c| c["provider_tx_id"] == "TR3"), "its conflicts stay");
    assert_eq!(hook_events(&s).await, 6, "its deliveries stay");
    let (code, _) = s.post("/v1/providers", json!({"kind": "wave", "secret": WAVE_SECRET, "currency": "XOF"})).await;
    assert_eq!(code, 409, "a removed provider's name stays taken: its payments are recorded under it");
    // Both routes are in the published contract, the rotation with its body.
    let (_, doc) = s.get("/v1/openapi.json").await;
    let rotate = &doc["paths"]["/v1/providers/{id}/rotate"]["post"];
    let schema = &rotate["requestBody"]["content"]["application/json"]["schema"];
    assert_eq!(schema["properties"]["grace_seconds"]["type"], "integer", "{rotate}");
    assert!(doc["paths"]["/v1/providers/{id}"]["delete"].is_object());
    let create = &doc["paths"]["/v1/providers"]["post"]["requestBody"]["content"]["application/json"]["schema"];
    assert!(
        create["properties"]["allowed_sources"].is_object() && create["properties"]["require_validation"].is_object()
    );
}

/// Issue 19: a provider's `allowed_sources` refuses deliveries from elsewhere with 403 (Safaricom's shape
/// for a Daraja validation), stores nothing of them and counts them. Here the source is the socket's peer
/// (no trusted proxy header configured): 127.0.0.1.
async fn deliveries_from_outside_the_allowlist_are_refused(s: TestServer) {
    let (code, body) = s
        .post(
            "/v1/providers",
            json!({"kind": "wave", "secret": WAVE_SECRET, "currency": "XOF", "allowed_sources": ["not-an-address"]}),
        )
        .await;
    assert_eq!((code, body["field"].as_str()), (400, Some("allowed_sources")));
    let safaricom = s
        .ok(
            "/v1/providers",
            json!({"kind": "daraja_c2b", "shortcode": "600984", "currency": "KES",
                   "allowed_sources": ["196.201.214.0/24", "196.201.213.44"]}),
            201,
        )
        .await;
    assert_eq!(safaricom["allowed_sources"], json!(["196.201.214.0/24", "196.201.213.44/32"]));
    let local = s
        .ok(
            "/v1/providers",
            json!({"kind": "wave", "secret": WAVE_SECRET, "currency": "XOF", "allowed_sources": ["127.0.0.0/8"]}),
            201,
        )
        .await;
    let elsewhere = s
        .ok(
            "/v1/providers",
            json!({"kind": "generic_hmac", "secret": AGG_SECRET, "currency": "TZS", "name": "agg",
                   "allowed_sources": ["10.0.0.0/8"]}),
            201,
        )
        .await;
    let (_, list) = s.get("/v1/providers").await;
    assert_eq!(list["providers"][0]["allowed_sources"], safaricom["allowed_sources"]);

    let c2b_body = c2b("RA1", "SHS-A1", json!("100.00"), "600984", "").to_string();
    let (code, answer) = hook(&s, safaricom["hook_paths"]["validation"].as_str().unwrap(), c2b_body.clone(), &[]).await;
    assert_eq!((code, &answer), (403, &json!({"ResultCode": "C2B00016", "ResultDesc": "Rejected"})));
    let (code, answer) = hook(&s, safaricom["hook_paths"]["confirmation"].as_str().unwrap(), c2b_body, &[]).await;
    assert_eq!((code, answer["code"].as_str()), (403, Some("forbidden")));
    let text = json!({"provider": "agg", "provider_tx_id": "GA1", "serial": "X", "amount": "1", "currency": "TZS"})
        .to_string();
    let signed = vec![("X-Signature", sign(AGG_SECRET.as_bytes(), now(), b".", text.as_bytes()))];
    let (code, answer) = hook(&s, elsewhere["hook_paths"]["payments"].as_str().unwrap(), text, &signed).await;
    assert_eq!((code, answer["code"].as_str()), (403, Some("forbidden")));
    assert_eq!(hook_events(&s).await, 0, "nothing of a refused delivery is stored");
    assert_eq!(rejected(&s, "daraja_c2b", "source_not_allowed").await, 2);
    assert_eq!(rejected(&s, "generic_hmac", "source_not_allowed").await, 1);

    // From inside the allowlist: answered as usual.
    let event = json!({"id": "AE_A1", "type": "test.test_event", "data": {}}).to_string();
    let signed = vec![("Wave-Signature", sign(WAVE_SECRET.as_bytes(), now(), b"", event.as_bytes()))];
    let (code, answer) = hook(&s, local["hook_paths"]["webhook"].as_str().unwrap(), event, &signed).await;
    assert_eq!((code, answer["status"].as_str()), (200, Some("ignored")));
}

/// A server behind a proxy that writes the client's address in `X-Forwarded-For`.
async fn behind_a_proxy(db: Db) -> Option<TestServer> {
    let dir = tempfile::tempdir().unwrap();
    let url = match db {
        Db::Sqlite => format!("sqlite://{}/test.db", dir.path().display()),
        Db::Postgres => fresh_postgres_url().await?,
    };
    let mut config = test_config(url, dir.path(), EngineKind::Wasm, micropower_server::config::Tz::UTC);
    config.trusted_proxy_header = Some("x-forwarded-for".parse().unwrap());
    Some(TestServer::start_with(config, dir).await)
}

/// With `MICROPOWER_TRUSTED_PROXY_HEADER`, the source is the last address of that header (the one the proxy
/// appended); the addresses a client put before it, and a request without the header, do not pass.
async fn the_source_behind_a_proxy_is_the_last_forwarded_address(s: TestServer) {
    let wave = s
        .ok(
            "/v1/providers",
            json!({"kind": "wave", "secret": WAVE_SECRET, "currency": "XOF", "allowed_sources": ["196.201.214.0/24"]}),
            201,
        )
        .await;
    let path = wave["hook_paths"]["webhook"].as_str().unwrap();
    let send = |forwarded: Option<&'static str>| {
        let s = &s;
        let event = json!({"id": "AE_X", "type": "test.test_event", "data": {}}).to_string();
        let mut headers = vec![("Wave-Signature", sign(WAVE_SECRET.as_bytes(), now(), b"", event.as_bytes()))];
        if let Some(value) = forwarded {
            headers.push(("X-Forwarded-For", value.to_owned()));
        }
        async move { hook(s, path, event, &headers).await.0 }
    };
    assert_eq!(send(Some("10.1.2.3, 196.201.214.9")).await, 200);
    assert_eq!(send(Some("196.201.214.9, 10.1.2.3")).await, 403, "a client-written first hop does not count");
    assert_eq!(send(None).await, 403, "no header: the source is unknown");
    assert_eq!(send(Some("garbage")).await, 403);
    assert_eq!(rejected(&s, "wave", "source_not_allowed").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_source_behind_a_proxy_sqlite() {
    the_source_behind_a_proxy_is_the_last_forwarded_address(behind_a_proxy(Db::Sqlite).await.unwrap()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_source_behind_a_proxy_postgres() {
    if let Some(s) = behind_a_proxy(Db::Postgres).await {
        the_source_behind_a_proxy_is_the_last_forwarded_address(s).await;
    }
}
