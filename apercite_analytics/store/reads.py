"""Reads for the KPI report: some metrics' values over a UTC range, and the job's health.

Index-friendly on big stores: metric ids first (the `metric` table is small), then one range scan
of the `(metric_id, date, hour)` primary key per table for every metric at once.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from apercite_analytics.errors import StoreError, describe_db_error
from apercite_analytics.store.models import DailyValue, HourlyValue, Metric, RunLog
from apercite_analytics.store.schema import describe, in_chunks
from apercite_analytics.window import to_utc

Points = dict[str, list[tuple[datetime, float]]]  # metric name → (UTC time, value), oldest first


@dataclass(frozen=True)
class Health:
    """The job: its last successful run (ever), and its runs and failed runs started in the period."""

    last_success: datetime | None
    failed_runs: int
    runs: int


class ReportReader:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _fail(self, exc: SQLAlchemyError, what: str) -> StoreError:
        return StoreError(f"{describe(self.engine)}: cannot read {what}: {describe_db_error(exc)}")

    def metric_ids(self) -> dict[str, int]:
        try:
            with self.engine.connect() as connection:
                return {name: i for i, name in connection.execute(select(Metric.id, Metric.name))}
        except SQLAlchemyError as exc:
            raise self._fail(exc, "the metric names") from None

    def values(self, names: dict[str, int], start: datetime, end: datetime, *, daily: bool) -> Points:
        """Values of the metrics `names` (name → id) with time in [start, end): hourly or daily ones."""
        table = (DailyValue if daily else HourlyValue).__table__
        by_id = {i: n for n, i in names.items()}
        first, last = start.date(), (end - timedelta(microseconds=1)).date()
        columns = [table.c.metric_id, table.c.date, table.c.value] + ([] if daily else [table.c.hour])
        found: Points = defaultdict(list)
        try:
            with self.engine.connect() as connection:
                for chunk in in_chunks(sorted(by_id)):
                    query = select(*columns).where(
                        table.c.metric_id.in_(chunk), table.c.date >= first, table.c.date <= last
                    )
                    for row in connection.execute(query):
                        moment = datetime.combine(row.date, time(row.hour if not daily else 0), UTC)
                        if start <= moment < end:
                            found[by_id[row.metric_id]].append((moment, row.value))
        except SQLAlchemyError as exc:
            raise self._fail(exc, "values") from None
        return {name: sorted(points) for name, points in found.items()}

    def health(self, start: datetime, end: datetime) -> Health:
        try:
            with self.engine.connect() as connection:
                last = connection.execute(select(func.max(RunLog.finished_at)).where(RunLog.status == "ok")).scalar()
                counts = connection.execute(
                    select(func.count(), func.count().filter(RunLog.status == "failed")).where(
                        RunLog.started_at >= start, RunLog.started_at < end
                    )
                ).one()
        except SQLAlchemyError as exc:
            raise self._fail(exc, "the run log") from None
        return Health(to_utc(last) if last is not None else None, counts[1], counts[0])
