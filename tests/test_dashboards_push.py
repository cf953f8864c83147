"""`dashboards push` through grafana-client against a Grafana HTTP API stand-in on a loopback port.

grafana-client 5 talks HTTP through niquests, which the `responses` library does not intercept, so
the stand-in is a real HTTP server answering the documented endpoints with the documented shapes
(Grafana HTTP API: data sources, folders, dashboards); the client and its transport are real.
"""

from __future__ import annotations

import base64
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from apercite_analytics.cli import main as cli
from apercite_analytics.dashboards.build import generated

TOKEN = "glsa_test_token"


class FakeGrafana:
    """Records every request; answers like Grafana 11 for the endpoints `push` uses."""

    def __init__(self, *, datasources=("apercite-store",), folders=()):
        self.requests: list[tuple[str, str, str | None, dict | None]] = []
        self.datasources = set(datasources)
        self.folders = set(folders)
        self.dashboards: dict[str, dict] = {}
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _answer(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                auth = self.headers.get("Authorization")
                fake.requests.append((method, self.path, auth, body))
                if auth not in (f"Bearer {TOKEN}", "Basic " + base64.b64encode(b"admin:s3cret").decode()):
                    return self._answer(401, {"message": "Invalid API key"})
                status, answer = fake.route(method, self.path, body)
                self._answer(status, answer)

            def do_GET(self):
                self._handle("GET")

            def do_POST(self):
                self._handle("POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def route(self, method: str, path: str, body: dict | None) -> tuple[int, dict]:
        if method == "GET" and path.startswith("/api/datasources/uid/"):
            uid = path.rsplit("/", 1)[1]
            if uid not in self.datasources:
                return 404, {"message": "Data source not found"}
            return 200, {
                "id": 1,
                "uid": uid,
                "orgId": 1,
                "name": "apercite-analytics store",
                "type": "grafana-postgresql-datasource",
                "access": "proxy",
                "url": "db:5432",
                "user": "grafana_reader",
                "database": "",
                "basicAuth": False,
                "isDefault": False,
                "jsonData": {"database": "analytics", "sslmode": "require"},
                "readOnly": True,
            }
        if method == "GET" and path.startswith("/api/folders/"):
            uid = path.rsplit("/", 1)[1]
            if uid not in self.folders:
                return 404, {"message": "folder not found", "status": "not-found"}
            return 200, {"id": 7, "uid": uid, "title": uid, "url": f"/dashboards/f/{uid}/", "version": 1}
        if method == "POST" and path == "/api/folders":
            self.folders.add(body["uid"])
            uid = body["uid"]
            return 200, {"id": 7, "uid": uid, "title": body["title"], "url": f"/dashboards/f/{uid}/", "version": 1}
        if method == "POST" and path == "/api/dashboards/db":
            dashboard = body["dashboard"]
            if body.get("folderUid") not in self.folders:
                return 400, {"message": "folder not found"}
            version = self.dashboards.get(dashboard["uid"], {}).get("version", 0) + 1
            self.dashboards[dashboard["uid"]] = {**dashboard, "version": version}
            slug = dashboard["title"].lower().replace(" ", "-")
            return 200, {
                "id": len(self.dashboards),
                "uid": dashboard["uid"],
                "url": f"/d/{dashboard['uid']}/{slug}",
                "status": "success",
                "version": version,
                "slug": slug,
            }
        return 404, {"message": "Not found"}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def grafana():
    fake = FakeGrafana()
    yield fake
    fake.close()


def expected_models() -> dict[str, dict]:
    return {m["uid"]: m for m in (json.loads(body) for body in generated().values())}


def test_push_creates_the_folder_and_uploads_every_dashboard(grafana, monkeypatch, capsys):
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    assert cli.main(["dashboards", "push", "--url", grafana.url]) == 0
    calls = [(method, path) for method, path, _, _ in grafana.requests]
    assert calls[:3] == [
        ("GET", "/api/datasources/uid/apercite-store"),
        ("GET", "/api/folders/apercite-analytics"),
        ("POST", "/api/folders"),
    ]
    assert calls[3:] == [("POST", "/api/dashboards/db")] * 5
    assert all(auth == f"Bearer {TOKEN}" for _, _, auth, _ in grafana.requests)
    assert grafana.requests[2][3] == {"title": "apercite-analytics", "uid": "apercite-analytics"}
    models = expected_models()
    for _, _, _, body in grafana.requests[3:]:
        assert body["folderUid"] == "apercite-analytics" and body["overwrite"] is True
        assert body["dashboard"] == {**models[body["dashboard"]["uid"]], "id": None}
    err = capsys.readouterr().err
    assert "Business: success, version 1, /d/apercite-business/business" in err

    # a second push overwrites: no folder creation, new versions
    grafana.requests.clear()
    assert cli.main(["dashboards", "push", "--url", grafana.url]) == 0
    assert ("POST", "/api/folders") not in [(m, p) for m, p, _, _ in grafana.requests]
    assert "Workers: success, version 2" in capsys.readouterr().err


def test_push_to_another_data_source_uid_with_basic_auth(monkeypatch, capsys):
    grafana = FakeGrafana(datasources=["P1809F7CD0C75ACF3"], folders=["apercite-analytics"])
    try:
        monkeypatch.setenv("GRAFANA_PASSWORD", "s3cret")
        argv = ["dashboards", "push", "--url", grafana.url, "--user", "admin", "--datasource-uid", "P1809F7CD0C75ACF3"]
        assert cli.main(argv) == 0
        assert grafana.requests[0][1] == "/api/datasources/uid/P1809F7CD0C75ACF3"
        assert grafana.requests[0][2].startswith("Basic ")
        pushed = json.dumps([body for _, _, _, body in grafana.requests if body])
        assert "apercite-store" not in pushed and pushed.count('"uid": "P1809F7CD0C75ACF3"') > 40
    finally:
        grafana.close()


def test_missing_data_source_is_one_clear_error(monkeypatch, capsys):
    grafana = FakeGrafana(datasources=[])
    try:
        monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
        assert cli.main(["dashboards", "push", "--url", grafana.url]) == 1
        err = capsys.readouterr().err
        assert f"Grafana at {grafana.url} has no data source with uid 'apercite-store'" in err
        assert "--datasource-uid" in err and "Traceback" not in err
        assert len(grafana.requests) == 1  # nothing uploaded
    finally:
        grafana.close()


def test_bad_token_unreachable_grafana_and_missing_credentials(grafana, monkeypatch, capsys):
    monkeypatch.setenv("GRAFANA_TOKEN", "wrong")
    assert cli.main(["dashboards", "push", "--url", grafana.url]) == 1
    err = capsys.readouterr().err
    assert "HTTP 401: Invalid API key (check GRAFANA_TOKEN, or --user and GRAFANA_PASSWORD)" in err

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("GRAFANA_TOKEN", TOKEN)
    assert cli.main(["dashboards", "push", "--url", f"http://127.0.0.1:{port}", "--timeout", "2"]) == 1
    err = capsys.readouterr().err
    # one line with the reason, not urllib3's pool, retries and object addresses
    where = f"Grafana at http://127.0.0.1:{port}: data source 'apercite-store'"
    assert err == f"error: {where}: cannot connect: Connection refused\n"

    monkeypatch.delenv("GRAFANA_TOKEN")
    assert cli.main(["dashboards", "push", "--url", grafana.url]) == 2
    assert "set $GRAFANA_TOKEN" in capsys.readouterr().err
    assert cli.main(["dashboards", "push", "--url", grafana.url, "--user", "admin"]) == 2
    assert "set the password in $GRAFANA_PASSWORD" in capsys.readouterr().err
