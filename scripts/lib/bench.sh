# Shared by the server benchmarks (scripts/bench-server.sh, scripts/bench-daraja.sh): a release build, a
# throwaway database, a server started on it with one core engine, and the Markdown section they write.
# Source it from the repository root; it sets `bin`, `work` and `key` and cleans up on exit.

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/micropower/target}"
cargo build --release --locked -p micropower-server --bins >&2
bin="$CARGO_TARGET_DIR/release"
work="$(mktemp -d)"
key="bench-$(date +%s)-$(od -An -tx1 -N12 /dev/urandom | tr -d " \n")"
server_pid=""
postgres_databases=()
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
    for name in "${postgres_databases[@]}"; do su postgres -c "dropdb --if-exists $name" >/dev/null 2>&1; done
    rm -rf "$work"
}
trap cleanup EXIT
# The guest compiled once, as an install would (`compile-guest`): every wasm server below loads it, so their
# peak RSS is a running server's, not the one-time compilation's (BENCHMARKS.md gives that one apart).
MICROPOWER_COMPILED_DIR="$work/compiled" "$bin/micropower-server" compile-guest >&2

# fresh_database <sqlite|postgres> <folder> <name>: a fresh, empty database; sets `url` (not printed: a
# command substitution's subshell would lose the list of databases to drop at exit).
fresh_database() {
    local db="$1" dir="$2" name="mp_bench_$3_$$"
    case "$db" in
        sqlite) url="sqlite://$dir/bench.db" ;;
        postgres)
            su postgres -c "psql -q -c 'DROP DATABASE IF EXISTS $name' -c 'CREATE DATABASE $name'" >/dev/null
            postgres_databases+=("$name")
            url="postgres://postgres:postgres@127.0.0.1:5432/$name" ;;
        *) echo "unknown database $db (sqlite or postgres)" >&2; return 1 ;;
    esac
}

# copy_database <sqlite|postgres> <folder> <url> <new folder> <suffix>: a copy of a stopped server's database
# and data folder (its sealed keys go with its rows); sets `url` to the copy's.
copy_database() {
    local db="$1" from="$2" from_url="$3" dir="$4" suffix="$5"
    rm -rf "$dir"; cp -a "$from" "$dir"; rm -f "$dir/server.log"
    case "$db" in
        sqlite) url="sqlite://$dir/bench.db" ;;
        postgres)
            local base="${from_url##*/}" name="${from_url##*/}_$suffix"
            postgres_databases+=("$name")
            # The template must have no session left; the stopped server's may take a moment to end.
            for _ in $(seq 50); do
                su postgres -c "psql -q -c 'DROP DATABASE IF EXISTS $name' -c 'CREATE DATABASE $name TEMPLATE $base'" \
                    >/dev/null 2>&1 && break
                sleep 0.2
            done
            url="postgres://postgres:postgres@127.0.0.1:5432/$name" ;;
    esac
}

# drop_database <sqlite|postgres> <folder>: removes a copy made by copy_database (the one `url` names).
drop_database() {
    [ "$1" = postgres ] && su postgres -c "dropdb --if-exists ${url##*/}" >/dev/null 2>&1
    rm -rf "$2"
}

# start_server <url> <engine> <folder> <port>: a release server in the background (pid in server_pid),
# waiting until /healthz answers.
start_server() {
    local url="$1" engine="$2" dir="$3" port="$4"
    MICROPOWER_LISTEN="127.0.0.1:$port" DATABASE_URL="$url" MICROPOWER_CORE="$engine" MICROPOWER_ADMIN_KEY="$key" \
        MICROPOWER_DATA_DIR="$dir" MICROPOWER_COMPILED_DIR="$work/compiled" RUST_LOG=warn "$bin/micropower-server" \
        >>"$dir/server.log" 2>&1 &
    server_pid=$!
    for _ in $(seq 300); do
        curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && return 0
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "the server did not start:" >&2
    tail -20 "$dir/server.log" >&2
    return 1
}

# stop_server: SIGTERM and wait for the exit; sets `rss_kb`, the server's peak RSS in KiB.
stop_server() {
    rss_kb="$(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status")"
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
}

# write_section <file> <heading> <section text>: replaces the section under "## <heading>" (or appends it).
write_section() {
    python3 - "$1" "$2" "$3" <<'PY'
import re, sys
path, heading, section = sys.argv[1:4]
text = open(path).read()
pattern = r"## " + re.escape(heading) + r"\n.*?(?=\n## |\Z)"
if re.search(pattern, text, flags=re.S):
    text = re.sub(pattern, lambda _: section.rstrip() + "\n", text, flags=re.S)
else:
    text = text.rstrip() + "\n\n" + section.rstrip() + "\n"
open(path, "w").write(text)
PY
}
