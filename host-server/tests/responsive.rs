//! Staying responsive under heavy reads (issue 19): the core is never called on a runtime worker, heavy
//! routes queue behind a small limit and answer 503 with `Retry-After` past its wait, and the export streams
//! in pages with the same lines as before, and the reports fold their records in page by page with the same
//! numbers as one core call over every record.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

#[macro_use]
mod common;

use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use common::*;
use micropower_core::api::{GroupBy, PaymentRecord, PeriodUnit};
use micropower_core::calls::{self, CoreFn};
use micropower_core::export::ExportLine;
use micropower_server::config::{EngineKind, Tz};
use micropower_server::engine::{Engine, EngineError, NativeEngine};
use micropower_server::heavy::HeavyConfig;
use rust_decimal::Decimal;
use serde_json::json;

/// The native core behind the text interface, so every call passes here; a `revenue_report` waits until
/// the test opens the gate (or 20 s pass), and every call notes whether it ran on the test's own thread.
struct Watched {
    test_thread: std::thread::ThreadId,
    on_test_thread: std::sync::atomic::AtomicU32,
    gate: Arc<(Mutex<bool>, Condvar)>,
    /// How the held reports ended: true when the gate opened, false when they gave up waiting.
    released: Mutex<Vec<bool>>,
}

impl Engine for Watched {
    fn call_text(&self, function: &str, input: &str) -> Result<String, EngineError> {
        if std::thread::current().id() == self.test_thread {
            self.on_test_thread.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
        if function == "revenue_report" {
            let (open, opened) = &*self.gate;
            let guard = open.lock().unwrap();
            let (guard, _) = opened.wait_timeout_while(guard, Duration::from_secs(20), |open| !*open).unwrap();
            self.released.lock().unwrap().push(*guard);
        }
        NativeEngine.call_text(function, input)
    }

    fn name(&self) -> &'static str {
        "native"
    }
}

async fn watched_server(db: Db, heavy: HeavyConfig) -> Option<(TestServer, Arc<Watched>)> {
    let dir = tempfile::tempdir().unwrap();
    let url = database_url(db, dir.path()).await?;
    let mut config = test_config(url, dir.path(), EngineKind::Native, Tz::UTC);
    config.heavy = heavy;
    let engine = Arc::new(Watched {
        test_thread: std::thread::current().id(),
        on_test_thread: Default::default(),
        gate: Arc::new((Mutex::new(false), Condvar::new())),
        released: Mutex::new(Vec::new()),
    });
    let server = TestServer::start_with_engine(config, dir, engine.clone()).await;
    Some((server, engine))
}

/// On a one-thread runtime (the test's thread is its only worker) a validation is answered while reports
/// sit in the core: the core runs on the blocking pool, never on the worker. Called on the worker, the held
/// report would stop the runtime, the validation could not be answered, and the report would give up
/// waiting instead of being let go.
async fn a_validation_is_answered_while_reports_are_in_the_core(db: Db) {
    let heavy = HeavyConfig { concurrent: 2, ..HeavyConfig::default() };
    let Some((s, engine)) = watched_server(db, heavy).await else { return };
    let r = registry(&s).await;
    register_shs(&s, &r, "SHS-R1").await;
    let reports: Vec<_> = (0..2)
        .map(|_| {
            let (client, url, key) =
                (s.client.clone(), format!("{}/v1/reports/revenue?currency=TZS", s.base), s.key.clone());
            tokio::spawn(async move { client.get(url).bearer_auth(key).send().await.unwrap().status().as_u16() })
        })
        .collect();
    // Both reports are in the core before the validation is sent.
    for _ in 0..200 {
        if s.state.engine_slots.available_permits() + 2 <= s.state.engine.slots() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let (status, body) =
        s.post("/v1/payments/validate", json!({"serial": "shs-r1", "amount": "700", "currency": "TZS"})).await;
    assert_eq!(status, 200, "{body}");
    let (open, opened) = &*engine.gate;
    *open.lock().unwrap() = true;
    opened.notify_all();
    for report in reports {
        assert_eq!(report.await.unwrap(), 200);
    }
    assert_eq!(*engine.released.lock().unwrap(), vec![true, true], "the reports were let go, not timed out");
    assert_eq!(engine.on_test_thread.load(std::sync::atomic::Ordering::SeqCst), 0, "no core call on the worker");
}

/// Past the heavy-route limit a request waits at most the queue wait, then is refused with 503 `busy` and
/// `Retry-After`, in the error shape; light routes pass meanwhile, and the turn is back once the first ends.
async fn a_heavy_request_beyond_the_limit_is_refused_with_retry_after(db: Db) {
    let heavy = HeavyConfig { concurrent: 1, queue_wait: Duration::from_millis(200), ..HeavyConfig::default() };
    let Some((s, engine)) = watched_server(db, heavy).await else { return };
    let held = {
        let (client, url, key) =
            (s.client.clone(), format!("{}/v1/reports/revenue?currency=TZS", s.base), s.key.clone());
        tokio::spawn(async move { client.get(url).bearer_auth(key).send().await.unwrap().status().as_u16() })
    };
    for _ in 0..200 {
        if s.state.engine_slots.available_permits() < s.state.engine.slots() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let refused = s.client.get(format!("{}/v1/export", s.base)).bearer_auth(&s.key).send().await.unwrap();
    assert_eq!(refused.status().as_u16(), 503);
    assert!(refused.headers().get("retry-after").is_some_and(|v| v.to_str().unwrap().parse::<u64>().unwrap() >= 1));
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["code"], "busy", "{body}");
    let (status, _) = s.get("/v1/clusters").await;
    assert_eq!(status, 200, "a light route is not gated");
    let (open, opened) = &*engine.gate;
    *open.lock().unwrap() = true;
    opened.notify_all();
    assert_eq!(held.await.unwrap(), 200);
    let (status, _) = s.get("/v1/reports/revenue?currency=TZS").await;
    assert_eq!(status, 200, "the turn is free again");
}

/// The export streams each table in pages of 1,000 rows: with more payments and tokens than a page, every
/// one is written once, in the order of (created_at, id), and a second export has the same lines.
async fn the_export_streams_every_row_of_several_pages_once_in_order(s: TestServer) {
    let r = registry(&s).await;
    register_shs(&s, &r, "SHS-E1").await;
    let total = 2_100;
    let mut posted = tokio::task::JoinSet::new();
    for chunk in 0..16 {
        let (client, url, key) = (s.client.clone(), format!("{}/v1/payments", s.base), s.key.clone());
        posted.spawn(async move {
            for i in (chunk..total).step_by(16) {
                let body = payment(&format!("e{i}"), "SHS-E1", "1", "2026-01-02T08:00:00Z");
                let status = client.post(&url).bearer_auth(&key).json(&body).send().await.unwrap().status();
                assert_eq!(status.as_u16(), 201);
            }
        });
    }
    while let Some(done) = posted.join_next().await {
        done.unwrap();
    }
    let export = |s: &TestServer| {
        let request = s.client.get(format!("{}/v1/export", s.base)).bearer_auth(&s.key);
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let first = export(&s).await;
    let ids = |text: &str, kind: &str, field: &str| -> Vec<String> {
        text.lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .filter(|v| v["type"] == kind)
            .map(|v| v[field].as_str().unwrap().to_owned())
            .collect()
    };
    let expected: Vec<String> = sqlx::query_scalar("SELECT id FROM payments ORDER BY created_at, id")
        .fetch_all(&s.state.db.pool)
        .await
        .unwrap();
    assert_eq!(expected.len(), total);
    assert!(ids(&first, "payment", "payment_id") == expected, "every payment once, in order");
    let tokens: Vec<String> =
        sqlx::query_scalar("SELECT id FROM tokens ORDER BY created_at, id").fetch_all(&s.state.db.pool).await.unwrap();
    assert!(tokens.len() > 1_000, "{} tokens", tokens.len());
    assert!(ids(&first, "token", "id") == tokens, "every token once, in order");
    let second = export(&s).await;
    let without_meta = |text: &str| text.lines().skip(1).map(str::to_owned).collect::<Vec<_>>();
    assert!(without_meta(&first) == without_meta(&second), "a second export has the same lines");
    assert!(first.ends_with('\n'));

    // The reports read the same 2,100 payments in three pages; the core continues each page's report from
    // the last, which must give what one call over every exported record gives.
    let records: Vec<PaymentRecord> = first
        .lines()
        .filter_map(|l| match serde_json::from_str(l).unwrap() {
            ExportLine::Payment(p) => Some(p.record),
            _ => None,
        })
        .collect();
    assert_eq!(records.len(), total);
    let (from, to) = ("2026-01-01".parse().unwrap(), "2026-01-31".parse().unwrap());
    let revenue = calls::RevenueReport {
        payments: records.clone(),
        currency: "TZS".into(),
        from,
        to,
        group_by: PeriodUnit::Day,
        by: GroupBy::Kind,
        so_far: None,
        names: Default::default(),
    }
    .call()
    .unwrap();
    assert!(revenue.total > Decimal::ZERO);
    let (status, served) =
        s.get("/v1/reports/revenue?currency=TZS&from=2026-01-01&to=2026-01-31&group_by=day&by=kind").await;
    assert_eq!(status, 200, "{served}");
    assert_eq!(served, serde_json::to_value(&revenue).unwrap());
    let energy =
        calls::EnergySold { payments: records, currency: None, from, to, group_by: PeriodUnit::Week, so_far: None };
    let (status, served) = s.get("/v1/reports/energy?from=2026-01-01&to=2026-01-31&group_by=week").await;
    assert_eq!(status, 200, "{served}");
    assert_eq!(served, serde_json::to_value(energy.call().unwrap()).unwrap());
}

mod validation_during_reports {
    #[tokio::test(flavor = "current_thread")]
    async fn sqlite() {
        super::a_validation_is_answered_while_reports_are_in_the_core(super::Db::Sqlite).await;
    }
    #[tokio::test(flavor = "current_thread")]
    async fn postgres() {
        super::a_validation_is_answered_while_reports_are_in_the_core(super::Db::Postgres).await;
    }
}

mod heavy_limit {
    #[tokio::test(flavor = "current_thread")]
    async fn sqlite() {
        super::a_heavy_request_beyond_the_limit_is_refused_with_retry_after(super::Db::Sqlite).await;
    }
    #[tokio::test(flavor = "current_thread")]
    async fn postgres() {
        super::a_heavy_request_beyond_the_limit_is_refused_with_retry_after(super::Db::Postgres).await;
    }
}

on_both_databases!(the_export_streams_every_row_of_several_pages_once_in_order);
