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
next run. `--since/--until` read that range instead, and every day it touches in full.

A day's distinct users (over the day, 7 and 28 days) are final once the day is over, and the
28-day figure costs 28 days of rows: a normal run writes a day's daily values once, in the first
run after the day's last hour is past `lookback` (a second watermark, key `<table> days`, keeps
the first day not final yet). An hourly run therefore reads its few hours only; the run after
01:00 (with the default 1h lookback) also reads the 28 days behind yesterday. See docs/events.md.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.exc import SQLAlchemyError

from apercite_analytics.config.settings import SourceSettings, check_source
from apercite_analytics.errors import ConfigError, SourceError
from apercite_analytics.readers._events_stores import check_events_table, events_sql, reflect_events
from apercite_analytics.readers.common.naming import name_part
from apercite_analytics.readers.common.tables import DIALECTS, check_column
from apercite_analytics.window import DAY, HOUR, Window, floor_hour, parse_duration, to_utc

log = logging.getLogger("apercite_analytics")
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
    check_events_table(settings.table, sources[settings.source], f"{where}.table")
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
    """Which hours one run reads, which days it recomputes (with or without their rolling windows), and
    where the watermarks go."""

    start: datetime
    end: datetime
    advance_to: datetime | None
    final_until: date | None = None  # days before it (from `final_from`) get their daily values; later ones wait
    final_from: date | None = None
    days_advance_to: datetime | None = None  # the first day not final yet (the `<table> days` watermark)

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

    def daily_days(self) -> tuple[date, date] | None:
        """The first and last day whose daily values this run computes (on a backfill: every day it
        touches, today's partial one included)."""
        if self.final_until is None:
            return self.first_day, self.last_day
        first = self.first_day if self.final_from is None else self.final_from
        return (first, self.final_until - DAY) if first < self.final_until else None


def plan(settings: Settings, window: Window, watermark: datetime | None, days_mark: datetime | None = None) -> Plan:
    """Hours [start, end) to read. A normal run: from the watermark minus `lookback` (or `initial_lookback`
    back from now) to the end of the current hour; the watermark moves to the start of the current hour.
    A backfill reads its range and moves the watermark only if it starts at or before it (no gap).

    Days: a backfill recomputes every day it touches. A normal run computes the daily values of the
    days that became final since `days_mark` (or, without one, of the complete days it touches): a
    day is final once its last hour is past `lookback`, i.e. will not be read again."""
    now_hour = floor_hour(window.now)
    initial = parse_duration(settings.initial_lookback, "initial_lookback")
    if window.backfill:
        start, end = window.range(initial, HOUR)
        target = min(end, now_hour)
        moves = watermark is None or start <= watermark < target  # no gap before it, and forward
        return Plan(start, end, target if moves else None)
    lookback = parse_duration(settings.lookback, "lookback")
    start = now_hour - initial if watermark is None else floor_hour(min(watermark, now_hour)) - lookback
    final_until = (now_hour - lookback).date()  # days before it are read for the last time
    final_from = None if days_mark is None else min(days_mark.date(), final_until)
    days_advance = datetime.combine(final_until, datetime.min.time(), UTC)
    return Plan(start, now_hour + HOUR, now_hour, final_until, final_from, days_advance)


class ReadEvents:
    """Reads one events table: hourly records, then daily records, each as the database returns them."""

    __name__ = READER

    def __init__(self, settings: Settings, window: Window):
        self.settings, self.window = settings, window

    def __call__(self, *, sources, state) -> Iterator[tuple[dict, dict]]:
        s = self.settings
        plan_ = plan(s, self.window, state.get(READER, s.key), state.get(READER, self.days_key))
        with sources.connect(s.source) as connection:
            table = reflect_events(sources, s.source, connection, s.table, s.columns.roles(), f"readers.{READER}")
            if table.dialect in DIALECTS:  # row stores; DuckDB and ClickHouse prune by partitions and sort keys
                hint_missing_index(connection, s.table, s.columns.time)
            sql = events_sql(table, filtered=bool(s.events))
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

            days = plan_.daily_days()
            if days is not None:
                first, last = days
                since = datetime.combine(first - timedelta(days=27), datetime.min.time(), UTC)
                until = datetime.combine(last + DAY, datetime.min.time(), UTC)
                params = {
                    "first_day": (first - EPOCH).days,
                    "last_day": (last - EPOCH).days,
                    "since": table.bind_time(since, "time"),
                    "until": table.bind_time(until, "time"),
                    **bounds,
                }
                try:
                    rows = streamed.execute(sql.daily(one_day=first == last), params)
                    yield from self.daily_records(rows, first, last, names)
                except SQLAlchemyError as exc:
                    raise sources.error(s.source, exc, f"daily distinct users of {s.table!r}") from None
        if plan_.advance_to is not None:
            state.advance(READER, s.key, plan_.advance_to)
        if plan_.days_advance_to is not None:
            state.advance(READER, self.days_key, plan_.days_advance_to)

    @property
    def days_key(self) -> str:
        """The watermark key of the first day whose rolling windows are not final yet."""
        return f"{self.settings.key} days"

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

    def daily_records(self, rows, first: date, last: date, names: NameParts) -> Iterator[tuple[dict, dict]]:
        """One record per UTC day from `first` to `last` (with the allow-list's zeros)."""
        found: dict[date, dict[str, Any]] = {}
        for number, group in groupby(rows, key=lambda row: row.dn):
            day = EPOCH + timedelta(days=int(number))
            found[day] = {names(row.ev_name): row for row in group}
        day = first
        while day <= last:
            by_name = found.pop(day, {})
            metrics: dict[str, Any] = {}
            for part in sorted({*by_name, *(names(n) for n in self.settings.events)}):
                row = by_name.get(part)
                metrics[f"events.{part}.users"] = int(row.users) if row else 0  # SUM() may be a decimal
                metrics[f"events.{part}.users.7d"] = int(row.users_7d) if row else 0
                metrics[f"events.{part}.users.28d"] = int(row.users_28d) if row else 0
            if metrics:
                yield {"date": day}, metrics
            day += DAY


def hint_missing_index(connection, table: str, time_column: str) -> None:
    """Say once per run when no index starts with the time column: every statement filters on a
    time range, and without one each run reads the whole table."""
    schema, _, name = table.rpartition(".")
    try:
        indexes = inspect(connection).get_indexes(name, schema=schema or None)
        primary = inspect(connection).get_pk_constraint(name, schema=schema or None)
    except (SQLAlchemyError, NotImplementedError):  # a dialect may not list indexes (or have none)
        return  # a hint only: the statements will say what is wrong
    firsts = [i["column_names"][0] for i in indexes if i.get("column_names")]
    firsts += primary.get("constrained_columns", [])[:1]
    if not any(c is not None and c.lower() == time_column.lower() for c in firsts):
        log.warning(
            "%s: table %r has no index on its time column %r, so every run reads the whole table; "
            "create one: CREATE INDEX %s_%s ON %s (%s)",
            READER, table, time_column, name, time_column, table, time_column,
        )  # fmt: skip


def _moment(value: Any) -> datetime:
    """An hour bucket as returned by the dialect (a datetime, or text on MariaDB and SQLite) in UTC."""
    if isinstance(value, datetime):
        return to_utc(value)
    if isinstance(value, bytes):
        value = value.decode()
    return to_utc(datetime.fromisoformat(str(value)))


def chains(settings: Settings, window: Window) -> dict[str, list]:
    return {READER: [ReadEvents(settings, window)]}
