"""The `events` reader on the columnar stores: a DuckDB database file, day-partitioned Parquet read
through DuckDB, and ClickHouse (chdb, in-process, through clickhouse-connect).

The reference tests of `test_reader_events.py` run here unchanged (imported: same bodies, same
expected values — numpy percentiles, UTC hour boundaries, 7d/28d edges, NULL users), with this
module's `source` fixture giving the columnar stores instead of the row stores.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
import test_reader_events as reference
from support.columnar import ClickHouseTable, DuckDBFile, ParquetFolder
from test_reader_events import (  # noqa: F401  (collected here, on this module's `source`)
    NOV20,
    at,
    backfill,
    read,
    split,
    test_allow_list_reads_only_those_names_and_writes_zeros,
    test_daily_values_over_many_days_match_a_reference,
    test_hourly_and_daily_aggregates_match_a_reference,
    test_names_colliding_after_sanitising,
    test_rolling_windows_at_their_edges,
    test_without_duration_column,
)

from apercite_analytics.errors import SourceError

STORES = ["duckdb", "parquet", "clickhouse"]


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory) -> Path:
    """One chdb data folder for the session (chdb keeps one engine per process); a database per test."""
    return tmp_path_factory.mktemp("chdb")


def make_store(kind: str, tmp_path: Path, chdb_path: Path, **options):
    if kind == "duckdb":
        return DuckDBFile(tmp_path, **options)
    if kind == "parquet":
        return ParquetFolder(tmp_path)
    return ClickHouseTable(chdb_path)


@pytest.fixture(params=STORES)
def source(request, tmp_path, chdb_path, monkeypatch):
    store = make_store(request.param, tmp_path, chdb_path)
    store.create()
    # the reference tests configure `[readers.events]` through `section`: point it at the store's table
    plain = reference.section
    monkeypatch.setattr(reference, "section", lambda **overrides: plain(**(store.section() | overrides)))
    yield store
    if isinstance(store, ClickHouseTable):
        store.drop()


def hour_10_and_11() -> list[tuple]:
    return [
        ("signup", at("2026-11-20 09:59:59.999"), 1, 1.0),  # before --since
        ("signup", at("2026-11-20 10:00:00"), 1, 2.0),
        ("signup", at("2026-11-20 10:59:59.999"), 2, 3.0),
        ("signup", at("2026-11-20 11:00:00"), 3, 4.0),
        ("signup", at("2026-11-20 11:59:59.999"), 3, 5.0),
        ("signup", at("2026-11-20 12:00:00"), 4, 6.0),  # --until is exclusive
    ]


# percentiles as numpy's to the last bit or two (DuckDB: 2.9000000000000004)
EXPECTED_10_AND_11 = {
    (NOV20, 10): {
        "events.signup.count": 2,
        "events.signup.users": 2,
        "events.signup.duration.p50": pytest.approx(2.5),
        "events.signup.duration.p90": pytest.approx(2.9),
        "events.signup.duration.p99": pytest.approx(2.99),
        "events.signup.duration.max": 3.0,
    },
    (NOV20, 11): {
        "events.signup.count": 2,
        "events.signup.users": 1,
        "events.signup.duration.p50": pytest.approx(4.5),
        "events.signup.duration.p90": pytest.approx(4.9),
        "events.signup.duration.p99": pytest.approx(4.99),
        "events.signup.duration.max": 5.0,
    },
}


def test_hour_boundaries_are_utc_hours(source):
    source.insert(hour_10_and_11())
    hourly, _ = split(read(source.url, backfill("2026-11-20T10:00", "2026-11-20T12:00")))
    assert hourly == EXPECTED_10_AND_11


def test_hour_boundaries_on_a_naive_duckdb_timestamp(tmp_path, chdb_path, monkeypatch):
    store = make_store("duckdb", tmp_path, chdb_path, time_type="TIMESTAMP")
    store.create()
    store.insert(hour_10_and_11())
    hourly, _ = split(read(store.url, backfill("2026-11-20T10:00", "2026-11-20T12:00")))
    assert hourly == EXPECTED_10_AND_11


def test_hour_boundaries_on_a_clickhouse_column_in_another_time_zone(chdb_path):
    store = ClickHouseTable(chdb_path)
    try:  # the column is displayed in Kolkata time (UTC+5:30): hours and days must still be UTC
        store.run(
            f"CREATE TABLE {store.database}.events (name String, created_at DateTime64(3, 'Asia/Kolkata'), "
            "user_id Nullable(Int32), duration_ms Nullable(Float64)) ENGINE = MergeTree ORDER BY created_at"
        )
        values = ", ".join(
            f"('{n}', toDateTime64('{t:%Y-%m-%d %H:%M:%S.%f}', 3, 'UTC'), {u}, {d})" for n, t, u, d in hour_10_and_11()
        )
        store.run(f"INSERT INTO {store.database}.events VALUES {values}")
        hourly, daily = split(read(store.url, backfill("2026-11-20T10:00", "2026-11-20T12:00")))
    finally:
        store.drop()
    assert hourly == EXPECTED_10_AND_11
    assert daily[NOV20]["events.signup.users"] == 4


def test_decimal_durations_are_not_truncated(tmp_path, chdb_path):
    # DuckDB's percentile_cont over DECIMAL(10, 3) answers a DECIMAL(10, 3): 2.99598 would come back as 2.995
    store = make_store("duckdb", tmp_path, chdb_path)
    store.create(duration_type="DECIMAL(10, 3)")
    store.insert(
        [("signup", at("2026-11-20 10:10:00"), 1, Decimal("2.5")), ("signup", at("2026-11-20 10:20:00"), 2, Decimal("3.001"))]
    )
    hourly, _ = split(read(store.url, backfill("2026-11-20T10:00", "2026-11-20T11:00")))
    metrics = hourly[(NOV20, 10)]
    assert metrics["events.signup.duration.p99"] == pytest.approx(2.5 + 0.501 * 0.99, rel=1e-12)
    assert metrics["events.signup.duration.p50"] == pytest.approx(2.7505, rel=1e-12)
    assert float(metrics["events.signup.duration.max"]) == 3.001  # a Decimal, as PostgreSQL's numeric: normalize takes it
