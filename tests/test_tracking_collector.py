"""The collector as a client meets it, on a real loopback port: bad input gets the right status and a
bad_event row or a counted refusal (never a 500, never a traceback, nothing half-written), and
privacy holds: no raw user id, e-mail or client address anywhere it writes."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text
from support.collector import CLIENT_ADDRESS, KEY, CollectorProcess

from apercite_analytics.config.urls import database_url
from apercite_analytics.store.models import BadEvent, Event

ORIGIN = "https://app.example.com"


def rows(url: str, table) -> list[dict]:
    engine = create_engine(database_url(url))
    try:
        with engine.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(select(table).order_by(table.c.id))]
    finally:
        engine.dispose()


def everything_in(url: str) -> str:
    """Every row of every table of a SQLite database, as text."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return "\n".join(
                repr(row)
                for name in inspect(connection).get_table_names()
                for row in connection.execute(text(f'SELECT * FROM "{name}"'))
            )
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def collector(tmp_path_factory):
    folder = tmp_path_factory.mktemp("collector")
    url = f"sqlite:///{folder / 'store.db'}"
    process = CollectorProcess(folder, url, url, origins=[ORIGIN], max_events=50, rate_limit=1, burst=60)
    assert process.cli("db", "upgrade").returncode == 0
    with process:
        yield process, url
    assert "Traceback" not in process.log and "unexpected" not in process.log, process.log


def counts(url: str) -> tuple[int, int]:
    return len(rows(url, Event.__table__)), len(rows(url, BadEvent.__table__))


def settled(collector, url: str, expected: tuple[int, int]) -> tuple[int, int]:
    """The table counts once the collector's writer caught up (it writes every 0.1 s)."""
    import time

    deadline = time.monotonic() + 10
    while (found := counts(url)) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    return found


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (b'{"version": 1, "events": [', 400, "malformed JSON"),
        (b"\xff\xfe not text", 400, "malformed JSON"),
        (b"[" * 10_000 + b"]" * 10_000, 400, "JSON nested too deeply"),
        (
            b'{"version": 1, "events": [{"name": "signup", "properties": {"plan": '
            + b"[" * 10_000
            + b"]" * 10_000
            + b"}}]}",
            400,
            "nested too deeply",
        ),
        (b'{"events": []}', 400, "version: expected 1"),
        (b'{"version": 1, "events": {"name": "signup"}}', 400, "events: expected an array"),
        (b'"just a string"', 400, "expected a JSON object"),
        (
            json.dumps({"version": 1, "events": [{"name": "signup"}] * 51}).encode(),
            413,
            "51 in one request, at most 50",
        ),
        (b'{"version": 1, "dropped": -3, "events": []}', 400, "dropped: expected a count"),
        (b'{"version": 1, "events": [{"name": "screenshot_rendered", "duration_ms": NaN}]}', 400, "NaN is not JSON"),
    ],
)
def test_requests_refused_whole_are_counted_and_write_nothing(collector, body, status, message):
    process, url = collector
    before = counts(url)
    answer_status, answer = process.post(body)
    assert (answer_status, message in answer["error"]) == (status, True), answer
    assert settled(process, url, before) == before


def test_oversize_bodies_get_413_by_header_and_while_read(collector):
    process, url = collector
    big = json.dumps({"version": 1, "events": [{"name": "signup", "properties": {"plan": "x" * 600_000}}]}).encode()
    assert process.post(big)[0] == 413
    status, answer, _ = process.request("POST", "/v1/events", iter([big[:300_000], big[300_000:]]))  # chunked
    assert status == 413 and "larger than" in answer["error"]


def test_bad_events_go_to_bad_event_with_the_reason_good_ones_are_stored(collector):
    process, url = collector
    now = datetime.now(UTC)
    events = [
        {"name": "signup", "user_id": 1, "properties": {"plan": "pro"}},
        {"name": "no_such_event", "user_id": 2},
        {"name": "signup", "properties": {"plan": 3}},
        {"name": "signup", "at": (now + timedelta(hours=2)).isoformat()},
        {"name": "signup", "at": (now - timedelta(days=30)).isoformat()},
        {"name": "signup", "at": "2026-12-01T08:00:00"},
        {"name": "signup", "duration_ms": 5},
        {"name": "screenshot_rendered", "duration_ms": -1},
        {"name": "signup", "user_id": {"id": 1}},
        {"name": "Bad Name!"},
        "not an object",
        {"name": "screenshot_rendered", "duration_ms": 12.5, "properties": {"width": 800}},
    ]
    before_events, before_bad = counts(url)
    status, answer = process.post({"version": 1, "events": events})
    assert status == 202 and (answer["accepted"], answer["bad"]) == (2, 10)
    assert settled(process, url, (before_events + 2, before_bad + 10)) == (before_events + 2, before_bad + 10)
    bad = rows(url, BadEvent.__table__)[-10:]
    reasons = [b["reason"] for b in bad]
    assert reasons[2].startswith("at: 1h 59m") and reasons[2].endswith("after it was received (a skewed clock?)")
    assert reasons[3].startswith(("at: 29d 23h", "at: 30d 0h")) and reasons[3].endswith("(more than 7d 0h)")
    assert reasons[:2] + reasons[4:] == [
        "unknown event 'no_such_event' (not in the event definitions)",
        "properties.plan: expected string, got integer",
        "at: no time zone offset (end it with Z or +hh:mm)",
        "duration_ms: event 'signup' has no duration (duration: false)",
        "duration_ms: must be 0 or more",
        "user_id: expected a string or an integer, got object",
        "name: not an event name (a-z, 0-9 and _, starting with a letter, at most 100)",
        "events[10]: expected an object, got string",
    ]
    assert bad[0]["name"] == "no_such_event" and bad[8]["name"] is None  # what was sent as a name, if it is one
    assert json.loads(bad[1]["properties"]) == {"plan": "integer"}  # the types, never the values


def test_origins_cors_and_the_snippet(collector):
    process, _ = collector
    ok = {"version": 1, "events": []}
    assert process.post(ok, {"Origin": "https://evil.example.net"})[0] == 403
    assert process.post(ok, {"Origin": ORIGIN})[0] == 202
    headers = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type",
    }
    status, _, answer_headers = process.request("OPTIONS", "/v1/events", None, headers)
    assert status == 200 and answer_headers["access-control-allow-origin"] == ORIGIN
    status, _, answer_headers = process.request(
        "OPTIONS", "/v1/events", None, {**headers, "Origin": "https://evil.example.net"}
    )
    assert status == 400 and "access-control-allow-origin" not in answer_headers
    status, script, answer_headers = process.request("GET", "/track.js")
    assert (
        status == 200
        and "navigator.sendBeacon" in script
        and answer_headers["content-type"].startswith("text/javascript")
    )
    # what track.js sends: text/plain (no preflight), read as JSON
    body = json.dumps({"version": 1, "events": [{"name": "page_view", "properties": {"path": "/"}}]}).encode()
    status, answer, _ = process.request(
        "POST", "/v1/events", body, {"Content-Type": "text/plain;charset=UTF-8", "Origin": ORIGIN}
    )
    assert (status, answer["accepted"]) == (202, 1)


def test_rate_limit_per_client_address(collector):
    process, _ = collector
    statuses = [other_post(process, "127.0.0.3") for _ in range(70)]
    assert statuses.count(429) >= 5 and set(statuses) == {202, 429}
    assert other_post(process, CLIENT_ADDRESS) == 202  # another client is not limited by it


def other_post(process, address: str) -> int:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", process.port, timeout=10, source_address=(address, 0))
    try:
        connection.request("POST", "/v1/events", b'{"version": 1, "events": []}')
        return connection.getresponse().status
    finally:
        connection.close()


RAW = ["alice.secret@example.com", "bob.referrer@example.com", "carol.dropped@example.com", "dave.bad@example.com"]
USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) " + (
    "Chrome/131.0.6778.86 Safari/537.36"
)


def pseudonym(value: str) -> str:
    return hmac.new(KEY.encode(), value.encode(), hashlib.sha256).hexdigest()


def test_no_raw_user_id_email_or_client_address_anywhere(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    process = CollectorProcess(tmp_path, url, url, ip="truncate")
    assert process.cli("db", "upgrade").returncode == 0
    with process:
        events = [
            {"name": "signup", "user_id": RAW[0], "properties": {"plan": "pro", "referrer": RAW[1], "email": RAW[2]}},
            {"name": "signup", "user_id": RAW[0], "properties": {"plan": "free"}},
            {"name": "no_such_event", "user_id": RAW[0], "properties": {"email": RAW[3]}},
            {"name": "signup", "user_id": RAW[0], "properties": {"plan": RAW[3], "referrer": 7}},
            {"name": "signup", "user_id": RAW[0], "properties": {RAW[3]: 1}},
            {"name": "page_view", "user_id": RAW[0], "properties": {"path": "/pricing", "browser": "made-up"}},
        ]
        status, answer = process.post({"version": 1, "events": events}, {"User-Agent": USER_AGENT})
        assert (status, answer["accepted"], answer["bad"]) == (202, 4, 2)
        assert not any(raw in json.dumps(answer) for raw in RAW)
        assert process.post(b'{"version": 1, "events": [{"name": "x", "user_id": "' + RAW[0].encode() + b'"')[0] == 400
    written = everything_in(url) + (tmp_path / "collector.prom").read_text() + process.log
    for secret in [*RAW, CLIENT_ADDRESS, "Chrome/131", USER_AGENT, KEY]:
        assert secret not in written, secret
    stored = rows(url, Event.__table__)
    assert {e["user_id"] for e in stored} == {pseudonym(RAW[0])}  # one user, one key: one pseudonym
    assert json.loads(stored[0]["properties"]) == {"plan": "pro", "referrer": pseudonym(RAW[1])}  # email dropped
    assert json.loads(stored[3]["properties"]) == {"path": "/pricing", "browser": "chrome", "os": "windows"}
    bad = rows(url, BadEvent.__table__)
    assert [b["user_id"] for b in bad] == [pseudonym(RAW[0])] * 2


def test_graceful_shutdown_writes_the_queue_and_the_collectors_own_metrics(tmp_path: Path):
    from support.storeview import stored

    url = f"sqlite:///{tmp_path / 'store.db'}"
    process = CollectorProcess(tmp_path, url, url, flush_every=3600, batch_size=100_000)  # writes only at the end
    assert process.cli("db", "upgrade").returncode == 0
    with process:
        batch = {"version": 1, "dropped": 3, "events": [{"name": "signup", "user_id": i} for i in range(50)]}
        assert process.post(batch)[0] == 202
        assert process.post({"version": 1, "events": [{"name": "nope"}]})[0] == 202
        assert process.post(b"{")[0] == 400
        assert counts(url) == (0, 0)  # queued, not written yet
    assert counts(url) == (50, 1)  # SIGTERM: uvicorn finished, then the app's shutdown wrote the queue
    own = {name: value for (name, *_), value in stored(url, daily=False).items() if name.startswith("collector.")}
    assert {k: own[k] for k in own if "latency" not in k} == {
        "collector.events.accepted": 50,
        "collector.events.bad": 1,
        "collector.events.dropped": 0,
        "collector.sdk.dropped": 3,
        "collector.requests.refused": 1,
    }
    assert own["collector.latency.p99"] >= own["collector.latency.p50"] > 0
    textfile = (tmp_path / "collector.prom").read_text()
    for line in (
        'apercite_collector_events_total{outcome="accepted"} 50',
        'apercite_collector_events_total{outcome="sdk_dropped"} 3',
        'apercite_collector_requests_refused_total{status="400"} 1',
        "apercite_collector_queue_events 0",
    ):
        assert line in textfile
    assert "collector stopped: 50 events accepted, 1 bad, 0 dropped, 1 requests refused" in process.log
    import subprocess

    checked = subprocess.run(["promtool", "check", "metrics"], input=textfile, capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_collect_says_what_is_missing_in_one_line(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'store.db'}"
    process = CollectorProcess(tmp_path, url, url)
    done = process.cli("collect")  # no `db upgrade`: no events table yet
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "no table events or bad_event (the store: `apercite-analytics db upgrade`" in done.stderr
    process.config.write_text(process.config.read_text().split("[collector]")[0])
    done = process.cli("collect")
    assert done.returncode == 2 and done.stderr.endswith("no [collector] section (see docs/tracking.md)\n")
    process.config.write_text(
        process.config.read_text() + '[collector]\nkey = "${APERCITE_EVENTS_KEY}"\nlisten = "x"\n'
    )
    done = process.cli("collect")
    assert (done.returncode, done.stderr) == (
        2,
        f"error: {process.config}: collector.listen: expected host:port, got 'x'\n",
    )


def test_two_workers_share_the_port_write_every_event_and_add_up_their_metrics(tmp_path: Path, pg_url: str):
    from support.storeview import stored

    process = CollectorProcess(tmp_path, pg_url, pg_url, workers=2, flush_every=3600, batch_size=100_000)
    assert process.cli("db", "upgrade").returncode == 0
    answered_by = set()
    with process:
        for i in range(40):  # a new connection each time: the kernel hands each one to either worker
            status, health, _ = process.request("GET", "/health")
            answered_by.add(health["worker"])
            batch = {
                "version": 1,
                "dropped": 1,
                "events": [{"name": "signup", "user_id": f"{i}-{k}"} for k in range(5)],
            }
            assert process.post(batch)[0] == 202
        assert process.post(b"{")[0] == 400
        assert counts(pg_url) == (0, 0)  # each worker keeps its queue until it stops
    assert answered_by == {1, 2}
    assert counts(pg_url) == (200, 0)  # SIGTERM to the parent: both workers wrote their queues
    own = {name: value for (name, *_), value in stored(pg_url, daily=False).items() if name.startswith("collector.")}
    assert {k: own[k] for k in own if "latency" not in k} == {  # the sum of both workers, written once
        "collector.events.accepted": 200,
        "collector.events.bad": 0,
        "collector.events.dropped": 0,
        "collector.sdk.dropped": 40,
        "collector.requests.refused": 1,
    }
    textfile = (tmp_path / "collector.prom").read_text()
    assert 'apercite_collector_events_total{outcome="accepted"} 200' in textfile
    assert "collecting on http://127.0.0.1:" in process.log and ", 2 workers" in process.log
    assert process.log.count("collector stopped:") == 1
    assert "collector stopped: 200 events accepted, 0 bad, 0 dropped, 1 requests refused" in process.log
    assert "Traceback" not in process.log


def test_a_worker_that_dies_stops_the_collector_with_one_line(tmp_path: Path):
    import os
    import signal
    import subprocess

    url = f"sqlite:///{tmp_path / 'store.db'}"
    process = CollectorProcess(tmp_path, url, url, workers=2, flush_every=3600, batch_size=100_000)
    assert process.cli("db", "upgrade").returncode == 0
    process.start()
    assert process.post({"version": 1, "events": [{"name": "signup", "user_id": 1}]})[0] == 202
    children = subprocess.run(["pgrep", "-P", str(process.process.pid)], capture_output=True, text=True).stdout.split()
    assert len(children) == 2
    os.kill(int(children[0]), signal.SIGKILL)
    assert process.process.wait(30) == 1  # not restarted in place: the service manager restarts the collector
    log = process.stop()
    assert "exited (killed by SIGKILL): stopping the others" in log and "Traceback" not in log
    assert "collector stopped:" in log
