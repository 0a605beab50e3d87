"""OpenPAYGO tokens through this package against the reference implementation (PyPI openpaygo 0.6.3).

Two checks, both through the typed functions (`micropower.openpaygo_generate`, `openpaygo_decode`,
`openpaygo_tokens_for_request`):

1. The cases the reference wrote (tests/openpaygo/differential.py, thousands of seeded random cases with the
   inputs the reference mishandles and what the core does instead). `scripts/test.d/20-python.sh` makes the
   file with the reference's own venv and passes it in MICROPOWER_OPENPAYGO_CASES.
2. Live, in this process: fresh random cases minted by the reference (installed in this venv by the same
   script) and by this package side by side, and every token we mint read back by the reference decoder.
"""

import json
import os
import pathlib
import random
import sys
from decimal import Decimal

import pytest

import micropower
from conftest import REPO

OPENPAYGO_DIR = REPO / "tests" / "openpaygo"
TYPED = {
    "openpaygo_generate": micropower.openpaygo_generate,
    "openpaygo_decode": micropower.openpaygo_decode,
    "openpaygo_tokens_for_request": micropower.openpaygo_tokens_for_request,
}


def contains(got, want):
    """Every field of `want` (recursively for objects) is in `got` with the same value (a decode output
    lists only what the reference decides, not the device state)."""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and contains(got[k], w) for k, w in want.items())
    return got == want


def typed_call(function, given):
    args = dict(given)
    if function == "openpaygo_generate":
        args.setdefault("starting_code", None)
        if "value" in args and args["value"] is not None:
            args["value"] = Decimal(args["value"])
    return TYPED[function](**args)


def wire(result):
    from conftest import canonical_json

    return canonical_json(result)


def cases_file():
    path = os.environ.get("MICROPOWER_OPENPAYGO_CASES")
    if not path:
        pytest.skip("MICROPOWER_OPENPAYGO_CASES is not set (scripts/test.d/20-python.sh writes the cases)")
    return pathlib.Path(path)


@pytest.mark.parametrize("function", sorted(TYPED))
def test_the_references_cases(function):
    passed, failures = 0, []
    for number, line in enumerate(cases_file().read_text().splitlines(), 1):
        case = json.loads(line)
        if case["function"] != function:
            continue
        try:
            got = wire(typed_call(function, case["input"]))
            verdict = None if "output" in case and contains(got, case["output"]) else "got %s" % got
        except micropower.MicropowerError as e:
            verdict = None if case.get("error") == e.code else "got error %s (%s)" % (e.code, e)
        if verdict is None:
            passed += 1
        else:
            failures.append("line %d: %s: %s" % (number, case["name"], verdict))
    print("openpaygo differential (python, %s): %d passed, %d failed" % (function, passed, len(failures)))
    assert not failures, "\n".join(failures[:20])
    assert passed > 0


@pytest.fixture(scope="module")
def reference():
    pytest.importorskip("openpaygo", reason="the reference openpaygo 0.6.3 is not installed here "
                        "(20-python.sh installs it in the development venv)")
    sys.path.insert(0, str(OPENPAYGO_DIR))
    try:
        import differential
        import reference
    finally:
        sys.path.remove(str(OPENPAYGO_DIR))
    return differential, reference


def test_live_against_the_reference(reference):
    differential, ref = reference
    rng = random.Random(20260701)
    minted = checked_errors = decoded = 0
    for _ in range(600):
        case = differential.random_generate_case(rng)
        line = differential.generate_line(case)  # the reference's token, or the core's refusal by the rules
        try:
            ours = wire(typed_call("openpaygo_generate", case))
        except micropower.MicropowerError as e:
            assert line.get("error") == e.code, (case, line, e)
            checked_errors += 1
            continue
        assert "output" in line, (case, line, ours)
        assert ours == line["output"], case
        minted += 1
        if case["extended"]:
            continue
        # The reference's decoder accepts the token we minted, at our count, with our value.
        read = ref.decode(case["secret_key"], ours["code"], case["count"], case.get("starting_code"),
                          case["time_divider"], case["restricted_digits"])
        assert read is not None and read["count"] == ours["count"] and read["kind"] == case["kind"], case
        decoded += 1
    print("openpaygo live (python): %d tokens equal, %d refusals, %d read back" % (minted, checked_errors, decoded))
    assert minted > 300 and decoded > 100
