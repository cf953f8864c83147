"""The Parquet sink: stored events as day-partitioned Parquet files, read in place by the `events`
reader on a DuckDB source (`table = "<root>"`).

    <root>/day=2026-11-20/20261120T153000-3f2a9c….parquet     one file per batch and UTC day

Each batch becomes one new file per UTC day it touches (of `created_at`); files are never
appended to or rewritten, so a reader never meets a half-written one: each is written under a
temporary name (`.<name>.<random>`, which the reader's `*.parquet` never matches), and renamed only
once every file of the batch is complete. A batch that spans midnight appears one day after the
other, a few microseconds apart; one that fails leaves no file. The partition is in the folder
name only (Hive style), so every file has the columns of `sinks.COLUMNS` and nothing else.

Many small files slow the reader down (it opens each one of the days it reads): batch generously
(thousands of events, or a minute of them), or rewrite a day's files into one when it is over.
pyarrow is the `parquet` extra.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from apercite_analytics.files import atomic_path
from apercite_analytics.tracking.sinks import COLUMNS, SinkError, StoredEvent, properties_json

PARTITION = "day"  # the folder key the reader's hive partitioning expects


def require_pyarrow():
    """pyarrow, or one line saying which extra brings it."""
    try:
        import pyarrow
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise SinkError("Parquet needs pyarrow: pip install 'apercite-analytics[parquet]'") from None
    return pyarrow


def arrow_schema():
    """The stored-event columns as Arrow types (times in microseconds, UTC)."""
    pa = require_pyarrow()

    moment = pa.timestamp("us", tz="UTC")
    types = {
        "name": pa.string(),
        "created_at": moment,
        "user_id": pa.string(),
        "duration_ms": pa.float64(),
        "properties": pa.string(),
        "key_id": pa.string(),
        "received_at": moment,
    }
    return pa.schema([pa.field(name, types[name], nullable=name not in ("name", "created_at")) for name in COLUMNS])


def columns(events: Sequence[StoredEvent]) -> dict[str, list[Any]]:
    """Column name → values, in `COLUMNS` order; properties as compact, key-sorted JSON."""
    return {
        "name": [e.name for e in events],
        "created_at": [e.created_at.astimezone(UTC) for e in events],
        "user_id": [e.user_id for e in events],
        "duration_ms": [e.duration_ms for e in events],
        "properties": [properties_json(e.properties) for e in events],
        "key_id": [e.key_id for e in events],
        "received_at": [e.received_at.astimezone(UTC) for e in events],
    }


def write_days(root: Path, tables: Mapping[date, Any], stem: str) -> list[Path]:
    """Write each day's Arrow table as `root/day=D/<stem>.parquet`: all of them under temporary
    names first, then all renamed. Raises OSError or pyarrow's errors, leaving no file."""
    import pyarrow.parquet as pq

    finals: list[Path] = []
    with ExitStack() as renames:  # on leaving: every rename, or (after an error) every temporary file removed
        for day, table in sorted(tables.items()):
            folder = root / f"{PARTITION}={day.isoformat()}"
            folder.mkdir(exist_ok=True)
            final = folder / f"{stem}.parquet"
            temporary = renames.enter_context(atomic_path(final))
            pq.write_table(table, temporary, compression="zstd")
            finals.append(final)
    return finals


class ParquetSink:
    """Batches of stored events into `root/day=YYYY-MM-DD/*.parquet` (the folder must exist)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise SinkError(f"parquet sink: folder {str(self.root)!r} does not exist")
        self.schema = arrow_schema()

    def write(self, events: Sequence[StoredEvent]) -> list[Path]:
        """Store one batch; returns the files written (one per UTC day of the batch)."""
        import pyarrow as pa

        by_day: dict[date, list[StoredEvent]] = defaultdict(list)
        for event in events:
            by_day[event.created_at.astimezone(UTC).date()].append(event)
        stem = f"{datetime.now(UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:12]}"
        try:
            tables = {day: pa.Table.from_pydict(columns(batch), schema=self.schema) for day, batch in by_day.items()}
            return write_days(self.root, tables, stem)
        except (OSError, pa.ArrowException) as exc:
            message = f"parquet sink {str(self.root)!r}: batch of {len(events)} events not stored: {exc}"
            raise SinkError(message) from None

    def close(self) -> None:
        """Nothing held open between batches."""
