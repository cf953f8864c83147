"""Engine options for the columnar event stores: DuckDB (a database file, or Parquet files read in
memory) and ClickHouse (clickhouse-connect over HTTP, or chdb in-process).

Kept apart from `sources.py` so that the row stores' options stay readable there; both stores are
optional extras (`duckdb`, `clickhouse`), imported by SQLAlchemy only when such a source is used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from apercite_analytics.config.settings import SourceSettings
from apercite_analytics.errors import SourceError

MEMORY = ("", ":memory:")


def columnar_connect_args(name: str, url: URL, settings: SourceSettings) -> tuple[URL, dict[str, Any]]:
    """The URL to connect with and the driver's arguments, for a `duckdb://` or `clickhouse://` source.

    DuckDB: sessions in UTC (`duckdb_session_utc`); a database file must exist and is opened read-only (a typo must not
    create an empty database that reads as zero events, and the reader never writes). DuckDB has
    no statement timeout: `query_timeout` does not apply. ClickHouse: `connect_timeout`, the HTTP
    read timeout and the server's `max_execution_time` from the source's settings (chdb, in-process,
    only takes the last).
    """
    if url.get_backend_name() == "duckdb":
        database = url.database or ""
        if database in MEMORY:
            return url, {}
        if not Path(database).is_file():
            raise SourceError(f"source {name!r}: DuckDB file {database!r} does not exist")
        return url, {"read_only": True}
    timeout = max(1, int(settings.query_timeout))
    if url.query.get("interface") == "chdb":
        return url, {"max_execution_time": timeout}
    return url, {
        "connect_timeout": max(1, int(settings.connect_timeout)),
        "send_receive_timeout": timeout + 5,  # the server's own limit answers first, with a clear message
        "max_execution_time": timeout,
    }


def duckdb_session_utc(dbapi_connection, _record) -> None:
    """`SET TimeZone` on connect (the `config` argument cannot: the ICU extension loads after it)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("SET TimeZone = 'UTC'")
    cursor.close()
