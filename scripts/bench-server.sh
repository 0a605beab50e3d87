#!/usr/bin/env bash
# Server load benchmark: for each database (SQLite, PostgreSQL), core engine (wasm, native) and number of
# registered meters, a fresh server in release mode; for each connection count, unique payments for
# BENCH_SECONDS, then the disk's single-threaded write+fsync rate measured right after, in the same run.
# Prints a Markdown table and the wasm/native and 100k/1k ratios; with --write, replaces the "Server load"
# section of BENCHMARKS.md with them.
#   BENCH_DEVICES ("1000"; e.g. "1000 100000") BENCH_CONNECTIONS ("64"; e.g. "1,16,64") BENCH_SECONDS (10)
#   BENCH_DATABASES ("sqlite postgres") BENCH_ENGINES ("wasm native")
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/micropower/target}"
device_counts="${BENCH_DEVICES:-1000}"; connections="${BENCH_CONNECTIONS:-64}"; seconds="${BENCH_SECONDS:-10}"
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
        for devices in $device_counts; do
            dir="$work/$db-$engine-$devices"; mkdir -p "$dir"
            case "$db" in
                sqlite) url="sqlite://$dir/bench.db" ;;
                postgres)
                    name="mp_bench_${engine}_${devices}_$$"
                    su postgres -c "psql -q -c 'DROP DATABASE IF EXISTS $name' -c 'CREATE DATABASE $name'" >/dev/null
                    url="postgres://postgres:postgres@127.0.0.1:5432/$name" ;;
            esac
            MICROPOWER_LISTEN="127.0.0.1:$port" DATABASE_URL="$url" MICROPOWER_CORE="$engine" MICROPOWER_ADMIN_KEY="$key" \
                MICROPOWER_DATA_DIR="$dir" RUST_LOG=warn "$bin/micropower-server" >"$dir/server.log" 2>&1 &
            server_pid=$!
            for _ in $(seq 300); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
            results="$("$bin/micropower-loadgen" --url "http://127.0.0.1:$port" --key "$key" --devices "$devices" \
                --connections "$connections" --seconds "$seconds" --fsync-dir "$dir")"
            rss_kb="$(awk '/VmHWM/ {print $2}' "/proc/$server_pid/status")"
            kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
            [ "$db" = postgres ] && su postgres -c "dropdb --if-exists $name" >/dev/null
            while read -r result; do
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
            done <<<"$results"
        done
    done
done

table="| database | engine | connections | meters | payments/s | p50 ms | p99 ms | fsync/s (same run) | payments/s ÷ fsync/s | server peak RSS | errors |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
$(printf '%s\n' "${rows[@]}")"
ratios="$(python3 - "$table" <<'PY'
import sys
rows = [r.strip("|").split("|") for r in sys.argv[1].splitlines()[2:]]
rate = {(c[0].strip(), c[1].strip(), int(c[2]), int(c[3])): float(c[4]) for c in rows}
out = []
for (db, engine, conns, devices), value in sorted(rate.items()):
    if engine == "wasm" and (db, "native", conns, devices) in rate:
        native = rate[(db, "native", conns, devices)]
        out.append(f"- {db}, {conns} connections, {devices} meters: native/wasm throughput = {native / value:.2f}")
    big = (db, engine, conns, 100000)
    if devices == 1000 and big in rate:
        out.append(f"- {db}, {engine}, {conns} connections: 100,000 meters at {rate[big] / value:.0%} of 1,000 meters")
print("\n".join(out))
PY
)"
echo "$table"
echo
echo "$ratios"
if [ "${1:-}" = "--write" ]; then
    python3 - "$table" "$ratios" "$device_counts" "$connections" "$seconds" <<'PY'
import re, sys
table, ratios, devices, connections, seconds = sys.argv[1:6]
section = f"""## Server load

Command (release build; a fresh server and database per database × engine × meter count; meters: {devices};
connections: {connections}; unique payments for {seconds} s per connection count; the fsync rate is a
single-threaded 4 KiB write + fsync loop in the database's folder, measured right after each load; peak RSS
is the server's over its whole run):

```sh
BENCH_DEVICES="{devices}" BENCH_CONNECTIONS="{connections}" BENCH_SECONDS={seconds} scripts/bench-server.sh --write
```

{table}

{ratios}
"""
text = open("BENCHMARKS.md").read()
if "## Server load" in text:
    text = re.sub(r"## Server load\n.*?(?=\n## |\Z)", section.rstrip() + "\n", text, flags=re.S)
else:
    text = text.rstrip() + "\n\n" + section
open("BENCHMARKS.md", "w").write(text)
PY
fi
