"""Writes random OpenPAYGO cases, with the outputs the reference (`openpaygo` 0.6.3) gives, as JSON lines.

    python differential.py OUT.jsonl [--cases 3000] [--seed 20240611]

Each line is {"function", "name", "note", "input", and "output" or "error"}, in the shape of the shared
vectors (tests/vectors/README.md): core/tests/openpaygo_differential.rs runs every line through the JSON
facade. An "output" of openpaygo_decode lists only the fields the reference decides (kind, value, count); the
device state is ours alone.

The cases cover every kind, the restricted and extended flags, counts up to 300, time dividers 1-255 with
fractional values (including exact half-way values, rounded half to even), derived and explicit starting
codes, and random keys. For decoding, about half of the minted tokens are read back by the reference decoder,
and some requests go through openpaygo_tokens_for_request, each of its tokens minted by the reference.

Where the reference refuses or mishandles an input, the case records what the core must do instead, and its
"note" says why (tally printed with --verbose):

- reference-refuses: a value above the maximum, or a value on disable PAYG / counter sync. The reference
  raises ValueError; the core must refuse with invalid_token_value.
- negative-wraps: a negative value. The reference silently encodes it as another, valid-looking value
  (e.g. -1 becomes 999 on a standard token: a counter sync at an add time count), or, for a small negative
  value that rounds to zero, an add time of 0. The core must refuse with invalid_token_value.
- starting-code-zero: the reference's `if not starting_code` replaces an explicit starting code 0 by the
  one derived from the key. The core uses 0; the expected code comes from the reference's own minting below
  that check (generate_standard_token / generate_extended_token) with starting code 0.
- starting-code-too-large: the reference accepts a starting code above 999 999 999 (it packs it as 32 bits).
  It is not a 9-digit code; the core must refuse with invalid_input.
- extended-set-time-998-999: the reference mints set time 998 / 999 on an extended token, which is the very
  code of disable PAYG / counter sync at that count. The core must refuse with invalid_token_value.
- extended-odd-998-999: the reference's extended decoder reads every odd count as set time, so it reads an
  extended disable PAYG token as "set time 998". The core reads it as disable PAYG (counter sync for 999).
- count-past-16-bits: a new count above 65 535, which a device (16-bit count) can never accept. The reference
  has no limit; the core must refuse with invalid_token_count. (The reference is not run on these: it would
  hash tens of thousands of times in pure Python.)
- ambiguous-count: the token's code is also the code of the same value at another count that a device may
  try for it (from 79 below to 64 above; 115 and 100 for counter sync), so the reference's own decoder may
  read it at that count (an add time as a set time, or a replay accepted again). The core mints at the next
  count of the same kind instead; the expected token is the reference's at that count. About one token in
  7 000.
- value-cycles: the value's hash chain has entered a cycle shorter than the device's window, so every code
  of that value from this count on is ambiguous (more than 8 counts in a row). openpaygo_generate refuses
  the value (invalid_token_value); openpaygo_tokens_for_request carries the days in the largest of the 8
  values below it (a step of the divider's factor other than 2 and 5 apart) that still has an unambiguous
  count, and the rest in later tokens.
- bad-key: a key that is not 32 hexadecimal characters. The reference raises on non-hex text but accepts
  any even length; the core must refuse with invalid_secret_key.
"""

import argparse
import collections
import json
import os
import random
import sys
from decimal import ROUND_HALF_EVEN, Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from reference import canonical, chain_codes, decode, generate, generate_raw, unscale  # noqa: E402

KINDS = ["add_time", "set_time", "disable_payg", "counter_sync"]
MAX_COUNT = 65535


def half_even(d):
    return int(d.quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def terminating(divider):
    """1/divider has a finite decimal expansion."""
    for p in (2, 5):
        while divider % p == 0:
            divider //= p
    return divider == 1


def random_value(rng, kind, divider, extended):
    """A value for add/set time: mostly valid, a few over the limit or negative."""
    top = 999999 if extended else 995
    roll = rng.random()
    if roll < 0.04:
        return canonical(-Decimal(rng.randint(1, 2000)) / 10)
    if roll < 0.08:
        # Just above the limit once multiplied by the divider.
        return canonical(Decimal(top // divider + rng.randint(1, 1000)))
    if roll < 0.25 and terminating(divider):
        # Exactly half-way between two raw values: the rounding rule decides.
        raw = rng.randint(0, top - 1)
        return canonical(Decimal(2 * raw + 1) / (2 * divider))
    places = rng.choice([0, 0, 1, 2, 3])
    scale = 10 ** places
    return canonical(Decimal(rng.randint(0, top * scale // divider)) / scale)


def expected_by_rules(case):
    """The core's verdict by the rules of shared/reference/openpaygo-token.md: None, or (error, note)."""
    kind, value, divider, extended = case["kind"], case.get("value"), case["time_divider"], case["extended"]
    if kind in ("add_time", "set_time"):
        v = Decimal(value)
        if v < 0:
            return "invalid_token_value", "negative-wraps"
        raw = half_even(v * divider)
        if not extended and raw > 995:
            return "invalid_token_value", "reference-refuses"
        if extended and raw > 999999:
            return "invalid_token_value", "reference-refuses"
        if extended and kind == "set_time" and raw in (998, 999):
            return "invalid_token_value", "extended-set-time-998-999"
    elif value is not None and Decimal(value) != 0:
        return "invalid_token_value", "reference-refuses"
    return None


def raw_value(case):
    if case["kind"] in ("add_time", "set_time"):
        return half_even(Decimal(case["value"]) * case.get("time_divider", 1))
    return {"disable_payg": 998, "counter_sync": 999}[case["kind"]]


def ambiguous(codes, count, raw):
    """Another count a device may try for this token has its code (the core's unambiguous.rs rule)."""
    jump = 100 if raw == 999 else 64
    lowest, highest = max(1, count - jump - 15), min(count + jump, MAX_COUNT)
    return any(codes[c] == codes[count] for c in range(lowest, highest + 1) if c != count)


MAX_SKIPS = 8  # MAX_SKIPS in core/src/openpaygo/unambiguous.rs
FALLBACK_VALUES = 8  # FALLBACK_VALUES in core/src/openpaygo/issue.rs


def skip_ambiguous(device, raw, minted, mint):
    """`minted` moved on by two counts while its code is ambiguous, at most MAX_SKIPS times: (token, moved),
    or (None, True) when the value's codes repeat for good. `mint(count)` is the reference minting the token
    that follows `count`."""
    codes = chain_codes(device["secret_key"], raw, device.get("starting_code"), device.get("extended", False),
                        min(minted["count"] + 200, MAX_COUNT))
    for skips in range(MAX_SKIPS + 1):
        if not ambiguous(codes, minted["count"], raw):
            return minted, skips > 0
        minted = mint(minted["count"])
    return None, True


def next_count(count, kind):
    even = kind == "add_time"
    return count + (2 if (count % 2 == 0) == even else 1)


def random_generate_case(rng):
    kind = rng.choice(KINDS)
    extended = rng.random() < 0.3
    divider = 1 if rng.random() < 0.4 else rng.randint(1, 255)
    case = {
        "secret_key": "%032x" % rng.getrandbits(128),
        "count": rng.randint(0, 300),
        "kind": kind,
        "time_divider": divider,
        "restricted_digits": rng.random() < 0.3,
        "extended": extended,
    }
    if rng.random() < 0.5:
        case["secret_key"] = case["secret_key"].upper()
    if rng.random() < 0.7:
        case["starting_code"] = rng.randint(1, 999999999)
    if kind in ("add_time", "set_time"):
        case["value"] = random_value(rng, kind, divider, extended)
    elif rng.random() < 0.2:
        case["value"] = "0" if rng.random() < 0.8 else str(rng.randint(1, 50))
    return case


def reference_generate(case):
    return generate(case["secret_key"], case["count"], case["kind"], case.get("value"), case.get("starting_code"),
                    case["time_divider"], case["restricted_digits"], case["extended"])


def generate_line(case, note=None):
    verdict = expected_by_rules(case)
    line = {"function": "openpaygo_generate", "input": case}
    if verdict:
        line["error"], line["note"] = verdict
        try:
            line["reference"] = reference_generate(case)
        except Exception as e:  # noqa: BLE001 - a wrapped negative value may fail deep inside (struct.error)
            line["reference"] = "%s: %s" % (type(e).__name__, e)
        if line["note"] == "reference-refuses" and not line["reference"].startswith("ValueError"):
            raise AssertionError("the reference did not refuse %r: %r" % (case, line["reference"]))
        return line
    minted, moved = skip_ambiguous(case, raw_value(case), reference_generate(case),
                                   lambda count: reference_generate(dict(case, count=count)))
    if minted is None:
        line["error"], line["note"] = "invalid_token_value", "value-cycles"
    else:
        line["output"] = minted
        line["note"] = "ambiguous-count" if moved else note or "same"
    return line


def special_generate_lines(rng):
    """The inputs the reference mishandles, a few of each, beside the random ones."""
    lines = []
    for i in range(10):
        case = random_generate_case(rng)
        case["starting_code"] = 0
        if expected_by_rules(case):
            continue
        raw = raw_value(case)

        def mint(count, case=case, raw=raw):
            return generate_raw(case["secret_key"], count, case["kind"], raw, 0, case["restricted_digits"],
                                case["extended"])

        minted, _ = skip_ambiguous(case, raw, mint(case["count"]), mint)
        if minted is None:
            continue
        lines.append({"function": "openpaygo_generate", "input": case, "note": "starting-code-zero",
                      "output": minted})
    for i in range(10):
        case = random_generate_case(rng)
        case["starting_code"] = rng.randint(1000000000, 4294967295)
        lines.append({"function": "openpaygo_generate", "input": case, "note": "starting-code-too-large",
                      "error": "invalid_input"})
    for i in range(10):
        case = random_generate_case(rng)
        case.update(kind="set_time", extended=True, time_divider=1, value=rng.choice(["998", "999"]))
        lines.append(generate_line(case))
    for i in range(10):
        case = random_generate_case(rng)
        case["count"] = rng.choice([65534, 65535, 65536, 100000, 4294967295])
        if next_count(case["count"], case["kind"]) <= MAX_COUNT or expected_by_rules(case):
            continue
        lines.append({"function": "openpaygo_generate", "input": case, "note": "count-past-16-bits",
                      "error": "invalid_token_count"})
    for bad in ["", "00", "%031x" % rng.getrandbits(124), "%034x" % rng.getrandbits(136), "z" * 32,
                "%030x" % rng.getrandbits(120) + "-1"]:
        case = random_generate_case(rng)
        case.update(secret_key=bad)
        lines.append({"function": "openpaygo_generate", "input": case, "note": "bad-key",
                      "error": "invalid_secret_key"})
    return lines


def decode_line(case, minted):
    """The reference decoder reading a token it minted, on a device whose last count is the case's count."""
    token = minted["code"]
    read = decode(case["secret_key"], token, case["count"], case.get("starting_code"), case["time_divider"],
                  case["restricted_digits"])
    note = "same"
    if case["extended"] and case["kind"] in ("disable_payg", "counter_sync"):
        assert read["kind"] == "set_time", read
        read = dict(read, kind=case["kind"], value="0")
        note = "extended-odd-998-999"
    args = {k: case[k] for k in ("secret_key", "time_divider", "restricted_digits", "extended")}
    if "starting_code" in case:
        args["starting_code"] = case["starting_code"]
    args["token"] = token
    args["state"] = {"last_count": case["count"], "used_counts": []}
    return {"function": "openpaygo_decode", "input": args, "note": note, "output": read}


def tokens_line(rng):
    """A random request on a random device; every token minted by the reference, chained by count."""
    extended = rng.random() < 0.2
    divider = 1 if rng.random() < 0.5 else rng.randint(1, 255)
    device = {"secret_key": "%032x" % rng.getrandbits(128), "count": rng.randint(0, 300),
              "time_divider": divider, "restricted_digits": rng.random() < 0.3, "extended": extended}
    if rng.random() < 0.7:
        device["starting_code"] = rng.randint(1, 999999999)
    top = 999999 if extended else 995
    unit = rng.choice(["days", "kwh", "days", "unlock"])
    if unit == "unlock":
        quantity, total, kind = "0", 998, "disable_payg"
    else:
        # Two decimal places keep quantity x divider exact, as in the core (a 28-digit quotient would
        # meet Python's 28-digit context rounding near half-way values).
        quantity = canonical(Decimal(rng.randint(0, 4 * top * 100 // divider)) / 100)
        total = half_even(Decimal(quantity) * divider)
        kind = "add_time"
    request = {"serial": "SHS%05d" % rng.randint(0, 99999), "unit": unit, "quantity": quantity}
    issued, note = issue(device, kind, total)
    line = {"function": "openpaygo_tokens_for_request", "note": note, "input": {"device": device, "request": request}}
    if issued is None:
        line["error"] = "invalid_token_value"
    else:
        line["output"] = issued
    return line


def exact_raw_step(divider):
    """The divider without its factors 2 and 5 (core/src/openpaygo/codec.rs, exact_raw_step): add time
    tokens of a request carry multiples of it but the last, so their values add up to the quantity."""
    for factor in (2, 5):
        while divider % factor == 0:
            divider //= factor
    return divider


def issue(device, kind, total):
    """The core's tokens for `total` (raw) on `device`, each minted by the reference: ({"tokens",
    "new_count"}, note), or (None, note) when no value can carry them. Add time tokens carry at most the
    format's maximum each, in multiples of exact_raw_step but the last; where a value's codes cycle, the
    largest of the FALLBACK_VALUES below it (exact_raw_step apart) that has an unambiguous count."""
    extended, divider = device.get("extended", False), device.get("time_divider", 1)
    exact = exact_raw_step(divider)
    top = 999999 if extended else 995
    top -= top % exact
    tokens, count, note, remaining = [], device["count"], "same", total
    while remaining:
        want = min(remaining, top) if kind == "add_time" else remaining
        below = FALLBACK_VALUES if kind == "add_time" else 0
        for raw in [want - k * exact for k in range(below + 1) if want - k * exact >= 1]:
            value = None if kind == "disable_payg" else str(Decimal(raw) / divider)

            def mint(count, value=value):
                return generate(device["secret_key"], count, kind, value, device.get("starting_code"), divider,
                                device.get("restricted_digits", False), extended)

            t, moved = skip_ambiguous(device, raw, mint(count), mint)
            if t is not None:
                break
            note = "value-cycles"
        if t is None:
            return None, note
        note = "ambiguous-count" if moved and note == "same" else note
        tokens.append({"kind": kind, "value": "0" if kind == "disable_payg" else unscale(raw, divider),
                       "code": t["code"], "count": t["count"]})
        count = t["count"]
        remaining -= raw
    return {"tokens": tokens, "new_count": count}, note


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--cases", type=int, default=3000, help="random openpaygo_generate cases")
    parser.add_argument("--seed", type=int, default=20240611)
    parser.add_argument("--verbose", action="store_true")
    args = parser.parse_args()
    rng = random.Random(args.seed)

    lines = special_generate_lines(rng)
    for _ in range(args.cases):
        case = random_generate_case(rng)
        line = generate_line(case)
        lines.append(line)
        if "output" in line and rng.random() < 0.5:
            lines.append(decode_line(case, line["output"]))
    for _ in range(args.cases // 10):
        lines.append(tokens_line(rng))

    for i, line in enumerate(lines):
        line["name"] = "%s #%d (%s)" % (line["function"], i, line["note"])
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        for line in lines:
            f.write(json.dumps(line, sort_keys=True) + "\n")
    os.replace(tmp, args.out)
    if args.verbose:
        tally = collections.Counter((line["function"], line["note"]) for line in lines)
        for (function, note), n in sorted(tally.items()):
            print("%6d  %-30s %s" % (n, function, note))


if __name__ == "__main__":
    main()
