#!/usr/bin/env bash
# Server load benchmark: for each database (SQLite, PostgreSQL) and number of registered meters, one fresh
# database; on it, a release server per core engine in turn (the meters are registered once, by the first);
# for each connection count, the disk's single-threaded write+fsync rate, unique payments for BENCH_SECONDS,
# and the fsync rate again, in the same run. Prints a Markdown table and the wasm/native and
# 100k/1k ratios; with --write, replaces the "Server load" section of BENCHMARKS.md with them.
#   BENCH_DEVICES ("1000"; e.g. "1000 100000") BENCH_CONNECTIONS ("64"; e.g. "1,16,64") BENCH_SECONDS (10)
#   BENCH_DATABASES ("sqlite postgres") BENCH_ENGINES ("native wasm")
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
device_counts="${BENCH_DEVICES:-1000}"; connections="${BENCH_CONNECTIONS:-64}"; seconds="${BENCH_SECONDS:-10}"
# Native first: the engine that runs second finds the first one's payments in the tables, which can only
# make the wasm/native ratio look worse, never better.
databases="${BENCH_DATABASES:-sqlite postgres}"; engines="${BENCH_ENGINES:-native wasm}"
source scripts/lib/bench.sh
port=18090

rows=()
for db in $databases; do
    for devices in $device_counts; do
        dir="$work/$db-$devices"; mkdir -p "$dir"
        fresh_database "$db" "$dir" "$devices"
        # The serials of this database's meters; the second engine posts to the same ones (--skip-setup).
        run_id=$RANDOM
        setup=""
        for engine in $engines; do
            echo "== $db, $engine engine, $devices meters" >&2
            start_server "$url" "$engine" "$dir" "$port"
            results="$("$bin/micropower-loadgen" --url "http://127.0.0.1:$port" --key "$key" --devices "$devices" \
                --connections "$connections" --seconds "$seconds" --fsync-dir "$dir" --run-id "$run_id" --server-pid "$server_pid" $setup)"
            setup="--skip-setup"
            stop_server
            while read -r result; do
                row="$(python3 - "$db" "$engine" "$rss_kb" "$result" <<'PY'
import json, sys
db, engine, rss, r = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
# Against the higher of the two fsync rates (before and after the load): the stricter reading.
ratio = r["payments_per_s"] / r["fsync_per_s"] if r["fsync_per_s"] else float("nan")
known = lambda v: "–" if v is None else f"{v:g}"
print(f'| {db} | {engine} | {r["connections"]} | {r["devices"]} | {r["payments_per_s"]:.0f} | {r["p50_ms"]} | {r["p99_ms"]} | '
      f'{r["p999_ms"]} | {r["max_ms"]} | {known(r["server_cpu_us_per_payment"])} | {known(r["loadgen_cpu_us_per_payment"])} | '
      f'{known(r["mean_batch"])} | {known(r["fsync_before_per_s"])} / {known(r["fsync_after_per_s"])} | {ratio:.2f} | '
      f'{rss/1024:.0f} MB | {r["errors"]} |')
PY
)"
                echo "$row" >&2
                rows+=("$row")
            done <<<"$results"
        done
    done
done

table="| database | engine | connections | meters | payments/s | p50 ms | p99 ms | p99.9 ms | max ms | server CPU µs/payment | loadgen CPU µs/payment | mean batch | fsync/s before / after | payments/s ÷ higher fsync/s | server peak RSS | errors |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
$(printf '%s\n' "${rows[@]}")"
ratios="$(python3 - "$table" <<'PY'
import sys
rows = [r.strip("|").split("|") for r in sys.argv[1].splitlines()[2:]]
rate = {(c[0].strip(), c[1].strip(), int(c[2]), int(c[3])): float(c[4]) for c in rows}
out = []
for (db, engine, conns, devices), value in sorted(rate.items()):
    if engine == "wasm" and (db, "native", conns, devices) in rate and value:
        native = rate[(db, "native", conns, devices)]
        out.append(f"- {db}, {conns} connections, {devices} meters: native/wasm throughput = {native / value:.2f}")
    big = (db, engine, conns, 100000)
    if devices == 1000 and big in rate and value:
        out.append(f"- {db}, {engine}, {conns} connections: 100,000 meters at {rate[big] / value:.0%} of 1,000 meters")
print("\n".join(out))
PY
)"
echo "$table"
echo
echo "$ratios"
if [ "${1:-}" = "--write" ]; then
    write_section BENCHMARKS.md "Server load" "## Server load

Command (release build; per database and meter count one fresh database, on which a server runs with each
core engine in turn, native first — the meters are registered once; meters: $device_counts; connections:
$connections; unique payments for $seconds s per connection count; the fsync rate is a single-threaded 4 KiB
write + fsync loop in the database's folder for 3 s, measured right before and right after each load, and
payments/s is divided by the higher of the two; one meter in ten is an
OpenPAYGO meter (a token generated per payment); CPU per payment is user + system time of the server's
process (and of the load generator) over the load, divided by the payments answered; mean batch is the
payments per commit of SQLite's writer; peak RSS is the server's over its whole run, registration included,
with the guest compiled beforehand (`compile-guest`, as an install does); run on $(date -u +%F) on this project's shared 2-core machine):

\`\`\`sh
BENCH_DEVICES=\"$device_counts\" BENCH_CONNECTIONS=\"$connections\" BENCH_SECONDS=$seconds scripts/bench-server.sh --write
\`\`\`

$table

$ratios"
fi
