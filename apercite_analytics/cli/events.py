"""`events export`: a time range of the events table, to day-partitioned Parquet files.

    apercite-analytics events export --since 2026-01-01 --until 2026-11-01 --out /data/events

Reads `[readers.events]` (its source, table and time column) and writes, for each UTC day of
[--since, --until), `<out>/day=YYYY-MM-DD/export-<day>.parquet` with every column of the table:
the layout the Parquet sink writes and the `events` reader reads on a DuckDB source, with the same
column names, so that moving the reader is a change of `source` and `table` only. A day is read
in one ordered, streamed query and written in row groups (memory stays flat), under a temporary
name renamed when complete. A day whose folder already holds Parquet files is refused rather
than written twice. Column types follow the table's: integers, floats and decimals as int64 or
float64, times as UTC timestamps (microseconds), booleans, and anything else as text.
"""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql import sqltypes

from apercite_analytics.config import load as config
from apercite_analytics.errors import EXIT_OK, ConfigError, SourceError
from apercite_analytics.files import atomic_path
from apercite_analytics.readers.common.sources import Sources
from apercite_analytics.readers.common.tables import reflect_table
from apercite_analytics.tracking.parquet_sink import PARTITION, require_pyarrow
from apercite_analytics.window import DAY, floor_day, parse_moment

log = logging.getLogger("apercite_analytics")
ROWS_PER_GROUP = 100_000


def add_parsers(commands, common: argparse.ArgumentParser, parser_class: type) -> None:
    events = commands.add_parser("events", help="move product events between stores")
    actions = events.add_subparsers(dest="events_command", required=True, metavar="ACTION", parser_class=parser_class)
    text_ = "export a time range of the events table ([readers.events]) to day-partitioned Parquet files"
    export = actions.add_parser("export", parents=[common], help=text_, description=text_ + ".")
    export.add_argument("--since", required=True, help="first UTC day (or hour) to export: 2026-01-01[T00:00]")
    export.add_argument("--until", required=True, help="end of the range, exclusive: 2026-11-01[T00:00]")
    export.add_argument("--out", required=True, metavar="FOLDER", help="the Parquet root (day=YYYY-MM-DD folders)")


def run(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    reader = settings.readers.get("events")
    if reader is None:
        raise ConfigError("events export: no [readers.events] section in the config (it names the source and table)")
    since, until = floor_day(parse_moment(args.since, "--since")), parse_moment(args.until, "--until")
    if since >= until:
        raise ConfigError("--since must be before --until")
    require_pyarrow()
    out = Path(args.out)
    if not out.is_dir():
        raise ConfigError(f"--out: folder {args.out!r} does not exist")
    total = days = 0
    with Sources(settings.sources) as sources, sources.connect(reader.source) as connection:
        roles = {"time": reader.columns.time}
        table = reflect_table(sources, reader.source, connection, reader.table, roles, "readers.events")
        schema = _arrow_schema(connection, reader.table)
        day = since
        while day < until:
            end = min(day + DAY, until)
            try:
                count = _export_day(connection, table, schema, day, end, out)
            except SQLAlchemyError as exc:
                raise sources.error(reader.source, exc, f"exporting {reader.table!r} for {day:%Y-%m-%d}") from None
            if count:
                total, days = total + count, days + 1
                log.info("%s: %d events", day.strftime("%Y-%m-%d"), count)
            day = end
    log.info("exported %d events of %r (source %r) in %d days to %s", total, reader.table, reader.source, days, out)
    return EXIT_OK


def _arrow_schema(connection, table: str):
    """The table's columns as Arrow fields (see the module doc for the mapping)."""
    import pyarrow as pa

    schema, _, name = table.rpartition(".")
    fields = []
    for column in inspect(connection).get_columns(name, schema=schema or None):
        kind = column["type"]
        if isinstance(kind, sqltypes.Boolean):
            arrow = pa.bool_()
        elif isinstance(kind, sqltypes.Integer):
            arrow = pa.int64()
        elif isinstance(kind, (sqltypes.Numeric, sqltypes.Float)):  # not one class in SQLAlchemy 2.1
            arrow = pa.float64()
        elif isinstance(kind, sqltypes.DateTime):
            arrow = pa.timestamp("us", tz="UTC")
        else:
            arrow = pa.string()
        fields.append(pa.field(column["name"], arrow))
    return pa.schema(fields)


def _export_day(connection, table, schema, start: datetime, end: datetime, out: Path) -> int:
    """One UTC day's rows into `out/day=D/export-D.parquet`; how many there were."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = out / f"{PARTITION}={start:%Y-%m-%d}"
    if folder.is_dir() and any(folder.glob("*.parquet")):
        raise SourceError(f"events export: {folder} already holds Parquet files: remove them to export that day again")
    time_column = table.columns["time"]
    statement = text(
        f"SELECT * FROM {table.name} WHERE {time_column} >= :since AND {time_column} < :until ORDER BY {time_column}"
    )
    params = {"since": table.bind_time(start, "time"), "until": table.bind_time(end, "time")}
    rows = connection.execution_options(stream_results=True).execute(statement, params)
    count = 0
    batch = rows.fetchmany(ROWS_PER_GROUP)
    if not batch:
        return 0
    folder.mkdir(exist_ok=True)
    final = folder / f"export-{start:%Y-%m-%d}.parquet"
    with atomic_path(final) as temporary, pq.ParquetWriter(temporary, schema, compression="zstd") as writer:
        while batch:
            columns = [[_value(row[i], f.type) for row in batch] for i, f in enumerate(schema)]
            writer.write_table(pa.Table.from_arrays(columns, schema=schema))
            count += len(batch)
            batch = rows.fetchmany(ROWS_PER_GROUP)
    return count


def _value(value: Any, arrow_type) -> Any:
    """A database value as its Arrow column takes it (naive times are UTC: sessions run in UTC)."""
    import pyarrow as pa

    if value is None:
        return None
    if pa.types.is_timestamp(arrow_type):
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if pa.types.is_floating(arrow_type):
        return float(value)
    if pa.types.is_string(arrow_type) and not isinstance(value, str):
        return str(value)
    return value
