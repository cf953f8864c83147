"""The writers' semantics on both stores (SQLite and a real PostgreSQL): the fast paths (COPY through a
staging table, executemany) must behave exactly like a careful row-by-row upsert."""

from __future__ import annotations

import math
from datetime import date, timedelta

import pytest
from sqlalchemy import select, text

from apercite_analytics.errors import StoreError
from apercite_analytics.record import Normalizer
from apercite_analytics.store import bulk
from apercite_analytics.store.models import DailyValue, HourlyValue, Metric
from apercite_analytics.store.values import MetricStore
from apercite_analytics.writers.upsert import UpsertWriter

D = date(2026, 11, 20)


def rows(engine, table=HourlyValue) -> dict:
    """{(metric, date[, hour]): (value, updated_at)} as stored."""
    keys = [Metric.name, table.date] + ([table.hour] if table is HourlyValue else [])
    with engine.connect() as connection:
        result = connection.execute(select(*keys, table.value, table.updated_at).join(Metric))
        return {tuple(r[:-2]): (r[-2], r[-1]) for r in result}


def stored(engine, table=HourlyValue) -> dict:
    return {key: value for key, (value, _) in rows(engine, table).items()}


def feed(writer: UpsertWriter, metric_store: MetricStore, records) -> None:
    for dims, metrics in records:
        writer(dims, metrics, store=metric_store)
    writer.close(metric_store)


def test_duplicates_in_a_batch_last_one_wins(store_engine):
    metric_store = MetricStore(store_engine)
    writer = UpsertWriter("hourly", batch_size=1000)
    feed(
        writer,
        metric_store,
        [
            ({"date": D, "hour": 1}, {"a": 1, "b": 10}),
            ({"date": D, "hour": 1}, {"a": 2}),
            ({"date": D, "hour": 2}, {"a": 5}),
            ({"date": D, "hour": 1}, {"a": 3, "b": 11}),
        ],
    )
    assert stored(store_engine) == {("a", D, 1): 3.0, ("b", D, 1): 11.0, ("a", D, 2): 5.0}
    assert metric_store.written["hourly_value"] == 3 == metric_store.changed["hourly_value"]


def test_rerun_counts_written_values_and_changed_rows(store_engine):
    batch = {(f"m.{i}", D, h): i * h for i in range(10) for h in range(24)}
    first = MetricStore(store_engine)
    first.upsert("hourly", batch)
    assert first.written["hourly_value"] == first.changed["hourly_value"] == 240
    again = MetricStore(store_engine)
    again.upsert("hourly", batch)  # an unchanged re-run: every value written, no row changed
    assert (again.written["hourly_value"], again.changed["hourly_value"]) == (240, 0)
    before = rows(store_engine)
    changed = dict(batch)
    changed[("m.3", D, 4)] = 1000
    changed[("m.9", D, 23)] = 0.5
    again.upsert("hourly", changed)
    assert (again.written["hourly_value"], again.changed["hourly_value"]) == (480, 2)
    after = rows(store_engine)
    moved = {key for key in after if after[key] != before[key]}
    assert moved == {("m.3", D, 4), ("m.9", D, 23)}  # only the changed values got a new updated_at
    assert after[("m.3", D, 4)][0] == 1000.0 and after[("m.3", D, 4)][1] > before[("m.3", D, 4)][1]


def test_daily_rerun_updates_changed_values_only(store_engine):
    metric_store = MetricStore(store_engine)
    metric_store.upsert("daily", {("ga.sessions", D, None): 10, ("ga.users", D, None): 4})
    metric_store.upsert("daily", {("ga.sessions", D, None): 12, ("ga.users", D, None): 4})
    assert stored(store_engine, DailyValue) == {("ga.sessions", D): 12.0, ("ga.users", D): 4.0}
    assert (metric_store.written["daily_value"], metric_store.changed["daily_value"]) == (4, 3)


def test_a_failing_batch_writes_nothing_and_the_next_one_works(store_engine):
    metric_store = MetricStore(store_engine)
    metric_store.upsert("hourly", {("a", D, 0): 1})
    batch = {(f"m.{i}", D, i % 24): i for i in range(3000)}
    batch[("a", D, 0)] = 2  # would change a stored value…
    batch[("m.last", D, 24)] = 1  # …but the last row breaks the hour check: nothing of the batch is kept
    with pytest.raises(StoreError, match=r"writing 3002 hourly values failed: .*(?i:check)"):
        metric_store.upsert("hourly", batch)
    assert stored(store_engine) == {("a", D, 0): 1.0}
    assert metric_store.written["hourly_value"] == metric_store.changed["hourly_value"] == 1
    # metric ids are committed apart from the values, so the cache stays true after the rollback
    with store_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM metric")).scalar_one() == 3002
    del batch[("m.last", D, 24)]
    metric_store.upsert("hourly", batch)  # same session (and staging table) after the rollback
    assert len(stored(store_engine)) == 3001 and stored(store_engine)[("a", D, 0)] == 2.0


def test_a_batch_spanning_many_copy_chunks(store_engine, monkeypatch):
    monkeypatch.setattr(bulk, "COPY_CHUNK_ROWS", 7)
    batch = {(f"m.{i % 50}", D - timedelta(days=i // 1200), (i // 50) % 24): i + 0.25 for i in range(5003)}
    metric_store = MetricStore(store_engine)
    metric_store.upsert("hourly", batch)
    assert stored(store_engine) == {key: float(value) for key, value in batch.items()}
    assert metric_store.changed["hourly_value"] == 5003


def test_copy_lines_are_chunked_and_exact():
    ids = {"a": 1, "b": 2, "c": 3}
    hourly = {("a", D, 5): 0.1, ("b", D, 0): 3, ("c", D - timedelta(days=1), 23): -1e-300}
    chunks = list(bulk.copy_lines("hourly", hourly, ids, chunk_rows=2))
    assert chunks == [b"1\t2026-11-20\t5\t0.1\n2\t2026-11-20\t0\t3\n", b"3\t2026-11-19\t23\t-1e-300\n"]
    assert list(bulk.copy_lines("daily", {("c", D, None): 2.5}, ids)) == [b"3\t2026-11-20\t2.5\n"]
    assert list(bulk.copy_lines("hourly", {}, ids)) == []


def test_values_round_trip_exactly(store_engine):
    values = [0.1, 1 / 3, -0.0, 1e-300, 1.7976931348623157e308, 2**53 - 1, -(2**53 - 1), 0, 123456789.123456789]
    batch = {(f"v.n{i}", D, 1): v for i, v in enumerate(values)}
    MetricStore(store_engine).upsert("hourly", batch)
    assert stored(store_engine) == {key: float(v) for key, v in batch.items()}


@pytest.mark.parametrize("bad", [None, math.nan, math.inf, -math.inf, True, "3", 2.5j, 10**400])
def test_the_store_refuses_what_normalize_would_reject(store_engine, bad):
    metric_store = MetricStore(store_engine)
    with pytest.raises(StoreError, match=r"of b at 2026-11-20 01:00 is not a finite number: batch not written"):
        metric_store.upsert("hourly", {("a", D, 1): 1, ("b", D, 1): bad})
    assert stored(store_engine) == {}


def test_null_and_nan_never_reach_the_writer(store_engine):
    """normalize rejects them (counted); the rest of the record is written."""
    reasons: list[str] = []
    normalizer = Normalizer(on_reject=reasons.append)
    metric_store = MetricStore(store_engine)
    writer = UpsertWriter("hourly")
    record = ({"date": D, "hour": 3}, {"ok": 1.5, "null": None, "nan": math.nan, "inf": math.inf})
    feed(writer, metric_store, normalizer(*record))
    assert stored(store_engine) == {("ok", D, 3): 1.5}
    assert normalizer.rejected == 3 and len(reasons) == 3


def test_hourly_and_daily_writers_share_one_store(store_engine):
    metric_store = MetricStore(store_engine)
    hourly, daily = UpsertWriter("hourly", batch_size=100), UpsertWriter("daily", batch_size=100)
    records = [({"date": D - timedelta(days=i // 24), "hour": i % 24}, {"x": i, "y": -i}) for i in range(500)]
    records += [({"date": D - timedelta(days=i)}, {"x": i}) for i in range(30)]
    for dims, metrics in records:
        hourly(dims, metrics, store=metric_store)
        daily(dims, metrics, store=metric_store)
    hourly.close(metric_store)
    daily.close(metric_store)
    assert len(stored(store_engine)) == 1000 and len(stored(store_engine, DailyValue)) == 30
    assert metric_store.written == {"hourly_value": 1000, "daily_value": 30}
    assert metric_store.created == 2


def test_daily_values_round_trip_exactly_through_the_daily_writer(store_engine):
    """The daily path (COPY on PostgreSQL) keeps every digit, as the hourly one does."""
    values = [0.1, 1 / 3, -0.0, 1e-300, 1.7976931348623157e308, 2**53 - 1, 0, 123456789.123456789, 1.0000001e-7]
    metric_store = MetricStore(store_engine)
    feed(UpsertWriter("daily"), metric_store, [({"date": D}, {f"v.n{i}": v for i, v in enumerate(values)})])
    assert stored(store_engine, DailyValue) == {(f"v.n{i}", D): float(v) for i, v in enumerate(values)}
