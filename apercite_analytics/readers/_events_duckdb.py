"""The `events` reader on DuckDB: a table of a DuckDB database file, or Parquet files given as the
table path (the layout the Parquet sink writes: one `day=YYYY-MM-DD` folder per UTC day).

    [sources.lake]
    url = "duckdb:///:memory:"        # Parquet is read in place: nothing is loaded or copied
    [readers.events]
    source = "lake"
    table = "/data/events"            # a folder of day=…/ partitions, a .parquet file, or a glob

DuckDB runs the PostgreSQL statements of `_events_sql.py` as they are (`date_trunc`,
`percentile_cont(ARRAY[…]) WITHIN GROUP`, date arithmetic, the recursive CTE, window functions):
the reference tests hold it to the same numbers. What differs is the relation: over a partitioned
folder, `read_parquet(…, hive_partitioning = true)` with a filter on the `day` partition column
as well as on the time column, so that only the files of the days read are opened at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from apercite_analytics.errors import SourceError
from apercite_analytics.readers._events_columns import columns_table, describe
from apercite_analytics.readers._events_sql import EventsSQL
from apercite_analytics.readers.common.tables import Table

PARTITION = "day"  # the partition folders' key: day=YYYY-MM-DD (UTC)
_GLOB = set("*?[")


def is_path(table: str) -> bool:
    """Whether `[readers.events] table` names Parquet files rather than a table."""
    return "/" in table or "\\" in table or table.lower().endswith(".parquet") or bool(_GLOB & set(table))


@dataclass(frozen=True)
class ParquetTable(Table):
    partitioned: bool = False  # day=… folders: filter on the partition column too


def _literal(value: str) -> str:
    """A SQL string literal that survives `text()` (a ':' would otherwise start a bind parameter)."""
    return "'" + value.replace("'", "''").replace(":", "\\:") + "'"


def parquet_relation(path: str, where: str) -> tuple[str, bool]:
    """`read_parquet(…)` over `path`, and whether it has day partitions; a missing path is an error."""
    location = Path(path).expanduser()
    if _GLOB & set(path):
        return f"read_parquet({_literal(str(location))}, hive_partitioning = true)", False
    if location.is_file():
        return f"read_parquet({_literal(str(location))})", False
    if not location.is_dir():
        raise SourceError(f"{where}.table: Parquet folder or file {path!r} does not exist")
    partitioned = any(child.is_dir() for child in location.glob(f"{PARTITION}=*"))
    pattern = _literal(str(location / "**" / "*.parquet"))
    if not partitioned:
        return f"read_parquet({pattern})", False
    return f"read_parquet({pattern}, hive_partitioning = true, hive_types = {{'{PARTITION}': DATE}})", True


def reflect(connection: Connection, table: str, roles: Mapping[str, str | None], where: str) -> Table:
    """The events table of a DuckDB source: a table of the database, or Parquet files (see `is_path`)."""
    preparer = connection.dialect.identifier_preparer
    if is_path(table):
        relation, partitioned = parquet_relation(table, where)
        shown = f"Parquet {table!r}"
    else:
        schema, _, name = table.rpartition(".")
        relation = (preparer.quote_schema(schema) + "." if schema else "") + preparer.quote(name)
        partitioned, shown = False, f"table {table!r}"
    try:
        found = describe(connection, f"SELECT * FROM {relation}", shown, where)
    except DBAPIError as exc:
        message = str(exc.orig)
        if "does not exist" in message and "Catalog Error" in message:
            raise SourceError(f"{where}.table: table {table!r} not found in the source") from None
        if "No files found" in message:
            raise SourceError(f"{where}.table: no Parquet files in {table!r}") from None
        raise
    if partitioned:
        found = {name: kind for name, kind in found.items() if name != PARTITION}
    plain = columns_table("duckdb", relation, shown, found, roles, where, quote=preparer.quote, case_sensitive=False)
    return ParquetTable(plain.dialect, plain.name, plain.columns, plain.time_zone_aware, partitioned)


class DuckDBEventsSQL(EventsSQL):
    """PostgreSQL's statements, plus the partition filter over day=… folders."""

    def __init__(self, table: Table, *, filtered: bool):
        super().__init__(replace(table, dialect="postgresql"), filtered=filtered)  # same SQL (see the module doc)
        self.partitioned = getattr(table, "partitioned", False)

    def _where(self, *extra: str) -> str:
        if self.partitioned:  # whole days: [since's day, until's day] covers [since, until)
            extra = (*extra, f'"{PARTITION}" >= CAST(:since AS DATE)', f'"{PARTITION}" <= CAST(:until AS DATE)')
        return super()._where(*extra)
