//! Issue 16, "Customer statement", over a real socket on SQLite and on PostgreSQL:
//! `GET /v1/customers/{id}/statement`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[macro_use]
mod common;

use common::*;
use micropower_server::config::EngineKind;
use reqwest::Method;
use serde_json::{json, Value};

on_both_databases!(
    a_statement_lists_payments_allocations_and_installments_with_running_balances,
    the_window_filters_lines_and_carries_the_opening_balance,
    a_statement_as_csv_and_as_a_printable_page,
    unknown_customers_and_bad_windows_are_refused,
    access_rate_fees_are_owed_from_the_day_they_fall_due
);

/// (status, content type, body) of `path` read with `key` and `accept`.
async fn read(s: &TestServer, path: &str, accept: &str) -> (u16, String, String) {
    let response =
        s.client.get(format!("{}{path}", s.base)).bearer_auth(&s.key).header("accept", accept).send().await.unwrap();
    let status = response.status().as_u16();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (status, content_type, response.text().await.unwrap())
}

/// A customer with an SHS on a monthly 3 × 700 TZS plan (from 2026-01-01) and a meter at 500 TZS/kWh, who
/// paid four times over January and February. Returns (customer id, plan id).
async fn customer_with_history(s: &TestServer, name: &str) -> (String, String) {
    let r = registry(s).await;
    let mut customer = new_customer(&r.village);
    customer["name"] = json!(name);
    let shs = s
        .ok(
            "/v1/registrations",
            json!({
                "customer": customer,
                "device": {"serial": "SHS-ST-1", "kind": "solar_home_system", "manufacturer_id": r.shs_maker,
                           "openpaygo": {"secret_key": KEY, "starting_code": 123456789, "count": 0}},
                "plan": {"appliance": "SHS 80W", "currency": "TZS", "total_cost": "2100", "down_payment": "0",
                         "installments": 3, "period": "monthly", "start_date": "2026-01-01"},
                "registered_on": "2026-01-01"
            }),
            201,
        )
        .await;
    let customer_id = shs["customer"]["id"].as_str().unwrap().to_owned();
    let plan_id = shs["plan"]["id"].as_str().unwrap().to_owned();
    let tariff = s.ok("/v1/tariffs", json!({"name": "Flat", "currency": "TZS", "price_per_kwh": "500"}), 201).await;
    s.ok(
        "/v1/registrations",
        json!({
            "customer": {"id": customer_id},
            "device": {"serial": "MTR-ST-1", "kind": "meter", "manufacturer_id": r.meter_maker, "tariff_id": tariff["id"]},
            "registered_on": "2026-01-01"
        }),
        201,
    )
    .await;
    s.ok("/v1/payments", payment("ST-1", "SHS-ST-1", "700", "2026-01-10T08:00:00Z"), 201).await;
    s.ok("/v1/payments", payment("ST-2", "MTR-ST-1", "1000", "2026-01-20T08:00:00Z"), 201).await;
    s.ok("/v1/payments", payment("ST-3", "SHS-ST-1", "1000", "2026-02-05T08:00:00Z"), 201).await;
    s.ok("/v1/payments", payment("ST-4", "MTR-ST-1", "500", "2026-02-20T08:00:00Z"), 201).await;
    s.ok("/v1/payments", payment("ST-5", "SHS-ST-1", "600", "2026-02-25T08:00:00Z"), 201).await;
    (customer_id, plan_id)
}

/// `(date, kind, paid_for, amount, owed_after, credit_after)` of each line.
fn summary(statement: &Value) -> Vec<(String, String, String, String, String, String)> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    statement["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                text(&l["date"]),
                text(&l["kind"]),
                text(&l["paid_for"]),
                text(&l["amount"]),
                text(&l["owed_after"]),
                text(&l["credit_after"]),
            )
        })
        .collect()
}

fn line(date: &str, kind: &str, paid_for: &str, amount: &str, owed: &str, credit: &str) -> Row {
    (date.into(), kind.into(), paid_for.into(), amount.into(), owed.into(), credit.into())
}

type Row = (String, String, String, String, String, String);

async fn a_statement_lists_payments_allocations_and_installments_with_running_balances(s: TestServer) {
    let (customer_id, plan_id) = customer_with_history(&s, "Amina").await;
    let (status, statement) = s.get(&format!("/v1/customers/{customer_id}/statement?to=2026-03-31")).await;
    assert_eq!(status, 200, "{statement}");
    assert_eq!(statement["customer"]["id"], customer_id.as_str());
    assert_eq!(statement["customer"]["name"], "Amina");
    assert!(statement["customer"]["phones"][0].as_str().unwrap().starts_with("+255"), "{statement}");
    assert_eq!(statement["from"], "2026-01-01", "from defaults to the customer's first record");
    assert_eq!(statement["to"], "2026-03-31");
    assert_eq!(statement["currency"], "TZS");
    assert_eq!(statement["opening"], json!({"owed": "0", "access_rate": "0", "credit": "0"}));
    assert_eq!(
        summary(&statement),
        vec![
            line("2026-01-01", "plan_sold", "", "2100", "2100", "0"),
            line("2026-01-10", "payment", "", "700", "2100", "0"),
            line("2026-01-10", "allocation", "installment", "700", "1400", "0"),
            line("2026-01-20", "payment", "", "1000", "1400", "0"),
            line("2026-01-20", "allocation", "energy", "1000", "1400", "0"),
            line("2026-02-01", "installment_due", "", "700", "1400", "0"),
            line("2026-02-05", "payment", "", "1000", "1400", "0"),
            line("2026-02-05", "allocation", "installment", "700", "700", "0"),
            line("2026-02-05", "allocation", "installment", "300", "400", "0"),
            line("2026-02-20", "payment", "", "500", "400", "0"),
            line("2026-02-20", "allocation", "energy", "500", "400", "0"),
            line("2026-02-25", "payment", "", "600", "400", "0"),
            line("2026-02-25", "allocation", "installment", "400", "0", "0"),
            line("2026-02-25", "allocation", "credit", "200", "0", "200"),
            line("2026-03-01", "installment_due", "", "700", "0", "200"),
        ]
    );
    assert_eq!(statement["closing"], json!({"owed": "0", "access_rate": "0", "credit": "200"}));
    let lines = statement["lines"].as_array().unwrap();
    // Every line has every field, null where it does not apply.
    assert!(lines.iter().all(|l| l.as_object().unwrap().len() == lines[0].as_object().unwrap().len()));
    assert_eq!(lines[0]["plan_id"], plan_id.as_str());
    assert_eq!(lines[0]["serial"], "SHSST1");
    assert_eq!((lines[1]["provider"].as_str(), lines[1]["provider_tx_id"].as_str()), (Some("test"), Some("ST-1")));
    assert_eq!(lines[2]["payment_id"], lines[1]["payment_id"], "an allocation names its payment");
    assert_eq!((lines[2]["plan_id"].as_str(), lines[2]["installment"].as_u64()), (Some(plan_id.as_str()), Some(1)));
    assert_eq!((lines[4]["serial"].as_str(), lines[4]["quantity"].as_str()), (Some("MTRST1"), Some("2")));
    assert_eq!(lines[4]["unit"], "kWh");
    let numbers: Vec<_> = [5, 7, 8, 12, 14].iter().map(|&i| lines[i]["installment"].as_u64()).collect();
    assert_eq!(numbers, [Some(1), Some(2), Some(3), Some(3), Some(2)], "due 1; paid 2, 3, the rest of 3; due 2");
    assert!(lines[1]["quantity"].is_null() && lines[1]["paid_for"].is_null());
    // The closing balance is the one the rest of the API shows.
    let (_, plan) = s.get(&format!("/v1/plans/{plan_id}")).await;
    assert_eq!(plan["outstanding"], "0", "{plan}");
}

async fn the_window_filters_lines_and_carries_the_opening_balance(s: TestServer) {
    let (customer_id, _) = customer_with_history(&s, "Amina").await;
    let path = format!("/v1/customers/{customer_id}/statement?from=2026-02-01&to=2026-02-20");
    let (status, statement) = s.get(&path).await;
    assert_eq!(status, 200, "{statement}");
    assert_eq!((statement["from"].as_str(), statement["to"].as_str()), (Some("2026-02-01"), Some("2026-02-20")));
    assert_eq!(statement["opening"], json!({"owed": "1400", "access_rate": "0", "credit": "0"}));
    assert_eq!(
        summary(&statement),
        vec![
            line("2026-02-01", "installment_due", "", "700", "1400", "0"),
            line("2026-02-05", "payment", "", "1000", "1400", "0"),
            line("2026-02-05", "allocation", "installment", "700", "700", "0"),
            line("2026-02-05", "allocation", "installment", "300", "400", "0"),
            line("2026-02-20", "payment", "", "500", "400", "0"),
            line("2026-02-20", "allocation", "energy", "500", "400", "0"),
        ]
    );
    assert_eq!(statement["closing"], json!({"owed": "400", "access_rate": "0", "credit": "0"}));
    // A window with nothing in it: opening and closing alike, no lines.
    let (status, quiet) = s.get(&format!("/v1/customers/{customer_id}/statement?from=2026-01-11&to=2026-01-19")).await;
    assert_eq!(status, 200, "{quiet}");
    assert_eq!(quiet["lines"], json!([]));
    assert_eq!(quiet["opening"], json!({"owed": "1400", "access_rate": "0", "credit": "0"}));
    assert_eq!(quiet["closing"], quiet["opening"]);
    // Only `from`: up to today.
    let (status, rest) = s.get(&format!("/v1/customers/{customer_id}/statement?from=2026-02-25")).await;
    assert_eq!(status, 200, "{rest}");
    assert_eq!(rest["lines"][0]["date"], "2026-02-25");
    assert_eq!(rest["opening"], json!({"owed": "400", "access_rate": "0", "credit": "0"}));
    assert_eq!(rest["closing"], json!({"owed": "0", "access_rate": "0", "credit": "200"}));
}

async fn a_statement_as_csv_and_as_a_printable_page(s: TestServer) {
    let (customer_id, _) = customer_with_history(&s, "<b>Zawadi</b> & Co").await;
    let path = format!("/v1/customers/{customer_id}/statement?from=2026-01-01&to=2026-01-31");
    let (status, content_type, csv) = read(&s, &path, "text/csv").await;
    assert_eq!(status, 200, "{csv}");
    assert_eq!(content_type, "text/csv; charset=utf-8");
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(
        rows[0],
        "date,kind,paid_for,payment_id,provider,provider_tx_id,serial,plan_id,installment,quantity,unit,amount,\
         owed_after,credit_after"
    );
    assert_eq!(rows.len(), 6, "a header and the five lines of January: {csv}");
    assert!(rows[1].starts_with("2026-01-01,plan_sold,,,,,SHSST1,"), "{csv}");
    assert!(rows[1].ends_with(",,,,2100,2100,0"), "{csv}");
    assert!(rows[2].starts_with("2026-01-10,payment,,") && rows[2].contains(",test,ST-1,SHSST1,"), "{csv}");
    assert!(rows[3].starts_with("2026-01-10,allocation,installment,") && rows[3].ends_with(",1,,,700,1400,0"));
    assert!(rows[5].starts_with("2026-01-20,allocation,energy,") && rows[5].ends_with(",2,kWh,1000,1400,0"));

    let (status, content_type, html) = read(&s, &path, "text/html").await;
    assert_eq!(status, 200, "{html}");
    assert_eq!(content_type, "text/html; charset=utf-8");
    let (_, statement) = s.get(&path).await;
    let surname = statement["customer"]["surname"].as_str().unwrap();
    assert!(html.contains(surname), "the customer's name: {html}");
    assert!(!html.contains("<b>Zawadi"), "{html}");
    assert!(html.contains(&format!("&lt;b&gt;Zawadi&lt;/b&gt; &amp; Co {surname}")), "{html}");
    assert!(html.contains("micropower"), "the operator's name");
    assert!(html.contains("2026-01-01 to 2026-01-31"), "{html}");
    assert!(html.contains("2100 TZS") && html.contains("paid installment 1 of plan"), "{html}");
    assert!(html.contains("paid energy: 2 kWh"), "{html}");
    let (status, _, _) = read(&s, &path, "application/json").await;
    assert_eq!(status, 200);
}

async fn unknown_customers_and_bad_windows_are_refused(s: TestServer) {
    let (status, body) = s.send(Method::GET, "/v1/customers/nobody/statement", None, Some(&s.key)).await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["code"], "not_found");
    let r = registry(&s).await;
    let customer = s.ok("/v1/customers", new_customer(&r.village), 201).await;
    let id = customer["id"].as_str().unwrap();
    let (status, body) = s.get(&format!("/v1/customers/{id}/statement?from=2026-03-01&to=2026-02-01")).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!((body["code"].as_str(), body["field"].as_str()), (Some("invalid_input"), Some("from")));
    let (status, body) = s.get(&format!("/v1/customers/{id}/statement?to=2026-02-30")).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("to")), "{body}");
    let (status, body) = s.get(&format!("/v1/customers/{id}/statement?currency=XYZ")).await;
    assert_eq!((status, body["field"].as_str()), (422, Some("currency")), "{body}");
    let (status, body) = s.get("/v1/customers/nobody/statement?from=2026-03-01&to=2026-02-01").await;
    assert_eq!((status, body["field"].as_str()), (422, Some("from")), "a bad window is refused before the lookup");
    // A customer without plans or payments: an empty statement, readable by a viewer as the customer is.
    let viewer = s.ok("/v1/api-keys", json!({"role": "viewer", "label": "auditor"}), 201).await;
    let path = format!("/v1/customers/{id}/statement?from=2026-01-01&to=2026-01-31");
    let (status, empty) = s.send(Method::GET, &path, None, viewer["key"].as_str()).await;
    assert_eq!(status, 200, "{empty}");
    assert_eq!(empty["lines"], json!([]));
    assert!(empty["currency"].is_null());
    assert_eq!(empty["closing"], json!({"owed": "0", "access_rate": "0", "credit": "0"}));
    let (status, _) = s.send(Method::GET, &path, None, None).await;
    assert_eq!(status, 401);
    let _ = EngineKind::Wasm;
}

/// A meter on a tariff with an access rate of 300 TZS every 30 days, registered on 2026-01-01: each fee is
/// owed from its day (2026-01-31, 2026-03-02), whether or not a payment has accrued it yet, and the
/// payment's access-rate line pays it down; the balance says how much of what is owed is fees.
async fn access_rate_fees_are_owed_from_the_day_they_fall_due(s: TestServer) {
    let r = registry(&s).await;
    let tariff = s
        .ok(
            "/v1/tariffs",
            json!({"name": "Village", "currency": "TZS", "price_per_kwh": "500",
                   "access_rate": {"amount": "300", "period_days": 30}}),
            201,
        )
        .await;
    let reg = s
        .ok(
            "/v1/registrations",
            json!({
                "customer": new_customer(&r.village),
                "device": {"serial": "MTR-AR-1", "kind": "meter", "manufacturer_id": r.meter_maker, "tariff_id": tariff["id"]},
                "registered_on": "2026-01-01"
            }),
            201,
        )
        .await;
    let id = reg["customer"]["id"].as_str().unwrap().to_owned();
    // A meter without any payment owes its fees too: the statement has a currency and the first fee.
    let (status, before) = s.get(&format!("/v1/customers/{id}/statement?to=2026-02-01")).await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["currency"], "TZS");
    assert_eq!(summary(&before), vec![line("2026-01-31", "access_rate_due", "", "300", "300", "0")]);
    assert_eq!(before["lines"][0]["serial"], "MTRAR1");
    assert_eq!(before["closing"], json!({"owed": "300", "access_rate": "300", "credit": "0"}));

    s.ok("/v1/payments", payment("AR-1", "MTR-AR-1", "1000", "2026-02-05T08:00:00Z"), 201).await;
    let (status, statement) = s.get(&format!("/v1/customers/{id}/statement?to=2026-03-15")).await;
    assert_eq!(status, 200, "{statement}");
    assert_eq!(
        summary(&statement),
        vec![
            line("2026-01-31", "access_rate_due", "", "300", "300", "0"),
            line("2026-02-05", "payment", "", "1000", "300", "0"),
            line("2026-02-05", "allocation", "access_rate", "300", "0", "0"),
            line("2026-02-05", "allocation", "energy", "700", "0", "0"),
            // Not accrued by any payment yet, owed all the same (as the debt report counts it).
            line("2026-03-02", "access_rate_due", "", "300", "300", "0"),
        ]
    );
    assert_eq!(statement["closing"], json!({"owed": "300", "access_rate": "300", "credit": "0"}));
    let (_, aging) = s.get("/v1/reports/debt?as_of=2026-03-15&currency=TZS").await;
    assert_eq!(aging["access_rate"]["amount"], statement["closing"]["access_rate"], "the debt report agrees");
    // A window after the first fee carries it in the opening balance.
    let (_, later) = s.get(&format!("/v1/customers/{id}/statement?from=2026-03-01&to=2026-03-15")).await;
    assert_eq!(later["opening"], json!({"owed": "0", "access_rate": "0", "credit": "0"}));
    assert_eq!(later["closing"]["access_rate"], "300");
    let (status, _, html) = read(&s, &format!("/v1/customers/{id}/statement?to=2026-03-15"), "text/html").await;
    assert_eq!(status, 200);
    assert!(html.contains("Access-rate fee of MTRAR1 due"), "{html}");
    assert!(html.contains("access-rate fees 300 TZS"), "{html}");
}
