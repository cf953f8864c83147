"""The SDK inside a host app: never raises, never blocks (a dead or hanging collector costs track()
nothing), counts every drop exactly, gives a forked child its own queue, flushes at exit, is
thread-safe, imports nothing heavy, and can write straight into a database."""

from __future__ import annotations

import json
import logging
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from support.collector import CollectorProcess
from support.ports import free_port

from apercite_analytics.store.models import Event
from apercite_analytics.tracking.sdk import SQLDestination, Tracker

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    folder = tmp_path_factory.mktemp("sdk")
    url = f"sqlite:///{folder / 'store.db'}"
    process = CollectorProcess(folder, url, url, rate_limit=1000, burst=10_000)
    assert process.cli("db", "upgrade").returncode == 0
    with process:
        yield process, url


def stored_plans(url: str) -> list[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return [json.loads(p).get("plan") for p in connection.execute(select(Event.properties)).scalars()]
    finally:
        engine.dispose()


def wait_for(predicate, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.05)
    return predicate()


def median_track_seconds(tracker: Tracker, n: int = 2000) -> float:
    timings = []
    for i in range(n):
        started = time.perf_counter()
        tracker.track("signup", user_id=i, properties={"plan": "timing"})
        timings.append(time.perf_counter() - started)
    return statistics.median(timings)


def test_a_dead_or_hanging_collector_never_raises_or_blocks_track(live):
    process, _ = live
    hanging = socket.socket()  # accepts connections into its backlog and never answers
    hanging.bind(("127.0.0.1", 0))
    hanging.listen(64)
    try:
        trackers = {
            "live": Tracker.http(process.url, queue_size=100_000),
            "dead": Tracker.http(f"http://127.0.0.1:{free_port()}", queue_size=1000),
            "hanging": Tracker.http(f"http://127.0.0.1:{hanging.getsockname()[1]}", queue_size=1000, timeout=1),
        }
        medians = {}
        for _ in range(3):  # interleaved rounds: the machine's load hits all three alike
            for name, tracker in trackers.items():
                medians.setdefault(name, []).append(median_track_seconds(tracker))
        live_median = min(medians["live"])
        for name in ("dead", "hanging"):
            assert min(medians[name]) <= 3 * live_median, medians
        started = time.monotonic()
        trackers["hanging"].close(timeout=0.5)
        assert time.monotonic() - started < 2  # exit waits at most its timeout, then counts the rest as dropped
        for name, tracker in trackers.items():  # a failed batch waits flush_every before the next: close cuts it short
            tracker.close(timeout=10 if name == "live" else 1)
        for name in ("dead", "hanging"):
            counts = trackers[name].stats()
            assert counts["sent"] == 0 and counts["dropped"] == counts["tracked"] == 6000, counts
    finally:
        hanging.close()


def test_drop_counts_are_exact_and_reach_the_collector(live):
    process, url = live
    tracker = Tracker.http(process.url, queue_size=100, batch_size=1000, flush_every=3600)  # sends only when told
    results = [tracker.track("signup", properties={"plan": "overflow"}) for _ in range(250)]
    assert results.count(True) == 100 and results.count(False) == 150
    assert tracker.stats() | {"queued": 100} == {
        "tracked": 250,
        "sent": 0,
        "dropped_queue_full": 150,
        "dropped_send_failed": 0,
        "dropped": 150,
        "queued": 100,
    }
    assert tracker.flush(10)
    tracker.close()
    assert tracker.stats()["sent"] == 100
    assert wait_for(lambda: stored_plans(url).count("overflow") == 100)
    assert tracker.track("signup") is False  # closed: counted, not raised
    assert tracker.stats()["dropped_queue_full"] == 151


def test_a_failing_destination_warns_once_a_minute(caplog):
    tracker = Tracker.http(f"http://127.0.0.1:{free_port()}", batch_size=10, flush_every=0.01)
    with caplog.at_level(logging.WARNING, logger="apercite_analytics.tracking"):
        for _ in range(20):
            for _ in range(10):
                tracker.track("signup", user_id="someone@example.com")
            tracker.flush(5)
        tracker.close()
    warnings = [r.getMessage() for r in caplog.records if r.name == "apercite_analytics.tracking"]
    assert len(warnings) == 1 and "events dropped so far" in warnings[0] and "ConnectionRefusedError" in warnings[0]
    assert "someone@example.com" not in caplog.text
    assert tracker.stats()["dropped_send_failed"] == 200


def test_a_forked_child_sends_its_own_events_and_not_the_parents(live):
    process, url = live
    tracker = Tracker.http(process.url, batch_size=1000, flush_every=3600)
    tracker.track("signup", properties={"plan": "fork-parent"})  # queued before the fork: the parent's to send
    child = os.fork()
    if child == 0:  # the child: a worker of a pre-forking server
        try:
            tracker.track("signup", properties={"plan": "fork-child"})
            tracker.close(timeout=10)
            os._exit(0 if tracker.stats() == {**tracker.stats(), "tracked": 1, "sent": 1, "dropped": 0} else 3)
        except BaseException:
            os._exit(4)
    _, status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    tracker.close(timeout=10)
    assert tracker.stats()["sent"] == 1
    assert wait_for(
        lambda: sorted(p for p in stored_plans(url) if p and p.startswith("fork")) == ["fork-child", "fork-parent"]
    )


def test_exit_flushes_what_is_queued(live):
    process, url = live
    script = (
        "from apercite_analytics.tracking.sdk import Tracker\n"
        f"tracker = Tracker.http({process.url!r}, batch_size=1000, flush_every=3600)\n"
        "for i in range(5):\n"
        "    tracker.track('signup', user_id=i, properties={'plan': 'at-exit'})\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0 and done.stderr == ""
    assert wait_for(lambda: stored_plans(url).count("at-exit") == 5)


def test_thread_safe(live):
    process, url = live
    tracker = Tracker.http(process.url, queue_size=100_000, flush_every=0.05)

    def work(n: int) -> None:
        for i in range(2000):
            tracker.track("signup", user_id=f"{n}-{i}", properties={"plan": "threads"})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tracker.flush(30)
    tracker.close()
    assert tracker.stats()["sent"] == 16_000 and tracker.stats()["dropped"] == 0
    assert wait_for(lambda: stored_plans(url).count("threads") == 16_000)


def test_the_http_sdk_imports_nothing_heavy():
    code = (
        "import sys, apercite_analytics.tracking.sdk\n"
        "heavy = ('sqlalchemy', 'bonobo', 'starlette', 'uvicorn', 'yaml', 'alembic', 'psycopg2')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.split('.')[0] in heavy}))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.stdout.strip() == "[]", done.stdout + done.stderr


def test_sql_destination_validates_and_pseudonymizes_in_process(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'app.db'}"
    process = CollectorProcess(tmp_path, url, url)
    assert process.cli("collect", "--init-table").returncode == 0
    monkeypatch.setenv("APERCITE_EVENTS_KEY", "test-key-0123456789abcdef")
    tracker = Tracker(SQLDestination(str(process.config)), flush_every=0.05)
    tracker.track("signup", user_id="erin@example.com", properties={"plan": "direct", "email": "erin@example.com"})
    tracker.track("no_such_event", user_id="erin@example.com")
    assert tracker.flush(10)
    tracker.close()
    assert tracker.stats()["sent"] == 2
    engine = create_engine(url)
    with engine.connect() as connection:
        text = repr(connection.execute(select(Event)).all())
        bad = connection.exec_driver_sql("SELECT reason FROM bad_event").scalars().all()
    engine.dispose()
    assert '{"plan":"direct"}' in text and "erin" not in text  # the e-mail property dropped, the id hashed
    assert bad == ["unknown event 'no_such_event' (not in the event definitions)"]


def test_an_unusable_time_costs_its_own_event_only(live):
    process, url = live
    tracker = Tracker.http(process.url, batch_size=1000, flush_every=3600)
    tracker.track("signup", properties={"plan": "time-ok"}, at=datetime.now(UTC).replace(tzinfo=None))  # naive: UTC
    tracker.track("signup", properties={"plan": "time-bad"}, at=object())  # type: ignore[arg-type]
    tracker.track("signup", properties={"plan": "time-text"}, at="yesterday")  # the collector's bad_event says why
    assert tracker.flush(10)
    tracker.close()
    assert tracker.stats() | {"queued": 0} == {
        "tracked": 3,
        "sent": 2,
        "dropped_queue_full": 0,
        "dropped_send_failed": 1,
        "dropped": 1,
        "queued": 0,
    }
    assert wait_for(lambda: "time-ok" in stored_plans(url))
    assert "time-bad" not in stored_plans(url)
