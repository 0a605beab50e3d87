#!/usr/bin/env bash
# Mobile bindings (uniffi, bindings-mobile/): build the cdylib, generate the Kotlin and Swift bindings from
# it, check the Swift ones name every exported function (no Swift compiler here), compile the Kotlin
# bindings with their tests and run them on the JVM against the cdylib: every shared vector, and the server
# scenarios (the offline registration, the agent phone's store and sync) against a micropower-server started
# here on a temporary SQLite database, then again on a fresh PostgreSQL database when
# MICROPOWER_TEST_POSTGRES_URL is set (only the server scenarios: the vectors do not touch a database).
#
# Installs what it needs and skips what is there: kotlinc from the npm package kotlin-compiler (pinned, in
# a cache folder), JNA from Debian's libjna-java. Java 17 must be on the machine.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$repo"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/micropower/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

KOTLIN_VERSION="2.4.20"
kotlin_dir="${MICROPOWER_KOTLIN_DIR:-$HOME/.cache/micropower/kotlin}"
kotlin_pkg="$kotlin_dir/node_modules/kotlin-compiler"
kotlinc="$kotlin_pkg/bin/kotlinc"
jna="/usr/share/java/jna.jar"

say() { printf -- '--- %s\n' "$*"; }

# --- tools -------------------------------------------------------------------------------------------------
installed_kotlin() { node -p "require('$kotlin_pkg/package.json').version" 2>/dev/null || true; }
if [ ! -x "$kotlinc" ] || [ "$(installed_kotlin)" != "$KOTLIN_VERSION" ]; then
    say "installing kotlin-compiler@$KOTLIN_VERSION (npm) into $kotlin_dir"
    mkdir -p "$kotlin_dir"
    npm install --no-audit --no-fund --silent --prefix "$kotlin_dir" "kotlin-compiler@$KOTLIN_VERSION"
fi
if [ ! -f "$jna" ]; then
    say "installing JNA (Debian libjna-java)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libjna-java >/dev/null
fi
java_version="$(java -version 2>&1 | head -n1)"
say "kotlinc $KOTLIN_VERSION, $java_version, JNA $(readlink -f "$jna" | sed 's/.*jna-//; s/\.jar$//')"

# --- build: the cdylib, the generator and the test server, all from scripts/test.sh's Rust tests' build ----
# The workspace's test build makes the cdylib (micropower-mobile's bin links it) and the server; the same
# selection plus the generator's bin adds that one bin and nothing else. `-p micropower-mobile -p
# uniffi-bindgen` (or `cargo run -p uniffi-bindgen`) would unify other features and compile the core's and
# uniffi's dependencies again (92 units), and the server's, wasmtime among them, for ten minutes.
say "cargo build: the workspace's test build (cdylib, micropower-server) and the uniffi-bindgen bin"
# shellcheck source=scripts/lib/test-build.sh
. scripts/lib/test-build.sh
# Built as the typed_vectors bin's dependency, the cdylib stays in deps/ (not copied up to debug/).
lib="$(test_build_file micropower_mobile build .so)"
cargo build -q --workspace --tests --bin uniffi-bindgen --locked
bindgen="$CARGO_TARGET_DIR/debug/uniffi-bindgen"
[ -f "$lib" ] || { echo "no cdylib at $lib" >&2; exit 1; }
[ -x "$bindgen" ] || { echo "no uniffi-bindgen at $bindgen" >&2; exit 1; }

# --- generate Kotlin and Swift from the library --------------------------------------------------------
out="$CARGO_TARGET_DIR/mobile-bindings"
rm -rf "$out"
for language in kotlin swift; do
    "$bindgen" generate --no-format --library "$lib" --language "$language" --out-dir "$out/$language"
done
kotlin_file="$out/kotlin/org/micropower/micropower_mobile.kt"
swift_file="$out/swift/Micropower.swift"
for f in "$kotlin_file" "$swift_file" "$out/swift/MicropowerFFI.h" "$out/swift/MicropowerFFI.modulemap"; do
    [ -s "$f" ] || { echo "not generated: $f" >&2; exit 1; }
done
say "generated $(wc -l <"$kotlin_file") lines of Kotlin, $(wc -l <"$swift_file") lines of Swift in $out"

# --- Swift: every exported function of the library is in the generated Swift (no compiler here) ----------
# The library's own symbols are the list of exports: uniffi_micropower_mobile_fn_func_<name>.
mapfile -t exported < <(nm -D --defined-only "$lib" | awk '{print $3}' |
    sed -n 's/^uniffi_micropower_mobile_fn_func_//p' | sort)
required=(normalize_serial normalize_phone openpaygo_generate openpaygo_decode validate_registration
    registration_body installment_schedule energy_for_money allocate_payment validate_payment call
    core_functions error_codes)
missing=0
for name in "${required[@]}"; do
    if ! printf '%s\n' "${exported[@]}" | grep -qx "$name"; then
        echo "not exported by the library: $name" >&2
        missing=$((missing + 1))
    fi
done
camel() { sed -E 's/_([a-z0-9])/\U\1/g' <<<"$1"; }
for name in "${exported[@]}"; do
    fn="$(camel "$name")"
    grep -q "^public func $fn(" "$swift_file" || { echo "Swift lacks func $fn ($name)" >&2; missing=$((missing + 1)); }
    grep -q "fun \`$fn\`(" "$kotlin_file" || { echo "Kotlin lacks fun $fn ($name)" >&2; missing=$((missing + 1)); }
    grep -q "uniffi_micropower_mobile_fn_func_$name(" "$out/swift/MicropowerFFI.h" ||
        { echo "MicropowerFFI.h lacks $name" >&2; missing=$((missing + 1)); }
done
# Objects: every exported constructor and method (uniffi_micropower_mobile_fn_constructor_<object>_<name>,
# uniffi_micropower_mobile_fn_method_<object>_<name>; the object's name is lower-cased in the symbol) is in
# the Swift class and the Kotlin class of that object.
mapfile -t members < <(nm -D --defined-only "$lib" | awk '{print $3}' |
    sed -n 's/^uniffi_micropower_mobile_fn_\(constructor\|method\)_/\1 /p' | sort)
required_members=("constructor agentstore_open" "method agentstore_apply_sync" "method agentstore_preview_sale"
    "method agentstore_record_sale" "method agentstore_record_registration" "method agentstore_sync_body"
    "method agentstore_apply_sync_answer" "method agentstore_queue" "method agentstore_cursor"
    "method agentstore_customers" "method agentstore_devices")
for member in "${required_members[@]}"; do
    printf '%s\n' "${members[@]}" | grep -qx "$member" || { echo "not exported by the library: $member" >&2; missing=$((missing + 1)); }
done
n_members=0
for member in "${members[@]}"; do
    read -r what symbol <<<"$member"
    object="${symbol%%_*}"
    fn="$(camel "${symbol#*_}")"
    class="$(grep -ioE "^open class $object\b" "$swift_file" | head -n1 | awk '{print $3}')"
    [ -n "$class" ] || { echo "Swift lacks class for $object ($symbol)" >&2; missing=$((missing + 1)); continue; }
    # The class's body: from its declaration to its FfiConverter, which the generator writes right after it.
    body="$(sed -n "/^open class $class\b/,/^public struct FfiConverterType$class\b/p" "$swift_file")"
    if [ "$what" = constructor ]; then
        # A constructor named `new` is Swift's init; any other name a static func (`open` is backquoted).
        pattern="^public static func \`?$fn\`?\("
        [ "$fn" = new ] && pattern="^public convenience init\("
    else
        pattern="^open func \`?$fn\`?\("
    fi
    grep -Eq "$pattern" <<<"$body" || { echo "Swift $class lacks $what $fn ($symbol)" >&2; missing=$((missing + 1)); }
    grep -q "fun \`$fn\`(" "$kotlin_file" || { echo "Kotlin lacks fun $fn ($symbol)" >&2; missing=$((missing + 1)); }
    grep -q "uniffi_micropower_mobile_fn_${what}_$symbol(" "$out/swift/MicropowerFFI.h" ||
        { echo "MicropowerFFI.h lacks $symbol" >&2; missing=$((missing + 1)); }
    n_members=$((n_members + 1))
done
# The error enum: one case per core error code, named as the core names the variant.
grep -q "^public enum MicropowerError" "$swift_file" || { echo "Swift lacks enum MicropowerError" >&2; missing=$((missing + 1)); }
codes="$(sed -n '/pub const ALL_CODES/,/];/p' core/src/error.rs | grep -o '"[a-z_]*"' | tr -d '"')"
n_codes=0
for code in $codes; do
    variant="$(sed -E 's/(^|_)([a-z])/\U\2/g' <<<"$code")"
    grep -q "case $variant(" "$swift_file" || { echo "Swift MicropowerError lacks case $variant" >&2; missing=$((missing + 1)); }
    n_codes=$((n_codes + 1))
done
grep -q "canImport(MicropowerFFI)" "$swift_file" || { echo "Swift does not import MicropowerFFI" >&2; missing=$((missing + 1)); }
if [ "$missing" -ne 0 ]; then
    echo "swift: $missing problems in the generated bindings" >&2
    exit 1
fi
say "swift: ${#exported[@]} exported functions, $n_members object constructors and methods and $n_codes error variants present (generated only: no Swift compiler here)"

# --- Kotlin: compile the bindings and the tests (skipped when nothing changed) -------------------------------
build="$CARGO_TARGET_DIR/mobile-kotlin"
mkdir -p "$build"
tests=(bindings-mobile/tests/kotlin/*.kt)
stamp="$(cat "$kotlin_file" "${tests[@]}" | sha256sum | cut -d' ' -f1)-$KOTLIN_VERSION"
if [ ! -f "$build/tests.jar" ] || [ "$(cat "$build/stamp" 2>/dev/null)" != "$stamp" ]; then
    say "kotlinc: bindings + ${#tests[@]} test files"
    rm -f "$build/tests.jar" "$build/stamp"
    "$kotlinc" -nowarn -jvm-target 17 -include-runtime -cp "$jna" -d "$build/tests.jar" "$kotlin_file" "${tests[@]}"
    echo "$stamp" >"$build/stamp"
else
    say "kotlinc: up to date"
fi

# --- test servers on free ports with temporary databases ---------------------------------------------------
tmp="$(mktemp -d)"
server_pid=""
postgres_admin_url="${MICROPOWER_TEST_POSTGRES_URL:-}"
postgres_db=""
stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
cleanup() {
    stop_server
    if [ -n "$postgres_db" ]; then
        psql "$postgres_admin_url" -q -c "DROP DATABASE IF EXISTS $postgres_db" >/dev/null 2>&1 || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT
admin_key="mobile-test-$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')"

# start_server <database url> <log file>: the debug server (native core) on a free port, waiting for
# /healthz; sets server_pid and port.
start_server() {
    local url="$1" log="$2"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    MICROPOWER_CORE=native \
        DATABASE_URL="$url" \
        MICROPOWER_ADMIN_KEY="$admin_key" \
        MICROPOWER_LISTEN="127.0.0.1:$port" \
        MICROPOWER_DATA_DIR="$tmp" \
        RUST_LOG=warn \
        "$CARGO_TARGET_DIR/debug/micropower-server" >"$log" 2>&1 &
    server_pid=$!
    for _ in $(seq 1 150); do
        curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
        kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; echo "the test server died" >&2; exit 1; }
        sleep 0.2
    done
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$log" >&2; exit 1; }
}

# run_kotlin <log file> <output file> [VAR=value...]: the Kotlin tests on the JVM against the server on
# $port; their output is also kept in the output file, for the step's total.
run_kotlin() {
    local log="$1" out="$2" status=0
    shift 2
    env "$@" \
        MICROPOWER_VECTORS="$repo/tests/vectors" \
        MICROPOWER_TEST_URL="http://127.0.0.1:$port" \
        MICROPOWER_TEST_ADMIN_KEY="$admin_key" \
        java -Djna.library.path="$(dirname "$lib")" -cp "$build/tests.jar:$jna" org.micropower.tests.MainKt |
        tee "$out" || status=$?
    if [ "$status" -ne 0 ]; then
        echo "--- server log" >&2
        tail -n 40 "$log" >&2
    fi
    return "$status"
}

# --- SQLite: every vector, the error mapping and the server scenarios ---------------------------------------
status=0
start_server "sqlite://$tmp/db.sqlite" "$tmp/server.log"
say "micropower-server (native core) on 127.0.0.1:$port, SQLite database in $tmp"
run_kotlin "$tmp/server.log" "$tmp/kotlin-sqlite.out" || status=$?
stop_server

# --- PostgreSQL: the server scenarios again on a fresh database (the vectors touch no database) -------------
if [ -n "$postgres_admin_url" ]; then
    postgres_db="mp_mobile_$(od -An -tx1 -N6 /dev/urandom | tr -d ' \n')"
    psql "$postgres_admin_url" -q -c "CREATE DATABASE $postgres_db" >/dev/null
    # The same server, user and password; only the database differs.
    start_server "${postgres_admin_url%/*}/$postgres_db" "$tmp/server-postgres.log"
    say "micropower-server (native core) on 127.0.0.1:$port, PostgreSQL database $postgres_db"
    run_kotlin "$tmp/server-postgres.log" "$tmp/kotlin-postgres.out" MICROPOWER_TEST_SERVER_ONLY=1 || status=$?
    stop_server
else
    say "PostgreSQL: skipped (MICROPOWER_TEST_POSTGRES_URL is not set)"
fi

# --- the step's one count line (scripts/test.sh reads the last): both runs together ------------------------
passed=0
failed=0
runs=()
for db in sqlite postgres; do
    line="$(grep -E '^kotlin: [0-9]+ passed, [0-9]+ failed' "$tmp/kotlin-$db.out" 2>/dev/null | tail -n 1 || true)"
    [ -n "$line" ] || continue
    read -r p f < <(sed -E 's/^kotlin: ([0-9]+) passed, ([0-9]+) failed.*/\1 \2/' <<<"$line")
    passed=$((passed + p))
    failed=$((failed + f))
    runs+=("$db $p")
done
echo "kotlin: $passed passed, $failed failed (${runs[*]:-no run})"
exit "$status"
