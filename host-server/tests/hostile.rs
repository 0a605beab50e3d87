//! The hostile-input catalog: malformed JSON, wrong types, oversized bodies, negative / zero / huge /
//! 1,000-digit amounts, unicode and SQL-looking serials, path tricks, missing and foreign API keys; and at
//! the provider hooks: NUL characters in signed bodies, path traversal (sent raw, so no client resolves the
//! dot segments first), wrong, expired and unparsable signatures, unknown path secrets. Every one must get a
//! 4xx with the error shape, and none may store anything: afterwards the database holds exactly what the
//! set-up wrote, except the raw hook deliveries kept by design, each marked refused. On SQLite and on
//! PostgreSQL. `--nocapture` prints the catalog (the count goes into RELIABILITY.md through
//! `scripts/reliability.sh`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::*;
use micropower_server::config::EngineKind;
use micropower_server::providers::signature::sign;
use reqwest::Method;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// One hostile request: what it is, and how it is sent.
struct Case {
    name: String,
    method: Method,
    path: String,
    body: Option<String>,
    key: Option<&'static str>,
    headers: Vec<(&'static str, String)>,
    /// Written on the socket as is: an HTTP client would resolve `..` and `%2e%2e` segments before sending.
    raw: bool,
    /// A secret the request carries that the answer must not repeat.
    never_echo: Option<String>,
}

fn case(name: &str, method: Method, path: &str, body: Option<String>) -> Case {
    Case {
        name: name.into(),
        method,
        path: path.into(),
        body,
        key: Some(ADMIN_KEY),
        headers: Vec::new(),
        raw: false,
        never_echo: None,
    }
}

/// A POST to a hook: no API key (providers have none), optional headers.
fn hook_case(name: &str, path: &str, body: String, headers: Vec<(&'static str, String)>) -> Case {
    Case {
        name: name.into(),
        method: Method::POST,
        path: path.into(),
        body: Some(body),
        key: None,
        headers,
        raw: false,
        never_echo: None,
    }
}

/// A hook POST whose path is written on the socket unchanged.
fn raw_case(name: &str, path: &str) -> Case {
    Case { raw: true, ..hook_case(name, path, "{}".into(), Vec::new()) }
}

/// The hook paths of the three providers the set-up configures.
struct Hooks {
    validation: String,
    confirmation: String,
    wave: String,
    hmac_validate: String,
    hmac_payments: String,
}

const WAVE_SECRET: &str = "wave-signing-secret-hostile";
const AGG_SECRET: &str = "aggregator-secret-hostile";

async fn configure_providers(s: &TestServer) -> Hooks {
    let daraja =
        s.ok("/v1/providers", json!({"kind": "daraja_c2b", "shortcode": "600984", "currency": "KES"}), 201).await;
    let wave = s.ok("/v1/providers", json!({"kind": "wave", "secret": WAVE_SECRET, "currency": "TZS"}), 201).await;
    let hmac = s
        .ok(
            "/v1/providers",
            json!({"kind": "generic_hmac", "secret": AGG_SECRET, "currency": "TZS", "name": "agg"}),
            201,
        )
        .await;
    let path = |v: &Value, key: &str| v["hook_paths"][key].as_str().unwrap().to_owned();
    Hooks {
        validation: path(&daraja, "validation"),
        confirmation: path(&daraja, "confirmation"),
        wave: path(&wave, "webhook"),
        hmac_validate: path(&hmac, "validate"),
        hmac_payments: path(&hmac, "payments"),
    }
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

fn c2b(trans_id: &str, bill_ref: &str) -> String {
    json!({"TransactionType": "Pay Bill", "TransID": trans_id, "TransTime": "20260102081325", "TransAmount": "100.00",
           "BusinessShortCode": "600984", "BillRefNumber": bill_ref, "InvoiceNumber": "", "OrgAccountBalance": "",
           "ThirdPartyTransID": "", "MSISDN": "2547 ***** 126", "FirstName": "N", "MiddleName": "", "LastName": ""})
    .to_string()
}

fn wave_event(id: &str, tx: &str, serial: &str) -> String {
    json!({"id": id, "type": "checkout.session.completed",
           "data": {"id": format!("cos-{tx}"), "amount": "100", "currency": "TZS", "checkout_status": "complete",
                    "payment_status": "succeeded", "transaction_id": tx, "client_reference": serial,
                    "when_completed": "2026-01-02T08:00:19Z"}})
    .to_string()
}

fn wave_signed(body: &str, t: i64, secret: &str) -> Vec<(&'static str, String)> {
    vec![("Wave-Signature", sign(secret.as_bytes(), t, b"", body.as_bytes()))]
}

fn hmac_signed(body: &str, t: i64, secret: &str) -> Vec<(&'static str, String)> {
    vec![("X-Signature", sign(secret.as_bytes(), t, b".", body.as_bytes()))]
}

fn hmac_payment(tx: &str, serial: &str) -> String {
    json!({"provider": "agg", "provider_tx_id": tx, "serial": serial, "amount": "100", "currency": "TZS",
           "received_at": "2026-01-02T08:00:00Z"})
    .to_string()
}

/// Registrations of OpenPAYGO devices whose key is mistyped: refused, and the answer never repeats the key
/// (a mistyped key is nearly the key, and error messages reach logs and screens).
fn mistyped_openpaygo_keys(r: &Registry) -> Vec<Case> {
    let mistyped: [(&str, Value); 5] = [
        ("two letters past f", json!("a29ab82edc5fbbc41ec9530f6dac86zz")),
        ("one character short", json!("a29ab82edc5fbbc41ec9530f6dac86b")),
        ("one character too many", json!("a29ab82edc5fbbc41ec9530f6dac86b1a")),
        ("a space inside", json!("a29ab82edc5fbbc4 1ec9530f6dac86b1")),
        ("typed as a number", json!(29_821_005_745_415_413_u64)),
    ];
    mistyped
        .into_iter()
        .map(|(what, key)| {
            let body = json!({
                "customer": new_customer(&r.village),
                "device": {"serial": "OPG-MISTYPED", "kind": "solar_home_system", "manufacturer_id": r.shs_maker,
                           "openpaygo": {"secret_key": key, "starting_code": 123456789, "count": 0}},
                "registered_on": "2026-01-01"
            });
            let secret = match &key {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            Case {
                never_echo: Some(secret),
                ..case(
                    &format!("OpenPAYGO key mistyped: {what}"),
                    Method::POST,
                    "/v1/registrations",
                    Some(body.to_string()),
                )
            }
        })
        .collect()
}

/// The 64-hex secret segment of a hook path (`/hooks/<kind>/<secret>[/…]`).
fn secret_of(path: &str) -> &str {
    path.split('/').nth(3).unwrap()
}

fn hook_catalog(h: &Hooks) -> Vec<Case> {
    let t = now();
    let zeros = "0".repeat(64);
    let mut cases = Vec::new();
    // NUL characters in validly signed (or unsigned, for Daraja) bodies: PostgreSQL cannot store them.
    for (label, body) in [
        ("hook: NUL in a Daraja confirmation's TransID", c2b("RKH\u{0}", "SHS-H")),
        ("hook: NUL in a Daraja confirmation's BillRefNumber", c2b("RKH2", "SHS\u{0}H")),
        ("hook: NUL in a Daraja confirmation's ignored field", c2b("RKH3", "SHS-H").replace("\"N\"", "\"N\\u0000\"")),
    ] {
        cases.push(hook_case(label, &h.confirmation, body, Vec::new()));
    }
    for (label, body) in [
        ("hook: NUL in a Wave event id", wave_event("AE_\u{0}", "TW1", "SHS-H")),
        ("hook: NUL in a Wave client_reference", wave_event("AE_H2", "TW2", "SHS\u{0}H")),
        ("hook: NUL in a Wave transaction_id", wave_event("AE_H3", "TW\u{0}3", "SHS-H")),
    ] {
        let headers = wave_signed(&body, t, WAVE_SECRET);
        cases.push(hook_case(label, &h.wave, body, headers));
    }
    let nul_payment = hmac_payment("GH\u{0}1", "SHS-H");
    let nul_serial = hmac_payment("GH2", "SHS\u{0}H");
    let nul_validate = json!({"serial": "SHS\u{0}H", "amount": "100", "currency": "TZS"}).to_string();
    for (label, path, body) in [
        ("hook: NUL in a generic HMAC payment's provider_tx_id", &h.hmac_payments, nul_payment),
        ("hook: NUL in a generic HMAC payment's serial", &h.hmac_payments, nul_serial),
        ("hook: NUL in a generic HMAC validation's serial", &h.hmac_validate, nul_validate),
    ] {
        let headers = hmac_signed(&body, t, AGG_SECRET);
        cases.push(hook_case(label, path, body, headers));
    }

    // Wrong, expired, future, unparsable and missing signatures; a body changed after signing.
    let wave_ok = wave_event("AE_H9", "TW9", "SHS-H");
    let wave_other = wave_ok.replace("\"100\"", "\"100000\"");
    for (label, headers, body) in [
        ("hook: Wave signed with another secret", wave_signed(&wave_ok, t, "not-the-wave-secret-0000"), &wave_ok),
        ("hook: Wave signature expired (400 s old)", wave_signed(&wave_ok, t - 400, WAVE_SECRET), &wave_ok),
        ("hook: Wave signature from the future (+400 s)", wave_signed(&wave_ok, t + 400, WAVE_SECRET), &wave_ok),
        ("hook: Wave body changed after signing", wave_signed(&wave_ok, t, WAVE_SECRET), &wave_other),
        ("hook: Wave signature with the generic separator", hmac_signed(&wave_ok, t, WAVE_SECRET), &wave_ok),
        ("hook: Wave without a signature", Vec::new(), &wave_ok),
        ("hook: Wave signature not t=…,v1=…", vec![("Wave-Signature", "sha256=abcdef".to_owned())], &wave_ok),
        (
            "hook: Wave signature timestamp at i64::MIN",
            vec![("Wave-Signature", format!("t={},v1=00", i64::MIN))],
            &wave_ok,
        ),
    ] {
        cases.push(hook_case(label, &h.wave, body.clone(), headers));
    }
    let pay_ok = hmac_payment("GH9", "SHS-H");
    let pay_other = pay_ok.replace("\"100\"", "\"100000\"");
    for (label, headers, body) in [
        ("hook: generic HMAC signed with another secret", hmac_signed(&pay_ok, t, "not-the-agg-secret-00000"), &pay_ok),
        ("hook: generic HMAC signature expired (301 s old)", hmac_signed(&pay_ok, t - 301, AGG_SECRET), &pay_ok),
        ("hook: generic HMAC signature from the future (+400 s)", hmac_signed(&pay_ok, t + 400, AGG_SECRET), &pay_ok),
        ("hook: generic HMAC body changed after signing", hmac_signed(&pay_ok, t, AGG_SECRET), &pay_other),
        ("hook: generic HMAC with Wave's separator-less signature", wave_signed(&pay_ok, t, AGG_SECRET), &pay_ok),
        ("hook: generic HMAC without a signature", Vec::new(), &pay_ok),
        (
            "hook: generic HMAC signature timestamp past i64::MAX",
            vec![("X-Signature", "t=99999999999999999999,v1=00".to_owned())],
            &pay_ok,
        ),
    ] {
        cases.push(hook_case(label, &h.hmac_payments, body.clone(), headers));
    }

    // Unknown path secrets, and one provider's secret on another kind's path.
    let wave_with_zeros = h.wave.replace(secret_of(&h.wave), &zeros);
    let hmac_with_zeros = h.hmac_payments.replace(secret_of(&h.hmac_payments), &zeros);
    let daraja_secret_on_wave = format!("/hooks/wave/{}", secret_of(&h.validation));
    let wave_secret_on_hmac = format!("/hooks/hmac/{}/payments", secret_of(&h.wave));
    for (label, path, body, headers) in [
        (
            "hook: unknown Daraja validation secret",
            h.validation.replace(secret_of(&h.validation), &zeros),
            c2b("RKH9", "SHS-H"),
            Vec::new(),
        ),
        (
            "hook: unknown Daraja confirmation secret",
            h.confirmation.replace(secret_of(&h.confirmation), &zeros),
            c2b("RKH9", "SHS-H"),
            Vec::new(),
        ),
        ("hook: unknown Wave secret", wave_with_zeros, wave_ok.clone(), wave_signed(&wave_ok, t, WAVE_SECRET)),
        ("hook: unknown generic HMAC secret", hmac_with_zeros, pay_ok.clone(), hmac_signed(&pay_ok, t, AGG_SECRET)),
        ("hook: short secret", "/hooks/wave/abc".to_owned(), wave_ok.clone(), wave_signed(&wave_ok, t, WAVE_SECRET)),
        (
            "hook: a Daraja secret on the Wave path",
            daraja_secret_on_wave,
            wave_ok.clone(),
            wave_signed(&wave_ok, t, WAVE_SECRET),
        ),
        (
            "hook: a Wave secret on the generic HMAC path",
            wave_secret_on_hmac,
            pay_ok.clone(),
            hmac_signed(&pay_ok, t, WAVE_SECRET),
        ),
    ] {
        cases.push(hook_case(label, &path, body, headers));
    }

    // Path traversal out of the hooks, written raw: dot segments, encoded dots, encoded slashes.
    let c2b_secret = secret_of(&h.confirmation);
    let wave_secret = secret_of(&h.wave);
    for (label, path) in [
        ("hook: dot segments out of a hook path", "/hooks/daraja/../../v1/payments".to_owned()),
        ("hook: dot segments after a valid secret", format!("/hooks/c2b/{c2b_secret}/../../../v1/payments")),
        ("hook: encoded dot segments (%2e%2e)", "/hooks/c2b/%2e%2e/%2e%2e/v1/payments".to_owned()),
        ("hook: encoded slashes in the secret segment", "/hooks/wave/..%2F..%2Fv1%2Fpayments".to_owned()),
        ("hook: encoded slashes after a valid secret", format!("/hooks/wave/{wave_secret}%2F..%2F..%2Fv1%2Fpayments")),
        ("hook: double-encoded dots", format!("/hooks/c2b/{c2b_secret}/%252e%252e/confirmation")),
        ("hook: encoded NUL in the secret segment", format!("/hooks/wave/{wave_secret}%00")),
    ] {
        cases.push(raw_case(label, &path));
    }
    cases
}

/// Sends a request on a fresh connection with the request target exactly as given; returns status and body.
async fn send_raw(base: &str, c: &Case) -> (u16, String) {
    let authority = base.trim_start_matches("http://");
    let body = c.body.clone().unwrap_or_default();
    let request = format!(
        "{} {} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        c.method,
        c.path,
        body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(authority).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    // The error shape is one JSON object; taking it from the first `{` to the last `}` also reads a chunked body.
    let json = match (answer.find('{'), answer.rfind('}')) {
        (Some(start), Some(end)) if start < end => answer[start..=end].to_owned(),
        _ => answer.clone(),
    };
    (status, json)
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
        // Resolved by the client to a path no route serves (GET /v1/api-keys is a list now, so not that one).
        ("dot segments", "/v1/../v1/devices/SHS-H/../../key-store"),
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
    cases.push(case(
        "statement with reversed range",
        Method::GET,
        "/v1/customers/x/statement?from=2026-03-01&to=2026-01-01",
        None,
    ));
    cases.push(case("statement with an impossible date", Method::GET, "/v1/customers/x/statement?to=2026-02-30", None));
    cases.push(case("statement of an unknown customer", Method::GET, "/v1/customers/x%27--/statement", None));
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
    cases.extend(audit_keys_and_bulk_token_cases());
    cases
}

/// The routes of the security review (issue 19): the audit list, API keys with an expiry, and bulk tokens.
fn audit_keys_and_bulk_token_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    for (label, query) in [
        ("audit list with an impossible date", "from=2026-02-30"),
        ("audit list with a limit of a million", "limit=1000000"),
        ("audit list with a forged cursor", "cursor=%27%3B%20DROP%20TABLE%20audit_log%3B%20--"),
        ("audit list filtered by an SQL-looking date", "to=%27%20OR%201%3D1"),
    ] {
        cases.push(case(label, Method::GET, &format!("/v1/audit?{query}"), None));
    }
    for (label, body) in [
        ("API key that expired before it was made", json!({"role": "viewer", "expires_at": "2000-01-01T00:00:00Z"})),
        ("API key expiring 'tomorrow'", json!({"role": "viewer", "expires_at": "tomorrow"})),
        ("API key expiring at a number", json!({"role": "viewer", "expires_at": 1e12})),
        ("API key of an unknown role", json!({"role": "root"})),
        ("API key with a label of 100,000 characters", json!({"role": "viewer", "label": "l".repeat(100_000)})),
    ] {
        cases.push(case(label, Method::POST, "/v1/api-keys", Some(body.to_string())));
    }
    let bulk = |serials: Value, kind: &str, days: Value, reason: &str| {
        json!({"serials": serials, "kind": kind, "days": days, "reason": reason}).to_string()
    };
    let too_many: Vec<String> = (0..10_001).map(|i| format!("SHS-{i}")).collect();
    for (label, body) in [
        ("bulk tokens for no serial", bulk(json!([]), "add_time", json!("7"), "outage")),
        ("bulk tokens for an unknown serial", bulk(json!(["SHS-H", "NOPE-1"]), "add_time", json!("7"), "outage")),
        ("bulk tokens naming a serial twice", bulk(json!(["SHS-H", "shs-h"]), "add_time", json!("7"), "outage")),
        ("bulk tokens for 10,001 serials", bulk(json!(too_many), "add_time", json!("7"), "outage")),
        ("bulk tokens of an unknown kind", bulk(json!(["SHS-H"]), "free_energy", json!("7"), "outage")),
        ("bulk tokens of negative days", bulk(json!(["SHS-H"]), "add_time", json!("-7"), "outage")),
        ("bulk tokens of 1e30 days", bulk(json!(["SHS-H"]), "add_time", json!("1e30"), "outage")),
        ("bulk tokens without a reason", bulk(json!(["SHS-H"]), "add_time", json!("7"), " ")),
        ("bulk tokens with an SQL-looking serial", bulk(json!(["' OR '1'='1"]), "add_time", json!("7"), "outage")),
    ] {
        cases.push(case(label, Method::POST, "/v1/tokens/bulk", Some(body)));
    }
    let csv = |name: &str, body: &str, query: &str| {
        let mut c = case(name, Method::POST, &format!("/v1/tokens/bulk?{query}"), Some(body.to_owned()));
        c.headers.push(("content-type", "text/csv".to_owned()));
        c
    };
    cases.push(csv("bulk-token CSV without a serial column", "device\nSHS-H\n", "kind=add_time&days=7&reason=outage"));
    cases.push(csv(
        "bulk-token CSV that is binary",
        "\u{0}\u{1}\u{2}PK\u{3}\u{4}",
        "kind=add_time&days=7&reason=outage",
    ));
    cases.push(csv("bulk-token CSV without its kind", "serial\nSHS-H\n", "reason=outage"));
    cases
}

/// Row counts of every table the API and the hooks write (but the kept raw deliveries, see
/// [`kept_deliveries`]), to prove nothing was stored.
async fn counts(s: &TestServer) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for table in [
        "customers",
        "devices",
        "plans",
        "payments",
        "allocations",
        "tokens",
        "unmatched_payments",
        "api_keys",
        "providers",
        "provider_validations",
        "payment_conflicts",
        "audit_log",
    ] {
        let sql = format!("SELECT COUNT(*) AS n FROM {table}");
        let n: i64 = sqlx::Row::try_get(&sqlx::query(&sql).fetch_one(&s.state.db.pool).await.unwrap(), "n").unwrap();
        out.push((table.to_owned(), n));
    }
    out
}

/// Raw hook deliveries by outcome. A delivery reaching a known hook is kept raw before the answer (the
/// providers' audit trail) once its signature, where the provider signs, is good: a malformed one adds a row
/// marked with why it was refused, and nothing else; a badly signed one adds nothing.
async fn kept_deliveries(s: &TestServer) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT outcome, COUNT(*) FROM hook_events GROUP BY outcome ORDER BY outcome")
        .fetch_all(&s.state.db.pool)
        .await
        .unwrap()
}

async fn hostile_inputs_are_refused_and_store_nothing(s: TestServer) {
    let r = registry(&s).await;
    register_shs(&s, &r, "SHS-H").await;
    let hooks = configure_providers(&s).await;
    let before = counts(&s).await;
    assert!(kept_deliveries(&s).await.is_empty());
    let mut cases = catalog();
    cases.extend(hook_catalog(&hooks));
    cases.extend(mistyped_openpaygo_keys(&r));
    for c in &cases {
        let (status, text) = if c.raw {
            send_raw(&s.base, c).await
        } else {
            let mut req = s.client.request(c.method.clone(), format!("{}{}", s.base, c.path));
            if let Some(key) = c.key {
                req = req.bearer_auth(key);
            }
            for (name, value) in &c.headers {
                req = req.header(*name, value);
            }
            if let Some(body) = &c.body {
                if !c.headers.iter().any(|(name, _)| name.eq_ignore_ascii_case("content-type")) {
                    req = req.header("content-type", "application/json");
                }
                req = req.body(body.clone());
            }
            let resp = req.send().await.unwrap_or_else(|e| panic!("{}: no answer: {e}", c.name));
            let status = resp.status().as_u16();
            (status, resp.text().await.unwrap())
        };
        assert!((400..500).contains(&status), "{}: {status} {text}", c.name);
        let shape: Value =
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{}: not the error shape: {text}", c.name));
        assert!(shape["code"].is_string() && shape["message"].is_string(), "{}: {shape}", c.name);
        if let Some(secret) = &c.never_echo {
            // Neither whole nor in part (a distinctive run of 8 characters).
            let runs: Vec<&str> = (0..secret.len().saturating_sub(8)).filter_map(|i| secret.get(i..i + 8)).collect();
            assert!(!runs.iter().any(|run| text.contains(run)), "{}: the secret comes back in {text}", c.name);
        }
        println!("hostile: {status} {} — {}", shape["code"].as_str().unwrap_or(""), c.name);
    }
    assert_eq!(counts(&s).await, before, "a hostile request stored something");
    for (outcome, _) in kept_deliveries(&s).await {
        assert!(["malformed", "bad_signature"].contains(&outcome.as_str()), "a hostile delivery was {outcome}");
    }
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
