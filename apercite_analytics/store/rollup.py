"""Daily rollups: a metric's daily value computed from its hours, with its definition's aggregation.

For every metric whose definition (see `dictionary/definitions.py`) is not `removed` and has an aggregation
other than `none`, and every UTC day asked for, the hours present that day are aggregated in the
store (one `INSERT … SELECT … GROUP BY` per aggregation, PostgreSQL and SQLite):

* `sum`, `max`, `min`, `avg` — over the hours present (`avg` is not weighted by missing hours);
* `last` — the value of the latest hour present (gauges: row counts, workers).

The result is upserted into `daily_value` with `rolled_up = true`. A daily value written by a
reader (`rolled_up = false`) is never overwritten by a rollup, and a reader's value replaces a
rollup: the marker is per (metric, day), so a metric whose reader writes daily values itself
(distinct users) keeps them, and such metrics should say `aggregation: none` so that days the
reader has not written yet get no misleading sum. Metrics without a definition are not rolled up
(the summary says which). Re-running changes nothing (`value IS DISTINCT FROM` guard). The current
UTC day is rolled up from the hours so far and rewritten by later runs, like the current hour.

`read --write` rolls up the days it wrote hourly values for (`run/job.py`); `rollup --since/--until` any range.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import DateTime, and_, func, literal, select, true
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from apercite_analytics.errors import StoreError, describe_db_error
from apercite_analytics.store import schema as store
from apercite_analytics.store.models import DailyValue, HourlyValue, Metric, MetricDefinition
from apercite_analytics.window import floor_day

AGGREGATES = {"sum": func.sum, "max": func.max, "min": func.min, "avg": func.avg}
ROLLED = ("sum", "last", "max", "min", "avg")
SHOWN_NAMES = 5


@dataclass
class RollupResult:
    days: list[date] = field(default_factory=list)
    computed: dict[str, int] = field(default_factory=dict)  # daily values computed, per aggregation
    changed: int = 0  # daily_value rows inserted or updated
    uncovered: list[str] = field(default_factory=list)  # metrics with hours in those days but no definition

    def line(self) -> str:
        if not self.days:
            return "rollup: no day to roll up"
        span = str(self.days[0]) if len(self.days) == 1 else f"{self.days[0]} … {self.days[-1]}"
        total = sum(self.computed.values())
        parts = ", ".join(f"{agg} {n}" for agg, n in self.computed.items() if n)
        line = f"rollup {span}: {total} daily value{'s' * (total != 1)} from hours"
        line += f" ({parts}), {self.changed} changed" if total else ""
        if self.uncovered:
            line += f"; {names(self.uncovered, 'metric')} without a definition not rolled up"
        return line


def names(items: list[str], noun: str) -> str:
    """`3 metrics (a, b, c)`, the first SHOWN_NAMES only."""
    shown = ", ".join(items[:SHOWN_NAMES]) + (", …" if len(items) > SHOWN_NAMES else "")
    return f"{len(items)} {noun}{'s' * (len(items) != 1)} ({shown})"


def days_of(since: datetime, until: datetime) -> list[date]:
    """The UTC days that [since, until) touches."""
    first, end = floor_day(since).date(), (until - timedelta(microseconds=1)).date()
    return [first + timedelta(days=i) for i in range((end - first).days + 1)]


def roll_up(engine: Engine, days: Iterable[date], *, find_uncovered: bool = True) -> RollupResult:
    """Compute and upsert the rolled-up daily values of `days` (see the module docstring); with
    `find_uncovered`, also list the metrics with hours those days that no definition covers."""
    result = RollupResult(days=sorted(set(days)))
    if not result.days:
        return result
    h, m, d = HourlyValue.__table__, Metric.__table__, MetricDefinition.__table__
    first, last = result.days[0], result.days[-1]
    if (last - first).days + 1 == len(result.days):
        in_days = and_(h.c.date >= first, h.c.date <= last)
    else:
        in_days = h.c.date.in_(result.days)
    now = literal(datetime.now(UTC), DateTime(timezone=True))
    insert = store.dialect_insert(engine)
    target = DailyValue.__table__
    try:
        with engine.begin() as connection:
            for aggregation in ROLLED:
                defined = and_(m.c.definition_key == d.c.key, d.c.aggregation == aggregation, d.c.status != "removed")
                hours = h.join(m, m.c.id == h.c.metric_id).join(d, defined)
                if aggregation == "last":
                    latest = (
                        select(h.c.metric_id, h.c.date, func.max(h.c.hour).label("hour"))
                        .select_from(hours)
                        .where(in_days)
                        .group_by(h.c.metric_id, h.c.date)
                        .subquery("latest")
                    )
                    matched = and_(
                        h.c.metric_id == latest.c.metric_id, h.c.date == latest.c.date, h.c.hour == latest.c.hour
                    )
                    source = select(h.c.metric_id, h.c.date, h.c.value, now, true()).join_from(h, latest, matched)
                    source = source.where(true())  # SQLite: a WHERE keeps `ON CONFLICT` from reading as a join's ON
                else:
                    value = AGGREGATES[aggregation](h.c.value)
                    source = (
                        select(h.c.metric_id, h.c.date, value, now, true())
                        .select_from(hours)
                        .where(in_days)
                        .group_by(h.c.metric_id, h.c.date)
                    )
                result.computed[aggregation] = connection.execute(
                    select(func.count()).select_from(source.subquery())
                ).scalar_one()
                if not result.computed[aggregation]:
                    continue
                stmt = insert(target).from_select(["metric_id", "date", "value", "updated_at", "rolled_up"], source)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["metric_id", "date"],
                    set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
                    where=and_(target.c.rolled_up, target.c.value.is_distinct_from(stmt.excluded.value)),
                )
                result.changed += connection.execute(stmt).rowcount
            if find_uncovered:
                hourly = select(h.c.metric_id).where(h.c.metric_id == m.c.id, in_days).exists()
                result.uncovered = sorted(
                    connection.execute(select(m.c.name).where(m.c.definition_key.is_(None), hourly)).scalars()
                )
    except SQLAlchemyError as exc:
        raise StoreError(f"{store.describe(engine)}: daily rollup failed: {describe_db_error(exc)}") from None
    return result
