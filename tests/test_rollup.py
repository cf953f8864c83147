"""Daily rollups and the dictionary sync, on SQLite and a real PostgreSQL store."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select

from apercite_analytics.dictionary.definitions import Definition, Dictionary
from apercite_analytics.store import rollup
from apercite_analytics.store.definitions import sync
from apercite_analytics.store.models import DailyValue, Metric, MetricDefinition
from apercite_analytics.store.queries import latest_values
from apercite_analytics.store.values import MetricStore

D1, D2, D3 = date(2026, 11, 19), date(2026, 11, 20), date(2026, 11, 21)


def define(key: str, aggregation: str = "sum", **fields) -> Definition:
    values = dict(
        description=f"test metric {key}",
        unit="things",
        value_type="number",
        time_frame="1h",
        data_source="test",
        owner="tests",
    )
    return Definition(key=key, aggregation=aggregation, **(values | fields))


DICTIONARY = Dictionary(
    [
        define("t.sum", "sum"),
        define("t.last", "last"),
        define("t.max", "max"),
        define("t.min", "min"),
        define("t.avg", "avg"),
        define("t.none", "none"),
        define("t.gone", "sum", status="removed", removed=date(2026, 1, 1)),
        define("t.by.*", "sum"),
    ]
)

HOURS = {
    # D1: sum 1 + 2.5 + 4 = 7.5; D2: 10
    ("t.sum", D1, 0): 1,
    ("t.sum", D1, 5): 2.5,
    ("t.sum", D1, 23): 4,
    ("t.sum", D2, 3): 10,
    # last = the value of the latest hour present, not the largest nor the last inserted
    ("t.last", D1, 7): 3,
    ("t.last", D1, 2): 5,
    ("t.last", D1, 6): 9,
    ("t.last", D2, 0): 11,
    # 4, 1, 7 → max 7, min 1, avg 4; D2: 2, 3 → max 3, min 2, avg 2.5
    **{(name, D1, h): v for name in ("t.max", "t.min", "t.avg") for h, v in ((1, 4), (2, 1), (3, 7))},
    **{(name, D2, h): v for name in ("t.max", "t.min", "t.avg") for h, v in ((1, 2), (2, 3))},
    ("t.none", D1, 1): 5,
    ("t.gone", D1, 1): 5,
    ("t.by.a", D1, 1): 1,
    ("t.by.a", D1, 2): 2,
    ("t.by.b", D1, 4): 6,
    ("unknown.metric", D1, 1): 8,
}

EXPECTED = {
    ("t.sum", D1): 7.5,
    ("t.sum", D2): 10,
    ("t.last", D1): 3,
    ("t.last", D2): 11,
    ("t.max", D1): 7,
    ("t.max", D2): 3,
    ("t.min", D1): 1,
    ("t.min", D2): 2,
    ("t.avg", D1): 4,
    ("t.avg", D2): 2.5,
    ("t.by.a", D1): 3,
    ("t.by.b", D1): 6,
}


def daily(engine) -> dict[tuple[str, date], tuple[float, bool]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(Metric.name, DailyValue.date, DailyValue.value, DailyValue.rolled_up).join(Metric)
        ).all()
    return {(name, day): (value, bool(rolled)) for name, day, value, rolled in rows}


@pytest.fixture
def filled(store_engine):
    writer = MetricStore(store_engine)
    writer.upsert("hourly", HOURS)
    sync(store_engine, DICTIONARY)
    return store_engine


def test_rollups_match_hand_computed_days(filled):
    result = rollup.roll_up(filled, [D1, D2])
    assert daily(filled) == {key: (value, True) for key, value in EXPECTED.items()}
    assert result.computed == {"sum": 4, "last": 2, "max": 2, "min": 2, "avg": 2}
    assert result.changed == len(EXPECTED)
    assert result.uncovered == ["unknown.metric"]
    assert result.line() == (
        "rollup 2026-11-19 … 2026-11-20: 12 daily values from hours (sum 4, last 2, max 2, min 2, avg 2), "
        "12 changed; 1 metric (unknown.metric) without a definition not rolled up"
    )


def test_rollup_rerun_is_idempotent_and_follows_changed_hours(filled):
    rollup.roll_up(filled, [D1, D2])
    first = daily(filled)
    with filled.connect() as connection:
        stamps = dict(connection.execute(select(DailyValue.metric_id, DailyValue.updated_at)).all())
    again = rollup.roll_up(filled, [D1, D2])
    assert again.changed == 0 and daily(filled) == first
    with filled.connect() as connection:
        assert dict(connection.execute(select(DailyValue.metric_id, DailyValue.updated_at)).all()) == stamps
    # a later run rewrites an hour (the partial current day): the rollup follows
    MetricStore(filled).upsert("hourly", {("t.sum", D2, 3): 12, ("t.sum", D2, 4): 1})
    assert rollup.roll_up(filled, [D2]).changed == 1
    assert daily(filled)[("t.sum", D2)] == (13, True)


def test_only_the_days_asked_for(filled):
    result = rollup.roll_up(filled, [D2])
    assert {day for _, day in daily(filled)} == {D2}
    assert result.line().startswith("rollup 2026-11-20: 5 daily values from hours")
    # non-contiguous days
    rollup.roll_up(filled, [D1, D3])
    assert ("t.sum", D1) in daily(filled)


def test_a_readers_daily_value_is_never_overwritten_and_replaces_a_rollup(filled):
    writer = MetricStore(filled)
    writer.upsert("daily", {("t.sum", D1, None): 100})
    rollup.roll_up(filled, [D1, D2])
    values = daily(filled)
    assert values[("t.sum", D1)] == (100, False)  # the reader's
    assert values[("t.sum", D2)] == (10, True)  # rolled up
    # a reader later writes the rolled-up day, even with the same value: it becomes the reader's
    writer.upsert("daily", {("t.sum", D2, None): 10})
    assert daily(filled)[("t.sum", D2)] == (10, False)
    rollup.roll_up(filled, [D2])
    assert daily(filled)[("t.sum", D2)] == (10, False)


def test_none_removed_and_undefined_metrics_are_not_rolled_up(filled):
    rollup.roll_up(filled, [D1])
    names = {name for name, _ in daily(filled)}
    assert not names & {"t.none", "t.gone", "unknown.metric"}


def test_latest_values_prefer_the_newest_day_and_hour(filled):
    rollup.roll_up(filled, [D1, D2])
    with filled.connect() as connection:
        latest = latest_values(connection)
    assert latest["t.last"].hourly == (D2, 0, 11)
    assert latest["t.sum"].hourly == (D2, 3, 10)
    assert latest["t.sum"].daily == (D2, 10, True) and latest["t.sum"].current == 10
    assert latest["t.none"].daily is None and latest["t.none"].current == 5


def test_sync_is_idempotent_and_follows_the_dictionary(store_engine):
    MetricStore(store_engine).metric_ids(["t.by.a", "t.sum", "other"])
    first = sync(store_engine, DICTIONARY)
    assert (first.definitions, first.changed, first.described) == (8, 8, 2)
    assert first.uncovered == ["other"]
    again = sync(store_engine, DICTIONARY)
    assert (again.changed, again.described) == (0, 0)
    with store_engine.connect() as connection:
        metrics = {r.name: (r.definition_key, r.description, r.unit) for r in connection.execute(select(Metric))}
        stored = {r.key: r for r in connection.execute(select(MetricDefinition))}
    assert metrics["t.by.a"] == ("t.by.*", "test metric t.by.*", "things")
    assert metrics["other"] == (None, None, None)
    assert stored["t.gone"].removed == date(2026, 1, 1) and stored["t.gone"].status == "removed"
    # a definition changes, another goes: the store follows; the metric it covered is cleared
    smaller = Dictionary([define("t.sum", "max", unit="widgets")])
    third = sync(store_engine, smaller)
    assert (third.changed, third.described) == (8, 2)
    with store_engine.connect() as connection:
        metrics = {r.name: (r.definition_key, r.unit) for r in connection.execute(select(Metric))}
        stored = {r.key: r.aggregation for r in connection.execute(select(MetricDefinition))}
    assert metrics == {"t.sum": ("t.sum", "widgets"), "t.by.a": (None, None), "other": (None, None)}
    assert stored == {"t.sum": "max"}


def test_days_of_a_range():
    at = lambda *a: datetime(*a, tzinfo=UTC)  # noqa: E731
    assert rollup.days_of(at(2026, 11, 20, 11), at(2026, 11, 20, 12)) == [D2]
    assert rollup.days_of(at(2026, 11, 19, 23), at(2026, 11, 21)) == [D1, D2]
    assert rollup.days_of(at(2026, 11, 19), at(2026, 11, 21, 0, 0, 1)) == [D1, D2, D3]


def test_read_write_rolls_up_the_days_it_wrote(tmp_path, store_url):
    """`read sql --write` over two days: the run itself rolls the hours it wrote up into days."""
    import sqlite3

    from sqlalchemy import create_engine

    from apercite_analytics.config.load import parse
    from apercite_analytics.config.urls import database_url
    from apercite_analytics.run import job
    from apercite_analytics.window import Window

    with sqlite3.connect(tmp_path / "source.db") as db:
        db.execute("CREATE TABLE sales (time TEXT, amount REAL)")
        db.executemany(
            "INSERT INTO sales VALUES (?, ?)",
            [(f"{day} {hour:02d}:00:00", hour + 0.5) for day in (D1, D2) for hour in range(24)],
        )
    db.close()
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "shop.yaml").write_text(
        "defaults: {owner: tests, data_source: sql, value_type: number, time_frame: 1h, unit: euros}\n"
        "metrics:\n  - {key: shop.amount, description: Sales in the hour., aggregation: sum}\n"
    )
    settings = parse(
        {
            "store": {"url": store_url},
            "sources": {"shop": {"url": f"sqlite:///{tmp_path / 'source.db'}"}},
            "readers": {
                "sql": {
                    "queries": {
                        "shop": {
                            "source": "shop",
                            "sql": "SELECT time, amount FROM sales WHERE time >= :since AND time < :until",
                        }
                    }
                }
            },
            "dictionary": {"path": str(tmp_path / "metrics")},
        }
    )
    window = Window.from_args(D1.isoformat(), D3.isoformat())
    result = job.execute(settings, ["sql"], window, write=True)
    assert result.ok, result.failures
    engine = create_engine(database_url(store_url))
    with engine.connect() as connection:
        days = dict(
            connection.execute(
                select(DailyValue.date, DailyValue.value).join(Metric).where(Metric.name == "shop.amount")
            ).all()
        )
    engine.dispose()
    assert days == {D1: sum(h + 0.5 for h in range(24)), D2: sum(h + 0.5 for h in range(24))}
