//! Customer SMS: the outbox row is written with the payment, the worker delivers it through a local fake
//! gateway (generic JSON and Africa's Talking's format), retries with backoff when the gateway fails, waits
//! for a vendor's pending token, and uses operator-edited templates. Installment reminders: due in 3 days,
//! overdue, already reminded.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[macro_use]
mod common;

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use common::*;
use micropower_server::config::EngineKind;
use micropower_server::notify::{self, gateway, reminders};
use serde_json::{json, Value};

on_both_databases!(
    payment_sms_survives_a_flaky_gateway,
    africas_talking_waits_for_the_vendor_token,
    reminders_once_per_installment
);

/// A local SMS gateway that fails the first `fail` requests with HTTP 500, then accepts, recording every
/// request's headers and body.
#[derive(Clone, Default)]
struct FakeGateway {
    fail: Arc<AtomicU32>,
    seen: Arc<Mutex<Vec<(HeaderMap, String)>>>,
}

async fn fake_handler(State(fake): State<FakeGateway>, headers: HeaderMap, body: String) -> (StatusCode, String) {
    fake.seen.lock().unwrap().push((headers, body));
    if fake.fail.load(Ordering::SeqCst) > 0 {
        fake.fail.fetch_sub(1, Ordering::SeqCst);
        return (StatusCode::INTERNAL_SERVER_ERROR, "down".into());
    }
    let answer = json!({"SMSMessageData": {"Message": "Sent to 1/1 Total Cost: KES 0.8000",
        "Recipients": [{"statusCode": 101, "number": "+255712300000", "status": "Success", "cost": "KES 0.8000", "messageId": "ATXid_1"}]}});
    (StatusCode::CREATED, answer.to_string())
}

impl FakeGateway {
    async fn start(fail: u32) -> (FakeGateway, String) {
        let fake = FakeGateway { fail: Arc::new(AtomicU32::new(fail)), ..FakeGateway::default() };
        let app = axum::Router::new().route("/sms", axum::routing::post(fake_handler)).with_state(fake.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/sms", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (fake, url)
    }

    fn requests(&self) -> Vec<(HeaderMap, String)> {
        self.seen.lock().unwrap().clone()
    }
}

async fn outbox(s: &TestServer) -> Vec<Value> {
    s.get("/v1/notifications").await.1["items"].as_array().unwrap().clone()
}

/// Makes every pending notification due now, instead of after its backoff.
async fn make_due(s: &TestServer) {
    sqlx::query("UPDATE notifications SET next_attempt = '2000-01-01T00:00:00.000Z' WHERE status = 'pending'")
        .execute(&s.state.db.pool)
        .await
        .unwrap();
}

async fn payment_sms_survives_a_flaky_gateway(s: TestServer) {
    let r = registry(&s).await;
    let reg = register_shs(&s, &r, "SHS-N1").await;
    let phone = reg["customer"]["phones"][0]
        .as_str()
        .map(str::to_owned)
        .unwrap_or_else(|| reg["customer"]["phone"].as_str().unwrap().to_owned());
    let paid = s.ok("/v1/payments", payment("n1", "SHS-N1", "800", "2026-01-02T08:00:00Z"), 201).await;
    let queued = outbox(&s).await;
    assert_eq!(queued.len(), 1, "queued with the payment");
    assert_eq!(
        (queued[0]["status"].as_str(), queued[0]["payment_id"].as_str()),
        (Some("pending"), paid["payment_id"].as_str())
    );
    assert_eq!(queued[0]["phone"], phone.as_str(), "the customer's registered phone");

    let (fake, url) = FakeGateway::start(2).await;
    let gw = gateway::JsonGateway::new(&url, Some("gw-token".into())).unwrap();
    assert_eq!(notify::run_once(&s.state, &gw).await.unwrap(), 0, "first attempt: gateway down");
    let after_one = outbox(&s).await;
    assert_eq!((after_one[0]["status"].as_str(), after_one[0]["attempts"].as_i64()), (Some("pending"), Some(1)));
    assert!(after_one[0]["last_error"].as_str().unwrap().contains("500"));
    assert_eq!(notify::run_once(&s.state, &gw).await.unwrap(), 0, "not due yet: backing off");
    assert_eq!(fake.requests().len(), 1);
    make_due(&s).await;
    assert_eq!(notify::run_once(&s.state, &gw).await.unwrap(), 0, "second attempt: still down");
    make_due(&s).await;
    assert_eq!(notify::run_once(&s.state, &gw).await.unwrap(), 1, "third attempt: sent");
    let sent = outbox(&s).await;
    assert_eq!((sent[0]["status"].as_str(), sent[0]["attempts"].as_i64()), (Some("sent"), Some(3)));
    let requests = fake.requests();
    assert_eq!(requests.len(), 3);
    let (headers, body) = &requests[2];
    assert_eq!(headers["authorization"], "Bearer gw-token");
    let body: Value = serde_json::from_str(body).unwrap();
    let code = paid["tokens"][0]["code"].as_str().unwrap();
    let name = reg["customer"]["surname"].as_str().unwrap();
    assert_eq!(body["to"], phone.as_str());
    assert_eq!(
        body["message"],
        format!("Dear Amina {name}, your transaction is confirmed. Device Serial: SHSN1. Token: {code}, Duration: 8 days. Amount: 800.")
    );
    make_due(&s).await;
    assert_eq!(notify::run_once(&s.state, &gw).await.unwrap(), 0, "sent once, never again");

    // Operator-edited template (a typo'd placeholder is refused), and a payment that buys no token.
    let (code, bad) = s.put("/v1/sms-templates/no_token", json!({"text": "Hi {nmae}"})).await;
    assert_eq!((code, bad["field"].as_str()), (400, Some("text")));
    let (code, _) = s
        .put("/v1/sms-templates/no_token", json!({"text": "Asante {name}! {amount} {currency} received for {serial}."}))
        .await;
    assert_eq!(code, 200);
    let tariff = json!({"name": "Weekly fee", "currency": "TZS", "price_per_kwh": "500", "access_rate": {"amount": "300", "period_days": 7}});
    register_meter(&s, &r, "MTR-N2", tariff).await;
    let small = s.ok("/v1/payments", payment("n2", "MTR-N2", "100", "2026-01-08T09:00:00Z"), 201).await;
    assert!(small["tokens"].as_array().unwrap().is_empty());
    assert_eq!(notify::run_once(&s.state, &gw).await.unwrap(), 1);
    let last = fake.requests().pop().unwrap();
    let body: Value = serde_json::from_str(&last.1).unwrap();
    assert_eq!(body["message"], "Asante Amina! 100 TZS received for MTRN2.");
    let (_, templates) = s.get("/v1/sms-templates").await;
    let meter = templates["templates"].as_array().unwrap().iter().find(|t| t["name"] == "meter_token").unwrap().clone();
    assert_eq!(
        meter["text"],
        "Dear {name} {surname}, your transaction is confirmed. Meter Serial: {serial}. Token: {token}, Energy: {kwh} kWh."
    );
}

async fn africas_talking_waits_for_the_vendor_token(s: TestServer) {
    let r = registry(&s).await;
    let reg =
        register_meter(&s, &r, "MTR-AT", json!({"name": "Flat", "currency": "TZS", "price_per_kwh": "500"})).await;
    let paid = s.ok("/v1/payments", payment("at1", "MTR-AT", "700", "2026-01-10T08:00:00Z"), 201).await;
    assert_eq!(paid["status"], "token_pending");
    let (fake, url) = FakeGateway::start(0).await;
    let at = gateway::AfricasTalking::new(&url, "sandbox", "at-api-key", Some("MICROPOWER".into())).unwrap();
    assert_eq!(notify::run_once(&s.state, &at).await.unwrap(), 0, "the token is not made yet");
    assert!(fake.requests().is_empty());
    assert_eq!(outbox(&s).await[0]["attempts"], 0, "waiting for a token spends no attempt");
    // The vendor fills the token; the SMS goes out with it.
    struct Vendor;
    impl micropower_server::vendor::VendorAdapter for Vendor {
        fn fulfil<'a>(
            &'a self,
            _: &'a micropower_server::vendor::VendorRequest,
        ) -> micropower_server::vendor::VendorFuture<'a> {
            Box::pin(async { Ok("4455-6677-8899".to_owned()) })
        }
    }
    assert_eq!(micropower_server::vendor::run_once(&s.state, &Vendor).await.unwrap(), 1);
    make_due(&s).await;
    assert_eq!(notify::run_once(&s.state, &at).await.unwrap(), 1);
    let requests = fake.requests();
    assert_eq!(requests.len(), 1);
    let (headers, body) = &requests[0];
    assert_eq!(headers["apikey"], "at-api-key");
    assert_eq!(headers["accept"], "application/json");
    assert!(headers["content-type"].to_str().unwrap().starts_with("application/x-www-form-urlencoded"));
    let form: std::collections::HashMap<String, String> =
        reqwest::Url::parse(&format!("http://form.invalid/?{body}")).unwrap().query_pairs().into_owned().collect();
    assert_eq!(form["username"], "sandbox");
    assert_eq!(form["from"], "MICROPOWER");
    assert_eq!(
        form["to"],
        reg["customer"]["phones"][0].as_str().unwrap_or_else(|| reg["customer"]["phone"].as_str().unwrap())
    );
    let name = reg["customer"]["surname"].as_str().unwrap();
    assert_eq!(
        form["message"],
        format!("Dear Amina {name}, your transaction is confirmed. Meter Serial: MTRAT. Token: 4455-6677-8899, Energy: 1.4 kWh.")
    );
    assert_eq!(outbox(&s).await[0]["status"], "sent");
}

async fn reminders_once_per_installment(s: TestServer) {
    let r = registry(&s).await;
    // Weekly 3 × 700 from 2026-01-01: installment 1 due 2026-01-08, 2 due 01-15, 3 due 01-22.
    let reg = register_shs(&s, &r, "SHS-RM").await;
    let settings = reminders::ReminderSettings { days_before: 3, days_after: 1, hour: 7 };
    let day = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap();
    assert_eq!(reminders::run_once(&s.state, day("2026-01-04"), settings).await.unwrap(), 0, "due in 4 days: not yet");
    assert_eq!(reminders::run_once(&s.state, day("2026-01-05"), settings).await.unwrap(), 1, "due in 3 days");
    assert_eq!(reminders::run_once(&s.state, day("2026-01-06"), settings).await.unwrap(), 0, "already reminded");
    assert_eq!(
        reminders::run_once(&s.state, day("2026-01-08"), settings).await.unwrap(),
        0,
        "due today, not yet overdue"
    );
    assert_eq!(reminders::run_once(&s.state, day("2026-01-09"), settings).await.unwrap(), 1, "overdue");
    assert_eq!(reminders::run_once(&s.state, day("2026-01-09"), settings).await.unwrap(), 0, "already reminded");
    let name = reg["customer"]["surname"].as_str().unwrap();
    let messages: Vec<String> = outbox(&s)
        .await
        .iter()
        .filter(|n| n["kind"] == "reminder")
        .map(|n| n["message"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(messages.len(), 2);
    assert!(
        messages.contains(&format!("Dear Amina {name}, your installment of 700 TZS for SHS 80W is due on 2026-01-08.")),
        "{messages:?}"
    );
    assert!(
        messages.contains(&format!(
            "Dear Amina {name}, your installment of 700 TZS for SHS 80W was due on 2026-01-08 and is not paid yet."
        )),
        "{messages:?}"
    );
    // Paying installment 1 and part of 2: the next reminder is for what remains on installment 2.
    s.ok("/v1/payments", payment("rm1", "SHS-RM", "1000", "2026-01-10T08:00:00Z"), 201).await;
    assert_eq!(reminders::run_once(&s.state, day("2026-01-12"), settings).await.unwrap(), 1);
    let latest = outbox(&s).await.into_iter().find(|n| n["kind"] == "reminder").unwrap();
    assert!(latest["message"].as_str().unwrap().contains("installment of 400 TZS"), "{latest}");
    assert_eq!(
        reminders::run_once(&s.state, day("2026-01-30"), settings).await.unwrap(),
        1,
        "2 overdue; 3 overdue is not reminded in the same run"
    );
}
