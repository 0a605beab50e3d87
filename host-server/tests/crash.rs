//! Crash survival: retrying clients (same `provider_tx_id` until acknowledged, as providers do) while the
//! server process is killed with SIGKILL several times and restarted on the same database. Afterwards every
//! acknowledged payment is stored exactly once, the plans hold exactly the acknowledged money, each plan's
//! stored balance equals the sum of its journal lines (the allocations in `/v1/export`), and no OpenPAYGO
//! count was used twice. On SQLite and on PostgreSQL. Also the binary's output into a pipe (no colour codes)
//! and its exit on SIGTERM.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::{BTreeMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const DEVICES: usize = 6;
const CLIENTS: usize = 6;
const PAYMENTS_PER_CLIENT: usize = 60;
const KILLS: usize = 5;

struct Server {
    child: Option<Child>,
    port: u16,
    database_url: String,
    dir: std::path::PathBuf,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl Server {
    fn spawn(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_micropower-server"))
            .env("MICROPOWER_LISTEN", format!("127.0.0.1:{}", self.port))
            .env("DATABASE_URL", &self.database_url)
            .env("MICROPOWER_ADMIN_KEY", common::ADMIN_KEY)
            .env("MICROPOWER_SECRET_KEY", "cd".repeat(32))
            .env("MICROPOWER_DATA_DIR", &self.dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start micropower-server");
        self.child = Some(child);
    }

    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap(); // SIGKILL on Unix: no shutdown, no flush.
            child.wait().unwrap();
        }
    }

    async fn wait_healthy(&self, client: &reqwest::Client) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Ok(r) = client.get(format!("http://127.0.0.1:{}/healthz", self.port)).send().await {
                if r.status().is_success() {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server did not become healthy");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

async fn call(
    client: &reqwest::Client,
    port: u16,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<(u16, Value), String> {
    let mut req = client.request(method, format!("http://127.0.0.1:{port}{path}")).bearer_auth(common::ADMIN_KEY);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::String(text))))
}

async fn crash_scenario(database_url: String) {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server { child: None, port: free_port(), database_url, dir: dir.path().to_owned() };
    let client = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
    server.spawn();
    server.wait_healthy(&client).await;
    let port = server.port;
    let post = |path: &'static str, body: Value| {
        let client = client.clone();
        async move {
            let (code, v) = call(&client, port, reqwest::Method::POST, path, Some(body)).await.unwrap();
            assert!(code == 201, "{path}: {code} {v}");
            v
        }
    };
    let cluster = post("/v1/clusters", json!({"name": "C"})).await;
    let area = post("/v1/areas", json!({"name": "A", "cluster_id": cluster["id"]})).await;
    let village = post("/v1/villages", json!({"name": "V", "area_id": area["id"]})).await;
    let maker = post(
        "/v1/manufacturers",
        json!({"name": "M", "device_kinds": ["solar_home_system"], "token_scheme": "openpaygo"}),
    )
    .await;
    for d in 0..DEVICES {
        post(
            "/v1/registrations",
            json!({
                "customer": {"name": "N", "surname": format!("S{d}"), "phone": format!("+25571200{:04}", d), "village_id": village["id"]},
                "device": {"serial": format!("CR{d}"), "kind": "solar_home_system", "manufacturer_id": maker["id"],
                           "openpaygo": {"secret_key": common::KEY, "starting_code": 123456789, "count": 0}},
                "plan": {"appliance": "SHS", "currency": "TZS", "total_cost": "100000000", "down_payment": "0",
                         "installments": 100, "period": "weekly", "start_date": "2026-01-01"},
                "registered_on": "2026-01-01"
            }),
        )
        .await;
    }

    let acknowledged: Arc<Mutex<BTreeMap<String, (String, u64)>>> = Arc::new(Mutex::new(BTreeMap::new()));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let client = client.clone();
        let acknowledged = acknowledged.clone();
        clients.push(tokio::spawn(async move {
            for p in 0..PAYMENTS_PER_CLIENT {
                let tx = format!("crash-{c}-{p}");
                let amount = 1000 + (c * 37 + p * 11) as u64 % 900;
                let body = json!({"provider": "crash", "provider_tx_id": tx, "serial": format!("CR{}", (c + p) % DEVICES),
                                  "amount": amount.to_string(), "currency": "TZS", "received_at": "2026-01-02T08:00:00Z"});
                // A provider retries the same transaction until it is acknowledged.
                loop {
                    match call(&client, port, reqwest::Method::POST, "/v1/payments", Some(body.clone())).await {
                        Ok((201 | 200, v)) => {
                            acknowledged.lock().unwrap().insert(tx.clone(), (v["payment_id"].as_str().unwrap().to_owned(), amount));
                            break;
                        }
                        Ok((code, v)) if code < 500 => panic!("payment {tx} refused: {code} {v}"),
                        _ => tokio::time::sleep(Duration::from_millis(30)).await,
                    }
                }
            }
        }));
    }
    let mut mid_load_kills = 0;
    for _ in 0..KILLS {
        tokio::time::sleep(Duration::from_millis(fastrand::u64(100..400))).await;
        let done = acknowledged.lock().unwrap().len();
        if done < CLIENTS * PAYMENTS_PER_CLIENT {
            mid_load_kills += 1;
        }
        server.kill9();
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..100))).await;
        server.spawn();
        server.wait_healthy(&client).await;
    }
    for c in clients {
        c.await.unwrap();
    }
    assert!(mid_load_kills > 0, "no kill landed while payments were in flight; the test proved nothing");

    let acknowledged = acknowledged.lock().unwrap().clone();
    assert_eq!(acknowledged.len(), CLIENTS * PAYMENTS_PER_CLIENT);
    let mut stored = Vec::new();
    let mut path = "/v1/payments?limit=500".to_owned();
    loop {
        let (_, page) = call(&client, port, reqwest::Method::GET, &path, None).await.unwrap();
        stored.extend(page["items"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/payments?limit=500&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(stored.len(), acknowledged.len(), "every acknowledged payment stored exactly once");
    let journal = journal_by_plan(&client, port).await;
    let mut money_in_plans = 0u64;
    let mut counts_seen = HashSet::new();
    for d in 0..DEVICES {
        let (_, device) = call(&client, port, reqwest::Method::GET, &format!("/v1/devices/CR{d}"), None).await.unwrap();
        let plan_id = device["plan_id"].as_str().unwrap();
        let (_, plan) = call(&client, port, reqwest::Method::GET, &format!("/v1/plans/{plan_id}"), None).await.unwrap();
        let paid = plan["paid"].as_str().unwrap().parse::<u64>().unwrap();
        assert_eq!(journal.get(plan_id).copied().unwrap_or(0), paid, "CR{d}: journal lines = stored balance");
        money_in_plans += paid;
        let (_, tokens) =
            call(&client, port, reqwest::Method::GET, &format!("/v1/devices/CR{d}/tokens?limit=500"), None)
                .await
                .unwrap();
        for t in tokens["items"].as_array().unwrap() {
            assert!(counts_seen.insert((d, t["count"].as_i64().unwrap())), "OpenPAYGO count used twice on CR{d}: {t}");
        }
    }
    let acknowledged_money: u64 = acknowledged.values().map(|(_, a)| a).sum();
    assert_eq!(money_in_plans, acknowledged_money, "the plans hold exactly the acknowledged money");
    for (tx, (payment_id, amount)) in &acknowledged {
        let (code, p) =
            call(&client, port, reqwest::Method::GET, &format!("/v1/payments/{payment_id}"), None).await.unwrap();
        assert_eq!(code, 200, "{tx}");
        assert_eq!(p["amount"], amount.to_string());
    }
    eprintln!(
        "crash test: {} payments acknowledged across {KILLS} SIGKILLs ({mid_load_kills} mid-load), all stored once",
        acknowledged.len()
    );
}

/// The balances by plan as the journal has them; every line of this scenario pays an installment.
async fn journal_by_plan(client: &reqwest::Client, port: u16) -> BTreeMap<String, u64> {
    let text = client
        .get(format!("http://127.0.0.1:{port}/v1/export"))
        .bearer_auth(common::ADMIN_KEY)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    common::journal_by_plan(&text, |record, line| assert_eq!(line["kind"], "installment", "{record}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    crash_scenario(format!("sqlite://{}/crash.db", dir.path().display())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_survives_sigkill() {
    if let Some(url) = postgres_database("mp_crash").await {
        crash_scenario(url).await;
    }
}

/// A fresh database `<prefix>_<pid>` on the test PostgreSQL server, or None (skipped) outside CI when none
/// is configured.
async fn postgres_database(prefix: &str) -> Option<String> {
    let Ok(admin) = std::env::var("MICROPOWER_TEST_POSTGRES_URL") else {
        assert!(std::env::var("CI").is_err(), "MICROPOWER_TEST_POSTGRES_URL must be set in CI");
        eprintln!("skipped: MICROPOWER_TEST_POSTGRES_URL is not set");
        return None;
    };
    sqlx::any::install_default_drivers();
    let pool = sqlx::AnyPool::connect(&admin).await.unwrap();
    let name = format!("{prefix}_{}", std::process::id());
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(&pool).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&pool).await.unwrap();
    let base = admin.rsplit_once('/').map(|(b, _)| b.to_owned()).unwrap();
    Some(format!("{base}/{name}"))
}

/// The binary's own output when a log collector, a pipe or a file reads it (the user's terminal is not
/// there): plain log lines without ANSI colour codes, the generated admin key's file named (the key itself
/// not printed), and SIGTERM
/// ends it with exit status 0.
async fn output_in_a_pipe(database_url: String) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = Command::new(env!("CARGO_BIN_EXE_micropower-server"))
        .env("MICROPOWER_LISTEN", format!("127.0.0.1:{port}"))
        .env("DATABASE_URL", &database_url)
        .env("MICROPOWER_DATA_DIR", dir.path())
        .env("MICROPOWER_CORE", "native")
        .env_remove("MICROPOWER_ADMIN_KEY")
        .env_remove("NO_COLOR")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start micropower-server");
    // Killed by Drop if it never becomes healthy.
    let mut server = Server { child: Some(child), port, database_url, dir: dir.path().to_owned() };
    server.wait_healthy(&reqwest::Client::new()).await;
    let child = server.child.take().unwrap();
    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(status.success(), "kill -TERM");
    let output = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "exit status after SIGTERM\n{stdout}\n{stderr}");
    assert!(stdout.contains("Created the first admin API key in "), "{stdout}");
    // The key itself goes to a private file, never to the output a log collector keeps.
    let key_file = dir.path().join("admin.key");
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert!(stdout.contains(&key_file.display().to_string()), "the key file's path is not printed: {stdout}");
    assert!(!stdout.contains(key.trim()) && !stderr.contains(key.trim()), "the admin key was printed: {stdout}");
    assert!(stdout.contains("INFO") && stdout.contains("shutting down"), "no log lines: {stdout}");
    for (name, bytes) in [("stdout", &output.stdout), ("stderr", &output.stderr)] {
        assert!(!bytes.contains(&0x1b), "ANSI escape codes in {name}:\n{}", String::from_utf8_lossy(bytes));
    }
}

#[tokio::test]
async fn sqlite_output_in_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    output_in_a_pipe(format!("sqlite://{}/pipe.db", dir.path().display())).await;
}

#[tokio::test]
async fn postgres_output_in_a_pipe() {
    if let Some(url) = postgres_database("mp_pipe").await {
        output_in_a_pipe(url).await;
    }
}
