"""`export`: nesting, and a payload that round-trips through the `json` reader into another store."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select

from apercite_analytics.cli import main as cli
from apercite_analytics.config.urls import database_url
from apercite_analytics.dictionary.export import nest, payload
from apercite_analytics.errors import ConfigError
from apercite_analytics.store.models import DailyValue, HourlyValue, Metric
from apercite_analytics.store.values import MetricStore

DEFINITIONS = """\
defaults: {owner: tests, data_source: test, unit: things, value_type: number, time_frame: 1h}
metrics:
  - {key: objects.*.count, description: Rows., aggregation: last}
  - {key: events.*.users, description: Users., aggregation: none}
  - {key: events.*.users.7d, description: Weekly users., aggregation: none}
  - {key: events.*.count, description: Events., aggregation: sum}
  - {key: ga.ratio, description: A float., aggregation: avg}
  - {key: old.metric, description: Old., aggregation: sum, status: deprecated}
"""


def test_nest_is_the_inverse_of_flattening():
    assert nest({"a.b.c": 1, "a.b.d": 2.5, "a.e": 3, "f": 4}) == {"a": {"b": {"c": 1, "d": 2.5}, "e": 3}, "f": 4}
    # a name that is also a prefix of others keeps its value; the longer names become dotted keys beside it
    assert nest({"e.x.users": 5, "e.x.users.7d": 9, "e.x.users.28d.all": 12, "e.x.count": 1.0}) == {
        "e": {"x": {"users": 5, "users.7d": 9, "users.28d.all": 12, "count": 1}}
    }
    at = datetime(2026, 11, 20, 15, 30, 12, 999, tzinfo=UTC)
    assert payload({"a.b": 1}, at) == {"recorded_at": "2026-11-20T15:30:12+00:00", "a": {"b": 1}}
    with pytest.raises(ConfigError, match="a metric is named 'recorded_at'"):
        payload({"recorded_at": 1})


def config(tmp_path: Path, name: str, store_url: str, extra: str = "") -> Path:
    path = tmp_path / f"{name}.toml"
    path.write_text(f'[store]\nurl = "{store_url}"\n\n[dictionary]\npath = "metrics"\n{extra}')
    return path


def test_export_round_trips_through_the_json_reader(tmp_path, store_url, capsys):
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "test.yaml").write_text(DEFINITIONS)
    today = datetime.now(UTC).date()
    yesterday = today - timedelta(days=1)
    source = open_store(store_url)
    source.upsert(
        "hourly",
        {
            ("objects.users.count", yesterday, 23): 590,
            ("objects.users.count", today, 0): 600,  # no daily value: the newest hour is the current value
            ("events.signup.count", yesterday, 1): 4,
            ("ga.ratio", yesterday, 5): 0.1 + 0.2,
            ("old.metric", yesterday, 1): 1,  # deprecated: not exported
            ("not.defined", yesterday, 1): 1,  # no definition: not exported
        },
    )
    source.upsert(
        "daily",
        {
            ("events.signup.users", yesterday, None): 3,
            ("events.signup.users", today, None): 2**40 + 1,  # the newest day wins
            ("events.signup.users.7d", today, None): 9,
            ("events.signup.count", yesterday - timedelta(days=3), None): 77,
        },
    )
    source.engine.dispose()
    out = tmp_path / "payload.json"
    assert cli.main(["export", "--out", str(out), "-c", str(config(tmp_path, "source", store_url))]) == 0
    err = capsys.readouterr().err
    assert f"exported 5 active metrics to {out}" in err
    assert "left out (no active definition): 2 metrics (not.defined, old.metric)" in err
    document = json.loads(out.read_text())
    recorded = datetime.fromisoformat(document.pop("recorded_at"))
    assert abs(recorded - datetime.now(UTC)) < timedelta(minutes=1)
    # what each value covers: its day, or its hour (an ISO 8601 interval)
    day = "T00:00:00+00:00/P1D"
    assert document.pop("periods") == {
        "objects.users.count": f"{today}T00:00:00+00:00/PT1H",
        "events.signup.users": f"{today}{day}",
        "events.signup.users.7d": f"{today}{day}",
        "events.signup.count": f"{yesterday - timedelta(days=3)}{day}",
        "ga.ratio": f"{yesterday}T05:00:00+00:00/PT1H",
    }
    expected = {
        "objects.users.count": 600,
        "events.signup.users": 2**40 + 1,
        "events.signup.users.7d": 9,
        "events.signup.count": 77,
        "ga.ratio": 0.1 + 0.2,
    }
    assert document == {
        "objects": {"users": {"count": 600}},
        "events": {"signup": {"users": 2**40 + 1, "users.7d": 9, "count": 77}},
        "ga": {"ratio": 0.30000000000000004},
    }

    # … read back by the json reader into another store: the same names and values
    target = f"sqlite:///{tmp_path / 'target.db'}"
    reader = f'\n[readers.json.documents.payload]\npath = "{out}"\nprefix = ""\ndate_field = "recorded_at"\n'
    assert cli.main(["read", "json", "--write", "-c", str(config(tmp_path, "target", target, reader))]) == 0
    engine = create_engine(database_url(target))
    with engine.connect() as connection:
        daily = connection.execute(select(Metric.name, DailyValue.date, DailyValue.value).join(Metric)).all()
        own = Metric.name.like("etl.%")  # the job's own hourly metrics
        assert connection.execute(select(HourlyValue).join(Metric).where(~own)).all() == []
    engine.dispose()
    assert {name: value for name, _, value in daily} == expected
    assert {day for _, day, _ in daily} == {recorded.date()}


def open_store(url: str) -> MetricStore:
    from apercite_analytics.store import schema as store

    engine = store.open_engine(url)
    store.upgrade(engine)
    return MetricStore(engine)


def test_export_to_stdout_and_its_errors(tmp_path, sqlite_url, capsys):
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "test.yaml").write_text(DEFINITIONS)
    writer = open_store(sqlite_url)
    writer.upsert("daily", {("ga.ratio", date(2026, 11, 20), None): 1.5})
    writer.engine.dispose()
    cfg = config(tmp_path, "analytics", sqlite_url)
    assert cli.main(["export", "-c", str(cfg)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["ga"] == {"ratio": 1.5} and set(out) == {"ga", "recorded_at", "periods"}
    assert out["periods"] == {"ga.ratio": "2026-11-20T00:00:00+00:00/P1D"}
    assert cli.main(["export", "--out", str(tmp_path / "no" / "such" / "dir.json"), "-c", str(cfg)]) == 2
    assert "--out " in capsys.readouterr().err
    bare = tmp_path / "bare.toml"
    bare.write_text(f'[store]\nurl = "{sqlite_url}"\n')
    assert cli.main(["export", "-c", str(bare)]) == 2
    assert capsys.readouterr().err == f'error: {bare}: no [dictionary] section (add [dictionary] path = "metrics")\n'
