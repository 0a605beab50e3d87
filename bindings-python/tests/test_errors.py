"""The exception tree: one class per core error variant, each with the variant's code and fields."""

import json
import pickle
import re
from decimal import Decimal

import pytest

import micropower
from micropower import _native
from conftest import REPO, VECTORS


def camel(code):
    return "".join(part.capitalize() for part in code.split("_"))


def variants():
    """{variant name: {field: type}} read from the core's CoreError."""
    source = (REPO / "core" / "src" / "error.rs").read_text()
    body = source[source.index("pub enum CoreError"):source.index("impl CoreError")]
    found = {}
    for name, fields in re.findall(r"^\s{4}([A-Z][A-Za-z]+)(?:\s*\{([^}]*)\})?,", body, re.M):
        found[name] = dict(re.findall(r"([a-z_]+):\s*([A-Za-z0-9]+)", fields or ""))
    return found


def test_every_code_maps_to_its_class():
    assert len(_native.ALL_CODES) == len(set(_native.ALL_CODES)) > 0
    assert set(micropower.ERROR_CLASSES) == set(_native.ALL_CODES)
    for code in _native.ALL_CODES:
        cls = micropower.ERROR_CLASSES[code]
        assert cls.__name__ == camel(code) + "Error"
        assert cls.code == code
        assert issubclass(cls, micropower.MicropowerError)
        assert getattr(micropower, cls.__name__) is cls
        assert cls.__name__ in micropower.__all__


def test_classes_follow_the_variants_and_their_money_fields():
    found = variants()
    assert {camel(code) for code in _native.ALL_CODES} == set(found)
    for name, fields in found.items():
        cls = getattr(micropower, name + "Error")
        money = {field for field, ty in fields.items() if ty == "Decimal"}
        assert set(cls.decimal_fields) == money, name


def test_errors_carry_code_message_and_fields():
    with pytest.raises(micropower.UnknownSerialError) as raised:
        micropower.allocate_payment(None, {"serial": "shs-9", "amount": "100", "currency": "TZS",
                                           "received_on": "2026-01-01"})
    error = raised.value
    assert isinstance(error, micropower.MicropowerError)
    assert error.code == "unknown_serial"
    assert error.serial and error.details["serial"] == error.serial
    assert error.message == str(error) and error.message
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is type(error) and again.details == error.details and again.code == error.code


def test_money_in_details_is_decimal():
    error = micropower.error_from_details(
        {"code": "amount_below_minimum", "message": "amount 1 is below the minimum 700", "amount": "1",
         "minimum_amount": "700"})
    assert type(error) is micropower.AmountBelowMinimumError
    assert error.minimum_amount == Decimal("700") and error.amount == Decimal("1")


def test_unknown_codes_keep_their_code():
    error = micropower.error_from_details(json.dumps({"code": "unauthorized", "message": "no key"}))
    assert type(error) is micropower.MicropowerError
    assert error.code == "unauthorized" and error.message == "no key"


def test_every_vector_error_raises_its_class_with_the_variants_fields():
    found = variants()
    seen = set()
    for path in sorted(VECTORS.glob("*.json")):
        data = json.loads(path.read_text())
        for case in data["cases"]:
            if "error" not in case:
                continue
            with pytest.raises(micropower.MicropowerError) as raised:
                micropower.call(data["function"], case["input"])
            error = raised.value
            assert error.code == case["error"], case["name"]
            name = type(error).__name__[: -len("Error")]
            assert set(error.details) == set(found[name]), (case["name"], error.details)
            for field in type(error).decimal_fields:
                assert isinstance(getattr(error, field), Decimal)
            seen.add(error.code)
    # The vectors hold a case for every code (the lead's rule), so every class was raised by the core.
    assert seen == set(_native.ALL_CODES)
