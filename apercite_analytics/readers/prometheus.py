"""`prometheus`: hourly values of PromQL expressions, read incrementally, with catch-up and backfill.

    [readers.prometheus]
    url = "http://prometheus:9090"

    [readers.prometheus.queries.requests]
    expr = "sum by (status) (increase(http_requests_total[1h]))"
    metric = "http.requests.{status}"        # label values → name parts: http.requests.200, …

Semantics: a range query with `step=1h` evaluated at a whole UTC hour T gives the value of the
hour [T-1h, T), so expressions look back exactly one hour (`increase(x[1h])`, `rate(x[1h])`,
`histogram_quantile(0.9, sum by (le) (rate(x_bucket[1h])))`). Only hours that have ended
(T <= the run's hour) are read: a partial hour is never written.

Each query is its own chain (`prometheus.<query>`) and remembers, through the `state` service,
the end of the last hour it read: a normal run reads from there (or `initial_lookback` ago on the
first run) to the last complete hour, so missed runs are caught up. `--since/--until` read any
range. Requests are chunked so that none asks for more than `max_points` hours per series
(Prometheus refuses more than 11,000). Values arrive as strings and are parsed to floats; NaN and
±Inf are passed on for `normalize` to reject, counted and named. Two series whose labels give the
same metric name fail the query, naming both label sets.
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

import requests
from prometheus_api_client import PrometheusApiClientException
from prometheus_api_client.prometheus_connect import PrometheusConnect
from urllib3.util.retry import Retry

from apercite_analytics.config.secrets import register_secret
from apercite_analytics.config.settings import (
    SourceSettings,
    check_credentials,
    check_name,
    check_retries,
    check_seconds,
)
from apercite_analytics.errors import ConfigError, SourceError, excerpt
from apercite_analytics.readers.common.http import DeadlineAdapter, mask_credentials, split_credentials
from apercite_analytics.readers.common.naming import name_part, template_fields
from apercite_analytics.readers.common.retry import policy, with_retries
from apercite_analytics.window import HOUR, Window, floor_hour, parse_duration

BACKFILL = True
READER = "prometheus"
MAX_POINTS = 11_000  # Prometheus refuses range queries of more points per series
MAX_ANSWER_BYTES = 1024 * 1024 * 1024
_LABEL = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\"()]+)")
log = logging.getLogger("apercite_analytics")


@dataclass(frozen=True)
class Query:
    """`[readers.prometheus.queries.<name>]`: a PromQL expression and the metric-name template of its series."""

    expr: str
    metric: str


@dataclass(frozen=True)
class Settings:
    """`[readers.prometheus]`."""

    url: str
    queries: dict[str, Query] = field(default_factory=dict)
    connect_timeout: float = 5.0  # seconds to connect
    timeout: float = 60.0  # seconds for one request (also sent to Prometheus as its query timeout)
    retries: int = 3  # on connection errors and 5xx answers, waiting backoff, 2×backoff, …
    backoff: float = 1.0
    max_backoff: float = 60.0
    initial_lookback: str = "2d"  # where a query without a watermark starts
    max_points: int = MAX_POINTS  # hours per request

    @property
    def lookback(self) -> timedelta:
        return parse_duration(self.initial_lookback, "initial_lookback")


def check(settings: Settings, sources: Mapping[str, SourceSettings], where: str) -> None:
    check_credentials(settings.url, f"{where}.url")
    parts = urlsplit(settings.url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{where}.url: not an http(s) URL (expected e.g. http://prometheus:9090)")
    if parts.password:
        register_secret(unquote(parts.password))
    for key in ("connect_timeout", "timeout"):
        check_seconds(getattr(settings, key), f"{where}.{key}")
    check_retries(settings.retries, settings.backoff, settings.max_backoff, where)
    if not 1 <= settings.max_points <= MAX_POINTS:
        raise ConfigError(f"{where}.max_points: must be between 1 and {MAX_POINTS}, got {settings.max_points}")
    parse_duration(settings.initial_lookback, f"{where}.initial_lookback")
    if not settings.queries:
        raise ConfigError(f"{where}.queries: define at least one query ([{where}.queries.<name>])")
    for name, query in settings.queries.items():
        key = f"{where}.queries.{name}"
        check_name(name, key)
        if not query.expr.strip():
            raise ConfigError(f"{key}.expr: empty PromQL expression")
        template_labels(query.metric, f"{key}.metric")


def template_labels(template: str, where: str) -> list[str]:
    """The label names a metric template uses (`{status}`); the names it gives must be valid."""
    return template_fields(template, lambda label: bool(_LABEL.match(label)), where)


def hours_to_read(window: Window, watermark: datetime | None, lookback: timedelta) -> tuple[datetime, datetime, bool]:
    """[start, end) of the hours to read, and whether the watermark may move to `end` afterwards.

    `end` is never after the run's hour (the last complete hour ends there). A normal run starts
    at the watermark, else `lookback` before `end`. A backfill reads `--since` (default: `lookback`
    before `end`) to `--until` (rounded up to the hour); it moves the watermark only when it starts
    at or before it (or there is none yet), so that no hole is left behind it.
    """
    last = floor_hour(window.now)
    if not window.backfill:
        start = watermark if watermark is not None else last - lookback
        return start, last, True
    end = last
    if window.until is not None:
        until = floor_hour(window.until)
        end = min(last, until if until == window.until else until + HOUR)
    start = floor_hour(window.since) if window.since is not None else end - lookback
    return start, end, watermark is None or start <= watermark


def chunks(start: datetime, end: datetime, max_points: int) -> list[tuple[datetime, datetime]]:
    """[start, end) cut into consecutive ranges of at most `max_points` hours."""
    ranges = []
    while start < end:
        stop = min(start + max_points * HOUR, end)
        ranges.append((start, stop))
        start = stop
    return ranges


class PrometheusApi:
    """Range queries through `prometheus-api-client`, with timeouts, our own retries and one-line errors."""

    def __init__(self, settings: Settings):
        url, auth = split_credentials(settings.url.rstrip("/"))
        self.shown = mask_credentials(settings.url.rstrip("/"))
        self.settings = settings
        self.last: requests.Response | None = None
        session = requests.Session()
        session.hooks["response"].append(self._keep)
        self.client = PrometheusConnect(
            url=url,
            auth=auth,
            session=session,
            retry=Retry(total=0, read=False, raise_on_status=False),  # as requests does by default: retried here
            timeout=(settings.connect_timeout, settings.timeout),  # type: ignore[arg-type]
        )
        # `timeout` bounds each whole request (not each read: a server dripping its answer must fail)
        session.mount(url, DeadlineAdapter(settings.timeout, settings.connect_timeout, MAX_ANSWER_BYTES))

    def _keep(self, response: requests.Response, *args, **kwargs) -> None:
        self.last = response

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> PrometheusApi:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def query_range(self, name: str, expr: str, first: datetime, last: datetime) -> list[dict]:
        """The series of `expr` evaluated every hour from `first` to `last` (both included)."""

        def call() -> list[dict]:
            self.last = None
            return self.client.custom_query_range(
                expr, first, last, "3600", params={"timeout": f"{self.settings.timeout:g}s"}
            )

        try:
            series, _ = with_retries(
                call,
                **policy(self.settings),
                retryable=self._retryable,
            )
        except requests.ConnectionError as exc:
            raise SourceError(
                f"Prometheus at {self.shown} is unreachable: {self._reason(exc)} ({_attempts(exc)})"
            ) from None
        except requests.Timeout:
            raise SourceError(
                f"Prometheus at {self.shown}: query {name!r} got no answer within {self.settings.timeout:g} s "
                "(timeout; raise it, or lower max_points)"
            ) from None
        except PrometheusApiClientException as exc:
            raise self._answer_error(name, exc) from None
        except (ValueError, KeyError, TypeError):  # a 200 answer that is not the API's JSON
            raise SourceError(
                f"Prometheus at {self.shown}: query {name!r}: the answer is not a Prometheus API response "
                "(is the URL the Prometheus server's base URL?)"
            ) from None
        if not isinstance(series, list) or not all(isinstance(s, dict) and "values" in s for s in series):
            raise SourceError(f"Prometheus at {self.shown}: query {name!r}: unexpected answer (not a range vector)")
        return series

    def _retryable(self, exc: BaseException) -> bool:
        if isinstance(exc, requests.ConnectionError):
            return True
        return isinstance(exc, PrometheusApiClientException) and self.last is not None and self.last.status_code >= 500

    def _reason(self, exc: BaseException) -> str:
        if isinstance(exc, requests.ConnectTimeout):
            return f"no connection within {self.settings.connect_timeout:g} s"
        match = _ERRNO.search(str(exc))
        return match.group(1).strip() if match else str(exc).splitlines()[0][:200]

    def _answer_error(self, name: str, exc: PrometheusApiClientException) -> SourceError:
        response = self.last
        if response is None:  # not expected: the client raises only on an answer
            return SourceError(f"Prometheus at {self.shown}: query {name!r}: {str(exc)[:200]}")
        what = "rejected" if 400 <= response.status_code < 500 else "failed"
        try:
            body = response.json()
            detail = f"{body['errorType']}: {body['error']}"
        except (ValueError, KeyError, TypeError):
            text = response.text.strip().splitlines()
            detail = text[0][:200] if text else response.reason or "no detail"
        retried = f", {_attempts(exc)}" if getattr(exc, "attempts", 1) > 1 else ""
        return SourceError(
            f"Prometheus at {self.shown} {what} query {name!r} (HTTP {response.status_code}{retried}): {detail}"
        )


def _attempts(exc: BaseException) -> str:
    n = getattr(exc, "attempts", 1)
    return f"{n} attempt{'s' * (n != 1)}"


class RunQuery:
    """One configured query: reads its hours chunk by chunk and yields one record per hour."""

    def __init__(self, name: str, query: Query, settings: Settings, window: Window):
        self.__name__ = f"{READER}.{name}"
        self.name, self.query, self.settings, self.window = name, query, settings, window
        self.labels = template_labels(query.metric, f"readers.prometheus.queries.{name}.metric")

    def __call__(self, *, state) -> Iterator[tuple[dict, dict]]:
        start, end, advance = hours_to_read(self.window, state.get(READER, self.name), self.settings.lookback)
        if start >= end:
            return
        ranges = chunks(start, end, self.settings.max_points)
        log.debug(
            "%s: %s to %s UTC in %d request(s)",
            self.__name__,
            f"{start:%Y-%m-%d %H:%M}",
            f"{end:%Y-%m-%d %H:%M}",
            len(ranges),
        )
        off_hours = OffHours()
        with PrometheusApi(self.settings) as api:
            for first, stop in ranges:
                # the value evaluated at T is the hour [T-1h, T): evaluate at the end of each hour
                series = api.query_range(self.name, self.query.expr, first + HOUR, stop)
                yield from self.records(series, first + HOUR, stop, off_hours)
        if off_hours:
            raise SourceError(off_hours.line(self.name))
        if advance:
            state.advance(READER, self.name, end)

    def records(
        self, series: list[dict], first: datetime, last: datetime, off_hours: OffHours | None = None
    ) -> Iterator[tuple[dict, dict]]:
        """`(dims, metrics)` per hour, in time order; refuses two label sets that give one name.

        Only samples at the whole hours `first`…`last` asked for are kept; the others (a server
        or proxy answering other times) are counted in `off_hours`, never stored at their hour.
        """
        by_time: dict[int, dict[str, Any]] = {}
        origins: dict[str, dict] = {}
        low, high = first.timestamp(), last.timestamp()
        for number, one in enumerate(series, 1):
            labels, samples = _series(one, f"query {self.name!r}: series {number}")
            metric = self.query.metric.format(**{label: name_part(labels.get(label)) for label in self.labels})
            if metric in origins:
                raise SourceError(
                    f"query {self.name!r}: series {_labels(origins[metric])} and {_labels(labels)} both give "
                    f"metric {metric!r} (put the label that differs in the metric template, or aggregate it away)"
                )
            origins[metric] = labels
            for at, value in samples:
                if not (low <= at <= high and at % 3600 == 0):
                    if off_hours is not None:
                        off_hours.add(labels, at)
                    continue
                by_time.setdefault(int(at), {})[metric] = _number(value)
        for at in sorted(by_time):
            hour = datetime.fromtimestamp(at, UTC) - HOUR
            yield {"date": hour.date(), "hour": hour.hour}, by_time[at]


class OffHours:
    """Samples a query got outside the whole hours it asked for: counted, the first one named."""

    def __init__(self) -> None:
        self.count = 0
        self.first: tuple[dict, float] | None = None

    def __bool__(self) -> bool:
        return self.count > 0

    def add(self, labels: dict, at: float) -> None:
        self.count += 1
        if self.first is None:
            self.first = (labels, at)

    def line(self, query: str) -> str:
        labels, at = self.first or ({}, 0.0)
        try:
            moment = f"{datetime.fromtimestamp(at, UTC):%Y-%m-%d %H:%M:%S} UTC"
        except (OverflowError, OSError, ValueError):
            moment = f"timestamp {at:g}"
        return (
            f"query {query!r}: {self.count} sample{'s' * (self.count != 1)} not at the whole hours asked for, "
            f"rejected (first: series {_labels(labels)} at {moment})"
        )


def _series(one: Any, where: str) -> tuple[dict[str, str], list[tuple[float, Any]]]:
    """A range-vector series' labels and (timestamp, value) samples, or SourceError saying what is wrong."""
    if not isinstance(one, dict):
        raise SourceError(f"{where}: not an object (not a range vector)")
    labels = one.get("metric") or {}
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise SourceError(f"{where}: its labels are not a mapping of strings (not a range vector)")
    values = one.get("values")
    if not isinstance(values, list):
        raise SourceError(f"{where}: its values are not a list (not a range vector)")
    samples = []
    for sample in values:
        if not (isinstance(sample, list | tuple) and len(sample) == 2):
            raise SourceError(f"{where}: sample {excerpt(sample)} is not a [time, value] pair")
        at = sample[0]
        if isinstance(at, bool) or not isinstance(at, int | float) or not math.isfinite(at):
            raise SourceError(f"{where}: sample time {excerpt(at)} is not a number of seconds")
        samples.append((float(at), sample[1]))
    return labels, samples


def _number(value: Any) -> Any:
    """Prometheus sends sample values as strings ("1.5", "NaN", "+Inf"): NaN/Inf stay floats for
    normalize to reject by name; anything unparseable goes on as is, and is rejected there too."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return value


def _labels(labels: Mapping[str, str]) -> str:
    """A label set as PromQL writes it: `{path="/a b", status="200"}`."""
    return "{" + ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in sorted(labels.items())) + "}"


def literal_names(settings: Settings) -> list[tuple[str, str, str]]:
    """(config key, kind, metric) of the queries whose template uses no label."""
    return [
        (f"readers.prometheus.queries.{name}", "hourly", query.metric)
        for name, query in settings.queries.items()
        if not template_labels(query.metric, "metric")
    ]


def chains(settings: Settings, window: Window) -> dict[str, list]:
    return {f"{READER}.{name}": [RunQuery(name, query, settings, window)] for name, query in settings.queries.items()}
