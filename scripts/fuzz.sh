#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a while (libFuzzer, AddressSanitizer, nightly toolchain) with
# seeds from tests/vectors (core targets) and fuzz/seeds (server targets), and prints one Markdown row per
# target: executions, seconds, corpus size and findings. A finding fails the script; its input stays in
# fuzz/artifacts/<target>/ (replay it with `cargo +nightly fuzz run --fuzz-dir fuzz <target> <file>`); once
# fixed, it becomes a case in tests/vectors/ (core targets) or a host-server test (server targets).
#   scripts/fuzz.sh [seconds per target, default 30] [--write | --stamp]
#       --write: the table goes into RELIABILITY.md, and each target that passed gets its stamp in
#       fuzz/stamps.txt (commit both); --stamp: the stamps only
#   scripts/fuzz.sh --stale   prints the targets whose inputs changed since their stamp (nothing else runs)
#   FUZZ_TARGETS="core_call allocate_payment" to run some only; FUZZ_JOBS=2 runs two targets at a time.
#
# A target's stamp is a hash of the files it is built from and seeded with (inputs_of below): the core, the
# fuzz crate, the target's own source and seeds, and for server targets the server crate. The test command
# (scripts/test.d/50-fuzz.sh) runs the smoke only for targets whose stamp is stale, so the nightly toolchain,
# cargo-fuzz and the sanitizer build of core and server are paid when their inputs changed, not every run.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
seconds=30
write=""
stamp=""
stale_only=""
for arg in "$@"; do
    case "$arg" in
        --write) write="--write"; stamp=1 ;;
        --stamp) stamp=1 ;;
        --stale) stale_only=1 ;;
        *[!0-9]* | "") echo "fuzz.sh: unknown argument $arg" >&2; exit 2 ;;
        *) seconds="$arg" ;;
    esac
done
cache="$HOME/.cache/micropower"
target_dir="$cache/fuzz-target"
all_targets="core_call allocate_payment validate_payment installment_schedule \
    daraja_c2b wave_webhook hmac_hook signature_roundtrip api_bodies"
core_targets=" core_call allocate_payment validate_payment installment_schedule "
targets="${FUZZ_TARGETS:-$all_targets}"
jobs="${FUZZ_JOBS:-1}"
stamps="fuzz/stamps.txt"

# The files a target is built from and seeded with. The core's targets link the server crate too (one fuzz
# crate), but only call the core: a server change does not make them stale. Every other target hashes the
# server crate whole, not the files its parser happens to live in today: a change anywhere in it may reach
# the parser. The root Cargo.toml is there for the core's inherited dependency versions.
inputs_of() {
    local t="$1"
    echo Cargo.toml core/Cargo.toml core/src fuzz/Cargo.toml fuzz/Cargo.lock fuzz/src "fuzz/fuzz_targets/$t.rs"
    if [[ "$core_targets" == *" $t "* ]]; then
        echo tests/vectors
    else
        echo host-server/Cargo.toml host-server/build.rs host-server/build host-server/src host-server/migrations \
            "fuzz/seeds/$t"
    fi
}
inputs_hash() {
    local paths=() path
    for path in $(inputs_of "$1"); do
        [ -e "$path" ] && paths+=("$path")
    done
    find "${paths[@]}" -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16
}
stale_targets() {
    local t
    for t in $targets; do
        grep -qx "$t $(inputs_hash "$t")" "$stamps" 2>/dev/null || echo "$t"
    done
}
if [ -n "$stale_only" ]; then
    stale_targets
    exit 0
fi

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2 --locked

# Seeds: each vector case's input (the core_call target also gets the function name on the first line).
# A folder of this run's own: two runs at once (a long run beside the test command's smoke) must not
# delete each other's seeds while libFuzzer reads them.
seeds="$(mktemp -d)"
results="$(mktemp -d)"
trap 'rm -rf "$seeds" "$results"' EXIT
python3 - "$seeds" <<'PY'
import hashlib, json, pathlib, sys
out = pathlib.Path(sys.argv[1])
for path in sorted(pathlib.Path("tests/vectors").glob("*.json")):
    doc = json.loads(path.read_text())
    function = doc["function"]
    for case in doc["cases"]:
        text = json.dumps(case["input"], separators=(",", ":"))
        for target, data in ((function, text), ("core_call", f"{function}\n{text}")):
            folder = out / target
            folder.mkdir(parents=True, exist_ok=True)
            (folder / hashlib.sha1(data.encode()).hexdigest()).write_text(data)
PY
# The server targets' seeds are committed (fuzz/seeds/make_seeds.py writes them).
for folder in fuzz/seeds/*/; do
    mkdir -p "$seeds/$(basename "$folder")"
    cp "$folder"* "$seeds/$(basename "$folder")/"
done

cargo +nightly fuzz build --fuzz-dir fuzz --target-dir "$target_dir" >&2
# run_target <target>: fuzzes it; writes its Markdown row to $results/<target>.row, and its log's tail to
# $results/<target>.failed when it fails or finds something.
run_target() {
    local t="$1" corpus="$cache/fuzz-corpus/$1" log="$results/$1.log" status=0 runs findings units
    mkdir -p "$corpus" "fuzz/artifacts/$t"
    cargo +nightly fuzz run --fuzz-dir fuzz --target-dir "$target_dir" "$t" "$corpus" "$seeds/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1 || status=$?
    runs="$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)"
    findings="$(find "fuzz/artifacts/$t" -type f | wc -l)"
    units="$(find "$corpus" -type f | wc -l)"
    if [ "$status" -ne 0 ] || [ "$findings" -ne 0 ]; then
        tail -40 "$log" >"$results/$t.failed"
    fi
    echo "| \`$t\` | $seconds | $runs | $units | $findings | $(date -u +%F) |" >"$results/$t.row"
}
running=0
for t in $targets; do
    if [ "$running" -ge "$jobs" ]; then
        wait -n || true
        running=$((running - 1))
    fi
    run_target "$t" &
    running=$((running + 1))
done
wait
rows=()
failed=0
passed_targets=()
for t in $targets; do
    if [ -f "$results/$t.failed" ] || [ ! -f "$results/$t.row" ]; then
        failed=1
        echo "--- $t failed:" >&2
        cat "$results/$t.failed" >&2 2>/dev/null || true
    else
        passed_targets+=("$t")
    fi
    row="$(cat "$results/$t.row" 2>/dev/null || echo "| \`$t\` | $seconds | did not run | | | |")"
    echo "$row" >&2
    rows+=("$row")
done

table="| target | seconds | executions | corpus inputs | findings | run on |
| --- | ---: | ---: | ---: | ---: | --- |
$(printf '%s\n' "${rows[@]}")"
echo "$table"
if [ "$write" = "--write" ]; then
    # The section keeps one row per target: this run's rows replace those of the same targets, the others
    # stay, so targets can be run at different times (FUZZ_TARGETS) into one table.
    python3 - "$table" <<'PY'
import fcntl, re, sys
table = sys.argv[1]
# Runs side by side (one per core) finish together: read-modify-write under a lock, or a row is lost.
lock = open("RELIABILITY.md.lock", "w")
fcntl.flock(lock, fcntl.LOCK_EX)
def rows(text):
    return {m.group(1): m.group(0) for m in re.finditer(r"^\| `([a-z0-9_]+)` \|.*$", text, flags=re.M)}
try:
    text = open("RELIABILITY.md").read()
except FileNotFoundError:
    text = "# Reliability\n"
old = re.search(r"## Fuzzing\n.*?(?=\n## |\Z)", text, flags=re.S)
merged = rows(old.group(0)) if old else {}
merged.update(rows(table))
header = "| target | seconds | executions | corpus inputs | findings | run on |\n| --- | ---: | ---: | ---: | ---: | --- |"
body = "\n".join(merged[name] for name in sorted(merged))
section = f"""## Fuzzing

Command (nightly toolchain, libFuzzer with AddressSanitizer, seeds from `tests/vectors` and `fuzz/seeds`; on
this project's 2-core machine, shared with other work; a finding fails the script and stays in
`fuzz/artifacts/<target>/`):

```sh
scripts/fuzz.sh 600 --write                                  # every target, 10 minutes each
FUZZ_TARGETS="daraja_c2b wave_webhook" scripts/fuzz.sh 600 --write   # some; their rows are replaced
```

`--write` also records each passing target's stamp (a hash of its inputs) in `fuzz/stamps.txt`; the test
command's 30-second smoke runs only the targets whose inputs changed since.

{header}
{body}
"""
if old:
    text = text[:old.start()] + section.rstrip() + "\n" + text[old.end():]
else:
    text = text.rstrip() + "\n\n" + section
open("RELIABILITY.md", "w").write(text)
PY
fi
if [ -n "$stamp" ]; then
    # The stamps of the targets that passed replace theirs; the others' stay as they were.
    {
        for t in $all_targets; do
            if printf '%s\n' "${passed_targets[@]}" | grep -qx "$t"; then
                echo "$t $(inputs_hash "$t")"
            else
                grep "^$t " "$stamps" 2>/dev/null || true
            fi
        done
    } >"$stamps.tmp"
    mv "$stamps.tmp" "$stamps"
fi
echo "fuzz: ${#passed_targets[@]} passed, $(($(wc -w <<<"$targets") - ${#passed_targets[@]})) failed" >&2
exit "$failed"
