"""The analyst layer: the server's export (`GET /v1/export`, JSON Lines) as a `Dataset`, and the core's
reports (domain.md §7) over it.

    import micropower
    ds = micropower.load_export("export.jsonl")            # or "https://…/v1/export", api_key="…"
    ds.par_30_60_90()                                       # PAR30/60/90 as of the export's day
    ds.revenue(group_by="month", by="area").to_pandas()

The export is parsed by the native module into the core's record types; each report is one call of the
core's report function on those records, so the numbers are the server's and the dashboard's. Reports come
back as a `RecordList` (a list of records with `.to_pandas()`), with the report's totals as attributes.
"""

import contextlib
import datetime
import json
import os
import sys
import time
import urllib.error
import urllib.request

from . import _native
from ._errors import error_from_details
from ._records import Record, RecordList, from_wire
from ._wire import to_wire

__all__ = ["Dataset", "load_export", "simulate_tariff", "PROGRESS_THRESHOLD"]

#: Exports at least this large (bytes) show a progress bar unless `progress=False`.
PROGRESS_THRESHOLD = 8 * 1024 * 1024

_CHUNK = 1024 * 1024


def load_export(path_or_url, api_key=None, *, progress=None, timeout=60.0):
    """Reads the server's export into a `Dataset`.

    `path_or_url` is a file path, an open binary file, or an http(s) URL of the server's `/v1/export`
    (sent with `Authorization: Bearer <api_key>`). `progress`: True or False to force the progress bar on
    or off; by default it shows for exports of `PROGRESS_THRESHOLD` bytes or more (and for downloads of
    unknown size). It uses tqdm when installed, else a plain progress line on stderr.

    A malformed line raises `InvalidInputError` naming it (`field == "export line 12"`); lines of a type this
    version does not know are skipped and counted in `Dataset.skipped`. An HTTP error from the server
    raises its error class (e.g. `NotFoundError`), or `MicropowerError` with the server's `code`
    (`"unauthorized"`) and `status`.
    """
    opened, total, name = _open(path_or_url, api_key, timeout)
    show = progress if progress is not None else (total is None or total >= PROGRESS_THRESHOLD)
    reader = _native.ExportReader()
    bar = _progress(total, name) if show else None
    try:
        with opened as stream:
            while True:
                chunk = stream.read(_CHUNK)
                if not chunk:
                    break
                reader.feed(chunk)
                if bar is not None:
                    bar.update(len(chunk))
    finally:
        if bar is not None:
            bar.close()
    return Dataset(reader.finish())


def _open(source, api_key, timeout):
    """(binary stream, size in bytes or None, name) for a path, a URL or an open file."""
    if hasattr(source, "read"):
        return contextlib.nullcontext(source), None, getattr(source, "name", "export")
    text = os.fspath(source)
    if isinstance(text, str) and text.startswith(("http://", "https://")):
        headers = {"Accept": "application/x-ndjson, application/jsonl, application/json"}
        if api_key:
            headers["Authorization"] = "Bearer " + api_key
        request = urllib.request.Request(text, headers=headers)
        try:
            response = urllib.request.urlopen(request, timeout=timeout)  # noqa: S310 - the caller's server
        except urllib.error.HTTPError as e:
            raise _http_error(e) from None
        length = response.headers.get("Content-Length")
        return response, int(length) if length and length.isdigit() else None, text
    return open(text, "rb"), os.path.getsize(text), os.path.basename(text)


def _http_error(e):
    """The server's error body as its exception class; the HTTPError itself when the body is not one."""
    try:
        details = json.loads(e.read() or b"null")
    except ValueError:
        details = None
    if not isinstance(details, dict) or "code" not in details:
        return e
    error = error_from_details(details)
    error.status = e.code
    return error


def _progress(total, name):
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return _StderrProgress(total, name)
    return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=name, leave=False)


class _StderrProgress:
    """A progress line on stderr, for when tqdm is not installed: redrawn on a terminal, otherwise one
    line per tenth."""

    def __init__(self, total, name):
        self.total, self.name, self.done = total, name, 0
        self.tty = sys.stderr.isatty()
        self.last_tenth, self.last_draw = -1, 0.0

    def update(self, n):
        self.done += n
        if self.total:
            tenth = self.done * 10 // self.total
            if self.tty and time.monotonic() - self.last_draw > 0.1:
                self._write("\r%s: %3d%% (%.1f of %.1f MB)" % (
                    self.name, self.done * 100 // self.total, self.done / 1e6, self.total / 1e6))
                self.last_draw = time.monotonic()
            elif not self.tty and tenth > self.last_tenth:
                self._write("%s: %d%%\n" % (self.name, min(tenth * 10, 100)))
                self.last_tenth = tenth
        elif self.tty:
            self._write("\r%s: %.1f MB" % (self.name, self.done / 1e6))

    def close(self):
        if self.tty:
            self._write("\n")
        else:
            self._write("%s: %.1f MB read\n" % (self.name, self.done / 1e6))

    @staticmethod
    def _write(text):
        sys.stderr.write(text)
        sys.stderr.flush()


def _day(value):
    return value if value is None or isinstance(value, str) else to_wire(value)


_AGING_BUCKETS = ("current", "days_1_30", "days_31_60", "days_61_90", "days_over_90")


class Dataset:
    """An export as read: the records (`payments`, `installments`, `customers`, …) and the core's reports
    over them. Use `filter(...)` for a part of it (one area, one customer)."""

    def __init__(self, native, _currency_hint=None):
        self._native = native
        self._tables = {}
        self._currency_hint = _currency_hint

    def __repr__(self):
        counts = ", ".join("%s=%d" % kv for kv in self.counts.items() if kv[1])
        return "Dataset(%s)" % counts

    # --- the records ----------------------------------------------------------------------------

    @property
    def counts(self):
        """How many records of each kind the export held."""
        return dict(self._native.counts())

    def _table(self, name):
        if name not in self._tables:
            self._tables[name] = RecordList(from_wire(json.loads(self._native.table(name))))
        return self._tables[name]

    @property
    def meta(self):
        """The export's `meta` line (`version`, `exported_at`), or None."""
        meta = json.loads(self._native.table("meta"))
        return None if meta is None else from_wire(meta)

    @property
    def exported_at(self):
        """When the server wrote the export (a `datetime`), or None."""
        meta = self.meta
        return None if meta is None else meta.get("exported_at")

    @property
    def as_of(self):
        """The day reports are taken on by default: the export's day, else today."""
        exported = self.exported_at
        return exported.date() if isinstance(exported, datetime.datetime) else datetime.date.today()

    @property
    def skipped(self):
        """Lines of types this version does not know, by type."""
        return json.loads(self._native.table("skipped"))

    clusters = property(lambda self: self._table("clusters"), doc="Clusters (`id`, `name`).")
    areas = property(lambda self: self._table("areas"), doc="Catchment areas (`id`, `name`, `cluster_id`).")
    villages = property(lambda self: self._table("villages"), doc="Villages (`id`, `name`, `area_id`).")
    customers = property(lambda self: self._table("customers"), doc="Customers, as the core stores them.")
    tariffs = property(lambda self: self._table("tariffs"), doc="Tariffs, with `id` and `name`.")
    devices = property(lambda self: self._table("devices"), doc="Devices (serial, kind, owner, location).")
    plans = property(lambda self: self._table("plans"), doc="Plans (the plan itself in `body`).")
    tokens = property(lambda self: self._table("tokens"), doc="Tokens issued.")
    installments = property(
        lambda self: self._table("installments"), doc="Installments with what has been paid on them.")
    access_rates = property(
        lambda self: self._table("access_rates"),
        doc="Meters' access-rate accounts as stored at their last payment (`rate`, `state`); the debt reports "
            "accrue them up to their own day.")
    payments = property(lambda self: self._table("payments"), doc="Payments with their allocation lines.")

    @property
    def currencies(self):
        """Every currency of the payments and of what is owed (installments, access-rate accounts)."""
        payments, installments = self._native.currencies()
        return sorted(set(payments) | set(installments))

    def filter(self, *, cluster_id=None, area_id=None, village_id=None, customer_id=None):
        """The payments and installments of one place or customer (every given field must match; the
        registry tables are kept whole). Reports on the result cover only those records."""
        native = self._native.filter(cluster_id, area_id, village_id, customer_id)
        return Dataset(native, _currency_hint=self._default_currency_candidates())

    # --- report arguments -----------------------------------------------------------------------

    def _default_currency_candidates(self):
        return self.currencies or self._currency_hint or []

    def _currency(self, currency, side):
        if currency is not None:
            return currency
        payments, installments = self._native.currencies()
        found = payments if side == "payments" else installments
        candidates = list(found) or self._default_currency_candidates()
        if len(candidates) == 1:
            return candidates[0]
        if not candidates:
            raise ValueError("the dataset has no %s to take a currency from: pass currency=" % side)
        raise ValueError("the %s are in %s: pass currency= (one report per currency)" % (
            side, ", ".join(candidates)))

    def _as_of(self, as_of):
        return _day(as_of) if as_of is not None else self.as_of.isoformat()

    # --- reports (each one call of the core's report function) ------------------------------------

    def revenue(self, currency=None, from_=None, to=None, group_by="month", by="none"):
        """Revenue per period ("day", "week", "month") split by what the money paid for, and by "cluster",
        "area", "village" or "kind" (device kind). The window defaults to the first and last payment.
        Rows: `period_start`, `group`, `by_kind` (installment, access_rate, energy, eaas), `total`; split by
        a place, `group` is the place's name from the export's registry (its id when the registry does not
        know it) and `group_id` its id; split by kind, both are the kind. Attributes `total`, `by_kind`, and
        `core`: the core's report as it answered (each row's `group` an `{id, name}` record)."""
        currency = self._currency(currency, "payments")
        from_, to = self._window(from_, to, self._native.payment_span(currency))
        report = from_wire(json.loads(self._native.revenue(currency, from_, to, group_by, by)))
        rows = report["rows"] if by == "none" else [_named_row(row) for row in report["rows"]]
        return RecordList(rows, total=report["total"], by_kind=report["by_kind"], currency=currency,
                          from_=from_wire(from_, "from"), to=from_wire(to, "to"), group_by=group_by, by=by,
                          core=report)

    def energy_sold(self, currency=None, from_=None, to=None, group_by="month"):
        """kWh sold per period. Without `currency`, every payment's kWh and no money (kWh are the same in
        every currency); with it, that currency's payments and their money. Rows: `period_start`, `kwh`,
        `amount`; attributes `kwh`, `amount`."""
        from_, to = self._window(from_, to, self._native.payment_span(currency))
        report = from_wire(json.loads(self._native.energy_sold(currency, from_, to, group_by)))
        return RecordList(report["rows"], kwh=report["kwh"], amount=report.get("amount"), currency=currency,
                          from_=from_wire(from_, "from"), to=from_wire(to, "to"), group_by=group_by)

    def debt_aging(self, currency=None, as_of=None, by="none"):
        """What is still owed on installments by days overdue as of `as_of` (default: the export's day), and
        the meters' access-rate fees accrued up to `as_of` (owed even where no payment has accrued them).
        One row per bucket (`bucket`: current, days_1_30, days_31_60, days_61_90, days_over_90; `amount`;
        `installments`), then the access-rate line (`bucket` access_rate, its `amount`, `installments` 0);
        attributes `outstanding` (all of it), `installments`, `access_rate` (`amount`, `meters`).
        With `by` ("cluster", "area" or "village"): one row per place instead (`group`, its name, and
        `group_id`; each bucket's amount, `access_rate`, `outstanding`, `installments`), the whole portfolio's
        numbers still the attributes."""
        currency = self._currency(currency, "installments")
        as_of = self._as_of(as_of)
        aging = from_wire(json.loads(self._native.debt_aging(currency, as_of, by)))
        if by != "none":
            rows = [Record(_place(g), **{name: g[name]["amount"] for name in _AGING_BUCKETS},
                           access_rate=g["access_rate"]["amount"], outstanding=g["outstanding"],
                           installments=g["installments"]) for g in aging["groups"]]
            return RecordList(rows, outstanding=aging["outstanding"], installments=aging["installments"],
                              access_rate=aging["access_rate"], currency=currency, as_of=from_wire(as_of, "as_of"),
                              by=by)
        rows = [Record(bucket=name, amount=aging[name]["amount"], installments=aging[name]["installments"])
                for name in _AGING_BUCKETS]
        access = aging["access_rate"]
        rows.append(Record(bucket="access_rate", amount=access["amount"], installments=0))
        return RecordList(rows, outstanding=aging["outstanding"], installments=aging["installments"],
                          access_rate=access, currency=currency, as_of=from_wire(as_of, "as_of"))

    def portfolio_at_risk(self, days=30, currency=None, as_of=None, by="none"):
        """PAR `days` as of `as_of`: one row (`days`, `at_risk`, `outstanding`, `ratio`, 0 to 1), also as
        attributes. With `by` ("cluster", "area" or "village"): one row per place (`group`, its name, and
        `group_id` before the same fields); the attributes stay the whole portfolio's."""
        currency = self._currency(currency, "installments")
        as_of = self._as_of(as_of)
        par = from_wire(json.loads(self._native.portfolio_at_risk(currency, as_of, days, by)))
        whole = Record({k: v for k, v in par.items() if k != "groups"})
        rows = [whole] if by == "none" else [_grouped_row(g) for g in par["groups"]]
        return RecordList(rows, currency=currency, as_of=from_wire(as_of, "as_of"), **whole)

    def par_30_60_90(self, currency=None, as_of=None):
        """PAR30, PAR60 and PAR90 as of `as_of`: three rows (`days`, `at_risk`, `outstanding`, `ratio`);
        attributes `par30`, `par60`, `par90`."""
        currency = self._currency(currency, "installments")
        as_of = self._as_of(as_of)
        par = from_wire(json.loads(self._native.par_30_60_90(currency, as_of)))
        return RecordList([par["par30"], par["par60"], par["par90"]], par30=par["par30"], par60=par["par60"],
                          par90=par["par90"], currency=currency, as_of=from_wire(as_of, "as_of"))

    def collection_rate(self, currency=None, from_=None, to=None, by="none"):
        """Collected / due for the installments due from `from_` (default: the first due date) to `to`
        (default: the export's day): one row (`from`, `to`, `due`, `collected`, `rate`; `rate` None when
        nothing was due), also as attributes. With `by` ("cluster", "area" or "village"): one row per place
        with an installment due in the window (`group`, its name, `group_id`, `due`, `collected`, `rate`)."""
        currency = self._currency(currency, "installments")
        span = self._native.due_span(currency)
        from_ = _day(from_) if from_ is not None else (span[0] if span else self.as_of.isoformat())
        to = _day(to) if to is not None else self.as_of.isoformat()
        rate = from_wire(json.loads(self._native.collection_rate(currency, from_, to, by)))
        whole = {k: v for k, v in rate.items() if k != "groups"}
        row = Record({"from": from_wire(from_, "from"), "to": from_wire(to, "to"), **whole})
        rows = [row] if by == "none" else [_grouped_row(g) for g in rate["groups"]]
        return RecordList(rows, currency=currency, from_=row["from"], to=row["to"], **whole)

    def simulate_tariff(self, tariff):
        """What each meter payment's energy money (the sum of its energy lines) would have bought under
        `tariff` (a dict or a record of `tariffs`, with the core's tariff fields). Only meter payments in
        the tariff's currency that bought energy have a row: `payment_id`, `received_on`, `serial`,
        `customer_id`, `cluster_id`, `area_id`, `village_id`, `currency`, `energy_money`, `kwh` (what it
        bought), `simulated` (`kwh`, `cost`, `credit` under `tariff`)."""
        rows = from_wire(json.loads(self._native.simulate_tariff(json.dumps(to_wire(tariff)))))
        return RecordList(rows, tariff=tariff)

    def _window(self, from_, to, span):
        first, last = span if span else (self.as_of.isoformat(), self.as_of.isoformat())
        return (_day(from_) if from_ is not None else first, _day(to) if to is not None else last)


def _place(entry):
    """`group` (the place's name, else its id) and `group_id` of a report's group entry."""
    group = entry["group"]
    return {"group": group["name"] or group["id"], "group_id": group["id"]}


def _grouped_row(entry):
    """A debt report's group entry as a row: the place first, then the group's numbers."""
    fields = _place(entry)
    fields.update((key, value) for key, value in entry.items() if key != "group")
    return Record(fields)


def _named_row(row):
    """A report row whose `group` (`{id, name}`) becomes what an analyst reads: `group`, the name (else the
    id), and `group_id`."""
    group = row["group"]
    fields = {"period_start": row["period_start"], "group": group["name"] or group["id"], "group_id": group["id"]}
    fields.update((key, value) for key, value in row.items() if key not in fields)
    return Record(fields)


def simulate_tariff(dataset, tariff):
    """What each historical meter payment of `dataset` would have bought under `tariff`; see
    `Dataset.simulate_tariff`."""
    return dataset.simulate_tariff(tariff)
