"""Writes tests/vectors/openpaygo_*.json, the shared vectors of the OpenPAYGO functions.

Every expected code, count, kind and value comes from the reference (`openpaygo` 0.6.3, see reference.py);
the expected errors and decoder states follow the rules in shared/reference/openpaygo-token.md, which the
reference does not implement (it wraps negative values, has no count limit, keeps other used counts).

Run it in the venv that differential.sh creates:
    ~/.cache/micropower/venv-openpaygo/bin/python tests/openpaygo/make_vectors.py
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from differential import issue, raw_value, skip_ambiguous  # noqa: E402
from reference import canonical, decode, generate, unscale  # noqa: E402
from openpaygo.token_shared import OpenPAYGOTokenShared  # noqa: E402
from decimal import Decimal  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "vectors")

DOCS_KEY = "a29ab82edc5fbbc41ec9530f6dac86b1"
DOCS_START = 123456789
DOCS = "OpenPAYGO docs quick-test scenario; codes from openpaygo 0.6.3"
# A device of the reference's test/test_tokens.jsonl.
TEST_KEY = "bc41ec9530f6dac86b1a29ab82edc5fb"
TEST_START = 516959010
REF = "openpaygo 0.6.3"
RULES = "shared/reference/openpaygo-token.md"
OLDER_WINDOW = 16


def gen_input(key, count, kind, value=None, starting_code=None, time_divider=None, restricted=None,
              extended=None):
    args = {"secret_key": key, "count": count, "kind": kind}
    if starting_code is not None:
        args["starting_code"] = starting_code
    if value is not None:
        args["value"] = value
    if time_divider is not None:
        args["time_divider"] = time_divider
    if restricted is not None:
        args["restricted_digits"] = restricted
    if extended is not None:
        args["extended"] = extended
    return args


def ref_gen(args):
    return generate(
        args["secret_key"], args["count"], args["kind"], args.get("value"), args.get("starting_code"),
        args.get("time_divider", 1), args.get("restricted_digits", False), args.get("extended", False),
    )


SKIPPED = ("; moved to the next count of its kind, the reference's code being ambiguous"
           " (core/src/openpaygo/unambiguous.rs)")


def ok(name, args, source=REF):
    minted, moved = skip_ambiguous(args, raw_value(args), ref_gen(args),
                                   lambda count: ref_gen(dict(args, count=count)))
    return {"name": name, "source": source + (SKIPPED if moved else ""), "input": args, "output": minted}


def err(name, args, code, source=RULES):
    return {"name": name, "source": source, "input": args, "error": code}


def generate_cases():
    d = lambda *a, **k: gen_input(DOCS_KEY, *a, starting_code=DOCS_START, **k)  # noqa: E731
    cases = [
        ok("docs: add 1 day at count 0 -> 662486790, count 2", d(0, "add_time", "1"), DOCS),
        ok("docs: add 29 days at count 2 -> 927706818, count 4", d(2, "add_time", "29"), DOCS),
        ok("docs: set 7 days at count 4 -> 942433796, count 5", d(4, "set_time", "7"), DOCS),
        ok("docs: disable PAYG at count 5 -> 650975787, count 7", d(5, "disable_payg"), DOCS),
        ok("counter sync at count 7 -> next odd count 9", d(7, "counter_sync")),
        ok("add time from an odd count -> next even count", d(7, "add_time", "3")),
        ok("set time from an odd count -> next odd count", d(9, "set_time", "0")),
        ok("add time 0 is a valid token", d(0, "add_time", "0")),
        ok("add time 995, the most a standard token carries", d(10, "add_time", "995")),
        ok("disable PAYG with value 0 is accepted, as by the reference", d(5, "disable_payg", "0")),
        ok("derived starting code when absent", gen_input(DOCS_KEY, 0, "add_time", "1")),
        ok("derived starting code, disable PAYG", gen_input(DOCS_KEY, 12, "disable_payg")),
        ok("upper-case key", gen_input(DOCS_KEY.upper(), 0, "add_time", "1", DOCS_START)),
        ok("reference test device: add 1 at count 1", gen_input(TEST_KEY, 1, "add_time", "1", TEST_START)),
        ok("restricted digits: docs add 1 day", d(0, "add_time", "1", restricted=True)),
        ok("restricted digits: set time 995", gen_input(TEST_KEY, 1, "set_time", "995", TEST_START, restricted=True)),
        ok("restricted digits: counter sync", gen_input(TEST_KEY, 1, "counter_sync", None, TEST_START, restricted=True)),
        ok("extended: add 1 day, 12 digits", gen_input(TEST_KEY, 1, "add_time", "1", TEST_START, extended=True)),
        ok("extended: add 999999, the most an extended token carries", d(2, "add_time", "999999", extended=True)),
        ok("extended: add time 998 is allowed (even count)", d(2, "add_time", "998", extended=True)),
        ok("extended: disable PAYG", gen_input(TEST_KEY, 1, "disable_payg", None, TEST_START, extended=True)),
        ok("extended + restricted: 20 digits 1-4",
           gen_input(TEST_KEY, 1, "add_time", "1", TEST_START, restricted=True, extended=True)),
        ok("divider 4: 0.625 x 4 = 2.5 rounds half to even -> 2", d(0, "add_time", "0.625", time_divider=4)),
        ok("divider 4: 0.875 x 4 = 3.5 rounds half to even -> 4", d(0, "add_time", "0.875", time_divider=4)),
        ok("divider 4: 0.5 x 4 = 2, same token as 0.625", d(0, "add_time", "0.5", time_divider=4)),
        ok("divider 255: 3.9 x 255 = 994.5 -> 994", d(40, "set_time", "3.9", time_divider=255)),
        ok("divider 2: 497.7 x 2 = 995.4 -> 995", d(0, "add_time", "497.7", time_divider=2)),
        ok("count 300", d(300, "add_time", "17")),
        ok("count 65533 -> 65535, the highest count a device keeps", d(65533, "set_time", "1")),
        ok("the reference's code at 216 is this value's code at another count: minted at 218",
           gen_input("7c8476bb4c06159df9157b5e3196a3e2", 215, "add_time", "801.2", 156768403)),
        err("995's codes cycle every 14 counts from count 203: refused at 210",
            gen_input("5e5e2ee9ce68b62c20018209537c4e58", 208, "add_time", "995", 289652565),
            "invalid_token_value", "core/src/openpaygo/unambiguous.rs"),
        err("negative value refused (the reference wraps it)", d(0, "add_time", "-1"), "invalid_token_value"),
        err("small negative value refused (the reference rounds it to 0)", d(0, "add_time", "-0.2"),
            "invalid_token_value"),
        err("996 is reserved", d(0, "add_time", "996"), "invalid_token_value"),
        err("997 is reserved", d(0, "set_time", "997"), "invalid_token_value"),
        err("998 is the disable PAYG code, not a set time", d(0, "set_time", "998"), "invalid_token_value"),
        err("1000 on a standard token is too large", d(0, "add_time", "1000"), "invalid_token_value"),
        err("995.5 rounds to 996, reserved", d(0, "add_time", "995.5"), "invalid_token_value"),
        err("249 x 4 = 996 after the divider, reserved", d(0, "add_time", "249", time_divider=4),
            "invalid_token_value"),
        err("1000000 on an extended token is too large", d(0, "add_time", "1000000", extended=True),
            "invalid_token_value"),
        err("extended set time 998 would read as disable PAYG", d(0, "set_time", "998", extended=True),
            "invalid_token_value"),
        err("a value on a disable PAYG token", d(5, "disable_payg", "3"), "invalid_token_value"),
        err("add time without a value", d(0, "add_time"), "invalid_input"),
        err("value as a binary float is refused on the wire", d(0, "add_time", 1.5), "invalid_input"),
        err("key of 30 hex characters", gen_input(DOCS_KEY[:30], 0, "add_time", "1", DOCS_START),
            "invalid_secret_key"),
        err("key with a non-hex character", gen_input(DOCS_KEY[:31] + "g", 0, "add_time", "1", DOCS_START),
            "invalid_secret_key"),
        err("empty key", gen_input("", 0, "add_time", "1", DOCS_START), "invalid_secret_key"),
        err("time divider 0", d(0, "add_time", "1", time_divider=0), "invalid_input"),
        err("time divider 256", d(0, "add_time", "1", time_divider=256), "invalid_input"),
        err("starting code with 10 digits", gen_input(DOCS_KEY, 0, "add_time", "1", 1000000000), "invalid_input"),
        err("count overflow: u32 max", d(4294967295, "add_time", "1"), "invalid_token_count"),
        err("count past the device's 16-bit counter", d(65534, "add_time", "1"), "invalid_token_count"),
        err("count past the device's 16-bit counter, odd kind", d(65535, "counter_sync"), "invalid_token_count"),
        err("unknown kind", d(0, "top_up", "1"), "invalid_input"),
    ]
    return {
        "function": "openpaygo_generate",
        "description": "One OpenPAYGO token: code and new count for a device's key, starting code, last count, "
                       "kind, value, time divider, digit set and format. Codes from the reference openpaygo "
                       "0.6.3 (tests/openpaygo/make_vectors.py).",
        "cases": cases,
    }


def after(state, count, kind):
    """The decoder state after accepting `count` (the rules of the reference document)."""
    last = max(state["last_count"], count)
    oldest = max(last + 1 - OLDER_WINDOW, 1)
    used = set(state["used_counts"])
    if state["last_count"] > 0:
        used.add(state["last_count"])
    used.add(count)
    if kind != "add_time":
        used.update(range(oldest, count))
    return {"last_count": last, "used_counts": sorted(c for c in used if c >= oldest)}


def dec_input(key, token, state, starting_code=None, time_divider=None, restricted=None, extended=None):
    args = {"secret_key": key, "token": token, "state": state}
    if starting_code is not None:
        args["starting_code"] = starting_code
    if time_divider is not None:
        args["time_divider"] = time_divider
    if restricted is not None:
        args["restricted_digits"] = restricted
    if extended is not None:
        args["extended"] = extended
    return args


def accepted(name, args, source=REF):
    """A token the device accepts: kind, value and count from the reference decoder, state from the rules."""
    read = decode(args["secret_key"], args["token"].replace(" ", ""), args["state"]["last_count"],
                  args.get("starting_code"), args.get("time_divider", 1), args.get("restricted_digits", False))
    assert read is not None, name
    read["state"] = after(args["state"], read["count"], read["kind"])
    return {"name": name, "source": source + "; state: " + RULES, "input": args, "output": read}


def decode_cases():
    s = lambda last, used=(): {"last_count": last, "used_counts": list(used)}  # noqa: E731
    docs = lambda count, kind, value=None, **k: generate(DOCS_KEY, count, kind, value, DOCS_START, **k)["code"]  # noqa: E731
    t2, t4, t5, t7 = docs(0, "add_time", "1"), docs(2, "add_time", "29"), docs(4, "set_time", "7"), docs(5, "disable_payg")
    assert (t2, t4, t5, t7) == ("662486790", "927706818", "942433796", "650975787")
    d = lambda token, state, **k: dec_input(DOCS_KEY, token, state, DOCS_START, **k)  # noqa: E731
    st2 = after(s(0), 2, "add_time")
    st4 = after(st2, 4, "add_time")
    st5 = after(st4, 5, "set_time")
    only4 = after(s(0), 4, "add_time")
    count0 = str(OpenPAYGOTokenShared.put_base_in_token(DOCS_START, (DOCS_START % 1000 + 1) % 1000))
    at64 = docs(62, "add_time", "5")
    at66 = docs(64, "add_time", "5")
    sync99 = docs(98, "counter_sync")
    cases = [
        accepted("docs: 662486790 on a new device -> add 1 day, count 2", d(t2, s(0)), DOCS),
        accepted("docs: 927706818 next -> add 29 days, count 4", d(t4, st2), DOCS),
        accepted("docs: 942433796 next -> set 7 days, count 5; every older count used", d(t5, st4), DOCS),
        accepted("docs: 650975787 next -> disable PAYG, count 7", d(t7, st5), DOCS),
        accepted("an older unused add time token within 16 counts is accepted", d(t2, only4)),
        accepted("spaces in the typed token are ignored", d("662 486 790", s(0))),
        accepted("a token 64 counts ahead is accepted", d(at64, s(0))),
        accepted("a counter sync token 99 counts ahead is accepted", d(sync99, s(0))),
        accepted("restricted digits", dec_input(DOCS_KEY, docs(0, "add_time", "1", restricted_digits=True), s(0),
                                                DOCS_START, restricted=True)),
        accepted("derived starting code",
                 dec_input(DOCS_KEY, generate(DOCS_KEY, 10, "set_time", "12")["code"], s(10))),
        accepted("divider 4: raw 3 reads back as 0.75 days",
                 d(docs(0, "add_time", "0.75", time_divider=4), s(0), time_divider=4)),
        accepted("divider 3: raw 10 reads back as 3.3333333 days",
                 d(docs(0, "add_time", "3.3333333", time_divider=3), s(0), time_divider=3)),
        err("replayed token refused", d(t2, st2), "token_rejected"),
        err("replay of an older token refused", d(t2, st4), "token_rejected"),
        err("older add time after a set time refused (the odd count used it)", d(t4, st5), "token_rejected"),
        err("count 0 (the starting code itself) is never valid", d(count0, s(0)), "token_rejected"),
        err("a token 66 counts ahead is refused", d(at66, s(0)), "token_rejected"),
        err("another device's key", dec_input(TEST_KEY, t2, s(0), DOCS_START), "token_rejected"),
        err("malformed token", d("66248679x", s(0)), "invalid_input"),
        err("too many digits", d("6624867900", s(0)), "invalid_input"),
        err("restricted token with a digit 5", dec_input(DOCS_KEY, "111111111111115", s(0), DOCS_START,
                                                           restricted=True), "invalid_input"),
        err("used count above the last count", d(t2, s(2, [3])), "invalid_input"),
        err("last count past the device's 16-bit counter", d(t2, s(70000)), "invalid_token_count"),
        err("bad key", dec_input("xyz", t2, s(0), DOCS_START), "invalid_secret_key"),
    ]
    # Extended tokens: the reference decoder picks the format from the length.
    ext = generate(TEST_KEY, 1, "add_time", "500000", TEST_START, extended=True)["code"]
    cases.insert(10, accepted("extended: add 500000", dec_input(TEST_KEY, ext, s(1), TEST_START, extended=True)))
    ext_disable = generate(TEST_KEY, 1, "disable_payg", None, TEST_START, extended=True)
    cases.insert(11, {
        "name": "extended disable PAYG reads as disable PAYG (the reference decoder says set time 998)",
        "source": REF + " code; kind: " + RULES,
        "input": dec_input(TEST_KEY, ext_disable["code"], s(1), TEST_START, extended=True),
        "output": {"kind": "disable_payg", "value": "0", "count": ext_disable["count"],
                   "state": after(s(1), ext_disable["count"], "disable_payg")},
    })
    return {
        "function": "openpaygo_decode",
        "description": "A device's acceptance of a typed token: kind, value (raw / divider), count and the "
                       "device's new state, or token_rejected. Kinds, values and counts from the reference "
                       "decoder; acceptance windows and states from shared/reference/openpaygo-token.md.",
        "cases": cases,
    }


def device(count=0, key=DOCS_KEY, start=DOCS_START, divider=None, restricted=None, extended=None):
    dev = {"secret_key": key, "count": count}
    if start is not None:
        dev["starting_code"] = start
    if divider is not None:
        dev["time_divider"] = divider
    if restricted is not None:
        dev["restricted_digits"] = restricted
    if extended is not None:
        dev["extended"] = extended
    return dev


def issued(dev, chunks, kind="add_time"):
    """Expected tokens: the chunks' raw values minted by the reference one after the other, as the core
    issues them (differential.issue, which must split the total into exactly these chunks)."""
    out, _ = issue(dev, kind, sum(chunks))
    if kind == "add_time":
        divider = dev.get("time_divider", 1)
        assert [t["value"] for t in out["tokens"]] == [unscale(raw, divider) for raw in chunks], (chunks, out)
    return out


def request(unit, quantity):
    return {"serial": "SHS0001", "unit": unit, "quantity": quantity}


def tokens_cases():
    def ok_req(name, dev, req, chunks, kind="add_time"):
        return {"name": name, "source": REF, "input": {"device": dev, "request": req},
                "output": issued(dev, chunks, kind)}

    def err_req(name, dev, req, code):
        return {"name": name, "source": RULES, "input": {"device": dev, "request": req}, "error": code}

    cases = [
        ok_req("2000 days -> 995 + 995 + 10, each with its own count", device(0), request("days", "2000"),
               [995, 995, 10]),
        ok_req("5 days from count 5", device(5), request("days", "5"), [5]),
        ok_req("kWh on an OpenPAYGO meter: add time of the quantity", device(2), request("kwh", "12"), [12]),
        ok_req("995 days: exactly one full token", device(0), request("days", "995"), [995]),
        ok_req("1990 days: two full tokens", device(1), request("days", "1990"), [995, 995]),
        ok_req("unlock -> disable PAYG", device(4), request("unlock", "0"), [998], "disable_payg"),
        ok_req("divider 4: 2.5 days -> raw 10", device(0, divider=4), request("days", "2.5"), [10]),
        ok_req("divider 4: 0.625 days rounds half to even -> raw 2", device(0, divider=4), request("days", "0.625"),
               [2]),
        ok_req("divider 3: 400 days -> raw 1200 = 993 + 207 (331 + 69 days: multiples of 3 keep values exact)",
               device(0, divider=3), request("days", "400"), [993, 207]),
        ok_req("divider 3: 700 days -> raw 2100 = 993 + 993 + 114 (331 + 331 + 38 days, exactly 700)",
               device(0, divider=3), request("days", "700"), [993, 993, 114]),
        ok_req("divider 6: 333.5 days -> raw 2001 = 993 + 993 + 15 (165.5 + 165.5 + 2.5 days)",
               device(0, divider=6), request("days", "333.5"), [993, 993, 15]),
        ok_req("extended: 1500000 days -> 999999 + 500001", device(0, extended=True), request("days", "1500000"),
               [999999, 500001]),
        ok_req("restricted digits", device(0, restricted=True), request("days", "30"), [30]),
        ok_req("derived starting code", device(0, start=None), request("days", "7"), [7]),
        ok_req("995's codes cycle every 14 counts from count 203: 995, 995, then 994 and 1 for the rest",
               device(198, key="5e5e2ee9ce68b62c20018209537c4e58", start=289652565), request("days", "2984.6"),
               [995, 995, 994, 1]),
        ok_req("extended: the reference's code at 288 is also read at 287 (set time): minted at 290",
               device(282, key="a5b4edca14ee89ef7bbe9202c9543fc1", start=None, extended=True),
               request("days", "2589910.6"), [999999, 999999, 589913]),
        {"name": "0 days -> no token, count unchanged", "source": RULES,
         "input": {"device": device(6), "request": request("days", "0")},
         "output": {"tokens": [], "new_count": 6}},
        {"name": "0.1 day at divider 1 rounds to nothing -> no token", "source": RULES,
         "input": {"device": device(6), "request": request("days", "0.1")},
         "output": {"tokens": [], "new_count": 6}},
        err_req("negative quantity", device(0), request("days", "-3"), "invalid_token_value"),
        err_req("unlock with a quantity", device(0), request("unlock", "1"), "invalid_token_value"),
        err_req("bad key", device(0, key="00"), request("days", "1"), "invalid_secret_key"),
        err_req("bad divider", device(0, divider=300), request("days", "1"), "invalid_input"),
        err_req("tokens would pass the device's 16-bit counter", device(65530), request("days", "5000"),
                "invalid_token_count"),
    ]
    return {
        "function": "openpaygo_tokens_for_request",
        "description": "The OpenPAYGO tokens for a token request (days, kWh, unlock) on one device, split into "
                       "tokens of at most 995 (999999 extended) after the time divider; where the divider has a "
                       "factor other than 2 and 5, each token but the last carries a multiple of it, so the "
                       "values add up to the quantity. Codes from the reference openpaygo 0.6.3.",
        "cases": cases,
    }


def write(doc):
    path = os.path.join(OUT, doc["function"] + ".json")
    with open(path, "w") as f:
        json.dump(doc, f, indent=1, ensure_ascii=False)
        f.write("\n")
    print(f"{path}: {len(doc['cases'])} cases")


if __name__ == "__main__":
    write(generate_cases())
    write(decode_cases())
    write(tokens_cases())
    assert canonical(Decimal("10")) == "10"
