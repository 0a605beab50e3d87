#!/usr/bin/env bash
# Runs the server's crash, concurrency and hostile-input suites (SQLite and PostgreSQL; the same tests the
# test command runs) and writes their evidence into RELIABILITY.md: what each suite did and what it found.
#   scripts/reliability.sh [--write]
# PostgreSQL: MICROPOWER_TEST_POSTGRES_URL (default postgres://postgres:postgres@127.0.0.1:5432/postgres).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/micropower/target}"
export MICROPOWER_TEST_POSTGRES_URL="${MICROPOWER_TEST_POSTGRES_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT

cargo test --locked -p micropower-server --test crash --test concurrency --test hostile -- --nocapture --test-threads 1 \
    2>&1 | tee "$log" >&2

python3 - "$log" "${1:-}" <<'PY'
import re, sys, datetime
log, write = sys.argv[1], sys.argv[2]
text = open(log).read()
# With --nocapture a test's output interleaves its "test <name> ... ok" line; names and failures are read
# apart: every started test, and the "---- <name> stdout ----" block libtest prints for each failure.
started = re.findall(r"^test (\S+) \.\.\. ", text, flags=re.M)
failed = sorted(set(re.findall(r"^---- (\S+) stdout ----", text, flags=re.M)))
summaries = re.findall(r"^test result: (ok|FAILED)\. (\d+) passed; (\d+) failed", text, flags=re.M)
if len(summaries) < 3 or any(status != "ok" for status, _, _ in summaries):
    failed = failed or ["(a suite did not finish)"]
passed = [name for name in started if name not in failed]
crash = re.findall(r"crash test: (.*)", text)
hostile = sorted(set(re.findall(r"hostile: (\d{3} \S* — .*)", text)))
hostile_total = re.findall(r"hostile: (\d+) requests", text)

concurrency = [n for n in passed if n.split("::")[0] in ("copies_of_one_delivery_credit_once",
                                                          "different_payments_on_one_device_apply_in_turn")]

section = f"""## Crash, concurrency and hostile input

Command (SQLite and PostgreSQL; the same tests run in the test command; {datetime.date.today()}):

```sh
scripts/reliability.sh --write
```

Suites: {len(passed)} passed, {len(failed)} failed{": " + ", ".join(failed) if failed else ""}.

### Crash (`host-server/tests/crash.rs`)

Six retrying clients (same `provider_tx_id` until acknowledged) post 360 payments on six OpenPAYGO devices
while the server binary is killed with SIGKILL five times at random moments and restarted on the same
database. Then: every acknowledged payment stored exactly once, the plans hold exactly the acknowledged
money, each plan's stored balance equals the sum of its journal lines (`/v1/export`), no OpenPAYGO count used
twice.

{chr(10).join("- " + c for c in crash)}

### Concurrency (`host-server/tests/concurrency.rs`)

100 copies of one delivery at once → one credit, 99 identical repeats; 100 different payments at once on one
device → the same plan balance, credit, token count and token codes as the same payments posted one by one
on a twin device; both again with the requests spread over two servers sharing one PostgreSQL database.

{chr(10).join("- `" + n + "` passed" for n in concurrency)}

### Hostile input (`host-server/tests/hostile.rs`)

{hostile_total[0] if hostile_total else "?"} hostile requests per database, each answered with a 4xx in the error shape, and the database
holds afterwards exactly what the set-up wrote (refusals of payments are kept in the refused-payments log
by design, and each hook delivery is kept raw marked `malformed` or `bad_signature`; neither is counted as
stored money).

| status | code | request |
| --- | --- | --- |
""" + "\n".join(f"| {h.split(' ', 2)[0]} | `{h.split(' ', 2)[1]}` | {h.split(' — ', 1)[1]} |" for h in hostile) + "\n"
print(section)
if write == "--write":
    try:
        doc = open("RELIABILITY.md").read()
    except FileNotFoundError:
        doc = "# Reliability\n"
    marker = "## Crash, concurrency and hostile input"
    if marker in doc:
        doc = re.sub(re.escape(marker) + r"\n.*?(?=\n## |\Z)", section.rstrip() + "\n", doc, flags=re.S)
    else:
        doc = doc.rstrip() + "\n\n" + section
    open("RELIABILITY.md", "w").write(doc)
sys.exit(1 if failed else 0)
PY
