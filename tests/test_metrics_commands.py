"""`metrics validate|list|show|sync`, `rollup` and the dictionary in `read --write`, as a user runs them."""

from __future__ import annotations

import sqlite3
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from apercite_analytics.cli import demo
from apercite_analytics.cli import main as cli
from apercite_analytics.config.urls import database_url
from apercite_analytics.store import schema as store
from apercite_analytics.store.models import DailyValue, Metric
from apercite_analytics.store.values import MetricStore

ROOT = Path(__file__).resolve().parent.parent
D = date(2026, 11, 20)
DEFINITIONS = """\
defaults: {owner: tests, data_source: sql, value_type: integer, time_frame: 1h}
metrics:
  - {key: objects.*.count, description: Rows in a table., unit: rows, aggregation: last, time_frame: all}
  - {key: app.signups, description: New accounts in the hour., unit: users, aggregation: sum}
"""


@pytest.fixture
def setup(tmp_path: Path, sqlite_url: str) -> Path:
    """A config with a store and a dictionary folder; returns the config path."""
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "app.yaml").write_text(DEFINITIONS)
    config = tmp_path / "analytics.toml"
    config.write_text(f'[store]\nurl = "{sqlite_url}"\n\n[dictionary]\npath = "metrics"\n')
    return config


def fill(url: str, hourly: dict) -> None:
    engine = store.open_engine(url)
    store.upgrade(engine)
    MetricStore(engine).upsert("hourly", hourly)
    engine.dispose()


def daily(url: str) -> dict:
    engine = create_engine(database_url(url))
    with engine.connect() as connection:
        rows = connection.execute(select(Metric.name, DailyValue.date, DailyValue.value).join(Metric)).all()
    engine.dispose()
    return {(name, day): value for name, day, value in rows}


def test_validate(setup, tmp_path, sqlite_url, capsys):
    assert cli.main(["metrics", "validate", "-c", str(setup)]) == 0
    assert capsys.readouterr().err == f"{tmp_path}/metrics: 2 definitions in 1 files, ok\n"
    # --strict: every stored metric needs a definition
    fill(sqlite_url, {("objects.users.count", D, 1): 3, ("app.logins", D, 1): 2, ("zz.top", D, 1): 1})
    assert cli.main(["metrics", "validate", "--strict", "-c", str(setup)]) == 1
    captured = capsys.readouterr()
    assert "error: store: 2 metrics (app.logins, zz.top) that no definition covers" in captured.err
    assert captured.out == "app.logins\nzz.top\n"
    (tmp_path / "metrics" / "more.yaml").write_text(
        "- {key: '*.*', description: Anything., unit: x, value_type: number, aggregation: sum, time_frame: 1h, "
        "owner: o, data_source: s}\n"
    )
    assert cli.main(["metrics", "validate", "--strict", "-c", str(setup)]) == 0
    assert "store: every one of its 3 metrics has a definition" in capsys.readouterr().err


def test_validate_reports_every_problem_and_exits_1(setup, tmp_path, capsys):
    (tmp_path / "metrics" / "bad.yaml").write_text(
        DEFINITIONS.replace("last", "latest").replace("key: app.signups", "key: app.signups, unit: 3")
    )
    assert cli.main(["metrics", "validate", "-c", str(setup)]) == 1
    err = capsys.readouterr().err.splitlines()
    folder = tmp_path / "metrics"
    assert err == [
        f"error: {folder}/bad.yaml:4: invalid YAML: duplicate field 'unit'",
        f"error: {folder}: 1 problem in 2 files",
    ]
    (tmp_path / "metrics" / "bad.yaml").write_text(DEFINITIONS.replace("last", "latest"))
    assert cli.main(["metrics", "validate", "-c", str(setup)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith(f"error: {folder}/bad.yaml:3: objects.*.count: aggregation: must be one of sum, last")
    assert err[1] == f"error: {folder}/bad.yaml:4: app.signups: key already defined at {folder}/app.yaml:4"
    assert err[-1] == f"error: {folder}: 2 problems in 2 files"


def test_commands_without_a_dictionary_exit_2(tmp_path, sqlite_url, capsys):
    config = tmp_path / "analytics.toml"
    config.write_text(f'[store]\nurl = "{sqlite_url}"\n')
    for argv in (["metrics", "validate"], ["metrics", "list"], ["metrics", "sync"], ["export"]):
        assert cli.main([*argv, "-c", str(config)]) == 2
        assert (
            capsys.readouterr().err == f'error: {config}: no [dictionary] section (add [dictionary] path = "metrics")\n'
        )
    config.write_text(f'[store]\nurl = "{sqlite_url}"\n[dictionary]\npath = "nowhere"\n')
    assert cli.main(["metrics", "list", "-c", str(config)]) == 2
    assert capsys.readouterr().err == f"error: dictionary.path: {tmp_path}/nowhere is not a folder\n"


def test_list_and_show_with_last_values(setup, sqlite_url, capsys):
    assert cli.main(["metrics", "list", "-c", str(setup)]) == 0  # no store yet: definitions only
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["KEY", "/", "METRIC", "STATUS", "AGG", "FRAME", "UNIT", "LAST", "HOURLY", "LAST", "DAILY"]
    assert [line.split() for line in out[1:]] == [
        ["app.signups", "active", "sum", "1h", "users"],
        ["objects.*.count", "active", "last", "all", "rows"],
    ]
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()  # listing never creates a store

    fill(sqlite_url, {("objects.users.count", D, 1): 3, ("objects.users.count", D, 4): 5, ("zz.top", D, 2): 1.5})
    assert cli.main(["rollup", "--since", "2026-11-20", "--until", "2026-11-21", "-c", str(setup)]) == 0
    capsys.readouterr()
    assert cli.main(["metrics", "list", "-c", str(setup)]) == 0
    out = [line.split() for line in capsys.readouterr().out.splitlines()[1:]]
    assert out == [
        ["app.signups", "active", "sum", "1h", "users"],
        ["objects.*.count", "active", "last", "all", "rows"],
        ["objects.users.count", "5", "at", "2026-11-20", "04:00", "5", "on", "2026-11-20", "(rollup)"],
        ["(no", "definition)"],
        ["zz.top", "1.5", "at", "2026-11-20", "02:00"],
    ]

    assert cli.main(["metrics", "show", "objects.users.count", "-c", str(setup)]) == 0
    out = capsys.readouterr().out
    assert "key:           objects.*.count\n" in out and "aggregation:   last\n" in out
    assert f"defined in:    {setup.parent}/metrics/app.yaml:3\n" in out
    assert "metrics:       1 in the store\n" in out
    assert "objects.users.count\n  hourly  2026-11-20 04:00  5\n  hourly  2026-11-20 01:00  3\n" in out
    assert "  daily   2026-11-20        5  (rollup)\n" in out
    assert cli.main(["metrics", "show", "objects.*.count", "-c", str(setup)]) == 0
    assert "objects.users.count\n" in capsys.readouterr().out
    assert cli.main(["metrics", "show", "zz.top", "-c", str(setup)]) == 0
    assert capsys.readouterr().out.startswith("zz.top: no definition covers it")
    assert cli.main(["metrics", "show", "no.such", "-c", str(setup)]) == 1
    assert capsys.readouterr().err == "error: no.such: no definition covers it and no stored metric has that name\n"


def test_rollup_command_as_the_airflow_dag_calls_it(setup, sqlite_url, capsys):
    fill(sqlite_url, {("app.signups", D, 10): 2, ("app.signups", D, 11): 1, ("app.signups", date(2026, 11, 21), 0): 7})
    argv = ["rollup", "--since", "2026-11-20T11:00:00+00:00", "--until", "2026-11-20T12:00:00+00:00", "-c", str(setup)]
    assert cli.main(argv) == 0
    err = capsys.readouterr().err
    assert "rollup 2026-11-20: 1 daily value from hours (sum 1), 1 changed" in err
    assert daily(sqlite_url) == {("app.signups", D): 3}
    assert cli.main(argv) == 0
    assert "rollup 2026-11-20: 1 daily value from hours (sum 1), 0 changed" in capsys.readouterr().err
    # an offset: 2026-11-21T01:30+02:00 is 2026-11-20 23:30 UTC
    assert (
        cli.main(["rollup", "--since", "2026-11-21T01:30+02:00", "--until", "2026-11-21T03:00+02:00", "-c", str(setup)])
        == 0
    )
    assert "rollup 2026-11-20 … 2026-11-21: 2 daily values" in capsys.readouterr().err
    assert cli.main(["rollup", "--since", "2026-11-21", "--until", "2026-11-20", "-c", str(setup)]) == 2
    assert "error: --since (2026-11-21 00:00) must be before --until (2026-11-20 00:00)" in capsys.readouterr().err
    assert cli.main(["rollup", "--since", "yesterday", "-c", str(setup)]) == 2


def test_read_write_syncs_rolls_up_and_reports_metrics_outside_the_dictionary(setup, tmp_path, sqlite_url, capsys):
    website = tmp_path / "website.db"
    with sqlite3.connect(website) as db:
        db.executescript("CREATE TABLE users (id INTEGER PRIMARY KEY); INSERT INTO users DEFAULT VALUES;")
    setup.write_text(
        setup.read_text()
        + f'\n[sources.website]\nurl = "sqlite:///{website}"\n'
        + '[readers.objects]\nsource = "website"\ntables = ["users"]\n'
        + '[readers.sql.queries.extra]\nsource = "website"\ntime_column = ""\nsql = "SELECT count(*) AS n FROM users"\n'
    )
    assert cli.main(["read", "all", "--write", "-c", str(setup)]) == 0
    err = capsys.readouterr().err
    today = datetime.now(UTC).date()
    assert f"rollup {today}: 1 daily value from hours (last 1), 1 changed" in err
    assert "not in the dictionary: 1 metric (extra.n) written; no description, no daily rollup" in err
    assert err.index("not in the dictionary") < err.index("run ok")
    assert daily(sqlite_url) == {("objects.users.count", today): 1}
    engine = create_engine(database_url(sqlite_url))
    with engine.connect() as connection:
        described = dict(
            connection.execute(select(Metric.name, Metric.description).where(~Metric.name.like("etl.%"))).all()
        )
    engine.dispose()
    assert described == {"objects.users.count": "Rows in a table.", "extra.n": None}

    (tmp_path / "metrics" / "app.yaml").write_text(DEFINITIONS.replace("aggregation: sum", "aggregation: plus"))
    assert cli.main(["read", "objects", "sql", "--write", "-c", str(setup)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {tmp_path}/metrics/app.yaml:4: app.signups: aggregation: must be one of")
    assert len(err.splitlines()) == 1


def test_the_demo_uses_the_shipped_dictionary(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    demo.create(tmp_path)  # `init` writes metrics/ from the package: no clone needed
    assert "[dictionary]                            # metric definitions" in (tmp_path / "analytics.toml").read_text()
    assert cli.main(["read", "all", "--write"]) == 0
    err = capsys.readouterr().err
    assert "not in the dictionary" not in err and "rollup " in err
    assert cli.main(["metrics", "validate", "--strict"]) == 0
