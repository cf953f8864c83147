"""The SQL sink: accepted events into the `events` table and refused ones into `bad_event`, one
transaction per batch, on PostgreSQL, MariaDB/MySQL and SQLite.

PostgreSQL gets `COPY events (…) FROM STDIN` (text format): one round trip for the whole batch,
the fastest way in, and still inside the batch's transaction, so a failed batch leaves nothing.
MariaDB and SQLite get one `executemany` of the INSERT (PyMySQL folds it into multi-row VALUES;
SQLite is in-process). Times are stored in UTC: timestamptz on PostgreSQL, naive UTC elsewhere.

The tables are the store's (`store/models.py`, migration 0005) so the store's database needs no
more than `db upgrade`; an app database gets them from `collect --init-table` (`init_tables`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime

from sqlalchemy import insert, inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from apercite_analytics.config.urls import display_url
from apercite_analytics.errors import describe_db_error
from apercite_analytics.store.bulk import _ChunkReader  # the store's COPY reader, written once
from apercite_analytics.store.models import BadEvent, Event
from apercite_analytics.store.schema import open_engine
from apercite_analytics.tracking.sinks import COLUMNS, SinkError, StoredEvent, properties_json
from apercite_analytics.tracking.validation import BadRow

TABLES = [Event.__table__, BadEvent.__table__]


class SQLSink:
    """An `EventSink` on one database (a SQLAlchemy URL); also stores bad rows."""

    def __init__(self, url: str, *, init: bool = False):
        self.engine = open_engine(url)
        self.where = f"events database ({display_url(self.engine.url)})"
        self.dialect = self.engine.dialect.name
        try:
            if init:
                Event.metadata.create_all(self.engine, tables=TABLES)
            missing = [t.name for t in TABLES if not inspect(self.engine).has_table(t.name)]
        except SQLAlchemyError as exc:
            self.engine.dispose()
            raise SinkError(f"{self.where}: {describe_db_error(exc)}") from None
        if missing:
            self.engine.dispose()
            raise SinkError(
                f"{self.where}: no table {' or '.join(missing)} (the store: `apercite-analytics db upgrade`; "
                "another database: `apercite-analytics collect --init-table`)"
            )

    def write(self, events: Sequence[StoredEvent], bad: Sequence[BadRow] = ()) -> None:
        """Store a batch of events and bad rows in one transaction, or raise SinkError having stored none."""
        if not events and not bad:
            return
        try:
            with self.engine.begin() as connection:
                if events and self.dialect == "postgresql":
                    self._copy(connection, events)
                elif events:
                    connection.execute(insert(Event.__table__), [self._row(e) for e in events])
                if bad:
                    connection.execute(insert(BadEvent.__table__), [self._bad_row(b) for b in bad])
        except (SQLAlchemyError, self.engine.dialect.loaded_dbapi.Error) as exc:
            raise SinkError(
                f"{self.where}: writing {len(events)} events and {len(bad)} bad events failed: {describe_db_error(exc)}"
            ) from None

    def close(self) -> None:
        self.engine.dispose()

    def _moment(self, moment: datetime | None) -> datetime | None:
        if moment is None or self.dialect == "postgresql":
            return moment
        return moment.astimezone(UTC).replace(tzinfo=None)

    def _row(self, event: StoredEvent) -> dict:
        return {
            "name": event.name,
            "created_at": self._moment(event.created_at),
            "user_id": event.user_id,
            "duration_ms": event.duration_ms,
            "properties": properties_json(event.properties),
            "key_id": event.key_id,
            "received_at": self._moment(event.received_at),
        }

    def _bad_row(self, bad: BadRow) -> dict:
        return {
            "received_at": self._moment(bad.received_at),
            "name": bad.name,
            "created_at": self._moment(bad.created_at),
            "user_id": bad.user_id,
            "key_id": bad.key_id,
            "reason": bad.reason[:1000],
            "properties": properties_json(bad.types),
        }

    def _copy(self, connection: Connection, events: Sequence[StoredEvent]) -> None:
        cursor = connection.connection.dbapi_connection.cursor()
        try:
            cursor.copy_expert(f"COPY events ({', '.join(COLUMNS)}) FROM STDIN", _ChunkReader(copy_lines(events)))
        finally:
            cursor.close()


def copy_lines(events: Sequence[StoredEvent]) -> Iterator[bytes]:
    """COPY text-format lines, 1,000 a chunk. Names and key ids are validated words and pseudonyms
    are hex; only the JSON can hold a backslash, which COPY's text format doubles. None is `\\N`
    (NULL) wherever it is, so that a NOT NULL column refuses it as INSERT would."""
    moments: dict[datetime | None, str | None] = {None: None}  # a batch shares a few received_at values

    def moment(value: datetime | None) -> str | None:
        text = moments.get(value)
        if text is None and value is not None:
            text = moments[value] = value.isoformat()
        return text

    for start in range(0, len(events), 1000):
        lines = []
        for e in events[start : start + 1000]:
            properties = properties_json(e.properties)
            fields = (
                e.name,
                e.created_at.isoformat() if e.created_at is not None else None,
                e.user_id,
                repr(e.duration_ms) if e.duration_ms is not None else None,
                properties.replace("\\", "\\\\") if "\\" in properties else properties,
                e.key_id,
                moment(e.received_at),
            )
            lines.append("\t".join("\\N" if f is None else f for f in fields) + "\n")
        yield "".join(lines).encode()
