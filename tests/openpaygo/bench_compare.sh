#!/usr/bin/env bash
# OpenPAYGO token generation: the core's tokens/s against the Python reference (openpaygo 0.6.3), on the
# same work in one run: a standard add time token of 30 days after count 99 (a 100-step hash walk), fixed
# key and starting code. Prints both rates and their ratio (target: the core >= 100x the reference).
#
#   tests/openpaygo/bench_compare.sh [seconds per side, default 3]
#
# The core side is `cargo run --release -p micropower-core --example openpaygo_rate`; the reference side is
# timeit in the venv of venv.sh. Uses cargo's usual CARGO_TARGET_DIR.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
seconds="${1:-3}"
# shellcheck source=tests/openpaygo/venv.sh
. "$here/venv.sh"
openpaygo_venv

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! (cd "$root" && cargo build -q --release -p micropower-core --example openpaygo_rate) >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
fi

python_rate="$("$OPENPAYGO_PYTHON" - "$seconds" <<'PY'
import sys
import timeit

from openpaygo import OpenPAYGOTokenEncoder, TokenType


def mint():
    return OpenPAYGOTokenEncoder.generate_token(
        secret_key="a29ab82edc5fbbc41ec9530f6dac86b1", count=99, value=30,
        token_type=TokenType.ADD_TIME, starting_code=123456789,
    )


assert mint() == (100, "838995819"), mint()
timer = timeit.Timer(mint)
number, _ = timer.autorange()
repeat = max(3, int(float(sys.argv[1]) / 0.2))
best = min(timer.repeat(repeat=repeat, number=number))
print("%.0f" % (number / best))
PY
)"

if ! rust_line="$(cd "$root" && cargo run -q --release -p micropower-core --example openpaygo_rate -- "$seconds" 2>"$log")"
then
    cat "$log" >&2
    exit 1
fi
rust_rate="$(echo "$rust_line" | sed -E 's/^rust tokens\/s: ([0-9]+).*/\1/')"

echo "reference openpaygo 0.6.3 (Python $("$OPENPAYGO_PYTHON" -c 'import platform; print(platform.python_version())')): ${python_rate} tokens/s"
echo "micropower-core (release): ${rust_rate} tokens/s"
awk -v r="$rust_rate" -v p="$python_rate" 'BEGIN { printf "ratio: %.0fx\n", r / p }'
