"""Every case of every shared vector file (tests/vectors/*.json) through the Python package.

A case goes through the typed function of its name, with its decimal strings turned into `Decimal` and its
dates into `datetime.date` first; only a case whose input the typed signature cannot express (an unknown or
missing argument, on purpose) goes through the generic `micropower.call`. Outputs are compared as JSON with
every Decimal as its canonical string; errors by their class and code.
"""

import collections
import datetime
import inspect
import json
import re
from decimal import Decimal

import pytest

import micropower
from conftest import VECTORS, canonical_json

FILES = sorted(VECTORS.glob("*.json"))
CASES = [
    pytest.param(data["function"], case, id="%s: %s" % (data["function"], case["name"]))
    for data in (json.loads(path.read_text()) for path in FILES)
    for case in data["cases"]
]

_PLAIN_DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")
_PLAIN_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")

# The typed path actually taken per function, checked after the run.
PATHS = collections.Counter()


def pythonic(value, key=None):
    """A vector input as a Python caller writes it: decimal strings as Decimal, dates as date. Strings that
    are not plain decimals or dates stay text, for the core to judge."""
    if isinstance(value, dict):
        return {k: pythonic(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [pythonic(v, key) for v in value]
    if isinstance(value, str) and key in micropower._wire.DECIMAL_FIELDS and _PLAIN_DECIMAL.match(value):
        return Decimal(value)
    if isinstance(value, str) and key in micropower._wire.DATE_FIELDS and _PLAIN_DATE.match(value):
        try:
            return datetime.date.fromisoformat(value)
        except ValueError:
            return value
    return value


def typed_arguments(function, given):
    """The keyword arguments of the typed function for a vector input, or None when its signature cannot
    express that input."""
    kwargs = {("from_" if k == "from" else k): v for k, v in given.items()}
    if function == "installment_schedule":
        terms = kwargs.pop("terms", None)
        if not isinstance(terms, dict):
            return None
        kwargs.update(terms)
    if function == "openpaygo_generate":
        # The fixed signature has no default for starting_code; absent on the wire means None (derived).
        kwargs.setdefault("starting_code", None)
    try:
        inspect.signature(getattr(micropower, function)).bind(**kwargs)
    except TypeError:
        return None
    return kwargs


@pytest.mark.parametrize("function,case", CASES)
def test_vector(function, case):
    given = pythonic(case["input"])
    kwargs = typed_arguments(function, given)
    if kwargs is not None:
        PATHS[function, "typed"] += 1
        run = lambda: getattr(micropower, function)(**kwargs)  # noqa: E731
    else:
        PATHS[function, "generic"] += 1
        run = lambda: micropower.call(function, given)  # noqa: E731
    if "error" in case:
        with pytest.raises(micropower.MicropowerError) as raised:
            run()
        assert raised.value.code == case["error"]
        assert type(raised.value) is micropower.ERROR_CLASSES[case["error"]]
    else:
        assert canonical_json(run()) == case["output"]


def test_every_function_has_vectors_and_a_typed_function():
    with_vectors = {json.loads(path.read_text())["function"] for path in FILES}
    assert with_vectors == set(micropower.FUNCTIONS)
    for function in micropower.FUNCTIONS:
        assert callable(getattr(micropower, function)), function


def test_every_function_went_through_its_typed_function():
    # Runs after the vector cases (pytest keeps file order): each function had typed cases.
    if not PATHS:
        pytest.skip("run with the vector cases")
    for function in micropower.FUNCTIONS:
        assert PATHS[function, "typed"] > 0, "%s: no case reached the typed function" % function


def test_generic_call_gives_the_typed_result():
    args = {"terms": {"total_cost": Decimal("1000"), "down_payment": 0, "installments": 3, "period": "weekly",
                      "start_date": datetime.date(2026, 1, 1)}, "currency": "TZS"}
    generic = micropower.call("installment_schedule", args)
    typed = micropower.installment_schedule(Decimal("1000"), 0, 3, "weekly", datetime.date(2026, 1, 1), "TZS")
    assert [dict(r) for r in generic] == [dict(r) for r in typed]
    assert micropower.call("round_money", {"amount": Decimal("2.5"), "currency": "TZS"}) == Decimal("3")

