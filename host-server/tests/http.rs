//! The HTTP contract end to end, over a real socket, on SQLite and on PostgreSQL: every worked example of
//! domain.md §5, duplicates (sequential and concurrent), refusals, validation, plan edits, operator tokens,
//! the unmatched queue and authentication.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[macro_use]
mod common;

use common::*;
use micropower_server::config::EngineKind;
use reqwest::Method;
use serde_json::{json, Value};

on_both_databases!(
    meter_worked_examples,
    shs_worked_examples,
    duplicates_credit_once,
    changed_repeats_conflict,
    narrower_roles,
    failed_authentications_are_limited,
    refusals_are_logged,
    validation_answers,
    plan_edits,
    operator_tokens,
    unmatched_money_is_assigned,
    authentication,
    reports_and_export,
    long_journals,
);
#[cfg(feature = "dashboard")]
on_both_databases!(dashboard_caching);

fn amounts(answer: &Value) -> Vec<(String, String)> {
    answer["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["kind"].as_str().unwrap().to_owned(), l["amount"].as_str().unwrap().to_owned()))
        .collect()
}

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items.iter().map(|(a, b)| ((*a).to_owned(), (*b).to_owned())).collect()
}

/// domain.md §5.1: overdue TV installment, access debt, partial access payment, two overdue installments.
async fn meter_worked_examples(s: TestServer) {
    let r = registry(&s).await;
    // Price 500, overdue TV installment remaining 300, pay 1000 ⇒ installment 300, energy 700 ⇒ 1.4 kWh.
    let reg = register_meter(&s, &r, "MTR-1", json!({"name": "Flat", "currency": "TZS", "price_per_kwh": "500"})).await;
    let customer = reg["customer"]["id"].as_str().unwrap().to_owned();
    let tv = s
        .ok(
            &format!("/v1/customers/{customer}/plans"),
            json!({"appliance": "TV", "currency": "TZS", "total_cost": "800", "down_payment": "0", "installments": 2,
                   "period": "weekly", "start_date": "2026-01-01"}),
            201,
        )
        .await;
    assert_eq!(tv["installments"][0]["amount"], "400");
    // Make installment 1 remaining 300 by paying 100 of it directly first: TV plans are paid through meter
    // payments, so pay 100 while nothing else is overdue except installment 1 (due 2026-01-08).
    let first = s.ok("/v1/payments", payment("m1", "MTR1", "100", "2026-01-09T08:00:00Z"), 201).await;
    assert_eq!(amounts(&first), pairs(&[("installment", "100")]));
    assert_eq!(first["status"], "credited");
    let answer = s.ok("/v1/payments", payment("m2", "mtr-1", "1000", "2026-01-10T08:00:00Z"), 201).await;
    assert_eq!(amounts(&answer), pairs(&[("installment", "300"), ("energy", "700")]));
    assert_eq!(answer["status"], "token_pending", "an external meter's token waits for the vendor");
    assert_eq!(answer["tokens"][0]["unit"], "kwh");
    assert_eq!(answer["tokens"][0]["quantity"], "1.4");
    assert_eq!(answer["tokens"][0]["code"], Value::Null);

    // Access debt 300, pay 1000 ⇒ access 300, 1.4 kWh; access debt 300, pay 100 ⇒ access 100, debt 200.
    let tariff = json!({"name": "Weekly fee", "currency": "TZS", "price_per_kwh": "500",
                        "access_rate": {"amount": "300", "period_days": 7}});
    register_meter(&s, &r, "MTR-2", tariff.clone()).await;
    let a = s.ok("/v1/payments", payment("a1", "MTR2", "1000", "2026-01-08T09:00:00Z"), 201).await;
    assert_eq!(amounts(&a), pairs(&[("access_rate", "300"), ("energy", "700")]));
    register_meter(&s, &r, "MTR-3", tariff).await;
    let b = s.ok("/v1/payments", payment("a2", "MTR3", "100", "2026-01-08T09:00:00Z"), 201).await;
    assert_eq!(amounts(&b), pairs(&[("access_rate", "100")]));
    assert!(b["tokens"].as_array().unwrap().is_empty());
    // The device shows what it owes today: the 200 left on 2026-01-08 and every fee fallen due since.
    let (_, device) = s.get("/v1/devices/MTR3").await;
    let since = "2026-01-01".parse().unwrap();
    let periods = micropower_core::access_rate::periods_due(
        since,
        7,
        micropower_server::ids::business_day(&micropower_server::ids::now(), chrono_tz::Tz::UTC),
    )
    .unwrap();
    assert_eq!(device["access_rate_debt"], (200 + 300 * (i64::from(periods) - 1)).to_string());

    // Overdue 300 and 500 on one plan, pay 600 ⇒ first paid, second has 200 left, no token.
    let reg =
        register_meter(&s, &r, "MTR-4", json!({"name": "Flat2", "currency": "TZS", "price_per_kwh": "500"})).await;
    let customer = reg["customer"]["id"].as_str().unwrap().to_owned();
    let plan = s
        .ok(
            &format!("/v1/customers/{customer}/plans"),
            json!({"appliance": "Fridge", "currency": "TZS", "total_cost": "800", "down_payment": "0", "installments": 2,
                   "period": "weekly", "start_date": "2026-01-01"}),
            201,
        )
        .await;
    let plan_id = plan["id"].as_str().unwrap();
    let (code, _) = s.put(&format!("/v1/plans/{plan_id}/installments/1"), json!({"amount": "300"})).await;
    assert_eq!(code, 200);
    let (code, edited) = s.put(&format!("/v1/plans/{plan_id}/installments/2"), json!({"amount": "500"})).await;
    assert_eq!(code, 200);
    assert_eq!(edited["total_cost"], "800");
    let c = s.ok("/v1/payments", payment("f1", "MTR4", "600", "2026-01-20T09:00:00Z"), 201).await;
    assert_eq!(amounts(&c), pairs(&[("installment", "300"), ("installment", "300")]));
    assert!(c["tokens"].as_array().unwrap().is_empty());
    let (_, plan) = s.get(&format!("/v1/plans/{plan_id}")).await;
    assert_eq!(plan["installments"][1]["remaining"], "200");

    // Price 300, pay 1000 ⇒ 3.33 kWh and 1 to credit, kept for the next purchase.
    register_meter(&s, &r, "MTR-5", json!({"name": "Three", "currency": "TZS", "price_per_kwh": "300"})).await;
    let d = s.ok("/v1/payments", payment("c1", "MTR5", "1000", "2026-01-20T09:00:00Z"), 201).await;
    assert_eq!(amounts(&d), pairs(&[("energy", "999"), ("credit", "1")]));
    assert_eq!(d["credit_balance"], "1");
    let (_, device) = s.get("/v1/devices/mtr-5").await;
    assert_eq!((&device["currency"], &device["credit_balance"]), (&json!("TZS"), &json!("1")), "{device}");
    let (_, found) = s.get("/v1/devices?query=MTR").await;
    let listed: Vec<_> = found["items"].as_array().unwrap().iter().map(|d| d["serial"].clone()).collect();
    assert_eq!(listed, [json!("MTR1"), json!("MTR2"), json!("MTR3"), json!("MTR4"), json!("MTR5")]);
    let mut listed = found["items"][4].clone();
    let owner_shown = listed.as_object_mut().unwrap().remove("customer").unwrap();
    assert_eq!(listed, device, "a listed device is the device, with its owner");
    assert_eq!(owner_shown["id"], device["customer_id"]);
    assert!(owner_shown["name"].is_string() && owner_shown["phone"].is_string(), "{owner_shown}");
    let (_, owner) = s.get(&format!("/v1/customers/{}", device["customer_id"].as_str().unwrap())).await;
    assert_eq!(owner["devices"], json!([device]));
    assert_eq!(owner["credit_balance"], json!({"TZS": "1"}));
}

/// domain.md §5.2: weekly 700, pay 800 ⇒ 8 days with an OpenPAYGO code; paying off unlocks.
async fn shs_worked_examples(s: TestServer) {
    let r = registry(&s).await;
    register_shs(&s, &r, "SHS-1").await;
    let answer = s.ok("/v1/payments", payment("s1", "SHS-1", "800", "2026-01-02T08:00:00Z"), 201).await;
    assert_eq!(amounts(&answer), pairs(&[("installment", "700"), ("installment", "100")]));
    assert_eq!(answer["status"], "completed");
    let token = &answer["tokens"][0];
    assert_eq!(
        (token["kind"].as_str(), token["unit"].as_str(), token["quantity"].as_str()),
        (Some("add_time"), Some("days"), Some("8"))
    );
    let expected = micropower_core::api::openpaygo_generate(
        KEY,
        Some(123456789),
        0,
        micropower_core::api::OpenPaygoKind::AddTime,
        Some(8.into()),
        1,
        false,
        false,
    )
    .unwrap();
    assert_eq!(token["code"], expected.code);
    assert_eq!(token["count"], expected.count);
    let second = s.ok("/v1/payments", payment("s2", "SHS-1", "750", "2026-01-09T08:00:00Z"), 201).await;
    assert_eq!(second["tokens"][0]["quantity"], "8", "750 at 100 a day rounds up to 8 days");
    assert!(second["tokens"][0]["count"].as_u64().unwrap() > token["count"].as_u64().unwrap());
    let last = s.ok("/v1/payments", payment("s3", "SHS-1", "1000", "2026-01-16T08:00:00Z"), 201).await;
    assert_eq!(last["tokens"][0]["kind"], "unlock");
    assert_eq!(amounts(&last), pairs(&[("installment", "550"), ("credit", "450")]));
    let (_, history) = s.get("/v1/devices/SHS-1/tokens").await;
    assert_eq!(history["items"].as_array().unwrap().len(), 3);
}

/// The same payment twice (and twenty copies at once) credits once and answers identically.
async fn duplicates_credit_once(s: TestServer) {
    let r = registry(&s).await;
    register_shs(&s, &r, "SHS-D").await;
    let body = payment("dup-1", "SHS-D", "800", "2026-01-02T08:00:00Z");
    let (first_status, first) = s.post("/v1/payments", body.clone()).await;
    assert_eq!(first_status, 201);
    let (again_status, again) = s.post("/v1/payments", body).await;
    assert_eq!((again_status, &again), (200, &first));

    let concurrent = payment("dup-2", "SHS-D", "100", "2026-01-03T08:00:00Z");
    let mut tasks = Vec::new();
    let s = std::sync::Arc::new(s);
    for _ in 0..20 {
        let s = s.clone();
        let body = concurrent.clone();
        tasks.push(tokio::spawn(async move { s.post("/v1/payments", body).await }));
    }
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.unwrap());
    }
    assert_eq!(answers.iter().filter(|(c, _)| *c == 201).count(), 1, "exactly one delivery applies");
    assert!(answers.iter().all(|(c, _)| *c == 201 || *c == 200));
    assert!(answers.iter().all(|(_, v)| v == &answers[0].1), "every copy gets the same answer");
    let (_, plan) =
        s.get(&format!("/v1/plans/{}", s.get("/v1/devices/SHS-D").await.1["plan_id"].as_str().unwrap())).await;
    assert_eq!(plan["paid"], "900", "800 + 100, each once");
    let (_, list) = s.get("/v1/payments?serial=SHS-D").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
}

/// A repeat of a `(provider, provider_tx_id)` that names another device or other money is not the same
/// payment: 409 `conflict`, logged as refused, nothing applied; the true repeat still gets the stored answer.
async fn changed_repeats_conflict(s: TestServer) {
    let r = registry(&s).await;
    register_shs(&s, &r, "SHS-R1").await;
    register_shs(&s, &r, "SHS-R2").await;
    let first = s.ok("/v1/payments", payment("rep-1", "SHS-R1", "800", "2026-01-02T08:00:00Z"), 201).await;
    for (serial, amount) in [("SHS-R1", "8000"), ("SHS-R2", "800")] {
        let (code, body) = s.post("/v1/payments", payment("rep-1", serial, amount, "2026-01-02T08:00:00Z")).await;
        assert_eq!((code, body["code"].as_str()), (409, Some("conflict")), "{serial} {amount}: {body}");
    }
    let same = s.ok("/v1/payments", payment("rep-1", "shs-r1", "800.00", "2026-01-02T08:00:00Z"), 200).await;
    assert_eq!(same, first, "the same serial as typed otherwise and the same amount at another scale");
    let (_, refused) = s.get("/v1/payments/refused").await;
    let codes: Vec<&str> = refused["items"].as_array().unwrap().iter().filter_map(|i| i["code"].as_str()).collect();
    assert_eq!(codes, ["conflict", "conflict"]);
    let (_, list) = s.get("/v1/payments").await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
}

/// Failed authentications from one address: 401 up to the limit, then 429 with `Retry-After` for every
/// request from it, a valid key's included, until the window ends.
async fn failed_authentications_are_limited(s: TestServer) {
    use micropower_server::auth::limit::FAILURES;
    for n in 0..FAILURES {
        let (code, _) = s.send(Method::GET, "/v1/payments", None, Some(&format!("guess-{n}"))).await;
        assert_eq!(code, 401);
    }
    let response =
        reqwest::Client::new().get(format!("{}/v1/payments", s.base)).bearer_auth("guess-last").send().await.unwrap();
    assert_eq!(response.status(), 429);
    let wait: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["code"], "too_many_requests");
    let (code, _) = s.get("/v1/payments").await;
    assert_eq!(code, 429, "the address waits, whatever key it sends now");
}

/// What only an admin may do: unlock tokens, SMS template edits, conflict resolution.
async fn narrower_roles(s: TestServer) {
    let r = registry(&s).await;
    register_shs(&s, &r, "SHS-N").await;
    let operator = s.ok("/v1/api-keys", json!({"role": "operator"}), 201).await;
    let key = operator["key"].as_str();
    let unlock = json!({"kind": "unlock"});
    let (code, _) = s.send(Method::POST, "/v1/devices/SHS-N/tokens", Some(unlock), key).await;
    assert_eq!(code, 403);
    let (code, _) =
        s.send(Method::POST, "/v1/devices/SHS-N/tokens", Some(json!({"kind": "add_time", "days": "1"})), key).await;
    assert_eq!(code, 201, "other operator tokens stay an operator's");
    let template = json!({"text": "Paid {amount}"});
    let (code, _) = s.send(Method::PUT, "/v1/sms-templates/payment_received", Some(template), key).await;
    assert_eq!(code, 403);
    let (code, _) = s.send(Method::GET, "/v1/sms-templates", None, key).await;
    assert_eq!(code, 200);
    let resolve = json!({"credit": false});
    let (code, _) = s.send(Method::POST, "/v1/payments/conflicts/any/resolve", Some(resolve), key).await;
    assert_eq!(code, 403);
}

/// A payment that clears 300 installments at once writes its 300 journal lines (more than one multi-row
/// INSERT carries), each once, in order, and the export shows them all.
async fn long_journals(s: TestServer) {
    let r = registry(&s).await;
    s.ok(
        "/v1/registrations",
        json!({
            "customer": new_customer(&r.village),
            "device": {"serial": "SHS-LONG", "kind": "solar_home_system", "manufacturer_id": r.shs_maker,
                       "openpaygo": {"secret_key": KEY, "starting_code": 123456789, "count": 0}},
            "plan": {"appliance": "Lamp", "currency": "TZS", "total_cost": "300", "down_payment": "0",
                     "installments": 300, "period": "weekly", "start_date": "2026-01-01"},
            "registered_on": "2026-01-01"
        }),
        201,
    )
    .await;
    let paid = s.ok("/v1/payments", payment("long-1", "SHS-LONG", "300", "2026-01-02T08:00:00Z"), 201).await;
    let lines = paid["allocations"].as_array().unwrap();
    assert_eq!(lines.len(), 300, "{paid}");
    let (code, export) = s.get("/v1/export").await;
    assert_eq!(code, 200);
    let export = export.as_str().unwrap_or_default().to_owned();
    let record = export
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|r| r["type"] == "payment" && r["payment_id"] == paid["payment_id"])
        .unwrap_or_else(|| panic!("payment not exported: {export}"));
    let installments: Vec<u64> =
        record["lines"].as_array().unwrap().iter().map(|l| l["installment"].as_u64().unwrap()).collect();
    assert_eq!(installments, (1..=300).collect::<Vec<u64>>());
}

/// Unknown serials and currency mismatches are refused, kept in the refused log, and change nothing.
async fn refusals_are_logged(s: TestServer) {
    let r = registry(&s).await;
    register_shs(&s, &r, "SHS-R").await;
    let (code, body) = s.post("/v1/payments", payment("r1", "NO-SUCH-1", "800", "2026-01-02T08:00:00Z")).await;
    assert_eq!((code, body["code"].as_str()), (422, Some("unknown_serial")));
    let mut kes = payment("r2", "SHS-R", "800", "2026-01-02T08:00:00Z");
    kes["currency"] = json!("KES");
    let (code, body) = s.post("/v1/payments", kes).await;
    assert_eq!((code, body["code"].as_str()), (422, Some("currency_mismatch")));
    let (_, log) = s.get("/v1/payments/refused").await;
    let codes: Vec<&str> = log["items"].as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"unknown_serial") && codes.contains(&"currency_mismatch"), "{log}");
    let (_, list) = s.get("/v1/payments").await;
    assert!(list["items"].as_array().unwrap().is_empty());
    // Bad input is a 4xx with the error shape and the field at fault.
    let (code, body) = s.post("/v1/payments", json!({"provider": "test", "serial": "SHS-R"})).await;
    assert_eq!(code, 400);
    assert_eq!(body["code"], "invalid_input");
    assert!(body["field"].is_string(), "{body}");
    let (code, body) = s.post("/v1/payments", payment("r3", "SHS-R", "-5", "2026-01-02T08:00:00Z")).await;
    assert_eq!((code, body["code"].as_str()), (400, Some("invalid_amount")));
}

/// Validation answers before the money moves, with the minimum acceptable amount, and writes nothing.
async fn validation_answers(s: TestServer) {
    let r = registry(&s).await;
    register_shs(&s, &r, "SHS-V").await;
    let (code, ok) =
        s.post("/v1/payments/validate", json!({"serial": "shs-v", "amount": "800", "currency": "TZS"})).await;
    assert_eq!(code, 200, "{ok}");
    assert_eq!(ok["accepted"], true);
    assert!(ok["customer_name"].as_str().unwrap().starts_with("Amina Juma"));
    let (code, refused) = s
        .post(
            "/v1/payments/validate",
            json!({"serial": "SHS-V", "amount": "600", "currency": "TZS", "channel": "operator"}),
        )
        .await;
    assert_eq!(
        (code, refused["code"].as_str(), refused["accepted"].as_bool()),
        (422, Some("amount_below_minimum"), Some(false))
    );
    assert_eq!(refused["minimum_amount"], "700");
    let (code, unknown) =
        s.post("/v1/payments/validate", json!({"serial": "ZZZ9", "amount": "600", "currency": "TZS"})).await;
    assert_eq!((code, unknown["code"].as_str()), (422, Some("unknown_serial")));
    let (_, list) = s.get("/v1/payments").await;
    assert!(list["items"].as_array().unwrap().is_empty());
}

/// MPM's edit rules through the API.
async fn plan_edits(s: TestServer) {
    let r = registry(&s).await;
    let reg = register_shs(&s, &r, "SHS-E").await;
    let plan_id = reg["plan"]["id"].as_str().unwrap().to_owned();
    s.ok("/v1/payments", payment("e1", "SHS-E", "900", "2026-01-02T08:00:00Z"), 201).await;
    let (code, below) = s.put(&format!("/v1/plans/{plan_id}/total"), json!({"total_cost": "800"})).await;
    assert_eq!((code, below["code"].as_str()), (422, Some("total_below_paid")));
    let (code, edited) = s.put(&format!("/v1/plans/{plan_id}/total"), json!({"total_cost": "3000"})).await;
    assert_eq!(code, 200, "{edited}");
    let lines: Vec<&str> =
        edited["installments"].as_array().unwrap().iter().map(|i| i["amount"].as_str().unwrap()).collect();
    assert_eq!(lines, vec!["700", "200", "2100"], "touched lines keep what was paid; the rest takes the outstanding");
    let (code, touched) = s.put(&format!("/v1/plans/{plan_id}/installments/1"), json!({"amount": "10"})).await;
    assert_eq!((code, touched["code"].as_str()), (422, Some("installment_touched")));
}

/// Operator tokens: made for OpenPAYGO devices, recorded with the operator as the cause, no money moves.
async fn operator_tokens(s: TestServer) {
    let r = registry(&s).await;
    register_shs(&s, &r, "SHS-O").await;
    let t = s.ok("/v1/devices/SHS-O/tokens", json!({"kind": "add_time", "days": "7"}), 201).await;
    assert_eq!(t["count"], 2);
    let u = s.ok("/v1/devices/SHS-O/tokens", json!({"kind": "unlock"}), 201).await;
    assert_eq!(u["count"], 3);
    let (code, bad) = s.post("/v1/devices/SHS-O/tokens", json!({"kind": "add_time"})).await;
    assert_eq!((code, bad["field"].as_str()), (400, Some("days")));
    let (_, history) = s.get("/v1/devices/SHS-O/tokens").await;
    assert!(history["items"].as_array().unwrap().iter().all(|t| t["cause"] == "operator"));
    let (_, list) = s.get("/v1/payments").await;
    assert!(list["items"].as_array().unwrap().is_empty());
}

/// Money that arrived for an unknown serial waits in the queue and is applied once when assigned.
async fn unmatched_money_is_assigned(s: TestServer) {
    let r = registry(&s).await;
    register_shs(&s, &r, "SHS-U").await;
    let mut body = payment("u1", "SHS-TYPO", "800", "2026-01-02T08:00:00Z");
    body["money_moved"] = json!(true);
    let queued = s.ok("/v1/payments", body, 202).await;
    assert_eq!(queued["status"], "unmatched");
    let (_, queue) = s.get("/v1/payments/unmatched").await;
    let id = queue["items"][0]["id"].as_str().unwrap().to_owned();
    let applied = s.ok(&format!("/v1/payments/unmatched/{id}/assign"), json!({"serial": "SHS-U"}), 201).await;
    assert_eq!(applied["tokens"][0]["quantity"], "8");
    let again = s.ok(&format!("/v1/payments/unmatched/{id}/assign"), json!({"serial": "SHS-U"}), 200).await;
    assert_eq!(again, applied);
    let (_, queue) = s.get("/v1/payments/unmatched").await;
    assert_eq!(queue["items"][0]["status"], "assigned");
}

/// 401 without or with a wrong key, 403 for a viewer writing, secrets never returned.
async fn authentication(s: TestServer) {
    let (code, body) = s.send(Method::GET, "/v1/payments", None, None).await;
    assert_eq!((code, body["code"].as_str()), (401, Some("unauthorized")));
    let (code, _) = s.send(Method::GET, "/v1/payments", None, Some("wrong")).await;
    assert_eq!(code, 401);
    let viewer = s.ok("/v1/api-keys", json!({"role": "viewer"}), 201).await;
    let viewer_key = viewer["key"].as_str().unwrap();
    let (code, _) = s.send(Method::GET, "/v1/payments", None, Some(viewer_key)).await;
    assert_eq!(code, 200);
    let (code, body) = s.send(Method::POST, "/v1/clusters", Some(json!({"name": "x"})), Some(viewer_key)).await;
    assert_eq!((code, body["code"].as_str()), (403, Some("forbidden")));
    let operator = s.ok("/v1/api-keys", json!({"role": "operator"}), 201).await;
    let (code, _) =
        s.send(Method::POST, "/v1/api-keys", Some(json!({"role": "admin"})), operator["key"].as_str()).await;
    assert_eq!(code, 403);
    let r = registry(&s).await;
    let reg = register_shs(&s, &r, "SHS-A").await;
    let everything = format!("{reg}{}", s.get("/v1/devices/SHS-A").await.1);
    assert!(!everything.contains(KEY), "the OpenPAYGO key is never returned");
    let (code, _) = s.send(Method::GET, "/healthz", None, None).await;
    assert_eq!(code, 200);
}

/// Reports are the core's over the same records the export writes.
async fn reports_and_export(s: TestServer) {
    let r = registry(&s).await;
    register_shs(&s, &r, "SHS-X").await;
    s.ok("/v1/payments", payment("x1", "SHS-X", "800", "2026-01-02T08:00:00Z"), 201).await;
    let (code, revenue) = s.get("/v1/reports/revenue?from=2026-01-01&to=2026-01-31&group_by=month").await;
    assert_eq!(code, 200, "{revenue}");
    assert_eq!(revenue["total"], "800");
    let (code, debt) = s.get("/v1/reports/debt?as_of=2026-01-20").await;
    assert_eq!(code, 200, "{debt}");
    assert_eq!(debt["outstanding"], "1300");
    let (code, par) = s.get("/v1/reports/par?days=30&as_of=2026-03-01").await;
    assert_eq!((code, par["days"].as_u64()), (200, Some(30)));
    let (code, rate) = s.get("/v1/reports/collection?from=2026-01-01&to=2026-01-10").await;
    assert_eq!((code, rate["due"].as_str(), rate["collected"].as_str()), (200, Some("700"), Some("700")));
    // Split by a place, every group is {id, name}: the registry's name, not only its id.
    let (code, by_area) = s.get("/v1/reports/revenue?from=2026-01-01&to=2026-01-31&group_by=month&by=area").await;
    assert_eq!(code, 200, "{by_area}");
    let group = &by_area["rows"][0]["group"];
    assert_eq!((group["name"].as_str(), by_area["rows"][0]["total"].as_str()), (Some("Lake grid"), Some("800")));
    assert!(group["id"].as_str().is_some_and(|id| !id.is_empty()), "{by_area}");
    let (code, by_cluster) = s.get("/v1/reports/debt?as_of=2026-01-20&by=cluster").await;
    assert_eq!(code, 200, "{by_cluster}");
    assert_eq!(by_cluster["outstanding"], "1300", "the whole portfolio stays at the top");
    let groups = by_cluster["groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1, "{by_cluster}");
    assert_eq!((groups[0]["group"]["name"].as_str(), groups[0]["outstanding"].as_str()), (Some("North"), Some("1300")));
    let (code, par) = s.get("/v1/reports/par?days=30&as_of=2026-03-01&by=village").await;
    assert_eq!((code, par["groups"][0]["group"]["name"].as_str()), (200, Some("Kijiji")), "{par}");
    assert_eq!(par["groups"][0]["days"], 30);
    let (code, rate) = s.get("/v1/reports/collection?from=2026-01-01&to=2026-01-10&by=area").await;
    assert_eq!((code, rate["groups"][0]["group"]["name"].as_str()), (200, Some("Lake grid")), "{rate}");
    assert_eq!(rate["groups"][0]["due"], "700");
    // Ungrouped, the answer has no groups at all (the shape of before).
    let (_, debt) = s.get("/v1/reports/debt?as_of=2026-01-20").await;
    assert!(debt.get("groups").is_none(), "{debt}");
    // Installments carry no device kind: a debt report by kind is refused.
    let (code, refused) = s.get("/v1/reports/debt?by=kind").await;
    assert_eq!((code, refused["field"].as_str()), (400, Some("by")), "{refused}");
    let resp = s.client.get(format!("{}/v1/export", s.base)).bearer_auth(&s.key).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().await.unwrap();
    let types: Vec<String> =
        text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["type"].as_str().unwrap().to_owned()).collect();
    for t in ["meta", "cluster", "area", "village", "customer", "device", "plan", "installment", "payment", "token"] {
        assert!(types.iter().any(|x| x == t), "export has {t}");
    }
}

/// A vendor that fails once, then answers: the pending token is filled on the retry, the payment is never
/// rolled back, and the payment shows the code afterwards.
struct FlakyVendor(std::sync::atomic::AtomicU32);

impl micropower_server::vendor::VendorAdapter for FlakyVendor {
    fn fulfil<'a>(
        &'a self,
        request: &'a micropower_server::vendor::VendorRequest,
    ) -> micropower_server::vendor::VendorFuture<'a> {
        Box::pin(async move {
            if self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 0 {
                Err(micropower_server::vendor::VendorError("vendor down".into()))
            } else {
                Ok(format!("VEND-{}-{}", request.serial, request.quantity.clone().unwrap_or_default()))
            }
        })
    }
}

on_both_databases!(vendor_outage_keeps_the_payment);

async fn vendor_outage_keeps_the_payment(s: TestServer) {
    let r = registry(&s).await;
    register_meter(&s, &r, "MTR-V", json!({"name": "Flat", "currency": "TZS", "price_per_kwh": "500"})).await;
    let paid = s.ok("/v1/payments", payment("v1", "MTR-V", "1000", "2026-01-10T08:00:00Z"), 201).await;
    assert_eq!(paid["status"], "token_pending");
    let vendor = FlakyVendor(std::sync::atomic::AtomicU32::new(0));
    assert_eq!(micropower_server::vendor::run_once(&s.state, &vendor).await.unwrap(), 0, "first attempt fails");
    let id = paid["payment_id"].as_str().unwrap();
    let (_, still) = s.get(&format!("/v1/payments/{id}")).await;
    assert_eq!(still["status"], "token_pending");
    assert_eq!(still["allocations"], paid["allocations"], "the allocation stands while the vendor is down");
    // Make the retry due now instead of after the backoff.
    sqlx::query("UPDATE tokens SET next_attempt = '2000-01-01T00:00:00.000Z'").execute(&s.state.db.pool).await.unwrap();
    assert_eq!(micropower_server::vendor::run_once(&s.state, &vendor).await.unwrap(), 1);
    let (_, done) = s.get(&format!("/v1/payments/{id}")).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["tokens"][0]["code"], "VEND-MTRV-2");
    let (code, repeat) = s.post("/v1/payments", payment("v1", "MTR-V", "1000", "2026-01-10T08:00:00Z")).await;
    assert_eq!((code, &repeat), (200, &paid), "a provider's retry still gets the identical first answer");
}

/// The published OpenAPI document lists every path of the HTTP contract (http-api.md).
#[tokio::test]
async fn openapi_lists_the_contract() {
    let s = TestServer::start(Db::Sqlite, EngineKind::Native).await.unwrap();
    let (code, doc) = s.get("/v1/openapi.json").await;
    assert_eq!(code, 200);
    let paths = doc["paths"].as_object().unwrap();
    for (method, path) in [
        ("post", "/v1/clusters"),
        ("post", "/v1/areas"),
        ("post", "/v1/villages"),
        ("post", "/v1/manufacturers"),
        ("post", "/v1/tariffs"),
        ("post", "/v1/registrations"),
        ("get", "/v1/customers"),
        ("get", "/v1/customers/{id}"),
        ("get", "/v1/customers/{id}/statement"),
        ("post", "/v1/customers/{id}/plans"),
        ("get", "/v1/plans/{id}"),
        ("put", "/v1/plans/{id}/total"),
        ("put", "/v1/plans/{id}/installments/{number}"),
        ("get", "/v1/devices/{serial}"),
        ("put", "/v1/devices/{serial}/owner"),
        ("post", "/v1/payments/validate"),
        ("post", "/v1/payments"),
        ("get", "/v1/payments/{payment_id}"),
        ("get", "/v1/payments"),
        ("get", "/v1/payments/unmatched"),
        ("post", "/v1/payments/unmatched/{id}/assign"),
        ("get", "/v1/payments/refused"),
        ("get", "/v1/devices/{serial}/tokens"),
        ("post", "/v1/devices/{serial}/tokens"),
        ("get", "/v1/reports/revenue"),
        ("get", "/v1/reports/debt"),
        ("get", "/v1/reports/par"),
        ("get", "/v1/reports/collection"),
        ("get", "/v1/export"),
        ("get", "/v1/clusters"),
        ("get", "/v1/clusters/{id}"),
        ("patch", "/v1/clusters/{id}"),
        ("get", "/v1/areas"),
        ("get", "/v1/areas/{id}"),
        ("patch", "/v1/areas/{id}"),
        ("get", "/v1/villages"),
        ("get", "/v1/villages/{id}"),
        ("patch", "/v1/villages/{id}"),
        ("get", "/v1/manufacturers"),
        ("get", "/v1/manufacturers/{id}"),
        ("patch", "/v1/manufacturers/{id}"),
        ("get", "/v1/tariffs"),
        ("get", "/v1/tariffs/{id}"),
        ("post", "/v1/customers"),
        ("patch", "/v1/customers/{id}"),
        ("get", "/v1/devices"),
        ("get", "/v1/payments/conflicts"),
        ("get", "/v1/notifications"),
        ("get", "/v1/api-keys"),
        ("delete", "/v1/api-keys/{id}"),
        ("get", "/healthz"),
        ("get", "/metrics"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    let (code, _) = s.send(Method::GET, "/v1/openapi.json", None, None).await;
    assert_eq!(code, 401, "every /v1 route is authenticated");
    let (code, body) =
        s.send(Method::POST, "/v1/clusters", Some(json!({"name": "x".repeat(100_000)})), Some(&s.key)).await;
    assert_eq!((code, body["code"].as_str()), (413, Some("invalid_input")), "bodies above the limit are refused");
}

/// Every refusal axum makes itself (bad path parameter, bad query, wrong method, unknown path) has the
/// error shape too.
#[tokio::test]
async fn framework_refusals_have_the_error_shape() {
    let s = TestServer::start(Db::Sqlite, EngineKind::Native).await.unwrap();
    for (method, path, status) in [
        (Method::PUT, "/v1/plans/p1/installments/not-a-number", 400),
        (Method::GET, "/v1/reports/revenue?from=yesterday", 400),
        (Method::DELETE, "/v1/payments", 405),
        (Method::GET, "/v1/no/such/path", 404),
        (Method::GET, "/../../etc/passwd", 404),
    ] {
        let body = if method == Method::PUT { Some(json!({"amount": "1"})) } else { None };
        let (code, v) = s.send(method.clone(), path, body, Some(&s.key)).await;
        assert_eq!(code, status, "{method} {path}: {v}");
        assert!(v["code"].is_string() && v["message"].is_string(), "{method} {path}: {v}");
    }
}

/// The dashboard is served at `/` without a key, with the browser build of the JS package beside it; the
/// snapshot it previews payments with is the one the server allocates with.
#[cfg(feature = "dashboard")]
#[tokio::test]
async fn dashboard_and_its_snapshot() {
    let s = TestServer::start(Db::Sqlite, EngineKind::Native).await.unwrap();
    let client = reqwest::Client::new();
    let modules = module_paths(&client, &s.base).await;
    for (path, content_type) in
        [("/", "text/html"), ("/app.js", "text/javascript"), ("/vendor/chart.umd.min.js", "text/javascript")]
            .into_iter()
            .chain(
                modules
                    .iter()
                    .map(|m| (m.as_str(), if m.ends_with(".wasm") { "application/wasm" } else { "text/javascript" })),
            )
    {
        let resp = client.get(format!("{}{path}", s.base)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        let got = resp.headers().get("content-type").unwrap().to_str().unwrap().to_owned();
        assert!(got.starts_with(content_type), "{path}: {got}");
        let body = resp.bytes().await.unwrap();
        if path.ends_with(".wasm") {
            assert_eq!(body.get(..4), Some(&b"\0asm"[..]));
        }
    }

    let r = registry(&s).await;
    register_shs(&s, &r, "SHS-D1").await;
    let (code, found) = s.get("/v1/devices?query=shs-d").await;
    assert_eq!(code, 200);
    assert_eq!(found["items"][0]["serial"], "SHSD1");
    let (code, all) = s.get("/v1/devices?query=%20").await;
    assert_eq!((code, all["items"].as_array().map(Vec::len)), (200, Some(1)));
    let (code, refused) = s.get("/v1/devices?query=%25").await;
    assert_eq!((code, refused["code"].as_str()), (400, Some("invalid_serial")), "{refused}");
    let (code, account) = s.get("/v1/devices/shs-d1/snapshot").await;
    assert_eq!(code, 200, "{account}");
    let today = account["today"].as_str().unwrap().to_owned();
    let preview = micropower_core::json::call(
        "allocate_payment",
        &json!({"snapshot": account["snapshot"],
                "payment": {"serial": "SHSD1", "amount": "800", "currency": "TZS", "received_on": today}}),
    )
    .unwrap();
    let body =
        json!({"provider": "test", "provider_tx_id": "d1", "serial": "SHSD1", "amount": "800", "currency": "TZS"});
    let paid = s.ok("/v1/payments", body, 201).await;
    let kinds = |lines: &Value| {
        lines.as_array().unwrap().iter().map(|l| (l["kind"].clone(), l["amount"].clone())).collect::<Vec<_>>()
    };
    assert_eq!(kinds(&paid["allocations"]), kinds(&preview["lines"]));
    assert_eq!(paid["tokens"][0]["quantity"], preview["token"]["quantity"]);
    let (code, _) = s.send(Method::GET, "/v1/devices/SHSD1/snapshot", None, None).await;
    assert_eq!(code, 401, "the snapshot needs a key");
}

/// The page links its icon, and `/favicon.ico` (which browsers ask for on their own) is an icon too, not a
/// 404 in the console of every dashboard user.
#[cfg(feature = "dashboard")]
#[tokio::test]
async fn dashboard_icon() {
    let s = TestServer::start(Db::Sqlite, EngineKind::Native).await.unwrap();
    let client = reqwest::Client::new();
    let page = client.get(format!("{}/", s.base)).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(r#"<link rel="icon" href="/favicon.svg""#), "{page}");
    for (path, content_type, magic) in
        [("/favicon.ico", "image/x-icon", &b"\0\0\x01\0"[..]), ("/favicon.svg", "image/svg+xml", &b"<svg"[..])]
    {
        let resp = client.get(format!("{}{path}", s.base)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        assert_eq!(resp.headers().get("content-type").unwrap().to_str().unwrap(), content_type, "{path}");
        let body = resp.bytes().await.unwrap();
        assert!(body.starts_with(magic), "{path}: {:?}", body.get(..8));
    }
}

/// The four module paths `app.js` imports, content-hashed by the build: `/pkg/<name>.<16 hex>.<js|wasm>`.
#[cfg(feature = "dashboard")]
async fn module_paths(client: &reqwest::Client, base: &str) -> Vec<String> {
    let app = client.get(format!("{base}/app.js")).send().await.unwrap().text().await.unwrap();
    let paths: Vec<String> = app.split('"').filter(|part| part.starts_with("/pkg/")).map(str::to_owned).collect();
    assert_eq!(paths.len(), 4, "{paths:?}");
    for stem in ["micropower.", "micropower_bg.", "full.", "full_bg."] {
        let path = paths.iter().find(|p| p.starts_with(&format!("/pkg/{stem}"))).unwrap();
        let hash = path.trim_start_matches(&format!("/pkg/{stem}")).split('.').next().unwrap();
        assert!(hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()), "{path}");
    }
    paths
}

/// The dashboard's files come compressed from the build (brotli or gzip, as the browser accepts), the
/// content-hashed modules are `immutable`, the rest revalidate with their ETag (`304`), and the security
/// headers are the same on every answer, `304`s included.
#[cfg(feature = "dashboard")]
async fn dashboard_caching(s: TestServer) {
    use std::io::Read;

    let client = reqwest::Client::new();
    let get = |path: &str, headers: &[(&'static str, &str)]| {
        let mut request = client.get(format!("{}{path}", s.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request.send()
    };
    let header = |resp: &reqwest::Response, name: &str| {
        resp.headers().get(name).map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default()
    };
    let csp = {
        let page = get("/", &[]).await.unwrap();
        header(&page, "content-security-policy")
    };
    assert!(csp.contains("script-src 'self' 'wasm-unsafe-eval'"), "{csp}");

    let modules = module_paths(&client, &s.base).await;
    for path in
        ["/", "/app.js", "/app.css", "/vendor/chart.umd.min.js"].into_iter().chain(modules.iter().map(String::as_str))
    {
        let immutable = path.starts_with("/pkg/");
        let plain = get(path, &[]).await.unwrap();
        assert_eq!(plain.status().as_u16(), 200, "{path}");
        let etag = header(&plain, "etag");
        assert!(etag.starts_with("W/\""), "{path}: {etag}");
        let cache = header(&plain, "cache-control");
        if immutable {
            assert_eq!(cache, "public, max-age=31536000, immutable", "{path}");
        } else {
            assert_eq!(cache, "no-cache", "{path}");
        }
        assert_eq!(header(&plain, "content-encoding"), "", "{path}: identity without Accept-Encoding");
        assert_eq!(header(&plain, "vary"), "accept-encoding", "{path}");
        assert_eq!(header(&plain, "referrer-policy"), "no-referrer", "{path}");
        assert!(csp.contains("frame-ancestors 'none'") && !csp.contains("'unsafe-inline'"), "{csp}");
        let identity = plain.bytes().await.unwrap();

        let zipped = get(path, &[("accept-encoding", "gzip, deflate")]).await.unwrap();
        assert_eq!(header(&zipped, "content-encoding"), "gzip", "{path}");
        let zipped = zipped.bytes().await.unwrap();
        assert!(zipped.len() < identity.len(), "{path}");
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(&zipped[..]).read_to_end(&mut unzipped).unwrap();
        assert!(unzipped[..] == identity[..], "{path}: gzip is the file");

        let packed = get(path, &[("accept-encoding", "gzip, deflate, br")]).await.unwrap();
        assert_eq!(header(&packed, "content-encoding"), "br", "{path}");
        let packed = packed.bytes().await.unwrap();
        let mut unpacked = Vec::new();
        brotli::BrotliDecompress(&mut &packed[..], &mut unpacked).unwrap();
        assert!(unpacked[..] == identity[..], "{path}: brotli is the file");
        if path.ends_with(".wasm") {
            assert!(packed.len() < zipped.len(), "{path}: brotli {} gzip {}", packed.len(), zipped.len());
        }

        // Revalidation: the same ETag (in any coding) is a 304 with the same caching and security headers.
        for accept in ["", "gzip", "br"] {
            let again = get(path, &[("if-none-match", etag.as_str()), ("accept-encoding", accept)]).await.unwrap();
            assert_eq!(again.status().as_u16(), 304, "{path} {accept}");
            assert_eq!(header(&again, "etag"), etag, "{path}");
            assert_eq!(header(&again, "cache-control"), cache, "{path}");
            assert_eq!(header(&again, "content-security-policy"), csp, "{path}");
            assert_eq!(header(&again, "x-content-type-options"), "nosniff", "{path}");
            assert_eq!(header(&again, "referrer-policy"), "no-referrer", "{path}");
            assert!(again.bytes().await.unwrap().is_empty(), "{path}: a 304 has no body");
        }
        let listed = format!("\"other\", {etag}");
        assert_eq!(get(path, &[("if-none-match", listed.as_str())]).await.unwrap().status().as_u16(), 304, "{path}");
        let changed = get(path, &[("if-none-match", "W/\"0000\"")]).await.unwrap();
        assert_eq!(changed.status().as_u16(), 200, "{path}: another version is sent again");
        assert_eq!(header(&changed, "content-security-policy"), csp, "{path}");
    }
    // Only hashed names are served for the modules: an old page cannot load a new module under an old name.
    let unhashed = get("/pkg/micropower_bg.wasm", &[]).await.unwrap();
    assert_eq!(unhashed.status().as_u16(), 404);
}
