#!/usr/bin/env bash
# Fuzz smoke: every cargo-fuzz target for 30 seconds (fuzz/README.md); a finding fails the test command.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
"$repo/scripts/fuzz.sh" "${MICROPOWER_FUZZ_SECONDS:-30}"
