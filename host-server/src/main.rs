//! The micropower server. The HTTP server arrives with the server issue; until then this binary loads the
//! core engine chosen by `MICROPOWER_CORE` (`wasm`, the default, or `native`), says which, and exits.

use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let started = Instant::now();
    match micropower_server::engine::from_env() {
        Ok(engine) => eprintln!(
            "micropower-server {}: core engine {:?} ready in {} ms",
            env!("CARGO_PKG_VERSION"),
            engine.name(),
            started.elapsed().as_millis()
        ),
        Err(e) => {
            eprintln!("micropower-server: the core engine failed to load: {e}");
            return ExitCode::FAILURE;
        }
    }
    eprintln!("micropower-server: the HTTP server is not built yet (it arrives with the server issue).");
    ExitCode::FAILURE
}
