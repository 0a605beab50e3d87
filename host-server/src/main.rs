//! The micropower server arrives with the server issue; until then this binary says so and exits.

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!(
        "micropower-server {}: the HTTP server is not built yet (it arrives with the server issue). \
         The core it will host is `micropower-core`.",
        env!("CARGO_PKG_VERSION")
    );
    ExitCode::FAILURE
}
