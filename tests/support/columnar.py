"""Real columnar event stores for the `events` reader's tests, each with the interface of
`test_reader_events.Source` (`url`, `create()`, `insert(rows)`; rows of (name, aware UTC moment,
user or None, duration or None)):

* `DuckDBFile` — an `events` table in a DuckDB database file;
* `ParquetFolder` — day=YYYY-MM-DD partitions written by the Parquet sink, read through an
  in-memory DuckDB (`table` is the folder: `section` gives it);
* `ClickHouseTable` — a table written by the ClickHouse sink into a database of its own on chdb
  (ClickHouse in-process), reached by the reader through clickhouse-connect's chdb interface.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from apercite_analytics.tracking.clickhouse_sink import ClickHouseSink, client_for
from apercite_analytics.tracking.parquet_sink import ParquetSink
from apercite_analytics.tracking.sinks import StoredEvent

RECEIVED = datetime(2026, 11, 21, tzinfo=UTC)


def stored(rows: Sequence[tuple]) -> list[StoredEvent]:
    return [
        StoredEvent(name, moment, None if user is None else str(user), duration, "k1", RECEIVED)
        for name, moment, user, duration in rows
    ]


class DuckDBFile:
    dialect = "duckdb"

    def __init__(self, folder: Path, time_type: str = "TIMESTAMPTZ"):
        self.path = folder / "events.duckdb"
        self.url = f"duckdb:///{self.path}"
        self.time_type = time_type

    def run(self, *statements: str) -> None:
        with duckdb.connect(str(self.path)) as connection:  # closed after: the reader opens it read-only
            for statement in statements:
                connection.execute(statement)

    def create(self, table: str = "events", duration_type: str = "DOUBLE") -> None:
        self.run(
            f"CREATE TABLE {table} (id INTEGER, name VARCHAR, created_at {self.time_type}, "
            f"user_id INTEGER, duration_ms {duration_type})"
        )

    def insert(self, rows: Sequence[tuple], table: str = "events") -> None:
        naive = self.time_type.upper() == "TIMESTAMP"
        with duckdb.connect(str(self.path)) as connection:
            connection.execute("SET TimeZone = 'UTC'")
            connection.executemany(
                f"INSERT INTO {table} (name, created_at, user_id, duration_ms) VALUES (?, ?, ?, ?)",
                [(n, t.astimezone(UTC).replace(tzinfo=None) if naive else t, u, d) for n, t, u, d in rows],
            )

    def section(self) -> dict:
        return {}


class ParquetFolder:
    dialect = "parquet"
    url = "duckdb:///:memory:"

    def __init__(self, folder: Path):
        self.folder = folder / "events"

    def create(self) -> None:
        self.folder.mkdir()

    def insert(self, rows: Sequence[tuple]) -> None:
        ParquetSink(self.folder).write(stored(rows))

    def section(self) -> dict:
        return {"table": str(self.folder)}


class ClickHouseTable:
    dialect = "clickhouse"

    def __init__(self, chdb_path: Path):
        self.database = f"t_{uuid.uuid4().hex[:12]}"
        self.query = f"interface=chdb&path={chdb_path}"
        self.url = f"clickhouse:///{self.database}?{self.query}"
        self.run(f"CREATE DATABASE {self.database}")

    def run(self, *statements: str) -> None:
        client = client_for(f"clickhouse:///default?{self.query}")
        try:
            for statement in statements:
                client.command(statement)
        finally:
            client.close()

    def create(self, table: str = "events") -> None:
        ClickHouseSink(self.url, table).close()

    def insert(self, rows: Sequence[tuple], table: str = "events") -> None:
        sink = ClickHouseSink(self.url, table, create=False)
        try:
            sink.write(stored(rows))
        finally:
            sink.close()

    def drop(self) -> None:
        self.run(f"DROP DATABASE IF EXISTS {self.database}")

    def section(self) -> dict:
        return {}
