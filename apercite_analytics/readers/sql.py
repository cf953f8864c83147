"""`sql`: named queries that return a time column, optional dimension columns and value columns.

This is how users add a business metric without writing Python:

    [readers.sql.queries.signups]
    source = "website"
    sql = "SELECT date_trunc('hour', created_at) AS time, plan, count(*) AS count FROM users
           WHERE created_at >= :since AND created_at < :until GROUP BY 1, 2"
    dimensions = ["plan"]
    metric = "app.signups.{plan}"          # → app.signups.free, app.signups.paid_plan, …

`:since` and `:until` (UTC, aligned to the granularity) are bound when the query uses them: the
trailing `lookback` window on a normal run (the current period included, rewritten later), the
`--since/--until` range on a backfill. Source sessions run in UTC. Each query is its own chain
(`sql.<query>`, or `sql.<query>.<source>` per source when `sources = ["a", "b"]` fans it out, with
`{source}` in the metric template), so a failing query does not stop the others. `every = "1d"`
runs a query at most once per period (`readers/common/schedule.py`). A query's rows are checked
whole before any is passed on: a time not on a whole hour (or day), a duplicate, or two dimension
values that map to one metric name fail that query with a message naming the row.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import text

from apercite_analytics.config.settings import SourceSettings, check_name, check_source
from apercite_analytics.errors import ConfigError, SourceError, excerpt
from apercite_analytics.readers.common.naming import fill, name_part, period_dims, template_fields
from apercite_analytics.readers.common.schedule import Scheduled, check_every
from apercite_analytics.window import DAY, HOUR, Window, floor_day, floor_hour, parse_duration, to_utc

BACKFILL = True
DEFAULT_LOOKBACK = {"hour": "3h", "day": "2d"}
PARAMETERS = {"since", "until"}
_CAST_AFTER_PARAMETER = re.compile(r"(?<![:\w]):(since|until)::")


@dataclass(frozen=True)
class Query:
    """`[readers.sql.queries.<name>]`."""

    sql: str
    source: str | None = None
    granularity: Literal["hour", "day"] = "hour"
    time_column: str = "time"
    dimensions: list[str] = field(default_factory=list)
    values: list[str] = field(default_factory=list)
    metric: str = "{query}.{column}"
    lookback: str | None = None
    sources: list[str] = field(default_factory=list)  # fan-out: one chain per source, `{source}` in `metric`
    every: str | None = None  # run at most once per period ("1d", "6h"); None: every run

    @property
    def step(self) -> timedelta:
        return HOUR if self.granularity == "hour" else DAY

    def lookback_delta(self, where: str = "lookback") -> timedelta:
        return parse_duration(self.lookback or DEFAULT_LOOKBACK[self.granularity], where)


@dataclass(frozen=True)
class Settings:
    """`[readers.sql]`: a default `source` and the `queries` table."""

    source: str | None = None
    queries: dict[str, Query] = field(default_factory=dict)


def check(settings: Settings, sources: Mapping[str, SourceSettings], where: str) -> None:
    if settings.source is not None:
        check_source(settings.source, sources, f"{where}.source")
    if not settings.queries:
        raise ConfigError(f"{where}.queries: define at least one query ([{where}.queries.<name>])")
    for name, query in settings.queries.items():
        key = f"{where}.queries.{name}"
        check_name(name, key)
        for source in query_sources(query, settings, key):
            check_source(source, sources, f"{key}.sources" if query.sources else f"{key}.source")
        _check_sql(query.sql, f"{key}.sql")
        _check_columns(query, key)
        query.lookback_delta(f"{key}.lookback")
        if query.every is not None:
            check_every(query.every, f"{key}.every")


def query_sources(query: Query, settings: Settings, key: str) -> list[str]:
    """The sources a query runs on: its `sources` (fan-out), else its `source`, else the reader's."""
    if query.sources:
        if query.source is not None:
            raise ConfigError(f"{key}: set source or sources, not both")
        if len(set(query.sources)) != len(query.sources):
            raise ConfigError(f"{key}.sources: a source is listed twice")
        return list(query.sources)
    source = query.source or settings.source
    if source is None:
        raise ConfigError(f"{key}.source: missing (set it here or in [{key.rsplit('.queries.', 1)[0]}])")
    return [source]


def _check_sql(sql: str, key: str) -> None:
    """Only :since and :until may be bound, and a `::cast` right after one hides it."""
    try:
        used = set(text(sql).compile().params)
    except Exception as exc:  # noqa: BLE001 — any parse failure is the user's SQL
        raise ConfigError(f"{key}: cannot be parsed: {exc}") from None
    if used - PARAMETERS:
        raise ConfigError(
            f"{key}: unknown parameter(s) {', '.join(':' + p for p in sorted(used - PARAMETERS))} "
            "(only :since and :until are bound)"
        )
    if _CAST_AFTER_PARAMETER.search(sql):
        raise ConfigError(f"{key}: `:since::type` is not read as a parameter; write CAST(:since AS type) instead")


def _check_columns(query: Query, key: str) -> None:
    """Distinct column roles, and a metric template that gives valid names."""
    taken = {query.time_column, *query.dimensions}
    if len(taken) != len(query.dimensions) + 1 or taken & set(query.values):
        raise ConfigError(f"{key}: time_column, dimensions and values must name different columns")
    reserved = {"query", "column", "source"} & set(query.dimensions)
    if reserved:
        raise ConfigError(
            f"{key}.dimensions: {', '.join(map(repr, sorted(reserved)))} is a template placeholder of its own; "
            "rename the column in the query (… AS kind)"
        )
    fields = template_fields(query.metric, {"query", "column", "source", *query.dimensions}, f"{key}.metric")
    if len(query.sources) > 1 and "source" not in fields:
        raise ConfigError(
            f"{key}.metric: the query runs on {len(query.sources)} sources, so {query.metric!r} would give each "
            'source the same metric names: put {source} in it (e.g. "{query}.{source}.{column}")'
        )


class RunQuery:
    """Runs one configured query and yields one record per period, with every metric of it."""

    def __init__(self, name: str, query: Query, source: str, window: Window):
        self.__name__ = f"sql.{name}"
        self.name, self.query, self.source, self.window = name, query, source, window

    def __call__(self, *, sources) -> Iterator[tuple[dict, dict]]:
        engine = sources.engine(self.source)
        start, end = self.window.range(self.query.lookback_delta(), self.query.step)
        statement = text(self.query.sql)
        used = set(statement.compile().params)
        params = {
            k: _bind(v, engine.dialect.name, self.query.granularity)
            for k, v in (("since", start), ("until", end))
            if k in used
        }

        def run(connection):
            result = connection.execute(statement, params)
            return list(result.keys()), result.fetchall()

        columns, rows = sources.read(self.source, run, f"query {self.name!r}")
        records = self.records(columns, rows)
        for key in sorted(records):
            yield period_dims(key), records[key]

    def records(self, columns: list[str], rows: list[Any]) -> dict[tuple, dict[str, Any]]:
        """Group rows by period into `{period: {metric: value}}`, refusing anything ambiguous."""
        q = self.query
        missing = [c for c in ([q.time_column] if q.time_column else []) + q.dimensions + q.values if c not in columns]
        if missing:
            raise self.error(f"returned no column {', '.join(map(repr, missing))} (columns: {', '.join(columns)})")
        value_columns = q.values or [c for c in columns if c != q.time_column and c not in q.dimensions]
        if not value_columns:
            raise self.error(f"returns no value column (columns: {', '.join(columns)})")
        index = {c: i for i, c in enumerate(columns)}
        records: dict[tuple, dict[str, Any]] = {}
        origins: dict[tuple, tuple] = {}
        observed = self.window.now
        for number, row in enumerate(rows, start=1):
            if q.time_column:
                key = self.period(row[index[q.time_column]], number)
            else:  # a point-in-time reading: the period it was observed in
                key = (observed.date(), observed.hour) if q.granularity == "hour" else (observed.date(),)
            dims = {d: row[index[d]] for d in q.dimensions}
            parts = {d: name_part(v) for d, v in dims.items()}
            metrics = records.setdefault(key, {})
            for column in value_columns:
                metric = q.metric.format(query=self.name, column=name_part(column), **parts)
                origin = (column, *(dims.values()))
                if metric in metrics:
                    raise self.error(
                        f"row {number}: {_collision(origins[(key, metric)], origin)} {metric!r} "
                        f"at {_describe(key)}{_collision_hint(origins[(key, metric)], origin, q.metric)}"
                    )
                metrics[metric] = row[index[column]]
                origins[(key, metric)] = origin
        return records

    def period(self, value: Any, number: int) -> tuple:
        """The UTC (date, hour) or (date,) a time-column value stands for."""
        moment: datetime
        if isinstance(value, datetime):
            moment = to_utc(value)
        elif isinstance(value, date):
            moment = datetime.combine(value, time(), UTC)
        elif isinstance(value, str):
            try:
                moment = to_utc(datetime.fromisoformat(value.strip()))
            except ValueError:
                raise self.error(f"row {number}: time {value!r} is not a date or time") from None
        else:
            raise self.error(f"row {number}: time {value!r} is not a date or time ({type(value).__name__})")
        if self.query.granularity == "hour":
            if moment != floor_hour(moment):
                raise self.error(
                    f"row {number}: time {moment:%Y-%m-%d %H:%M:%S} UTC is not on a whole hour (group by hour)"
                )
            return moment.date(), moment.hour
        if moment != floor_day(moment):
            raise self.error(f"row {number}: time {moment:%Y-%m-%d %H:%M:%S} UTC is not midnight UTC (group by day)")
        return (moment.date(),)

    def error(self, message: str) -> SourceError:
        return SourceError(f"query {self.name!r}: {message}")


def _bind(moment: datetime, dialect: str, granularity: str) -> Any:
    """UTC bounds as each driver compares them correctly with the session in UTC.

    SQLite compares text: `YYYY-MM-DD HH:MM:SS`, or `YYYY-MM-DD` for daily bounds, which sorts
    right against both DATE text and timestamp text (a DATE `2026-11-20` sorts before
    `2026-11-20 00:00:00`, so the longer form would drop the first day and keep the last).
    """
    if dialect == "sqlite":
        return moment.strftime("%Y-%m-%d" if granularity == "day" else "%Y-%m-%d %H:%M:%S")
    if dialect in ("mysql", "mariadb"):
        return moment.replace(tzinfo=None)
    return moment


def _collision(previous: tuple, origin: tuple) -> str:
    """Why two values claim one metric name: a duplicate row, two dimension values or two columns."""
    if previous == origin:
        return "duplicate row"
    if previous[0] != origin[0]:
        return f"columns {excerpt(previous[0])} and {excerpt(origin[0])} both give"
    return f"dimension values {excerpt(previous[1:])} and {excerpt(origin[1:])} both give"


def _collision_hint(previous: tuple, origin: tuple, template: str) -> str:
    """What to change: two columns that sanitise to one name part need a new name, not a template."""
    if previous == origin or previous[0] == origin[0]:
        return ""
    if "{column}" in template:
        return f" (both become {name_part(origin[0])!r}: rename one in the query, e.g. … AS other_name)"
    return " (use {column} in the metric template)"


def _describe(key: tuple) -> str:
    return f"{key[0]} {key[1]:02d}:00 UTC" if len(key) == 2 else f"{key[0]}"


def literal_names(settings: Settings) -> list[tuple[str, str, str]]:
    """(config key, kind, metric) of the names known before the query runs: a template without
    dimensions whose value columns are listed (or that names no column at all)."""
    names = []
    for name, query in settings.queries.items():
        fields = {field for _, field, _, _ in string.Formatter().parse(query.metric) if field is not None}
        if fields - {"query", "column"} or ("column" in fields and not query.values):
            continue
        kind = "hourly" if query.granularity == "hour" else "daily"
        columns = query.values if "column" in fields else [None]
        for column in columns:
            metric = query.metric.format(query=name, column=name_part(column))
            names.append((f"readers.sql.queries.{name}", kind, metric))
    return names


def chains(settings: Settings, window: Window) -> dict[str, list]:
    """One chain per query and source: `sql.<query>`, or `sql.<query>.<source>` for a fan-out."""
    result: dict[str, list] = {}
    for name, query in settings.queries.items():
        for source in query_sources(query, settings, f"readers.sql.queries.{name}"):
            key = f"{name}.{source}" if query.sources else name
            node = RunQuery(name, replace(query, metric=fill(query.metric, source=source)), source, window)
            node.__name__ = f"sql.{key}"
            if query.every is not None:
                node = Scheduled(node, "sql", key, query.every, window)
            result[f"sql.{key}"] = [node]
    return result
