"""Shared paths and helpers of the Python package's tests."""

import pathlib
import re
from decimal import Decimal

import pytest

HERE = pathlib.Path(__file__).resolve().parent
PACKAGE = HERE.parent
REPO = PACKAGE.parent
VECTORS = REPO / "tests" / "vectors"
FIXTURE_EXPORT = HERE / "fixtures" / "export.jsonl"

_PLAIN_DECIMAL = re.compile(r"^-?[0-9]+(\.[0-9]+)?$")


def canonical_json(value):
    """A result's wire form with every Decimal as its canonical string, for exact comparison with the
    vectors' outputs (which are canonical: "1.4", "1000")."""
    import micropower._wire as wire

    if isinstance(value, Decimal):
        return wire.canonical(value)
    if isinstance(value, dict) or hasattr(value, "items"):
        return {k: canonical_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical_json(v) for v in value]
    return wire.to_wire(value)


@pytest.fixture
def export_path():
    return FIXTURE_EXPORT
