#!/usr/bin/env bash
# Where a loaded server spends its time: a release server (SQLite, BENCH_ENGINE, default wasm) takes unique
# payments over 64 connections while `perf record -g` samples it for 8 s; prints the share of samples per
# thread and the hottest symbols, and the CPU the server used. With --write, replaces the "Server profile"
# section of BENCHMARKS.md. Needs `perf` (Debian package linux-perf; installed when missing).
#   BENCH_ENGINE (wasm) BENCH_DEVICES (1000) BENCH_CONNECTIONS (64)
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
engine="${BENCH_ENGINE:-wasm}"; devices="${BENCH_DEVICES:-1000}"; connections="${BENCH_CONNECTIONS:-64}"
if ! command -v perf >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null
fi
source scripts/lib/bench.sh
port=18092
dir="$work/profile"; mkdir -p "$dir"
fresh_database sqlite "$dir" profile
start_server "$url" "$engine" "$dir" "$port"
"$bin/micropower-loadgen" --url "http://127.0.0.1:$port" --key "$key" --devices "$devices" \
    --connections "$connections" --seconds 16 >"$dir/load.json" 2>"$dir/load.log" &
load_pid=$!
# Past the registrations and the first seconds of load, then 8 s of samples.
until grep -q "^loading" "$dir/load.log" 2>/dev/null; do sleep 0.5; done
sleep 4
ticks_before="$(awk '{print $14 + $15}' "/proc/$server_pid/stat")"
perf record -q -F 999 -g -p "$server_pid" -o "$dir/perf.data" -- sleep 8 2>/dev/null
ticks_after="$(awk '{print $14 + $15}' "/proc/$server_pid/stat")"
wait "$load_pid"
stop_server
cores="$(python3 -c "import os,sys; print(f'{(int(sys.argv[2]) - int(sys.argv[1])) / os.sysconf(\"SC_CLK_TCK\") / 8:.2f}')" \
    "$ticks_before" "$ticks_after")"
threads="$(perf report -i "$dir/perf.data" --no-children --sort comm -q -g none 2>/dev/null | grep -v '^$' | sed -n 1,6p)"
symbols="$(perf report -i "$dir/perf.data" --no-children --sort dso,sym -q -g none 2>/dev/null | grep -v '^$' | sed -n 1,25p)"
load="$(cat "$dir/load.json")"
report="Load while sampling: $load

Server CPU over the 8 sampled seconds: $cores cores (of 2).

Samples by thread:

\`\`\`
$threads
\`\`\`

Hottest symbols (self time):

\`\`\`
$symbols
\`\`\`"
echo "$report"
if [ "${1:-}" = "--write" ]; then
    write_section BENCHMARKS.md "Server profile" "## Server profile

Command (release build, SQLite, $engine engine, $devices meters, $connections connections; \`perf record -g\`
at 999 Hz for 8 s in the middle of the load; run on $(date -u +%F) on this project's shared 2-core machine):

\`\`\`sh
scripts/profile-server.sh --write
\`\`\`

$report"
fi
