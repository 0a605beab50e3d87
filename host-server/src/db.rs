//! The database: SQLite (default, embedded) or PostgreSQL, one code path through sqlx's `Any` driver.
//!
//! Writes that decide money take the device's lock: a row lock (`FOR UPDATE`) on PostgreSQL, and on SQLite
//! the process's single writer (SQLite allows one writer at a time anyway; queueing in the process avoids
//! `SQLITE_BUSY` retries).

use std::path::PathBuf;
use std::time::Duration;

use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::{AnyPool, Executor};
use tokio::sync::{Mutex, MutexGuard};

/// Which database is behind the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The pool and what differs between the two databases.
pub struct Db {
    pub pool: AnyPool,
    pub backend: Backend,
    writer: Mutex<()>,
}

/// Held while a money-moving transaction runs on SQLite; a no-op on PostgreSQL.
pub struct WriteGuard<'a>(#[allow(dead_code)] Option<MutexGuard<'a, ()>>);

/// The page size of a new SQLite database: 1 KiB, not SQLite's 4 KiB. A payment changes a leaf of each of
/// four indexes whose keys are random (the provider's transaction id, the customer, the serial, the token's
/// serial), so a commit of 30 payments wrote ≈ 150 of its ≈ 195 log pages for them; each is a whole page in
/// the log. With 1 KiB pages the writer writes a quarter of those bytes. What that saves in CPU is within the
/// machine's noise in paired runs; 100,000 meters lost nothing against 4 KiB (BENCHMARKS.md, "Server load",
/// 2026-12-08).
const SQLITE_PAGE_SIZE: &str = "PRAGMA page_size = 1024";

impl Db {
    /// Connects, creating the SQLite file (and its folder) on first start, and applies the migrations.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(sqlx::Error::Configuration(format!("unsupported DATABASE_URL {url:?}").into()));
        };
        let url = match backend {
            Backend::Sqlite => sqlite_url(url)?,
            Backend::Postgres => postgres_url(url),
        };
        let options: AnyConnectOptions = url.parse()?;
        let pool = AnyPoolOptions::new()
            .max_connections(if backend == Backend::Sqlite { 8 } else { 16 })
            .acquire_timeout(Duration::from_secs(10))
            // No ping per checkout: a round trip (on SQLite, a hop to the connection's worker thread) before
            // every statement of the payment path. A connection that broke fails its statement, and sqlx
            // drops it from the pool then; SQLite's connections are files and do not break.
            .test_before_acquire(false)
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Before anything writes the file: a database takes its page size when it is created
                        // (and keeps it; on an existing one this does nothing).
                        conn.execute(SQLITE_PAGE_SIZE).await?;
                        // WAL lets readers run beside the writer; synchronous=FULL makes every commit durable
                        // on disk before the payment is acknowledged.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = FULL").await?;
                        conn.execute("PRAGMA foreign_keys = ON").await?;
                        conn.execute("PRAGMA busy_timeout = 10000").await?;
                    }
                    Ok(())
                })
            })
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Db { pool, backend, writer: Mutex::new(()) })
    }

    /// Serialises money-moving transactions on SQLite; PostgreSQL uses row locks instead.
    pub async fn write_guard(&self) -> WriteGuard<'_> {
        match self.backend {
            Backend::Sqlite => WriteGuard(Some(self.writer.lock().await)),
            Backend::Postgres => WriteGuard(None),
        }
    }

    /// [`Db::write_guard`] for a thread outside the runtime (SQLite's payment writer).
    pub fn blocking_write_guard(&self) -> WriteGuard<'_> {
        match self.backend {
            Backend::Sqlite => WriteGuard(Some(self.writer.blocking_lock())),
            Backend::Postgres => WriteGuard(None),
        }
    }

    /// `" FOR UPDATE"` where the database has row locks.
    pub fn for_update(&self) -> &'static str {
        match self.backend {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        }
    }
}

/// A PostgreSQL URL with `sslmode=disable` added when it names a server on this machine and no `sslmode`:
/// sqlx's default (`prefer`) would encrypt traffic that never leaves the machine, which cost a third of the
/// payment path's throughput in the benchmark. An explicit `sslmode` is always kept.
fn postgres_url(url: &str) -> String {
    let Ok(mut parsed) = reqwest::Url::parse(url) else { return url.to_owned() };
    if parsed.query_pairs().any(|(name, _)| name == "sslmode") {
        return url.to_owned();
    }
    let host = parsed.host_str().unwrap_or_default();
    let host = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let loopback = host == "localhost" || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
    if !loopback {
        return url.to_owned();
    }
    parsed.query_pairs_mut().append_pair("sslmode", "disable");
    parsed.into()
}

/// The file of a SQLite `DATABASE_URL`; `None` for PostgreSQL and for an in-memory database.
pub fn sqlite_file(url: &str) -> Option<PathBuf> {
    let rest = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split_once('?').map_or(rest, |(path, _)| path);
    (path != ":memory:" && !path.is_empty()).then(|| PathBuf::from(path))
}

/// Makes sure the SQLite file's folder exists (0700: it holds every record) and asks sqlx to create the file.
fn sqlite_url(url: &str) -> Result<String, sqlx::Error> {
    let rest = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if let Some(file) = sqlite_file(url) {
        if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
            crate::files::create_private_dir(parent)
                .map_err(|e| sqlx::Error::Configuration(format!("cannot create {}: {e}", parent.display()).into()))?;
        }
    }
    let mut params: Vec<&str> = query.split('&').filter(|p| !p.is_empty()).collect();
    if !params.iter().any(|p| p.starts_with("mode=")) {
        params.push("mode=rwc");
    }
    Ok(format!("sqlite://{path}?{}", params.join("&")))
}

#[cfg(test)]
mod tests {
    use super::{postgres_url, Db};

    /// A new database file takes the small page size; one made before keeps its own.
    #[tokio::test]
    async fn a_new_sqlite_database_has_small_pages_and_an_old_one_keeps_its_own() {
        let dir = tempfile::tempdir().unwrap();
        let page_size = |db: Db| async move {
            let size: i64 = sqlx::query_scalar("PRAGMA page_size").fetch_one(&db.pool).await.unwrap();
            db.pool.close().await;
            size
        };
        let new = dir.path().join("new.db");
        let db = Db::connect(&format!("sqlite://{}", new.display())).await.unwrap();
        assert_eq!(page_size(db).await, 1024);

        let old = dir.path().join("old.db");
        let made = rusqlite::Connection::open(&old).unwrap();
        made.execute_batch("PRAGMA page_size = 4096; CREATE TABLE before (x); PRAGMA journal_mode = WAL;").unwrap();
        drop(made);
        let db = Db::connect(&format!("sqlite://{}", old.display())).await.unwrap();
        assert_eq!(page_size(db).await, 4096);
    }

    #[test]
    fn tls_is_left_off_only_for_this_machine_and_only_when_not_asked_for() {
        let local = "postgres://u:p@127.0.0.1:5432/db";
        assert_eq!(postgres_url(local), "postgres://u:p@127.0.0.1:5432/db?sslmode=disable");
        assert_eq!(
            postgres_url("postgres://localhost/db?application_name=mp"),
            "postgres://localhost/db?application_name=mp&sslmode=disable"
        );
        assert_eq!(postgres_url("postgresql://u@[::1]:5432/db"), "postgresql://u@[::1]:5432/db?sslmode=disable");
        let asked = "postgres://u:p@127.0.0.1/db?sslmode=require";
        assert_eq!(postgres_url(asked), asked);
        let remote = "postgres://u:p@db.example.com:5432/db";
        assert_eq!(postgres_url(remote), remote);
        assert_eq!(postgres_url("postgres://u:p@10.0.0.5/db"), "postgres://u:p@10.0.0.5/db");
    }
}
