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
devices="${BENCH_DEVICES:-200}"; connections="${BENCH_CONNECTIONS:-50}"; seconds="${BENCH_SECONDS:-10}"
databases="${BENCH_DATABASES:-sqlite postgres}"; engines="${BENCH_ENGINES:-wasm}"
source scripts/lib/bench.sh
port=18091

rows=()
for db in $databases; do
    for engine in $engines; do
        dir="$work/$db-$engine"; mkdir -p "$dir"
        fresh_database "$db" "$dir" "daraja_$engine"
        start_server "$url" "$engine" "$dir" "$port"
        result="$("$bin/micropower-loadgen" --mode daraja-validation --url "http://127.0.0.1:$port" --key "$key" \
            --devices "$devices" --connections "$connections" --seconds "$seconds")"
        stop_server
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
    write_section BENCHMARKS.md "Daraja validation latency" "## Daraja validation latency

Command (release build; a fresh database per row; $devices KES meters, one Daraja C2B provider; Safaricom
validation requests for random meters over $connections concurrent connections for $seconds s; each
validation loads the account, asks the core and keeps the raw request durably before it answers; target
p99 < 50 ms; run on $(date -u +%F) on this project's shared 2-core machine):

\`\`\`sh
scripts/bench-daraja.sh --write
\`\`\`

$table"
fi
