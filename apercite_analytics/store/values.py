"""Values into `hourly_value` / `daily_value`: batched, idempotent, all or nothing per batch.

A batch is written with one bulk get-or-create of metric ids (committed on its own, so a failed
value batch never leaves a cached id that was rolled back) and then, in one transaction, one
`INSERT … ON CONFLICT … DO UPDATE … WHERE value IS DISTINCT FROM` (on PostgreSQL fed by COPY
through a staging table, see `bulk.py`). Re-running the same hour rewrites the same rows; a
failed batch writes none of its values.

What is counted: `written` is the number of values handed to the store and accepted (new,
changed or confirmed unchanged — what `run_log.hourly_rows` records); `changed` is the number of
rows actually inserted or updated (an unchanged re-run adds 0; the summary shows both).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from datetime import UTC, date, datetime

from sqlalchemy import delete, select
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from apercite_analytics.errors import StoreError, describe_db_error
from apercite_analytics.record import is_storable
from apercite_analytics.store.bulk import WRITERS, Kind, Values
from apercite_analytics.store.models import DailyValue, HourlyValue, Metric
from apercite_analytics.store.schema import describe, dialect_insert, in_chunks

TABLES = {"hourly": HourlyValue.__table__, "daily": DailyValue.__table__}


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
        for chunk in in_chunks(names):
            for metric_id, name in connection.execute(select(Metric.id, Metric.name).where(Metric.name.in_(chunk))):
                self.ids[name] = metric_id

    def upsert(self, kind: Kind, values: Values) -> int:
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

    def remove(self, kind: Kind, keys: Iterable[tuple[str, date, int | None]]) -> int:
        """Delete the rows of `keys` (a run's colliding keys, which it must not leave written: the
        value of either chain would be a guess); the number of rows deleted."""
        table = TABLES[kind]
        removed = 0
        try:
            with self.engine.begin() as connection:
                for name, day, hour in keys:
                    metric = select(Metric.id).where(Metric.name == name).scalar_subquery()
                    where = [table.c.metric_id == metric, table.c.date == day]
                    if kind == "hourly":
                        where.append(table.c.hour == hour)
                    removed += connection.execute(delete(table).where(*where)).rowcount
        except SQLAlchemyError as exc:
            raise StoreError(
                f"{describe(self.engine)}: removing colliding {kind} values failed: {describe_db_error(exc)}"
            ) from None
        return removed


def _check_values(kind: Kind, values: Values) -> None:
    """Refuse the whole batch if a value is not what normalize lets through (`record.is_storable`):
    never store NULL, NaN, ±inf or an int the store would round."""
    for (name, day, hour), value in values.items():
        if not is_storable(value):
            at = f"{day} {hour:02d}:00" if kind == "hourly" and isinstance(hour, int) else f"{day}"
            raise StoreError(f"{kind} value {value!r} of {name} at {at} is not a finite number: batch not written")
