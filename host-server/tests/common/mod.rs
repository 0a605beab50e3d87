//! A real server on a real socket for each test, on SQLite (a temporary file) or PostgreSQL (a throwaway
//! database on the server named by `MICROPOWER_TEST_POSTGRES_URL`, which the test command sets).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::atomic::{AtomicU32, Ordering};

use micropower_server::config::{Config, EngineKind, Tz};
use serde_json::{json, Value};

/// At least 32 characters: the server refuses a shorter `MICROPOWER_ADMIN_KEY`.
pub const ADMIN_KEY: &str = "test-admin-key-0123456789abcdefghijk";

/// The sealing key of the test servers.
pub fn secret_key() -> String {
    "ab".repeat(32)
}

/// Which database a test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Db {
    Sqlite,
    Postgres,
}

pub struct TestServer {
    pub base: String,
    pub database_url: String,
    pub client: reqwest::Client,
    pub key: String,
    pub state: micropower_server::state::AppState,
    _dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

static DB_COUNTER: AtomicU32 = AtomicU32::new(0);

/// A fresh PostgreSQL database for one test, or None (with a message) when no server is configured.
async fn postgres_url() -> Option<String> {
    let admin = std::env::var("MICROPOWER_TEST_POSTGRES_URL").ok()?;
    let name = format!("mp_test_{}_{}", std::process::id(), DB_COUNTER.fetch_add(1, Ordering::SeqCst));
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&admin).await.expect("connect to the test PostgreSQL server");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(&pool).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&pool).await.unwrap();
    pool.close().await;
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap_or(admin);
    Some(format!("{base}/{name}"))
}

/// The settings of a test server on `database_url` with its data directory `data_dir`.
pub fn test_config(database_url: String, data_dir: &std::path::Path, engine: EngineKind, timezone: Tz) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url,
        engine,
        admin_key: Some(ADMIN_KEY.into()),
        print_admin_key: false,
        secret_key: Some(secret_key()),
        data_dir: data_dir.to_owned(),
        // One compiled guest for every test server of this build: each compiling its own cost seconds.
        compiled_dir: std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("compiled-guest"),
        demo: false,
        body_limit: 64 * 1024,
        vendor_url: None,
        timezone,
        trusted_proxy_header: None,
        operator_name: "micropower".into(),
        operator_address: String::new(),
        heavy: micropower_server::heavy::HeavyConfig::default(),
    }
}

/// A database URL for one test: a file in `dir` on SQLite, a fresh database on PostgreSQL (None, with a
/// message, when PostgreSQL is not configured here).
pub async fn database_url(db: Db, dir: &std::path::Path) -> Option<String> {
    match db {
        Db::Sqlite => Some(format!("sqlite://{}/test.db", dir.display())),
        Db::Postgres => {
            let url = postgres_url().await;
            if url.is_none() {
                assert!(std::env::var("CI").is_err(), "MICROPOWER_TEST_POSTGRES_URL must be set in CI");
                eprintln!("skipped: MICROPOWER_TEST_POSTGRES_URL is not set");
            }
            url
        }
    }
}

/// A fresh PostgreSQL database URL (`MICROPOWER_TEST_POSTGRES_URL` set), or None.
pub async fn fresh_postgres_url() -> Option<String> {
    postgres_url().await
}

impl TestServer {
    /// Starts a server in UTC, or returns None when the database is not available here (PostgreSQL unset).
    pub async fn start(db: Db, engine: EngineKind) -> Option<TestServer> {
        Self::start_in(db, engine, Tz::UTC).await
    }

    /// Starts a server whose operator works in `timezone` (`MICROPOWER_TIMEZONE`), or None as [`Self::start`].
    pub async fn start_in(db: Db, engine: EngineKind, timezone: Tz) -> Option<TestServer> {
        let dir = tempfile::tempdir().unwrap();
        let database_url = match db {
            Db::Sqlite => format!("sqlite://{}/test.db", dir.path().display()),
            Db::Postgres => match postgres_url().await {
                Some(url) => url,
                None => {
                    assert!(
                        std::env::var("CI").is_err(),
                        "MICROPOWER_TEST_POSTGRES_URL must be set in CI (scripts/test.sh sets it)"
                    );
                    eprintln!("skipped: MICROPOWER_TEST_POSTGRES_URL is not set");
                    return None;
                }
            },
        };
        Some(Self::start_on(database_url, dir, engine, timezone).await)
    }

    /// Two servers on one fresh PostgreSQL database (as two replicas behind a load balancer), or None when
    /// PostgreSQL is not configured here.
    pub async fn pair_on_postgres(engine: EngineKind) -> Option<(TestServer, TestServer)> {
        let url = postgres_url().await?;
        let first = Self::start_on(url.clone(), tempfile::tempdir().unwrap(), engine, Tz::UTC).await;
        let second = Self::start_on(url, tempfile::tempdir().unwrap(), engine, Tz::UTC).await;
        Some((first, second))
    }

    /// A server on `database_url`, its key file in `dir`.
    pub async fn start_on(
        database_url: String,
        dir: tempfile::TempDir,
        engine: EngineKind,
        timezone: Tz,
    ) -> TestServer {
        let config = test_config(database_url, dir.path(), engine, timezone);
        Self::start_with(config, dir).await
    }

    /// A server with `config` (its `listen` is ignored: a free port); `dir` lives as long as the server.
    pub async fn start_with(config: Config, dir: tempfile::TempDir) -> TestServer {
        let engine = micropower_server::server::engine(config.engine, &config.compiled_dir).expect("engine");
        Self::start_with_engine(config, dir, engine).await
    }

    /// [`Self::start_with`] on an engine of the test's.
    pub async fn start_with_engine(
        mut config: Config,
        dir: tempfile::TempDir,
        engine: std::sync::Arc<dyn micropower_server::engine::Engine>,
    ) -> TestServer {
        config.listen = "127.0.0.1:0".parse().unwrap();
        let database_url = config.database_url.clone();
        let (state, _) = micropower_server::server::state_with_engine(&config, engine).await.expect("server state");
        let listener = tokio::net::TcpListener::bind(config.listen).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(micropower_server::server::serve(listener, state.clone(), config.body_limit, async {
            let _ = rx.await;
        }));
        TestServer {
            base: format!("http://{addr}"),
            database_url,
            client: reqwest::Client::new(),
            key: ADMIN_KEY.into(),
            state,
            _dir: dir,
            shutdown: Some(tx),
        }
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
        key: Option<&str>,
    ) -> (u16, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(k) = key {
            req = req.bearer_auth(k);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None, Some(&self.key)).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body), Some(&self.key)).await
    }

    pub async fn put(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::PUT, path, Some(body), Some(&self.key)).await
    }

    /// POST that must answer `status`; returns the body.
    pub async fn ok(&self, path: &str, body: Value, status: u16) -> Value {
        let (got, v) = self.post(path, body).await;
        assert_eq!(got, status, "POST {path}: {v}");
        v
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// Ids of a small registry: one cluster, area, village; an OpenPAYGO SHS maker; an external meter maker.
pub struct Registry {
    pub village: String,
    pub shs_maker: String,
    pub meter_maker: String,
}

pub async fn registry(s: &TestServer) -> Registry {
    let cluster = s.ok("/v1/clusters", json!({"name": "North"}), 201).await;
    let area = s.ok("/v1/areas", json!({"name": "Lake grid", "cluster_id": cluster["id"]}), 201).await;
    let village = s.ok("/v1/villages", json!({"name": "Kijiji", "area_id": area["id"]}), 201).await;
    let shs = s
        .ok(
            "/v1/manufacturers",
            json!({"name": "SunCo", "device_kinds": ["solar_home_system", "e_bike"], "token_scheme": "openpaygo"}),
            201,
        )
        .await;
    let meter = s
        .ok("/v1/manufacturers", json!({"name": "MeterCo", "device_kinds": ["meter"], "token_scheme": "external"}), 201)
        .await;
    Registry {
        village: village["id"].as_str().unwrap().into(),
        shs_maker: shs["id"].as_str().unwrap().into(),
        meter_maker: meter["id"].as_str().unwrap().into(),
    }
}

pub const KEY: &str = "a29ab82edc5fbbc41ec9530f6dac86b1";

static PHONE: AtomicU32 = AtomicU32::new(0);

/// A new customer's fields with a unique valid Tanzanian mobile number.
pub fn new_customer(village: &str) -> Value {
    let n = PHONE.fetch_add(1, Ordering::SeqCst);
    json!({"name": "Amina", "surname": format!("Juma{n}"), "phone": format!("+2557123{:05}", n), "village_id": village})
}

/// Registers an OpenPAYGO SHS on a weekly 3 × 700 TZS plan; returns the registration answer.
pub async fn register_shs(s: &TestServer, r: &Registry, serial: &str) -> Value {
    register_shs_for(s, r, serial, new_customer(&r.village)).await
}

/// [`register_shs`] for the customer fields given.
pub async fn register_shs_for(s: &TestServer, r: &Registry, serial: &str, customer: Value) -> Value {
    s.ok(
        "/v1/registrations",
        json!({
            "customer": customer,
            "device": {"serial": serial, "kind": "solar_home_system", "manufacturer_id": r.shs_maker,
                       "openpaygo": {"secret_key": KEY, "starting_code": 123456789, "count": 0}},
            "plan": {"appliance": "SHS 80W", "currency": "TZS", "total_cost": "2100", "down_payment": "0",
                     "installments": 3, "period": "weekly", "start_date": "2026-01-01"},
            "registered_on": "2026-01-01"
        }),
        201,
    )
    .await
}

/// Registers a meter on a new tariff; returns (registration answer, tariff id).
pub async fn register_meter(s: &TestServer, r: &Registry, serial: &str, tariff: Value) -> Value {
    let t = s.ok("/v1/tariffs", tariff, 201).await;
    s.ok(
        "/v1/registrations",
        json!({
            "customer": new_customer(&r.village),
            "device": {"serial": serial, "kind": "meter", "manufacturer_id": r.meter_maker, "tariff_id": t["id"]},
            "registered_on": "2026-01-01"
        }),
        201,
    )
    .await
}

pub fn payment(tx: &str, serial: &str, amount: &str, at: &str) -> Value {
    json!({"provider": "test", "provider_tx_id": tx, "serial": serial, "amount": amount, "currency": "TZS", "received_at": at})
}

/// `on_both_databases!(scenario, …)`: for each `async fn scenario(s: TestServer)` of the calling test file, a
/// module with a test on SQLite and one on PostgreSQL (when `MICROPOWER_TEST_POSTGRES_URL` is set), both on
/// the wasm engine. The file imports `TestServer`, `Db` and `EngineKind` (`use common::*`).
#[allow(unused_macros)]
macro_rules! on_both_databases {
    ($($scenario:ident),* $(,)?) => {$(
        mod $scenario {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let server = super::TestServer::start(super::Db::Sqlite, super::EngineKind::Wasm).await.unwrap();
                super::$scenario(server).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                if let Some(server) = super::TestServer::start(super::Db::Postgres, super::EngineKind::Wasm).await {
                    super::$scenario(server).await;
                }
            }
        }
    )*};
}

/// Sums the allocation lines of every payment in a `GET /v1/export` answer by plan: the balances as the
/// journal has them. `check(record, line)` sees each line first (a test's own expectation of it).
pub fn journal_by_plan(export: &str, check: impl Fn(&Value, &Value)) -> std::collections::BTreeMap<String, u64> {
    let mut sums = std::collections::BTreeMap::new();
    for line in export.lines() {
        let record: Value = serde_json::from_str(line).unwrap();
        if record["type"] != "payment" {
            continue;
        }
        for allocation in record["lines"].as_array().unwrap() {
            check(&record, allocation);
            let amount: u64 = allocation["amount"].as_str().unwrap().parse().unwrap();
            *sums.entry(allocation["plan_id"].as_str().unwrap().to_owned()).or_insert(0) += amount;
        }
    }
    sums
}

/// Creates an agent in TZS (energy 5 %, appliances 10 %) with this risk ceiling; answers the creation's body.
pub async fn agent(s: &TestServer, area: &str, ceiling: &str) -> Value {
    s.ok(
        "/v1/agents",
        json!({"name": "Baraka", "phone": "+255754000111", "area_id": area,
               "commission": {"energy_rate": "0.05", "appliance_rate": "0.1"},
               "risk_ceiling": ceiling, "currency": "TZS"}),
        201,
    )
    .await
}
