//! Issue 18's sync (the server's half): what an agent's phone downloads (`GET /v1/agents/{id}/sync`, full and
//! incremental) and uploads (`POST /v1/agents/{id}/sync`: sales and registrations, each exactly once, a
//! refusal answered the same on a re-send, concurrent copies of one batch applied once); on SQLite and on
//! PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[macro_use]
mod common;

use common::*;
use micropower_server::config::EngineKind;
use reqwest::Method as M;
use serde_json::{json, Value};

on_both_databases!(
    a_full_sync_holds_the_agents_customers,
    an_incremental_sync_holds_what_changed,
    an_upload_applies_each_item_once,
    a_refused_sale_is_refused_again,
    concurrent_uploads_apply_each_item_once,
);

/// The area of the registry's village.
async fn area(s: &TestServer, r: &Registry) -> String {
    let (status, village) = s.get(&format!("/v1/villages/{}", r.village)).await;
    assert_eq!(status, 200, "{village}");
    village["area_id"].as_str().unwrap().to_owned()
}

/// A second area of the registry's cluster with one village; answers the village's id.
async fn other_village(s: &TestServer, r: &Registry) -> String {
    let (_, area) = s.get(&format!("/v1/areas/{}", area(s, r).await)).await;
    let other = s.ok("/v1/areas", json!({"name": "Hill grid", "cluster_id": area["cluster_id"]}), 201).await;
    let village = s.ok("/v1/villages", json!({"name": "Mlimani", "area_id": other["id"]}), 201).await;
    village["id"].as_str().unwrap().to_owned()
}

fn key(agent: &Value) -> &str {
    agent["api_key"].as_str().unwrap()
}

fn id(agent: &Value) -> &str {
    agent["id"].as_str().unwrap()
}

/// `GET /v1/agents/{id}/sync` with the agent's own key.
async fn download(s: &TestServer, agent: &Value, since: Option<&str>) -> (u16, Value) {
    let query = since.map(|c| format!("?since={c}")).unwrap_or_default();
    s.send(M::GET, &format!("/v1/agents/{}/sync{query}", id(agent)), None, Some(key(agent))).await
}

/// `POST /v1/agents/{id}/sync` with the agent's own key; answers the body, after checking it is a 200.
async fn upload(s: &TestServer, agent: &Value, items: Value) -> Value {
    let (status, body) = s
        .send(M::POST, &format!("/v1/agents/{}/sync", id(agent)), Some(json!({"items": items})), Some(key(agent)))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

fn sale(client_tx_id: &str, serial: &str, amount: &str) -> Value {
    json!({"type": "sale", "client_tx_id": client_tx_id, "serial": serial, "amount": amount, "currency": "TZS",
           "taken_at": "2026-01-02T09:00:00+03:00"})
}

fn registration(client_tx_id: &str, r: &Registry, village: &str, serial: &str) -> Value {
    json!({"type": "registration", "client_tx_id": client_tx_id,
           "customer": new_customer(village),
           "device": {"serial": serial, "kind": "solar_home_system", "manufacturer_id": r.shs_maker,
                      "openpaygo": {"secret_key": KEY, "starting_code": 123456789, "count": 0}},
           "plan": {"appliance": "SHS 80W", "currency": "TZS", "total_cost": "2100", "down_payment": "0",
                    "installments": 3, "period": "weekly", "start_date": "2026-01-01"},
           "registered_on": "2026-01-01"})
}

/// `(client_tx_id, status, http_status)` of an upload's items.
fn outcomes(answer: &Value) -> Vec<(String, String, u64)> {
    answer["items"]
        .as_array()
        .unwrap_or_else(|| panic!("no items: {answer}"))
        .iter()
        .map(|i| {
            (
                i["client_tx_id"].as_str().unwrap().to_owned(),
                i["status"].as_str().unwrap().to_owned(),
                i["http_status"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn outcome(client_tx_id: &str, status: &str, http: u64) -> (String, String, u64) {
    (client_tx_id.to_owned(), status.to_owned(), http)
}

/// The ids (or serials) of a download's list.
fn keys(download: &Value, list: &str, key: &str) -> Vec<String> {
    let mut keys: Vec<String> =
        download[list].as_array().unwrap().iter().map(|x| x[key].as_str().unwrap().to_owned()).collect();
    keys.sort();
    keys
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// How many items a list has (at most 500).
async fn count(s: &TestServer, path: &str) -> usize {
    let sep = if path.contains('?') { '&' } else { '?' };
    let (status, page) = s.get(&format!("{path}{sep}limit=500")).await;
    assert_eq!(status, 200, "{page}");
    page["items"].as_array().unwrap().len()
}

/// Payments, customers and the agent's ledger lines: what an upload writes.
async fn written(s: &TestServer, agent: &Value) -> (usize, usize, usize) {
    (
        count(s, "/v1/payments").await,
        count(s, "/v1/customers").await,
        count(s, &format!("/v1/agents/{}/ledger", id(agent))).await,
    )
}

/// A cursor from now (the format is the server's, read here to test which rows a cursor selects without
/// waiting out the overlap a real cursor keeps).
fn cursor_now(as_of: &str, area: &str) -> String {
    let millis = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis();
    format!("v1.{millis}.{as_of}.{area}")
}

async fn a_full_sync_holds_the_agents_customers(s: TestServer) {
    let r = registry(&s).await;
    let area = area(&s, &r).await;
    let elsewhere = other_village(&s, &r).await;
    let shs = register_shs(&s, &r, "SHSF1").await;
    let meter =
        register_meter(&s, &r, "MTRF1", json!({"name": "Flat", "currency": "TZS", "price_per_kwh": "500"})).await;
    let far = register_shs_for(&s, &r, "SHSF2", new_customer(&elsewhere)).await;
    let agent = agent(&s, &area, "50000").await;
    let other = self::agent(&s, &area, "50000").await;
    assert_eq!(agent["last_sync_at"], Value::Null);

    let (status, full) = download(&s, &agent, None).await;
    assert_eq!(status, 200, "{full}");
    assert_eq!(full["full"], true);
    assert!(full["cursor"].as_str().is_some_and(|c| !c.is_empty()), "{full}");
    let mine = sorted(vec![
        shs["customer"]["id"].as_str().unwrap().to_owned(),
        meter["customer"]["id"].as_str().unwrap().to_owned(),
    ]);
    assert_eq!(keys(&full, "customers", "id"), mine, "not the other area's customer: {full}");
    assert_eq!(keys(&full, "devices", "serial"), ["MTRF1", "SHSF1"]);
    for device in full["devices"].as_array().unwrap() {
        assert_eq!(device["offline_token"], false, "{device}");
        assert_eq!(device["snapshot"]["device"]["serial"], device["serial"], "{device}");
    }
    let shs_device = full["devices"].as_array().unwrap().iter().find(|d| d["serial"] == "SHSF1").unwrap();
    assert_eq!(shs_device["token_scheme"], "openpaygo");
    assert_eq!(shs_device["plan_id"], shs["plan"]["id"]);
    assert!(!shs_device.to_string().contains(KEY), "never the OpenPAYGO key: {shs_device}");
    assert_eq!(keys(&full, "plans", "id"), [shs["plan"]["id"].as_str().unwrap()]);
    let plan = &full["plans"][0];
    assert_eq!((plan["kind"].as_str(), plan["currency"].as_str()), (Some("installments"), Some("TZS")), "{plan}");
    assert_eq!(plan["credit_balance"], "0");
    assert!(plan["plan"]["installments"].is_array(), "the core's plan: {plan}");
    assert_eq!(keys(&full, "tariffs", "id"), [meter["device"]["tariff_id"].as_str().unwrap()]);
    assert_eq!(full["tariffs"][0]["name"], "Flat");

    // The sync is recorded on the agent; the dashboard's list shows it.
    assert!(full["agent"]["last_sync_at"].is_string(), "{full}");
    let (_, got) = s.get(&format!("/v1/agents/{}", id(&agent))).await;
    assert_eq!(got["last_sync_at"], full["agent"]["last_sync_at"]);

    // An agent's key reads its own customers only, and syncs only itself.
    let (status, customer) = s.send(M::GET, &format!("/v1/customers/{}", mine[0]), None, Some(key(&agent))).await;
    assert_eq!(status, 200, "{customer}");
    let far_id = far["customer"]["id"].as_str().unwrap();
    let (status, refused) = s.send(M::GET, &format!("/v1/customers/{far_id}"), None, Some(key(&agent))).await;
    assert_eq!((status, refused["code"].as_str()), (403, Some("forbidden")), "{refused}");
    let (status, refused) = s.send(M::GET, "/v1/customers/no-such-id", None, Some(key(&agent))).await;
    assert_eq!(status, 403, "{refused}");
    let path = format!("/v1/agents/{}/sync", id(&other));
    let (status, _) = s.send(M::GET, &path, None, Some(key(&agent))).await;
    assert_eq!(status, 403);
    let (status, _) =
        s.send(M::POST, &path, Some(json!({"items": [sale("x", "SHSF1", "1")]})), Some(key(&agent))).await;
    assert_eq!(status, 403);
    let (_, log) = s.get("/v1/payments/refused").await;
    assert!(log["items"].as_array().unwrap().is_empty(), "{log}");
    // An operator may sync on an agent's behalf (the office's own view), which is no sync of its phone.
    let (status, _) = s.get(&path).await;
    assert_eq!(status, 200);
    let (_, got) = s.get(&format!("/v1/agents/{}", id(&other))).await;
    assert_eq!(got["last_sync_at"], Value::Null, "{got}");

    // An unreadable cursor is refused by its name; more than 500 items too.
    let (status, refused) = download(&s, &agent, Some("nonsense")).await;
    assert_eq!((status, refused["field"].as_str()), (400, Some("since")), "{refused}");
    let many: Vec<Value> = (0..501).map(|i| sale(&format!("m-{i}"), "SHSF1", "1")).collect();
    let (status, refused) = s
        .send(M::POST, &format!("/v1/agents/{}/sync", id(&agent)), Some(json!({"items": many})), Some(key(&agent)))
        .await;
    assert_eq!((status, refused["field"].as_str()), (400, Some("items")), "{refused}");
}

async fn an_incremental_sync_holds_what_changed(s: TestServer) {
    let r = registry(&s).await;
    let area = area(&s, &r).await;
    let paid = register_shs(&s, &r, "SHSI1").await;
    register_shs(&s, &r, "SHSI2").await;
    let agent = agent(&s, &area, "50000").await;
    let (_, full) = download(&s, &agent, None).await;
    let as_of = full["as_of"].as_str().unwrap().to_owned();
    let before = full["devices"].as_array().unwrap().iter().find(|d| d["serial"] == "SHSI1").unwrap().clone();

    // The server's own cursor reaches a few minutes back (a late commit is never missed): all rows again.
    let (status, again) = download(&s, &agent, full["cursor"].as_str()).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["full"], false);
    assert_eq!(keys(&again, "devices", "serial"), ["SHSI1", "SHSI2"]);

    // From now: nothing changed, nothing sent.
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let since = cursor_now(&as_of, &area);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let (_, quiet) = download(&s, &agent, Some(&since)).await;
    assert_eq!((quiet["full"].as_bool(), quiet["devices"].as_array().map(Vec::len)), (Some(false), Some(0)), "{quiet}");
    assert_eq!(quiet["customers"], json!([]));

    // A payment to SHS-I1: its customer, device (its new snapshot) and plan come again, SHS-I2's do not.
    let (status, body) = s.post("/v1/payments", payment("i-1", "SHSI1", "700", "2026-01-02T09:00:00+03:00")).await;
    assert_eq!(status, 201, "{body}");
    let (_, changed) = download(&s, &agent, Some(&since)).await;
    assert_eq!(changed["full"], false);
    assert_eq!(keys(&changed, "customers", "id"), [paid["customer"]["id"].as_str().unwrap()]);
    assert_eq!(keys(&changed, "devices", "serial"), ["SHSI1"]);
    assert_eq!(keys(&changed, "plans", "id"), [paid["plan"]["id"].as_str().unwrap()]);
    assert_ne!(changed["devices"][0]["snapshot"], before["snapshot"], "the snapshot after the payment");

    // An edit of the customer (outside the payment path) sends it again too.
    let since = cursor_now(&as_of, &area);
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let other_id = full["customers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .find(|c| *c != paid["customer"]["id"])
        .unwrap()
        .to_owned();
    let (status, body) =
        s.send(M::PATCH, &format!("/v1/customers/{other_id}"), Some(json!({"name": "Neema"})), Some(&s.key)).await;
    assert_eq!(status, 200, "{body}");
    let (_, edited) = download(&s, &agent, Some(&since)).await;
    assert_eq!(keys(&edited, "customers", "id"), [other_id]);
    assert_eq!(keys(&edited, "devices", "serial"), ["SHSI2"]);

    // A cursor of an earlier day: every snapshot depends on the day, so everything, as a full sync.
    let (_, next_day) = download(&s, &agent, Some(&format!("v1.1767225600000.2026-01-01.{area}"))).await;
    assert_eq!(next_day["full"], true, "{next_day}");
    assert_eq!(keys(&next_day, "devices", "serial"), ["SHSI1", "SHSI2"]);
    // A cursor made for another area (the agent moved): everything too.
    let (_, moved) = download(&s, &agent, Some(&cursor_now(&as_of, "another-area"))).await;
    assert_eq!(moved["full"], true, "{moved}");
}

async fn an_upload_applies_each_item_once(s: TestServer) {
    let r = registry(&s).await;
    let area = area(&s, &r).await;
    let elsewhere = other_village(&s, &r).await;
    register_shs(&s, &r, "SHSU1").await;
    register_shs(&s, &r, "SHSU2").await;
    let agent = agent(&s, &area, "50000").await;
    let batch = json!([
        sale("u-1", "SHSU1", "700"),
        sale("u-2", "SHSU2", "700"),
        sale("u-3", "SHSU1", "100"),
        // A customer of another area: the agent registered it, so it is the agent's.
        registration("u-4", &r, &elsewhere, "SHSU3"),
    ]);
    let first = upload(&s, &agent, batch.clone()).await;
    assert_eq!(
        outcomes(&first),
        [
            outcome("u-1", "applied", 201),
            outcome("u-2", "applied", 201),
            outcome("u-3", "applied", 201),
            outcome("u-4", "applied", 201)
        ],
        "{first}"
    );
    assert_eq!(first["items"][0]["type"], "sale");
    assert_eq!(first["items"][3]["type"], "registration");
    assert_eq!(first["items"][0]["answer"]["ledger"][0]["kind"], "sale", "the SaleAnswer: {first}");
    let registered = &first["items"][3]["answer"];
    assert_eq!(registered["device"]["serial"], "SHSU3", "{registered}");
    assert_eq!(
        (first["agent"]["balance"].as_str(), first["agent"]["commission_earned"].as_str()),
        (Some("1500"), Some("150"))
    );
    assert!(first["agent"]["last_sync_at"].is_string());
    let counts = written(&s, &agent).await;
    assert_eq!(counts.2, 6, "three sales, two lines each");

    // The identical batch again: every item a duplicate with its original answer, nothing written.
    let again = upload(&s, &agent, batch).await;
    assert_eq!(
        outcomes(&again),
        [
            outcome("u-1", "duplicate", 200),
            outcome("u-2", "duplicate", 200),
            outcome("u-3", "duplicate", 200),
            outcome("u-4", "duplicate", 200)
        ],
        "{again}"
    );
    for (one, two) in first["items"].as_array().unwrap().iter().zip(again["items"].as_array().unwrap()) {
        assert_eq!(one["answer"], two["answer"]);
    }
    assert_eq!(written(&s, &agent).await, counts);
    assert_eq!(again["agent"]["balance"], "1500");

    // The customer it registered is its own: in its sync, readable with its key, and its area's are too.
    let customer = registered["customer"]["id"].as_str().unwrap();
    let (_, full) = download(&s, &agent, None).await;
    assert!(keys(&full, "customers", "id").iter().any(|c| c == customer), "{full}");
    assert!(keys(&full, "devices", "serial").iter().any(|d| d == "SHSU3"), "{full}");
    let (status, body) = s.send(M::GET, &format!("/v1/customers/{customer}"), None, Some(key(&agent))).await;
    assert_eq!(status, 200, "{body}");

    // A registration through POST /v1/registrations with the agent's key records the agent too.
    let mut direct = registration("unused", &r, &elsewhere, "SHSU4");
    let fields = direct.as_object_mut().unwrap();
    fields.remove("type");
    fields.remove("client_tx_id");
    let (status, body) = s.send(M::POST, "/v1/registrations", Some(direct), Some(key(&agent))).await;
    assert_eq!(status, 201, "{body}");
    let customer = body["customer"]["id"].as_str().unwrap();
    let (status, body) = s.send(M::GET, &format!("/v1/customers/{customer}"), None, Some(key(&agent))).await;
    assert_eq!(status, 200, "{body}");

    // A refused registration (a serial taken) is refused again the same way, and registers nothing.
    let taken = json!([registration("u-5", &r, &r.village, "SHSU1")]);
    let refused = upload(&s, &agent, taken.clone()).await;
    assert_eq!(outcomes(&refused), [outcome("u-5", "refused", 409)], "{refused}");
    assert_eq!(refused["items"][0]["error"]["code"], "duplicate_serial");
    let counts = written(&s, &agent).await;
    let again = upload(&s, &agent, taken).await;
    assert_eq!(again["items"][0]["error"], refused["items"][0]["error"]);
    assert_eq!(written(&s, &agent).await, counts);
    // A malformed sale is refused by its field, and kept.
    let bad = json!([{"type": "sale", "client_tx_id": "u-6", "serial": "SHSU1", "amount": "1", "currency": "TZS", "colour": "red"}]);
    let refused = upload(&s, &agent, bad.clone()).await;
    assert_eq!(outcomes(&refused), [outcome("u-6", "refused", 400)], "{refused}");
    assert_eq!(refused["items"][0]["error"]["code"], "invalid_input");
    assert_eq!(upload(&s, &agent, bad).await["items"], refused["items"]);
}

async fn a_refused_sale_is_refused_again(s: TestServer) {
    let r = registry(&s).await;
    let area = area(&s, &r).await;
    register_shs(&s, &r, "SHSR1").await;
    let agent = agent(&s, &area, "1000").await;
    let first = upload(&s, &agent, json!([sale("r-1", "SHSR1", "800"), sale("r-2", "SHSR1", "300")])).await;
    assert_eq!(outcomes(&first), [outcome("r-1", "applied", 201), outcome("r-2", "refused", 422)], "{first}");
    let error = &first["items"][1]["error"];
    assert_eq!(error["code"], "risk_ceiling_exceeded", "{error}");
    assert_eq!((error["balance"].as_str(), error["risk_ceiling"].as_str()), (Some("800"), Some("1000")));
    assert!(first["items"][1].get("answer").is_none());

    // Cash handed over: the sale would fit now, but the phone's re-send answers what it answered.
    let body = json!({"amount": "500", "received_by": "Neema"});
    s.ok(&format!("/v1/agents/{}/handovers", id(&agent)), body, 201).await;
    let again = upload(&s, &agent, json!([sale("r-1", "SHSR1", "800"), sale("r-2", "SHSR1", "300")])).await;
    assert_eq!(outcomes(&again), [outcome("r-1", "duplicate", 200), outcome("r-2", "refused", 422)], "{again}");
    assert_eq!(&again["items"][1]["error"], error);
    assert_eq!(again["agent"]["balance"], "300");

    // A sale first posted to /sales is a duplicate in a sync, with the same answer.
    let path = format!("/v1/agents/{}/sales", id(&agent));
    let mut single = sale("r-3", "SHSR1", "100");
    single.as_object_mut().unwrap().remove("type");
    let (status, answer) = s.send(M::POST, &path, Some(single), Some(key(&agent))).await;
    assert_eq!(status, 201, "{answer}");
    let synced = upload(&s, &agent, json!([sale("r-3", "SHSR1", "100")])).await;
    assert_eq!(outcomes(&synced), [outcome("r-3", "duplicate", 200)], "{synced}");
    assert_eq!(synced["items"][0]["answer"], answer);
    assert_eq!(synced["agent"]["balance"], "400");

    // A sale for a device the server does not know yet is refused and not kept: once the device is
    // registered, the re-sent sale applies.
    let unknown = upload(&s, &agent, json!([sale("r-4", "SHSR9", "100")])).await;
    assert_eq!(outcomes(&unknown), [outcome("r-4", "refused", 422)], "{unknown}");
    assert_eq!(unknown["items"][0]["error"]["code"], "unknown_serial");
    register_shs(&s, &r, "SHSR9").await;
    let later = upload(&s, &agent, json!([sale("r-4", "SHSR9", "100")])).await;
    assert_eq!(outcomes(&later), [outcome("r-4", "applied", 201)], "{later}");
}

async fn concurrent_uploads_apply_each_item_once(s: TestServer) {
    let r = registry(&s).await;
    let area = area(&s, &r).await;
    register_shs(&s, &r, "SHSK1").await;
    register_shs(&s, &r, "SHSK2").await;
    let agent = agent(&s, &area, "50000").await;
    for round in 0..3 {
        let batch = json!([
            sale(&format!("k{round}-1"), "SHSK1", "100"),
            registration(&format!("k{round}-2"), &r, &r.village, &format!("SHSK{round}R")),
            sale(&format!("k{round}-3"), "SHSK2", "100"),
        ]);
        let before = written(&s, &agent).await;
        let (a, b) = tokio::join!(upload(&s, &agent, batch.clone()), upload(&s, &agent, batch));
        for i in 0..3 {
            let mut statuses = [a["items"][i]["status"].as_str().unwrap(), b["items"][i]["status"].as_str().unwrap()];
            statuses.sort_unstable();
            assert_eq!(statuses, ["applied", "duplicate"], "round {round}, item {i}: {a} / {b}");
            assert_eq!(a["items"][i]["answer"], b["items"][i]["answer"], "round {round}, item {i}");
        }
        let after = written(&s, &agent).await;
        assert_eq!(after, (before.0 + 2, before.1 + 1, before.2 + 4), "round {round}");
    }
    let (_, got) = s.get(&format!("/v1/agents/{}", id(&agent))).await;
    assert_eq!(got["balance"], "600", "{got}");
}
