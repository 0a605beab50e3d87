#!/usr/bin/env bash
# Server load benchmark. For each database (SQLite, PostgreSQL) and number of registered meters, the meters
# are registered once; each load then runs on its own copy of that database, so every engine meets the same
# tables. The engines take turns over BENCH_ROUNDS rounds (native then wasm, then wasm then native, ...), and
# the wasm/native ratio is taken within a round: on a shared machine the pace drifts between minutes, and a
# ratio of two loads far apart measures the drift. For each connection count: the disk's single-threaded
# write+fsync rate, unique payments for BENCH_SECONDS, and the fsync rate again, in the same run. Prints a
# Markdown table and the ratios; with --write, replaces the "Server load" section of BENCHMARKS.md with them.
#   BENCH_DEVICES ("1000"; e.g. "1000 100000") BENCH_CONNECTIONS ("64"; e.g. "1,16,64") BENCH_SECONDS (10)
#   BENCH_DATABASES ("sqlite postgres") BENCH_ENGINES ("native wasm") BENCH_ROUNDS (2)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
device_counts="${BENCH_DEVICES:-1000}"; connections="${BENCH_CONNECTIONS:-64}"; seconds="${BENCH_SECONDS:-10}"
databases="${BENCH_DATABASES:-sqlite postgres}"; engines="${BENCH_ENGINES:-native wasm}"; rounds="${BENCH_ROUNDS:-2}"
source scripts/lib/bench.sh
port=18090

# One engine order per round: as given in odd rounds, reversed in even ones.
round_engines() {
    if [ $(($1 % 2)) = 1 ]; then echo "$engines"; else echo "$engines" | tr ' ' '\n' | tac | tr '\n' ' '; fi
}

rows=()
for db in $databases; do
    for devices in $device_counts; do
        base="$work/$db-$devices"; mkdir -p "$base"
        fresh_database "$db" "$base" "$devices"
        base_url="$url"
        # The serials of this database's meters: every load posts to them (--skip-setup).
        run_id=$RANDOM
        echo "== $db, $devices meters: registering" >&2
        start_server "$base_url" native "$base" "$port"
        "$bin/micropower-loadgen" --url "http://127.0.0.1:$port" --key "$key" --devices "$devices" --run-id "$run_id" \
            --setup-only
        stop_server
        for round in $(seq "$rounds"); do
            for engine in $(round_engines "$round"); do
                echo "== $db, $engine engine, $devices meters, round $round" >&2
                dir="$work/$db-$devices-$round-$engine"
                copy_database "$db" "$base" "$base_url" "$dir" "${devices}_${round}_$engine"
                start_server "$url" "$engine" "$dir" "$port"
                results="$("$bin/micropower-loadgen" --url "http://127.0.0.1:$port" --key "$key" --devices "$devices" \
                    --connections "$connections" --seconds "$seconds" --fsync-dir "$dir" --run-id "$run_id" \
                    --server-pid "$server_pid" --skip-setup)"
                stop_server
                drop_database "$db" "$dir"
                while read -r result; do
                    row="$(python3 - "$db" "$engine" "$round" "$rss_kb" "$result" <<'PY'
import json, sys
db, engine, round_, rss, r = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), json.loads(sys.argv[5])
# Against the higher of the two fsync rates (before and after the load): the stricter reading.
ratio = r["payments_per_s"] / r["fsync_per_s"] if r["fsync_per_s"] else float("nan")
known = lambda v: "–" if v is None else f"{v:g}"
print(f'| {db} | {engine} | {round_} | {r["connections"]} | {r["devices"]} | {r["payments_per_s"]:.0f} | {r["p50_ms"]} | '
      f'{r["p99_ms"]} | {r["p999_ms"]} | {r["max_ms"]} | {known(r["server_cpu_us_per_payment"])} | '
      f'{known(r["loadgen_cpu_us_per_payment"])} | {known(r["mean_batch"])} | '
      f'{known(r["fsync_before_per_s"])} / {known(r["fsync_after_per_s"])} | {ratio:.2f} | {rss/1024:.0f} MB | {r["errors"]} |')
PY
)"
                    echo "$row" >&2
                    rows+=("$row")
                done <<<"$results"
            done
        done
    done
done

table="| database | engine | round | connections | meters | payments/s | p50 ms | p99 ms | p99.9 ms | max ms | server CPU µs/payment | loadgen CPU µs/payment | mean batch | fsync/s before / after | payments/s ÷ higher fsync/s | server peak RSS | errors |
| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
$(printf '%s\n' "${rows[@]}")"
ratios="$(python3 - "$table" <<'PY'
import sys
rows = [r.strip("|").split("|") for r in sys.argv[1].splitlines()[2:]]
rate = {(c[0].strip(), c[1].strip(), int(c[2]), int(c[3]), int(c[4])): float(c[5]) for c in rows}
def pairs(of):
    # A ratio per round, both loads of it minutes apart at most; then the range over the rounds.
    found = sorted(of.items())
    text = ", ".join(f"{v:.2f} (round {k})" for k, v in found)
    return f"{text}; highest {max(of.values()):.2f}" if found else ""
out = []
groups = sorted({(db, conns, devices) for (db, _, _, conns, devices) in rate})
for db, conns, devices in groups:
    rounds = {k[2] for k in rate if (k[0], k[3], k[4]) == (db, conns, devices)}
    wasm_native = {r: rate[(db, "wasm", r, conns, devices)] / rate[(db, "native", r, conns, devices)]
                   for r in rounds if (db, "wasm", r, conns, devices) in rate and (db, "native", r, conns, devices) in rate
                   and rate[(db, "native", r, conns, devices)]}
    if wasm_native:
        # Throughput's ratio, native over wasm: how much more the native engine answers in the same time.
        out.append(f"- {db}, {conns} connections, {devices} meters: native/wasm throughput = "
                   + pairs({r: 1 / v for r, v in wasm_native.items() if v}))
    if devices == 1000:
        for engine in sorted({k[1] for k in rate}):
            big = {r: rate[(db, engine, r, conns, 100000)] / rate[(db, engine, r, conns, 1000)]
                   for r in rounds if (db, engine, r, conns, 100000) in rate and rate[(db, engine, r, conns, 1000)]}
            if big:
                text = ", ".join(f"{v:.0%} (round {r})" for r, v in sorted(big.items()))
                out.append(f"- {db}, {engine}, {conns} connections: 100,000 meters at {text} of 1,000 meters")
print("\n".join(out))
PY
)"
echo "$table"
echo
echo "$ratios"
if [ "${1:-}" = "--write" ]; then
    write_section BENCHMARKS.md "Server load" "## Server load

Command (release build; per database and meter count the meters are registered once, and every load runs on
its own copy of that database; the engines take turns over $rounds rounds, native first in odd rounds and
wasm first in even ones, and a ratio between engines is taken within a round; meters: $device_counts;
connections: $connections; unique payments for $seconds s per connection count; the fsync rate is a single-threaded 4 KiB
write + fsync loop in the database's folder for 3 s, measured right before and right after each load, and
payments/s is divided by the higher of the two; one meter in ten is an
OpenPAYGO meter (a token generated per payment); CPU per payment is user + system time of the server's
process (and of the load generator) over the load, divided by the payments answered; mean batch is the
payments per commit of SQLite's writer; peak RSS is the server's over its whole run, registration included,
with the guest compiled beforehand (`compile-guest`, as an install does); run on $(date -u +%F) on this project's shared 2-core machine):

\`\`\`sh
BENCH_DEVICES=\"$device_counts\" BENCH_CONNECTIONS=\"$connections\" BENCH_SECONDS=$seconds BENCH_ROUNDS=$rounds scripts/bench-server.sh --write
\`\`\`

$table

$ratios"
fi
