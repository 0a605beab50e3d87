//! Issue 14, "money that vanishes": money a customer paid reaches the customer, on SQLite and on PostgreSQL.
//! A down payment is a payment; a plan sold without a device is paid by its id; a payment's day is the
//! operator's (`MICROPOWER_TIMEZONE`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[macro_use]
mod common;

use common::*;
use micropower_server::config::{EngineKind, Tz};
use serde_json::{json, Value};

on_both_databases!(down_payments_are_payments, plans_are_paid_by_id);

/// `(kind, amount, plan_id, installment)` of every allocation line of an answer.
fn lines(answer: &Value) -> Vec<(String, String, Value, Value)> {
    answer["allocations"]
        .as_array()
        .unwrap_or_else(|| panic!("no allocations: {answer}"))
        .iter()
        .map(|l| {
            (
                l["kind"].as_str().unwrap().to_owned(),
                l["amount"].as_str().unwrap().to_owned(),
                l.get("plan_id").cloned().unwrap_or(Value::Null),
                l.get("installment").cloned().unwrap_or(Value::Null),
            )
        })
        .collect()
}

fn line(kind: &str, amount: &str, plan: &str, installment: u64) -> (String, String, Value, Value) {
    (kind.to_owned(), amount.to_owned(), json!(plan), json!(installment))
}

/// The export's records of one type.
async fn exported(s: &TestServer, kind: &str) -> Vec<Value> {
    let resp = s.client.get(format!("{}/v1/export", s.base)).bearer_auth(&s.key).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let text = resp.text().await.unwrap();
    text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()).filter(|r| r["type"] == kind).collect()
}

fn plan_payment(tx: &str, plan_id: &str, amount: &str, at: &str) -> Value {
    json!({"provider": "test", "provider_tx_id": tx, "plan_id": plan_id, "amount": amount, "currency": "TZS",
           "received_at": at})
}

/// domain.md §5: a TV sold to a customer who owns only an SHS is paid by its plan id — validated, applied
/// once, refused like a serial payment when the plan is unknown, counted in revenue and exported; a plan sold
/// with a device, paid by its id, is paid as that device (the token goes to it).
async fn plans_are_paid_by_id(s: TestServer) {
    let r = registry(&s).await;
    let reg = register_shs(&s, &r, "SHS-TV").await;
    let customer = reg["customer"]["id"].as_str().unwrap().to_owned();
    let tv = s
        .ok(
            &format!("/v1/customers/{customer}/plans"),
            json!({"appliance": "TV", "currency": "TZS", "total_cost": "1000", "down_payment": "0", "installments": 3,
                   "period": "weekly", "start_date": "2026-01-01"}),
            201,
        )
        .await;
    let tv_id = tv["id"].as_str().unwrap().to_owned();

    let (code, ok) =
        s.post("/v1/payments/validate", json!({"plan_id": tv_id, "amount": "700", "currency": "TZS"})).await;
    assert_eq!(code, 200, "{ok}");
    assert_eq!(ok["accepted"], true);
    assert!(ok["customer_name"].as_str().unwrap().starts_with("Amina Juma"), "{ok}");
    assert_eq!(lines(&json!({"allocations": ok["preview"]["allocations"]})).len(), 3, "{ok}");

    let body = plan_payment("tv-1", &tv_id, "700", "2026-01-02T08:00:00Z");
    let paid = s.ok("/v1/payments", body.clone(), 201).await;
    assert_eq!(
        lines(&paid),
        vec![
            line("installment", "333", &tv_id, 1),
            line("installment", "333", &tv_id, 2),
            line("installment", "34", &tv_id, 3)
        ]
    );
    assert_eq!((&paid["serial"], &paid["plan_id"], &paid["status"]), (&Value::Null, &json!(tv_id), &json!("credited")));
    assert_eq!(paid["tokens"], json!([]));
    let (code, again) = s.post("/v1/payments", body).await;
    assert_eq!((code, &again), (200, &paid), "the same delivery again: the stored answer, no second credit");

    let rest = s.ok("/v1/payments", plan_payment("tv-2", &tv_id, "500", "2026-01-09T08:00:00Z"), 201).await;
    assert_eq!(
        lines(&rest),
        vec![line("installment", "300", &tv_id, 3), ("credit".into(), "200".into(), Value::Null, Value::Null)]
    );
    assert_eq!(rest["credit_balance"], "200");
    let (_, plan) = s.get(&format!("/v1/plans/{tv_id}")).await;
    assert_eq!((&plan["paid"], &plan["outstanding"]), (&json!("1000"), &json!("0")));
    let (_, owner) = s.get(&format!("/v1/customers/{customer}")).await;
    assert_eq!(owner["credit_balance"], json!({"TZS": "200"}));
    let id = paid["payment_id"].as_str().unwrap();
    let (code, shown) = s.get(&format!("/v1/payments/{id}")).await;
    assert_eq!((code, &shown["allocations"]), (200, &paid["allocations"]));

    // The refusals of a serial payment, for a plan: kept in the refused log.
    let (code, unknown) =
        s.post("/v1/payments", plan_payment("tv-3", "no-such-plan", "500", "2026-01-09T08:00:00Z")).await;
    assert_eq!((code, unknown["code"].as_str(), unknown["field"].as_str()), (422, Some("not_found"), Some("plan_id")));
    let mut kes = plan_payment("tv-4", &tv_id, "500", "2026-01-09T08:00:00Z");
    kes["currency"] = json!("KES");
    let (code, mismatch) = s.post("/v1/payments", kes).await;
    assert_eq!((code, mismatch["code"].as_str()), (422, Some("currency_mismatch")));
    let (_, log) = s.get("/v1/payments/refused").await;
    let refused: Vec<(Value, Value, Value)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["code"].clone(), r["plan_id"].clone(), r["serial"].clone()))
        .collect();
    assert!(refused.contains(&(json!("not_found"), json!("no-such-plan"), Value::Null)), "{log}");
    assert!(refused.contains(&(json!("currency_mismatch"), json!(tv_id), Value::Null)), "{log}");
    let (code, unknown) =
        s.post("/v1/payments/validate", json!({"plan_id": "no-such-plan", "amount": "700", "currency": "TZS"})).await;
    assert_eq!((code, unknown["code"].as_str(), &unknown["accepted"]), (422, Some("not_found"), &json!(false)));

    // Exactly one of serial and plan_id.
    let mut both = plan_payment("tv-5", &tv_id, "500", "2026-01-09T08:00:00Z");
    both["serial"] = json!("SHS-TV");
    let (code, refused) = s.post("/v1/payments", both).await;
    assert_eq!(
        (code, refused["code"].as_str(), refused["field"].as_str()),
        (422, Some("invalid_input"), Some("plan_id"))
    );
    let (code, refused) = s
        .post("/v1/payments", json!({"provider": "test", "provider_tx_id": "tv-6", "amount": "500", "currency": "TZS"}))
        .await;
    assert_eq!(
        (code, refused["code"].as_str(), refused["field"].as_str()),
        (422, Some("invalid_input"), Some("serial"))
    );
    let (code, refused) = s.post("/v1/payments/validate", json!({"amount": "500", "currency": "TZS"})).await;
    assert_eq!((code, refused["field"].as_str()), (422, Some("serial")));

    // The SHS's own plan paid by its id: a device payment, with the device's token.
    let shs_plan = reg["plan"]["id"].as_str().unwrap();
    let shs = s.ok("/v1/payments", plan_payment("shs-1", shs_plan, "800", "2026-01-02T08:00:00Z"), 201).await;
    assert_eq!((&shs["serial"], &shs["plan_id"]), (&json!("SHSTV"), &json!(shs_plan)));
    assert_eq!(shs["tokens"][0]["quantity"], "8", "{shs}");
    let (_, listed) = s.get("/v1/payments?serial=SHS-TV").await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);

    // Revenue counts what the plan payments paid for (not the 200 of credit), grouped without a device.
    let (code, revenue) = s.get("/v1/reports/revenue?from=2026-01-01&to=2026-01-31&group_by=month&by=kind").await;
    assert_eq!(code, 200, "{revenue}");
    assert_eq!(revenue["total"], "1800", "{revenue}");
    let groups: Vec<(Value, Value)> =
        revenue["rows"].as_array().unwrap().iter().map(|r| (r["group"].clone(), r["total"].clone())).collect();
    // A device kind is its own name: the group's name is null.
    let kind = |id: &str| json!({"id": id, "name": null});
    assert_eq!(groups, vec![(kind("appliance"), json!("1000")), (kind("solar_home_system"), json!("800"))]);
    let payments = exported(&s, "payment").await;
    let record = payments.iter().find(|p| p["payment_id"] == paid["payment_id"]).expect("the plan payment is exported");
    assert_eq!(
        (&record["serial"], &record["plan_id"], &record["device_kind"]),
        (&Value::Null, &json!(tv_id), &Value::Null)
    );
    assert_eq!(record["lines"].as_array().unwrap().len(), 3);
}

/// The day the server's clock is in (the tests run the server in UTC).
fn today() -> String {
    micropower_server::ids::now().date_naive().to_string()
}

/// domain.md §4.1 and §7: a down payment paid at the sale is a payment of its own — provider `cash` unless
/// the sale names another, keyed by the plan, with its journal line (installment 0), listed with the device's
/// payments, counted in revenue as the collection rate counts it, exported — in the sale's transaction.
async fn down_payments_are_payments(s: TestServer) {
    let r = registry(&s).await;
    let reg = s
        .ok(
            "/v1/registrations",
            json!({
                "customer": new_customer(&r.village),
                "device": {"serial": "SHS-DP", "kind": "solar_home_system", "manufacturer_id": r.shs_maker,
                           "openpaygo": {"secret_key": KEY, "starting_code": 123456789, "count": 0}},
                "plan": {"appliance": "SHS 80W", "currency": "TZS", "total_cost": "2700", "down_payment": "600",
                         "installments": 3, "period": "weekly", "start_date": "2026-01-01"},
                "registered_on": "2026-01-01"
            }),
            201,
        )
        .await;
    let plan_id = reg["plan"]["id"].as_str().unwrap().to_owned();
    let customer = reg["customer"]["id"].as_str().unwrap().to_owned();
    let down = &reg["down_payment"];
    assert_eq!(lines(down), vec![line("installment", "600", &plan_id, 0)], "{reg}");
    assert_eq!(
        (&down["serial"], &down["plan_id"], &down["status"]),
        (&json!("SHSDP"), &json!(plan_id), &json!("credited"))
    );
    assert_eq!((&reg["plan"]["paid"], &reg["plan"]["outstanding"]), (&json!("600"), &json!("2100")));
    let id = down["payment_id"].as_str().unwrap().to_owned();
    let (_, shown) = s.get(&format!("/v1/payments/{id}")).await;
    assert_eq!(
        (&shown["provider"], &shown["provider_tx_id"]),
        (&json!("cash"), &json!(format!("down_payment:{plan_id}")))
    );
    assert!(shown["received_at"].as_str().unwrap().starts_with("2026-01-01"), "the sale's day: {shown}");
    let (_, listed) = s.get("/v1/payments?serial=shs-dp").await;
    assert_eq!(listed["items"], json!([down.clone()]), "listed with the device's payments");
    // The device's next payment pays the first installment: the down payment is already in.
    let next = s.ok("/v1/payments", payment("dp-1", "SHS-DP", "700", "2026-01-02T08:00:00Z"), 201).await;
    assert_eq!(lines(&next), vec![line("installment", "700", &plan_id, 1)]);

    // A TV sold without a device, its down payment taken by an agent's mobile money.
    let tv = s
        .ok(
            &format!("/v1/customers/{customer}/plans"),
            json!({"appliance": "TV", "currency": "TZS", "total_cost": "1000", "down_payment": "250", "installments": 3,
                   "period": "weekly", "start_date": "2026-01-01", "down_payment_provider": "mpesa"}),
            201,
        )
        .await;
    let tv_id = tv["id"].as_str().unwrap().to_owned();
    assert_eq!(lines(&tv["down_payment"]), vec![line("installment", "250", &tv_id, 0)], "{tv}");
    assert_eq!((&tv["down_payment"]["serial"], &tv["paid"]), (&Value::Null, &json!("250")));
    let tv_payment = tv["down_payment"]["payment_id"].as_str().unwrap().to_owned();
    let (_, shown) = s.get(&format!("/v1/payments/{tv_payment}")).await;
    assert_eq!(
        (&shown["provider"], &shown["provider_tx_id"]),
        (&json!("mpesa"), &json!(format!("down_payment:{tv_id}")))
    );
    assert!(shown["received_at"].as_str().unwrap().starts_with(&today()), "sold today: {shown}");

    // Not paid at the sale, no down payment, or a plan of days: no payment.
    let unpaid = s
        .ok(
            &format!("/v1/customers/{customer}/plans"),
            json!({"appliance": "Fridge", "currency": "TZS", "total_cost": "900", "down_payment": "300", "installments": 2,
                   "period": "weekly", "start_date": "2026-01-01", "down_payment_paid": false}),
            201,
        )
        .await;
    assert_eq!((&unpaid["down_payment"], &unpaid["paid"]), (&Value::Null, &json!("0")), "{unpaid}");
    let none = register_shs(&s, &r, "SHS-ND").await;
    assert_eq!(none["down_payment"], Value::Null);
    let (code, bad) = s
        .post(
            &format!("/v1/customers/{customer}/plans"),
            json!({"appliance": "Radio", "currency": "TZS", "total_cost": "900", "down_payment": "300", "installments": 2,
                   "period": "weekly", "start_date": "2026-01-01", "down_payment_provider": ""}),
        )
        .await;
    assert_eq!((code, bad["field"].as_str()), (400, Some("down_payment_provider")));

    // Revenue and collection agree on the sale day; the export has the down payments with their lines.
    let (_, revenue) = s.get("/v1/reports/revenue?from=2026-01-01&to=2026-01-01&group_by=day").await;
    assert_eq!(revenue["total"], "600", "{revenue}");
    let (_, rate) = s.get("/v1/reports/collection?from=2026-01-01&to=2026-01-01").await;
    assert_eq!((&rate["due"], &rate["collected"]), (&json!("1150"), &json!("850")), "{rate}");
    let (_, revenue) = s.get(&format!("/v1/reports/revenue?from=2026-01-01&to={}&group_by=month", today())).await;
    assert_eq!(revenue["total"], "1550", "600 + 700 + 250: {revenue}");
    let payments = exported(&s, "payment").await;
    for (id, plan, amount) in [(&id, &plan_id, "600"), (&tv_payment, &tv_id, "250")] {
        let record = payments.iter().find(|p| p["payment_id"] == json!(id)).expect("the down payment is exported");
        assert_eq!(
            record["lines"],
            json!([{"kind": "installment", "amount": amount, "plan_id": plan, "installment": 0}])
        );
    }
    assert_eq!(payments.len(), 3);
}

mod payment_day_is_the_operators {
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        super::payment_day_is_the_operators(super::Db::Sqlite).await;
    }
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn postgres() {
        super::payment_day_is_the_operators(super::Db::Postgres).await;
    }
}

/// domain.md §7b: 21:30 UTC on 1 March is 00:30 on 2 March in Dar es Salaam. With
/// `MICROPOWER_TIMEZONE=Africa/Dar_es_Salaam` a meter payment received then is on 2 March, so the TV
/// installment due on 2 March is overdue and paid first, and revenue and the export date it 2 March; in UTC
/// it is on 1 March, nothing is due yet, and all of it buys energy. The instant decides, not the offset it is
/// written with. "Today" (the snapshot's day, a registration's default day) is the operator's too.
async fn payment_day_is_the_operators(db: Db) {
    let dar: Tz = "Africa/Dar_es_Salaam".parse().unwrap();
    for (zone, day, paid) in [
        (dar, "2026-03-02", vec![("installment", "400"), ("energy", "600")]),
        (Tz::UTC, "2026-03-01", vec![("energy", "1000")]),
    ] {
        let Some(s) = TestServer::start_in(db, EngineKind::Wasm, zone).await else { return };
        let r = registry(&s).await;
        for (serial, at) in [("MTR-Z1", "2026-03-01T21:30:00Z"), ("MTR-Z2", "2026-03-02T00:30:00+03:00")] {
            let reg =
                register_meter(&s, &r, serial, json!({"name": serial, "currency": "TZS", "price_per_kwh": "500"}))
                    .await;
            let customer = reg["customer"]["id"].as_str().unwrap();
            let tv = s
                .ok(
                    &format!("/v1/customers/{customer}/plans"),
                    json!({"appliance": "TV", "currency": "TZS", "total_cost": "800", "down_payment": "0",
                           "installments": 2, "period": "weekly", "start_date": "2026-02-23"}),
                    201,
                )
                .await;
            assert_eq!(tv["installments"][0]["due_date"], "2026-03-02");
            let answer = s.ok("/v1/payments", payment(serial, serial, "1000", at), 201).await;
            let got: Vec<(&str, &str)> = answer["allocations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| (l["kind"].as_str().unwrap(), l["amount"].as_str().unwrap()))
                .collect();
            assert_eq!(got, paid, "{zone}, received {at}: {answer}");
        }
        let (_, revenue) = s.get("/v1/reports/revenue?from=2026-02-01&to=2026-03-31&group_by=day").await;
        let days: Vec<&Value> = revenue["rows"].as_array().unwrap().iter().map(|row| &row["period_start"]).collect();
        assert_eq!(days, vec![&json!(day)], "{zone}: {revenue}");
        for record in exported(&s, "payment").await {
            assert_eq!(record["received_on"], day, "{zone}: {record}");
        }

        let tariff = s.ok("/v1/tariffs", json!({"name": "Z3", "currency": "TZS", "price_per_kwh": "500"}), 201).await;
        let before = micropower_server::ids::business_day(&micropower_server::ids::now(), zone);
        let (_, snapshot) = s.get("/v1/devices/MTR-Z1/snapshot").await;
        let reg = s
            .ok(
                "/v1/registrations",
                json!({"customer": new_customer(&r.village),
                       "device": {"serial": "MTR-Z3", "kind": "meter", "manufacturer_id": r.meter_maker,
                                  "tariff_id": tariff["id"]}}),
                201,
            )
            .await;
        let after = micropower_server::ids::business_day(&micropower_server::ids::now(), zone);
        for today in [&snapshot["today"], &reg["device"]["registered_on"]] {
            assert!(today == &json!(before) || today == &json!(after), "{zone}: today is {today}, not {before}");
        }
    }
}

/// A time zone the IANA database does not know stops the server at start, saying which setting is wrong.
#[test]
fn an_unknown_time_zone_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_micropower-server"))
        .env("MICROPOWER_TIMEZONE", "Africa/Dar es Salaam")
        .env("DATABASE_URL", format!("sqlite://{}/never.db", dir.path().display()))
        .env("MICROPOWER_LISTEN", "127.0.0.1:0")
        .env("MICROPOWER_DATA_DIR", dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("MICROPOWER_TIMEZONE: \"Africa/Dar es Salaam\" is not an IANA time zone name"), "{stderr}");
    assert!(!dir.path().join("never.db").exists(), "nothing was started");
}
