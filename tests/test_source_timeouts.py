"""Statement timeouts on every source dialect: a statement that runs longer than `query_timeout` fails
at once (it is not retried) and is cancelled on the server, not left running there."""

from __future__ import annotations

import logging
import sqlite3
import time

import pytest
from sqlalchemy import create_engine, text

from apercite_analytics.config.settings import SourceSettings
from apercite_analytics.config.urls import database_url
from apercite_analytics.errors import SourceError
from apercite_analytics.readers.common.sources import Sources

# about 10 s of work on SQLite and on MariaDB here: long enough to tell a timeout from its absence
COUNT_TO = 30_000_000
RECURSIVE = (
    f"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {COUNT_TO}) SELECT count(*) FROM c"
)


@pytest.fixture
def warnings(monkeypatch) -> list[str]:
    seen: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: seen.append(record.getMessage())
    logger = logging.getLogger("apercite_analytics")
    logger.addHandler(handler)
    monkeypatch.setattr(logger, "level", logging.INFO)
    yield seen
    logger.removeHandler(handler)


def timed_read(sources: Sources, name: str, sql: str) -> tuple[str, float]:
    started = time.monotonic()
    with pytest.raises(SourceError) as raised:
        sources.read(name, lambda c: c.execute(text(sql)).scalar_one(), "query 'slow'")
    return str(raised.value), time.monotonic() - started


def test_sqlite_sources_enforce_query_timeout(tmp_path, warnings):
    path = tmp_path / "source.db"
    sqlite3.connect(path).close()
    settings = {"lite": SourceSettings(url=f"sqlite:///{path}", query_timeout=0.5, retries=2, backoff=0.01)}
    with Sources(settings) as sources:
        message, seconds = timed_read(sources, "lite", RECURSIVE)
        assert sources.read("lite", lambda c: c.execute(text("SELECT 42")).scalar_one()) == 42  # the next one runs
    assert seconds < 3, f"took {seconds:.1f} s: query_timeout was ignored"
    assert message.startswith("source 'lite' (sqlite:///")
    assert message.endswith(": query 'slow': interrupted (query_timeout = 0.5 s)")
    assert not [w for w in warnings if "retrying" in w]


def mariadb_statements(url: str) -> list[str]:
    """The statements running on the server in the test's own scratch database."""
    engine = create_engine(database_url(url))
    try:
        with engine.connect() as connection:
            query = "SELECT info FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID()"
            return [info for info in connection.execute(text(query)).scalars() if info]
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT SLEEP(20)",
        "SELECT count(*) FROM information_schema.collations a, information_schema.collations b, "
        "information_schema.collations c, information_schema.collations d",
    ],
    ids=["sleep", "heavy-join"],
)
def test_mariadb_statement_timeout_fails_at_once_and_is_cancelled_on_the_server(mysql_url, warnings, sql):
    settings = {"shop": SourceSettings(url=mysql_url, query_timeout=1, retries=2, backoff=0.01)}
    with Sources(settings) as sources:
        message, seconds = timed_read(sources, "shop", sql)
        running = mariadb_statements(mysql_url)
    assert seconds < 4, f"took {seconds:.1f} s: retried, or not stopped by the server"
    assert not [w for w in warnings if "retrying" in w], warnings
    assert running == [], "the statement is still running on the server"
    assert "query 'slow': (1969, 'Query execution was interrupted (max_statement_time exceeded)')" in message
    assert message.endswith("(query_timeout = 1 s)")


def test_mariadb_sessions_are_utc_with_the_statement_limit(mysql_url):
    with Sources({"shop": SourceSettings(url=mysql_url, query_timeout=2.5)}) as sources:
        zone, limit = sources.read(
            "shop", lambda c: c.execute(text("SELECT @@session.time_zone, @@session.max_statement_time")).one()
        )
    assert (zone, float(limit)) == ("+00:00", 2.5)


def test_mariadb_benchmark_is_stopped_by_the_server_not_left_running(mysql_url, warnings):
    """The issue's case: `BENCHMARK(…)` kept running on the server, three copies of it. MariaDB
    stops it at max_statement_time (and, its own semantics for an interrupted BENCHMARK, answers 0)."""
    sql = "SELECT BENCHMARK(2000000000, MD5('x'))"
    settings = {"shop": SourceSettings(url=mysql_url, query_timeout=1, retries=2, backoff=0.01)}
    with Sources(settings) as sources:
        started = time.monotonic()
        sources.read("shop", lambda c: c.execute(text(sql)).scalar_one(), "query 'slow'")
        seconds = time.monotonic() - started
        running = mariadb_statements(mysql_url)
    assert seconds < 4 and running == [] and not [w for w in warnings if "retrying" in w]
