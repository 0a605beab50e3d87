#!/usr/bin/env bash
# The README's run command, used as a new user uses it: `./scripts/run.sh --demo` on a temporary database and
# data directory and a free port, without MICROPOWER_ADMIN_KEY (so the server generates the first admin key
# and writes it to a 0600 file whose path it prints, as on a first start). Then, as the user would: wait for
# /healthz, read the key from that file, load the dashboard (`/`, its module script, the `.wasm` that script
# loads, the icon), pay a demo device with the key (201), and stop the server with SIGTERM, which must end it
# with exit status 0.
#
# MICROPOWER_RUN_PROFILE=dev: run.sh builds the debug server of the Rust tests' build (`cargo test --workspace
# --all-targets --no-run`), a no-op after them; run on its own, this step waits for that build.
# Prints "run command: N passed, 0 failed"; on the first failed check, the check and the server log's tail.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/micropower/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Up to this long for the build and the start (a build from scratch takes minutes).
timeout="${MICROPOWER_RUN_TEST_TIMEOUT:-3600}"

tmp="$(mktemp -d)"
log="$tmp/server.log"
pid=""
passed=0
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
    echo "run command: FAILED: $*" >&2
    echo "--- the last 40 lines of the output of ./scripts/run.sh --demo ($log)" >&2
    tail -n 40 "$log" >&2 || true
    echo "run command: ${passed} passed, 1 failed"
    exit 1
}
ok() {
    passed=$((passed + 1))
    echo "run command: ok: $*"
}

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
echo "run command: MICROPOWER_RUN_PROFILE=dev ./scripts/run.sh --demo on $base, data in $tmp"
# A fresh user's environment: no admin key, no log filter, no engine choice, NO_COLOR unset (the log goes to
# a file, so the server itself must leave colours out).
env -u MICROPOWER_ADMIN_KEY -u MICROPOWER_SECRET_KEY -u MICROPOWER_CORE -u MICROPOWER_DEMO -u RUST_LOG \
    -u NO_COLOR -u MICROPOWER_VENDOR_URL -u MICROPOWER_SMS_GATEWAY \
    MICROPOWER_RUN_PROFILE=dev \
    MICROPOWER_LISTEN="127.0.0.1:$port" \
    DATABASE_URL="sqlite://$tmp/micropower.db" \
    MICROPOWER_DATA_DIR="$tmp/data" \
    ./scripts/run.sh --demo </dev/null >"$log" 2>&1 &
pid=$!

started="$(date +%s)"
until curl -fsS -o /dev/null "$base/healthz" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" && status=0 || status=$?; pid=""; fail "run.sh exited with status $status before /healthz answered"; }
    [ $(($(date +%s) - started)) -lt "$timeout" ] || fail "no answer from $base/healthz after ${timeout} s"
    sleep 0.5
done
ok "/healthz answers 200 after $(($(date +%s) - started)) s"

# run.sh must have replaced itself with the server: the process the user's Ctrl-C or a service manager's
# SIGTERM reaches is the server, not a shell or cargo in front of it.
exe="$(readlink "/proc/$pid/exe" || true)"
exe="${exe% (deleted)}"  # a later build in the same target directory may have replaced the file since
[ "$(basename "$exe")" = micropower-server ] || fail "process $pid started by run.sh is $exe, not micropower-server"
ok "run.sh's process is the server itself ($exe)"

# The first start writes the admin key to a file only its user can read, and prints where (not the key).
key_file="$(sed -n 's/^Created the first admin API key in \(.*\) (readable only by this user).*$/\1/p' "$log" | head -n 1)"
[ -n "$key_file" ] || fail "the first start did not say where the admin API key is"
[ -f "$key_file" ] || fail "the admin key file $key_file does not exist"
[ "$(stat -c %a "$key_file")" = 600 ] || fail "the admin key file $key_file is $(stat -c %a "$key_file"), not 600"
key="$(tr -d '[:space:]' <"$key_file")"
[ -n "$key" ] || fail "the admin key file $key_file is empty"
grep -qF "$key" "$log" && fail "the admin key itself is in the server's output"
grep -qx "Demo data loaded." "$log" || fail "the demo data was not loaded"
ok "the first start wrote the admin key to $key_file (0600, not printed) and loaded the demo data"

# The dashboard as a browser loads it: the page, its module script, and the wasm that script initialises.
page="$tmp/index.html"
type="$(curl -fsS -o "$page" -w '%{content_type}' "$base/")" || fail "GET / failed"
[[ "$type" == text/html* ]] || fail "GET / answered $type"
script="$(grep -oE '<script type="module" src="[^"]+"' "$page" | sed -E 's/.*src="([^"]+)"/\1/' | head -n 1)"
[ -n "$script" ] || fail "no module script in the dashboard page"
curl -fsS -o "$tmp/app.js" "$base$script" || fail "GET $script failed"
wasm="$(grep -oE '"/[^"]+\.wasm"' "$tmp/app.js" | tr -d '"' | head -n 1)"
[ -n "$wasm" ] || fail "$script names no .wasm file"
type="$(curl -fsS -o "$tmp/core.wasm" -w '%{content_type}' "$base$wasm")" || fail "GET $wasm failed"
[ "$type" = application/wasm ] || fail "GET $wasm answered $type"
[ "$(head -c 4 "$tmp/core.wasm" | od -An -tx1 | tr -d ' \n')" = 0061736d ] || fail "$wasm is not WebAssembly"
ok "the dashboard loads: /, $script, $wasm ($(stat -c %s "$tmp/core.wasm") bytes)"
type="$(curl -fsS -o /dev/null -w '%{content_type}' "$base/favicon.ico")" || fail "GET /favicon.ico failed"
[[ "$type" == image/* ]] || fail "GET /favicon.ico answered $type"
ok "/favicon.ico is an icon ($type)"

# One payment to a demo device with the key from the file, as the dashboard or a provider would send it.
tx="run-command-$(od -An -tx1 -N8 /dev/urandom | tr -d ' \n')"
body="{\"provider\": \"run-command-test\", \"provider_tx_id\": \"$tx\", \"serial\": \"MTR-0001\", \"amount\": \"5000\", \"currency\": \"TZS\"}"
answer="$tmp/payment.json"
code="$(curl -sS -o "$answer" -w '%{http_code}' -H "Authorization: Bearer $key" -H 'Content-Type: application/json' \
    --data "$body" "$base/v1/payments")" || fail "POST /v1/payments: no answer"
[ "$code" = 201 ] || fail "POST /v1/payments answered $code: $(cat "$answer")"
python3 - "$answer" <<'PY' || fail "POST /v1/payments: unexpected answer: $(cat "$answer")"
import json, sys
paid = json.load(open(sys.argv[1]))
# The answer's shape (http-api.md); what the money buys is the core's tests' business, not this step's.
assert paid["payment_id"] and paid["serial"] == "MTR0001", paid
assert paid["amount"] == "5000" and paid["currency"] == "TZS", paid
assert paid["status"] in ("completed", "token_pending", "credited") and paid["allocations"], paid
PY
ok "POST /v1/payments to demo device MTR-0001 with the key from the file: 201 ($(python3 -c 'import json,sys; p=json.load(open(sys.argv[1])); print(p["status"], len(p["allocations"]), "allocation lines")' "$answer"))"

# Stop it as a service manager would.
kill -TERM "$pid"
for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$pid" 2>/dev/null && fail "still running 30 s after SIGTERM"
status=0
wait "$pid" || status=$?
pid=""
[ "$status" -eq 0 ] || fail "exit status $status after SIGTERM (0 expected)"
ok "SIGTERM: the server stopped with exit status 0"

# Everything above went to a file: no ANSI colour codes in it.
if grep -q $'\x1b' "$log"; then
    fail "ANSI escape codes in the server's log file: $(grep -c $'\x1b' "$log") lines"
fi
ok "no ANSI colour codes in the log written to a file"

echo "run command: ${passed} passed, 0 failed"
