//! Settings, from the environment and the command line (http-api.md "Running").

use std::net::SocketAddr;
use std::path::PathBuf;

pub use crate::engine::EngineKind;

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// `MICROPOWER_LISTEN`, default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// `DATABASE_URL`, default `sqlite://./data/micropower.db`.
    pub database_url: String,
    /// `MICROPOWER_CORE=wasm|native`.
    pub engine: EngineKind,
    /// `MICROPOWER_ADMIN_KEY`: the first admin key; generated and printed once when absent.
    pub admin_key: Option<String>,
    /// `MICROPOWER_SECRET_KEY`: 32 bytes (64 hex characters) sealing OpenPAYGO keys; otherwise a key file.
    pub secret_key: Option<String>,
    /// `MICROPOWER_DATA_DIR`, default `./data`: the key file (and the SQLite file by default) live here.
    pub data_dir: PathBuf,
    /// `--demo` or `MICROPOWER_DEMO=1`: seed a small realistic dataset into an empty database.
    pub demo: bool,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// `MICROPOWER_VENDOR_URL`: where pending tokens of `external` manufacturers are requested.
    pub vendor_url: Option<String>,
}

/// Whether log lines carry ANSI colours: only on a terminal, and not when `NO_COLOR` is set to anything but
/// the empty string (no-color.org).
pub fn log_colours(stdout_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stdout_is_terminal && no_color.is_none_or(|v| v.is_empty())
}

/// A setting that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct ConfigError {
    name: &'static str,
    reason: String,
}

impl Config {
    /// Reads the environment and the arguments (`--demo`).
    pub fn from_env(args: &[String]) -> Result<Self, ConfigError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let listen = var("MICROPOWER_LISTEN").unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen = listen.parse().map_err(|e| ConfigError {
            name: "MICROPOWER_LISTEN",
            reason: format!("{listen:?} is not host:port ({e})"),
        })?;
        let engine = match var("MICROPOWER_CORE") {
            None => EngineKind::default(),
            Some(name) => name.parse().map_err(|e| ConfigError { name: "MICROPOWER_CORE", reason: format!("{e}") })?,
        };
        let demo =
            args.iter().any(|a| a == "--demo") || matches!(var("MICROPOWER_DEMO").as_deref(), Some("1" | "true"));
        Ok(Config {
            listen,
            database_url: var("DATABASE_URL").unwrap_or_else(|| "sqlite://./data/micropower.db".into()),
            engine,
            admin_key: var("MICROPOWER_ADMIN_KEY"),
            secret_key: var("MICROPOWER_SECRET_KEY"),
            data_dir: PathBuf::from(var("MICROPOWER_DATA_DIR").unwrap_or_else(|| "./data".into())),
            demo,
            body_limit: 256 * 1024,
            vendor_url: var("MICROPOWER_VENDOR_URL"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::log_colours;
    use std::ffi::OsStr;

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(log_colours(true, None));
        assert!(log_colours(true, Some(OsStr::new(""))), "an empty NO_COLOR does not count");
        assert!(!log_colours(true, Some(OsStr::new("1"))));
        assert!(!log_colours(false, None), "a file or a pipe");
        assert!(!log_colours(false, Some(OsStr::new("1"))));
    }
}
