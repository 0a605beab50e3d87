#!/usr/bin/env bash
# Staying responsive under heavy reads (issue 19): a fresh release server per database (wasm core), seeded
# with BENCH_PAYMENTS (100000) TZS payments through the API (micropower-loadgen, payments mode, until the
# server's applied-payment counter reaches the target), then for BENCH_SECONDS (20): BENCH_READERS (32)
# clients each asking `GET /v1/reports/revenue?currency=TZS` in a loop (curl), while micropower-loadgen
# measures Daraja C2B validations (50 KES meters, BENCH_CONNECTIONS (8) connections) and a second one keeps
# posting payments (4 connections). Prints a Markdown table; with --write, replaces the "Staying responsive
# under heavy reads" section of RELIABILITY.md.
#   BENCH_PAYMENTS BENCH_READERS BENCH_SECONDS BENCH_CONNECTIONS BENCH_DATABASES ("sqlite postgres")
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
target="${BENCH_PAYMENTS:-100000}"; readers="${BENCH_READERS:-32}"; seconds="${BENCH_SECONDS:-20}"
connections="${BENCH_CONNECTIONS:-8}"; databases="${BENCH_DATABASES:-sqlite postgres}"
source scripts/lib/bench.sh
port=18093

applied() {
    curl -sf "http://127.0.0.1:$port/metrics" | awk '/^micropower_payments_applied_total/ {print $2}'
}

rows=()
for db in $databases; do
    dir="$work/$db"; mkdir -p "$dir"
    fresh_database "$db" "$dir" "responsive"
    start_server "$url" wasm "$dir" "$port"
    base="http://127.0.0.1:$port"
    # Seeding: 1,000 meters, then payments until the target (the counter counts this server's applies).
    run=1; skip=""
    seed_started=$(date +%s)
    while [ "$(applied)" -lt "$target" ]; do
        "$bin/micropower-loadgen" --url "$base" --key "$key" --devices 1000 --connections 32 --seconds 15 \
            --run-id 1 --openpaygo-every 0 $skip >/dev/null
        skip="--skip-setup"
        echo "seeded $(applied) payments" >&2
    done
    seed_seconds=$(( $(date +%s) - seed_started ))
    seeded="$(applied)"
    # The heavy readers: each loops on the report, keeping each answer's status and time.
    stop_at=$(( $(date +%s) + seconds + 5 ))
    reader_pids=()
    for r in $(seq "$readers"); do
        ( while [ "$(date +%s)" -lt "$stop_at" ]; do
              curl -s -o /dev/null -w '%{http_code} %{time_total}\n' -H "Authorization: Bearer $key" \
                  "$base/v1/reports/revenue?currency=TZS" || true
          done >"$dir/reader-$r.txt" ) &
        reader_pids+=("$!")
    done
    sleep 2
    payments_before="$(applied)"
    "$bin/micropower-loadgen" --url "$base" --key "$key" --devices 1000 --connections 4 --seconds "$seconds" \
        --run-id 1 --skip-setup --openpaygo-every 0 >"$dir/payments.json" &
    payer=$!
    validation="$("$bin/micropower-loadgen" --mode daraja-validation --url "$base" --key "$key" --devices 50 \
        --connections "$connections" --seconds "$seconds" --run-id 7)"
    wait "$payer" || true
    payments_after="$(applied)"
    for pid in "${reader_pids[@]}"; do wait "$pid" || true; done
    stop_server
    row="$(python3 - "$db" "$validation" "$dir" "$readers" "$seeded" "$seed_seconds" "$payments_before" "$payments_after" "$seconds" "$rss_kb" <<'PY'
import glob, json, sys
db, v, folder, readers, seeded, seed_s, before, after, seconds, rss = sys.argv[1:11]
v = json.loads(v)
times = {}
for path in glob.glob(f"{folder}/reader-*.txt"):
    for line in open(path):
        parts = line.split()
        if len(parts) == 2:
            times.setdefault(parts[0], []).append(float(parts[1]))
def median(xs):
    return sorted(xs)[len(xs) // 2]
# Each status with its own median time: a report's own time is not hidden among the gate's fast 503s.
answered = ", ".join(f"{len(t)} × {s} (p50 {median(t):.1f} s)" for s, t in sorted(times.items()))
pay_s = (int(after) - int(before)) / (int(seconds) + 2)
print(f"| {db} | {seeded} ({seed_s} s) | {readers} | {answered} | {v['validations_per_s']:.0f} | "
      f"{v['p50_ms']} | {v['p99_ms']} | {v['max_ms']} | {v['errors']} | {pay_s:.0f} | {int(rss) / 1024:.0f} MiB |")
PY
)"
    echo "$row" >&2
    rows+=("$row")
done

table="| database | payments seeded (time) | report clients | report answers (median time) | validations/s | validation p50 ms | p99 ms | max ms | validation errors | payments/s meanwhile | server peak RSS |
| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |
$(printf '%s\n' "${rows[@]}")"
echo "$table"
if [ "${1:-}" = "--write" ]; then
    section="## Staying responsive under heavy reads

\`scripts/bench-responsive.sh --write\` (release build, wasm core, $(nproc) cores; BENCH_PAYMENTS=$target
BENCH_READERS=$readers BENCH_SECONDS=$seconds BENCH_CONNECTIONS=$connections). $readers clients ask for the
revenue report over every payment in a loop while Daraja validations are measured and payments keep being
posted; the heavy-route gate (\`MICROPOWER_HEAVY_CONCURRENCY\`, default 2) lets two reports run and queues the
rest (503 \`busy\` after \`MICROPOWER_HEAVY_QUEUE_WAIT_MS\`), and every core call runs off the runtime's
workers, so validations and payments only share the CPU with the reports.

$table"
    write_section RELIABILITY.md "Staying responsive under heavy reads" "$section"
fi
