#!/usr/bin/env bash
# Runs every cargo-fuzz target of fuzz/ for a while (libFuzzer, AddressSanitizer, nightly toolchain) with
# seeds from tests/vectors (core targets) and fuzz/seeds (server targets), and prints one Markdown row per
# target: executions, seconds, corpus size and findings. A finding fails the script; its input stays in
# fuzz/artifacts/<target>/ (replay it with `cargo +nightly fuzz run --fuzz-dir fuzz <target> <file>`); once
# fixed, it becomes a case in tests/vectors/ (core targets) or a host-server test (server targets).
#   scripts/fuzz.sh [seconds per target, default 30] [--write]   (--write: the table goes into RELIABILITY.md)
#   FUZZ_TARGETS="core_call allocate_payment" to run some only.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
seconds="${1:-30}"
write="${2:-}"
cache="$HOME/.cache/micropower"
target_dir="$cache/fuzz-target"
targets="${FUZZ_TARGETS:-core_call allocate_payment validate_payment installment_schedule \
    daraja_c2b wave_webhook hmac_hook signature_roundtrip api_bodies}"

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --version 0.13.2 --locked

# Seeds: each vector case's input (the core_call target also gets the function name on the first line).
# A folder of this run's own: two runs at once (a long run beside the test command's smoke) must not
# delete each other's seeds while libFuzzer reads them.
seeds="$(mktemp -d)"
trap 'rm -rf "$seeds"' EXIT
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
rows=()
failed=0
for t in $targets; do
    corpus="$cache/fuzz-corpus/$t"
    mkdir -p "$corpus" "fuzz/artifacts/$t"
    log="$(mktemp)"
    set +e
    cargo +nightly fuzz run --fuzz-dir fuzz --target-dir "$target_dir" "$t" "$corpus" "$seeds/$t" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1
    status=$?
    set -e
    runs="$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -oE '[0-9]+$' || echo 0)"
    findings="$(find "fuzz/artifacts/$t" -type f | wc -l)"
    units="$(find "$corpus" -type f | wc -l)"
    if [ "$status" -ne 0 ] || [ "$findings" -ne 0 ]; then
        failed=1
        tail -40 "$log" >&2
    fi
    row="| \`$t\` | $seconds | $runs | $units | $findings | $(date -u +%F) |"
    echo "$row" >&2
    rows+=("$row")
    rm -f "$log"
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
exit "$failed"
