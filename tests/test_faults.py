"""Fault tests against real PostgreSQL: kill -9 mid-write, a server restart mid-run, overlapping
runs, a source that times out. Each run is the real command in a subprocess; the final store is
compared value by value with what the source holds."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from support.pgcluster import PrivatePostgres

from apercite_analytics.config.urls import database_url
from apercite_analytics.store.models import HourlyValue, Metric, RunLog

START = datetime(2025, 1, 1, tzinfo=UTC)
HOURS = 24 * 365  # 175,200 values: a run writes for a few seconds, long enough to be hit mid-write
COLUMNS = 20
BATCH = 1000
SINCE, UNTIL = "2025-01-01", (START + timedelta(hours=HOURS)).strftime("%Y-%m-%dT%H:%M")


def value(i: int, k: int) -> int:
    return (i * 7919 + k * 104729) % 100_000


@pytest.fixture(scope="module")
def ticks(tmp_path_factory) -> Path:
    """A SQLite source: HOURS hourly rows of COLUMNS values (175,200 values to write)."""
    path = tmp_path_factory.mktemp("source") / "ticks.db"
    columns = ", ".join(f"v{k} INTEGER" for k in range(COLUMNS))
    with sqlite3.connect(path) as db:
        db.execute(f"CREATE TABLE ticks (time TEXT PRIMARY KEY, {columns})")
        db.executemany(
            f"INSERT INTO ticks VALUES (?{', ?' * COLUMNS})",
            (
                ((START + timedelta(hours=i)).strftime("%Y-%m-%d %H:%M:%S"), *(value(i, k) for k in range(COLUMNS)))
                for i in range(HOURS)
            ),
        )
    return path


def expected() -> dict[tuple, float]:
    return {
        (f"ticks.v{k}", (START + timedelta(hours=i)).date(), (START + timedelta(hours=i)).hour): value(i, k)
        for i in range(HOURS)
        for k in range(COLUMNS)
    }


def write_config(folder: Path, store_url: str, source: Path, lock_wait: float = 0, extra: str = "") -> Path:
    path = folder / "analytics.toml"
    path.write_text(
        f"""
[store]
url = "{store_url}"
batch_size = {BATCH}
lock_wait = {lock_wait}

[sources.ticks]
url = "sqlite:///{source}"

[readers.objects]
source = "ticks"
tables = ["ticks"]

[readers.sql.queries.ticks]
source = "ticks"
sql = "SELECT time, {", ".join(f"v{k}" for k in range(COLUMNS))} FROM ticks WHERE time >= :since AND time < :until"
metric = "ticks.{{column}}"
{extra}
"""
    )
    return path


def command(config: Path, *readers: str) -> list[str]:
    return [sys.executable, "-m", "apercite_analytics", "read", *readers, "--write", "-c", str(config)] + (
        ["--since", SINCE, "--until", UNTIL] if "sql" in readers else []
    )


def run(config: Path, *readers: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(command(config, *readers), capture_output=True, text=True, timeout=timeout)


def stored(url: str) -> dict[tuple, float]:
    engine = create_engine(database_url(url))
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(Metric.name, HourlyValue.date, HourlyValue.hour, HourlyValue.value)
                .join(Metric)
                .where(Metric.name.like("ticks.%"))
            ).all()
    finally:
        engine.dispose()
    return {(n, d, h): v for n, d, h, v in rows}


def count_values(url: str) -> int:
    engine = create_engine(database_url(url))
    try:
        with engine.connect() as connection:
            return connection.execute(
                select(func.count()).select_from(HourlyValue).join(Metric).where(Metric.name.like("ticks.%"))
            ).scalar_one()
    except Exception:  # noqa: BLE001 — the store is not created yet
        return 0
    finally:
        engine.dispose()


def run_statuses(url: str) -> list[str]:
    engine = create_engine(database_url(url))
    try:
        with engine.connect() as connection:
            return list(connection.execute(select(RunLog.status).order_by(RunLog.id)).scalars())
    finally:
        engine.dispose()


def wait_until(seen, process: subprocess.Popen, what: str, timeout: float = 120) -> None:
    """Poll `seen()` until it is true while `process` (a run) is still going."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if seen():
            return
        assert process.poll() is None, f"the run ended before {what}: {process.communicate()}"
        time.sleep(0.02)
    raise AssertionError(f"no {what} in time")


def wait_for_values(url: str, process: subprocess.Popen) -> None:
    wait_until(lambda: count_values(url) > 0, process, "writing values")


def wait_for_running(url: str, process: subprocess.Popen) -> None:
    def running() -> bool:
        try:
            return "running" in run_statuses(url)
        except Exception:  # noqa: BLE001 — the store is not created yet
            return False

    wait_until(running, process, "its run log row")


def test_kill_9_mid_write_leaves_whole_batches_and_the_rerun_repairs(tmp_path, pg_url, ticks):
    config = write_config(tmp_path, pg_url, ticks)
    process = subprocess.Popen(command(config, "sql"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_for_values(pg_url, process)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    partial = count_values(pg_url)
    total = HOURS * COLUMNS
    assert 0 < partial < total, "the kill came too late to test anything"
    assert partial % BATCH == 0, f"{partial} values: a batch was half written"
    assert run_statuses(pg_url) == ["running"]

    again = run(config, "sql")
    assert again.returncode == 0, again.stderr
    assert "marked abandoned" in again.stderr
    assert stored(pg_url) == expected()
    assert run_statuses(pg_url) == ["abandoned", "ok"]


@pytest.fixture
def private_pg():
    server = PrivatePostgres().init()
    server.start()
    yield server
    server.destroy()


def test_postgres_restart_mid_run_fails_clearly_and_the_rerun_repairs(tmp_path, private_pg, ticks):
    url = private_pg.url
    config = write_config(tmp_path, url, ticks)
    process = subprocess.Popen(command(config, "sql"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_values(url, process)
    private_pg.restart()
    _, err = process.communicate(timeout=300)
    if process.returncode == 0:  # the run finished before the restart reached it: nothing to test
        pytest.fail("the run ended before the restart; make the job bigger")
    assert process.returncode == 1, err
    print(err)
    assert "Traceback" not in err
    assert any(
        line.startswith("error: ") and "store (postgresql://postgres@127.0.0.1" in line for line in err.splitlines()
    ), err
    again = run(config, "sql")
    assert again.returncode == 0, again.stderr
    assert stored(url) == expected()
    assert run_statuses(url)[-1] == "ok"


def slow_query(pg_url: str, seconds: int) -> str:
    """Config for a second `sql` query that holds its run open for `seconds` (a long report)."""
    return f"""
[sources.slow]
url = "{pg_url}"

[readers.sql.queries.slow]
source = "slow"
sql = "SELECT CAST(:since AS timestamptz) AS time, 1 AS one FROM pg_sleep({seconds})"
metric = "slow.{{column}}"
"""


def test_overlapping_runs_of_a_reader_one_waits_or_gives_up_clearly(tmp_path, pg_url, ticks):
    # the first run holds the lock for at least 6 s (its slow query), whatever the machine's speed
    impatient = write_config(tmp_path, pg_url, ticks, lock_wait=0, extra=slow_query(pg_url, 6))
    first = subprocess.Popen(command(impatient, "sql"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_running(pg_url, first)
    second = run(impatient, "sql")
    assert second.returncode == 1
    errors = [line for line in second.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, second.stderr
    assert "reader 'sql' is being written by another run (run 1, started" in errors[0]
    assert "gave up after waiting 0 s (store.lock_wait)" in errors[0]
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err

    # patient runs: both finish, one after the other, and the store holds each value once
    patient = tmp_path / "patient"
    patient.mkdir()
    config = write_config(patient, pg_url, ticks, lock_wait=300)
    runs = [subprocess.Popen(command(config, "sql"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)]
    wait_for_values(pg_url, runs[0])
    runs.append(subprocess.Popen(command(config, "sql"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    for process in runs:
        _, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
    assert stored(pg_url) == expected()
    assert run_statuses(pg_url) == ["ok", "ok", "ok"]  # the refused run never started a log row
    engine = create_engine(database_url(pg_url))
    with engine.connect() as connection:  # no duplicates: one row per (metric, hour)
        assert (
            connection.execute(
                text("SELECT count(*) FROM (SELECT metric_id, date, hour FROM hourly_value GROUP BY 1, 2, 3) t")
            ).scalar_one()
            == connection.execute(text("SELECT count(*) FROM hourly_value")).scalar_one()
        )
    engine.dispose()


def test_runs_of_different_readers_go_side_by_side(tmp_path, pg_url, ticks):
    config = write_config(tmp_path, pg_url, ticks, lock_wait=0)
    first = subprocess.Popen(command(config, "sql"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wait_for_values(pg_url, first)
    other = run(config, "objects")
    assert other.returncode == 0, other.stderr
    _, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    assert stored(pg_url) == expected()


def test_a_source_timing_out_fails_its_reader_only(tmp_path, pg_url, ticks):
    config = write_config(
        tmp_path,
        f"sqlite:///{tmp_path / 'store.db'}",
        ticks,
        extra=f"""
[sources.slow]
url = "{pg_url}"
query_timeout = 1

[readers.sql.queries.slow]
source = "slow"
sql = "SELECT now() AS time, 1 AS one FROM pg_sleep(10)"
metric = "slow.{{column}}"
lookback = "1h"
""",
    )
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "apercite_analytics", "read", "objects", "sql", "--write", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert time.monotonic() - started < 10, "a statement timeout must not be retried"
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "error: sql.slow: source 'slow' (postgresql://postgres@127.0.0.1:5432/" in result.stderr
    assert "query 'slow': canceling statement due to statement timeout" in result.stderr
    db = sqlite3.connect(tmp_path / "store.db")
    names = {n for (n,) in db.execute("SELECT name FROM metric")}
    assert "objects.ticks.count" in names and "slow.one" not in names
    assert db.execute("SELECT status FROM run_log").fetchall() == [("failed",)]
    assert sorted(db.execute("SELECT reader, status FROM run_reader")) == [("objects", "ok"), ("sql", "failed")]
    db.close()


def test_transient_source_errors_are_retried_until_the_server_is_back(tmp_path, private_pg, monkeypatch):
    from apercite_analytics.config.settings import SourceSettings
    from apercite_analytics.readers.common.sources import Sources

    private_pg.stop()
    sources = Sources({"db": SourceSettings(url=private_pg.url, connect_timeout=2, retries=4, backoff=0.5)})
    import threading

    starter = threading.Timer(0.3, private_pg.start)
    starter.start()
    try:
        got = sources.read("db", lambda c: c.execute(text("SELECT 41 + 1")).scalar_one(), "probing")
    finally:
        starter.join()
        sources.close()
    assert got == 42


def test_retries_give_up_with_one_clear_error(private_pg, monkeypatch):
    import logging

    from apercite_analytics.config.settings import SourceSettings
    from apercite_analytics.errors import SourceError
    from apercite_analytics.readers.common.sources import Sources

    warnings: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: warnings.append(record.getMessage())
    logger = logging.getLogger("apercite_analytics")
    logger.addHandler(handler)
    monkeypatch.setattr(logger, "level", logging.INFO)
    private_pg.stop()
    settings = {"db": SourceSettings(url=private_pg.url, connect_timeout=1, retries=2, backoff=0.05)}
    with Sources(settings) as sources, pytest.raises(SourceError) as raised:
        sources.read("db", lambda c: c.execute(text("SELECT 1")).scalar_one(), "probing")
    message = str(raised.value)
    assert message.startswith(f"source 'db' (postgresql://postgres@127.0.0.1:{private_pg.port}/postgres): probing: ")
    assert "\n" not in message
    logger.removeHandler(handler)
    assert len([w for w in warnings if "retrying in" in w]) == 2, warnings


def test_kill_9_of_a_lock_holder_releases_its_lock(tmp_path, pg_url):
    from apercite_analytics.store import schema as store
    from apercite_analytics.store.locks import RunLocks

    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from apercite_analytics.store import schema as store\n"
            "from apercite_analytics.store.locks import RunLocks\n"
            "locks = RunLocks(store.open_engine(sys.argv[1]), ['sql'], 0).__enter__()\n"
            "print('locked', flush=True)\n"
            "time.sleep(600)\n",
            pg_url,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    engine = store.open_engine(pg_url)
    try:
        with pytest.raises(Exception, match="reader 'sql' is being written by another run"):
            RunLocks(engine, ["sql"], 0).__enter__()
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
        with RunLocks(engine, ["sql"], 10):  # the server dropped the dead session's lock
            pass
    finally:
        engine.dispose()


def test_sqlite_locks_per_reader(tmp_path):
    from apercite_analytics.store import schema as store
    from apercite_analytics.store.locks import LockTimeout, RunLocks

    engine = store.open_engine(f"sqlite:///{tmp_path / 'store.db'}")
    with RunLocks(engine, ["sql", "objects"], 0):
        with pytest.raises(LockTimeout, match=r"reader 'sql' is being written by another run; gave up after waiting"):
            RunLocks(engine, ["sql"], 0.3).__enter__()
        with RunLocks(engine, ["prometheus"], 0):
            pass
    with RunLocks(engine, ["sql"], 0):
        pass
    engine.dispose()
