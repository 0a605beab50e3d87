"""The fixture export (tests/fixtures/export.jsonl) -> load_export -> Dataset -> the reports.

The fixture: one cluster, two areas (A1: villages V1, V2; A2: V3), one meter tariff (500 + 20 fee per kWh),
two meters and two SHS on installment plans, all in TZS, exported on 2026-07-01.
- P1 (K2, V2/A1): down payment 30000 paid; 3 x 90000 due 04-01, 05-01, 06-01, paid 90000, 90000, 20000.
- P2 (K4, V3/A2): 5 x 50000 due 03-15 … 07-15, only the first paid.
- Payments: meter MTR001 (V1) access 1000 + energy 4997 (9.61 kWh) in May, energy 10000 (19.23 kWh) in
  June; meter MTR002 (V3) energy 2600 (5 kWh) in June and 300 to credit (no lines); the SHS installments.
Every report is checked twice: against numbers worked out by hand here, and against the core's typed report
function on the same records (the Dataset must add nothing of its own).
"""

import datetime
import io
import json
import sys
from decimal import Decimal

import pytest

import micropower
from conftest import FIXTURE_EXPORT

D = Decimal
AS_OF = datetime.date(2026, 7, 1)


@pytest.fixture(scope="module")
def ds():
    return micropower.load_export(FIXTURE_EXPORT)


def test_every_record_is_read_and_unknown_types_are_skipped(ds):
    assert ds.counts == {"clusters": 1, "areas": 2, "villages": 3, "customers": 4, "tariffs": 1, "devices": 4,
                         "plans": 2, "tokens": 2, "installments": 9, "access_rates": 0, "payments": 8}
    assert ds.skipped == {"audit_entry": 1}
    assert ds.meta.version == 1
    assert ds.exported_at == datetime.datetime(2026, 7, 1, 8, 0, tzinfo=datetime.timezone.utc)
    assert ds.as_of == AS_OF
    assert ds.currencies == ["TZS"]
    pay1 = ds.payments[0]
    assert (pay1.payment_id, pay1.serial, pay1.amount, pay1.received_on) == (
        "pay1", "MTR001", D(6000), datetime.date(2026, 5, 3))
    assert pay1.lines[1].quantity == D("9.61") and pay1.location.area_id == "A1"
    assert pay1.credit_added == D(3) and pay1.status == "completed"
    assert ds.installments[3].paid == D(20000) and ds.installments[3].due_date == datetime.date(2026, 6, 1)
    assert ds.tariffs[0].name == "Residential" and ds.tariffs[0].price_per_kwh == D(500)
    assert ds.customers[0].phones == ["+255712345678"]
    assert ds.devices[2].plan_id == "P1" and ds.plans[0].body.total_cost == D(300000)
    assert ds.tokens[1].code == "662486790" and ds.tokens[1].quantity == D(30)


def test_revenue_per_month(ds):
    report = ds.revenue(group_by="month")
    assert [(r.period_start, r.total) for r in report] == [
        (datetime.date(2026, 3, 1), D(50000)),
        (datetime.date(2026, 4, 1), D(90000)),
        (datetime.date(2026, 5, 1), D(95997)),
        (datetime.date(2026, 6, 1), D(32600)),
    ]
    assert report.total == D(268597)
    assert dict(report.by_kind) == {"installment": D(250000), "access_rate": D(1000), "energy": D(17597),
                                    "eaas": D(0)}
    core = micropower.revenue_report(ds.payments, "TZS", datetime.date(2026, 3, 15), datetime.date(2026, 6, 25),
                                     "month")
    assert list(report) == core.rows and report.total == core.total


def test_revenue_by_area_and_window(ds):
    report = ds.revenue(from_=datetime.date(2026, 6, 1), to="2026-06-30", group_by="month", by="area")
    # Areas by their names from the export's registry, their ids beside them.
    assert [(r.group, r.group_id, r.total) for r in report] == [("Bukoba", "A1", D(30000)), ("Musoma", "A2", D(2600))]
    assert [dict(r.group) for r in report.core.rows] == [{"id": "A1", "name": "Bukoba"}, {"id": "A2", "name": "Musoma"}]
    assert report.from_ == datetime.date(2026, 6, 1) and report.to == datetime.date(2026, 6, 30)


def test_debt_reports_by_place_speak_names(ds):
    aging = ds.debt_aging(by="area")
    assert len(aging) > 0 and {r.group for r in aging} <= {"Bukoba", "Musoma", "unlocated"}
    assert {r.group_id for r in aging} <= {"A1", "A2", "unlocated"}
    # Each place's aging is the core's over its own records: the places add up to the whole.
    assert sum(r.outstanding for r in aging) == aging.outstanding == ds.debt_aging().outstanding
    par = ds.portfolio_at_risk(30, by="area")
    assert {r.group for r in par} == {r.group for r in aging}
    assert sum(r.outstanding for r in par) == par.outstanding and par.days == 30
    whole = ds.collection_rate(by="cluster")
    assert {r.group for r in whole} <= {"Lake Zone", "unlocated"}
    assert sum(r.due for r in whole) == whole.due == ds.collection_rate().due
    with pytest.raises(micropower.InvalidInputError):
        ds.debt_aging(by="kind")


def test_energy_sold(ds):
    report = ds.energy_sold(group_by="month")
    assert [(r.period_start, r.kwh) for r in report] == [
        (datetime.date(2026, 5, 1), D("9.61")), (datetime.date(2026, 6, 1), D("24.23"))]
    assert report.kwh == D("33.84")
    with_money = ds.energy_sold(currency="TZS", group_by="month")
    assert with_money.amount == D(17597)


def test_debt_aging(ds):
    aging = ds.debt_aging()
    assert [(r.bucket, r.amount, r.installments) for r in aging] == [
        ("current", D(50000), 1),
        ("days_1_30", D(120000), 2),
        ("days_31_60", D(50000), 1),
        ("days_61_90", D(50000), 1),
        ("days_over_90", D(0), 0),
        ("access_rate", D(0), 0),
    ]
    assert (aging.outstanding, aging.installments, aging.as_of) == (D(270000), 5, AS_OF)
    assert (aging.access_rate.amount, aging.access_rate.meters) == (D(0), 0)
    core = micropower.debt_aging(ds.installments, "TZS", AS_OF)
    assert core.outstanding == aging.outstanding and core.days_1_30.amount == D(120000)


def test_par(ds):
    par = ds.par_30_60_90()
    assert [(r.days, r.at_risk, r.ratio) for r in par] == [
        (30, D(200000), D("0.7407")), (60, D(200000), D("0.7407")), (90, D(0), D(0))]
    assert par.par30.outstanding == D(270000)
    assert dict(par.par30) == dict(micropower.par_30_60_90(ds.installments, "TZS", AS_OF).par30)
    assert ds.portfolio_at_risk(30).ratio == D("0.7407")
    assert ds.portfolio_at_risk(days=77, as_of="2026-07-01").ratio == D(0)
    assert ds.portfolio_at_risk(days=76).ratio == D("0.7407")


def test_par_per_area(ds):
    assert ds.filter(area_id="A1").par_30_60_90().par30.ratio == D(0)
    assert ds.filter(area_id="A2").par_30_60_90().par30.ratio == D(1)
    empty = ds.filter(area_id="nowhere")
    assert empty.counts["installments"] == 0 and empty.counts["areas"] == 2
    # No record left to take the currency from: the parent's single currency applies.
    assert empty.par_30_60_90().par30.outstanding == D(0)
    assert ds.filter(customer_id="K1").counts["payments"] == 2


def test_collection_rate(ds):
    rate = ds.collection_rate()
    assert (rate.due, rate.collected, rate.rate) == (D(500000), D(280000), D("0.56"))
    row = rate[0]
    assert (row["from"], row["to"]) == (datetime.date(2026, 3, 1), AS_OF)
    assert ds.collection_rate(from_="2026-08-01", to="2026-08-31").rate is None


def test_simulate_tariff(ds):
    cheaper = dict(ds.tariffs[0], price_per_kwh=D(400), fees=[])
    rows = micropower.simulate_tariff(ds, cheaper)
    assert [(r.payment_id, r.energy_money, r.kwh, r.simulated.kwh, r.simulated.cost, r.simulated.credit)
            for r in rows] == [
        ("pay1", D(4997), D("9.61"), D("12.49"), D(4996), D(1)),
        ("pay2", D(10000), D("19.23"), D(25), D(10000), D(0)),
        ("pay3", D(2600), D(5), D("6.5"), D(2600), D(0)),
    ]
    for row in rows:
        assert row.simulated == micropower.energy_for_money(cheaper, row.energy_money)
    with pytest.raises(micropower.InvalidInputError):
        ds.simulate_tariff(dict(cheaper, price_per_kwh=0))


def test_reports_as_dataframes(ds):
    pandas = pytest.importorskip("pandas")
    frame = ds.revenue(by="area").to_pandas()
    assert isinstance(frame, pandas.DataFrame)
    assert list(frame.columns) == ["period_start", "group", "group_id", "by_kind.installment",
                                   "by_kind.access_rate", "by_kind.energy", "by_kind.eaas", "total"]
    assert set(frame["group"]) == {"Bukoba", "Musoma"}, "area names, not ids"
    assert frame["total"].sum() == D(268597)
    assert len(ds.payments.to_pandas()) == 8


def test_to_pandas_without_pandas(ds, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        ds.debt_aging().to_pandas()


def test_chunked_reads_give_the_same_dataset(monkeypatch):
    import micropower.analyst as analyst

    monkeypatch.setattr(analyst, "_CHUNK", 7)
    small = micropower.load_export(FIXTURE_EXPORT)
    assert small.counts == micropower.load_export(FIXTURE_EXPORT).counts
    assert small.debt_aging().outstanding == D(270000)


def test_an_open_file_and_a_missing_final_newline():
    text = FIXTURE_EXPORT.read_bytes().rstrip(b"\n")
    ds = micropower.load_export(io.BytesIO(text))
    assert ds.counts["payments"] == 8 and ds.skipped == {"audit_entry": 1}


def test_a_bad_line_is_named():
    lines = FIXTURE_EXPORT.read_text().splitlines()
    lines[5] = '{"type": "payment", "payment_id": "x"}'
    with pytest.raises(micropower.InvalidInputError) as raised:
        micropower.load_export(io.BytesIO("\n".join(lines).encode()))
    assert raised.value.field == "export line 6"
    with pytest.raises(micropower.InvalidInputError):
        micropower.load_export(io.BytesIO(b'{"type":"meta","version":99}\n'))


def test_currency_must_be_chosen_when_there_are_several():
    lines = [json.loads(line) for line in FIXTURE_EXPORT.read_text().splitlines()]
    kes = dict(next(line for line in lines if line["type"] == "installment"), currency="KES", plan_id="PK")
    text = "\n".join(json.dumps(line) for line in lines + [kes])
    ds = micropower.load_export(io.BytesIO(text.encode()))
    with pytest.raises(ValueError, match="KES, TZS"):
        ds.debt_aging()
    assert ds.debt_aging(currency="KES").outstanding == D(0)
    assert ds.debt_aging(currency="TZS").outstanding == D(270000)
    with pytest.raises(micropower.UnknownCurrencyError):
        ds.debt_aging(currency="XXX1")


def test_progress_on_stderr_without_tqdm(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    micropower.load_export(FIXTURE_EXPORT, progress=True)
    err = capsys.readouterr().err
    assert "export.jsonl: 100%" in err and "MB read" in err
    micropower.load_export(FIXTURE_EXPORT)
    assert capsys.readouterr().err == ""  # small files show no progress


def test_progress_with_tqdm(capsys):
    pytest.importorskip("tqdm")
    ds = micropower.load_export(FIXTURE_EXPORT, progress=True)
    assert ds.counts["payments"] == 8
