"""Records and lists of records: what the typed functions and the reports return.

A `Record` is a read-only mapping whose fields are also attributes (`row.total`, `row["total"]`). A
`RecordList` is a plain `list` of records with `.to_pandas()` (when pandas is installed) and, for reports,
the report's totals as attributes.
"""

from collections.abc import Mapping

from ._wire import from_text, to_wire

__all__ = ["Record", "RecordList", "Installment", "OpenPaygoToken", "flatten", "from_wire"]


class Record(Mapping):
    """A read-only record: a mapping of field names to values, each field also an attribute."""

    __slots__ = ("_fields",)

    def __init__(self, fields=(), **more):
        object.__setattr__(self, "_fields", dict(fields, **more))

    def __getitem__(self, name):
        return self._fields[name]

    def __iter__(self):
        return iter(self._fields)

    def __len__(self):
        return len(self._fields)

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError("%s has no field %r" % (type(self).__name__, name)) from None

    def __setattr__(self, name, value):
        raise AttributeError("records are read-only")

    def __dir__(self):
        return sorted(set(super().__dir__()) | set(self._fields))

    def __repr__(self):
        return "%s(%s)" % (type(self).__name__, ", ".join("%s=%r" % kv for kv in self._fields.items()))

    def __reduce__(self):
        return (type(self), (self._fields,))

    def to_dict(self):
        """A plain dict, nested records and lists included."""
        return {k: _plain(v) for k, v in self._fields.items()}

    def to_wire(self):
        """The core's JSON form: decimals as canonical strings, dates as YYYY-MM-DD."""
        return to_wire(self)


def _plain(value):
    if isinstance(value, Record):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


class Installment(Record):
    """One installment of a schedule: `number` (1-based), `due_date` (date), `amount` (Decimal)."""

    __slots__ = ()


class OpenPaygoToken(Record):
    """An OpenPAYGO token: `code` (str, what the customer types) and `count` (int, the device's new count)."""

    __slots__ = ()


def flatten(record, prefix=""):
    """One level of columns from nested records: {"by_kind": {"energy": 1}} -> {"by_kind.energy": 1}."""
    out = {}
    for key, value in record.items():
        name = prefix + key
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = value
    return out


class RecordList(list):
    """A list of records. Reports set their totals as attributes (e.g. `.total`, `.outstanding`)."""

    def __init__(self, rows=(), **attributes):
        super().__init__(rows)
        self.__dict__.update(attributes)

    def __getattr__(self, name):
        # Only reached when no report total of that name was set.
        raise AttributeError("this list has no attribute %r" % name)

    def to_dicts(self):
        """Every row as a flat dict (nested fields as dotted column names)."""
        return [flatten(row) if isinstance(row, Mapping) else {"value": row} for row in self]

    def to_pandas(self):
        """A pandas DataFrame, one row per record, nested fields as dotted columns. Money stays Decimal and
        dates stay `datetime.date` (object columns): exact numbers, convert where you plot."""
        try:
            import pandas
        except ImportError:
            raise ImportError("to_pandas() needs pandas: pip install pandas") from None
        rows = self.to_dicts()
        columns = []
        for row in rows:
            for key in row:
                if key not in columns:
                    columns.append(key)
        return pandas.DataFrame(rows, columns=columns)

    def to_wire(self):
        return to_wire(list(self))


def from_wire(value, key=None, record=Record):
    """The core's JSON as Python: objects become records (the top ones of class `record`), decimal and
    date fields `Decimal` and `datetime.date` (see `_wire`)."""
    if isinstance(value, dict):
        return record({k: from_wire(v, k) for k, v in value.items()})
    if isinstance(value, list):
        return [from_wire(v, key, record) for v in value]
    if isinstance(value, str) and key is not None:
        return from_text(key, value)
    return value
