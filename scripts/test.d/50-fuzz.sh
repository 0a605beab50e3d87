#!/usr/bin/env bash
# Fuzz smoke (fuzz/README.md): 30 seconds for each cargo-fuzz target whose inputs changed since its last
# passing run (its stamp in fuzz/stamps.txt, written by `scripts/fuzz.sh <seconds> --write`); a finding
# fails the test command. When no target's inputs changed, nothing is installed or built: the smoke would
# fuzz the very code a committed run already fuzzed, and its toolchain, cargo-fuzz and sanitizer build were
# the test command's costliest part on a new machine. MICROPOWER_FUZZ_ALL=1 runs every target anyway.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

if [ "${MICROPOWER_FUZZ_ALL:-}" = 1 ]; then
    stale="$(FUZZ_TARGETS="" "$repo/scripts/fuzz.sh" --stale | tr '\n' ' ')"
    run="${FUZZ_TARGETS:-}"
else
    stale="$("$repo/scripts/fuzz.sh" --stale | tr '\n' ' ')"
    run="$stale"
fi
if [ -z "${run// /}" ] && [ "${MICROPOWER_FUZZ_ALL:-}" != 1 ]; then
    echo "fuzz: every target's inputs are those of its stamp in fuzz/stamps.txt: no smoke needed"
    exit 0
fi
echo "fuzz: inputs changed since the stamp: ${stale:-none}"
# Two targets at a time: each libFuzzer process uses one core, and nothing else runs beside this last step.
FUZZ_TARGETS="$run" FUZZ_JOBS="${FUZZ_JOBS:-2}" "$repo/scripts/fuzz.sh" "${MICROPOWER_FUZZ_SECONDS:-30}"
