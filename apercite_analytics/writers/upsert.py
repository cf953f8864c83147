"""Batched, idempotent upserts of records into `hourly_value` / `daily_value`.

Each writer buffers values keyed by (metric, date[, hour]) — a later value for the same key
replaces the earlier one, so duplicates inside a batch are "last one wins" — and writes a full
batch with one bulk get-or-create of metric ids and one `INSERT … ON CONFLICT … DO UPDATE`
(executed as multi-row VALUES). Re-running the same hour rewrites the same rows.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Literal

from sqlalchemy import false, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from apercite_analytics.errors import StoreError, describe_db_error
from apercite_analytics.models import DailyValue, HourlyValue, Metric
from apercite_analytics.store import describe

Kind = Literal["hourly", "daily"]
Key = tuple[str, date, int | None]
TABLES = {"hourly": HourlyValue.__table__, "daily": DailyValue.__table__}
_IN_CHUNK = 500


def _insert(engine: Engine):
    name = engine.dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise StoreError(f"{describe(engine)}: the store must be PostgreSQL or SQLite, not {name}")


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class MetricStore:
    """The `store` service: metric ids cached for the run, upserts, and what was written."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.insert = _insert(engine)
        self.ids: dict[str, int] = {}
        self.created = 0
        self.written: dict[str, int] = {"hourly_value": 0, "daily_value": 0}
        self.hourly_days: set[date] = set()  # UTC days with hourly values written: the days to roll up
        self._lock = threading.Lock()

    def metric_ids(self, names: Iterable[str]) -> dict[str, int]:
        """Ids for `names`, creating the missing metrics; committed on its own, so a failed
        value batch never leaves a cached id that was rolled back."""
        with self._lock:
            missing = sorted(set(names) - self.ids.keys())
            if missing:
                with self.engine.begin() as connection:
                    self._load(connection, missing)
                    new = [n for n in missing if n not in self.ids]
                    if new:
                        stmt = self.insert(Metric.__table__).on_conflict_do_nothing(index_elements=["name"])
                        connection.execute(stmt, [{"name": n} for n in new])
                        self._load(connection, new)
                        self.created += len(new)
            return {n: self.ids[n] for n in names}

    def _load(self, connection: Connection, names: list[str]) -> None:
        for chunk in _chunks(names, _IN_CHUNK):
            for metric_id, name in connection.execute(select(Metric.id, Metric.name).where(Metric.name.in_(chunk))):
                self.ids[name] = metric_id

    def upsert(self, kind: Kind, values: dict[Key, float | int]) -> int:
        """Write `{(metric, date, hour): value}` in one transaction; returns the number of values."""
        if not values:
            return 0
        table = TABLES[kind]
        try:
            ids = self.metric_ids({name for name, _, _ in values})
            now = datetime.now(UTC)
            if kind == "hourly":
                rows = [
                    {"metric_id": ids[n], "date": d, "hour": h, "value": v, "updated_at": now}
                    for (n, d, h), v in values.items()
                ]
                keys = ["metric_id", "date", "hour"]
            else:
                rows = [
                    {"metric_id": ids[n], "date": d, "value": v, "updated_at": now} for (n, d, _), v in values.items()
                ]
                keys = ["metric_id", "date"]
            stmt = self.insert(table)
            changes = {"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at}
            changed = table.c.value.is_distinct_from(stmt.excluded.value)
            if kind == "daily":  # a reader's daily value replaces a rolled-up one (see rollup.py)
                changes["rolled_up"] = false()
                changed = or_(changed, table.c.rolled_up)
            stmt = stmt.on_conflict_do_update(index_elements=keys, set_=changes, where=changed)
            with self.engine.begin() as connection:
                connection.execute(stmt, rows)
        except SQLAlchemyError as exc:
            raise StoreError(
                f"{describe(self.engine)}: writing {len(values)} {kind} values failed: {describe_db_error(exc)}"
            ) from None
        with self._lock:
            self.written[table.name] += len(values)
            if kind == "hourly":
                self.hourly_days.update(d for _, d, _ in values)
        return len(values)


class UpsertWriter:
    """The hourly or daily writer node: keeps the records of its kind, flushes every `batch_size`
    values and at the end (`close`)."""

    def __init__(self, kind: Kind, batch_size: int = 5000):
        self.__name__ = f"{kind} writer"
        self.kind = kind
        self.batch_size = batch_size
        self.buffer: dict[Key, float | int] = {}

    def __call__(self, dims: dict, metrics: dict, *, store: MetricStore) -> None:
        if ("hour" in dims) != (self.kind == "hourly"):
            return
        day, hour = dims["date"], dims.get("hour")
        for name, value in metrics.items():
            self.buffer[(name, day, hour)] = value
        if len(self.buffer) >= self.batch_size:
            self.flush(store)

    def flush(self, store: MetricStore) -> None:
        values, self.buffer = self.buffer, {}
        store.upsert(self.kind, values)

    close = flush
