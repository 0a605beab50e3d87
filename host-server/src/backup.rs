//! `micropower-server backup <file>` and `restore <file>`: a consistent copy of the SQLite database taken while
//! the server serves (`VACUUM INTO` reads one snapshot, so the copy holds exactly the transactions committed
//! before it began), and its return into place. PostgreSQL has `pg_dump` for this (host-server/README.md).

use std::path::{Path, PathBuf};

use sqlx::{AnyConnection, Connection, Row};

use crate::db::sqlite_file;

/// Why a backup or a restore did not happen.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(
        "DATABASE_URL names a PostgreSQL database: back it up with `pg_dump --format=custom` and bring it back \
         with `pg_restore` (host-server/README.md, \"Backups\"); this command copies SQLite databases"
    )]
    Postgres,
    #[error("DATABASE_URL names no SQLite file")]
    NoFile,
    #[error("there is no database at {0}")]
    NoDatabase(String),
    #[error("{0} already exists: add --force to replace it")]
    Exists(String),
    #[error(
        "{0} holds a database: stop the server that uses it, then add --force to replace it (the current one \
         is kept beside it as {0}.before-restore-<time>)"
    )]
    Live(String),
    #[error("{0} is the database itself")]
    SameFile(String),
    #[error("{path} is not a micropower database: {reason}")]
    NotADatabase { path: String, reason: String },
    #[error("{0} is not a UTF-8 path")]
    Path(String),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

/// What a backup or a restore copied.
#[derive(Debug)]
pub struct Copied {
    /// The file written.
    pub file: PathBuf,
    pub bytes: u64,
    /// Payments in the copy: a quick sign that it holds what was expected.
    pub payments: i64,
    /// Where `restore --force` moved the database it replaced.
    pub kept: Option<PathBuf>,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io { path: path.display().to_string(), source }
}

fn utf8(path: &Path) -> Result<&str, BackupError> {
    path.to_str().ok_or_else(|| BackupError::Path(path.display().to_string()))
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

fn same_file(a: &Path, b: &Path) -> bool {
    matches!((a.canonicalize(), b.canonicalize()), (Ok(a), Ok(b)) if a == b)
}

fn database_file(database_url: &str) -> Result<PathBuf, BackupError> {
    if database_url.starts_with("postgres:") || database_url.starts_with("postgresql:") {
        return Err(BackupError::Postgres);
    }
    sqlite_file(database_url).ok_or(BackupError::NoFile)
}

async fn connect(path: &Path, mode: &str) -> Result<AnyConnection, BackupError> {
    sqlx::any::install_default_drivers();
    Ok(AnyConnection::connect(&format!("sqlite://{}?mode={mode}", utf8(path)?)).await?)
}

/// Checks that `path` is a whole micropower database; returns how many payments it holds.
async fn check(path: &Path) -> Result<i64, BackupError> {
    let not = |reason: String| BackupError::NotADatabase { path: path.display().to_string(), reason };
    let mut conn = connect(path, "ro").await.map_err(|e| not(e.to_string()))?;
    let verdict: String = sqlx::query("PRAGMA integrity_check")
        .fetch_one(&mut conn)
        .await
        .and_then(|r| r.try_get(0))
        .map_err(|e| not(e.to_string()))?;
    if verdict != "ok" {
        return Err(not(format!("integrity check: {verdict}")));
    }
    let payments: i64 = sqlx::query("SELECT COUNT(*) AS n FROM payments")
        .fetch_one(&mut conn)
        .await
        .and_then(|r| r.try_get("n"))
        .map_err(|e| not(e.to_string()))?;
    conn.close().await?;
    Ok(payments)
}

/// Makes `path` readable by its owner only and durable on disk.
fn seal_file(path: &Path) -> Result<u64, BackupError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(io(path))?;
    }
    let file = std::fs::File::open(path).map_err(io(path))?;
    file.sync_all().map_err(io(path))?;
    Ok(file.metadata().map_err(io(path))?.len())
}

fn remove_if_present(path: &Path) -> Result<(), BackupError> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(path)(e)),
    }
}

/// `micropower-server backup <file>`: a consistent copy of the SQLite database of `database_url`, taken beside
/// a running server (it waits for no writer and stops none), checked, and renamed into place (0600).
pub async fn backup(database_url: &str, target: &Path, force: bool) -> Result<Copied, BackupError> {
    let db = database_file(database_url)?;
    if !db.exists() {
        return Err(BackupError::NoDatabase(db.display().to_string()));
    }
    if target.exists() {
        if same_file(&db, target) {
            return Err(BackupError::SameFile(target.display().to_string()));
        }
        if !force {
            return Err(BackupError::Exists(target.display().to_string()));
        }
    }
    // Written beside the target and renamed: a backup cut short never looks like a whole one.
    let partial = with_suffix(target, ".partial");
    remove_if_present(&partial)?;
    let mut conn = connect(&db, "rw").await?;
    sqlx::query("PRAGMA busy_timeout = 10000").execute(&mut conn).await?;
    sqlx::query("VACUUM INTO $1").bind(utf8(&partial)?).execute(&mut conn).await?;
    conn.close().await?;
    let payments = check(&partial).await?;
    let bytes = seal_file(&partial)?;
    std::fs::rename(&partial, target).map_err(io(target))?;
    crate::files::sync_parent(target).map_err(io(target))?;
    Ok(Copied { file: target.to_owned(), bytes, payments, kept: None })
}

/// `micropower-server restore <file>`: puts a backup in place of the SQLite database of `database_url`. An
/// existing database is replaced only with `force` (and only with its server stopped), and is moved aside, not
/// deleted.
pub async fn restore(database_url: &str, source: &Path, force: bool) -> Result<Copied, BackupError> {
    let db = database_file(database_url)?;
    let payments = check(source).await?;
    let wal = with_suffix(&db, "-wal");
    let shm = with_suffix(&db, "-shm");
    let mut kept = None;
    if db.exists() || wal.exists() {
        if same_file(&db, source) {
            return Err(BackupError::SameFile(source.display().to_string()));
        }
        if !force {
            return Err(BackupError::Live(db.display().to_string()));
        }
        let aside = with_suffix(&db, &format!(".before-restore-{}", crate::ids::now().format("%Y%m%dT%H%M%SZ")));
        // The write-ahead log moves with its database (SQLite finds it by name), so nothing committed is lost.
        for (from, suffix) in [(&wal, "-wal"), (&shm, "-shm"), (&db, "")] {
            if from.exists() {
                let to = with_suffix(&aside, suffix);
                std::fs::rename(from, &to).map_err(io(&to))?;
            }
        }
        kept = Some(aside);
    }
    if let Some(dir) = db.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::files::create_private_dir(dir).map_err(io(dir))?;
    }
    let partial = with_suffix(&db, ".restoring");
    remove_if_present(&partial)?;
    std::fs::copy(source, &partial).map_err(io(&partial))?;
    let bytes = seal_file(&partial)?;
    std::fs::rename(&partial, &db).map_err(io(&db))?;
    crate::files::sync_parent(&db).map_err(io(&db))?;
    Ok(Copied { file: db, bytes, payments, kept })
}
