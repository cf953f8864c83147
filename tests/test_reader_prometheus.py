"""The `prometheus` reader against a real Prometheus (Debian's package) holding promtool-built test blocks.

Test data: one week from 2025-01-06 00:00 UTC, samples at :07:30, :22:30, :37:30 and :52:30 of each
hour, so none sits on an hour edge (Prometheus 2.x range selectors include both ends).
"""

from __future__ import annotations

import http.server
import json
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, select
from support.ports import free_port
from support.prometheus_server import PrometheusServer, create_blocks, write_openmetrics
from support.storeview import stored

from apercite_analytics.cli import main as cli
from apercite_analytics.config import load as config
from apercite_analytics.config.urls import database_url
from apercite_analytics.errors import ConfigError, SourceError
from apercite_analytics.readers import prometheus
from apercite_analytics.readers.common.http import mask_credentials, split_credentials
from apercite_analytics.readers.common.retry import with_retries
from apercite_analytics.run import job as graph
from apercite_analytics.store.models import ReaderState
from apercite_analytics.store.watermarks import Watermarks
from apercite_analytics.window import Window

D = datetime(2025, 1, 6, tzinfo=UTC)  # first hour of the test data
DAYS = 7
NAN_HOUR, INF_HOUR = 5, 6  # hours (from D) where the error ratio is 0/0 and 1/0

QUERIES = {
    "requests": {"expr": "sum by (status) (sum_over_time(app_requests[1h]))", "metric": "http.requests.{status}"},
    "routes": {
        "expr": "sum by (route, method) (sum_over_time(app_requests[1h]))",
        "metric": "http.route.{route}.{method}",
    },
    "hits": {"expr": "increase(app_hits_total[1h])", "metric": "http.hits"},
}


def at(h: int, quarter: int) -> int:
    """Unix time of sample `quarter` (0–3) of hour `h` after D: never on an hour edge."""
    return int((D + timedelta(hours=h, minutes=15 * quarter + 7, seconds=30)).timestamp())


def test_samples() -> Iterator[tuple[str, dict, int, float]]:
    for h in range(DAYS * 24):
        for q in range(4):
            yield "app_requests", {"status": "200", "route": "/api/users"}, at(h, q), h + 1
            if h % 2 == 0:
                yield "app_requests", {"status": "500", "route": "/api/users"}, at(h, q), 1
            yield "app_requests", {"status": "404", "route": "/Économie plan"}, at(h, q), 2
            minutes = (at(h, q) - D.timestamp()) / 60
            yield "app_hits_total", {}, at(h, q), 1000 + minutes  # +1 a minute
            yield "app_collide", {"route": "/a b"}, at(h, q), 1
            yield "app_collide", {"route": "/a-b"}, at(h, q), 1
            zero_traffic = h in (NAN_HOUR, INF_HOUR)
            yield "app_total", {}, at(h, q), 0 if zero_traffic else 1
            yield "app_errors", {}, at(h, q), 1 if (q == 0 and h != NAN_HOUR) else 0


test_samples.__test__ = False  # a data generator, not a test


def key(h: int) -> tuple[date, int]:
    moment = D + timedelta(hours=h)
    return moment.date(), moment.hour


def requests_expected(hours: range) -> dict[tuple, float]:
    """The `requests` query's values: what the samples of each hour add up to."""
    values = {}
    for h in hours:
        values[("http.requests.200", *key(h))] = 4.0 * (h + 1)
        values[("http.requests.404", *key(h))] = 8.0
        if h % 2 == 0:
            values[("http.requests.500", *key(h))] = 4.0
    return values


@pytest.fixture(scope="session")
def prometheus_url(tmp_path_factory) -> Iterator[str]:
    """A real Prometheus serving the test week (blocks built once per session)."""
    root = tmp_path_factory.mktemp("prometheus")
    tsdb = create_blocks(write_openmetrics(root / "data.om", test_samples()), root / "tsdb")
    with PrometheusServer(tsdb) as server:
        yield server.url


def settings_for(url: str, queries: dict | None = None, store_url: str | None = None, **section) -> config.Settings:
    raw: dict = {"readers": {"prometheus": {"url": url, "queries": queries or QUERIES, **section}}}
    if store_url:
        raw["store"] = {"url": store_url}
    return config.parse(raw)


def read(url: str, window: Window, queries: dict | None = None, state: Watermarks | None = None, **section) -> dict:
    """Every chain run to the end without Bonobo: `{chain: [records]}` (errors propagate)."""
    reader = settings_for(url, queries, **section).readers["prometheus"]
    state = state or Watermarks()
    return {name: list(chain[-1](state=state)) for name, chain in prometheus.chains(reader, window).items()}


def watermarks(url: str) -> dict[str, datetime]:
    engine = create_engine(database_url(url))
    with engine.connect() as connection:
        rows = connection.execute(
            select(ReaderState.key, ReaderState.watermark).where(ReaderState.reader == "prometheus")
        )
        marks = {k: m if m.tzinfo else m.replace(tzinfo=UTC) for k, m in rows}
    engine.dispose()
    return marks


def write_config(tmp_path: Path, store_url: str, url: str, body: str = "", queries: dict | None = None) -> Path:
    lines = [f'[store]\nurl = "{store_url}"\n', f'[readers.prometheus]\nurl = "{url}"\n{body}\n']
    for name, query in (queries or QUERIES).items():
        lines.append(f"[readers.prometheus.queries.{name}]\nexpr = {json.dumps(query['expr'])}\n")
        lines.append(f"metric = {json.dumps(query['metric'])}\n")
    path = tmp_path / "analytics.toml"
    path.write_text("".join(lines))
    return path


# ── configuration ───────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"url": "prometheus:9090"}, "readers.prometheus.url: not an http(s) URL"),
        ({"url": "ftp://u:pw@host"}, "readers.prometheus.url: not an http(s) URL"),
        ({"timeout": 0}, "readers.prometheus.timeout: must be a positive number of seconds"),
        ({"retries": 11}, "readers.prometheus.retries: must be between 0 and 10, got 11"),
        ({"max_points": 11001}, "readers.prometheus.max_points: must be between 1 and 11000, got 11001"),
        ({"initial_lookback": "2 weeks"}, 'readers.prometheus.initial_lookback: expected a duration like "3h"'),
        ({"queries": {}}, "readers.prometheus.queries: define at least one query"),
        ({"queries": {"Bad-Name": {"expr": "up", "metric": "x"}}}, "readers.prometheus.queries.Bad-Name: name"),
        ({"queries": {"q": {"expr": " ", "metric": "x"}}}, "readers.prometheus.queries.q.expr: empty PromQL"),
        ({"queries": {"q": {"expr": "up"}}}, "readers.prometheus.queries.q.metric: missing required key"),
        ({"queries": {"q": {"expr": "up", "metric": "up.{job"}}}, "readers.prometheus.queries.q.metric: invalid"),
        (
            {"queries": {"q": {"expr": "up", "metric": "up.{job!r}"}}},
            "readers.prometheus.queries.q.metric: placeholder {job!r} is not a label name (like {status})",
        ),
        (
            {"queries": {"q": {"expr": "up", "metric": "up.{0}"}}},
            "readers.prometheus.queries.q.metric: placeholder {0} is not a label name",
        ),
        (
            {"queries": {"q": {"expr": "up", "metric": "Up.{job}"}}},
            "readers.prometheus.queries.q.metric: template 'Up.{job}' gives names like 'Up.x': metric name",
        ),
        (
            {"queries": {"q": {"expr": "up", "metric": "up", "step": "5m"}}},
            "readers.prometheus.queries.q.step: unknown",
        ),
    ],
)
def test_config_errors_name_the_key(section, message):
    raw = {"url": "http://prometheus:9090", "queries": {"q": {"expr": "up", "metric": "up"}}} | section
    with pytest.raises(ConfigError) as info:
        config.parse({"readers": {"prometheus": raw}})
    assert str(info.value).startswith(message), str(info.value)
    assert "pw" not in str(info.value)


def test_example_config_section_parses(monkeypatch):
    for name in ("ANALYTICS_DB_PASSWORD", "APP_DB_PASSWORD"):
        monkeypatch.setenv(name, "example-secret")
    settings = config.load(str(Path(__file__).parent.parent / "examples" / "analytics.toml"))
    reader = settings.readers["prometheus"]
    assert reader.queries and all(prometheus.template_labels(q.metric, "") is not None for q in reader.queries.values())


def test_credentials_are_split_off_and_masked():
    assert split_credentials("http://etl:p%40ss@prom:9090/sub") == ("http://prom:9090/sub", ("etl", "p@ss"))
    assert split_credentials("https://prom/x") == ("https://prom/x", None)
    assert mask_credentials("http://etl:p%40ss@prom:9090/sub") == "http://etl:***@prom:9090/sub"
    assert mask_credentials("http://prom:9090") == "http://prom:9090"


def test_retries_back_off_exponentially_on_retryable_errors_only():
    waits: list[float] = []
    calls = iter([ConnectionError("down"), ConnectionError("down"), "answer"])

    def call():
        outcome = next(calls)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    retryable = lambda exc: isinstance(exc, ConnectionError)  # noqa: E731
    assert with_retries(call, retries=3, backoff=0.5, retryable=retryable, sleep=waits.append) == ("answer", 3)
    assert waits == [0.5, 1.0]

    waits.clear()
    with pytest.raises(ConnectionError) as info:
        with_retries(
            lambda: (_ for _ in ()).throw(ConnectionError("down")),
            retries=2,
            backoff=1,
            retryable=retryable,
            sleep=waits.append,
        )
    assert info.value.attempts == 3 and waits == [1, 2]
    with pytest.raises(ValueError) as bad:
        with_retries(lambda: int("x"), retries=5, backoff=1, retryable=retryable, sleep=waits.append)
    assert bad.value.attempts == 1


# ── which hours, in which requests ──────────────────────────────────────────────────────────

NOW = datetime(2025, 1, 8, 10, 20, tzinfo=UTC)
LOOKBACK = timedelta(days=2)


def hours(a: str, b: str, advance: bool) -> tuple[datetime, datetime, bool]:
    return datetime.fromisoformat(a + "+00:00"), datetime.fromisoformat(b + "+00:00"), advance


@pytest.mark.parametrize(
    ("window", "watermark", "expected"),
    [
        (Window(NOW), None, hours("2025-01-06T10:00", "2025-01-08T10:00", True)),  # the partial 10:xx is not read
        (Window(NOW), datetime(2025, 1, 8, 4, tzinfo=UTC), hours("2025-01-08T04:00", "2025-01-08T10:00", True)),
        (Window(NOW), datetime(2025, 1, 1, tzinfo=UTC), hours("2025-01-01T00:00", "2025-01-08T10:00", True)),
        (Window(NOW), datetime(2025, 1, 8, 10, tzinfo=UTC), hours("2025-01-08T10:00", "2025-01-08T10:00", True)),
        # backfills: --since floored, --until rounded up to the hour, never past the last complete hour
        (
            Window.from_args("2025-01-07T03:30", "2025-01-07T05:10", NOW),
            None,
            hours("2025-01-07T03:00", "2025-01-07T06:00", True),
        ),
        (
            Window.from_args("2025-01-07", "2025-01-07T05:00", NOW),
            None,
            hours("2025-01-07T00:00", "2025-01-07T05:00", True),
        ),
        (Window.from_args("2025-01-07", "2025-02-01", NOW), None, hours("2025-01-07T00:00", "2025-01-08T10:00", True)),
        (Window.from_args(None, "2025-01-07", NOW), None, hours("2025-01-05T00:00", "2025-01-07T00:00", True)),
        # a backfill that starts after the watermark would leave a hole behind it: the watermark stays
        (
            Window.from_args("2025-01-07", None, NOW),
            datetime(2025, 1, 6, tzinfo=UTC),
            hours("2025-01-07T00:00", "2025-01-08T10:00", False),
        ),
        (
            Window.from_args("2025-01-05", "2025-01-07", NOW),
            datetime(2025, 1, 6, tzinfo=UTC),
            hours("2025-01-05T00:00", "2025-01-07T00:00", True),
        ),
    ],
)
def test_hours_to_read(window, watermark, expected):
    assert prometheus.hours_to_read(window, watermark, LOOKBACK) == expected


def test_chunks_never_exceed_max_points():
    start = datetime(2025, 1, 1, tzinfo=UTC)
    h = timedelta(hours=1)
    assert prometheus.chunks(start, start + 25 * h, 10) == [
        (start, start + 10 * h),
        (start + 10 * h, start + 20 * h),
        (start + 20 * h, start + 25 * h),
    ]
    assert prometheus.chunks(start, start + 20 * h, 10) == [(start, start + 10 * h), (start + 10 * h, start + 20 * h)]
    assert prometheus.chunks(start, start, 10) == []
    long = prometheus.chunks(start, start + 30_000 * h, prometheus.MAX_POINTS)
    assert [(b - a) // h for a, b in long] == [11_000, 11_000, 8_000]


# ── a real Prometheus ───────────────────────────────────────────────────────────────────────


def test_exact_hourly_values_and_sanitised_names(prometheus_url):
    window = Window(now=D + timedelta(hours=3, minutes=59))
    got = read(prometheus_url, window, initial_lookback="3h")
    assert got["prometheus.requests"] == [
        (
            {"date": date(2025, 1, 6), "hour": 0},
            {"http.requests.200": 4.0, "http.requests.404": 8.0, "http.requests.500": 4.0},
        ),
        ({"date": date(2025, 1, 6), "hour": 1}, {"http.requests.200": 8.0, "http.requests.404": 8.0}),
        (
            {"date": date(2025, 1, 6), "hour": 2},
            {"http.requests.200": 12.0, "http.requests.404": 8.0, "http.requests.500": 4.0},
        ),
    ]
    # "/api/users" → api_users, "/Économie plan" → economie_plan, a missing label → none
    assert got["prometheus.routes"][1] == (
        {"date": date(2025, 1, 6), "hour": 1},
        {"http.route.api_users.none": 8.0, "http.route.economie_plan.none": 8.0},
    )
    # increase() over the hour: the counter grows by one a minute (extrapolated from 45 to 60 minutes)
    assert [(d["hour"], m["http.hits"]) for d, m in got["prometheus.hits"]] == [
        (0, pytest.approx(60.0)),
        (1, pytest.approx(60.0)),
        (2, pytest.approx(60.0)),
    ]


def test_values_in_the_store_and_catch_up_after_skipped_runs(prometheus_url, pg_url):
    settings = settings_for(prometheus_url, {"requests": QUERIES["requests"]}, pg_url, initial_lookback="3h")
    cli.setup_logging(-1)

    first = graph.execute(settings, ["prometheus"], Window(now=D + timedelta(hours=10, minutes=30)), write=True)
    assert first.ok and first.watermarks_moved == 1
    assert stored(pg_url, daily=False) == requests_expected(
        range(7, 10)
    )  # the 3h initial lookback: 07:00, 08:00, 09:00
    assert watermarks(pg_url) == {"requests": D + timedelta(hours=10)}

    # runs at 11:xx … 15:xx were missed: the next one reads every hour since the watermark, not just 3 hours
    second = graph.execute(settings, ["prometheus"], Window(now=D + timedelta(hours=16, minutes=5)), write=True)
    assert second.ok
    assert stored(pg_url, daily=False) == requests_expected(range(7, 16))
    assert watermarks(pg_url) == {"requests": D + timedelta(hours=16)}
    assert second.written["hourly_value"] == len(requests_expected(range(10, 16)))

    # again in the same hour: nothing left to read
    third = graph.execute(settings, ["prometheus"], Window(now=D + timedelta(hours=16, minutes=50)), write=True)
    assert third.ok and third.written["hourly_value"] == 0 and third.watermarks_moved == 0


def test_cli_since_backfill_of_several_days(prometheus_url, pg_url, tmp_path, capsys):
    cfg = write_config(tmp_path, pg_url, prometheus_url, queries={"requests": QUERIES["requests"]})
    argv = [
        "read",
        "prometheus",
        "--write",
        "-c",
        str(cfg),
        "--since",
        "2025-01-06T05:00",
        "--until",
        "2025-01-09T05:00",
    ]
    assert cli.main(argv) == 0
    assert stored(pg_url, daily=False) == requests_expected(range(5, 3 * 24 + 5))
    assert watermarks(pg_url) == {"requests": D + timedelta(days=3, hours=5)}  # no watermark yet: it starts there
    assert "run ok" in capsys.readouterr().err

    # a later backfill that starts after the watermark leaves it alone (the hours between were never read)
    later = ["read", "prometheus", "--write", "-c", str(cfg), "--since", "2025-01-10", "--until", "2025-01-11"]
    assert cli.main(later) == 0
    assert stored(pg_url, daily=False) == requests_expected(range(5, 3 * 24 + 5)) | requests_expected(
        range(4 * 24, 5 * 24)
    )
    assert watermarks(pg_url) == {"requests": D + timedelta(days=3, hours=5)}


def test_nan_and_inf_are_rejected_by_name_and_counted(prometheus_url, pg_url, tmp_path, capsys):
    queries = {
        "errors": {
            "expr": "sum_over_time(app_errors[1h]) / sum_over_time(app_total[1h])",
            "metric": "http.error_ratio",
        }
    }
    cfg = write_config(tmp_path, pg_url, prometheus_url, queries=queries)
    assert (
        cli.main(
            ["read", "prometheus", "--write", "-c", str(cfg), "--since", "2025-01-06", "--until", "2025-01-06T12:00"]
        )
        == 1
    )
    assert stored(pg_url, daily=False) == {
        ("http.error_ratio", *key(h)): 0.25 for h in range(12) if h not in (NAN_HOUR, INF_HOUR)
    }
    err = capsys.readouterr().err
    assert "warning: normalize: http.error_ratio at 2025-01-06 05:00 rejected: value nan is not finite" in err
    assert "warning: normalize: http.error_ratio at 2025-01-06 06:00 rejected: value inf is not finite" in err
    assert "run FAILED: 2 values rejected" in err


def test_label_collision_names_both_label_sets(prometheus_url):
    queries = {"collide": {"expr": "sum by (route) (sum_over_time(app_collide[1h]))", "metric": "app.route.{route}"}}
    with pytest.raises(SourceError) as info:
        read(prometheus_url, Window(now=D + timedelta(hours=2)), queries)
    assert str(info.value) == (
        "query 'collide': series {route=\"/a b\"} and {route=\"/a-b\"} both give metric 'app.route.a_b' "
        "(put the label that differs in the metric template, or aggregate it away)"
    ) or str(info.value) == (
        "query 'collide': series {route=\"/a-b\"} and {route=\"/a b\"} both give metric 'app.route.a_b' "
        "(put the label that differs in the metric template, or aggregate it away)"
    )


def test_bad_expression_reports_prometheus_message_and_the_other_query_is_written(
    prometheus_url, pg_url, tmp_path, capsys
):
    queries = {"broken": {"expr": "sum(rate(app_requests[1h])", "metric": "broken"}, "requests": QUERIES["requests"]}
    cfg = write_config(tmp_path, pg_url, prometheus_url, queries=queries)
    assert (
        cli.main(
            ["read", "prometheus", "--write", "-c", str(cfg), "--since", "2025-01-06", "--until", "2025-01-06T02:00"]
        )
        == 1
    )
    assert stored(pg_url, daily=False) == requests_expected(range(2))
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: prometheus.broken: Prometheus at {prometheus_url} rejected query 'broken' (HTTP 400): "
        "bad_data: 1:27: parse error: unclosed left parenthesis"
    ]
    assert "Traceback" not in err
    # the failed query keeps no watermark (the next run reads it again); the good one moves on
    assert watermarks(pg_url) == {"requests": datetime(2025, 1, 6, 2, tzinfo=UTC)}


def test_prometheus_down_is_one_line_with_masked_url_and_other_readers_still_write(
    tmp_path, pg_url, capsys, monkeypatch
):
    website = tmp_path / "website.db"
    import sqlite3

    with sqlite3.connect(website) as db:
        db.executescript("CREATE TABLE users (id INTEGER PRIMARY KEY); INSERT INTO users DEFAULT VALUES;")
    port = free_port()  # nothing listens there
    monkeypatch.setenv("PROM_PASSWORD", "prom-secret-pw")
    cfg = write_config(
        tmp_path,
        pg_url,
        f"http://etl:${{PROM_PASSWORD}}@127.0.0.1:{port}",
        body="retries = 2\nbackoff = 0.05\nconnect_timeout = 2",
        queries={"requests": QUERIES["requests"]},
    )
    objects = (
        f'[sources.website]\nurl = "sqlite:///{website}"\n[readers.objects]\nsource = "website"\ntables = ["users"]\n'
    )
    cfg.write_text(cfg.read_text() + objects)
    started = time.monotonic()
    assert cli.main(["read", "all", "--write", "-c", str(cfg)]) == 1
    assert time.monotonic() - started < 30
    assert [name for name, *_ in stored(pg_url, daily=False)] == ["objects.users.count"]
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.startswith("error:")] == [
        f"error: prometheus.requests: Prometheus at http://etl:***@127.0.0.1:{port} is unreachable: "
        "Connection refused (3 attempts)"
    ]
    assert "prom-secret-pw" not in err and "Traceback" not in err


def test_chunked_requests_give_the_same_values(prometheus_url, monkeypatch):
    sizes = []
    original = prometheus.PrometheusApi.query_range

    def spy(self, name, expr, first, last):
        sizes.append((last - first) // timedelta(hours=1) + 1)
        return original(self, name, expr, first, last)

    monkeypatch.setattr(prometheus.PrometheusApi, "query_range", spy)
    window = Window.from_args("2025-01-06T01:00", "2025-01-07", now=NOW)
    one = read(prometheus_url, window, {"requests": QUERIES["requests"]})["prometheus.requests"]
    assert sizes == [23]
    sizes.clear()
    chunked = read(prometheus_url, window, {"requests": QUERIES["requests"]}, max_points=5)["prometheus.requests"]
    assert sizes == [5, 5, 5, 5, 3]
    assert chunked == one
    assert {(d["date"], d["hour"]) for d, _ in one} == {key(h) for h in range(1, 24)}


def test_a_backfill_longer_than_prometheus_limit(prometheus_url, pg_url, tmp_path, monkeypatch):
    """11,100 hours in one backfill: one request would be refused; two are sent, every hour is written."""
    hours_count = 11_100
    start = datetime(2023, 1, 1, tzinfo=UTC)
    queries = {"clock": {"expr": "vector(time())", "metric": "clock.hour_end"}}  # no stored data needed

    reader = settings_for(prometheus_url, queries).readers["prometheus"]
    with prometheus.PrometheusApi(reader) as api, pytest.raises(SourceError) as refused:
        api.query_range("clock", "vector(time())", start + timedelta(hours=1), start + timedelta(hours=hours_count))
    assert "exceeded maximum resolution of 11,000 points per timeseries" in str(refused.value)

    requests_sent = []
    original = prometheus.PrometheusApi.query_range
    monkeypatch.setattr(
        prometheus.PrometheusApi,
        "query_range",
        lambda self, *args: requests_sent.append(args[2:]) or original(self, *args),
    )
    cfg = write_config(tmp_path, pg_url, prometheus_url, queries=queries)
    until = start + timedelta(hours=hours_count)
    assert (
        cli.main(
            [
                "read",
                "prometheus",
                "--write",
                "-q",
                "-c",
                str(cfg),
                "--since",
                "2023-01-01",
                "--until",
                f"{until:%Y-%m-%dT%H:%M}",
            ]
        )
        == 0
    )
    assert len(requests_sent) == 2
    values = stored(pg_url, daily=False)
    assert len(values) == hours_count
    for h in (0, 1, 10_999, 11_000, hours_count - 1):
        moment = start + timedelta(hours=h)
        assert values[("clock.hour_end", moment.date(), moment.hour)] == (moment + timedelta(hours=1)).timestamp()


# ── retries and timeouts: a real proxy in front of the real Prometheus ───────────────────────


class FlakyProxy:
    """An HTTP server that answers the first `failures` requests with `status` (or holds them
    `delay` seconds), then forwards to Prometheus; counts what it received."""

    def __init__(self, target: str, failures: int = 0, status: int = 503, delay: float = 0.0):
        self.target, self.failures, self.status, self.delay = target, failures, status, delay
        self.received = 0
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                proxy.received += 1
                if proxy.received <= proxy.failures:
                    if proxy.delay:
                        time.sleep(proxy.delay)
                    body = json.dumps({"status": "error", "errorType": "unavailable", "error": "overloaded"}).encode()
                    self.send_response(proxy.status)
                else:
                    try:
                        with urllib.request.urlopen(proxy.target + self.path) as response:
                            body, status = response.read(), response.status
                    except urllib.error.HTTPError as exc:
                        body, status = exc.read(), exc.code
                    self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FlakyProxy:
        self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.server.shutdown()
        self.server.server_close()


WINDOW_2H = Window.from_args("2025-01-06", "2025-01-06T02:00", now=NOW)
REQUESTS_2H = [
    (
        {"date": date(2025, 1, 6), "hour": 0},
        {"http.requests.200": 4.0, "http.requests.404": 8.0, "http.requests.500": 4.0},
    ),
    ({"date": date(2025, 1, 6), "hour": 1}, {"http.requests.200": 8.0, "http.requests.404": 8.0}),
]


def test_5xx_answers_are_retried(prometheus_url):
    with FlakyProxy(prometheus_url, failures=2, status=503) as proxy:
        got = read(proxy.url, WINDOW_2H, {"requests": QUERIES["requests"]}, retries=2, backoff=0.01)
        assert got == {"prometheus.requests": REQUESTS_2H} and proxy.received == 3

    with FlakyProxy(prometheus_url, failures=5, status=502) as proxy, pytest.raises(SourceError) as info:
        read(proxy.url, WINDOW_2H, {"requests": QUERIES["requests"]}, retries=2, backoff=0.01)
    assert proxy.received == 3
    assert str(info.value) == (
        f"Prometheus at {proxy.url} failed query 'requests' (HTTP 502, 3 attempts): unavailable: overloaded"
    )


def test_4xx_answers_are_not_retried(prometheus_url):
    with FlakyProxy(prometheus_url, failures=1, status=422) as proxy, pytest.raises(SourceError) as info:
        read(proxy.url, WINDOW_2H, {"requests": QUERIES["requests"]}, retries=3, backoff=0.01)
    assert proxy.received == 1
    assert str(info.value) == f"Prometheus at {proxy.url} rejected query 'requests' (HTTP 422): unavailable: overloaded"


def test_a_slow_answer_times_out(prometheus_url):
    with FlakyProxy(prometheus_url, failures=1, delay=3) as proxy, pytest.raises(SourceError) as info:
        read(proxy.url, WINDOW_2H, {"requests": QUERIES["requests"]}, timeout=0.5, retries=3, backoff=0.01)
    assert proxy.received == 1  # a timeout is not retried: the next attempt would likely time out too
    assert str(info.value) == (
        f"Prometheus at {proxy.url}: query 'requests' got no answer within 0.5 s "
        "(timeout; raise it, or lower max_points)"
    )


def test_not_a_prometheus_url(prometheus_url):
    with pytest.raises(SourceError) as info:
        read(prometheus_url + "/nothing-here", WINDOW_2H, {"requests": QUERIES["requests"]})
    assert str(info.value) == (
        f"Prometheus at {prometheus_url}/nothing-here rejected query 'requests' (HTTP 404): 404 page not found"
    )


def test_nothing_is_read_twice_without_write_the_lookback_is_used(prometheus_url):
    state = Watermarks()
    got = read(
        prometheus_url,
        Window(now=D + timedelta(hours=2, minutes=1)),
        {"hits": QUERIES["hits"]},
        state=state,
        initial_lookback="1h",
    )
    assert [d["hour"] for d, _ in got["prometheus.hits"]] == [1]
    assert state.proposed() == {("prometheus", "hits"): D + timedelta(hours=2)}
    assert math.isfinite(got["prometheus.hits"][0][1]["http.hits"])
