"""No slow source hangs the run: a total deadline per HTTP request (json, prometheus), and the run
deadline (`[run] deadline`) after which the chains not finished are failed and everything already
read is written. Real servers on loopback ports, the real CLI in a subprocess."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support.drip_server import DripServer

from apercite_analytics.errors import SourceError
from apercite_analytics.readers import json as json_reader
from apercite_analytics.readers import prometheus
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
    assert seconds < 2.5, f"took {seconds:.1f} s: the timeout bounded each read, not the request"
    assert str(raised.value) == f"GET {server.url}/usage: timed out after 1 s"


def test_a_prometheus_answer_dripping_fails_at_its_request_deadline():
    with DripServer(interval=0.1, size=100) as server:
        settings = prometheus.Settings(url=server.url, queries={}, timeout=1, retries=2, backoff=0.01)
        started = time.monotonic()
        with pytest.raises(SourceError) as raised, prometheus.PrometheusApi(settings) as api:
            api.query_range("q", "up", datetime(2025, 1, 6, 1, tzinfo=UTC), datetime(2025, 1, 6, 2, tzinfo=UTC))
        seconds = time.monotonic() - started
        assert server.requests == 1  # a timeout is not retried
    assert seconds < 2.5, f"took {seconds:.1f} s: the timeout bounded each read, not the request"
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
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "apercite_analytics", "read", *args, "--write", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return result, time.monotonic() - started


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
    assert seconds < 12, f"took {seconds:.1f} s with a run deadline of 3 s"
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
