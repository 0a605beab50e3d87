//! Issue 16, "the operator's day", over a real socket on SQLite and on PostgreSQL: the appliance catalog and
//! sales that start from it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[macro_use]
mod common;

use common::*;
use micropower_server::config::EngineKind;
use reqwest::Method;
use serde_json::{json, Value};

on_both_databases!(
    appliance_types_are_created_listed_and_edited,
    appliance_types_are_checked,
    sales_start_from_a_type,
    payments_record_the_key_that_made_them,
);

async fn patch(s: &TestServer, path: &str, body: Value) -> (u16, Value) {
    s.send(Method::PATCH, path, Some(body), Some(&s.key)).await
}

fn shs_type() -> Value {
    json!({"name": "SHS 80W", "kind": "solar_home_system", "price": "2100", "currency": "TZS",
           "default_terms": {"down_payment": "300", "installments": 3, "period": "weekly"}})
}

fn fridge_type() -> Value {
    json!({"name": "Fridge", "kind": "other", "price": "90000.00", "currency": "TZS",
           "default_terms": {"eaas": {"price_per_day": "500", "minimum_payable": "1000"}}})
}

async fn appliance_types_are_created_listed_and_edited(s: TestServer) {
    let shs = s.ok("/v1/appliance-types", shs_type(), 201).await;
    assert_eq!(
        (&shs["name"], &shs["kind"], &shs["price"], &shs["currency"]),
        (&json!("SHS 80W"), &json!("solar_home_system"), &json!("2100"), &json!("TZS"))
    );
    assert_eq!(shs["default_terms"], json!({"down_payment": "300", "installments": 3, "period": "weekly"}));
    let fridge = s.ok("/v1/appliance-types", fridge_type(), 201).await;
    assert_eq!(fridge["price"], "90000", "money is the canonical decimal string");
    assert_eq!(fridge["default_terms"], json!({"eaas": {"price_per_day": "500", "minimum_payable": "1000"}}));
    let bike = s
        .ok(
            "/v1/appliance-types",
            json!({"name": "E-bike", "kind": "e_bike", "price": "1500000", "currency": "TZS",
                   "default_terms": {"installments": 12, "period": "monthly"}}),
            201,
        )
        .await;
    assert_eq!(bike["default_terms"]["down_payment"], "0", "no down payment unless given");

    // By name, paged like every list.
    let (code, first) = s.get("/v1/appliance-types?limit=2").await;
    assert_eq!(code, 200, "{first}");
    assert_eq!(first["items"], json!([bike, fridge]));
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = s.get(&format!("/v1/appliance-types?limit=2&cursor={cursor}")).await;
    assert_eq!((&second["items"], &second["next_cursor"]), (&json!([shs]), &Value::Null));
    let (code, body) = s.get("/v1/appliance-types?limit=0").await;
    assert_eq!((code, &body["field"]), (422, &json!("limit")));

    let id = shs["id"].as_str().unwrap();
    assert_eq!(s.get(&format!("/v1/appliance-types/{id}")).await, (200, shs.clone()));
    let (code, missing) = s.get("/v1/appliance-types/nope").await;
    assert_eq!((code, &missing["code"]), (404, &json!("not_found")));

    // An edit replaces the fields it gives and keeps the others.
    let (code, edited) =
        patch(&s, &format!("/v1/appliance-types/{id}"), json!({"price": "2400", "name": " SHS 100W "})).await;
    assert_eq!(code, 200, "{edited}");
    assert_eq!((&edited["name"], &edited["price"]), (&json!("SHS 100W"), &json!("2400")));
    assert_eq!(edited["default_terms"], shs["default_terms"]);
    assert_eq!(s.get(&format!("/v1/appliance-types/{id}")).await.1, edited);
    let (code, edited) =
        patch(&s, &format!("/v1/appliance-types/{id}"), json!({"default_terms": {"eaas": {"price_per_day": "100"}}}))
            .await;
    assert_eq!(code, 200, "{edited}");
    assert_eq!(edited["default_terms"], json!({"eaas": {"price_per_day": "100", "minimum_payable": "0"}}));
    let (code, _) = patch(&s, "/v1/appliance-types/nope", json!({"price": "1"})).await;
    assert_eq!(code, 404);
}

/// Every refusal is a 422 `invalid_input` naming the catalog's field, on creation and on edits, and nothing
/// is stored.
async fn appliance_types_are_checked(s: TestServer) {
    let with = |path: &str, value: Value| {
        let mut body = shs_type();
        let (head, tail) = path.split_once('.').map_or((path, None), |(h, t)| (h, Some(t)));
        match tail {
            None => body[head] = value,
            Some(inner) => body[head][inner] = value,
        }
        body
    };
    let cases = [
        (with("name", json!("  ")), "name"),
        (with("kind", json!("fridge")), "kind"),
        (with("price", json!("-1")), "price"),
        (with("price", json!(2100.5)), "price"),
        (with("price", json!("100.5")), "price"),
        (with("currency", json!("XYZ")), "currency"),
        (with("default_terms.down_payment", json!("2200")), "default_terms.down_payment"),
        (with("default_terms.installments", json!(0)), "default_terms.installments"),
        (with("default_terms.period", json!("yearly")), "default_terms.period"),
        (with("default_terms.colour", json!("red")), "default_terms.colour"),
        (with("default_terms", json!({"eaas": {"price_per_day": "0"}})), "default_terms.eaas.price_per_day"),
        (
            with("default_terms", json!({"eaas": {"price_per_day": "1", "minimum_payable": "-5"}})),
            "default_terms.eaas.minimum_payable",
        ),
        (with("default_terms", json!({"eaas": {"price_per_day": "1"}, "installments": 2})), "default_terms"),
        (with("colour", json!("red")), "colour"),
    ];
    for (body, field) in &cases {
        let (code, answer) = s.post("/v1/appliance-types", body.clone()).await;
        assert_eq!((code, answer["field"].as_str()), (422, Some(*field)), "{body}: {answer}");
        // The core's own code where it refuses an amount by its currency's decimals.
        let expected = if body["price"] == "100.5" { "invalid_amount" } else { "invalid_input" };
        assert_eq!(answer["code"], expected, "{body}: {answer}");
    }
    let (_, list) = s.get("/v1/appliance-types").await;
    assert_eq!(list["items"], json!([]), "nothing refused was stored");

    let created = s.ok("/v1/appliance-types", shs_type(), 201).await;
    let path = format!("/v1/appliance-types/{}", created["id"].as_str().unwrap());
    for (body, field) in [
        (json!({"price": "200"}), "default_terms.down_payment"),
        (json!({"name": ""}), "name"),
        (json!({"default_terms": {"installments": 3}}), "default_terms"),
        (json!({"id": "x"}), "id"),
    ] {
        let (code, answer) = patch(&s, &path, body.clone()).await;
        assert_eq!((code, answer["field"].as_str()), (422, Some(field)), "{body}: {answer}");
    }
    assert_eq!(s.get(&path).await.1, created, "refused edits change nothing");
}

async fn sales_start_from_a_type(s: TestServer) {
    let r = registry(&s).await;
    let shs = s.ok("/v1/appliance-types", shs_type(), 201).await;
    let fridge = s.ok("/v1/appliance-types", fridge_type(), 201).await;
    let today = s.state.today();
    let in_weeks = |n: u64| (today + chrono::Days::new(7 * n)).to_string();

    // A registration names the type only: the plan is the type's, starting on the registration day.
    let reg = s
        .ok(
            "/v1/registrations",
            json!({
                "customer": new_customer(&r.village),
                "device": {"serial": "SHS-CAT", "kind": "solar_home_system", "manufacturer_id": r.shs_maker,
                           "openpaygo": {"secret_key": KEY, "starting_code": 123456789, "count": 0}},
                "plan": {"appliance_type_id": shs["id"]},
            }),
            201,
        )
        .await;
    let plan = &reg["plan"];
    assert_eq!((&plan["appliance"], &plan["appliance_type_id"]), (&json!("SHS 80W"), &shs["id"]));
    assert_eq!(
        (&plan["currency"], &plan["period"], &plan["total_cost"]),
        (&json!("TZS"), &json!("weekly"), &json!("2100"))
    );
    let amounts: Vec<(&Value, &Value)> =
        plan["installments"].as_array().unwrap().iter().map(|i| (&i["amount"], &i["due_date"])).collect();
    assert_eq!(amounts.len(), 4, "the down payment and 3 installments: {plan}");
    assert_eq!(amounts[1], (&json!("600"), &json!(in_weeks(1))));
    assert_eq!(amounts[3], (&json!("600"), &json!(in_weeks(3))));
    assert_eq!(reg["down_payment"]["amount"], "300", "the type's down payment, paid at the sale: {reg}");
    let plan_id = plan["id"].as_str().unwrap();
    let (_, shown) = s.get(&format!("/v1/plans/{plan_id}")).await;
    assert_eq!(shown["appliance_type_id"], shs["id"], "the plan keeps its type");

    // A sale overrides any term; the others still come from the type.
    let customer = reg["customer"]["id"].as_str().unwrap();
    let sold = s
        .ok(
            &format!("/v1/customers/{customer}/plans"),
            json!({"appliance_type_id": shs["id"], "installments": 2, "down_payment": "0", "appliance": "SHS 80W (demo)",
                   "start_date": "2026-01-01", "down_payment_paid": false}),
            201,
        )
        .await;
    assert_eq!((&sold["appliance"], &sold["total_cost"]), (&json!("SHS 80W (demo)"), &json!("2100")));
    let due: Vec<&Value> = sold["installments"].as_array().unwrap().iter().map(|i| &i["due_date"]).collect();
    assert_eq!(due, [&json!("2026-01-08"), &json!("2026-01-15")]);
    assert_eq!(sold["down_payment"], Value::Null);

    // An EaaS type makes an EaaS plan; a price per day given by the sale wins.
    let eaas = s
        .ok(
            &format!("/v1/customers/{customer}/plans"),
            json!({"appliance_type_id": fridge["id"], "eaas": {"price_per_day": "450"}}),
            201,
        )
        .await;
    assert_eq!(
        (&eaas["kind"], &eaas["price_per_day"], &eaas["minimum_payable"], &eaas["appliance_type_id"]),
        (&json!("eaas"), &json!("450"), &json!("1000"), &fridge["id"])
    );
    // A plan sold with its terms typed in has no type.
    let plain = s
        .ok(
            &format!("/v1/customers/{customer}/plans"),
            json!({"appliance": "TV", "currency": "TZS", "total_cost": "1000", "installments": 1, "period": "weekly",
                   "start_date": "2026-01-01"}),
            201,
        )
        .await;
    assert_eq!(plain["appliance_type_id"], Value::Null);
    // An edit of the type changes no plan sold from it.
    let (code, _) =
        patch(&s, &format!("/v1/appliance-types/{}", shs["id"].as_str().unwrap()), json!({"price": "9000"})).await;
    assert_eq!(code, 200);
    assert_eq!(s.get(&format!("/v1/plans/{plan_id}")).await.1["total_cost"], "2100");

    // An unknown type is refused with its field, and nothing is sold.
    let (code, refused) =
        s.post(&format!("/v1/customers/{customer}/plans"), json!({"appliance_type_id": "nope"})).await;
    assert_eq!(
        (code, &refused["code"], &refused["field"]),
        (422, &json!("not_found"), &json!("appliance_type_id")),
        "{refused}"
    );
    let (code, refused) = s
        .post(
            "/v1/registrations",
            json!({
                "customer": new_customer(&r.village),
                "device": {"serial": "SHS-CAT-2", "kind": "solar_home_system", "manufacturer_id": r.shs_maker,
                           "openpaygo": {"secret_key": KEY, "starting_code": 123456789, "count": 0}},
                "plan": {"appliance_type_id": 7},
            }),
        )
        .await;
    assert_eq!((code, &refused["field"]), (422, &json!("plan.appliance_type_id")), "{refused}");
    let (code, _) = s.get("/v1/devices/SHS-CAT-2").await;
    assert_eq!(code, 404, "the refused registration stored nothing");
}

/// A new key of `role` labelled `label`: (key, id).
async fn new_key(s: &TestServer, role: &str, label: &str) -> (String, String) {
    let created = s.ok("/v1/api-keys", json!({"role": role, "label": label}), 201).await;
    let (key, id) = (created["key"].as_str().unwrap().to_owned(), created["id"].as_str().unwrap().to_owned());
    // Known issue, not this test's subject: on SQLite, the write of a key's first use (off the request's path)
    // can meet a payment's writer and fail it with "database is locked" (500). Wait for that write first.
    s.send(Method::GET, "/v1/clusters", None, Some(&key)).await;
    for _ in 0..100 {
        let (_, keys) = s.get("/v1/api-keys?limit=500").await;
        if keys["items"].as_array().unwrap().iter().any(|k| k["id"] == id.as_str() && k["last_used_at"].is_string()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    (key, id)
}

async fn recorded_by(s: &TestServer, payment_id: &Value) -> Value {
    let (code, detail) = s.get(&format!("/v1/payments/{}", payment_id.as_str().unwrap())).await;
    assert_eq!(code, 200, "{detail}");
    detail["recorded_by"].clone()
}

/// Every money-moving write names its API key: a payment (cash taken at the office, its receipt number as
/// the transaction id), a sale's down payment, an unmatched payment's assignment. A revoked key keeps its
/// label on what it recorded.
async fn payments_record_the_key_that_made_them(s: TestServer) {
    let r = registry(&s).await;
    let (till, till_id) = new_key(&s, "operator", "Office till").await;
    let (clerk, clerk_id) = new_key(&s, "operator", "Clerk").await;
    let shs = s.ok("/v1/appliance-types", shs_type(), 201).await;
    let registration = json!({
        "customer": new_customer(&r.village),
        "device": {"serial": "SHS-KEY", "kind": "solar_home_system", "manufacturer_id": r.shs_maker,
                   "openpaygo": {"secret_key": KEY, "starting_code": 123456789, "count": 0}},
        "plan": {"appliance_type_id": shs["id"]},
    });
    let (code, reg) = s.send(Method::POST, "/v1/registrations", Some(registration), Some(&clerk)).await;
    assert_eq!(code, 201, "{reg}");
    assert_eq!(
        recorded_by(&s, &reg["down_payment"]["payment_id"]).await,
        json!({"key_id": clerk_id, "label": "Clerk"}),
        "the down payment is the clerk's"
    );

    let cash = json!({"provider": "cash", "provider_tx_id": "RCPT-0001", "serial": "SHS-KEY", "amount": "600",
                      "currency": "TZS"});
    let (code, paid) = s.send(Method::POST, "/v1/payments", Some(cash.clone()), Some(&till)).await;
    assert_eq!(code, 201, "{paid}");
    assert_eq!(recorded_by(&s, &paid["payment_id"]).await, json!({"key_id": till_id, "label": "Office till"}));
    // A repeat by another key is the same payment, still the till's.
    let (code, again) = s.send(Method::POST, "/v1/payments", Some(cash), Some(&clerk)).await;
    assert_eq!((code, &again["payment_id"]), (200, &paid["payment_id"]));
    assert_eq!(recorded_by(&s, &paid["payment_id"]).await["key_id"], till_id.as_str());
    // The key cannot be forged in the body.
    let forged = json!({"provider": "cash", "provider_tx_id": "RCPT-0002", "serial": "SHS-KEY", "amount": "600",
                        "currency": "TZS", "recorded_by": "someone"});
    let (code, _) = s.send(Method::POST, "/v1/payments", Some(forged), Some(&till)).await;
    assert_eq!(code, 400);

    // Unmatched money is recorded by the key that assigns it.
    let mut lost = payment("lost-1", "SHS-TYPO", "600", "2026-01-02T08:00:00Z");
    lost["money_moved"] = json!(true);
    s.ok("/v1/payments", lost, 202).await;
    let (_, queue) = s.get("/v1/payments/unmatched").await;
    let id = queue["items"][0]["id"].as_str().unwrap();
    let (code, assigned) = s
        .send(
            Method::POST,
            &format!("/v1/payments/unmatched/{id}/assign"),
            Some(json!({"serial": "SHS-KEY"})),
            Some(&till),
        )
        .await;
    assert_eq!(code, 201, "{assigned}");
    assert_eq!(recorded_by(&s, &assigned["payment_id"]).await["key_id"], till_id.as_str());

    // Revoked, the key still names what it recorded.
    let (code, _) = s.send(Method::DELETE, &format!("/v1/api-keys/{till_id}"), None, Some(&s.key)).await;
    assert!((200..300).contains(&code), "{code}");
    assert_eq!(recorded_by(&s, &paid["payment_id"]).await["label"], "Office till");
}
