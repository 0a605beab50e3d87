"""The field lists that turn the core's decimal strings and dates into Decimal and date hold every such
field of the core (read from its Rust sources), and conversion both ways keeps numbers exact."""

import datetime
import re
from decimal import Decimal

import pytest

import micropower
from micropower import _wire
from conftest import PACKAGE, REPO

# `name: Type,` on a line of its own: struct fields and the arguments of multi-line signatures.
FIELD = re.compile(r"^\s*(?:pub(?:\([a-z]+\))?\s+)?([a-z_][a-z0-9_]*)\s*:\s*([A-Za-z0-9_:<>, ]+?),?\s*$")

SOURCES = sorted((REPO / "core" / "src").rglob("*.rs")) + [PACKAGE / "src" / "export.rs"]
# Error variants' fields are read by the exception classes (test_errors.py), not by these lists.
NOT_RECORDS = {REPO / "core" / "src" / "error.rs"}
# Fields of private working structs and arguments of private functions, never serialised; a token
# resolution's numerator travels inside its text ("1/3"), and day_resolution is such a text, not a Decimal.
NOT_ON_THE_WIRE = {"left", "today", "numerator"}


def fields():
    found = []
    for path in SOURCES:
        if path in NOT_RECORDS:
            continue
        in_tests = False
        for line in path.read_text().splitlines():
            if line.startswith("#[cfg(test)]") or line.startswith("mod tests"):
                in_tests = True
            match = FIELD.match(line)
            if match and not in_tests and match.group(1) not in NOT_ON_THE_WIRE:
                found.append((match.group(1), match.group(2).replace(" ", ""), path.name))
    return found


def test_every_decimal_and_date_field_is_converted():
    found = fields()
    decimals = {name for name, ty, _ in found if re.search(r"\bDecimal\b", ty)}
    dates = {name for name, ty, _ in found if re.search(r"\bNaiveDate\b", ty)}
    assert decimals, "no Decimal field found: the pattern no longer matches the sources"
    assert decimals <= _wire.DECIMAL_FIELDS, "missing: %s" % sorted(decimals - _wire.DECIMAL_FIELDS)
    assert dates <= _wire.DATE_FIELDS, "missing: %s" % sorted(dates - _wire.DATE_FIELDS)
    # No name in the lists is stale.
    assert _wire.DECIMAL_FIELDS <= decimals, "not a Decimal field: %s" % sorted(_wire.DECIMAL_FIELDS - decimals)
    assert _wire.DATE_FIELDS <= dates, "not a date field: %s" % sorted(_wire.DATE_FIELDS - dates)


def test_no_text_field_shares_a_name_with_a_decimal_or_date_field():
    text = {(name, where) for name, ty, where in fields() if ty in ("String", "Option<String>", "Currency")}
    clashes = {(name, where) for name, where in text if name in _wire.DECIMAL_FIELDS | _wire.DATE_FIELDS}
    assert not clashes


def test_decimals_go_out_as_plain_strings_and_come_back_exact():
    assert _wire.to_wire(Decimal("100.50")) == "100.50"
    assert _wire.to_wire(Decimal("1E+3")) == "1000"
    assert _wire.to_wire({"a": [Decimal("0.1"), datetime.date(2026, 2, 28)]}) == {"a": ["0.1", "2026-02-28"]}
    assert _wire.canonical(Decimal("1.40")) == "1.4"
    assert _wire.canonical(Decimal("1E+3")) == "1000"
    assert _wire.canonical(Decimal("-0.00")) == "0"
    row = micropower._records.from_wire({"amount": "0.1", "due_date": "2026-02-28", "serial": "123"})
    assert row.amount == Decimal("0.1") and row.due_date == datetime.date(2026, 2, 28) and row.serial == "123"


def test_the_core_judges_what_python_sends():
    # A float for money is refused by the core (money never travels as a float), not silently rounded.
    with pytest.raises(micropower.InvalidInputError):
        micropower.round_money(0.1, "TZS")
    assert micropower.round_money(Decimal("0.5"), "TZS") == Decimal("1")
    assert micropower.round_money(2, "KES") == Decimal("2")
    assert micropower.round_money("12.345", "KES") == Decimal("12.35")
    with pytest.raises(micropower.InvalidInputError):
        micropower.round_money(Decimal("NaN"), "TZS")


def test_records_read_like_attributes_and_mappings():
    (first, *_rest) = micropower.installment_schedule(Decimal(900), Decimal(0), 3, "monthly",
                                                       datetime.date(2026, 1, 31), "TZS")
    assert isinstance(first, micropower.Installment)
    assert (first.number, first.due_date, first.amount) == (1, datetime.date(2026, 2, 28), Decimal(300))
    assert first["amount"] == first.amount and dict(first) == first.to_dict()
    assert first.to_wire() == {"number": 1, "due_date": "2026-02-28", "amount": "300"}
    with pytest.raises(AttributeError):
        first.amount = 1
    with pytest.raises(AttributeError):
        first.nope  # noqa: B018
    import pickle
    assert pickle.loads(pickle.dumps(first)) == first
