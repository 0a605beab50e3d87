//! Issue 18, field agents (the server's half): an agent and its key, cash sales through the payment path with
//! their ledger lines, the risk ceiling (race-free), and what an agent's key may open; on SQLite and on
//! PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[macro_use]
mod common;

use common::*;
use micropower_server::config::EngineKind;
use serde_json::{json, Value};

on_both_databases!(
    an_agent_is_created_with_its_key,
    a_sale_is_a_payment_with_ledger_lines,
    a_sale_past_the_ceiling_is_refused,
    concurrent_sales_near_the_ceiling_pass_once,
    an_agent_key_opens_only_its_own_paths,
    a_handover_lowers_the_balance_only,
    energy_and_a_plan_paid_by_id_earn_their_rates,
);

/// The area of the registry's village.
async fn area(s: &TestServer, r: &Registry) -> String {
    let (status, village) = s.get(&format!("/v1/villages/{}", r.village)).await;
    assert_eq!(status, 200, "{village}");
    village["area_id"].as_str().unwrap().to_owned()
}

async fn send_as(s: &TestServer, key: &str, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    s.send(method, path, body, Some(key)).await
}

/// An agent's cash sale with its own key.
async fn sell(s: &TestServer, agent: &Value, client_tx_id: &str, serial: &str, amount: &str) -> (u16, Value) {
    let path = format!("/v1/agents/{}/sales", agent["id"].as_str().unwrap());
    let body = json!({"client_tx_id": client_tx_id, "serial": serial, "amount": amount, "currency": "TZS",
                      "taken_at": "2026-01-02T09:00:00+03:00"});
    send_as(s, agent["api_key"].as_str().unwrap(), reqwest::Method::POST, &path, Some(body)).await
}

/// `(kind, amount)` of ledger lines.
fn kinds(lines: &Value) -> Vec<(String, String)> {
    lines
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {lines}"))
        .iter()
        .map(|l| (l["kind"].as_str().unwrap().to_owned(), l["amount"].as_str().unwrap().to_owned()))
        .collect()
}

fn pair(kind: &str, amount: &str) -> (String, String) {
    (kind.to_owned(), amount.to_owned())
}

async fn an_agent_is_created_with_its_key(s: TestServer) {
    let r = registry(&s).await;
    let area = area(&s, &r).await;
    let created = agent(&s, &area, "50000").await;
    let id = created["id"].as_str().unwrap();
    assert!(created["api_key"].as_str().unwrap().len() >= 32, "{created}");
    assert_eq!(created["balance"], "0");
    assert_eq!(created["commission_earned"], "0");
    assert_eq!(created["commission"], json!({"energy_rate": "0.05", "appliance_rate": "0.1"}));
    assert_eq!(created["risk_ceiling"], "50000");
    assert_eq!(created["currency"], "TZS");

    // The key is shown once: the agent's record never carries it.
    let (status, got) = s.get(&format!("/v1/agents/{id}")).await;
    assert_eq!(status, 200, "{got}");
    assert!(got.get("api_key").is_none(), "{got}");
    assert_eq!(got["last_sync_at"], Value::Null);
    let (status, list) = s.get("/v1/agents").await;
    assert_eq!(status, 200, "{list}");
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    assert_eq!(list["next_cursor"], Value::Null);
    let (status, keys) = s.get("/v1/api-keys").await;
    assert_eq!(status, 200);
    assert!(keys["items"].as_array().unwrap().iter().any(|k| k["role"] == "agent" && k["id"] == created["api_key_id"]));

    // Terms are the core's to check; an unknown area is a 404 naming its field.
    let mut bad = json!({"name": "X", "phone": "+255754000112", "area_id": area,
                         "commission": {"energy_rate": "1.5", "appliance_rate": "0"}, "risk_ceiling": "1", "currency": "TZS"});
    let (status, refused) = s.post("/v1/agents", bad.clone()).await;
    assert_eq!((status, refused["code"].as_str()), (400, Some("invalid_input")), "{refused}");
    assert_eq!(refused["field"], "commission.energy_rate");
    bad["commission"]["energy_rate"] = json!("0.1");
    bad["area_id"] = json!("no-such-area");
    let (status, refused) = s.post("/v1/agents", bad).await;
    assert_eq!((status, refused["field"].as_str()), (404, Some("area_id")), "{refused}");

    // A key of role agent is made with its agent only.
    let (status, refused) = s.post("/v1/api-keys", json!({"role": "agent"})).await;
    assert_eq!(status, 400, "{refused}");

    // PATCH changes the terms; the audit log has the creation and the change.
    let (status, changed) = s
        .send(
            reqwest::Method::PATCH,
            &format!("/v1/agents/{id}"),
            Some(json!({"risk_ceiling": "60000.00"})),
            Some(&s.key),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["risk_ceiling"], "60000");
    assert_eq!(changed["name"], "Baraka");
    let (_, audit) = s.get(&format!("/v1/audit?entity_kind=agent&entity_id={id}")).await;
    let actions: Vec<&str> = audit["items"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["agent.changed", "agent.created"], "{audit}");
}

async fn a_sale_is_a_payment_with_ledger_lines(s: TestServer) {
    let r = registry(&s).await;
    let area = area(&s, &r).await;
    register_shs(&s, &r, "SHS-A1").await;
    let agent = agent(&s, &area, "50000").await;
    let id = agent["id"].as_str().unwrap();

    let (status, first) = sell(&s, &agent, "phone-1", "SHS-A1", "800").await;
    assert_eq!(status, 201, "{first}");
    let allocations: Vec<(String, String)> = first["allocations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["kind"].as_str().unwrap().to_owned(), l["amount"].as_str().unwrap().to_owned()))
        .collect();
    assert_eq!(allocations, [pair("installment", "700"), pair("installment", "100")]);
    // Installments earn the appliance rate: 10 % of 800.
    assert_eq!(kinds(&first["ledger"]), [pair("sale", "800"), pair("commission", "80")]);
    assert!(first["ledger"].as_array().unwrap().iter().all(|l| l["payment_id"] == first["payment_id"]));

    // The sale is a payment like any other, of provider agent:<id>.
    let (status, payment) = s.get(&format!("/v1/payments/{}", first["payment_id"].as_str().unwrap())).await;
    assert_eq!(status, 200, "{payment}");
    assert_eq!(payment["provider"], format!("agent:{id}"));

    // The phone resends: the same body, 200, no new line.
    let (status, again) = sell(&s, &agent, "phone-1", "SHS-A1", "800").await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again, first);
    let (status, ledger) = s.get(&format!("/v1/agents/{id}/ledger")).await;
    assert_eq!(status, 200, "{ledger}");
    assert_eq!(kinds(&ledger["items"]).len(), 2, "{ledger}");

    // A second sale: balance and commission are two sums.
    let (status, second) = sell(&s, &agent, "phone-2", "SHS-A1", "1000").await;
    assert_eq!(status, 201, "{second}");
    assert_eq!(kinds(&second["ledger"]), [pair("sale", "1000"), pair("commission", "100")]);
    let (_, got) = s.get(&format!("/v1/agents/{id}")).await;
    assert_eq!((got["balance"].as_str(), got["commission_earned"].as_str()), (Some("1800"), Some("180")), "{got}");
    let (_, ledger) = s.get(&format!("/v1/agents/{id}/ledger?limit=3")).await;
    assert_eq!(ledger["items"].as_array().unwrap().len(), 3);
    let next = ledger["next_cursor"].as_str().unwrap();
    let (_, rest) = s.get(&format!("/v1/agents/{id}/ledger?limit=3&cursor={next}")).await;
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_cursor"], Value::Null);
    // A blank client_tx_id is refused by its own name, and writes nothing.
    let (status, blank) = sell(&s, &agent, " ", "SHS-A1", "100").await;
    assert_eq!(
        (status, blank["code"].as_str(), blank["field"].as_str()),
        (400, Some("invalid_input"), Some("client_tx_id")),
        "{blank}"
    );
    let (_, got) = s.get(&format!("/v1/agents/{id}")).await;
    assert_eq!(got["balance"].as_str(), Some("1800"), "{got}");
}

async fn a_sale_past_the_ceiling_is_refused(s: TestServer) {
    let r = registry(&s).await;
    let area = area(&s, &r).await;
    register_shs(&s, &r, "SHS-B1").await;
    let agent = agent(&s, &area, "1000").await;
    let id = agent["id"].as_str().unwrap();
    assert_eq!(sell(&s, &agent, "b-1", "SHS-B1", "800").await.0, 201);

    let (status, refused) = sell(&s, &agent, "b-2", "SHS-B1", "300").await;
    assert_eq!((status, refused["code"].as_str()), (422, Some("risk_ceiling_exceeded")), "{refused}");
    assert_eq!((refused["balance"].as_str(), refused["risk_ceiling"].as_str()), (Some("800"), Some("1000")));
    let (_, log) = s.get("/v1/payments/refused").await;
    let kept = log["items"].as_array().unwrap().iter().find(|p| p["provider_tx_id"] == "b-2");
    assert_eq!(kept.map(|p| p["code"].clone()), Some(json!("risk_ceiling_exceeded")), "{log}");
    let (_, got) = s.get(&format!("/v1/agents/{id}")).await;
    assert_eq!((got["balance"].as_str(), got["commission_earned"].as_str()), (Some("800"), Some("80")));
    let (_, ledger) = s.get(&format!("/v1/agents/{id}/ledger")).await;
    assert_eq!(ledger["items"].as_array().unwrap().len(), 2);
    // Exactly the ceiling passes.
    assert_eq!(sell(&s, &agent, "b-3", "SHS-B1", "200").await.0, 201);
}

async fn concurrent_sales_near_the_ceiling_pass_once(s: TestServer) {
    let r = registry(&s).await;
    let area = area(&s, &r).await;
    for round in 0..4 {
        let (one, two) = (format!("SHS-C{round}A"), format!("SHS-C{round}B"));
        register_shs(&s, &r, &one).await;
        register_shs(&s, &r, &two).await;
        let agent = agent(&s, &area, "1000").await;
        let (tx1, tx2) = (format!("c{round}-1"), format!("c{round}-2"));
        let (a, b) = tokio::join!(sell(&s, &agent, &tx1, &one, "600"), sell(&s, &agent, &tx2, &two, "600"));
        let mut statuses = [a.0, b.0];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 422], "round {round}: {} / {}", a.1, b.1);
        let (_, got) = s.get(&format!("/v1/agents/{}", agent["id"].as_str().unwrap())).await;
        assert_eq!(got["balance"], "600", "round {round}: {got}");
    }
}

async fn an_agent_key_opens_only_its_own_paths(s: TestServer) {
    let r = registry(&s).await;
    let area = area(&s, &r).await;
    let mine = agent(&s, &area, "50000").await;
    let other = agent(&s, &area, "50000").await;
    let key = mine["api_key"].as_str().unwrap();
    let (id, other_id) = (mine["id"].as_str().unwrap(), other["id"].as_str().unwrap());
    use reqwest::Method as M;
    for (method, path) in [(M::GET, format!("/v1/agents/{id}")), (M::GET, format!("/v1/agents/{id}/ledger"))] {
        let (status, body) = send_as(&s, key, method, &path, None).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
    let forbidden = [
        (M::GET, format!("/v1/agents/{other_id}")),
        (M::GET, format!("/v1/agents/{other_id}/ledger")),
        (M::POST, format!("/v1/agents/{other_id}/sales")),
        (M::GET, "/v1/agents".to_owned()),
        (M::POST, "/v1/agents".to_owned()),
        (M::PATCH, format!("/v1/agents/{id}")),
        (M::GET, "/v1/payments".to_owned()),
        (M::POST, "/v1/payments".to_owned()),
        (M::GET, "/v1/api-keys".to_owned()),
        (M::GET, "/v1/audit".to_owned()),
        (M::GET, "/v1/export".to_owned()),
        (M::POST, "/v1/tariffs".to_owned()),
    ];
    for (method, path) in forbidden {
        let (status, body) = send_as(&s, key, method.clone(), &path, Some(json!({}))).await;
        assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")), "{method} {path}: {body}");
    }
    // Another agent's sale with my key is refused before anything is recorded.
    let body = json!({"client_tx_id": "x", "serial": "NONE", "amount": "1", "currency": "TZS"});
    let (status, _) = send_as(&s, key, M::POST, &format!("/v1/agents/{other_id}/sales"), Some(body)).await;
    assert_eq!(status, 403);
    let (_, log) = s.get("/v1/payments/refused").await;
    assert!(log["items"].as_array().unwrap().is_empty(), "{log}");
    // Registering a customer and device is an agent's work.
    let customer = new_customer(&r.village);
    let registration = json!({
        "customer": customer,
        "device": {"serial": "SHS-D1", "kind": "solar_home_system", "manufacturer_id": r.shs_maker,
                   "openpaygo": {"secret_key": KEY, "starting_code": 123456789, "count": 0}},
        "plan": {"appliance": "SHS 80W", "currency": "TZS", "total_cost": "2100", "down_payment": "0",
                 "installments": 3, "period": "weekly", "start_date": "2026-01-01"},
        "registered_on": "2026-01-01"
    });
    let (status, body) = send_as(&s, key, M::POST, "/v1/registrations", Some(registration)).await;
    assert_eq!(status, 201, "{body}");
}

async fn a_handover_lowers_the_balance_only(s: TestServer) {
    let r = registry(&s).await;
    let area = area(&s, &r).await;
    register_shs(&s, &r, "SHS-H1").await;
    let agent = agent(&s, &area, "1000").await;
    let id = agent["id"].as_str().unwrap();
    assert_eq!(sell(&s, &agent, "h-1", "SHS-H1", "800").await.0, 201);
    assert_eq!(sell(&s, &agent, "h-2", "SHS-H1", "700").await.0, 422, "past the ceiling before the handover");

    let path = format!("/v1/agents/{id}/handovers");
    let body = json!({"amount": "500", "received_by": "Neema <office>"});
    use reqwest::Method as M;
    let (status, refused) = send_as(&s, agent["api_key"].as_str().unwrap(), M::POST, &path, Some(body.clone())).await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (403, Some("forbidden")),
        "an agent does not record its own handover"
    );
    let viewer = s.ok("/v1/api-keys", json!({"role": "viewer"}), 201).await;
    let (status, _) = send_as(&s, viewer["key"].as_str().unwrap(), M::POST, &path, Some(body.clone())).await;
    assert_eq!(status, 403);
    let operator = s.ok("/v1/api-keys", json!({"role": "operator"}), 201).await;
    let (status, done) = send_as(&s, operator["key"].as_str().unwrap(), M::POST, &path, Some(body)).await;
    assert_eq!(status, 201, "{done}");
    assert_eq!((done["amount"].as_str(), done["balance"].as_str()), (Some("500"), Some("300")), "{done}");
    assert_eq!(done["commission_earned"], "80");
    assert_eq!((done["line"]["kind"].as_str(), done["line"]["amount"].as_str()), (Some("handover"), Some("-500")));

    let (_, got) = s.get(&format!("/v1/agents/{id}")).await;
    assert_eq!((got["balance"].as_str(), got["commission_earned"].as_str()), (Some("300"), Some("80")), "{got}");
    let (_, ledger) = s.get(&format!("/v1/agents/{id}/ledger")).await;
    assert_eq!(kinds(&ledger["items"]), [pair("handover", "-500"), pair("commission", "80"), pair("sale", "800")]);
    assert_eq!(ledger["items"][0]["received_by"], "Neema <office>");

    // The receipt prints it, escaped.
    let receipt = done["receipt"].as_str().unwrap();
    let response = s.client.get(format!("{}{receipt}", s.base)).bearer_auth(&s.key).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let html = response.text().await.unwrap();
    assert!(html.contains("500 TZS") && html.contains("Baraka") && html.contains("Neema &lt;office&gt;"), "{html}");
    let (status, _) =
        s.get(&format!("/v1/agents/{id}/handovers/{}/receipt", ledger["items"][1]["id"].as_str().unwrap())).await;
    assert_eq!(status, 404, "a commission line has no handover receipt");

    // More than the agent holds is refused; the sale that did not fit now does.
    let (status, refused) = s.post(&path, json!({"amount": "301", "received_by": "Neema"})).await;
    assert_eq!((status, refused["code"].as_str()), (400, Some("invalid_amount")), "{refused}");
    assert_eq!(sell(&s, &agent, "h-2", "SHS-H1", "700").await.0, 201);
    let (_, audit) = s.get(&format!("/v1/audit?entity_kind=agent&entity_id={id}&action=agent.handover")).await;
    assert_eq!(audit["items"].as_array().unwrap().len(), 1, "{audit}");
}

async fn energy_and_a_plan_paid_by_id_earn_their_rates(s: TestServer) {
    let r = registry(&s).await;
    let area = area(&s, &r).await;
    let meter =
        register_meter(&s, &r, "MTR-A1", json!({"name": "Flat", "currency": "TZS", "price_per_kwh": "500"})).await;
    let customer = meter["customer"]["id"].as_str().unwrap();
    let tv = s
        .ok(
            &format!("/v1/customers/{customer}/plans"),
            json!({"appliance": "TV", "currency": "TZS", "total_cost": "1000", "down_payment": "0", "installments": 2,
                   "period": "weekly", "start_date": "2026-01-01"}),
            201,
        )
        .await;
    let agent = agent(&s, &area, "50000").await;
    let id = agent["id"].as_str().unwrap();

    // Energy earns the energy rate: 5 % of 1000.
    let (status, energy) = sell(&s, &agent, "e-1", "MTR-A1", "1000").await;
    assert_eq!(status, 201, "{energy}");
    assert_eq!(energy["allocations"][0]["kind"], "energy", "{energy}");
    assert_eq!(kinds(&energy["ledger"]), [pair("sale", "1000"), pair("commission", "50")]);

    // A device-less plan paid by its id: installments earn the appliance rate, 10 % of 500.
    let path = format!("/v1/agents/{id}/sales");
    let body = json!({"client_tx_id": "e-2", "plan_id": tv["id"], "amount": "500", "currency": "TZS"});
    let (status, plan) =
        send_as(&s, agent["api_key"].as_str().unwrap(), reqwest::Method::POST, &path, Some(body.clone())).await;
    assert_eq!(status, 201, "{plan}");
    assert_eq!((plan["plan_id"].as_str(), plan["serial"].as_str()), (tv["id"].as_str(), None), "{plan}");
    assert_eq!(kinds(&plan["ledger"]), [pair("sale", "500"), pair("commission", "50")]);
    let (status, again) =
        send_as(&s, agent["api_key"].as_str().unwrap(), reqwest::Method::POST, &path, Some(body)).await;
    assert_eq!((status, &again), (200, &plan));

    let (_, got) = s.get(&format!("/v1/agents/{id}")).await;
    assert_eq!((got["balance"].as_str(), got["commission_earned"].as_str()), (Some("1500"), Some("100")), "{got}");
}
