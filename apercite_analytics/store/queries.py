"""Reading values back: each metric's newest hourly and daily values (`metrics list/show`, `export`)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Connection

from apercite_analytics.store.models import DailyValue, HourlyValue, Metric


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
