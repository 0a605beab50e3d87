//! How the server reaches the core: one [`Engine`] trait, two implementations.
//!
//! - [`WasmEngine`] (the default) runs the core as a WebAssembly component (`host-server/guest`, embedded
//!   in this binary) inside wasmtime: a fresh, sandboxed instance per call, bounded in fuel and memory.
//! - [`NativeEngine`] calls `micropower_core::json::call` directly.
//!
//! The server calls [`dyn Engine::call`](Engine) with a function's argument struct from
//! `micropower_core::calls` and gets its typed output or a typed [`CoreError`]; function names and JSON text
//! live only inside the wasm engine, and a payment's calls cross its boundary as WIT records, not text. Both
//! engines give identical results, refusals included (`tests/engine_equality.rs` checks every shared vector
//! through both, by name and text).
//! [`from_env`] picks one from `MICROPOWER_CORE=wasm|native`.
//!
//! # From async code
//!
//! A call is synchronous and CPU-bound. One `allocate_payment` costs about 9 µs on the wasm engine
//! (an idle warm instance, a fresh fuel budget, WIT records both ways) and 1–2 µs natively
//! (`BENCHMARKS.md`, "Core engine"); but a report over 100,000 payments runs for seconds, the first calls
//! after start or after an instance is replaced pay for a new instance (≈ 0.1 s), a runaway guest runs until
//! its fuel is spent (≈ 0.25 s), and when every slot is busy the wasm engine's gate makes the caller wait.
//! On a runtime worker any of these stops every other request that worker serves: a few heavy reports
//! would hold all the workers, and a Daraja validation (answered within seconds or the customer's money is
//! refused) would wait behind them (issue 19, "Staying responsive"). So async code never calls
//! [`Engine::call`] itself: `state::Inner::core` waits for one of [`Engine::slots`] on an async semaphore
//! (a waiting request holds no thread) and runs the call on tokio's blocking pool (`spawn_blocking`), which
//! costs a few µs per call. Only SQLite's payment writer, a thread of its own outside the runtime, calls the
//! engine directly (`state::Inner::core_blocking`).

#[cfg(feature = "wasm-engine")]
pub mod cache;
mod native;
#[cfg(feature = "wasm-engine")]
mod wasm;

use std::any::Any;
use std::sync::Arc;

use micropower_core::calls::CoreFn;
use micropower_core::CoreError;

pub use native::NativeEngine;
#[cfg(feature = "wasm-engine")]
pub use wasm::{WasmConfig, WasmEngine};

/// The core behind one interface, whether it runs natively or inside wasmtime.
pub trait Engine: Send + Sync {
    /// Calls the core function `function` (a name of `micropower_core::calls::FUNCTIONS`) with its argument
    /// object as JSON text; returns its output as JSON text, or the core's refusal as [`EngineError::Core`].
    /// The server calls [`call`](Engine::call) instead; this is for the shared vectors and tools.
    fn call_text(&self, function: &str, input: &str) -> Result<String, EngineError>;

    /// `"wasm"` or `"native"`: the value of `MICROPOWER_CORE` that selects this engine.
    fn name(&self) -> &'static str;

    /// How many calls can run at once without waiting inside the engine: async callers queue for these on a
    /// semaphore rather than on the engine's own (blocking) gate. The wasm engine has its slot count; the
    /// native one has no gate, and takes as many (one per core and one more) since more calls at once than
    /// cores would only share them.
    fn slots(&self) -> usize {
        std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get) + 1
    }

    /// True when the core is linked into this process, so a typed call needs no text at all.
    fn is_native(&self) -> bool {
        false
    }

    /// Warm instances waiting for a call, for engines that keep a pool (`None` for the native one): equal to
    /// [`slots`](Engine::slots) once every instance has warmed up after start or a replacement.
    fn idle_instances(&self) -> Option<usize> {
        None
    }

    /// The call in `args` (an `&mut Option<F>` of a [`CoreFn`] `F`) made without JSON text, where this engine
    /// has a typed route for `F`: the wasm engine carries the payment path's calls (`allocate_payment`,
    /// `validate_payment`, `normalize_serial`) as WIT records. The route takes the arguments out of the `Option` and answers
    /// `F::Output`, boxed; `None` (the default) leaves them there for [`call_text`](Engine::call_text).
    fn call_record(&self, args: &mut dyn Any) -> Option<Result<Box<dyn Any + Send>, EngineError>> {
        let _ = args;
        None
    }
}

impl dyn Engine + '_ {
    /// Calls the core function whose argument struct is `args`: its typed output, or the core's typed
    /// refusal. The native engine calls the core directly. The wasm engine carries the payment path's calls
    /// as WIT records ([`Engine::call_record`]) and every other call as JSON text straight from and into the
    /// structs (no `serde_json::Value` on either side of the boundary).
    pub fn call<F: CoreFn>(&self, args: F) -> Result<F::Output, EngineError> {
        if self.is_native() {
            return args.call().map_err(EngineError::Core);
        }
        let mut slot = Some(args);
        if let Some(answer) = self.call_record(&mut slot) {
            return answer?
                .downcast::<F::Output>()
                .map(|output| *output)
                .map_err(|_| EngineError::Internal(format!("{}: the typed route answered another type", F::NAME)));
        }
        let Some(args) = slot else {
            return Err(EngineError::Internal(format!("{}: the typed route kept the arguments", F::NAME)));
        };
        let input = serde_json::to_string(&args)
            .map_err(|e| EngineError::Internal(format!("{}: writing the arguments: {e}", F::NAME)))?;
        let output = self.call_text(F::NAME, &input)?;
        serde_json::from_str(&output).map_err(|e| {
            EngineError::Internal(format!("{}: the core's output does not read as its type: {e}", F::NAME))
        })
    }
}

/// Why a call gave no output.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum EngineError {
    /// The core refused the input: the same refusal on both engines.
    #[error(transparent)]
    Core(CoreError),
    /// The guest trapped (a bug in the guest, not a refusal): the call had no effect.
    #[error("the core trapped: {0}")]
    Trap(String),
    /// The guest was stopped by a host limit (fuel, memory, stack): the input is too costly to decide.
    #[error("the core exceeded a limit: {0}")]
    Limit(String),
    /// The host failed around the call (engine set-up, JSON between host and guest).
    #[error("engine failure: {0}")]
    Internal(String),
}

impl EngineError {
    /// The wire code: the core's code for a refusal, else `engine_trap`, `engine_limit` or `engine_internal`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Core(e) => e.code(),
            Self::Trap(_) => "engine_trap",
            Self::Limit(_) => "engine_limit",
            Self::Internal(_) => "engine_internal",
        }
    }
}

/// Which engine to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    /// The core inside wasmtime (the default).
    Wasm,
    /// The core linked into the server.
    Native,
}

impl Default for EngineKind {
    /// The wasm engine when it is built in; a build without it (cargo feature `wasm-engine` off) has only the
    /// native one.
    fn default() -> Self {
        if cfg!(feature = "wasm-engine") {
            Self::Wasm
        } else {
            Self::Native
        }
    }
}

/// The refusal of `MICROPOWER_CORE=wasm` by a build without the wasm engine.
const NO_WASM_ENGINE: &str =
    "MICROPOWER_CORE=wasm: this server was built without the wasm engine (cargo feature \"wasm-engine\"); \
     rebuild with default features or set MICROPOWER_CORE=native";

impl std::str::FromStr for EngineKind {
    type Err = EngineError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim() {
            "" => Ok(Self::default()),
            "wasm" if !cfg!(feature = "wasm-engine") => Err(EngineError::Internal(NO_WASM_ENGINE.to_owned())),
            "wasm" => Ok(Self::Wasm),
            "native" => Ok(Self::Native),
            other => Err(EngineError::Internal(format!("MICROPOWER_CORE={other:?}: expected \"wasm\" or \"native\""))),
        }
    }
}

/// Builds the engine of that kind. The wasm engine compiles the embedded component (a few seconds of CPU),
/// or loads it from `cache_dir` where an earlier start kept it compiled, and warms its instances.
pub fn new(kind: EngineKind, cache_dir: Option<&std::path::Path>) -> Result<Arc<dyn Engine>, EngineError> {
    Ok(match kind {
        #[cfg(feature = "wasm-engine")]
        EngineKind::Wasm => Arc::new(match cache_dir {
            Some(dir) => WasmEngine::with_cache(WasmConfig::default(), dir)?,
            None => WasmEngine::new(WasmConfig::default())?,
        }),
        #[cfg(not(feature = "wasm-engine"))]
        EngineKind::Wasm => {
            let _ = cache_dir;
            return Err(EngineError::Internal(NO_WASM_ENGINE.to_owned()));
        }
        EngineKind::Native => Arc::new(NativeEngine),
    })
}

/// The engine named by `MICROPOWER_CORE` (`wasm`, the default, or `native`).
pub fn from_env() -> Result<Arc<dyn Engine>, EngineError> {
    let kind = match std::env::var("MICROPOWER_CORE") {
        Ok(value) => value.parse()?,
        Err(std::env::VarError::NotPresent) => EngineKind::default(),
        Err(e) => return Err(EngineError::Internal(format!("MICROPOWER_CORE: {e}"))),
    };
    new(kind, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `MICROPOWER_CORE=wasm` picks the wasm engine when it is built in, and is refused by name otherwise
    /// (`cargo test -p micropower-server --no-default-features --lib` runs the second half).
    #[test]
    fn wasm_is_chosen_when_built_in_and_refused_otherwise() {
        let parsed = "wasm".parse::<EngineKind>();
        let native = "native".parse::<EngineKind>();
        assert_eq!(native, Ok(EngineKind::Native));
        if cfg!(feature = "wasm-engine") {
            assert_eq!(parsed, Ok(EngineKind::Wasm));
            assert_eq!(EngineKind::default(), EngineKind::Wasm);
        } else {
            assert!(matches!(&parsed, Err(EngineError::Internal(m)) if m.contains("wasm-engine")), "{parsed:?}");
            assert_eq!(EngineKind::default(), EngineKind::Native);
            assert!(new(EngineKind::Wasm, None).is_err());
        }
    }
}
