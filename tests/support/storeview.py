"""What a test store holds, as plain dicts, with the job's own `etl.*` metrics set aside (every
`read --write` adds them; tests of a reader compare only what the reader wrote)."""

from __future__ import annotations

from sqlalchemy import create_engine, select
from sqlalchemy.engine import Engine

from apercite_analytics.config.urls import database_url
from apercite_analytics.store.models import DailyValue, HourlyValue, Metric

DATA = ~Metric.name.like("etl.%")


def stored(target: str | Engine, *, daily: bool = True) -> dict[tuple, float]:
    """`{(name, date, hour): value}` of the hourly values and, with `daily`, `{(name, date): value}`
    of the daily ones; `target` is a store URL or an engine."""
    engine = target if isinstance(target, Engine) else create_engine(database_url(target))
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(Metric.name, HourlyValue.date, HourlyValue.hour, HourlyValue.value)
                .join(Metric, Metric.id == HourlyValue.metric_id)
                .where(DATA)
            ).all()
            if daily:
                rows += connection.execute(
                    select(Metric.name, DailyValue.date, DailyValue.value)
                    .join(Metric, Metric.id == DailyValue.metric_id)
                    .where(DATA)
                ).all()
    finally:
        if engine is not target:
            engine.dispose()
    return {tuple(row[:-1]): row[-1] for row in rows}
