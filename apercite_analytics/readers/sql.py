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
runs a query at most once per period (`readers/common/schedule.py`). A time not on a whole hour
(or day), a duplicate, or two dimension values that map to one metric name fail that query with a
message naming the row (its number in the query's own result).

Rows are streamed, so memory does not grow with a backfill's length: the query runs wrapped in
`SELECT q.*, ROW_NUMBER() OVER () … FROM (<query>) q ORDER BY <time column>`, each period's rows
arrive together and are checked together, and the period's record is passed on when the next
period begins. A duplicate can only be a row of the same period, so the guarantee is the one a
whole-result check gave; what changes is when an error comes: after the records of the periods
before it (the run fails all the same, and what was written is right).
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Iterator, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from sqlalchemy import text

from apercite_analytics.config.settings import SourceSettings, check_name, check_source
from apercite_analytics.errors import ConfigError, SourceError, excerpt
from apercite_analytics.readers.common.naming import fill, name_part, period_dims, template_fields
from apercite_analytics.readers.common.schedule import Scheduled, check_every
from apercite_analytics.readers.common.sources import timed_out
from apercite_analytics.window import DAY, HOUR, Window, floor_day, floor_hour, parse_duration, to_utc

BACKFILL = True
DEFAULT_LOOKBACK = {"hour": "3h", "day": "2d"}
PARAMETERS = {"since", "until"}
ROW_NUMBER = "apercite_row_number"  # the wrapper's column: a row's number in the query's own result
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
        doing = f"query {self.name!r}"
        if not self.query.time_column:
            with sources.stream(self.source, statement, params, doing) as result:
                yield from self.records(list(result.keys()), result)
            return
        wrapped = text(ordered(self.query.sql, engine.dialect.identifier_preparer.quote(self.query.time_column)))
        with ExitStack() as stack:
            try:
                result = stack.enter_context(sources.stream(self.source, wrapped, params, doing))
            except SourceError as exc:
                if exc.__context__ is None or not timed_out(exc.__context__):
                    self.check_returned_columns(sources, statement, params)
                raise
            yield from self.records(list(result.keys()), result)

    def check_returned_columns(self, sources, statement: Any, params: dict) -> None:
        """The wrapped query failed: the error to show is the query's own (its positions are the
        user's), or, when the query runs but lacks a configured column, that column."""
        run = lambda connection: list(connection.execute(statement, params).keys())  # noqa: E731
        self.value_columns(sources.read(self.source, run, f"query {self.name!r}"))

    def records(self, columns: list[str], rows: Iterable[Any]) -> Iterator[tuple[dict, dict]]:
        """One record `(dims, {metric: value})` per period of rows that come grouped by period, in
        order; refuses anything ambiguous within a period and a period that comes back later."""
        q = self.query
        numbered = columns[-1:] == [ROW_NUMBER]
        columns = columns[:-1] if numbered else columns
        value_columns = self.value_columns(columns)
        index = {c: i for i, c in enumerate(columns)}
        values = [(column, index[column]) for column in value_columns]
        dimensions = [index[d] for d in q.dimensions]
        names = MetricNames(self.name, q.metric, q.dimensions, value_columns)
        observed = self.window.now
        fixed = (observed.date(), observed.hour) if q.granularity == "hour" else (observed.date(),)
        current: tuple | None = None
        metrics: dict[str, Any] = {}
        origins: dict[str, tuple] = {}
        for position, row in enumerate(rows, start=1):
            number = row[-1] if numbered else position
            # no time column: a point-in-time reading, for the period it was observed in
            key = self.period(row[index[q.time_column]], number) if q.time_column else fixed
            if key != current:
                if current is not None:
                    if key < current:
                        raise self.error(
                            f"row {number}: time {_describe(key)} comes after rows of {_describe(current)}: "
                            "the time column does not sort in time order (return timestamps, or UTC text "
                            "'YYYY-MM-DD HH:MM:SS')"
                        )
                    yield period_dims(current), metrics
                current, metrics, origins = key, {}, {}
            dims = tuple(row[i] for i in dimensions)
            for (column, i), metric in zip(values, names(dims), strict=True):
                if metric in metrics:
                    raise self.error(
                        f"row {number}: {_collision(origins[metric], (column, *dims))} {metric!r} "
                        f"at {_describe(key)}{_collision_hint(origins[metric], (column, *dims), q.metric)}"
                    )
                metrics[metric] = row[i]
                origins[metric] = (column, *dims)
        if current is not None:
            yield period_dims(current), metrics

    def value_columns(self, columns: list[str]) -> list[str]:
        """The value columns among what the query returned; every configured column must be there."""
        q = self.query
        missing = [c for c in ([q.time_column] if q.time_column else []) + q.dimensions + q.values if c not in columns]
        if missing:
            raise self.error(f"returned no column {', '.join(map(repr, missing))} (columns: {', '.join(columns)})")
        value_columns = q.values or [c for c in columns if c != q.time_column and c not in q.dimensions]
        if not value_columns:
            raise self.error(f"returns no value column (columns: {', '.join(columns)})")
        return value_columns

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


def ordered(sql: str, time_column: str) -> str:
    """The query wrapped to return its rows ordered by period, each with its number in the query's own
    result (`ROW_NUMBER() OVER ()` numbers the rows as the inner query yields them). The query goes
    on lines of its own, so that a trailing `-- comment` cannot swallow the closing parenthesis."""
    inner = sql.strip().rstrip(";").rstrip()
    return (
        f"SELECT q.*, ROW_NUMBER() OVER () AS {ROW_NUMBER} FROM (\n{inner}\n) AS q "
        f"ORDER BY q.{time_column}, {ROW_NUMBER}"
    )


class MetricNames:
    """The metric names of one row's value columns, per tuple of dimension values (rows repeat the
    same few: formatting the template once per tuple instead of once per value)."""

    LIMIT = 100_000  # tuples remembered; beyond it the cache starts again

    def __init__(self, query: str, template: str, dimensions: list[str], columns: list[str]):
        self.query, self.template, self.dimensions = query, template, dimensions
        self.columns = [name_part(c) for c in columns]
        self._cache: dict[tuple, list[str]] = {}

    def __call__(self, dims: tuple) -> list[str]:
        names = self._cache.get(dims)
        if names is None:
            if len(self._cache) >= self.LIMIT:
                self._cache.clear()
            parts = {d: name_part(v) for d, v in zip(self.dimensions, dims, strict=True)}
            names = [self.template.format(query=self.query, column=c, **parts) for c in self.columns]
            self._cache[dims] = names
        return names


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
