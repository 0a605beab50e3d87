//! The sealing key of the secrets at rest: which key this server holds (`MICROPOWER_SECRET_KEY` or the key file
//! `<data dir>/secret.key`), the proof that it is the database's key (the key-check value in `sealing_key`),
//! the upgrade of values sealed in the first format, and `micropower-server rotate-secret-key`.
//!
//! The rule: a server never seals anything under a key the database does not know. A first start stores the
//! key's check value; a later start with another key, or without the key file while sealed secrets exist,
//! stops with a message saying which key the database wants, instead of generating a key and failing on every
//! old secret afterwards.

use std::path::{Path, PathBuf};

use sqlx::{Any, Row, Transaction};

use crate::crypto::{CryptoError, Sealer, SealingKey, Slot};
use crate::db::{Backend, Db};
use crate::storage::audit::{Action, Actor, Entry};

/// Why the sealing key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error(
        "this database's secrets are sealed under key {stored}, but {held_by} holds key {held}; start with the key \
         the database was sealed with (nothing was changed)"
    )]
    WrongKey { stored: String, held: String, held_by: String },
    #[error(
        "this database holds secrets sealed under key {stored}, but MICROPOWER_SECRET_KEY is not set and the key \
         file {path} does not exist; restore the key file (or set MICROPOWER_SECRET_KEY). No new key was \
         generated: it could not open the sealed secrets"
    )]
    MissingKey { stored: String, path: String },
    #[error(
        "{count} secret(s) in this database do not open with {held_by} (key {held}), for example {example}: it is \
         not the key they were sealed with (nothing was changed)"
    )]
    DoesNotOpen { count: usize, held: String, held_by: String, example: String },
    #[error("{0}")]
    Rotate(String),
}

/// A column holding sealed values, and the column naming its row (the row part of the [`Slot`]).
struct SealedColumn {
    table: &'static str,
    id_column: &'static str,
    column: &'static str,
}

/// Every column holding a sealed secret; a new one must be listed here, so that start-up upgrades it and
/// rotation re-seals it.
const SEALED_COLUMNS: [SealedColumn; 2] = [
    SealedColumn { table: "devices", id_column: "serial", column: "openpaygo_key_sealed" },
    SealedColumn { table: "providers", id_column: "id", column: "secret_sealed" },
];

impl SealedColumn {
    fn slot<'a>(&self, row: &'a str) -> Slot<'a> {
        Slot { table: self.table, column: self.column, row }
    }
}

/// One sealed value and its row.
struct SealedRow {
    id: String,
    sealed: String,
}

/// The key the database was sealed with, as stored at its first start.
struct StoredKey {
    key_id: String,
    check_value: String,
}

/// Where this server's key comes from, for messages.
enum KeySource {
    Environment,
    File(PathBuf),
}

impl std::fmt::Display for KeySource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeySource::Environment => f.write_str("MICROPOWER_SECRET_KEY"),
            KeySource::File(path) => write!(f, "the key file {}", path.display()),
        }
    }
}

/// The key file in a data directory.
pub fn key_file(data_dir: &Path) -> PathBuf {
    data_dir.join("secret.key")
}

/// The next key file written by `rotate-secret-key` before it re-seals, renamed over the key file after.
fn next_key_file(data_dir: &Path) -> PathBuf {
    data_dir.join("secret.key.next")
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SecretsError + '_ {
    move |source| SecretsError::Io { path: path.display().to_string(), source }
}

/// The key in a key file, `None` when there is no file.
fn read_key_file(path: &Path) -> Result<Option<SealingKey>, SecretsError> {
    match std::fs::read_to_string(path) {
        Ok(text) => SealingKey::from_hex(&text).map(Some).ok_or_else(|| {
            SecretsError::Crypto(CryptoError::KeyFile {
                path: path.display().to_string(),
                reason: "not 64 hexadecimal characters".into(),
            })
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error(path)(e)),
    }
}

async fn stored_key<'e>(exec: impl sqlx::Executor<'e, Database = Any>) -> Result<Option<StoredKey>, sqlx::Error> {
    let row =
        sqlx::query("SELECT key_id, check_value FROM sealing_key WHERE singleton = 1").fetch_optional(exec).await?;
    row.map(|r| Ok(StoredKey { key_id: r.try_get("key_id")?, check_value: r.try_get("check_value")? })).transpose()
}

async fn sealed_rows(tx: &mut Transaction<'_, Any>, col: &SealedColumn) -> Result<Vec<SealedRow>, sqlx::Error> {
    let sql = format!(
        "SELECT {id} AS id, {c} AS sealed FROM {t} WHERE {c} IS NOT NULL ORDER BY {id}",
        id = col.id_column,
        c = col.column,
        t = col.table
    );
    let rows = sqlx::query(&sql).fetch_all(&mut **tx).await?;
    rows.iter().map(|r| Ok(SealedRow { id: r.try_get("id")?, sealed: r.try_get("sealed")? })).collect()
}

async fn update_sealed(
    tx: &mut Transaction<'_, Any>,
    col: &SealedColumn,
    id: &str,
    sealed: &str,
) -> Result<(), sqlx::Error> {
    let sql = format!("UPDATE {} SET {} = $1 WHERE {} = $2", col.table, col.column, col.id_column);
    sqlx::query(&sql).bind(sealed).bind(id).execute(&mut **tx).await?;
    Ok(())
}

/// How many sealed values there are, and how many of them are in the first format.
async fn count_sealed(db: &Db) -> Result<(i64, i64), sqlx::Error> {
    let (mut all, mut first) = (0, 0);
    for col in &SEALED_COLUMNS {
        let sql = format!(
            "SELECT COUNT({c}) AS n, COUNT(CASE WHEN {c} NOT LIKE 'mp2:%' THEN 1 END) AS first FROM {t}",
            c = col.column,
            t = col.table
        );
        let row = sqlx::query(&sql).fetch_one(&db.pool).await?;
        all += row.try_get::<i64, _>("n")?;
        first += row.try_get::<i64, _>("first")?;
    }
    Ok((all, first))
}

/// Opens a value in either format.
fn open_any(sealer: &Sealer, slot: Slot<'_>, sealed: &str) -> Result<String, CryptoError> {
    if Sealer::is_first_format(sealed) {
        sealer.open_first_format(slot, sealed)
    } else {
        sealer.open(slot, sealed)
    }
}

/// The sealer of a starting server: the configured key (`MICROPOWER_SECRET_KEY`, else the key file, created
/// 0600 in a 0700 data directory on a first start only), checked against the database's key-check value.
/// Values sealed in the first format are re-sealed with their slot and key id; a database without a
/// key-check value (first start, or made before it existed) gets this key's once every sealed value opens.
pub async fn load_sealer(db: &Db, secret_key_hex: Option<&str>, data_dir: &Path) -> Result<Sealer, SecretsError> {
    crate::files::create_private_dir(data_dir).map_err(io_error(data_dir))?;
    let stored = stored_key(&db.pool).await?;
    let (key, source) = match secret_key_hex {
        Some(text) => (SealingKey::from_hex(text).ok_or(CryptoError::BadSecretKey)?, KeySource::Environment),
        None => (file_key(db, data_dir, stored.as_ref()).await?, KeySource::File(key_file(data_dir))),
    };
    if let Some(stored) = &stored {
        if stored.check_value != key.check_value() {
            return Err(SecretsError::WrongKey {
                stored: stored.key_id.clone(),
                held: key.id(),
                held_by: source.to_string(),
            });
        }
    }
    let sealer = Sealer::new(&key);
    let (_, first_format) = count_sealed(db).await?;
    if stored.is_some() && first_format == 0 {
        return Ok(sealer);
    }
    adopt(db, &key, &sealer, &source).await?;
    Ok(sealer)
}

/// The key from the key file; on a first start (no key-check value, nothing sealed) a new key file.
async fn file_key(db: &Db, data_dir: &Path, stored: Option<&StoredKey>) -> Result<SealingKey, SecretsError> {
    let path = key_file(data_dir);
    let current = read_key_file(&path)?;
    // A rotation that committed in the database but stopped before renaming its new key file into place.
    if let (Some(stored), Some(next)) = (stored, read_key_file(&next_key_file(data_dir))?) {
        if current.as_ref().is_none_or(|k| k.check_value() != stored.check_value)
            && next.check_value() == stored.check_value
        {
            std::fs::rename(next_key_file(data_dir), &path).map_err(io_error(&path))?;
            crate::files::sync_parent(&path).map_err(io_error(&path))?;
            tracing::warn!(key_id = %next.id(), "finished an interrupted rotate-secret-key: the new key file is in place");
            return Ok(next);
        }
    }
    if let Some(key) = current {
        return Ok(key);
    }
    let (sealed, _) = count_sealed(db).await?;
    if stored.is_some() || sealed > 0 {
        return Err(SecretsError::MissingKey {
            stored: stored.map_or_else(|| "unknown (sealed before key ids)".to_owned(), |s| s.key_id.clone()),
            path: path.display().to_string(),
        });
    }
    let key = SealingKey::generate()?;
    crate::files::write_private_file(&path, key.to_hex().as_bytes()).map_err(io_error(&path))?;
    crate::files::sync_parent(&path).map_err(io_error(&path))?;
    tracing::info!(path = %path.display(), key_id = %key.id(), "created the key that seals secrets at rest");
    Ok(key)
}

/// In one transaction: checks that every sealed value opens with `key`, re-seals those in the first format,
/// and stores `key`'s check value if none is stored.
async fn adopt(db: &Db, key: &SealingKey, sealer: &Sealer, source: &KeySource) -> Result<(), SecretsError> {
    let mut tx = db.pool.begin().await?;
    // Written first, so SQLite takes its write lock before the reads (a read transaction cannot always
    // become a write one later); a server starting beside this one on PostgreSQL inserts nothing twice.
    sqlx::query(
        "INSERT INTO sealing_key (singleton, key_id, check_value, created_at) VALUES (1, $1, $2, $3) \
         ON CONFLICT (singleton) DO NOTHING",
    )
    .bind(key.id())
    .bind(key.check_value())
    .bind(crate::ids::now_rfc3339())
    .execute(&mut *tx)
    .await?;
    match stored_key(&mut *tx).await? {
        Some(stored) if stored.check_value == key.check_value() => {}
        Some(stored) => {
            return Err(SecretsError::WrongKey { stored: stored.key_id, held: key.id(), held_by: source.to_string() })
        }
        None => return Err(SecretsError::Rotate("the key-check value was not stored".into())),
    }
    let mut failed: Vec<String> = Vec::new();
    let mut upgraded = 0usize;
    for col in &SEALED_COLUMNS {
        for row in sealed_rows(&mut tx, col).await? {
            let slot = col.slot(&row.id);
            match open_any(sealer, slot, &row.sealed) {
                Ok(plain) if Sealer::is_first_format(&row.sealed) => {
                    update_sealed(&mut tx, col, &row.id, &sealer.seal(slot, &plain)?).await?;
                    upgraded += 1;
                }
                Ok(_) => {}
                Err(_) => failed.push(slot.to_string()),
            }
        }
    }
    if let Some(example) = failed.first() {
        return Err(SecretsError::DoesNotOpen {
            count: failed.len(),
            held: key.id(),
            held_by: source.to_string(),
            example: example.clone(),
        });
    }
    tx.commit().await?;
    if upgraded > 0 {
        tracing::info!(upgraded, key_id = %key.id(), "re-sealed secrets with their row and key id");
    }
    Ok(())
}

/// The sealing key as the audit log keeps it: its id (a fingerprint), never the key.
#[derive(serde::Serialize)]
struct KeyAudit<'a> {
    key_id: &'a str,
    resealed: Option<usize>,
}

/// What `rotate-secret-key` did.
#[derive(Debug)]
pub struct Rotation {
    pub resealed: usize,
    pub old_key_id: String,
    pub new_key_id: String,
    /// The key file now holding the new key; `None` when the key came from `MICROPOWER_SECRET_KEY`, which the
    /// operator must now set to the new key.
    pub key_file: Option<PathBuf>,
}

/// `micropower-server rotate-secret-key`: re-seals every secret under a new key (`new_key_hex`, or a random
/// one when the current key is in the key file) in one transaction, and replaces the key's check value. With a
/// key file, the new key is written beside it first and renamed over it after the commit (a start finishes an
/// interrupted rotation). Servers must be stopped: one still running holds the old key.
pub async fn rotate(
    db: &Db,
    secret_key_hex: Option<&str>,
    new_key_hex: Option<&str>,
    data_dir: &Path,
) -> Result<Rotation, SecretsError> {
    let old = load_sealer(db, secret_key_hex, data_dir).await?;
    let new_key = match (new_key_hex, secret_key_hex) {
        (Some(text), _) => SealingKey::from_hex(text).ok_or_else(|| {
            SecretsError::Rotate("MICROPOWER_NEW_SECRET_KEY must be 64 hexadecimal characters (32 bytes)".into())
        })?,
        (None, None) => SealingKey::generate()?,
        (None, Some(_)) => {
            return Err(SecretsError::Rotate(
                "the key comes from MICROPOWER_SECRET_KEY: set MICROPOWER_NEW_SECRET_KEY to the new key (64 \
                 hexadecimal characters, e.g. `openssl rand -hex 32`)"
                    .into(),
            ))
        }
    };
    if new_key.id() == old.key_id() {
        return Err(SecretsError::Rotate("the new key is the current key".into()));
    }
    let new = Sealer::new(&new_key);
    let next_file = next_key_file(data_dir);
    if secret_key_hex.is_none() {
        crate::files::replace_private_file(&next_file, new_key.to_hex().as_bytes()).map_err(io_error(&next_file))?;
    }
    let mut tx = db.pool.begin().await?;
    // The write lock first (SQLite), and no writer may seal under the old key meanwhile (PostgreSQL).
    sqlx::query("UPDATE sealing_key SET key_id = key_id WHERE singleton = 1").execute(&mut *tx).await?;
    if db.backend == Backend::Postgres {
        let tables: Vec<&str> = SEALED_COLUMNS.iter().map(|c| c.table).collect();
        sqlx::query(&format!("LOCK TABLE {} IN EXCLUSIVE MODE", tables.join(", "))).execute(&mut *tx).await?;
    }
    let mut resealed = 0usize;
    for col in &SEALED_COLUMNS {
        for row in sealed_rows(&mut tx, col).await? {
            let slot = col.slot(&row.id);
            let plain = open_any(&old, slot, &row.sealed)?;
            update_sealed(&mut tx, col, &row.id, &new.seal(slot, &plain)?).await?;
            resealed += 1;
        }
    }
    sqlx::query("UPDATE sealing_key SET key_id = $1, check_value = $2, created_at = $3 WHERE singleton = 1")
        .bind(new_key.id())
        .bind(new_key.check_value())
        .bind(crate::ids::now_rfc3339())
        .execute(&mut *tx)
        .await?;
    let new_key_id = new_key.id();
    let before = KeyAudit { key_id: old.key_id(), resealed: None };
    let after = KeyAudit { key_id: &new_key_id, resealed: Some(resealed) };
    let entry = Entry::new(&Actor::System("rotate-secret-key"), Action::SecretKeyRotated, "secret_key", new_key.id())
        .before(&before)
        .and_then(|e| e.after(&after))
        .map_err(|e| SecretsError::Rotate(format!("{:?}", e.body)))?;
    crate::storage::audit::record(&mut *tx, &entry).await?;
    tx.commit().await?;
    let key_file = if secret_key_hex.is_none() {
        let path = key_file(data_dir);
        std::fs::rename(&next_file, &path).map_err(io_error(&path))?;
        crate::files::sync_parent(&path).map_err(io_error(&path))?;
        Some(path)
    } else {
        None
    };
    Ok(Rotation { resealed, old_key_id: old.key_id().to_owned(), new_key_id: new_key.id(), key_file })
}
