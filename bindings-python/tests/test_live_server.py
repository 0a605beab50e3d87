"""Round trip against a live server: register and pay through the HTTP API, then `load_export` of
`GET /v1/export` must give the same reports as the server's `GET /v1/reports/*`.

Runs when the server has the export endpoint: `scripts/test.d/20-python.sh` builds `micropower-server` and
passes it in MICROPOWER_SERVER_BIN once `host-server/src/app.rs` routes `/export`. The server runs with
the native core, a temporary SQLite database and an admin key, on a free loopback port.

The report endpoints take `from`, `to`, `group_by`, `by`, `days`, `as_of` and `currency` and answer with the
core's report JSON (host-server/src/routes/reports.rs); every date here is explicit, so nothing depends on
the day the test runs.
"""

import datetime
import json
import os
import pathlib
import secrets
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

import micropower
from conftest import REPO, canonical_json


def _has_export_route():
    app = REPO / "host-server" / "src" / "app.rs"
    return app.exists() and '"/export"' in app.read_text()


pytestmark = pytest.mark.skipif(
    not _has_export_route(),
    reason="the server has no GET /v1/export yet (not routed in host-server/src/app.rs): "
           "the round trip runs once the lead's export endpoint is merged",
)


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, base, key):
        self.base, self.key = base, key

    def request(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method, headers={
            "Authorization": "Bearer " + self.key, "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as e:
            raise AssertionError("%s %s -> %s %s" % (method, path, e.code, e.read()[:500])) from None

    def post(self, path, body):
        return self.request("POST", path, body)

    def get(self, path):
        return self.request("GET", path)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    binary = os.environ.get("MICROPOWER_SERVER_BIN")
    if not binary or not pathlib.Path(binary).exists():
        pytest.skip("MICROPOWER_SERVER_BIN is not set (scripts/test.d/20-python.sh builds the server)")
    data = tmp_path_factory.mktemp("server")
    port, key = _free_port(), "admin-" + secrets.token_hex(16)
    env = dict(os.environ, MICROPOWER_CORE="native", DATABASE_URL="sqlite://%s/micropower.db?mode=rwc" % data,
               MICROPOWER_ADMIN_KEY=key, MICROPOWER_LISTEN="127.0.0.1:%d" % port, MICROPOWER_DATA_DIR=str(data),
               MICROPOWER_SECRET_KEY=secrets.token_hex(32))
    log = open(data / "server.log", "wb")
    process = subprocess.Popen([binary], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=data)
    base = "http://127.0.0.1:%d" % port
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("the server did not start:\n" + (data / "server.log").read_text()[-3000:])
            time.sleep(0.2)
        yield Server(base, key)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


@pytest.fixture(scope="module")
def populated(server):
    """Two areas; meters in one, SHS on weekly plans in both; payments from January to March 2026."""
    cluster = server.post("/v1/clusters", {"name": "Lake Zone"})
    villages = []
    for name in ("Bukoba", "Musoma"):
        area = server.post("/v1/areas", {"name": name, "cluster_id": cluster["id"]})
        villages.append(server.post("/v1/villages", {"name": name + " village", "area_id": area["id"]})["id"])
    shs_maker = server.post("/v1/manufacturers", {"name": "SunCo", "device_kinds": ["solar_home_system"],
                                                  "token_scheme": "openpaygo"})["id"]
    meter_maker = server.post("/v1/manufacturers", {"name": "MeterCo", "device_kinds": ["meter"],
                                                    "token_scheme": "external"})["id"]
    tariff = server.post("/v1/tariffs", {"name": "Residential", "currency": "TZS", "price_per_kwh": "500",
                                         "fees": [{"name": "levy", "price_per_kwh": "20"}],
                                         "access_rate": {"amount": "300", "period_days": 7}})["id"]
    phones = iter(range(100))

    def customer(village):
        return {"name": "Amina", "surname": "Juma", "phone": "+2557123%05d" % next(phones), "village_id": village}

    for n, village in enumerate(villages):
        server.post("/v1/registrations", {
            "customer": customer(village),
            "device": {"serial": "SHS-%d" % n, "kind": "solar_home_system", "manufacturer_id": shs_maker,
                       "openpaygo": {"secret_key": "a29ab82edc5fbbc41ec9530f6dac86b%d" % n,
                                     "starting_code": 123456789, "count": 0}},
            "plan": {"appliance": "SHS 80W", "currency": "TZS", "total_cost": "21000", "down_payment": "0",
                     "installments": 6, "period": "weekly", "start_date": "2026-01-01"},
            "registered_on": "2026-01-01"})
    server.post("/v1/registrations", {
        "customer": customer(villages[0]),
        "device": {"serial": "MTR-1", "kind": "meter", "manufacturer_id": meter_maker, "tariff_id": tariff},
        "registered_on": "2026-01-01"})
    payments = [("SHS0", "3500", "2026-01-08"), ("SHS0", "3500", "2026-01-15"), ("SHS0", "2000", "2026-02-20"),
                ("SHS1", "3500", "2026-01-09"), ("MTR1", "2000", "2026-01-10"), ("MTR1", "5200", "2026-02-03"),
                ("MTR1", "100", "2026-03-01")]
    for n, (serial, amount, day) in enumerate(payments):
        server.post("/v1/payments", {"provider": "test", "provider_tx_id": "tx-%d" % n, "serial": serial,
                                     "amount": amount, "currency": "TZS", "received_at": day + "T09:30:00Z"})
    return server


def test_export_reports_equal_the_servers(populated):
    server = populated
    ds = micropower.load_export(server.base + "/v1/export", api_key=server.key)
    assert ds.counts["payments"] == 7 and ds.counts["installments"] == 12 and ds.counts["areas"] == 2
    assert ds.skipped == {}
    start, end = datetime.date(2026, 1, 1), datetime.date(2026, 3, 31)
    window = "from=2026-01-01&to=2026-03-31"

    for group_by, by in (("month", "none"), ("week", "area"), ("day", "kind")):
        theirs = server.get("/v1/reports/revenue?%s&group_by=%s&by=%s&currency=TZS" % (window, group_by, by))
        assert json.loads(ds._native.revenue("TZS", "2026-01-01", "2026-03-31", group_by, by)) == theirs
        ours = ds.revenue(currency="TZS", from_=start, to=end, group_by=group_by, by=by)
        assert canonical_json(list(ours.core.rows)) == theirs["rows"] and canonical_json(ours.total) == theirs["total"]
        if by == "area":
            # The server's groups and the analyst's rows speak the registry's names.
            assert {row["group"]["name"] for row in theirs["rows"]} == {row.group for row in ours} != {None}
    assert ds.revenue(currency="TZS", from_=start, to=end).total > 0

    theirs = server.get("/v1/reports/energy?%s&group_by=month" % window)
    assert canonical_json(list(ds.energy_sold(from_=start, to=end))) == theirs["rows"]

    for as_of in ("2026-01-20", "2026-02-28", "2026-04-15"):
        theirs = server.get("/v1/reports/debt?as_of=%s&currency=TZS" % as_of)
        aging = ds.debt_aging(currency="TZS", as_of=as_of)
        assert canonical_json(aging.outstanding) == theirs["outstanding"]
        assert {row.bucket: canonical_json(dict(row)) for row in aging if row.bucket != "access_rate"} == {
            name: dict(theirs[name], bucket=name) for name in theirs if name.startswith(("current", "days_"))}
        assert canonical_json(dict(aging.access_rate)) == theirs["access_rate"]
        for days in (30, 60):
            theirs = server.get("/v1/reports/par?days=%d&as_of=%s&currency=TZS" % (days, as_of))
            assert canonical_json(dict(ds.portfolio_at_risk(days, currency="TZS", as_of=as_of)[0])) == theirs

    theirs = server.get("/v1/reports/collection?from=2026-01-01&to=2026-02-28&currency=TZS")
    rate = ds.collection_rate(currency="TZS", from_="2026-01-01", to="2026-02-28")
    assert {k: canonical_json(rate[0][k]) for k in ("due", "collected", "rate")} == theirs


def test_export_needs_the_key(populated):
    with pytest.raises(micropower.MicropowerError) as raised:
        micropower.load_export(populated.base + "/v1/export", api_key="wrong")
    assert raised.value.status == 401
