"""`read <reader>.<chain>`, a query's `every` schedule and its `sources` fan-out, through the command
line on real databases: the schedule driven hour by hour with `--until`, the fan-out over a
PostgreSQL, a MariaDB and a SQLite source at once."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from support.storeview import stored

from apercite_analytics.cli import main as cli
from apercite_analytics.config import load as config
from apercite_analytics.config.urls import database_url
from apercite_analytics.errors import ConfigError
from apercite_analytics.store.models import ReaderState, RunReader


def website(path: Path, users: int) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (id INTEGER PRIMARY KEY, created_at TEXT NOT NULL)")
        db.executemany("INSERT INTO users VALUES (?, '2026-11-20 10:00:00')", [(i,) for i in range(users)])
    db.close()
    return path


def seed_users(url: str, users: int) -> None:
    engine = create_engine(database_url(url))
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE users (id INTEGER PRIMARY KEY)"))
        for i in range(1, users + 1):
            connection.execute(text("INSERT INTO users (id) VALUES (:i)"), {"i": i})
    engine.dispose()


DAILY = """
[readers.sql.queries.daily]
source = "web"
every = "1d"
time_column = ""
sql = "SELECT count(*) AS users FROM users"
metric = "app.users.total"

[readers.sql.queries.hourly]
source = "web"
time_column = ""
sql = "SELECT count(*) AS users FROM users"
metric = "app.users.now"
"""


def sql_records(store_url: str) -> list[int]:
    """Per run, in order: the records the sql reader's chains gave (0 when every query was skipped)."""
    engine = create_engine(database_url(store_url))
    with engine.connect() as connection:
        rows = connection.execute(select(RunReader.records).where(RunReader.reader == "sql").order_by(RunReader.run_id))
        records = list(rows.scalars())
    engine.dispose()
    return records


def test_every_1d_runs_once_per_utc_day_across_hourly_runs(tmp_path, capsys):
    web = website(tmp_path / "web.db", 3)
    cfg = tmp_path / "analytics.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///store.db"\n[sources.web]\nurl = "sqlite:///{web}"\n{DAILY}')
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    start = datetime(2026, 11, 20, 21, 5, tzinfo=UTC)
    ran_daily = []
    for n in range(30):  # hourly runs 2026-11-20 21:05 … 2026-11-22 02:05
        until = start + timedelta(hours=n)
        assert cli.main(["read", "sql", "--write", "-q", "-c", str(cfg), "--until", until.isoformat()]) == 0
        records = sql_records(store_url)[-1]
        assert records in (1, 2)  # the hourly query always; the daily one when due
        if records == 2:
            ran_daily.append(until)
    # exactly once per due period: the first run, then the first run of each new UTC day
    assert ran_daily == [start, datetime(2026, 11, 21, 0, 5, tzinfo=UTC), datetime(2026, 11, 22, 0, 5, tzinfo=UTC)]
    engine = create_engine(database_url(store_url))
    with engine.connect() as connection:
        due = connection.execute(select(ReaderState.watermark).where(ReaderState.key == "daily")).scalar_one()
    engine.dispose()
    assert due.replace(tzinfo=UTC) == datetime(2026, 11, 23, tzinfo=UTC)

    # naming the chain runs it now, whatever the schedule says, and leaves the schedule alone
    capsys.readouterr()
    until = "2026-11-22T03:05:00+00:00"
    assert cli.main(["read", "sql.daily", "--write", "-c", str(cfg), "--until", until]) == 0
    err = capsys.readouterr().err
    assert "sql.daily " in err and "sql.hourly" not in err
    assert sql_records(store_url)[-1] == 1
    assert cli.main(["read", "sql", "--write", "-q", "-c", str(cfg), "--until", "2026-11-22T04:05"]) == 0
    assert sql_records(store_url)[-1] == 1  # still not due: only the hourly query


def test_without_write_a_scheduled_query_always_runs(tmp_path, capsys):
    web = website(tmp_path / "web.db", 2)
    cfg = tmp_path / "analytics.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///store.db"\n[sources.web]\nurl = "sqlite:///{web}"\n{DAILY}')
    for _ in range(2):
        assert cli.main(["read", "sql.daily", "-c", str(cfg)]) == 0
        assert "app.users.total" in capsys.readouterr().out


def test_a_failing_scheduled_query_is_retried_by_the_next_run(tmp_path, capsys):
    web = tmp_path / "web.db"
    sqlite3.connect(web).close()  # no users table yet: the query fails
    cfg = tmp_path / "analytics.toml"
    cfg.write_text(f'[store]\nurl = "sqlite:///store.db"\n[sources.web]\nurl = "sqlite:///{web}"\n{DAILY}')
    assert cli.main(["read", "sql", "--write", "-q", "-c", str(cfg), "--until", "2026-11-20T10:05"]) == 1
    web.unlink()
    website(web, 4)
    # the same day: the failed run did not move the schedule, so the query is still due
    assert cli.main(["read", "sql", "--write", "-q", "-c", str(cfg), "--until", "2026-11-20T11:05"]) == 0
    values = {name: value for (name, _, _), value in stored(f"sqlite:///{tmp_path / 'store.db'}").items()}
    assert values["app.users.total"] == 4
    assert sql_records(f"sqlite:///{tmp_path / 'store.db'}") == [0, 2]


FANOUT = """
[readers.sql.queries.users]
sources = ["pg", "maria", "lite"]
time_column = ""
sql = "SELECT count(*) AS n FROM users"
metric = "app.users.{{source}}"
"""


def test_sources_fan_a_query_out_one_metric_per_source(tmp_path, pg_url, mysql_url, capsys):
    seed_users(pg_url, 3)
    seed_users(mysql_url, 5)
    lite = tmp_path / "lite.db"
    seed_users(f"sqlite:///{lite}", 7)
    cfg = tmp_path / "analytics.toml"
    cfg.write_text(
        f'[store]\nurl = "sqlite:///store.db"\n[sources.pg]\nurl = "{pg_url}"\n[sources.maria]\nurl = "{mysql_url}"\n'
        f'[sources.lite]\nurl = "sqlite:///lite.db"\n' + FANOUT.format()
    )
    assert cli.main(["read", "sql", "--write", "-c", str(cfg)]) == 0
    err = capsys.readouterr().err
    for chain in ("sql.users.pg", "sql.users.maria", "sql.users.lite"):
        assert f"\n{chain} " in err
    values = {name: value for (name, _, _), value in stored(f"sqlite:///{tmp_path / 'store.db'}").items()}
    assert {k: v for k, v in values.items() if k.startswith("app.")} == {
        "app.users.pg": 3,
        "app.users.maria": 5,
        "app.users.lite": 7,
    }
    # one source of the fan-out by its chain name; a whole query by its name
    assert cli.main(["read", "sql.users.maria", "-c", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert "app.users.maria" in out and "app.users.pg" not in out
    assert cli.main(["read", "sql.users", "-c", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert all(f"app.users.{s}" in out for s in ("pg", "maria", "lite"))
    assert cli.main(["read", "sql.nope", "-c", str(cfg)]) == 2
    assert capsys.readouterr().err == (
        "error: unknown chain 'sql.nope' (chains of sql: sql.users.lite, sql.users.maria, sql.users.pg)\n"
    )


def parse_sql(query: dict) -> None:
    config.parse(
        {
            "sources": {"a": {"url": "sqlite:///a.db"}, "b": {"url": "sqlite:///b.db"}},
            "readers": {"sql": {"queries": {"q": {"sql": "SELECT 1 AS n", "time_column": "", **query}}}},
        }
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            {"sources": ["a", "b"], "metric": "app.users"},
            "readers.sql.queries.q.metric: the query runs on 2 sources, so 'app.users' would give each source the "
            'same metric names: put {source} in it (e.g. "{query}.{source}.{column}")',
        ),
        ({"sources": ["a", "b"], "source": "a"}, "readers.sql.queries.q: set source or sources, not both"),
        ({"sources": ["a", "a"]}, "readers.sql.queries.q.sources: a source is listed twice"),
        ({"sources": ["a", "c"], "metric": "{source}.n"}, "readers.sql.queries.q.sources: unknown source 'c'"),
        ({"source": "a", "every": "daily"}, "readers.sql.queries.q.every: expected a duration like"),
        ({"source": "a", "dimensions": ["source"], "sql": "SELECT 1 AS n, 'x' AS source"}, "is a template placeholder"),
    ],
)
def test_fan_out_and_schedule_config_errors(query, message):
    with pytest.raises(ConfigError) as info:
        parse_sql(query)
    assert message in str(info.value)


def test_one_source_may_use_source_in_its_template():
    parse_sql({"sources": ["a"], "metric": "app.{source}.{column}"})
    parse_sql({"source": "b", "metric": "app.{source}.{column}", "every": "6h"})


def test_any_reader_runs_one_chain_by_name(tmp_path, capsys):
    """`read prometheus.<query>` picks one chain like `read sql.<query>`: the plan filters the
    chains every reader builds (here checked with `inspect`, which needs no server)."""
    cfg = tmp_path / "analytics.toml"
    cfg.write_text(
        '[readers.prometheus]\nurl = "http://127.0.0.1:1"\n'
        '[readers.prometheus.queries.latency]\nexpr = "up"\nmetric = "http.latency"\n'
        '[readers.prometheus.queries.requests]\nexpr = "up"\nmetric = "http.requests"\n'
        '[readers.json.documents.usage]\npath = "usage.json"\n'
    )
    assert cli.main(["inspect", "prometheus.latency", "json", "-c", str(cfg)]) == 0
    out = capsys.readouterr().out
    assert 'label="prometheus.latency"' in out and 'label="json.usage"' in out
    assert "prometheus.requests" not in out
    assert cli.main(["inspect", "prometheus.nope", "-c", str(cfg)]) == 2
    assert "unknown chain 'prometheus.nope' (chains of prometheus: prometheus.latency, prometheus.requests)" in (
        capsys.readouterr().err
    )
