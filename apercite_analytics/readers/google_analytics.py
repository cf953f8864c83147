"""`google_analytics`: GA4 reports (Data API `runReport`) as hourly and daily metrics.

    [readers.google_analytics]
    property = 123456789                       # the numeric GA4 property id
    credentials = "/etc/apercite/ga-key.json"  # else $GOOGLE_APPLICATION_CREDENTIALS

    [readers.google_analytics.reports.channels]
    metrics = ["sessions"]
    dimensions = ["sessionDefaultChannelGroup"]
    granularity = "hourly"                     # dateHour rows → hourly values; "daily": date rows
    metric = "ga.sessions.{sessionDefaultChannelGroup}"

Without `reports`, two reports read sessions, activeUsers, newUsers and screenPageViews hourly and
daily (`ga.sessions`, `ga.active_users`, `ga.new_users`, `ga.screen_page_views`): users are
distinct per period, so the daily values are not sums of the hourly ones.

Time: GA reports in the property's zone; `_ga_time` places hourly rows in UTC hours (DST
included) and dates daily rows by the property's local day. Re-reading: GA revises the last
~72 h, so every run reads [min(watermark, now − trailing_window), now) — the current, partial
hour included (later runs rewrite it) — and a run missed for longer than the trailing window is
caught up from the report's watermark. `--since/--until` backfill exactly that UTC range (daily
reports: those dates). Each report is its own chain, checked whole before any record is passed
on: two dimension values that give one metric name fail that report, naming them.
"""

from __future__ import annotations

import logging
import os
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Literal

from apercite_analytics.config.settings import SourceSettings, check_name, check_retries, check_seconds
from apercite_analytics.errors import ConfigError, SourceError
from apercite_analytics.readers import _ga_client, _ga_time
from apercite_analytics.readers.common.naming import name_part, period_dims, template_fields
from apercite_analytics.window import HOUR, Window, floor_hour, parse_duration

BACKFILL = True
READER = "google_analytics"
CREDENTIALS_ENV = "GOOGLE_APPLICATION_CREDENTIALS"
DEFAULT_METRICS = ("sessions", "activeUsers", "newUsers", "screenPageViews")
TIME_DIMENSION = {"hourly": "dateHour", "daily": "date"}
MAX_METRICS, MAX_DIMENSIONS = 10, 9  # per runReport request (the time dimension counts)
TYPE_INTEGER = 1  # MetricType.TYPE_INTEGER: every other type (float, seconds, currency, …) is a float
_API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(?::[A-Za-z0-9_]+)?$")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NOT_IDENTIFIER = re.compile(r"\W")
log = logging.getLogger("apercite_analytics")
_MISSING: Any = object()


@dataclass(frozen=True)
class Report:
    """`[readers.google_analytics.reports.<name>]`: GA API metric and dimension names."""

    metrics: list[str]
    dimensions: list[str] = field(default_factory=list)
    granularity: Literal["hourly", "daily"] = "hourly"
    metric: str | None = None  # name template; default ga.{metric}[.{dimension}…]

    @property
    def template(self) -> str:
        return self.metric or ".".join(["ga.{metric}", *(f"{{{placeholder(d)}}}" for d in self.dimensions)])


def _default_reports() -> dict[str, Report]:
    return {
        "hourly": Report(metrics=list(DEFAULT_METRICS), granularity="hourly"),
        "daily": Report(metrics=list(DEFAULT_METRICS), granularity="daily"),
    }


@dataclass(frozen=True)
class Settings:
    """`[readers.google_analytics]`."""

    property: int | str
    credentials: str | None = None  # service-account JSON key file; else $GOOGLE_APPLICATION_CREDENTIALS
    trailing_window: str = "3d"
    timeout: float = 60.0  # seconds per request
    retries: int = 4  # after the first attempt, on quota (429), 5xx and network errors
    backoff: float = 2.0  # seconds before the first retry, doubled each time …
    max_backoff: float = 60.0  # … up to this
    page_size: int = 100_000  # rows per request (limit/offset paging), at most 250,000
    reports: dict[str, Report] = field(default_factory=_default_reports)

    @property
    def property_id(self) -> str:
        return str(self.property).strip()

    def credentials_path(self) -> str:
        return self.credentials or os.environ.get(CREDENTIALS_ENV, "")


def snake_case(api_name: str) -> str:
    """A GA API name as a metric-name part: `activeUsers` → `active_users`."""
    return name_part(_CAMEL.sub("_", api_name))


def placeholder(dimension: str) -> str:
    """A dimension's template placeholder: its API name, `:` and other non-word characters as `_`."""
    return _NOT_IDENTIFIER.sub("_", dimension)


# ── configuration ───────────────────────────────────────────────────────────────────────────


def check(settings: Settings, sources: Mapping[str, SourceSettings], where: str) -> None:
    if not _ga_client.package_available():
        raise ConfigError(f"{where}: Google's GA4 client is not installed: {_ga_client.INSTALL_HINT}")
    if not settings.property_id.isdigit():
        raise ConfigError(
            f"{where}.property: expected the numeric GA4 property id (Admin → Property details), "
            f"got {settings.property!r}"
        )
    if not settings.credentials_path():
        raise ConfigError(
            f"{where}.credentials: missing (the path of a service-account JSON key file, or set {CREDENTIALS_ENV})"
        )
    parse_duration(settings.trailing_window, f"{where}.trailing_window")
    _check_numbers(settings, where)
    if not settings.reports:
        raise ConfigError(f"{where}.reports: define at least one report ([{where}.reports.<name>])")
    for name, report in settings.reports.items():
        key = f"{where}.reports.{name}"
        check_name(name, key)
        _check_report(report, key)


def _check_numbers(settings: Settings, where: str) -> None:
    check_seconds(settings.timeout, f"{where}.timeout")
    check_retries(settings.retries, settings.backoff, settings.max_backoff, where, most=20)
    if not 1 <= settings.page_size <= _ga_client.MAX_PAGE_SIZE:
        raise ConfigError(f"{where}.page_size: must be between 1 and {_ga_client.MAX_PAGE_SIZE}")


def _check_report(report: Report, key: str) -> None:
    if not 1 <= len(report.metrics) <= MAX_METRICS:
        raise ConfigError(f'{key}.metrics: list 1 to {MAX_METRICS} GA metric names (e.g. "sessions")')
    if len(report.dimensions) > MAX_DIMENSIONS - 1:
        raise ConfigError(f"{key}.dimensions: at most {MAX_DIMENSIONS - 1} (the time dimension is the ninth)")
    for kind in ("metrics", "dimensions"):
        names = getattr(report, kind)
        for i, api_name in enumerate(names):
            if not _API_NAME.match(api_name):
                raise ConfigError(f"{key}.{kind}[{i}]: {api_name!r} is not a GA API name (e.g. activeUsers)")
        if len(set(names)) != len(names):
            raise ConfigError(
                f"{key}.{kind}: listed twice: {', '.join(sorted({n for n in names if names.count(n) > 1}))}"
            )
    time_dimension = TIME_DIMENSION[report.granularity]
    for i, dimension in enumerate(report.dimensions):
        if dimension in ("date", "dateHour", "dateHourMinute"):
            raise ConfigError(
                f'{key}.dimensions[{i}]: {dimension!r} is a time dimension; granularity = "{report.granularity}" '
                f"already reads {time_dimension}"
            )
    placeholders = [placeholder(d) for d in report.dimensions]
    if len(set(placeholders)) != len(placeholders) or "metric" in placeholders:
        raise ConfigError(f"{key}.dimensions: two dimensions give the same template placeholder")
    fields = template_fields(report.template, {"metric", *placeholders}, f"{key}.metric")
    if len(report.metrics) > 1 and "metric" not in fields:
        raise ConfigError(f"{key}.metric: with several metrics the template needs {{metric}} ({report.template!r})")
    unused = [f"{{{p}}}" for p in placeholders if p not in fields]
    if unused:
        raise ConfigError(
            f"{key}.metric: the template {report.template!r} lacks {', '.join(unused)}: "
            "every dimension must be part of the name, or its values would give one name"
        )


# ── reading ─────────────────────────────────────────────────────────────────────────────────


class ReadReport:
    """Reads one configured report over the run's window and yields one record per period."""

    def __init__(self, name: str, report: Report, settings: Settings, client: _ga_client.Client, window: Window):
        self.__name__ = f"{READER}.{name}"
        self.name, self.report, self.settings, self.client, self.window = name, report, settings, client, window
        self.what = f"report {name!r} (property {settings.property_id})"

    def __call__(self, *, state) -> Iterator[tuple[dict, dict]]:
        start, end = self.utc_range(None if self.window.backfill else state.get(READER, self.name))
        request = self.request(start, end)
        records = Records(self, start, end, self.request_dates(start, end))
        for page in self.client.pages(request, self.settings.page_size, self.what):
            records.add_page(page)
        records.warn_skipped()
        for key in sorted(records.values):
            yield period_dims(key), records.values[key]
        state.advance(READER, self.name, min(end, floor_hour(self.window.now)))

    def utc_range(self, watermark: datetime | None) -> tuple[datetime, datetime]:
        """[start, end) in UTC: the backfill, or the trailing window reaching back to the watermark."""
        start, end = self.window.range(parse_duration(self.settings.trailing_window, "trailing_window"), HOUR)
        if watermark is not None and watermark < start:
            start = floor_hour(watermark)
        return start, end

    def request_dates(self, start: datetime, end: datetime) -> tuple[date, date]:
        """The local dates (inclusive) to ask GA for.

        Hourly: every local date the UTC window touches in any zone (rows are filtered by UTC hour
        after). Daily: a backfill's dates as given; a normal run from the earliest local date the
        window start can be in, to today (UTC): a property ahead of UTC gets its current local day
        once that date has begun in UTC (the store takes no future date).
        """
        today = self.window.now.date()
        if self.report.granularity == "hourly":
            return _ga_time.hourly_request_dates(start, end)
        if self.window.backfill:
            first, last = start.date(), (end - timedelta(microseconds=1)).date()
        else:
            first, last = (start - _ga_time.MAX_BEHIND_UTC).date(), today
        return first, min(last, today)

    def request(self, start: datetime, end: datetime) -> dict[str, Any]:
        first, last = self.request_dates(start, end)
        dimensions = [TIME_DIMENSION[self.report.granularity], *self.report.dimensions]
        return {
            "property": f"properties/{self.settings.property_id}",
            "date_ranges": [{"start_date": first.isoformat(), "end_date": last.isoformat()}],
            "dimensions": [{"name": d} for d in dimensions],
            "metrics": [{"name": m} for m in self.report.metrics],
            "order_bys": [{"dimension": {"dimension_name": d}} for d in dimensions],  # stable pages
            "keep_empty_rows": True,  # a revised-to-zero period is rewritten as 0, not left stale
        }


class Records:
    """A report's rows, placed in UTC periods and named, checked for collisions."""

    def __init__(self, node: ReadReport, start: datetime, end: datetime, dates: tuple[date, date]):
        self.node, self.start, self.end, self.dates = node, start, end, dates
        report = node.report
        self.hourly = report.granularity == "hourly"
        self.dimensions = [TIME_DIMENSION[report.granularity], *report.dimensions]
        self.placeholders = [placeholder(d) for d in report.dimensions]
        self.metric_parts = [snake_case(m) for m in report.metrics]
        self.values: dict[tuple, dict[str, Any]] = {}
        self.origins: dict[str, list[tuple[str, ...]]] = {}  # name → the dimension values giving it
        self.skipped: Counter[str] = Counter()
        self.zone: Any = None
        self.periods: dict[str, tuple | None | _ga_time.Unplaceable] = {}  # few distinct times, many rows
        self.names_of: dict[tuple[str, ...], list[str]] = {}  # few distinct dimension values, many rows

    def add_page(self, page: Any) -> None:
        self.check_headers(page)
        integer = [h.type_ == TYPE_INTEGER for h in page.metric_headers]
        periods, names = self.periods, self.names_of
        for row in page.rows:
            time_label, *labels = [v.value for v in row.dimension_values]
            key = periods.get(time_label, _MISSING)
            if key is _MISSING:
                try:
                    key = periods[time_label] = self.period(time_label, page)
                except _ga_time.Unplaceable as exc:
                    key = periods[time_label] = exc
            if isinstance(key, _ga_time.Unplaceable):
                self.skipped[str(key)] += 1
                continue
            if key is None:
                continue
            values = tuple(labels)
            row_names = names.get(values) or names.setdefault(values, self.names(values))
            metrics = self.values.get(key)
            if metrics is None:
                metrics = self.values[key] = {}
            for name, is_int, cell in zip(row_names, integer, row.metric_values, strict=True):
                if name in metrics:
                    raise self.collision(name, key)
                metrics[name] = _typed(cell.value, is_int)

    def names(self, labels: tuple[str, ...]) -> list[str]:
        """The metric name of each metric for one combination of dimension values."""
        parts = {p: name_part(v) for p, v in zip(self.placeholders, labels, strict=True)}
        names = [self.node.report.template.format(metric=part, **parts) for part in self.metric_parts]
        for name in names:
            self.origins.setdefault(name, []).append(labels)
        return names

    def period(self, label: str, page: Any) -> tuple | None:
        """The UTC (date, hour) or local (date,) of a row; None if outside the window."""
        if not self.hourly:
            day = _ga_time.local_date(label)
            return (day,) if self.dates[0] <= day <= self.dates[1] else None
        if self.zone is None:
            self.zone = self.page_zone(page)
        moment = _ga_time.utc_hour(label, self.zone)
        return (moment.date(), moment.hour) if self.start <= moment < self.end else None

    def page_zone(self, page: Any) -> Any:
        name = page.metadata.time_zone
        if not name:
            raise SourceError(f"{self.node.what}: the response has no metadata.timeZone to place dateHour in UTC")
        try:
            return _ga_time.zone(name)
        except ValueError as exc:
            raise SourceError(f"{self.node.what}: metadata.timeZone: {exc}") from None

    def check_headers(self, page: Any) -> None:
        """The columns must be the ones asked for, in order (the rows are read by position)."""
        dimensions = [h.name for h in page.dimension_headers]
        metrics = [h.name for h in page.metric_headers]
        if (page.rows or page.dimension_headers) and (
            dimensions != self.dimensions or metrics != list(self.node.report.metrics)
        ):
            raise SourceError(
                f"{self.node.what}: the response's columns ({', '.join(dimensions + metrics)}) "
                f"are not the ones asked for ({', '.join(self.dimensions + list(self.node.report.metrics))})"
            )

    def collision(self, name: str, key: tuple) -> SourceError:
        """Two rows for one name in one period: a duplicate row, or dimension values that give one name."""
        where = f"{key[0]} {key[1]:02d}:00 UTC" if len(key) == 2 else f"{key[0]}"
        origins = self.origins[name]
        if len(origins) == 1:
            return SourceError(f"{self.node.what}: two rows for {name!r} at {where}")
        values = ", ".join(map(str, origins[:-1])) + f" and {origins[-1]}"
        return SourceError(
            f"{self.node.what}: dimension values {values} give the same name {name!r} "
            f"(twice at {where}; change the metric template)"
        )

    def warn_skipped(self) -> None:
        for reason, count in sorted(self.skipped.items()):
            log.warning(
                "%s: %d row%s skipped, not placeable in time: %s%s",
                self.node.__name__,
                count,
                "s" * (count != 1),
                reason,
                " (GA's (other) row: too many dimension combinations in a day)" if "(other)" in reason else "",
            )


def _typed(text: str, integer: bool) -> Any:
    """A GA value string as int (TYPE_INTEGER) or float; anything unreadable is passed on as is,
    for normalize to reject by name."""
    try:
        return int(text) if integer else float(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def chains(settings: Settings, window: Window) -> dict[str, list]:
    client = _ga_client.Client(
        settings.credentials_path(),
        timeout=settings.timeout,
        retries=settings.retries,
        backoff=settings.backoff,
        max_backoff=settings.max_backoff,
    )
    return {
        f"{READER}.{name}": [ReadReport(name, report, settings, client, window)]
        for name, report in settings.reports.items()
    }
