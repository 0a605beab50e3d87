#!/usr/bin/env bash
# Bulk registration (issue 17 §1: 10,000 rows import in under 30 s): a fresh release server per database
# (wasm core), one manufacturer, and a 10,000-row CSV of OpenPAYGO solar home systems on weekly plans in 100
# villages that the import creates (`create_missing=true`). Times, one after another on the same server: the
# dry run, the import, and the re-upload of the same file (every row `unchanged`).
# Prints a Markdown table; with --write, replaces the "Bulk registration import" section of BENCHMARKS.md.
#   BENCH_ROWS (10000) BENCH_DATABASES ("sqlite postgres")
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
rows_wanted="${BENCH_ROWS:-10000}"; databases="${BENCH_DATABASES:-sqlite postgres}"
source scripts/lib/bench.sh
port=18093

csv="$work/registrations.csv"
python3 - "$rows_wanted" "$csv" <<'PY'
import sys
rows, path = int(sys.argv[1]), sys.argv[2]
key = "a29ab82edc5fbbc41ec9530f6dac86b1"
with open(path, "w") as f:
    f.write("name,surname,phone,village,serial,device_kind,manufacturer,openpaygo_key,openpaygo_starting_code,"
            "registered_on,appliance,currency,total_cost,down_payment,installments,period,start_date\n")
    for n in range(rows):
        village = f"Cluster {n % 4} / Area {n % 10} / Village {n % 100}"
        f.write(f"Amina,Juma{n},+255768{n:06d},{village},BENCH-{n:05d},solar_home_system,SunCo,{key},123456789,"
                f"2026-01-01,SHS 80W,TZS,2100,0,3,weekly,2026-01-01\n")
PY

# post <query>: uploads the CSV; prints "<seconds> <status> <created> <unchanged> <errors>".
post() {
    local out="$work/answer.json" status seconds
    read -r status seconds < <(curl -s -o "$out" -w '%{http_code} %{time_total}\n' -H "Authorization: Bearer $key" \
        -H "Content-Type: text/csv" --data-binary "@$csv" "http://127.0.0.1:$port/v1/imports/registrations$1")
    python3 - "$seconds" "$status" "$out" <<'PY'
import json, sys
seconds, status, path = sys.argv[1], sys.argv[2], sys.argv[3]
a = json.load(open(path))
print(f'{float(seconds):.1f} {status} {a.get("created")} {a.get("unchanged")} {a.get("errors")}')
PY
}

rows=()
for db in $databases; do
    dir="$work/$db"; mkdir -p "$dir"
    fresh_database "$db" "$dir" "import"
    start_server "$url" wasm "$dir" "$port"
    curl -sf -o /dev/null -H "Authorization: Bearer $key" -H "Content-Type: application/json" \
        -d '{"name": "SunCo", "device_kinds": ["solar_home_system"], "token_scheme": "openpaygo"}' \
        "http://127.0.0.1:$port/v1/manufacturers"
    read -r dry dry_status _ _ dry_errors < <(post "?dry_run=true&create_missing=true")
    read -r imported status created _ errors < <(post "?create_missing=true")
    read -r again again_status _ unchanged _ < <(post "?create_missing=true")
    stop_server
    echo "$db: dry run ${dry}s ($dry_status, $dry_errors errors), import ${imported}s ($status, $created created," \
        "$errors errors), re-upload ${again}s ($again_status, $unchanged unchanged), peak RSS $((rss_kb / 1024)) MiB" >&2
    if [ "$status" != 201 ] || [ "$created" != "$rows_wanted" ] || [ "$unchanged" != "$rows_wanted" ]; then
        echo "bench-import: the import did not register every row (see above)" >&2
        exit 1
    fi
    rows+=("| $db | wasm | $rows_wanted | $dry | $imported | $again | $((rss_kb / 1024)) MiB |")
done

table="| database | engine | rows | dry run s | import s | re-upload (all unchanged) s | server peak RSS |
| --- | --- | ---: | ---: | ---: | ---: | ---: |
$(printf '%s\n' "${rows[@]}")"
echo "$table"
if [ "${1:-}" = "--write" ]; then
    write_section BENCHMARKS.md "Bulk registration import" "## Bulk registration import

Command (release build, wasm core; per database a fresh database and server; one manufacturer; a CSV of
$rows_wanted OpenPAYGO solar home systems on weekly 3 × 700 TZS plans, each a new customer, in 100 villages
under 10 areas and 4 clusters that the import creates (\`create_missing=true\`); the dry run, the import and
the re-upload of the same file, one after another, each timed by \`curl\` from the request to the whole answer;
issue 17's target: 10,000 rows in under 30 s; run on $(date -u +%F) on this project's shared 2-core machine):

\`\`\`sh
scripts/bench-import.sh --write
\`\`\`

$table"
fi
