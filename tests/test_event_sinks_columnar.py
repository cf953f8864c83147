"""The Parquet and ClickHouse sinks: what they store, that a batch is all or nothing, and one clear
line when they cannot store it. (The `events` reader's reference tests read what they write: see
`test_reader_events_columnar.py`.)"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
from support.columnar import ClickHouseTable
from support.ports import free_port

from apercite_analytics.config.secrets import mask_url
from apercite_analytics.tracking.clickhouse_sink import ClickHouseSink, client_for
from apercite_analytics.tracking.parquet_sink import ParquetSink
from apercite_analytics.tracking.sinks import COLUMNS, SinkError, StoredEvent

RECEIVED = datetime(2026, 11, 21, 0, 0, 5, tzinfo=UTC)


def event(moment: str, user: str | None = "u1", duration: float | None = 12.5, **properties) -> StoredEvent:
    return StoredEvent("signup", datetime.fromisoformat(moment), user, duration, "k2026", RECEIVED, properties)


BATCH = [
    event("2026-11-20T23:59:59.999+00:00", plan="pro"),
    event("2026-11-21T00:00:00+00:00", None, None),
    event("2026-11-21T01:30:00+01:00", "u2", 3.0),  # 00:30 UTC: the 21st
]


def files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_parquet_sink_writes_one_file_per_utc_day_with_the_stored_columns(tmp_path):
    written = ParquetSink(tmp_path).write(BATCH)
    assert [p.parent.name for p in written] == ["day=2026-11-20", "day=2026-11-21"]
    assert files(tmp_path) == sorted(str(p.relative_to(tmp_path)) for p in written)  # no temporary file left
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        relation = connection.sql(f"SELECT * FROM read_parquet('{tmp_path}/**/*.parquet', hive_partitioning = true)")
        assert relation.columns == [*COLUMNS, "day"]
        assert [str(t) for t in relation.types][:7] == [
            "VARCHAR",
            "TIMESTAMP WITH TIME ZONE",
            "VARCHAR",
            "DOUBLE",
            "VARCHAR",
            "VARCHAR",
            "TIMESTAMP WITH TIME ZONE",
        ]
        rows = connection.execute(
            f"SELECT strftime(created_at, '%Y-%m-%d %H:%M:%S.%g'), user_id, duration_ms, properties, key_id, "
            f"CAST(day AS VARCHAR) FROM read_parquet('{tmp_path}/**/*.parquet', hive_partitioning = true) "
            "ORDER BY created_at"
        ).fetchall()
    assert rows == [
        ("2026-11-20 23:59:59.999", "u1", 12.5, '{"plan":"pro"}', "k2026", "2026-11-20"),
        ("2026-11-21 00:00:00.000", None, None, "{}", "k2026", "2026-11-21"),
        ("2026-11-21 00:30:00.000", "u2", 3.0, "{}", "k2026", "2026-11-21"),
    ]
    again = ParquetSink(tmp_path).write(BATCH[:1])  # a later batch: a new file, the first one untouched
    assert again[0] not in written and len(files(tmp_path)) == 3


def test_a_parquet_batch_that_fails_leaves_no_file(tmp_path):
    ParquetSink(tmp_path).write(BATCH[:1])
    before = files(tmp_path)
    (tmp_path / "day=2026-11-21").write_text("not a folder")  # the second day of the batch cannot be written
    with pytest.raises(SinkError) as info:
        ParquetSink(tmp_path).write(BATCH)
    assert str(info.value).startswith(f"parquet sink '{tmp_path}': batch of 3 events not stored: ")
    assert files(tmp_path) == [*before, "day=2026-11-21"]  # the 20th's file of this batch: removed, not renamed


def test_the_reader_never_matches_a_file_being_written(tmp_path):
    ParquetSink(tmp_path).write(BATCH)
    # what a batch's file is called while it is written (files.atomic_path): `.<name>.<random>`, half of it here
    (tmp_path / "day=2026-11-21" / ".20261121T000000-abc.parquet.k3j2h1").write_bytes(b"PAR1 half a file")
    with duckdb.connect() as connection:
        count = connection.execute(f"SELECT count(*) FROM read_parquet('{tmp_path}/**/*.parquet')").fetchone()
    assert count == (3,)


def test_parquet_sink_needs_its_folder(tmp_path):
    with pytest.raises(SinkError, match=r"^parquet sink: folder '.*/nowhere' does not exist$"):
        ParquetSink(tmp_path / "nowhere")


@pytest.fixture
def clickhouse(tmp_path_factory):
    store = ClickHouseTable(tmp_path_factory.getbasetemp() / "chdb")
    yield store
    store.drop()


def test_clickhouse_sink_inserts_a_batch(clickhouse):
    sink = ClickHouseSink(clickhouse.url, "events")  # creates the table
    try:
        sink.write(BATCH)
        sink.write([])  # nothing to do
        sink.write(BATCH[:1])
    finally:
        sink.close()
    client = client_for(clickhouse.url)
    try:
        rows = client.query(
            "SELECT toString(created_at), user_id, duration_ms, properties, key_id, toString(received_at) "
            "FROM events ORDER BY created_at, user_id"
        ).result_rows
    finally:
        client.close()
    assert rows == [
        ("2026-11-20 23:59:59.999", "u1", 12.5, '{"plan":"pro"}', "k2026", "2026-11-21 00:00:05.000"),
        ("2026-11-20 23:59:59.999", "u1", 12.5, '{"plan":"pro"}', "k2026", "2026-11-21 00:00:05.000"),
        ("2026-11-21 00:00:00.000", None, None, "{}", "k2026", "2026-11-21 00:00:05.000"),
        ("2026-11-21 00:30:00.000", "u2", 3.0, "{}", "k2026", "2026-11-21 00:00:05.000"),
    ]


def test_a_clickhouse_batch_refused_stores_nothing(clickhouse):
    sink = ClickHouseSink(clickhouse.url, "events")
    try:
        broken = StoredEvent(None, BATCH[0].created_at, "u3", 1.0, "k2026", RECEIVED)  # type: ignore[arg-type]
        with pytest.raises(SinkError) as info:
            sink.write([BATCH[0], broken])
        assert str(info.value).startswith(
            f"clickhouse sink {mask_url(clickhouse.url)} table 'events': batch of 2 events not stored: "
        )
        assert "\n" not in str(info.value)
        assert sink.client.command("SELECT count() FROM events") == 0
    finally:
        sink.close()


def test_clickhouse_sink_on_a_server_that_is_down():
    port = free_port()
    with pytest.raises(SinkError) as info:
        ClickHouseSink(f"clickhouse://collector:s3cret@127.0.0.1:{port}/analytics")
    message = str(info.value)
    assert message.startswith(f"clickhouse sink clickhouse://collector:***@127.0.0.1:{port}/analytics table 'events': ")
    assert "s3cret" not in message and "\n" not in message
