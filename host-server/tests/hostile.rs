//! The hostile-input catalog: malformed JSON, wrong types, oversized bodies, negative / zero / huge /
//! 1,000-digit amounts, unicode and SQL-looking serials, path tricks, missing and foreign API keys. Every
//! one must get a 4xx with the error shape, and none may store anything: afterwards the database holds
//! exactly what the set-up wrote. On SQLite and on PostgreSQL. `--nocapture` prints the catalog (the count
//! goes into RELIABILITY.md through `scripts/reliability.sh`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::*;
use micropower_server::config::EngineKind;
use reqwest::Method;
use serde_json::{json, Value};

/// One hostile request: what it is, and how it is sent.
struct Case {
    name: String,
    method: Method,
    path: String,
    body: Option<String>,
    key: Option<&'static str>,
}

fn case(name: &str, method: Method, path: &str, body: Option<String>) -> Case {
    Case { name: name.into(), method, path: path.into(), body, key: Some(ADMIN_KEY) }
}

fn payment_with(amount: Value, serial: Value) -> String {
    json!({"provider": "hostile", "provider_tx_id": format!("h-{amount}-{serial}"), "serial": serial,
           "amount": amount, "currency": "TZS", "received_at": "2026-01-02T08:00:00Z"})
    .to_string()
}

fn catalog() -> Vec<Case> {
    let mut cases = vec![
        case("malformed JSON", Method::POST, "/v1/payments", Some("{\"provider\": ".into())),
        case("not JSON at all", Method::POST, "/v1/payments", Some("amount=100&serial=SHS-H".into())),
        case("JSON array instead of object", Method::POST, "/v1/payments", Some("[1,2,3]".into())),
        case("empty body", Method::POST, "/v1/payments", Some(String::new())),
        case(
            "deeply nested JSON",
            Method::POST,
            "/v1/payments",
            Some(format!("{}{}", "[".repeat(5000), "]".repeat(5000))),
        ),
        case(
            "oversized body (1 MiB)",
            Method::POST,
            "/v1/payments",
            Some(format!("{{\"pad\": \"{}\"}}", "x".repeat(1 << 20))),
        ),
        case("unknown field", Method::POST, "/v1/clusters", Some(json!({"name": "X", "drop": "table"}).to_string())),
        case("wrong type: name is a number", Method::POST, "/v1/clusters", Some(json!({"name": 7}).to_string())),
        case(
            "wrong type: amount is a bool",
            Method::POST,
            "/v1/payments",
            Some(payment_with(json!(true), json!("SHS-H"))),
        ),
        case(
            "wrong type: amount is an object",
            Method::POST,
            "/v1/payments",
            Some(payment_with(json!({"v": 1}), json!("SHS-H"))),
        ),
        case(
            "wrong type: serial is a list",
            Method::POST,
            "/v1/payments",
            Some(payment_with(json!("100"), json!(["SHS-H"]))),
        ),
        case(
            "missing currency",
            Method::POST,
            "/v1/payments",
            Some(json!({"provider": "h", "provider_tx_id": "m1", "serial": "SHS-H", "amount": "100"}).to_string()),
        ),
        case(
            "foreign currency",
            Method::POST,
            "/v1/payments",
            Some(
                json!({"provider": "h", "provider_tx_id": "fc", "serial": "SHS-H", "amount": "100", "currency": "USD",
                         "received_at": "2026-01-02T08:00:00Z"})
                .to_string(),
            ),
        ),
        case(
            "unknown currency",
            Method::POST,
            "/v1/payments",
            Some(
                json!({"provider": "h", "provider_tx_id": "uc", "serial": "SHS-H", "amount": "100", "currency": "ZZZ",
                         "received_at": "2026-01-02T08:00:00Z"})
                .to_string(),
            ),
        ),
        case(
            "received_at not a date",
            Method::POST,
            "/v1/payments",
            Some(
                json!({"provider": "h", "provider_tx_id": "rd", "serial": "SHS-H", "amount": "100", "currency": "TZS",
                         "received_at": "yesterday"})
                .to_string(),
            ),
        ),
        case(
            "provider_tx_id of 10,000 characters",
            Method::POST,
            "/v1/payments",
            Some(
                json!({"provider": "h", "provider_tx_id": "t".repeat(10_000), "serial": "SHS-H", "amount": "100",
                         "currency": "TZS", "received_at": "2026-01-02T08:00:00Z"})
                .to_string(),
            ),
        ),
    ];
    for (label, amount) in [
        ("negative amount", json!("-100")),
        ("zero amount", json!("0")),
        ("huge amount (1e30)", json!("1000000000000000000000000000000")),
        ("1,000-digit amount", json!("9".repeat(1000))),
        ("amount with 40 decimals", json!(format!("1.{}", "1".repeat(40)))),
        ("amount in exponent form", json!("1e3")),
        ("amount as a float number", json!(100.5)),
        ("amount NaN text", json!("NaN")),
        ("amount with thousands separator", json!("1,000")),
        ("fractional shillings", json!("100.5")),
    ] {
        cases.push(case(label, Method::POST, "/v1/payments", Some(payment_with(amount, json!("SHS-H")))));
    }
    for (label, serial) in [
        ("SQL-looking serial", "SHS-H'; DROP TABLE payments; --"),
        ("SQL-looking serial (OR 1=1)", "' OR '1'='1"),
        ("unicode serial", "ＳＨＳ－Ｈ🙂"),
        ("right-to-left override serial", "SHS\u{202e}H"),
        ("NUL in serial", "SHS\u{0}H"),
        ("empty serial", ""),
        ("serial of 5,000 characters", &"S".repeat(5000)),
    ] {
        cases.push(case(label, Method::POST, "/v1/payments", Some(payment_with(json!("100"), json!(serial)))));
    }
    for (label, path) in [
        ("path traversal in a device path", "/v1/devices/..%2F..%2Fetc%2Fpasswd"),
        ("dot segments", "/v1/../v1/devices/SHS-H/../../api-keys"),
        ("SQL in a path parameter", "/v1/plans/1%27%20OR%20%271%27%3D%271"),
        ("unknown route", "/v1/payments/x/y/z"),
        ("encoded NUL in a path", "/v1/devices/SHS%00H"),
    ] {
        cases.push(case(label, Method::GET, path, None));
    }
    cases.push(case(
        "report with an impossible date",
        Method::GET,
        "/v1/reports/revenue?from=2026-02-30&to=2026-03-01",
        None,
    ));
    cases.push(case(
        "report with reversed range",
        Method::GET,
        "/v1/reports/collection?from=2026-03-01&to=2026-01-01",
        None,
    ));
    cases.push(case("PAR with negative days", Method::GET, "/v1/reports/par?days=-30", None));
    cases.push(case("wrong method", Method::DELETE, "/v1/payments", None));
    let mut no_key =
        case("missing API key", Method::POST, "/v1/payments", Some(payment_with(json!("100"), json!("SHS-H"))));
    no_key.key = None;
    let mut foreign =
        case("foreign API key", Method::POST, "/v1/payments", Some(payment_with(json!("100"), json!("SHS-H"))));
    foreign.key = Some("mp_not-a-key-of-this-server-0000000000");
    let mut viewer_admin =
        case("admin route with a bad key", Method::POST, "/v1/api-keys", Some(json!({"role": "admin"}).to_string()));
    viewer_admin.key = Some("x");
    cases.extend([no_key, foreign, viewer_admin]);
    cases
}

/// Row counts of every table the API writes, to prove nothing was stored.
async fn counts(s: &TestServer) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for table in
        ["customers", "devices", "plans", "payments", "allocations", "tokens", "unmatched_payments", "api_keys"]
    {
        let sql = format!("SELECT COUNT(*) AS n FROM {table}");
        let n: i64 = sqlx::Row::try_get(&sqlx::query(&sql).fetch_one(&s.state.db.pool).await.unwrap(), "n").unwrap();
        out.push((table.to_owned(), n));
    }
    out
}

async fn hostile_inputs_are_refused_and_store_nothing(s: TestServer) {
    let r = registry(&s).await;
    register_shs(&s, &r, "SHS-H").await;
    let before = counts(&s).await;
    let cases = catalog();
    for c in &cases {
        let mut req = s.client.request(c.method.clone(), format!("{}{}", s.base, c.path));
        if let Some(key) = c.key {
            req = req.bearer_auth(key);
        }
        if let Some(body) = &c.body {
            req = req.header("content-type", "application/json").body(body.clone());
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        assert!((400..500).contains(&status), "{}: {status} {text}", c.name);
        let shape: Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{}: not the error shape: {text}", c.name));
        assert!(shape["code"].is_string() && shape["message"].is_string(), "{}: {shape}", c.name);
        println!("hostile: {status} {} — {}", shape["code"].as_str().unwrap_or(""), c.name);
    }
    assert_eq!(counts(&s).await, before, "a hostile request stored something");
    let (_, device) = s.get("/v1/devices/SHS-H").await;
    assert_eq!(device["credit_balance"], "0");
    println!("hostile: {} requests, every one a 4xx with the error shape, nothing stored", cases.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite() {
    let s = TestServer::start(Db::Sqlite, EngineKind::Wasm).await.unwrap();
    hostile_inputs_are_refused_and_store_nothing(s).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres() {
    if let Some(s) = TestServer::start(Db::Postgres, EngineKind::Wasm).await {
        hostile_inputs_are_refused_and_store_nothing(s).await;
    }
}
