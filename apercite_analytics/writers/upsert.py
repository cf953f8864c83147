"""Batched, idempotent upserts of records into `hourly_value` / `daily_value`.

Each writer buffers values keyed by (metric, date[, hour]) — a later value for the same key
replaces the earlier one, so duplicates inside a batch are "last one wins" — and writes a full
batch with one bulk get-or-create of metric ids (committed on its own) and then, in one
transaction, one `INSERT … ON CONFLICT … DO UPDATE … WHERE value IS DISTINCT FROM` (on
PostgreSQL fed by COPY through a staging table, see `bulk.py`). Re-running the same hour
rewrites the same rows; a failed batch writes none of its values.

What is counted: `written` is the number of values the writers handed to the store and the store
accepted (new, changed or confirmed unchanged — what `run_log.hourly_rows` records); `changed` is
the number of rows actually inserted or updated (an unchanged re-run adds 0).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, date, datetime
from math import isfinite
from typing import Literal

from sqlalchemy import select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from apercite_analytics.errors import StoreError, describe_db_error
from apercite_analytics.models import DailyValue, HourlyValue, Metric
from apercite_analytics.store import describe, dialect_insert
from apercite_analytics.writers.bulk import WRITERS

Kind = Literal["hourly", "daily"]
Key = tuple[str, date, int | None]
TABLES = {"hourly": HourlyValue.__table__, "daily": DailyValue.__table__}
_IN_CHUNK = 500


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


class MetricStore:
    """The `store` service: metric ids cached for the run, upserts, and what was written."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.insert = dialect_insert(engine)
        self.ids: dict[str, int] = {}
        self.created = 0
        self.write = WRITERS[engine.dialect.name]
        self.written: dict[str, int] = {"hourly_value": 0, "daily_value": 0}
        self.hourly_days: set[date] = set()  # UTC days with hourly values written: the days to roll up
        self.changed: dict[str, int] = {"hourly_value": 0, "daily_value": 0}
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
        """Write `{(metric, date, hour): value}` in one transaction (all or nothing); returns the
        number of values written. Values must be ints or finite floats (normalize sees to it)."""
        if not values:
            return 0
        _check_values(kind, values)
        table = TABLES[kind]
        try:
            ids = self.metric_ids({name for name, _, _ in values})
            with self.engine.begin() as connection:
                changed = self.write(connection, kind, values, ids, datetime.now(UTC))
        except (SQLAlchemyError, self.engine.dialect.loaded_dbapi.Error) as exc:  # the fast paths use the driver
            raise StoreError(
                f"{describe(self.engine)}: writing {len(values)} {kind} values failed: {describe_db_error(exc)}"
            ) from None
        with self._lock:
            self.written[table.name] += len(values)
            if kind == "hourly":
                self.hourly_days.update(d for _, d, _ in values)
            self.changed[table.name] += changed
        return len(values)


def _check_values(kind: Kind, values: dict[Key, float | int]) -> None:
    """Refuse the batch if a value is not an int or a finite float: never store NULL, NaN or ±inf.
    (The fast test: only ints and floats, and a finite sum; else find the culprit.)"""
    numbers = values.values()
    try:
        if set(map(type, numbers)) <= {int, float} and isfinite(sum(numbers)):
            return
    except OverflowError:  # ints too large for a float: the slow path says which
        pass
    for (name, day, hour), value in values.items():
        if type(value) is float and isfinite(value):
            continue
        if type(value) is int:
            try:
                float(value)
                continue
            except OverflowError:
                pass
        at = f"{day} {hour:02d}:00" if kind == "hourly" and isinstance(hour, int) else f"{day}"
        raise StoreError(f"{kind} value {value!r} of {name} at {at} is not a finite number: batch not written")


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
