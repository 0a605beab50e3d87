#!/usr/bin/env bash
# Daraja C2B validation latency (issue #5): a fresh release server per database and core engine, 200 KES
# meters, one Daraja provider, Safaricom validation requests over 50 concurrent connections for 10 s. Each
# validation loads the account, asks the core and durably keeps the raw request before answering.
# Prints a Markdown table; with --write, replaces the "Daraja validation latency" section of BENCHMARKS.md.
#   BENCH_DEVICES (200) BENCH_CONNECTIONS (50) BENCH_SECONDS (10) BENCH_DATABASES ("sqlite postgres")
#   BENCH_ENGINES ("wasm")
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/micropower/target}"
devices="${BENCH_DEVICES:-200}"; connections="${BENCH_CONNECTIONS:-50}"; seconds="${BENCH_SECONDS:-10}"
databases="${BENCH_DATABASES:-sqlite postgres}"; engines="${BENCH_ENGINES:-wasm}"

cargo build --release --locked -p micropower-server --bins >&2
bin="$CARGO_TARGET_DIR/release"
work="$(mktemp -d)"
trap 'kill "${server_pid:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT
port=18091
key="bench-$(date +%s)"

rows=()
for db in $databases; do
    for engine in $engines; do
        dir="$work/$db-$engine"; mkdir -p "$dir"
        case "$db" in
            sqlite) url="sqlite://$dir/bench.db" ;;
            postgres)
                name="mp_bench_daraja_${engine}_$$"
                su postgres -c "psql -q -c 'DROP DATABASE IF EXISTS $name' -c 'CREATE DATABASE $name'" >/dev/null
                url="postgres://postgres:postgres@127.0.0.1:5432/$name" ;;
        esac
        MICROPOWER_LISTEN="127.0.0.1:$port" DATABASE_URL="$url" MICROPOWER_CORE="$engine" MICROPOWER_ADMIN_KEY="$key" \
            MICROPOWER_DATA_DIR="$dir" RUST_LOG=warn "$bin/micropower-server" >"$dir/server.log" 2>&1 &
        server_pid=$!
        for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.1; done
        result="$("$bin/micropower-loadgen" --mode daraja-validation --url "http://127.0.0.1:$port" --key "$key" \
            --devices "$devices" --connections "$connections" --seconds "$seconds")"
        kill "$server_pid"; wait "$server_pid" 2>/dev/null || true
        row="$(python3 - "$db" "$engine" "$result" <<'PY'
import json, sys
db, engine, r = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
print(f'| {db} | {engine} | {r["connections"]} | {r["validations_per_s"]:.0f} | {r["p50_ms"]} | {r["p99_ms"]} | {r["max_ms"]} | {r["errors"]} |')
PY
)"
        echo "$row" >&2
        rows+=("$row")
    done
done

table="| database | engine | concurrent requests | validations/s | p50 ms | p99 ms | max ms | errors |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |
$(printf '%s\n' "${rows[@]}")"
echo "$table"
if [ "${1:-}" = "--write" ]; then
    python3 - "$table" "$devices" "$connections" "$seconds" <<'PY'
import re, sys
table, devices, connections, seconds = sys.argv[1:5]
section = f"""## Daraja validation latency

Command (release build; a fresh database per row; {devices} KES meters, one Daraja C2B provider; Safaricom
validation requests for random meters over {connections} concurrent connections for {seconds} s; each
validation loads the account, asks the core and keeps the raw request durably before it answers; target
p99 < 50 ms):

```sh
scripts/bench-daraja.sh --write
```

{table}
"""
text = open("BENCHMARKS.md").read()
if "## Daraja validation latency" in text:
    text = re.sub(r"## Daraja validation latency\n.*?(?=\n## |\Z)", section.rstrip() + "\n", text, flags=re.S)
else:
    text = text.rstrip() + "\n\n" + section
open("BENCHMARKS.md", "w").write(text)
PY
fi
