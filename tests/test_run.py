"""End to end through the Bonobo graph and the CLI: real SQLite/PostgreSQL sources, real stores."""

from __future__ import annotations

import json
import math
import sqlite3
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select, text
from support.storeview import stored

from apercite_analytics.cli import main as cli
from apercite_analytics.config import load as config
from apercite_analytics.config.urls import database_url
from apercite_analytics.errors import SourceError
from apercite_analytics.readers import available
from apercite_analytics.run import engine
from apercite_analytics.run import job as graph
from apercite_analytics.run import result as run_result
from apercite_analytics.store import schema as store
from apercite_analytics.store.models import RunLog

HOURLY_SQL = """SELECT strftime('%Y-%m-%d %H:00:00', created_at) AS time, count(*) AS count FROM users
WHERE created_at >= :since AND created_at < :until GROUP BY 1"""


@pytest.fixture
def website(tmp_path: Path) -> Path:
    """A SQLite source database with users (3 signups on 2026-11-20) and projects."""
    path = tmp_path / "website.db"
    with sqlite3.connect(path) as db:
        db.executescript("""
            CREATE TABLE users (id INTEGER PRIMARY KEY, created_at TEXT);
            CREATE TABLE projects (id INTEGER PRIMARY KEY);
            INSERT INTO users (created_at)
            VALUES ('2026-11-20 10:05:00'), ('2026-11-20 10:59:59'), ('2026-11-20 11:00:00');
            INSERT INTO projects DEFAULT VALUES;
        """)
    return path


def make_config(tmp_path: Path, store_url: str, website: Path, extra: str = "", tables='["users", "projects"]') -> Path:
    path = tmp_path / "analytics.toml"
    path.write_text(f"""
[store]
url = "{store_url}"
batch_size = 2

[sources.website]
url = "sqlite:///{website}"

[readers.objects]
source = "website"
tables = {tables}

[readers.sql.queries.signups]
source = "website"
sql = \"\"\"{HOURLY_SQL}\"\"\"
metric = "app.signups"
{extra}
""")
    return path


def run_log(url: str) -> list[RunLog]:
    engine = create_engine(database_url(url))
    with engine.connect() as connection:
        rows = connection.execute(select(RunLog).order_by(RunLog.id)).all()
    engine.dispose()
    return rows


def now_hour() -> tuple[date, int]:
    now = datetime.now(UTC)
    return now.date(), now.hour


def gauge_hour(url: str, before: tuple[date, int]) -> tuple[date, int]:
    """The hour the run stored its objects counts in: the run's start, between `before` and now."""
    hours = {(key[1], key[2]) for key in stored(url) if key[0].startswith("objects.")}
    assert len(hours) == 1, hours
    [hour] = hours
    assert before <= hour <= now_hour()
    return hour


def test_read_all_write_then_rerun_is_idempotent(tmp_path, website, store_url, capsys):
    cfg = make_config(tmp_path, store_url, website)
    argv = ["read", "all", "--write", "--config", str(cfg), "--since", "2026-11-20", "--until", "2026-11-21"]
    before = now_hour()
    assert cli.main(argv) == 0
    day, hour = gauge_hour(store_url, before)
    expected = {
        ("objects.users.count", day, hour): 3,
        ("objects.projects.count", day, hour): 1,
        ("app.signups", date(2026, 11, 20), 10): 2,
        ("app.signups", date(2026, 11, 20), 11): 1,
    }
    assert stored(store_url) == expected
    err = capsys.readouterr().err
    assert "objects: reads current values only; --since/--until do not apply to it" in err
    assert "values written: 4 hourly, 0 daily (4 new or changed); 3 new metrics" in err
    assert "run ok" in err

    # the source changes; the same hours are read again: one row per key, the newest value
    with sqlite3.connect(website) as db:
        db.execute("INSERT INTO users (created_at) VALUES ('2026-11-20 10:30:00')")
    assert cli.main(argv) == 0
    expected[("objects.users.count", day, hour)] = 4
    expected[("app.signups", date(2026, 11, 20), 10)] = 3
    assert stored(store_url) == expected
    logs = run_log(store_url)
    assert [(r.status, r.hourly_rows, r.daily_rows, r.rejected, r.errors) for r in logs] == [
        ("ok", 4, 0, 0, None),
        ("ok", 4, 0, 0, None),
    ]
    assert logs[0].readers == "objects,sql" and "--since 2026-11-20" in logs[0].command
    assert logs[0].finished_at is not None
    assert {n["node"] for n in logs[0].nodes} >= {"objects", "sql.signups", "normalize", "hourly writer"}


def test_daily_query_goes_to_daily_value(tmp_path, website, pg_url):
    extra = """
[readers.sql.queries.days]
source = "website"
granularity = "day"
sql = "SELECT date(created_at) AS time, count(*) AS n FROM users GROUP BY 1"
metric = "app.users.{column}"
"""
    cfg = make_config(tmp_path, pg_url, website, extra)
    assert cli.main(["read", "sql", "--write", "-c", str(cfg), "--since", "2026-11-20"]) == 0
    assert stored(pg_url)[("app.users.n", date(2026, 11, 20))] == 3


def test_a_failing_reader_exits_1_and_the_others_are_written(tmp_path, website, store_url, capsys):
    cfg = make_config(tmp_path, store_url, website, tables='["users", "no_such_table"]')
    before = now_hour()
    code = cli.main(
        ["read", "all", "--write", "-c", str(cfg), "--since", "2026-11-20T10:00", "--until", "2026-11-20T11:00"]
    )
    assert code == 1
    day, hour = gauge_hour(store_url, before)
    # the failing reader's good table and the other reader are written
    assert stored(store_url) == {("objects.users.count", day, hour): 3, ("app.signups", date(2026, 11, 20), 10): 2}
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    assert errors[0].startswith("error: objects: 1 of 2 tables not counted: table 'no_such_table': source 'website'")
    assert errors[0].endswith(": no such table: no_such_table (tables: projects, users)")  # reflected: lists them
    assert "Traceback" not in err
    assert "run FAILED: 1 node error" in err
    log = run_log(store_url)[-1]
    assert log.status == "failed" and log.hourly_rows == 2
    assert "objects: 1 of 2 tables not counted" in log.errors


def test_a_raising_reader_chain_does_not_stop_the_others(tmp_path, website, pg_url, capsys):
    """Any reader (here a plain generator) that raises mid-way: its earlier records are kept."""

    def exploding():
        yield {"date": date(2026, 11, 20), "hour": 1}, {"boom.before": 1}
        raise SourceError("the API said no")

    def crashing():
        raise ZeroDivisionError("a bug")
        yield  # pragma: no cover

    settings = config.parse(
        {
            "store": {"url": pg_url},
            "sources": {"website": {"url": f"sqlite:///{website}"}},
            "readers": {"objects": {"source": "website", "tables": ["users"]}},
        }
    )
    chains = graph.reader_chains(settings, ["objects"], graph.Window(now=datetime(2026, 11, 20, 15, 30, tzinfo=UTC)))
    chains["exploding"] = [exploding]
    chains["crashing"] = [crashing]
    cli.setup_logging(0)
    result = graph.run_chains(settings, chains, ["objects", "exploding", "crashing"], write=True)
    assert not result.ok
    assert sorted(result.failures) == ["crashing: ZeroDivisionError: a bug", "exploding: the API said no"]
    assert stored(pg_url) == {
        ("objects.users.count", date(2026, 11, 20), 15): 3,
        ("boom.before", date(2026, 11, 20), 1): 1,
    }
    by_node = {n.name: n for n in result.nodes}
    assert (by_node["exploding"].wrote, by_node["exploding"].errors) == (1, 1)
    assert by_node["crashing"].errors == 1 and by_node["objects"].errors == 0
    assert "Traceback" not in capsys.readouterr().err


def test_bad_records_are_rejected_by_name_and_the_rest_written(tmp_path, website, store_url, capsys):
    def bad_records():
        d = date(2026, 11, 20)
        yield {"date": d, "hour": 5}, {"good.one": 1, "nan.value": math.nan, "string.value": "12", "Bad Name": 3}
        yield {"date": d, "hour": 24}, {"hour.twentyfour": 1}
        yield {"date": d, "hour": 6}, {"good.two": 2.5}

    settings = config.parse({"store": {"url": store_url}})
    cli.setup_logging(0)
    result = graph.run_chains(settings, {"bad": [bad_records]}, ["bad"], write=True)
    assert result.rejected == 4 and not result.ok
    assert stored(store_url) == {("good.one", date(2026, 11, 20), 5): 1, ("good.two", date(2026, 11, 20), 6): 2.5}
    err = capsys.readouterr().err
    assert "warning: normalize: nan.value at 2026-11-20 05:00 rejected: value nan is not finite" in err
    assert "warning: normalize: string.value at 2026-11-20 05:00 rejected: value '12' is not a number (str)" in err
    assert (
        "warning: normalize: Bad Name at 2026-11-20 05:00 rejected: metric name 'Bad Name' is not dotted lowercase"
        in err
    )
    assert (
        "warning: normalize: record at 2026-11-20 hour 24 rejected (1 value): "
        "dims hour 24 is not an integer from 0 to 23" in err
    )
    assert {n.name: n.errors for n in result.nodes}["normalize"] == 4


def test_bad_values_from_sql_make_the_cli_exit_1(tmp_path, website, sqlite_url, capsys):
    extra = """
[readers.sql.queries.odd]
source = "website"
sql = "SELECT '2026-11-20 10:00:00' AS time, 'abc' AS label, NULL AS missing, 7 AS fine"
metric = "odd.{column}"
"""
    cfg = make_config(tmp_path, sqlite_url, website, extra)
    assert cli.main(["read", "sql", "--write", "-c", str(cfg), "--since", "2026-11-20"]) == 1
    values = stored(sqlite_url)
    assert values[("odd.fine", date(2026, 11, 20), 10)] == 7
    assert ("odd.label", date(2026, 11, 20), 10) not in values
    err = capsys.readouterr().err
    assert "odd.label at 2026-11-20 10:00 rejected: value 'abc' is not a number (str)" in err
    assert "odd.missing at 2026-11-20 10:00 rejected: value is NULL" in err
    assert "run FAILED: 2 values rejected" in err


def test_without_write_prints_and_writes_nothing(tmp_path, website, capsys):
    store_path = tmp_path / "never.db"
    cfg = make_config(tmp_path, f"sqlite:///{store_path}", website)
    assert cli.main(["read", "sql", "-c", str(cfg), "--since", "2026-11-20", "--until", "2026-11-21"]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert lines[0].split() == ["date", "hour", "metric", "value"]
    assert [line.split() for line in lines[1:]] == [
        ["2026-11-20", "10", "app.signups", "2"],
        ["2026-11-20", "11", "app.signups", "1"],
    ]
    assert "values printed: 2; nothing written" in err
    assert not store_path.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["read", "nope"], f"error: unknown reader 'nope' (known: {', '.join(sorted(available()))}, all)"),
        (["read", "objects", "--since", "yesterday"], "error: --since: 'yesterday' is not a date or time"),
        (
            ["read", "sql", "--since", "2026-11-21", "--until", "2026-11-20"],
            "error: --since (2026-11-21 00:00) must be before --until (2026-11-20 00:00)",
        ),
    ],
)
def test_usage_errors_exit_2_with_one_line(tmp_path, website, sqlite_url, capsys, argv, message):
    cfg = make_config(tmp_path, sqlite_url, website)
    assert cli.main([*argv, "-c", str(cfg)]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == [err.strip()]
    assert err.startswith(message)


def test_missing_config_key_exits_2(tmp_path, capsys):
    cfg = tmp_path / "analytics.toml"
    cfg.write_text('[sources.web]\nurl = "sqlite://"\n[readers.objects]\nsource = "web"\n')
    assert cli.main(["read", "all", "--write", "-c", str(cfg)]) == 2
    assert capsys.readouterr().err == f"error: {cfg}: readers.objects.tables: missing required key\n"


def test_unconfigured_reader_exits_2_and_all_says_what_it_skips(tmp_path, website, sqlite_url, capsys):
    cfg = tmp_path / "analytics.toml"
    cfg.write_text(
        f'[store]\nurl = "{sqlite_url}"\n[sources.web]\nurl = "sqlite:///{website}"\n'
        '[readers.objects]\nsource = "web"\ntables = ["users"]\n'
    )
    assert cli.main(["read", "sql", "-c", str(cfg)]) == 2
    assert capsys.readouterr().err == f"error: reader 'sql' is not configured: {cfg} has no [readers.sql] section\n"
    assert cli.main(["read", "all", "-c", str(cfg)]) == 0
    assert "not configured" not in capsys.readouterr().err  # quiet by default: one debug line
    assert cli.main(["read", "all", "-v", "-c", str(cfg)]) == 0
    others = ", ".join(sorted(set(available()) - {"objects"}))
    assert f"not configured in {cfg}, skipped: {others}\n" in capsys.readouterr().err


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(["read"])
    assert info.value.code == 2
    assert "error: the following arguments are required: READER" in capsys.readouterr().err


def test_dead_source_is_one_line_without_password(tmp_path, sqlite_url, capsys):
    cfg = tmp_path / "analytics.toml"
    cfg.write_text(f"""
[store]
url = "{sqlite_url}"
[sources.app]
url = "postgresql://app:${{APP_PW}}@127.0.0.1:1/app"
connect_timeout = 2
[readers.objects]
source = "app"
tables = ["users"]
""")
    import os

    os.environ["APP_PW"] = "very-secret-pw"
    try:
        assert cli.main(["read", "all", "--write", "-c", str(cfg)]) == 1
    finally:
        del os.environ["APP_PW"]
    err = capsys.readouterr().err
    assert "very-secret-pw" not in err
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert error_lines == [
        "error: objects: source 'app' (postgresql://app:***@127.0.0.1:1/app): connecting: "
        'connection to server at "127.0.0.1", port 1 failed: Connection refused'
    ]


def test_dead_store_is_one_line_and_exit_1(tmp_path, website, capsys):
    cfg = make_config(tmp_path, "postgresql://etl:store-pw-123@127.0.0.1:1/metrics", website)
    assert cli.main(["read", "objects", "sql", "--write", "-c", str(cfg)]) == 1
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert lines[0].startswith("error: store (postgresql://etl:***@127.0.0.1:1/metrics): connection to server")
    assert "store-pw-123" not in err and len(lines) == 1


def test_inspect_graph_prints_dot(tmp_path, website, sqlite_url, capsys):
    cfg = make_config(tmp_path, sqlite_url, website)
    assert cli.main(["inspect", "-c", str(cfg)]) == 0  # the only action: no flag needed (--graph still accepted)
    out = capsys.readouterr().out
    assert out.startswith("digraph {")
    assert "SetFields" not in out and "records" not in out  # no internal node
    assert "needs Graphviz" in cli.parser()._subparsers._group_actions[0].choices["inspect"].format_help()
    for label in (
        'label="objects"',
        'label="sql.signups"',
        'label="normalize"',
        'label="hourly writer"',
        'label="daily writer"',
    ):
        assert label in out


def test_db_upgrade_and_current(pg_url, capsys):
    assert cli.main(["db", "current", "--url", pg_url]) == 0
    head = store.head_revision()
    assert capsys.readouterr().out == f"empty (never migrated): behind (newest is {head})\n"
    assert cli.main(["db", "upgrade", "--url", pg_url]) == 0
    assert "upgraded store (postgresql://postgres@127.0.0.1:5432/" in capsys.readouterr().err
    assert cli.main(["db", "upgrade", "--url", pg_url]) == 0
    assert f"is up to date (revision {head})" in capsys.readouterr().err
    assert cli.main(["db", "current", "--url", pg_url]) == 0
    assert capsys.readouterr().out == f"{head}: up to date\n"


def test_store_behind_head_is_refused(tmp_path, website, sqlite_url, capsys):
    cfg = make_config(tmp_path, sqlite_url, website)
    assert cli.main(["db", "upgrade", "-c", str(cfg)]) == 0
    engine = create_engine(sqlite_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0003'"))  # a real, older revision
    engine.dispose()
    capsys.readouterr()
    assert cli.main(["read", "all", "--write", "-c", str(cfg)]) == 1
    assert "run `apercite-analytics db upgrade`" in capsys.readouterr().err


def test_run_log_nodes_are_json(tmp_path, website, sqlite_url):
    cfg = make_config(tmp_path, sqlite_url, website)
    assert cli.main(["read", "all", "--write", "-q", "-c", str(cfg)]) == 0
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as db:
        nodes = json.loads(db.execute("SELECT nodes FROM run_log").fetchone()[0])
    assert {"node": "objects", "in": 1, "out": 1, "err": 0, "defunct": False, "killed": False} in nodes


def test_a_node_failing_on_every_record_does_not_flood_the_log(tmp_path, sqlite_url, capsys):
    def many():
        for hour in range(24):
            yield {"date": date(2026, 11, 20), "hour": hour}, {"x": hour}

    def picky(dims, metrics):
        raise SourceError(f"cannot handle hour {dims['hour']}")

    settings = config.parse({"store": {"url": sqlite_url}})
    cli.setup_logging(0)
    result = graph.run_chains(settings, {"many": [many, picky]}, ["many"], write=True)
    assert result.errors == 24 and not result.ok
    assert len(result.failures) == run_result.MAX_ERRORS_SHOWN
    err = capsys.readouterr().err
    assert err.count("error: picky: cannot handle hour") == run_result.MAX_ERRORS_SHOWN
    assert err.count("error: picky: more errors not shown (the count is in the summary)") == 1
    log = run_log(sqlite_url)[-1]
    assert log.status == "failed" and len(log.errors.splitlines()) == run_result.MAX_ERRORS_SHOWN


def test_progress_lines_on_long_runs(sqlite_url, monkeypatch, capsys):
    def slow():
        time.sleep(0.8)
        yield {"date": date(2026, 11, 20), "hour": 1}, {"slow.value": 1}

    monkeypatch.setattr(engine, "PROGRESS_EVERY", 0.2)
    cli.setup_logging(0)
    result = graph.run_chains(config.parse({"store": {"url": sqlite_url}}), {"slow": [slow]}, ["slow"], write=True)
    assert result.ok
    progress = [line for line in capsys.readouterr().err.splitlines() if line.startswith("progress (in/out/err): ")]
    assert progress, "a run longer than PROGRESS_EVERY reports progress"
    assert "slow 1/0/0" in progress[0] and "normalize" in progress[0] and "hourly writer" in progress[0]


@pytest.mark.parametrize("good_first", [True, False], ids=["shape changes", "shape never binds"])
def test_a_dead_node_does_not_leave_its_producers_waiting(sqlite_url, capsys, good_first):
    """A node that dies (here normalize, on a record of the wrong shape: Bonobo's check of the input's
    length, or ours of normalize's signature) drops what is still sent to it: its input queue is
    bounded, and a reader with many records left must not wait on it forever."""

    def bad():
        if good_first:
            yield {"date": date(2026, 11, 20), "hour": 1}, {"bad.value": 1}
        yield {"date": date(2026, 11, 20), "hour": 2}, {"bad.value": 2}, "a third field"

    def many():
        time.sleep(0.3)  # after normalize died
        for n in range(20 * engine.QUEUE_RECORDS):
            yield {"date": date(2026, 11, 20), "hour": n % 24}, {"many.value": n}

    cli.setup_logging(0)
    started = time.monotonic()
    result = graph.run_chains(
        config.parse({"store": {"url": sqlite_url}}), {"bad": [bad], "many": [many]}, ["bad", "many"], write=True
    )
    assert time.monotonic() - started < 60
    assert not result.ok
    assert "error: normalize: " in capsys.readouterr().err
