#!/usr/bin/env bash
# Server load benchmark: for each database (SQLite, PostgreSQL) and core engine (wasm, native), a fresh
# server in release mode, 1,000 registered meters, unique payments over 64 connections for 10 s, and the
# disk's single-threaded write+fsync rate measured in the same run. Prints a Markdown table; with --write,
# replaces the "Server load" section of BENCHMARKS.md with it.
#   BENCH_DEVICES (1000) BENCH_CONNECTIONS (64) BENCH_SECONDS (10) BENCH_DATABASES ("sqlite postgres")
#   BENCH_ENGINES ("wasm native")
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/micropower/target}"
devices="${BENCH_DEVICES:-1000}"; connections="${BENCH_CONNECTIONS:-64}"; seconds="${BENCH_SECONDS:-10}"
databases="${BENCH_DATABASES:-sqlite postgres}"; engines="${BENCH_ENGINES:-wasm native}"

cargo build --release --locked -p micropower-server --bins >&2
bin="$CARGO_TARGET_DIR/release"
work="$(mktemp -d)"
trap 'kill "${server_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
port=18090
key="bench-$(date +%s)"

rows=()
for db in $databases; do
    for engine in $engines; do
        dir="$work/$db-$engine"; mkdir -p "$dir"
        case "$db" in
            sqlite) url="sqlite://$dir/bench.db" ;;
            postgres)
                name="mp_bench_${engine}_$$"
                su postgres -c "psql -q -c 'DROP DATABASE IF EXISTS $name' -c 'CREATE DATABASE $name'" >/dev/null
                url="postgres://postgres:postgres@127.0.0.1:5432/$name" ;;
        esac
        MICROPOWER_LISTEN="127.0.0.1:$port" DATABASE_URL="$url" MICROPOWER_CORE="$engine" MICROPOWER_ADMIN_KEY="$key" \
            MICROPOWER_DATA_DIR="$dir" RUST_LOG=warn "$bin/micropower-server" >"$dir/server.log" 2>&1 &
        server_pid=$!
        for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
        result="$("$bin/micropower-loadgen" --url "http://127.0.0.1:$port" --key "$key" --devices "$devices" \
            --connections "$connections" --seconds "$seconds" --fsync-dir "$dir")"
        rss_kb="$(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status")"
        kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
        row="$(python3 - "$db" "$engine" "$rss_kb" "$result" <<'PY'
import json, sys
db, engine, rss, r = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
ratio = r["payments_per_s"] / r["fsync_per_s"] if r["fsync_per_s"] else float("nan")
print(f'| {db} | {engine} | {r["connections"]} | {r["devices"]} | {r["payments_per_s"]:.0f} | {r["p50_ms"]} | {r["p99_ms"]} | '
      f'{r["fsync_per_s"]:.0f} | {ratio:.2f} | {rss/1024:.0f} MB | {r["errors"]} |')
PY
)"
        echo "$row" >&2
        rows+=("$row")
    done
done

table="| database | engine | connections | meters | payments/s | p50 ms | p99 ms | fsync/s (same run) | payments/s ÷ fsync/s | server peak RSS | errors |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
$(printf '%s\n' "${rows[@]}")"
echo "$table"
if [ "${1:-}" = "--write" ]; then
    python3 - "$table" "$devices" "$connections" "$seconds" <<'PY'
import re, sys
table, devices, connections, seconds = sys.argv[1:5]
section = f"""## Server load

Command (release build; a fresh database per row; {devices} meters; unique payments over {connections} connections for
{seconds} s; the fsync rate is a single-threaded 4 KiB write + fsync loop in the database's folder, in the same run):

```sh
scripts/bench-server.sh --write
```

{table}
"""
text = open("BENCHMARKS.md").read()
if "## Server load" in text:
    text = re.sub(r"## Server load\n.*?(?=\n## |\Z)", section.rstrip() + "\n", text, flags=re.S)
else:
    text = text.rstrip() + "\n\n" + section
open("BENCHMARKS.md", "w").write(text)
PY
fi
