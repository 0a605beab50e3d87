//! Settings, from the environment and the command line (http-api.md "Running").

use std::net::SocketAddr;
use std::path::PathBuf;

pub use crate::engine::EngineKind;
/// An IANA time zone (`chrono_tz`), re-exported for the settings and the tests.
pub use chrono_tz::Tz;

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct Config {
    /// `MICROPOWER_LISTEN`, default `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// `DATABASE_URL`, default `sqlite://./data/micropower.db`.
    pub database_url: String,
    /// `MICROPOWER_CORE=wasm|native`.
    pub engine: EngineKind,
    /// `MICROPOWER_ADMIN_KEY` (at least [`MIN_ADMIN_KEY_CHARS`] characters): the first admin key; when absent,
    /// one is generated on the first start and written to `<data dir>/admin.key`.
    pub admin_key: Option<String>,
    /// `--print-admin-key`: print a generated first admin key instead of writing it to `<data dir>/admin.key`.
    pub print_admin_key: bool,
    /// `MICROPOWER_SECRET_KEY`: 32 bytes (64 hex characters) sealing OpenPAYGO keys; otherwise a key file.
    pub secret_key: Option<String>,
    /// `MICROPOWER_DATA_DIR`, default `./data`: the key file (and the SQLite file by default) live here.
    pub data_dir: PathBuf,
    /// `MICROPOWER_COMPILED_DIR`, default `<data dir>/compiled`: where the wasm engine keeps the guest
    /// compiled for the next start.
    pub compiled_dir: PathBuf,
    /// `--demo` or `MICROPOWER_DEMO=1`: seed a small realistic dataset into an empty database.
    pub demo: bool,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// `MICROPOWER_VENDOR_URL`: where pending tokens of `external` manufacturers are requested.
    pub vendor_url: Option<String>,
    /// `MICROPOWER_TIMEZONE`, an IANA name, default UTC: the operator's time zone, which decides the business
    /// day of every instant (domain.md §7b).
    pub timezone: Tz,
    /// `MICROPOWER_TRUSTED_PROXY_HEADER` (e.g. `X-Forwarded-For`), off by default: the header a reverse proxy
    /// in front of the server writes the client's address in. Only the last address in it is read (the one
    /// the proxy appended; those before it are whatever the client sent). Off, a hook's source is the
    /// socket's peer. Read only for the providers' source allowlists.
    pub trusted_proxy_header: Option<axum::http::HeaderName>,
    /// `MICROPOWER_OPERATOR_NAME`, default `micropower`: the operator's name, printed on receipts.
    pub operator_name: String,
    /// `MICROPOWER_OPERATOR_ADDRESS`, default empty: the operator's address, printed on receipts.
    pub operator_address: String,
    /// `MICROPOWER_HEAVY_CONCURRENCY`, `MICROPOWER_HEAVY_QUEUE_WAIT_MS`, `MICROPOWER_HEAVY_TIMEOUT_SECS`: the
    /// gate of the reports and the export ([`crate::heavy`]).
    pub heavy: crate::heavy::HeavyConfig,
}

/// What the command line asks for (the settings themselves are environment variables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// No subcommand: serve (`--demo`, `--print-admin-key`).
    Serve,
    /// `backup <file> [--force]`: a consistent copy of the SQLite database, taken while the server serves.
    Backup { file: PathBuf, force: bool },
    /// `restore <file> [--force]`: a backup back in place of the SQLite database (server stopped).
    Restore { file: PathBuf, force: bool },
    /// `rotate-secret-key`: re-seal every secret under a new key (servers stopped).
    RotateSecretKey,
    /// `compile-guest`: compile the wasm engine's guest into `MICROPOWER_COMPILED_DIR` ahead of the first
    /// start (an install step: the first start then loads it instead of compiling for seconds).
    CompileGuest,
}

/// The usage line printed with a command-line mistake.
pub const USAGE: &str = "usage: micropower-server [--demo] [--print-admin-key]\n       \
    micropower-server backup <file> [--force]\n       micropower-server restore <file> [--force]\n       \
    micropower-server rotate-secret-key\n       micropower-server compile-guest";

/// The command of `args` (the program's name first); unknown words are refused rather than ignored, so that a
/// mistyped flag does not silently start a server without it.
pub fn command(args: &[String]) -> Result<Command, ConfigError> {
    let bad = |reason: String| ConfigError { name: "arguments", reason };
    let mut words = Vec::new();
    let (mut force, mut serve_flags) = (false, false);
    for arg in args.iter().skip(1) {
        match arg.as_str() {
            "--force" => force = true,
            "--demo" | "--print-admin-key" => serve_flags = true,
            flag if flag.starts_with('-') => return Err(bad(format!("unknown option {flag:?}"))),
            word => words.push(word),
        }
    }
    let command = match words.as_slice() {
        [] => Command::Serve,
        ["backup", file] => Command::Backup { file: PathBuf::from(file), force },
        ["restore", file] => Command::Restore { file: PathBuf::from(file), force },
        ["rotate-secret-key"] => Command::RotateSecretKey,
        ["compile-guest"] => Command::CompileGuest,
        ["backup" | "restore"] => return Err(bad("name the backup file".into())),
        [word, ..] => return Err(bad(format!("unexpected {word:?}"))),
    };
    match command {
        Command::Serve if force => Err(bad("--force is for backup and restore".into())),
        Command::Serve => Ok(command),
        _ if serve_flags => Err(bad("--demo and --print-admin-key are for serving".into())),
        Command::RotateSecretKey | Command::CompileGuest if force => {
            Err(bad("--force is for backup and restore".into()))
        }
        _ => Ok(command),
    }
}

/// The shortest `MICROPOWER_ADMIN_KEY` accepted: an admin key is the whole server, and a short one (a word, a
/// date, `admin123`) is guessed; 32 characters is what `openssl rand -hex 16` prints.
pub const MIN_ADMIN_KEY_CHARS: usize = 32;

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
    /// Reads the environment and the arguments (`--demo`, `--print-admin-key`).
    pub fn from_env(args: &[String]) -> Result<Self, ConfigError> {
        Self::from_vars(args, |name| std::env::var(name).ok())
    }

    /// Reads the settings from `lookup` (the environment, or a test's table) and the arguments.
    pub fn from_vars(args: &[String], lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
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
        let timezone = match var("MICROPOWER_TIMEZONE") {
            None => Tz::UTC,
            Some(name) => timezone(&name)?,
        };
        let admin_key = var("MICROPOWER_ADMIN_KEY");
        if let Some(key) = &admin_key {
            let chars = key.chars().count();
            if chars < MIN_ADMIN_KEY_CHARS {
                // The key itself is not repeated: the message lands in logs.
                return Err(ConfigError {
                    name: "MICROPOWER_ADMIN_KEY",
                    reason: format!(
                        "{chars} characters is too short to be an admin key: at least {MIN_ADMIN_KEY_CHARS} are \
                         needed (e.g. `openssl rand -hex 32`), or leave it unset to have one generated"
                    ),
                });
            }
        }
        let trusted_proxy_header = match var("MICROPOWER_TRUSTED_PROXY_HEADER") {
            None => None,
            Some(name) => Some(name.trim().parse::<axum::http::HeaderName>().map_err(|_| ConfigError {
                name: "MICROPOWER_TRUSTED_PROXY_HEADER",
                reason: format!("{name:?} is not an HTTP header name (such as X-Forwarded-For or X-Real-IP)"),
            })?),
        };
        let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            var(name).map_or(Ok(default), |v| {
                v.trim()
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| ConfigError { name, reason: format!("{v:?} is not a whole number above zero") })
            })
        };
        let defaults = crate::heavy::HeavyConfig::default();
        let heavy = crate::heavy::HeavyConfig {
            concurrent: u32::try_from(number("MICROPOWER_HEAVY_CONCURRENCY", u64::from(defaults.concurrent))?)
                .unwrap_or(u32::MAX),
            queue_wait: std::time::Duration::from_millis(number(
                "MICROPOWER_HEAVY_QUEUE_WAIT_MS",
                u64::try_from(defaults.queue_wait.as_millis()).unwrap_or(u64::MAX),
            )?),
            timeout: std::time::Duration::from_secs(number(
                "MICROPOWER_HEAVY_TIMEOUT_SECS",
                defaults.timeout.as_secs(),
            )?),
        };
        let data_dir = PathBuf::from(var("MICROPOWER_DATA_DIR").unwrap_or_else(|| "./data".into()));
        Ok(Config {
            listen,
            database_url: var("DATABASE_URL").unwrap_or_else(|| "sqlite://./data/micropower.db".into()),
            engine,
            admin_key,
            print_admin_key: args.iter().any(|a| a == "--print-admin-key"),
            secret_key: var("MICROPOWER_SECRET_KEY"),
            compiled_dir: var("MICROPOWER_COMPILED_DIR").map_or_else(|| data_dir.join("compiled"), PathBuf::from),
            data_dir,
            demo,
            body_limit: 256 * 1024,
            vendor_url: var("MICROPOWER_VENDOR_URL"),
            timezone,
            trusted_proxy_header,
            operator_name: var("MICROPOWER_OPERATOR_NAME").map_or_else(|| "micropower".into(), |v| v.trim().to_owned()),
            operator_address: var("MICROPOWER_OPERATOR_ADDRESS").map(|v| v.trim().to_owned()).unwrap_or_default(),
            heavy,
        })
    }
}

/// The time zone an IANA name (`Africa/Dar_es_Salaam`) names, spelt as the time zone database spells it.
pub fn timezone(name: &str) -> Result<Tz, ConfigError> {
    name.trim().parse::<Tz>().map_err(|_| ConfigError {
        name: "MICROPOWER_TIMEZONE",
        reason: format!(
            "{name:?} is not an IANA time zone name (such as Africa/Dar_es_Salaam, Africa/Nairobi or UTC; \
             the names are case-sensitive)"
        ),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use std::ffi::OsStr;

    fn with(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        Config::from_vars(&[], |name| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned()))
    }

    fn words(words: &[&str]) -> Result<Command, ConfigError> {
        let args: Vec<String> =
            std::iter::once("micropower-server").chain(words.iter().copied()).map(String::from).collect();
        command(&args)
    }

    #[test]
    fn commands_are_read_and_misplaced_options_refused() {
        assert!(matches!(words(&[]), Ok(Command::Serve)));
        assert!(matches!(words(&["compile-guest"]), Ok(Command::CompileGuest)));
        assert!(matches!(words(&["rotate-secret-key"]), Ok(Command::RotateSecretKey)));
        assert!(matches!(words(&["backup", "b.db", "--force"]), Ok(Command::Backup { force: true, .. })));
        assert!(words(&["compile-guest", "--force"]).is_err());
        assert!(words(&["compile-guest", "--demo"]).is_err());
        assert!(words(&["compile"]).is_err());
    }

    #[test]
    fn the_compiled_guest_lives_in_the_data_directory_unless_told_otherwise() {
        assert_eq!(
            with(&[("MICROPOWER_DATA_DIR", "/srv/mp")]).unwrap().compiled_dir,
            PathBuf::from("/srv/mp/compiled")
        );
        let elsewhere = with(&[("MICROPOWER_DATA_DIR", "/srv/mp"), ("MICROPOWER_COMPILED_DIR", "/var/cache/mp")]);
        assert_eq!(elsewhere.unwrap().compiled_dir, PathBuf::from("/var/cache/mp"));
    }

    #[test]
    fn the_time_zone_is_an_iana_name_and_utc_by_default() {
        assert_eq!(with(&[]).unwrap().timezone, Tz::UTC);
        assert_eq!(with(&[("MICROPOWER_TIMEZONE", " ")]).unwrap().timezone, Tz::UTC);
        assert_eq!(
            with(&[("MICROPOWER_TIMEZONE", "Africa/Dar_es_Salaam")]).unwrap().timezone,
            Tz::Africa__Dar_es_Salaam
        );
        for bad in ["Africa/Dar es Salaam", "africa/nairobi", "EAT+3", "Mars/Olympus_Mons"] {
            let e = with(&[("MICROPOWER_TIMEZONE", bad)]).expect_err(bad).to_string();
            assert!(e.starts_with("MICROPOWER_TIMEZONE: ") && e.contains(bad) && e.contains("IANA"), "{e}");
        }
    }

    #[test]
    fn the_trusted_proxy_header_is_off_unless_named_and_must_be_a_header_name() {
        assert_eq!(with(&[]).unwrap().trusted_proxy_header, None);
        let named = with(&[("MICROPOWER_TRUSTED_PROXY_HEADER", "X-Forwarded-For")]).unwrap();
        assert_eq!(named.trusted_proxy_header.unwrap().as_str(), "x-forwarded-for");
        let e = with(&[("MICROPOWER_TRUSTED_PROXY_HEADER", "X Forwarded")]).unwrap_err().to_string();
        assert!(e.starts_with("MICROPOWER_TRUSTED_PROXY_HEADER: "), "{e}");
    }

    #[test]
    fn the_operator_printed_on_receipts_has_defaults() {
        let default = with(&[]).unwrap();
        assert_eq!((default.operator_name.as_str(), default.operator_address.as_str()), ("micropower", ""));
        let named =
            with(&[("MICROPOWER_OPERATOR_NAME", " SunCo Energy "), ("MICROPOWER_OPERATOR_ADDRESS", "Box 12, Mwanza")])
                .unwrap();
        assert_eq!((named.operator_name.as_str(), named.operator_address.as_str()), ("SunCo Energy", "Box 12, Mwanza"));
    }

    #[test]
    fn the_heavy_route_gate_is_configurable_and_refuses_nonsense() {
        assert_eq!(with(&[]).unwrap().heavy, crate::heavy::HeavyConfig::default());
        let set = with(&[
            ("MICROPOWER_HEAVY_CONCURRENCY", "4"),
            ("MICROPOWER_HEAVY_QUEUE_WAIT_MS", "250"),
            ("MICROPOWER_HEAVY_TIMEOUT_SECS", "30"),
        ])
        .unwrap()
        .heavy;
        assert_eq!(set.concurrent, 4);
        assert_eq!(set.queue_wait, std::time::Duration::from_millis(250));
        assert_eq!(set.timeout, std::time::Duration::from_secs(30));
        for bad in ["0", "-1", "two"] {
            let e = with(&[("MICROPOWER_HEAVY_CONCURRENCY", bad)]).expect_err(bad).to_string();
            assert!(e.starts_with("MICROPOWER_HEAVY_CONCURRENCY: "), "{e}");
        }
    }

    #[test]
    fn colours_only_on_a_terminal_without_no_color() {
        assert!(log_colours(true, None));
        assert!(log_colours(true, Some(OsStr::new(""))), "an empty NO_COLOR does not count");
        assert!(!log_colours(true, Some(OsStr::new("1"))));
        assert!(!log_colours(false, None), "a file or a pipe");
        assert!(!log_colours(false, Some(OsStr::new("1"))));
    }
}
