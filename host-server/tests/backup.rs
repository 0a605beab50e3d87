//! `micropower-server backup` and `restore` (issue 19, "Backups"): a backup taken while payments are being
//! posted, restored into a fresh data directory, starts and holds every payment acknowledged before the backup
//! began, with each plan's balance equal to its journal lines; restore refuses to replace a database without
//! `--force`; on PostgreSQL both point to `pg_dump`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Db, TestServer};
use micropower_server::config::{EngineKind, Tz};
use serde_json::json;
use sqlx::Row;

const DEVICES: usize = 4;
const CLIENTS: usize = 4;

async fn cli(database_url: &str, args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_micropower-server"));
    command.args(args).env("DATABASE_URL", database_url).env("RUST_LOG", "warn");
    tokio::task::spawn_blocking(move || command.output()).await.unwrap().unwrap()
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

async fn register(s: &TestServer, r: &common::Registry, serial: &str) {
    s.ok(
        "/v1/registrations",
        json!({
            "customer": common::new_customer(&r.village),
            "device": {"serial": serial, "kind": "solar_home_system", "manufacturer_id": r.shs_maker,
                       "openpaygo": {"secret_key": common::KEY, "starting_code": 123456789, "count": 0}},
            "plan": {"appliance": "SHS", "currency": "TZS", "total_cost": "100000000", "down_payment": "0",
                     "installments": 100, "period": "weekly", "start_date": "2026-01-01"},
            "registered_on": "2026-01-01"
        }),
        201,
    )
    .await;
}

/// The balances by plan as the journal has them.
async fn journal_by_plan(s: &TestServer) -> BTreeMap<String, u64> {
    let text =
        s.client.get(format!("{}/v1/export", s.base)).bearer_auth(&s.key).send().await.unwrap().text().await.unwrap();
    common::journal_by_plan(&text, |_, _| {})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_backup_taken_during_payments_restores_every_acknowledged_one() {
    let s = Arc::new(TestServer::start(Db::Sqlite, EngineKind::Native).await.unwrap());
    let r = common::registry(&s).await;
    for d in 0..DEVICES {
        register(&s, &r, &format!("BK{d}")).await;
    }
    let acknowledged: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for c in 0..CLIENTS {
        let (s, acknowledged, stop) = (s.clone(), acknowledged.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let mut p = 0;
            while !stop.load(Ordering::SeqCst) {
                let tx = format!("backup-{c}-{p}");
                let body = json!({"provider": "backup-test", "provider_tx_id": tx, "serial": format!("BK{}", (c + p) % DEVICES),
                                  "amount": (1000 + p % 700).to_string(), "currency": "TZS", "received_at": "2026-01-02T08:00:00Z"});
                let (code, v) = s.post("/v1/payments", body).await;
                assert!(code == 201, "{tx}: {code} {v}");
                acknowledged.lock().unwrap().push(tx);
                p += 1;
            }
        }));
    }
    while acknowledged.lock().unwrap().len() < 60 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("micropower-backup.db");
    let file_arg = file.to_str().unwrap();
    let before: BTreeSet<String> = acknowledged.lock().unwrap().iter().cloned().collect();
    let out = cli(&s.database_url, &["backup", file_arg]).await;
    let during = acknowledged.lock().unwrap().len() - before.len();
    assert!(out.status.success(), "backup: {}", text(&out));
    assert!(text(&out).contains("payments)"), "{}", text(&out));
    tokio::time::sleep(Duration::from_millis(200)).await;
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        c.await.unwrap();
    }
    let total = acknowledged.lock().unwrap().len();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600, "backup file");
    }
    let again = cli(&s.database_url, &["backup", file_arg]).await;
    assert_eq!(again.status.code(), Some(2), "a second backup over the first: {}", text(&again));
    assert!(text(&again).contains("--force"), "{}", text(&again));

    // Into a fresh data directory, as after the loss of the disk.
    let fresh = tempfile::tempdir().unwrap();
    let data = fresh.path().join("data");
    let url = format!("sqlite://{}/micropower.db", data.display());
    let out = cli(&url, &["restore", file_arg]).await;
    assert!(out.status.success(), "restore: {}", text(&out));
    let refused = cli(&url, &["restore", file_arg]).await;
    assert_eq!(refused.status.code(), Some(2), "restore over a database without --force: {}", text(&refused));
    assert!(text(&refused).contains("--force"), "{}", text(&refused));
    let forced = cli(&url, &["restore", file_arg, "--force"]).await;
    assert!(forced.status.success() && text(&forced).contains("kept as"), "{}", text(&forced));

    let restored = TestServer::start_with(
        common::test_config(url, &data, EngineKind::Native, Tz::UTC),
        tempfile::tempdir().unwrap(),
    )
    .await;
    let stored: BTreeSet<String> = sqlx::query("SELECT provider_tx_id FROM payments WHERE provider = 'backup-test'")
        .fetch_all(&restored.state.db.pool)
        .await
        .unwrap()
        .iter()
        .map(|r| r.get::<String, _>("provider_tx_id"))
        .collect();
    let missing: Vec<&String> = before.difference(&stored).collect();
    assert!(missing.is_empty(), "acknowledged before the backup began, missing from it: {missing:?}");
    let journal = journal_by_plan(&restored).await;
    for d in 0..DEVICES {
        let (_, device) = restored.get(&format!("/v1/devices/BK{d}")).await;
        let plan_id = device["plan_id"].as_str().unwrap();
        let (_, plan) = restored.get(&format!("/v1/plans/{plan_id}")).await;
        let paid: u64 = plan["paid"].as_str().unwrap().parse().unwrap();
        assert_eq!(journal.get(plan_id).copied().unwrap_or(0), paid, "BK{d}: journal lines = stored balance");
    }
    let (code, token) = restored.post("/v1/devices/BK0/tokens", json!({"kind": "add_time", "days": "1"})).await;
    assert_eq!(code, 201, "the restored sealed keys open with the same key: {token}");
    eprintln!(
        "backup: {} payments acknowledged before it began, {during} while it ran, {total} in all; {} in the copy",
        before.len(),
        stored.len()
    );
}

#[tokio::test]
async fn backup_and_restore_on_postgres_point_to_pg_dump() {
    let Some(url) = common::fresh_postgres_url().await else {
        eprintln!("skipped: MICROPOWER_TEST_POSTGRES_URL is not set");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b.db");
    for (command, tool) in [("backup", "pg_dump"), ("restore", "pg_restore")] {
        let out = cli(&url, &[command, file.to_str().unwrap()]).await;
        assert_eq!(out.status.code(), Some(2), "{command}: {}", text(&out));
        assert!(text(&out).contains(tool), "{}", text(&out));
        assert!(!text(&out).contains("postgres:postgres"), "the password in the message: {}", text(&out));
    }
    assert!(!Path::new(&file).exists());
}
