"""The dictionary in the store: sync the definitions, resolve each stored metric to its definition,
and read the last values back (for `metrics list/show` and `export`).

`metric_definition` mirrors the YAML files (one row per key, patterns included: Grafana can list
the dictionary). Each `metric` row gets the key of the definition that covers its name
(`definition_key`) and a copy of its `description` and `unit`, so a panel shows them with a plain
join on `metric`, no pattern matching in SQL. A sync writes only what changed: re-running it is a
no-op. A metric that loses its definition gets its key, description and unit cleared.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import and_, bindparam, delete, func, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from apercite_analytics import store
from apercite_analytics.dictionary import FIELDS, Definition, Dictionary
from apercite_analytics.errors import StoreError, describe_db_error
from apercite_analytics.models import DailyValue, HourlyValue, Metric, MetricDefinition

_IN_CHUNK = 500


@dataclass
class SyncResult:
    definitions: int = 0  # in the dictionary
    changed: int = 0  # definition rows inserted, updated or deleted
    described: int = 0  # metric rows whose definition, description or unit changed
    uncovered: list[str] = field(default_factory=list)  # stored metric names no definition covers

    def line(self) -> str:
        return (
            f"dictionary: {self.definitions} definitions ({self.changed} changed), "
            f"{self.described} metric{'s' * (self.described != 1)} described"
        )


def _row(definition: Definition, now: datetime) -> dict:
    row = {name: getattr(definition, name) for name in FIELDS}
    return row | {"defined_in": definition.where, "updated_at": now}


def sync(engine: Engine, dictionary: Dictionary) -> SyncResult:
    """Make `metric_definition` equal to the dictionary and point every metric at its definition."""
    table, metric = MetricDefinition.__table__, Metric.__table__
    compared = [*FIELDS, "defined_in"]
    now = datetime.now(UTC)
    result = SyncResult(definitions=len(dictionary))
    try:
        with engine.begin() as connection:
            existing = {row.key: row._mapping for row in connection.execute(select(table))}
            wanted = {d.key: _row(d, now) for d in dictionary}
            changed = [
                row
                for key, row in wanted.items()
                if key not in existing or any(existing[key][c] != row[c] for c in compared)
            ]
            gone = sorted(set(existing) - set(wanted))
            if changed:
                stmt = store.dialect_insert(engine)(table)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["key"], set_={c: stmt.excluded[c] for c in [*compared, "updated_at"] if c != "key"}
                )
                connection.execute(stmt, changed)
            for chunk in _chunks(gone):
                connection.execute(delete(table).where(table.c.key.in_(chunk)))
            result.changed = len(changed) + len(gone)

            updates = []
            for row in connection.execute(
                select(metric.c.id, metric.c.name, metric.c.definition_key, metric.c.description, metric.c.unit)
            ):
                definition = dictionary.match(row.name)
                if definition is None:
                    result.uncovered.append(row.name)
                    if row.definition_key is None:
                        continue  # never ours: leave its description alone
                    target = (None, None, None)
                else:
                    target = (definition.key, definition.description, definition.unit)
                if (row.definition_key, row.description, row.unit) != target:
                    updates.append({"b_id": row.id, "b_key": target[0], "b_text": target[1], "b_unit": target[2]})
            if updates:
                connection.execute(
                    update(metric)
                    .where(metric.c.id == bindparam("b_id"))
                    .values(
                        definition_key=bindparam("b_key"), description=bindparam("b_text"), unit=bindparam("b_unit")
                    ),
                    updates,
                )
            result.described = len(updates)
    except SQLAlchemyError as exc:
        raise StoreError(
            f"{store.describe(engine)}: syncing the metrics dictionary failed: {describe_db_error(exc)}"
        ) from None
    result.uncovered.sort()
    return result


def _chunks(items: list, size: int = _IN_CHUNK) -> Iterable[list]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def stored_names(engine: Engine) -> list[str]:
    """Every metric name in the store (none in a store that was never migrated)."""
    if store.current_revision(engine) is None:
        return []
    try:
        with engine.connect() as connection:
            return sorted(connection.execute(select(Metric.name)).scalars())
    except SQLAlchemyError as exc:
        raise StoreError(f"{store.describe(engine)}: {describe_db_error(exc)}") from None


@dataclass(frozen=True)
class Latest:
    """A metric's newest hourly and daily values (None when it has none)."""

    hourly: tuple[date, int, float] | None = None
    daily: tuple[date, float, bool] | None = None  # (date, value, rolled_up)

    @property
    def current(self) -> float | None:
        """The newest daily value, else the newest hourly one."""
        if self.daily is not None:
            return self.daily[1]
        return self.hourly[2] if self.hourly is not None else None


def latest_values(connection: Connection) -> dict[str, Latest]:
    """Per metric name, its newest hourly and daily values.

    Index-friendly on big stores: per metric, max(date) through the primary key, then the hours
    of that one day only.
    """
    m, h, d = Metric.__table__, HourlyValue.__table__, DailyValue.__table__
    hx, dx = h.alias("hx"), d.alias("dx")
    last_hour_day = select(
        m.c.id.label("metric_id"),
        select(func.max(hx.c.date)).where(hx.c.metric_id == m.c.id).scalar_subquery().label("date"),
    ).subquery("lhd")
    last_hour = (
        select(h.c.metric_id, h.c.date, func.max(h.c.hour).label("hour"))
        .join(last_hour_day, and_(h.c.metric_id == last_hour_day.c.metric_id, h.c.date == last_hour_day.c.date))
        .group_by(h.c.metric_id, h.c.date)
        .subquery("lh")
    )
    hourly = (
        select(m.c.name, h.c.date, h.c.hour, h.c.value)
        .join_from(
            h,
            last_hour,
            and_(h.c.metric_id == last_hour.c.metric_id, h.c.date == last_hour.c.date, h.c.hour == last_hour.c.hour),
        )
        .join(m, m.c.id == h.c.metric_id)
    )
    last_day = select(
        m.c.id.label("metric_id"),
        select(func.max(dx.c.date)).where(dx.c.metric_id == m.c.id).scalar_subquery().label("date"),
    ).subquery("ld")
    daily = (
        select(m.c.name, d.c.date, d.c.value, d.c.rolled_up)
        .join_from(d, last_day, and_(d.c.metric_id == last_day.c.metric_id, d.c.date == last_day.c.date))
        .join(m, m.c.id == d.c.metric_id)
    )
    hours = {name: (day, hour, value) for name, day, hour, value in connection.execute(hourly)}
    days = {name: (day, value, bool(rolled)) for name, day, value, rolled in connection.execute(daily)}
    return {name: Latest(hours.get(name), days.get(name)) for name in sorted(hours.keys() | days.keys())}


def recent_values(connection: Connection, name: str, limit: int = 5) -> tuple[list[tuple], list[tuple]]:
    """The newest `limit` hourly (date, hour, value) and daily (date, value, rolled_up) values of `name`."""
    m, h, d = Metric.__table__, HourlyValue.__table__, DailyValue.__table__
    metric_id = connection.execute(select(m.c.id).where(m.c.name == name)).scalar()
    if metric_id is None:
        return [], []
    hourly = connection.execute(
        select(h.c.date, h.c.hour, h.c.value)
        .where(h.c.metric_id == metric_id)
        .order_by(h.c.date.desc(), h.c.hour.desc())
        .limit(limit)
    ).all()
    daily = connection.execute(
        select(d.c.date, d.c.value, d.c.rolled_up)
        .where(d.c.metric_id == metric_id)
        .order_by(d.c.date.desc())
        .limit(limit)
    ).all()
    return [tuple(r) for r in hourly], [(r[0], r[1], bool(r[2])) for r in daily]
