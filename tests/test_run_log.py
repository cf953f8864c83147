"""The run log while runs of different readers overlap: a live run is never taken for a dead one.

Each run is the real command in a subprocess. The first run is held open deterministically: its
query waits on an advisory lock that the test holds (a gate), and goes on when the test opens it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import create_engine, select, text

from apercite_analytics.config.urls import database_url
from apercite_analytics.store.models import RunLog

GATE = 4242  # a one-key advisory lock: not in the namespace of the run locks


def write_config(folder: Path, pg_url: str) -> Path:
    path = folder / "analytics.toml"
    path.write_text(
        f"""
[store]
url = "{pg_url}"
lock_wait = 0

[sources.app]
url = "{pg_url}"

[readers.sql.queries.gated]
source = "app"
sql = "SELECT CAST(:since AS timestamptz) AS time, 1 AS one FROM (SELECT pg_advisory_lock({GATE})) AS gate"
metric = "gated.{{column}}"

[readers.objects]
source = "app"
tables = ["things"]
"""
    )
    return path


def read(config: Path, reader: str) -> list[str]:
    return [sys.executable, "-m", "apercite_analytics", "read", reader, "--write", "-c", str(config)]


def statuses(engine) -> list[str]:
    with engine.connect() as connection:
        try:
            return list(connection.execute(select(RunLog.status).order_by(RunLog.id)).scalars())
        except Exception:  # noqa: BLE001 — the store is not created yet
            return []


def waiting_at_the_gate(engine) -> bool:
    with engine.connect() as connection:
        waiting = "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = :gate AND NOT granted"
        return bool(connection.execute(text(waiting), {"gate": GATE}).scalar_one())


def test_a_run_of_another_reader_leaves_a_live_run_alone(tmp_path, pg_url):
    engine = create_engine(database_url(pg_url))
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE things (id integer)"))
    config = write_config(tmp_path, pg_url)
    gate = engine.connect()
    gate.execute(text("SELECT pg_advisory_lock(:gate)"), {"gate": GATE})
    gate.commit()
    first = subprocess.Popen(read(config, "sql"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (statuses(engine) == ["running"] and waiting_at_the_gate(engine)):
            assert first.poll() is None, f"the first run ended early: {first.communicate()}"
            assert time.monotonic() < deadline, "the first run never reached its query"
            time.sleep(0.05)

        other = subprocess.run(read(config, "objects"), capture_output=True, text=True, timeout=120)
        assert other.returncode == 0, other.stderr
        assert "abandoned" not in other.stderr and "never finished" not in other.stderr, other.stderr
        assert statuses(engine) == ["running", "ok"]  # the live run's row untouched
    finally:
        gate.execute(text("SELECT pg_advisory_unlock(:gate)"), {"gate": GATE})
        gate.close()
        _, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert statuses(engine) == ["ok", "ok"]
    engine.dispose()
