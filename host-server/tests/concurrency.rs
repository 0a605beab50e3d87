//! Concurrency guarantees, on SQLite and on PostgreSQL: 100 copies of one delivery at once credit once;
//! 100 different payments at once on one device apply one after the other (the device ends exactly as if
//! they had arrived in turn); and two servers on one PostgreSQL database keep both guarantees.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::sync::Arc;

use common::*;
use micropower_server::config::EngineKind;
use serde_json::Value;

const COPIES: usize = 100;

macro_rules! on_both_databases {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let s = super::TestServer::start(super::Db::Sqlite, super::EngineKind::Wasm).await.unwrap();
                let s = std::sync::Arc::new(s);
                super::$scenario(s.clone(), s).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                if let Some(s) = super::TestServer::start(super::Db::Postgres, super::EngineKind::Wasm).await {
                    let s = std::sync::Arc::new(s);
                    super::$scenario(s.clone(), s).await;
                }
            }
            /// The same scenario with its requests spread over two servers sharing one database.
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn two_servers_on_postgres() {
                match super::TestServer::pair_on_postgres(super::EngineKind::Wasm).await {
                    Some((a, b)) => super::$scenario(std::sync::Arc::new(a), std::sync::Arc::new(b)).await,
                    None => assert!(std::env::var("CI").is_err(), "MICROPOWER_TEST_POSTGRES_URL must be set in CI"),
                }
            }
        }
    )*};
}

on_both_databases!(copies_of_one_delivery_credit_once, different_payments_on_one_device_apply_in_turn);

/// Posts every body at once, alternating between the two servers; returns the answers in posting order.
async fn post_all_at_once(a: &Arc<TestServer>, b: &Arc<TestServer>, bodies: Vec<Value>) -> Vec<(u16, Value)> {
    let start = Arc::new(tokio::sync::Barrier::new(bodies.len()));
    let tasks: Vec<_> = bodies
        .into_iter()
        .enumerate()
        .map(|(i, body)| {
            let server = if i % 2 == 0 { a.clone() } else { b.clone() };
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                server.post("/v1/payments", body).await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    answers
}

async fn plan_paid(s: &TestServer, serial: &str) -> Value {
    let (_, device) = s.get(&format!("/v1/devices/{serial}")).await;
    let (_, plan) = s.get(&format!("/v1/plans/{}", device["plan_id"].as_str().unwrap())).await;
    plan["paid"].clone()
}

/// One payment delivered 100 times at once: one 201, 99 × 200 with the identical answer, one credit.
async fn copies_of_one_delivery_credit_once(a: Arc<TestServer>, b: Arc<TestServer>) {
    let r = registry(&a).await;
    register_shs(&a, &r, "SHS-C").await;
    let body = payment("copy-1", "SHS-C", "700", "2026-01-02T08:00:00Z");
    let answers = post_all_at_once(&a, &b, vec![body; COPIES]).await;
    let applied = answers.iter().filter(|(status, _)| *status == 201).count();
    assert_eq!(applied, 1, "exactly one copy applies: {:?}", answers.iter().map(|(s, _)| s).collect::<Vec<_>>());
    assert!(answers.iter().all(|(status, _)| *status == 200 || *status == 201));
    assert!(answers.iter().all(|(_, answer)| answer == &answers[0].1), "every copy gets the same answer");
    assert_eq!(plan_paid(&a, "SHS-C").await, "700");
    let (_, list) = b.get("/v1/payments?serial=SHS-C").await;
    assert_eq!(list["payments"].as_array().unwrap().len(), 1);
    let (_, tokens) = b.get("/v1/devices/SHS-C/tokens").await;
    assert_eq!(tokens["tokens"].as_array().unwrap().len(), answers[0].1["tokens"].as_array().unwrap().len());
}

/// 100 different payments of 100 TZS at once on one device, and the same 100 posted one by one on a twin
/// device (same plan, same OpenPAYGO key and starting code): both end with the same plan balance, credit,
/// token count and token codes. The payments are identical in amount, so any serial order gives that end
/// state, and a lost update or a reused OpenPAYGO count would not.
async fn different_payments_on_one_device_apply_in_turn(a: Arc<TestServer>, b: Arc<TestServer>) {
    let r = registry(&a).await;
    register_shs(&a, &r, "SHS-P").await;
    register_shs(&a, &r, "SHS-Q").await;
    let bodies = |serial: &str| -> Vec<Value> {
        (0..COPIES).map(|i| payment(&format!("{serial}-{i}"), serial, "100", "2026-01-02T08:00:00Z")).collect()
    };

    let answers = post_all_at_once(&a, &b, bodies("SHS-P")).await;
    assert!(answers.iter().all(|(status, _)| *status == 201), "{:?}", answers.iter().find(|(s, _)| *s != 201));
    for body in bodies("SHS-Q") {
        let (status, answer) = a.post("/v1/payments", body).await;
        assert_eq!(status, 201, "{answer}");
    }

    let device_state = |device: Value| {
        (device["credit_balance"].clone(), device["token_count"].clone(), device["access_rate_debt"].clone())
    };
    assert_eq!(
        device_state(a.get("/v1/devices/SHS-P").await.1),
        device_state(a.get("/v1/devices/SHS-Q").await.1),
        "balances after concurrent = after sequential"
    );
    assert_eq!(plan_paid(&a, "SHS-P").await, "2100");
    assert_eq!(plan_paid(&a, "SHS-Q").await, "2100");

    let tokens = |history: Value| {
        let mut list: Vec<(i64, Value, Value, Value)> = history["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| (t["count"].as_i64().unwrap_or(-1), t["kind"].clone(), t["quantity"].clone(), t["code"].clone()))
            .collect();
        list.sort_by_key(|t| t.0);
        list
    };
    let concurrent = tokens(b.get("/v1/devices/SHS-P/tokens").await.1);
    let sequential = tokens(b.get("/v1/devices/SHS-Q/tokens").await.1);
    assert!(!concurrent.is_empty());
    let mut counts: Vec<i64> = concurrent.iter().map(|t| t.0).collect();
    counts.dedup();
    assert_eq!(counts.len(), concurrent.len(), "no OpenPAYGO count is used twice");
    assert_eq!(concurrent, sequential, "same tokens, counts and codes as one by one");

    let (_, list) = b.get("/v1/payments?serial=SHS-P").await;
    assert_eq!(list["payments"].as_array().unwrap().len(), COPIES);
}
