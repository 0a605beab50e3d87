"""load_export of an http URL (standard library only): the bearer key, the server's error bodies, and
downloads without a Content-Length. A small local HTTP server (loopback) serves the fixture export."""

import http.server
import json
import threading

import pytest

import micropower
from conftest import FIXTURE_EXPORT

KEY = "test-key-123"


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802 - the standard library's name
        if self.headers.get("Authorization") != "Bearer " + KEY:
            return self.answer(401, {"code": "unauthorized", "message": "missing or unknown API key"})
        if self.path == "/v1/export":
            body = FIXTURE_EXPORT.read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/v1/export?unknown-length":
            # No Content-Length: the body ends when the connection closes.
            self.send_response(200)
            self.send_header("Content-Type", "application/x-ndjson")
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(FIXTURE_EXPORT.read_bytes())
            self.close_connection = True
        else:
            self.answer(404, {"code": "not_found", "message": "no such path", "entity": "path", "id": self.path})

    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(scope="module")
def base():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d" % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_an_export_over_http(base):
    ds = micropower.load_export(base + "/v1/export", api_key=KEY)
    assert ds.counts["payments"] == 8 and ds.debt_aging().outstanding == 270000


def test_a_download_of_unknown_length_shows_progress(base, capsys):
    ds = micropower.load_export(base + "/v1/export?unknown-length", api_key=KEY)
    assert ds.counts["installments"] == 9
    assert capsys.readouterr().err  # tqdm or the plain line: the size was unknown


def test_server_errors_become_exceptions(base):
    with pytest.raises(micropower.MicropowerError) as raised:
        micropower.load_export(base + "/v1/export", api_key="wrong")
    assert (raised.value.code, raised.value.status) == ("unauthorized", 401)
    with pytest.raises(micropower.NotFoundError) as raised:
        micropower.load_export(base + "/v1/nope", api_key=KEY)
    assert raised.value.status == 404 and raised.value.entity == "path"
