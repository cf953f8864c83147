"""Which reflection and which statements the `events` reader uses, by the source's store.

PostgreSQL, MariaDB/MySQL and SQLite: `common/tables.py` and `_events_sql.py`. DuckDB (a database
file, or Parquet files as the table path): `_events_duckdb.py`. ClickHouse: `_events_clickhouse.py`.
"""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.engine import Connection

from apercite_analytics.config.settings import SourceSettings
from apercite_analytics.errors import ConfigError
from apercite_analytics.readers import _events_clickhouse, _events_duckdb
from apercite_analytics.readers._events_sql import EventsSQL
from apercite_analytics.readers.common.tables import Table, check_table, reflect, reflect_table

_COLUMNAR = {"duckdb": _events_duckdb.reflect, _events_clickhouse.DIALECT: _events_clickhouse.reflect}
_STATEMENTS = {
    "duckdb": _events_duckdb.DuckDBEventsSQL,
    _events_clickhouse.DIALECT: _events_clickhouse.ClickHouseEventsSQL,
}


def check_events_table(table: str, source: SourceSettings, where: str) -> None:
    """A table name, or on a DuckDB source a Parquet path (checked when read: it may appear later)."""
    if not _events_duckdb.is_path(table):
        check_table(table, where)
    elif not source.url.startswith("duckdb:"):
        raise ConfigError(
            f'{where}: {table!r} is a path: Parquet files are read through a DuckDB source (url = "duckdb:///:memory:")'
        )


def reflect_events(
    sources, source: str, connection: Connection, table: str, columns: Mapping[str, str | None], where: str
) -> Table:
    """The events table with its columns checked (see `common/tables.reflect_table` for the errors)."""
    using = _COLUMNAR.get(connection.dialect.name, reflect)
    return reflect_table(sources, source, connection, table, columns, where, using=using)


def events_sql(table: Table, *, filtered: bool) -> EventsSQL:
    return _STATEMENTS.get(table.dialect, EventsSQL)(table, filtered=filtered)
