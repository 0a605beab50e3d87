//! Start-up and shutdown: open the database, load the engine and the sealing key, make sure an admin key
//! exists, then serve until SIGTERM or Ctrl-C.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;

use crate::auth::cache::Freshness;
use crate::auth::{AdminKeyDelivery, NewAdminKey};
use crate::config::{Config, EngineKind};
use crate::db::Db;
use crate::engine::Engine;
use crate::state::{AppState, Inner, Metrics};

/// A failure to start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("secrets: {0}")]
    Crypto(#[from] crate::crypto::CryptoError),
    #[error("sealing key: {0}")]
    Secrets(#[from] crate::secrets::SecretsError),
    #[error("core engine: {0}")]
    Engine(String),
    #[error("{0}")]
    Other(String),
}

/// The engine the configuration asks for. The wasm engine compiles the embedded guest (seconds of CPU) on
/// the first start and keeps it compiled in `compiled_dir` for the next ones.
pub fn engine(kind: EngineKind, compiled_dir: &std::path::Path) -> Result<Arc<dyn Engine>, StartError> {
    let started = std::time::Instant::now();
    let engine = crate::engine::new(kind, Some(compiled_dir)).map_err(|e| StartError::Engine(e.to_string()))?;
    tracing::info!(engine = engine.name(), ms = started.elapsed().as_millis() as u64, "core engine ready");
    Ok(engine)
}

/// Everything a running server shares, ready to serve.
pub async fn state(config: &Config) -> Result<(AppState, Option<NewAdminKey>), StartError> {
    let engine = engine(config.engine, &config.compiled_dir)?;
    state_with_engine(config, engine).await
}

/// [`state`] with an engine of the caller's (tests wrap one to watch or slow its calls).
pub async fn state_with_engine(
    config: &Config,
    engine: Arc<dyn Engine>,
) -> Result<(AppState, Option<NewAdminKey>), StartError> {
    let db = Db::connect(&config.database_url).await?;
    let sealer = crate::secrets::load_sealer(&db, config.secret_key.as_deref(), &config.data_dir).await?;
    let delivery = if config.print_admin_key {
        AdminKeyDelivery::Print
    } else {
        AdminKeyDelivery::File(config.data_dir.join("admin.key"))
    };
    let new_admin_key = crate::auth::ensure_admin_key(&db, config.admin_key.as_deref(), delivery)
        .await
        .map_err(|e| StartError::Other(format!("admin key: {:?}", e.body)))?;
    let sqlite = db.backend == crate::db::Backend::Sqlite;
    let slots = engine.slots();
    let engine_slots = Arc::new(tokio::sync::Semaphore::new(slots));
    let state = AppState(Arc::new(Inner {
        db,
        engine,
        engine_slots,
        heavy: crate::heavy::Heavy::new(config.heavy, slots),
        sealer,
        metrics: Metrics::default(),
        writer: std::sync::OnceLock::new(),
        hook_writer: std::sync::OnceLock::new(),
        keys: crate::auth::cache::KeyCache::new(if sqlite { Freshness::Owned } else { Freshness::Shared }),
        provider_names: crate::providers::names::ProviderNames::default(),
        failed_auth: crate::auth::limit::FailedAuth::default(),
        timezone: config.timezone,
        trusted_proxy_header: config.trusted_proxy_header.clone(),
        operator: crate::state::Operator {
            name: config.operator_name.clone(),
            address: config.operator_address.clone(),
        },
        progress: crate::progress::ProgressBoard::default(),
    }));
    if sqlite {
        let writer = match crate::db::sqlite_file(&config.database_url) {
            Some(file) => crate::payments::Writer::Thread(
                crate::storage::sqlite_writer::SqliteWriter::spawn(state.clone(), &file)
                    .map_err(|e| StartError::Other(format!("payment writer: {e}")))?,
            ),
            None => {
                crate::payments::Writer::Group(crate::group_commit::GroupCommit::spawn(state.clone(), "payment writer"))
            }
        };
        let _ = state.writer.set(writer);
        let _ = state.hook_writer.set(crate::providers::store::HookWriter::spawn(state.clone(), "hook writer"));
    }
    Ok((state, new_admin_key))
}

/// Serves `state` on `listener` until `shutdown` resolves; in-flight requests finish first.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    body_limit: usize,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = crate::app(state, body_limit);
    axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
