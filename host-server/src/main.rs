//! `micropower-server`: see http-api.md "Running" for the settings.

use std::io::IsTerminal;
use std::process::ExitCode;

use micropower_server::auth::NewAdminKey;
use micropower_server::config::{Command, Config};
use micropower_server::server;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        // Escape codes in a log file or a pipe (systemd, docker, `> server.log`) are noise to grep and to
        // log collectors: colours only when a person reads the terminal.
        .with_ansi(micropower_server::config::log_colours(
            std::io::stdout().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
        ))
        .init();
    let args: Vec<String> = std::env::args().collect();
    let config = match Config::from_env(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("micropower-server: {e}");
            return ExitCode::from(2);
        }
    };
    let command = match micropower_server::config::command(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("micropower-server: {e}\n{}", micropower_server::config::USAGE);
            return ExitCode::from(2);
        }
    };
    match command {
        Command::Serve => {}
        Command::Backup { file, force } => {
            return copied("backup", micropower_server::backup::backup(&config.database_url, &file, force).await)
        }
        Command::Restore { file, force } => {
            return copied("restore", micropower_server::backup::restore(&config.database_url, &file, force).await)
        }
        Command::RotateSecretKey => return rotate_secret_key(&config).await,
        Command::CompileGuest => return compile_guest(&config),
    }
    let (state, new_admin_key) = match server::state(&config).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("micropower-server: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match new_admin_key {
        Some(NewAdminKey::Written(path)) => println!(
            "Created the first admin API key in {} (readable only by this user): log in to the dashboard at \
             http://{}/ with the key in that file (`cat {}`), then keep it somewhere safe",
            path.display(),
            config.listen,
            path.display()
        ),
        Some(NewAdminKey::Print(key)) => println!("Created the first admin API key (shown once, store it now): {key}"),
        None => {}
    }
    if config.demo {
        match micropower_server::demo::seed(&state).await {
            Ok(true) => println!("Demo data loaded."),
            Ok(false) => println!("Demo data skipped: the database already has customers."),
            Err(e) => eprintln!("micropower-server: demo data failed: {:?}", e.body),
        }
    }
    match &config.vendor_url {
        Some(url) => match micropower_server::vendor::HttpVendor::new(url) {
            Ok(vendor) => {
                micropower_server::vendor::spawn_worker(
                    state.clone(),
                    std::sync::Arc::new(vendor),
                    std::time::Duration::from_secs(5),
                );
            }
            // A configured vendor that cannot be used (plain http to another host, a malformed URL) stops the
            // start: serving with its tokens silently pending would hide the mistake.
            Err(e) => {
                eprintln!("micropower-server: cannot start: MICROPOWER_VENDOR_URL: {e}");
                return ExitCode::from(2);
            }
        },
        None => tracing::warn!("MICROPOWER_VENDOR_URL is not set: tokens of external manufacturers stay pending"),
    }
    match micropower_server::notify::gateway::from_env() {
        Ok(Some(gateway)) => {
            micropower_server::notify::spawn_worker(
                state.clone(),
                std::sync::Arc::from(gateway),
                std::time::Duration::from_secs(5),
            );
        }
        Ok(None) => tracing::warn!("MICROPOWER_SMS_GATEWAY is not set: customer SMS wait in the outbox"),
        Err(e) => {
            eprintln!("micropower-server: cannot start: SMS gateway: {e}");
            return ExitCode::from(2);
        }
    }
    match micropower_server::notify::reminders::ReminderSettings::from_env() {
        Ok(settings) => {
            micropower_server::notify::reminders::spawn_daily(state.clone(), settings);
        }
        Err(e) => {
            eprintln!("micropower-server: {e}");
            return ExitCode::from(2);
        }
    }
    let listener = match tokio::net::TcpListener::bind(config.listen).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("micropower-server: cannot listen on {}: {e}", config.listen);
            return ExitCode::FAILURE;
        }
    };
    let engine = state.engine.name();
    println!(
        "micropower-server listening on http://{} (database {}, core engine {engine})",
        config.listen,
        redact(&config.database_url)
    );
    match server::serve(listener, state, config.body_limit, server::shutdown_signal()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("micropower-server: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Reports a backup or a restore; exit status 2 for what the operator must change, 1 for a failure.
fn copied(
    what: &str,
    result: Result<micropower_server::backup::Copied, micropower_server::backup::BackupError>,
) -> ExitCode {
    use micropower_server::backup::BackupError;
    match result {
        Ok(c) => {
            println!("{what}: {} ({} bytes, {} payments)", c.file.display(), c.bytes, c.payments);
            if let Some(kept) = c.kept {
                println!("{what}: the database it replaced is kept as {}", kept.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("micropower-server {what}: {e}");
            match e {
                BackupError::Postgres
                | BackupError::NoFile
                | BackupError::Exists(_)
                | BackupError::Live(_)
                | BackupError::SameFile(_) => ExitCode::from(2),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

/// `rotate-secret-key`: every sealed secret under a new key; servers must be stopped.
/// `compile-guest`: the wasm engine built once with its cache, which compiles and keeps the guest.
fn compile_guest(config: &Config) -> ExitCode {
    match server::engine(micropower_server::config::EngineKind::Wasm, &config.compiled_dir) {
        Ok(_) => {
            println!("compile-guest: the compiled guest is in {}", config.compiled_dir.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("micropower-server compile-guest: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn rotate_secret_key(config: &Config) -> ExitCode {
    let new_key = std::env::var("MICROPOWER_NEW_SECRET_KEY").ok().filter(|v| !v.trim().is_empty());
    let db = match micropower_server::db::Db::connect(&config.database_url).await {
        Ok(db) => db,
        Err(e) => {
            eprintln!("micropower-server rotate-secret-key: database: {e}");
            return ExitCode::FAILURE;
        }
    };
    let rotation =
        micropower_server::secrets::rotate(&db, config.secret_key.as_deref(), new_key.as_deref(), &config.data_dir)
            .await;
    match rotation {
        Ok(r) => {
            println!(
                "rotate-secret-key: {} secret(s) re-sealed, key {} replaced by key {}",
                r.resealed, r.old_key_id, r.new_key_id
            );
            match r.key_file {
                Some(path) => println!("rotate-secret-key: the new key is in {}", path.display()),
                None => {
                    println!("rotate-secret-key: set MICROPOWER_SECRET_KEY to the new key before starting the server")
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("micropower-server rotate-secret-key: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The database URL without its password.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://…@{}", &url[..scheme], &url[at + 1..]),
        _ => url.to_owned(),
    }
}
