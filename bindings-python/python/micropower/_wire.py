"""The core's wire form and back: decimals travel as decimal strings, dates as YYYY-MM-DD.

Going in (`to_wire`), every `Decimal` becomes its plain decimal string and every `date` its ISO form; the
rest is passed as is, so the core judges it (a float for money is refused by the core, not here).

Coming back (`from_text`, used by `_records.from_wire`), the core's JSON carries no types, so fields are read by name: a string in a
field the core declares as `Decimal` becomes a `Decimal`, one in a `NaiveDate` field a `datetime.date`.
`tests/test_wire.py` reads the core's sources and checks these lists hold every such field.
"""

import datetime
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation

__all__ = ["DECIMAL_FIELDS", "DATE_FIELDS", "DATETIME_FIELDS", "canonical", "to_wire", "json_default", "from_text"]

# Fields the core (and the export reader) declare as Decimal or Option<Decimal>, and the decimal arguments
# of its functions (`net_amount`, `days` of eaas_price). Only strings are read as decimals, so a field of
# the same name that is a number elsewhere (`installment`, `days`) or an object (`access_rate`) is untouched.
DECIMAL_FIELDS = frozenset({
    "access_rate", "amount", "appliance_rate", "at_risk", "balance", "collected", "cost", "credit",
    "credit_added", "credit_balance", "credit_used", "days", "debt", "down_payment", "due", "eaas", "energy",
    "energy_money", "energy_rate", "energy_step_kwh", "installment", "kwh", "lat", "lng", "minimum_amount",
    "minimum_payable", "minimum_payment", "minimum_purchase", "net_amount", "new_debt", "outstanding", "paid",
    "price_per_day", "price_per_kwh", "quantity", "rate", "ratio", "remaining", "risk_ceiling", "total",
    "total_cost", "value",
})

# Fields the core declares as NaiveDate (and the date arguments of its functions).
DATE_FIELDS = frozenset({
    "as_of", "due_date", "from", "now", "period_start", "received_on", "registered_on", "start_date", "to",
})

# Instants in the export (RFC 3339).
DATETIME_FIELDS = frozenset({"created_at", "exported_at", "received_at"})

_PLAIN_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def canonical(value):
    """The core's canonical decimal string: normalised, no exponent, no trailing zeros ("1.4", "1000")."""
    text = format(Decimal(value).normalize(), "f")
    return "0" if text == "-0" else text


def _decimal_text(value):
    # Plain notation, scale kept ("100.50" stays "100.50"): the core sees the number it was given.
    return format(value, "f")


def to_wire(value):
    """Python values (Decimal, date, records, dicts, lists) as the core's JSON values."""
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): to_wire(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_wire(v) for v in value]
    if isinstance(value, Mapping):  # records
        return {str(k): to_wire(v) for k, v in value.items()}
    return value


def json_default(value):
    """`json.dumps(..., default=json_default)`: the same conversions as `to_wire`, letting the C encoder walk
    plain dicts and lists itself (much faster on large argument lists)."""
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, (datetime.date, datetime.datetime)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError("%s is not a value the core takes" % type(value).__name__)


def from_text(key, text):
    """A string of field `key` as the Python value the field holds (Decimal, date, datetime or str)."""
    if key in DECIMAL_FIELDS:
        try:
            return Decimal(text)
        except InvalidOperation:
            return text
    if key in DATE_FIELDS and _PLAIN_DATE.match(text):
        try:
            return datetime.date.fromisoformat(text)
        except ValueError:
            return text
    if key in DATETIME_FIELDS:
        try:
            return datetime.datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
        except ValueError:
            return text
    return text
