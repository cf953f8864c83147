"""Reader watermarks: where each reader's incremental reading resumes.

A reader asks for the `state` service and, per key it reads (a query, a table), calls
`get(reader, key)` for the end of the last hour it completed, then `advance(reader, key, until)`
once it has yielded every record up to `until`. Advancing only proposes: the graph commits the
proposals after the writers committed the values, and only those whose chain had no error (the
chain `<reader>.<key>` if the reader names its chains by key, else every chain of the reader),
so a run that dies or fails never moves a watermark past data that is not in the store. A
watermark never moves backwards (a `--since` backfill of old days leaves it alone).

Without `--write` nothing is loaded or committed: readers see no watermark and read their
default lookback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from apercite_analytics.errors import StoreError, describe_db_error
from apercite_analytics.store.models import ReaderState
from apercite_analytics.store.schema import describe
from apercite_analytics.window import to_utc, utcnow


class Watermarks:
    """The `state` service: watermarks as loaded at the start of the run, plus this run's proposals."""

    def __init__(self, loaded: dict[tuple[str, str], datetime] | None = None) -> None:
        self._loaded = dict(loaded or {})
        self._proposed: dict[tuple[str, str], datetime] = {}
        self._lock = threading.Lock()

    @classmethod
    def load(cls, engine: Engine) -> Watermarks:
        try:
            with engine.connect() as connection:
                rows = connection.execute(select(ReaderState.reader, ReaderState.key, ReaderState.watermark)).all()
        except SQLAlchemyError as exc:
            raise StoreError(f"{describe(engine)}: cannot read reader state: {describe_db_error(exc)}") from None
        return cls({(reader, key): to_utc(mark) for reader, key, mark in rows})

    def get(self, reader: str, key: str) -> datetime | None:
        """The end (exclusive, UTC) of the last hour `reader` completed for `key`, or None."""
        return self._loaded.get((reader, key))

    def advance(self, reader: str, key: str, until: datetime) -> None:
        """Propose that everything before `until` is read; committed after the writers succeed."""
        until = to_utc(until)
        with self._lock:
            current = self._proposed.get((reader, key))
            if current is None or until > current:
                self._proposed[(reader, key)] = until

    def proposed(self, allowed: Callable[[str, str], bool] | None = None) -> dict[tuple[str, str], datetime]:
        with self._lock:
            return {k: v for k, v in self._proposed.items() if allowed is None or allowed(*k)}

    def commit(self, engine: Engine, allowed: Callable[[str, str], bool]) -> int:
        """Store the proposals `allowed(reader, key)` accepts (never moving a watermark back);
        returns how many moved."""
        proposals = self.proposed(allowed)
        if not proposals:
            return 0
        moved = 0
        try:
            with engine.begin() as connection:
                current = {
                    (r, k): to_utc(m)
                    for r, k, m in connection.execute(
                        select(ReaderState.reader, ReaderState.key, ReaderState.watermark)
                        .where(ReaderState.reader.in_(sorted({r for r, _ in proposals})))
                        .with_for_update()
                    )
                }
                now = utcnow()
                for (reader, key), until in sorted(proposals.items()):
                    before = current.get((reader, key))
                    if before is None:
                        values = {"reader": reader, "key": key, "watermark": until, "updated_at": now}
                        connection.execute(ReaderState.__table__.insert().values(**values))
                    elif until > before:
                        connection.execute(
                            ReaderState.__table__.update()
                            .where(ReaderState.reader == reader, ReaderState.key == key)
                            .values(watermark=until, updated_at=now)
                        )
                    else:
                        continue
                    moved += 1
        except SQLAlchemyError as exc:
            raise StoreError(f"{describe(engine)}: cannot save reader state: {describe_db_error(exc)}") from None
        return moved
