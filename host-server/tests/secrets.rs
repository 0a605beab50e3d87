//! Secrets at rest and the keys a server starts with (issue 19, "Secrets at rest" and "Keys and roles"): the
//! sealing key is checked against the database's key-check value, a lost key file is never replaced while
//! sealed secrets exist, each sealed value opens only in its own row, old values are upgraded, the key rotates,
//! the data directory and the first admin key's file are private, short admin keys are refused, a mistyped
//! OpenPAYGO key is not echoed, and PostgreSQL is reached over TLS. On SQLite and PostgreSQL.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use std::path::Path;
use std::process::Command;

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use base64::Engine as _;
use common::{Db, TestServer};
use micropower_server::config::{Config, EngineKind, Tz};
use serde_json::json;
use sqlx::Row;

/// A database for one test: a SQLite file in `dir`, or a fresh PostgreSQL database (None: not configured).
async fn database(db: Db, dir: &Path) -> Option<String> {
    match db {
        Db::Sqlite => Some(format!("sqlite://{}/micropower.db", dir.display())),
        Db::Postgres => {
            let url = common::fresh_postgres_url().await;
            if url.is_none() {
                eprintln!("skipped: MICROPOWER_TEST_POSTGRES_URL is not set");
            }
            url
        }
    }
}

fn config(url: &str, data_dir: &Path, secret_key: Option<String>) -> Config {
    let mut c = common::test_config(url.to_owned(), data_dir, EngineKind::Native, Tz::UTC);
    c.secret_key = secret_key;
    c
}

/// Starts a server that must start.
async fn serve(config: Config) -> TestServer {
    TestServer::start_with(config, tempfile::tempdir().unwrap()).await
}

/// The message of a start that must fail.
async fn refused(config: &Config) -> String {
    match micropower_server::server::state(config).await {
        Ok(_) => panic!("the server started with {:?}", config.secret_key.as_deref().map(|_| "a key")),
        Err(e) => e.to_string(),
    }
}

/// An OpenPAYGO device `serial` and a Wave provider: one sealed value in each sealed column.
async fn seal_some(s: &TestServer, serial: &str) -> serde_json::Value {
    let r = common::registry(s).await;
    common::register_shs(s, &r, serial).await;
    s.ok("/v1/providers", json!({"kind": "wave", "currency": "XOF", "secret": "wave-signing-secret-0123"}), 201).await
}

async fn sealed_key_of(s: &TestServer, serial: &str) -> String {
    sqlx::query("SELECT openpaygo_key_sealed AS v FROM devices WHERE serial = $1")
        .bind(serial)
        .fetch_one(&s.state.db.pool)
        .await
        .unwrap()
        .try_get("v")
        .unwrap()
}

/// An operator token for `serial`: the device's sealed key must open for it.
async fn token_status(s: &TestServer, serial: &str) -> u16 {
    s.post(&format!("/v1/devices/{serial}/tokens"), json!({"kind": "add_time", "days": "1"})).await.0
}

/// A Wave delivery with a wrong signature: 401 once the provider's sealed secret opened, 500 if it did not.
async fn wave_status(s: &TestServer, provider: &serde_json::Value) -> u16 {
    let path = provider["hook_paths"]["webhook"].as_str().unwrap_or_else(|| panic!("no Wave hook path in {provider}"));
    s.client
        .post(format!("{}{path}", s.base))
        .header("Wave-Signature", "t=1,v1=00")
        .body("{}")
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

macro_rules! on_both {
    ($name:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::Db::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$name(super::Db::Postgres).await;
            }
        }
    };
}

/// A server started with another key than the database's refuses to start and changes nothing: with sealed
/// secrets, and with none (the key-check value alone).
async fn another_key_refuses_to_start(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = database(db, dir.path()).await else { return };
    let a = serve(config(&url, dir.path(), Some("ab".repeat(32)))).await;
    let empty_refusal = refused(&config(&url, dir.path(), Some("cd".repeat(32)))).await;
    assert!(empty_refusal.contains("sealed under key"), "{empty_refusal}");
    seal_some(&a, "SEAL1").await;
    let before = sealed_key_of(&a, "SEAL1").await;
    let e = refused(&config(&url, dir.path(), Some("cd".repeat(32)))).await;
    assert!(e.contains("MICROPOWER_SECRET_KEY") && e.contains(a.state.sealer.key_id()), "{e}");
    assert!(!e.contains(&"cd".repeat(32)) && !e.contains(&"ab".repeat(32)), "a key in the message: {e}");
    assert_eq!(sealed_key_of(&a, "SEAL1").await, before, "a refused start changed a sealed value");
    assert_eq!(token_status(&a, "SEAL1").await, 201);
}
on_both!(another_key_refuses_to_start);

/// The key file: created 0600 in a data directory created 0700; once lost while sealed secrets exist, the
/// server refuses to start and does not make a new one; put back, it starts and the secrets open.
async fn lost_key_file_refuses_to_start(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = database(db, dir.path()).await else { return };
    let data = dir.path().join("data").join("dir");
    let s = serve(config(&url, &data, None)).await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700, "data directory");
        assert_eq!(mode(&data.join("secret.key")), 0o600, "key file");
    }
    seal_some(&s, "SEAL2").await;
    let key_file = data.join("secret.key");
    let key = std::fs::read_to_string(&key_file).unwrap();
    std::fs::remove_file(&key_file).unwrap();
    let e = refused(&config(&url, &data, None)).await;
    assert!(e.contains("does not exist") && e.contains("secret.key") && e.contains(s.state.sealer.key_id()), "{e}");
    assert!(!key_file.exists(), "a new key file was generated although sealed secrets exist");
    std::fs::write(&key_file, &key).unwrap();
    let again = serve(config(&url, &data, None)).await;
    assert_eq!(token_status(&again, "SEAL2").await, 201);
}
on_both!(lost_key_file_refuses_to_start);

/// Every sealed value carries the key id and opens only in its own row: device A's sealed key copied into
/// device B's row does not make B's tokens.
async fn sealed_secrets_are_bound_to_their_row(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = database(db, dir.path()).await else { return };
    let s = serve(config(&url, dir.path(), Some("ab".repeat(32)))).await;
    let provider = seal_some(&s, "ROWA").await;
    let r = common::registry(&s).await;
    common::register_shs(&s, &r, "ROWB").await;
    let a = sealed_key_of(&s, "ROWA").await;
    let key_id = s.state.sealer.key_id().to_owned();
    assert!(a.starts_with(&format!("mp2:{key_id}:")), "no key id in {a}");
    let stored: String = sqlx::query("SELECT key_id FROM sealing_key")
        .fetch_one(&s.state.db.pool)
        .await
        .unwrap()
        .try_get("key_id")
        .unwrap();
    assert_eq!(stored, key_id);
    assert_eq!(wave_status(&s, &provider).await, 401);
    assert_eq!(token_status(&s, "ROWB").await, 201);
    sqlx::query("UPDATE devices SET openpaygo_key_sealed = $1 WHERE serial = 'ROWB'")
        .bind(&a)
        .execute(&s.state.db.pool)
        .await
        .unwrap();
    let (code, body) = s.post("/v1/devices/ROWB/tokens", json!({"kind": "add_time", "days": "1"})).await;
    assert_eq!(code, 500, "a sealed key moved to another row made a token: {body}");
    assert!(!body.to_string().contains(common::KEY), "{body}");
    assert_eq!(token_status(&s, "ROWA").await, 201, "the original row still opens");
}
on_both!(sealed_secrets_are_bound_to_their_row);

/// `base64(nonce ‖ ciphertext)` without associated data: how values were sealed before key ids.
fn first_format(key_hex: &str, plain: &str) -> String {
    let key = hex::decode(key_hex).unwrap();
    let cipher = Aes256Gcm::new(Key::<Aes256Gcm>::from_slice(&key));
    let nonce = [7u8; 12];
    let mut out = nonce.to_vec();
    out.extend(cipher.encrypt(Nonce::from_slice(&nonce), plain.as_bytes()).unwrap());
    base64::engine::general_purpose::STANDARD.encode(out)
}

/// A database from before key ids (first-format values, no key-check value): another key is refused without
/// changing anything; its own key upgrades every value in place and stores the check value.
async fn first_format_values_are_upgraded(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = database(db, dir.path()).await else { return };
    let key = "ab".repeat(32);
    let s = serve(config(&url, dir.path(), Some(key.clone()))).await;
    let provider = seal_some(&s, "OLD1").await;
    let pool = &s.state.db.pool;
    let old_device = first_format(&key, common::KEY);
    let old_provider = first_format(&key, "wave-signing-secret-0123");
    sqlx::query("UPDATE devices SET openpaygo_key_sealed = $1").bind(&old_device).execute(pool).await.unwrap();
    sqlx::query("UPDATE providers SET secret_sealed = $1").bind(&old_provider).execute(pool).await.unwrap();
    sqlx::query("DELETE FROM sealing_key").execute(pool).await.unwrap();

    let e = refused(&config(&url, dir.path(), Some("cd".repeat(32)))).await;
    assert!(e.contains("do not open"), "{e}");
    assert_eq!(sealed_key_of(&s, "OLD1").await, old_device, "a refused start changed a sealed value");
    let checks: i64 = sqlx::query("SELECT COUNT(*) AS n FROM sealing_key").fetch_one(pool).await.unwrap().get("n");
    assert_eq!(checks, 0, "a refused start stored its key");

    let upgraded = serve(config(&url, dir.path(), Some(key))).await;
    let value = sealed_key_of(&upgraded, "OLD1").await;
    assert!(value.starts_with(&format!("mp2:{}:", upgraded.state.sealer.key_id())), "{value}");
    assert_eq!(token_status(&upgraded, "OLD1").await, 201);
    assert_eq!(wave_status(&upgraded, &provider).await, 401);
}
on_both!(first_format_values_are_upgraded);

fn server_command(url: &str, data_dir: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_micropower-server"));
    c.env("DATABASE_URL", url)
        .env("MICROPOWER_DATA_DIR", data_dir)
        .env("RUST_LOG", "warn")
        .env_remove("MICROPOWER_SECRET_KEY")
        .env_remove("MICROPOWER_NEW_SECRET_KEY")
        .env_remove("MICROPOWER_ADMIN_KEY");
    c
}

async fn run(mut command: Command) -> std::process::Output {
    tokio::task::spawn_blocking(move || command.output()).await.unwrap().unwrap()
}

/// `rotate-secret-key` re-seals every secret under a new key: the key file is replaced, the old key no longer
/// starts the server, the new one opens every secret. With the key in `MICROPOWER_SECRET_KEY`, the new key is
/// `MICROPOWER_NEW_SECRET_KEY`.
async fn rotate_secret_key(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = database(db, dir.path()).await else { return };
    let data = dir.path().join("data");
    let s = serve(config(&url, &data, None)).await;
    let provider = seal_some(&s, "ROT1").await;
    let old_key = std::fs::read_to_string(data.join("secret.key")).unwrap();
    drop(s);

    let mut rotate = server_command(&url, &data);
    rotate.arg("rotate-secret-key");
    let out = run(rotate).await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("2 secret(s) re-sealed"), "{stdout}");
    let new_key = std::fs::read_to_string(data.join("secret.key")).unwrap();
    assert_ne!(new_key.trim(), old_key.trim());
    assert!(!stdout.contains(new_key.trim()), "the new key was printed");

    let e = refused(&config(&url, &data, Some(old_key.trim().to_owned()))).await;
    assert!(e.contains("sealed under key"), "{e}");
    let rotated = serve(config(&url, &data, None)).await;
    assert_eq!(token_status(&rotated, "ROT1").await, 201);
    assert_eq!(wave_status(&rotated, &provider).await, 401);
    drop(rotated);

    // The key in the environment: the new one must be given, and the key file is left alone.
    let mut without_new = server_command(&url, &data);
    without_new.arg("rotate-secret-key").env("MICROPOWER_SECRET_KEY", new_key.trim());
    let out = run(without_new).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("MICROPOWER_NEW_SECRET_KEY"));
    let mut with_new = server_command(&url, &data);
    with_new
        .arg("rotate-secret-key")
        .env("MICROPOWER_SECRET_KEY", new_key.trim())
        .env("MICROPOWER_NEW_SECRET_KEY", "ef".repeat(32));
    let out = run(with_new).await;
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_to_string(data.join("secret.key")).unwrap(), new_key, "the key file changed");
    let third = serve(config(&url, &data, Some("ef".repeat(32)))).await;
    assert_eq!(token_status(&third, "ROT1").await, 201);
}
on_both!(rotate_secret_key);

/// A mistyped OpenPAYGO key never comes back in an error, whichever engine and whichever path it takes.
#[test]
fn a_mistyped_openpaygo_key_is_not_echoed() {
    let mistyped = "a29ab82edc5fbbc41ec9530f6dac86zz";
    for kind in [EngineKind::Native, EngineKind::Wasm] {
        let compiled = tempfile::tempdir().unwrap();
        let engine = micropower_server::server::engine(kind, compiled.path()).unwrap();
        let e = engine
            .call(micropower_core::calls::OpenpaygoGenerate {
                secret_key: mistyped.into(),
                starting_code: Some(123_456_789),
                count: 1,
                kind: micropower_core::api::OpenPaygoKind::AddTime,
                value: Some(rust_decimal::Decimal::ONE),
                time_divider: 1,
                restricted_digits: false,
                extended: false,
            })
            .expect_err("a mistyped key makes no token");
        let text = format!("{e} {e:?}");
        assert!(!text.contains("86zz") && !text.contains(mistyped), "{kind:?}: {text}");
    }
}

/// A `MICROPOWER_ADMIN_KEY` shorter than 32 characters stops the start (exit status 2), without repeating it.
#[test]
fn a_short_admin_key_refuses_to_start() {
    let with = |key: &str| {
        Config::from_vars(&[], |name| (name == "MICROPOWER_ADMIN_KEY").then(|| key.to_owned())).map(|c| c.admin_key)
    };
    let e = with("admin123-short-key").unwrap_err().to_string();
    assert!(e.starts_with("MICROPOWER_ADMIN_KEY: ") && e.contains("32"), "{e}");
    assert!(!e.contains("admin123"), "{e}");
    assert!(with(&"k".repeat(31)).is_err());
    assert_eq!(with(&"k".repeat(32)).unwrap().as_deref(), Some("k".repeat(32).as_str()));
    let out = Command::new(env!("CARGO_BIN_EXE_micropower-server"))
        .env("MICROPOWER_ADMIN_KEY", "admin123-short-key")
        .env("DATABASE_URL", "sqlite::memory:")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("MICROPOWER_ADMIN_KEY") && !stderr.contains("admin123"), "{stderr}");
}

/// The first generated admin key is written to `<data dir>/admin.key` (0600) and not returned for printing;
/// `--print-admin-key` prints it instead. It is an admin key either way.
async fn first_admin_key_goes_to_a_private_file(db: Db) {
    let dir = tempfile::tempdir().unwrap();
    let Some(url) = database(db, dir.path()).await else { return };
    let mut c = config(&url, dir.path(), Some("ab".repeat(32)));
    c.admin_key = None;
    let (_state, new) = micropower_server::server::state(&c).await.unwrap();
    let Some(micropower_server::auth::NewAdminKey::Written(path)) = new else { panic!("{new:?}") };
    assert_eq!(path, dir.path().join("admin.key"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let key = std::fs::read_to_string(&path).unwrap().trim().to_owned();
    assert!(key.starts_with("mp_") && key.len() >= 32, "{key}");
    let mut s = serve(config(&url, dir.path(), Some("ab".repeat(32)))).await;
    s.key = key;
    assert_eq!(s.get("/v1/customers").await.0, 200, "the key in the file is not an admin key");

    let other = tempfile::tempdir().unwrap();
    let Some(url) = database(db, other.path()).await else { return };
    let mut c = config(&url, other.path(), Some("ab".repeat(32)));
    c.admin_key = None;
    c.print_admin_key = true;
    let (_state, new) = micropower_server::server::state(&c).await.unwrap();
    assert!(matches!(new, Some(micropower_server::auth::NewAdminKey::Print(ref k)) if k.starts_with("mp_")), "{new:?}");
    assert!(!other.path().join("admin.key").exists());
}
on_both!(first_admin_key_goes_to_a_private_file);

/// sqlx is built with rustls: `sslmode=require` reaches the test PostgreSQL server over TLS, and
/// `sslmode=verify-full` checks its certificate (the test server's is self-signed, so it is refused).
#[tokio::test]
async fn postgres_over_tls() {
    let Some(url) = common::fresh_postgres_url().await else {
        eprintln!("skipped: MICROPOWER_TEST_POSTGRES_URL is not set");
        return;
    };
    let db = match micropower_server::db::Db::connect(&format!("{url}?sslmode=require")).await {
        Ok(db) => db,
        Err(e) => {
            let text = e.to_string();
            // A server without TLS says so; a build without TLS says "built without TLS support".
            assert!(!text.contains("without TLS"), "sqlx has no TLS: {text}");
            eprintln!("skipped: the test PostgreSQL server does not offer TLS ({text})");
            return;
        }
    };
    let ssl: bool = sqlx::query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(&db.pool)
        .await
        .unwrap()
        .try_get("ssl")
        .unwrap();
    assert!(ssl, "sslmode=require connected without TLS");
    let e = micropower_server::db::Db::connect(&format!("{url}?sslmode=verify-full"))
        .await
        .err()
        .expect("verify-full accepted a certificate no authority signed");
    assert!(!e.to_string().contains("without TLS"), "{e}");
}

/// A vendor URL the server may not call (plain http to another host) stops the start with its reason,
/// rather than a server whose external tokens stay pending without a word.
#[test]
fn an_unusable_vendor_url_refuses_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("m.db").display());
    let mut command = server_command(&url, dir.path());
    command
        .env("MICROPOWER_CORE", "native")
        .env("MICROPOWER_LISTEN", "127.0.0.1:0")
        .env("MICROPOWER_VENDOR_URL", "http://vendor.example/tokens")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = command.spawn().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("the server started with an unusable vendor URL");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("MICROPOWER_VENDOR_URL"), "{stderr}");
}
