"""Benchmarks of the Python package (the root BENCHMARKS.md, section "Python package", has the figures and the command).

    python bench.py [--installments 1000000] [--payments 100000] [--rounds 7] [--json out.json]

1. Debt aging over N installments: the same records, read from an export into a `Dataset`, aged
   - from Python: `Dataset.debt_aging(...)`, the call an analyst makes (native call, JSON result, Decimals);
   - in Rust: the core's `debt_aging` on the same records, timed inside the native module (no Python in
     the loop), in the same process and the same run.
   Target: Python <= 2 x Rust. For scale, the typed function on Python objects
   (`micropower.debt_aging(list_of_dicts, ...)`, which goes through JSON) is timed on a sample.
2. `load_export` of an export with M payments (plus its registry lines): target <= 2 s.

Inputs are generated deterministically (seeded): plans of five weekly installments started over two years,
one plan in twenty in KES (left out of the TZS report), payments thinning out for later installments so every
aging bucket is filled; payments on meters (access rate + energy) and SHS (installments) in three areas.
Times are the median of the rounds (wall clock, time.perf_counter).
"""

import argparse
import datetime
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time

import micropower

AS_OF = datetime.date(2026, 6, 30)
LOCATIONS = [('{"cluster_id":"C1","area_id":"A%d","village_id":"V%d"}' % (a, v)) for a, v in
             [(1, 1), (1, 2), (2, 3), (3, 4)]]


def write_installments(path, count, seed=7):
    rng = random.Random(seed)
    start = datetime.date(2024, 7, 1)
    with open(path, "w") as f:
        f.write('{"type":"meta","version":1,"exported_at":"2026-06-30T18:00:00Z"}\n')
        plans = count // 5
        for plan in range(plans):
            currency = "KES" if plan % 20 == 0 else "TZS"
            first = start + datetime.timedelta(days=rng.randrange(730))
            location = LOCATIONS[plan % len(LOCATIONS)]
            for number in range(1, 6):
                due = first + datetime.timedelta(weeks=number)
                amount = 10000
                # Earlier installments are more likely paid; some partly.
                roll = rng.random()
                paid = amount if roll < 0.9 - 0.15 * number else (amount // 2 if roll < 0.95 - 0.1 * number else 0)
                f.write('{"type":"installment","plan_id":"P%d","customer_id":"K%d","currency":"%s","location":%s,'
                        '"number":%d,"due_date":"%s","amount":"%d","paid":"%d"}\n'
                        % (plan, plan, currency, location, number, due.isoformat(), amount, paid))
    return plans * 5


def write_payments(path, count, seed=11):
    rng = random.Random(seed)
    start = datetime.date(2025, 7, 1)
    with open(path, "w") as f:
        f.write('{"type":"meta","version":1,"exported_at":"2026-06-30T18:00:00Z"}\n')
        f.write('{"type":"cluster","id":"C1","name":"Lake Zone"}\n')
        for a in (1, 2, 3):
            f.write('{"type":"area","id":"A%d","name":"Area %d","cluster_id":"C1"}\n' % (a, a))
        for v, a in ((1, 1), (2, 1), (3, 2), (4, 3)):
            f.write('{"type":"village","id":"V%d","name":"Village %d","area_id":"A%d"}\n' % (v, v, a))
        f.write('{"type":"tariff","id":"T1","name":"Residential","currency":"TZS","price_per_kwh":"500",'
                '"fees":[{"name":"levy","price_per_kwh":"20"}],"access_rate":{"amount":"1000","period_days":30},'
                '"minimum_purchase":"500","energy_step_kwh":"0.01"}\n')
        for i in range(count):
            on = start + datetime.timedelta(days=rng.randrange(365))
            location = LOCATIONS[i % len(LOCATIONS)]
            if i % 3:
                energy = rng.randrange(1000, 20000)
                lines = ('[{"kind":"access_rate","amount":"1000"},{"kind":"energy","amount":"%d","quantity":"%s"}]'
                         % (energy, format(energy / 520, ".2f")))
                serial, kind, amount = "MTR%05d" % (i % 5000), "meter", energy + 1000
            else:
                amount = 10000
                lines = ('[{"kind":"installment","amount":"10000","plan_id":"P%d","installment":%d}]'
                         % (i % 7000, i % 5 + 1))
                serial, kind = "SHS%05d" % (i % 7000), "solar_home_system"
            f.write('{"type":"payment","payment_id":"pay%d","received_on":"%s","currency":"TZS","device_kind":"%s",'
                    '"location":%s,"lines":%s,"serial":"%s","amount":"%d","provider":"generic_hmac",'
                    '"provider_tx_id":"tx%d","received_at":"%sT09:30:00Z","customer_id":"K%d","status":"completed",'
                    '"credit_added":"0","credit_used":"0"}\n'
                    % (i, on.isoformat(), kind, location, lines, serial, amount, i, on.isoformat(), i % 9000))
    return count


def median_time(fn, rounds):
    fn()  # warm-up: the first call pays for page faults and cold caches
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--installments", type=int, default=1_000_000)
    parser.add_argument("--payments", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--sample", type=int, default=100_000, help="records for the list-of-dicts figure")
    parser.add_argument("--json", help="also write the figures here")
    args = parser.parse_args()

    out = {"python": platform.python_version(), "micropower": micropower.__version__,
           "machine": platform.machine(), "cpus": os.cpu_count()}
    with tempfile.TemporaryDirectory() as tmp:
        inst_path = os.path.join(tmp, "installments.jsonl")
        n = write_installments(inst_path, args.installments)
        load_inst, _ = median_time(lambda: micropower.load_export(inst_path, progress=False), 1)
        ds = micropower.load_export(inst_path, progress=False)
        assert ds.counts["installments"] == n

        python_s, _ = median_time(lambda: ds.debt_aging(currency="TZS", as_of=AS_OF), args.rounds)
        rust_s = statistics.median(ds._native._time_debt_aging("TZS", AS_OF.isoformat(), args.rounds))
        aging = ds.debt_aging(currency="TZS", as_of=AS_OF)
        # Every aging bucket holds installments; the access-rate line (no meters in this data) holds none.
        assert aging.outstanding > 0 and all(row.installments > 0 for row in aging if row.bucket != "access_rate")

        sample_path = os.path.join(tmp, "sample.jsonl")
        write_installments(sample_path, args.sample)
        sample = [dict(r) for r in micropower.load_export(sample_path, progress=False).installments]
        objects_s, _ = median_time(lambda: micropower.debt_aging(sample, "TZS", AS_OF), max(1, args.rounds // 3))

        pay_path = os.path.join(tmp, "payments.jsonl")
        m = write_payments(pay_path, args.payments)
        size = os.path.getsize(pay_path)
        load_s, _ = median_time(lambda: micropower.load_export(pay_path, progress=False), args.rounds)
        payments = micropower.load_export(pay_path, progress=False)
        assert payments.counts["payments"] == m
        revenue_s, _ = median_time(lambda: payments.revenue(currency="TZS", group_by="month", by="area"),
                                   args.rounds)

    out.update({
        "installments": n,
        "debt_aging_python_s": python_s,
        "debt_aging_rust_s": rust_s,
        "debt_aging_ratio": python_s / rust_s,
        "load_export_installments_s": load_inst,
        "typed_debt_aging_on_dicts_records": len(sample),
        "typed_debt_aging_on_dicts_s": objects_s,
        "payments": m,
        "payments_export_bytes": size,
        "load_export_payments_s": load_s,
        "revenue_month_by_area_s": revenue_s,
    })
    print("debt aging over %d installments: Python %.1f ms, Rust %.1f ms, ratio %.2f x (target <= 2 x)"
          % (n, python_s * 1e3, rust_s * 1e3, python_s / rust_s))
    print("  load_export of those installments: %.2f s; micropower.debt_aging on %d Python dicts: %.1f ms"
          % (load_inst, len(sample), objects_s * 1e3))
    print("load_export of %d payments (%.1f MB): %.3f s (target <= 2 s); revenue by month and area: %.1f ms"
          % (m, size / 1e6, load_s, revenue_s * 1e3))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)
    full_size = args.installments >= 1_000_000 and args.payments >= 100_000
    if full_size and not (python_s <= 2 * rust_s and load_s <= 2.0):
        print("a target was missed", file=sys.stderr)
    elif not full_size:
        print("(smaller than the benchmark's sizes: the targets are not checked)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
