"""No slow source hangs the run: a total deadline per HTTP request (json, prometheus), and the run
deadline (`[run] deadline`) after which the chains not finished are failed and everything already
read is written. Real servers on loopback ports, the real CLI in a subprocess."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from http.client import HTTPException
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from support.drip_server import DripServer
from support.http_answers import AnsweringServer
from support.ports import free_port
from support.textfile import parse_textfile

from apercite_analytics.errors import SourceError
from apercite_analytics.readers import json as json_reader
from apercite_analytics.readers import prometheus
from apercite_analytics.readers.common import http
from apercite_analytics.window import Window

WINDOW = Window.from_args("2025-01-06", "2025-01-06T02:00", now=datetime(2025, 1, 7, tzinfo=UTC))


@pytest.mark.parametrize("headers", [False, True], ids=["body", "headers"])
def test_a_json_document_dripping_fails_at_its_request_deadline(headers):
    # 100 bytes, a byte every 0.1 s: each read is quick, the whole answer takes 10 s
    with DripServer(interval=0.1, size=100, headers=headers) as server:
        document = json_reader.Document(url=server.url + "/usage", timeout=1, retries=0)
        node = json_reader.ReadDocument("usage", document, WINDOW)
        started = time.monotonic()
        with pytest.raises(SourceError) as raised:
            list(node())
        seconds = time.monotonic() - started
    assert seconds < 3, f"took {seconds:.1f} s: the timeout bounded each read, not the request"
    assert str(raised.value) == f"GET {server.url}/usage: timed out after 1 s"


def test_a_prometheus_answer_dripping_fails_at_its_request_deadline():
    with DripServer(interval=0.1, size=100) as server:
        settings = prometheus.Settings(url=server.url, queries={}, timeout=1, retries=2, backoff=0.01)
        started = time.monotonic()
        with pytest.raises(SourceError) as raised, prometheus.PrometheusApi(settings) as api:
            api.query_range("q", "up", datetime(2025, 1, 6, 1, tzinfo=UTC), datetime(2025, 1, 6, 2, tzinfo=UTC))
        seconds = time.monotonic() - started
        assert server.requests == 1  # a timeout is not retried
    assert seconds < 3, f"took {seconds:.1f} s: the timeout bounded each read, not the request"
    assert str(raised.value) == (
        f"Prometheus at {server.url}: query 'q' got no answer within 1 s (timeout; raise it, or lower max_points)"
    )


@pytest.fixture
def website(tmp_path: Path) -> Path:
    path = tmp_path / "website.db"
    with sqlite3.connect(path) as db:
        db.executescript("CREATE TABLE users (id INTEGER PRIMARY KEY); INSERT INTO users VALUES (1), (2), (3);")
    return path


def cli(config: Path, *args: str, timeout: float = 120) -> tuple[subprocess.CompletedProcess, float]:
    """The run, and how long it took by its own summary (`run … (6.2 s, readers: …)`): the time from
    the start of the run to its verdict, without the interpreter's start (seconds on a loaded machine)."""
    result = subprocess.run(
        [sys.executable, "-m", "apercite_analytics", "read", *args, "--write", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    summary = re.search(r"^run .* \((\d+\.\d) s, readers: ", result.stderr, re.MULTILINE)
    assert summary, result.stderr
    return result, float(summary.group(1))


def test_the_run_deadline_fails_unfinished_readers_and_writes_the_rest(tmp_path, website):
    with DripServer(interval=0.1, size=2000) as server:  # 200 s to answer; its request timeout is 60 s
        config = tmp_path / "analytics.toml"
        config.write_text(f"""
[run]
deadline = 3

[store]
url = "sqlite:///{tmp_path / "store.db"}"

[sources.website]
url = "sqlite:///{website}"

[readers.objects]
source = "website"
tables = ["users"]

[readers.json.documents.usage]
url = "{server.url}/usage"
timeout = 60
retries = 0
""")
        result, seconds = cli(config, "objects", "json")
    assert 3 <= seconds < 3 + 3, f"took {seconds:.1f} s with a run deadline of 3 s"
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert errors == [
        "error: json.usage: not finished by the run deadline (3 s, [run] deadline): stopped; "
        "the 0 records it gave before are kept"
    ]
    db = sqlite3.connect(tmp_path / "store.db")
    values = dict(db.execute("SELECT m.name, v.value FROM hourly_value v JOIN metric m ON m.id = v.metric_id"))
    assert values["objects.users.count"] == 3
    status, logged = db.execute("SELECT status, errors FROM run_log").fetchone()
    assert status == "failed" and logged == errors[0].removeprefix("error: ")
    assert sorted(db.execute("SELECT reader, status FROM run_reader")) == [("json", "failed"), ("objects", "ok")]
    db.close()


def test_chaos_healthy_sources_are_written_exactly_and_every_failure_is_told_the_same_everywhere(
    tmp_path, website, pg_url
):
    """`read all --write` against healthy sources and every failing kind at once: a dripping HTTP
    server (cut by the run deadline, and by a request deadline), a dead port, a PostgreSQL statement
    timing out, a bad payload. It ends within the run deadline, writes every healthy value exactly,
    exits 1, and stderr, run_log and the textfile agree."""
    (tmp_path / "usage.json").write_text('{"accounts": {"active": 41, "trial": 7.5}}')
    drip, bad = DripServer(interval=0.1, size=5000), AnsweringServer()
    bad.answer("/usage", (200, b"<html>maintenance</html>"))  # 200, and not JSON
    config = tmp_path / "analytics.toml"
    config.write_text(f"""
[run]
deadline = 6

[store]
url = "sqlite:///{tmp_path / "store.db"}"

[monitoring]
textfile = "metrics/apercite.prom"

[sources.website]
url = "sqlite:///{website}"

[sources.warehouse]
url = "{pg_url}"
query_timeout = 1

[readers.objects]
source = "website"
tables = ["users"]

[readers.sql.queries.users]
source = "website"
sql = "SELECT count(*) AS total, max(id) AS newest FROM users"
time_column = ""
metric = "app.users.{{column}}"

[readers.sql.queries.report]
source = "warehouse"
sql = "SELECT date_trunc('hour', now()) AS time, 1 AS one FROM pg_sleep(30)"

[readers.json.documents.usage]
path = "{tmp_path / "usage.json"}"

[readers.json.documents.drip]
url = "{drip.url}/usage"
timeout = 600
retries = 0

[readers.json.documents.dead]
url = "http://127.0.0.1:{free_port()}/usage"
retries = 0

[readers.json.documents.bad]
url = "{bad.url}/usage"
retries = 0

[readers.prometheus]
url = "{drip.url}"
timeout = 2
retries = 0

[readers.prometheus.queries.up]
expr = "up"
metric = "targets.up"
""")
    try:
        started = datetime.now(UTC)
        result, seconds = cli(config, "all")
    finally:
        drip.close()
        bad.close()
    assert 6 <= seconds < 6 + 3, f"took {seconds:.1f} s with a run deadline of 6 s"
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    errors = sorted(line.removeprefix("error: ") for line in result.stderr.splitlines() if line.startswith("error: "))
    expected_starts = [
        "json.bad: ",
        "json.dead: GET http://127.0.0.1:",
        "json.drip: not finished by the run deadline (6 s, [run] deadline)",
        "prometheus.up: Prometheus at http://127.0.0.1:",
        "sql.report: source 'warehouse' (postgresql://postgres@127.0.0.1",
    ]
    assert len(errors) == len(expected_starts), result.stderr
    for line, start in zip(errors, expected_starts, strict=True):
        assert line.startswith(start), line
    assert "not a JSON document" in errors[0] and "Connection refused" in errors[1]
    assert "got no answer within 2 s" in errors[3] and "canceling statement due to statement timeout" in errors[4]
    summary = result.stderr.splitlines()[-1]
    assert summary.startswith("run FAILED: 5 node errors ("), summary

    db = sqlite3.connect(tmp_path / "store.db")
    values = {
        (name, day, hour): value
        for name, day, hour, value in db.execute(
            "SELECT m.name, v.date, v.hour, v.value FROM hourly_value v JOIN metric m ON m.id = v.metric_id"
            " WHERE m.name NOT LIKE 'etl.%'"
        )
    }
    daily = dict(db.execute("SELECT m.name, v.value FROM daily_value v JOIN metric m ON m.id = v.metric_id"))
    hour = (f"{started:%Y-%m-%d}", started.hour)
    assert values == {
        ("objects.users.count", *hour): 3,
        ("app.users.total", *hour): 3,
        ("app.users.newest", *hour): 3,
    }
    assert daily == {"usage.accounts.active": 41, "usage.accounts.trial": 7.5}
    status, logged = db.execute("SELECT status, errors FROM run_log").fetchone()
    assert status == "failed" and sorted(logged.splitlines()) == errors
    readers = dict(db.execute("SELECT reader, status FROM run_reader"))
    assert readers == {"objects": "ok", "sql": "failed", "json": "failed", "prometheus": "failed"}
    etl = dict(db.execute("SELECT m.name, v.value FROM hourly_value v JOIN metric m ON m.id = v.metric_id"))
    assert etl["etl.run.errors"] == 5 and etl["etl.run.values"] == 5
    db.close()

    samples = parse_textfile((tmp_path / "metrics" / "apercite.prom").read_text())
    assert samples[("apercite_run_success", "")] == 0 and samples[("apercite_run_errors", "")] == 5
    for reader, state in readers.items():
        assert samples[("apercite_reader_last_run_success", f'reader="{reader}"')] == (state == "ok")


def test_the_http_helper_follows_redirects_within_one_deadline():
    """urllib followed redirects for the json reader; the deadline-bound GET does too (credentials
    stay with their host), and the whole chain of requests shares one deadline."""
    seen: list[tuple[str, str | None]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append((self.path, self.headers.get("Authorization")))
            if self.path == "/loop":
                self.send_response(302)
                self.send_header("Location", "/loop")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path == "/away":  # another host (the same server by another name)
                self.send_response(307)
                self.send_header("Location", f"http://localhost:{self.server.server_address[1]}/new")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if self.path == "/old":
                self.send_response(301)
                self.send_header("Location", "/new?x=1")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = b'{"n": 2}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        answer = http.get(base + "/old", timeout=5, max_bytes=100, auth=("u", "p"))
        assert (answer.status, answer.body) == (200, b'{"n": 2}')
        assert [path for path, _ in seen] == ["/old", "/new?x=1"]
        assert all(auth == "Basic dTpw" for _, auth in seen)  # same host: the credentials go along
        seen.clear()
        assert http.get(base + "/away", timeout=5, max_bytes=100, auth=("u", "p")).status == 200
        assert seen == [("/away", "Basic dTpw"), ("/new", None)]  # another host: not the credentials
        with pytest.raises(HTTPException, match="more than 5 redirects"):
            http.get(base + "/loop", timeout=5, max_bytes=100)
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_a_chain_reads_ahead_a_bounded_number_of_values_however_wide_its_records():
    from datetime import date

    from apercite_analytics.run import guard

    def reader(made: list, width: int, count: int):
        def node():
            for i in range(count):
                made.append(i)
                yield ({"date": date(2026, 1, 1), "hour": 0}, {f"m{k}": 1 for k in range(width)})

        return node

    for width, bound in ((5000, -(-guard.AHEAD_VALUES // 5000)), (1, guard.AHEAD)):  # records that may wait
        made: list[int] = []
        records = guard.GuardedChain(reader(made, width, 3 * bound), "c", None, time.monotonic() + 60, 60)()
        next(records)
        time.sleep(0.5)  # the chain's thread reads ahead while the graph takes nothing
        assert bound <= len(made) <= bound + 2, (width, len(made))  # what waits, plus one in hand and one taken
        assert sum(1 for _ in records) == 3 * bound - 1  # and then everything comes, in order
