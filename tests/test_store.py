"""The metric store on SQLite and a real PostgreSQL: migrations, upserts, idempotency."""

from __future__ import annotations

from datetime import date

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, select, text

from apercite_analytics.errors import StoreError
from apercite_analytics.store import schema as store
from apercite_analytics.store.models import Base, DailyValue, HourlyValue, Metric
from apercite_analytics.store.values import MetricStore
from apercite_analytics.writers.upsert import UpsertWriter

D = date(2026, 11, 20)


def values(engine, table=HourlyValue):
    columns = [Metric.name, table.date] + ([table.hour] if table is HourlyValue else []) + [table.value]
    with engine.connect() as connection:
        rows = connection.execute(select(*columns).join(Metric, Metric.id == table.metric_id)).all()
    return sorted(tuple(r) for r in rows)


def test_upgrade_creates_the_schema_on_an_empty_database(store_url):
    engine = store.open_engine(store_url)
    assert store.current_revision(engine) is None
    before, after = store.upgrade(engine)
    assert (before, after) == (None, store.head_revision())
    assert store.current_revision(engine) == store.head_revision()
    tables = set(inspect(engine).get_table_names())
    assert {"metric", "hourly_value", "daily_value", "run_log", "alembic_version"} <= tables
    pk = inspect(engine).get_pk_constraint("hourly_value")["constrained_columns"]
    assert pk == ["metric_id", "date", "hour"]
    # a second upgrade is a no-op
    assert store.upgrade(engine) == (store.head_revision(), store.head_revision())
    engine.dispose()


def test_migrations_match_the_models(store_engine):
    """What the migrations create is exactly what models.py declares (no autogenerate diff)."""
    with store_engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)
    assert diff == []


def test_hour_check_constraint(store_engine):
    MetricStore(store_engine).metric_ids(["a"])
    with pytest.raises(Exception, match="(?i)check"), store_engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO hourly_value (metric_id, date, hour, value, updated_at) "
                "VALUES (1, '2026-11-20', 24, 1, '2026-11-20 00:00:00')"
            )
        )


def test_ensure_ready_initialises_an_empty_store_only(store_url):
    engine = store.open_engine(store_url)
    note = store.ensure_ready(engine)
    assert note and "initialised an empty store" in note
    assert store.ensure_ready(engine) is None
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    head = store.head_revision()
    with pytest.raises(
        StoreError, match=rf"is at revision 0001, this version needs {head}: run `apercite-analytics db upgrade`"
    ):
        store.ensure_ready(engine)
    engine.dispose()


def test_ensure_ready_refuses_foreign_tables(store_url):
    engine = store.open_engine(store_url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE metric (id INTEGER)"))
    with pytest.raises(StoreError, match="no migration record"):
        store.ensure_ready(engine)
    engine.dispose()


def test_rerunning_the_same_hour_keeps_one_row_with_the_newest_value(store_engine):
    first = MetricStore(store_engine)
    first.upsert("hourly", {("objects.users.count", D, 10): 5, ("objects.users.count", D, 11): 6})
    again = MetricStore(store_engine)  # a later run: fresh id cache
    again.upsert("hourly", {("objects.users.count", D, 10): 7})
    assert values(store_engine) == [("objects.users.count", D, 10, 7.0), ("objects.users.count", D, 11, 6.0)]
    with store_engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM metric")).scalar_one() == 1
    assert again.written["hourly_value"] == 1


def test_daily_values_and_hourly_values_are_separate(store_engine):
    writer = MetricStore(store_engine)
    writer.upsert("daily", {("ga.sessions", D, None): 10})
    writer.upsert("daily", {("ga.sessions", D, None): 12})
    writer.upsert("hourly", {("ga.sessions", D, 0): 1})
    assert values(store_engine, DailyValue) == [("ga.sessions", D, 12.0)]
    assert values(store_engine) == [("ga.sessions", D, 0, 1.0)]


def test_unchanged_value_keeps_updated_at(store_engine):
    writer = MetricStore(store_engine)
    writer.upsert("hourly", {("a", D, 1): 1})
    with store_engine.connect() as connection:
        before = connection.execute(select(HourlyValue.updated_at)).scalar_one()
    writer.upsert("hourly", {("a", D, 1): 1})
    with store_engine.connect() as connection:
        assert connection.execute(select(HourlyValue.updated_at)).scalar_one() == before
    writer.upsert("hourly", {("a", D, 1): 2})
    with store_engine.connect() as connection:
        assert connection.execute(select(HourlyValue.updated_at)).scalar_one() > before


def test_many_new_metrics_in_one_batch(store_engine):
    """Get-or-create in bulk, across the IN-list chunk size."""
    writer = MetricStore(store_engine)
    batch = {(f"m.n{i:04d}", D, 3): i for i in range(1234)}
    writer.upsert("hourly", batch)
    assert writer.created == 1234
    assert len(values(store_engine)) == 1234
    assert MetricStore(store_engine).metric_ids(["m.n0000", "m.n1233"]) == writer.metric_ids(["m.n0000", "m.n1233"])


def test_writer_batches_keep_the_last_duplicate_and_split_by_kind(store_engine):
    metric_store = MetricStore(store_engine)
    hourly, daily = UpsertWriter("hourly", batch_size=3), UpsertWriter("daily", batch_size=3)
    records = [
        ({"date": D, "hour": 1}, {"a": 1, "b": 1}),
        ({"date": D, "hour": 1}, {"a": 2}),  # same key in the same batch: last one wins
        ({"date": D}, {"a": 100}),
        ({"date": D, "hour": 2}, {"a": 3, "b": 3}),  # fills the batch: flushed here
        ({"date": D, "hour": 1}, {"a": 4}),  # same key, next batch: rewrites
    ]
    for dims, metrics in records:
        hourly(dims, metrics, store=metric_store)
        daily(dims, metrics, store=metric_store)
    assert values(store_engine) == [("a", D, 1, 2.0), ("a", D, 2, 3.0), ("b", D, 1, 1.0), ("b", D, 2, 3.0)]
    hourly.close(metric_store)
    daily.close(metric_store)
    assert values(store_engine) == [("a", D, 1, 4.0), ("a", D, 2, 3.0), ("b", D, 1, 1.0), ("b", D, 2, 3.0)]
    assert values(store_engine, DailyValue) == [("a", D, 100.0)]


def test_write_failure_is_a_store_error_without_the_password(pg_url):
    url = pg_url.replace("postgresql://postgres@", "postgresql://postgres:pw-s3cret@")
    engine = store.open_engine(url)
    store.upgrade(engine)
    metric_store = MetricStore(engine)
    with engine.begin() as connection:
        connection.execute(text("DROP TABLE hourly_value CASCADE"))  # CASCADE: the hourly_series view
    with pytest.raises(StoreError) as info:
        metric_store.upsert("hourly", {("a", D, 1): 1})
    assert "writing 1 hourly values failed" in str(info.value)
    assert 'relation "hourly_value" does not exist' in str(info.value)
    assert "pw-s3cret" not in str(info.value) and "***" in str(info.value)
    engine.dispose()


def test_unreachable_store_is_one_clear_error():
    engine = store.open_engine("postgresql://u:topsecret@127.0.0.1:1/nope")
    with pytest.raises(StoreError) as info:
        store.current_revision(engine)
    message = str(info.value)
    assert message.startswith("store (postgresql://u:***@127.0.0.1:1/nope): connection to server")
    assert "topsecret" not in message and "\n" not in message


def test_store_must_be_postgresql_or_sqlite():
    with pytest.raises(StoreError, match="must be PostgreSQL or SQLite, not mysql"):
        MetricStore(store.open_engine("mysql+pymysql://root@127.0.0.1/test"))
