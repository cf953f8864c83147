"""`events`: the product's own event table, aggregated in the source database.

    [readers.events]
    source = "app"
    table = "events"                       # or "schema.table"
    columns = { name = "name", time = "created_at", user = "user_id", duration = "duration_ms" }

Per event name it writes, hourly: `events.<name>.count`, `events.<name>.users` (distinct users)
and, with a duration column, `events.<name>.duration.p50/.p90/.p99/.max`; daily (UTC days):
`events.<name>.users`, `events.<name>.users.7d` ([D-6, D]) and `events.<name>.users.28d`
([D-27, D]). Only aggregates leave the database (see `_events_sql.py`); rows are streamed.

Incremental: the run reads from its watermark (minus `lookback`, for late rows) — or, the first
time, the last `initial_lookback` — to the end of the current hour, then proposes the start of
the current hour as the new watermark: the partial current hour is written and rewritten by the
next run. The daily values are recomputed for every UTC day the hours read touch (today's is
partial too). `--since/--until` read that range instead.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from apercite_analytics.config.settings import SourceSettings, check_source
from apercite_analytics.errors import ConfigError, SourceError
from apercite_analytics.readers._events_sql import EventsSQL
from apercite_analytics.readers.common.naming import name_part
from apercite_analytics.readers.common.tables import check_column, check_table, reflect_table
from apercite_analytics.window import DAY, HOUR, Window, floor_hour, parse_duration, to_utc

BACKFILL = True
READER = "events"
EPOCH = date(1970, 1, 1)


@dataclass(frozen=True)
class Columns:
    """`[readers.events.columns]`: the columns holding each event's name, time, user and duration.
    The defaults are the collector's table (`apercite-analytics collect`), so `source` is enough
    for it; `duration = ""` reads a table without a duration column."""

    name: str = "name"
    time: str = "created_at"
    user: str = "user_id"
    duration: str | None = "duration_ms"  # numeric; percentiles are in its unit

    def __post_init__(self) -> None:
        if self.duration == "":  # no duration column
            object.__setattr__(self, "duration", None)

    def roles(self) -> dict[str, str | None]:
        return {"name": self.name, "time": self.time, "user": self.user, "duration": self.duration}


@dataclass(frozen=True)
class Settings:
    """`[readers.events]`."""

    source: str
    table: str = "events"
    columns: Columns = field(default_factory=Columns)
    events: list[str] = field(default_factory=list)  # only these names (and zeros when absent); empty = all
    lookback: str = "1h"  # completed hours before the watermark read again (rows committed late)
    initial_lookback: str = "2d"  # how far the first run (no watermark yet) reads back

    @property
    def key(self) -> str:
        """The watermark key: the table."""
        return self.table


def check(settings: Settings, sources: Mapping[str, SourceSettings], where: str) -> None:
    check_source(settings.source, sources, f"{where}.source")
    check_table(settings.table, f"{where}.table")
    for role, column in settings.columns.roles().items():
        if column is not None:
            check_column(column, f"{where}.columns.{role}")
    used = [c for c in settings.columns.roles().values() if c is not None]
    if len({c.lower() for c in used}) != len(used):
        raise ConfigError(f"{where}.columns: name, time, user and duration must be different columns")
    parse_duration(settings.lookback, f"{where}.lookback")
    parse_duration(settings.initial_lookback, f"{where}.initial_lookback")
    parts: dict[str, str] = {}
    for i, name in enumerate(settings.events):
        part = name_part(name)
        if part in parts:
            raise ConfigError(
                f"{where}.events[{i}]: {parts[part]!r} and {name!r} both give metric names events.{part}.*"
            )
        parts[part] = name


class NameParts:
    """Event name → metric-name part; two names that sanitise to one part are an error naming both."""

    def __init__(self) -> None:
        self._names: dict[str, Any] = {}

    def __call__(self, name: Any) -> str:
        part = name_part(name)
        seen = self._names.setdefault(part, name)
        if seen != name:
            raise SourceError(
                f"{READER}: event names {seen!r} and {name!r} both give metric names events.{part}.* "
                "(rename one, or list the names to read in `events`)"
            )
        return part


@dataclass(frozen=True)
class Plan:
    """Which hours one run reads, which days it recomputes, and where the watermark goes."""

    start: datetime
    end: datetime
    advance_to: datetime | None

    @property
    def first_day(self) -> date:
        return self.start.date()

    @property
    def last_day(self) -> date:
        return (self.end - HOUR).date()

    def hours(self) -> Iterator[datetime]:
        moment = self.start
        while moment < self.end:
            yield moment
            moment += HOUR

    def days(self) -> Iterator[date]:
        day = self.first_day
        while day <= self.last_day:
            yield day
            day += DAY


def plan(settings: Settings, window: Window, watermark: datetime | None) -> Plan:
    """Hours [start, end) to read. A normal run: from the watermark minus `lookback` (or `initial_lookback`
    back from now) to the end of the current hour; the watermark moves to the start of the current hour.
    A backfill reads its range and moves the watermark only if it starts at or before it (no gap)."""
    now_hour = floor_hour(window.now)
    initial = parse_duration(settings.initial_lookback, "initial_lookback")
    if window.backfill:
        start, end = window.range(initial, HOUR)
        target = min(end, now_hour)
        moves = watermark is None or start <= watermark < target  # no gap before it, and forward
        return Plan(start, end, target if moves else None)
    if watermark is None:
        start = now_hour - initial
    else:
        start = floor_hour(min(watermark, now_hour)) - parse_duration(settings.lookback, "lookback")
    return Plan(start, now_hour + HOUR, now_hour)


class ReadEvents:
    """Reads one events table: hourly records, then daily records, each as the database returns them."""

    __name__ = READER

    def __init__(self, settings: Settings, window: Window):
        self.settings, self.window = settings, window

    def __call__(self, *, sources, state) -> Iterator[tuple[dict, dict]]:
        s = self.settings
        plan_ = plan(s, self.window, state.get(READER, s.key))
        with sources.connect(s.source) as connection:
            table = reflect_table(sources, s.source, connection, s.table, s.columns.roles(), f"readers.{READER}")
            sql = EventsSQL(table, filtered=bool(s.events))
            names = NameParts()
            for name in s.events:
                names(name)
            streamed = connection.execution_options(stream_results=True)
            bounds = {"names": list(s.events)} if s.events else {}

            hourly = sql.hourly()
            params = {
                "since": table.bind_time(plan_.start, "time"),
                "until": table.bind_time(plan_.end, "time"),
                **bounds,
            }
            try:
                rows = streamed.execute(hourly, params)
                yield from self.hourly_records(rows, plan_, names)
            except SQLAlchemyError as exc:
                raise sources.error(s.source, exc, f"hourly aggregates of {s.table!r}") from None

            first, last = (plan_.first_day - EPOCH).days, (plan_.last_day - EPOCH).days
            since = datetime.combine(plan_.first_day - timedelta(days=27), datetime.min.time(), UTC)
            until = datetime.combine(plan_.last_day + DAY, datetime.min.time(), UTC)
            params = {
                "first_day": first,
                "last_day": last,
                "since": table.bind_time(since, "time"),
                "until": table.bind_time(until, "time"),
                **bounds,
            }
            try:
                rows = streamed.execute(sql.daily(), params)
                yield from self.daily_records(rows, plan_, names)
            except SQLAlchemyError as exc:
                raise sources.error(s.source, exc, f"daily distinct users of {s.table!r}") from None
        if plan_.advance_to is not None:
            state.advance(READER, s.key, plan_.advance_to)

    def hourly_records(self, rows, plan_: Plan, names: NameParts) -> Iterator[tuple[dict, dict]]:
        """One record per hour of the plan that has events (every hour, with the allow-list's zeros)."""
        by_hour: dict[str, Any] = {}
        groups = groupby(rows, key=lambda row: _moment(row.hr))
        pending = next(groups, None)
        for hour in plan_.hours():
            by_hour.clear()
            while pending is not None and pending[0] <= hour:
                if pending[0] == hour:  # earlier ones cannot happen: the WHERE bounds the range
                    for row in pending[1]:
                        by_hour[names(row.ev_name)] = row
                pending = next(groups, None)
            metrics: dict[str, Any] = {}
            for part in sorted({*by_hour, *(names(n) for n in self.settings.events)}):
                row = by_hour.get(part)
                prefix = f"events.{part}"
                metrics[f"{prefix}.count"] = row.events if row else 0
                metrics[f"{prefix}.users"] = row.users if row else 0
                if row is not None and self.settings.columns.duration is not None and row.top is not None:
                    for key in ("p50", "p90", "p99"):
                        metrics[f"{prefix}.duration.{key}"] = float(getattr(row, key))
                    metrics[f"{prefix}.duration.max"] = row.top
            if metrics:
                yield {"date": hour.date(), "hour": hour.hour}, metrics

    def daily_records(self, rows, plan_: Plan, names: NameParts) -> Iterator[tuple[dict, dict]]:
        """One record per UTC day the plan touches (with the allow-list's zeros)."""
        found: dict[date, dict[str, Any]] = {}
        for number, group in groupby(rows, key=lambda row: row.dn):
            day = EPOCH + timedelta(days=int(number))
            found[day] = {names(row.ev_name): row for row in group}
        for day in plan_.days():
            by_name = found.pop(day, {})
            metrics: dict[str, Any] = {}
            for part in sorted({*by_name, *(names(n) for n in self.settings.events)}):
                row = by_name.get(part)
                metrics[f"events.{part}.users"] = int(row.users) if row else 0  # SUM() may be a decimal
                metrics[f"events.{part}.users.7d"] = int(row.users_7d) if row else 0
                metrics[f"events.{part}.users.28d"] = int(row.users_28d) if row else 0
            if metrics:
                yield {"date": day}, metrics


def _moment(value: Any) -> datetime:
    """An hour bucket as returned by the dialect (a datetime, or text on MariaDB and SQLite) in UTC."""
    if isinstance(value, datetime):
        return to_utc(value)
    if isinstance(value, bytes):
        value = value.decode()
    return to_utc(datetime.fromisoformat(str(value)))


def chains(settings: Settings, window: Window) -> dict[str, list]:
    return {READER: [ReadEvents(settings, window)]}
