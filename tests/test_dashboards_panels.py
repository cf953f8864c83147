"""Every panel of every dashboard, run as Grafana would run it on a real PostgreSQL store seeded by
the real graph and writers (and a real run log), must return exactly the expected columns and values.

The panels' SQL is read from the committed JSON (walking every panel and variable), expanded with
the Grafana macro expander, and executed; the expected answers come from `dashboard_seed`'s
plain-Python oracle over the same known values.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from conftest import PG_URL, _scratch_database
from sqlalchemy import select, text, update
from support.dashboard_seed import (
    DAILY,
    DAYS,
    FROM,
    HOURLY,
    TO,
    assert_rows,
    at,
    buckets,
    days_in,
    hours_in,
    long_rows,
    own_metrics,
    points,
    records,
    total,
)
from support.grafana_macros import QueryContext, Variable, expand

from apercite_analytics.cli import main as cli
from apercite_analytics.config import load as config
from apercite_analytics.errors import SourceError
from apercite_analytics.run import job as graph
from apercite_analytics.store import schema as store
from apercite_analytics.store.models import Metric, RunLog, RunReader
from apercite_analytics.store.values import MetricStore

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = {p.stem: json.loads(p.read_text()) for p in sorted((ROOT / "grafana/dashboards").glob("*.json"))}
INTERVAL = timedelta(hours=3)  # $__interval: panels that group by it get 3-hour buckets
VARIABLES = {
    "timed_event": Variable("render"),
    "metric": Variable(["objects.users.count", "events.activation.users.7d"], multi=True),
}


def run_projects_then_fail():
    yield {"date": DAYS[-1], "hour": 23}, {"objects.projects.count": 7, "objects.nan.count": float("nan")}


def broken():
    raise SourceError("broken: the source is down")
    yield  # pragma: no cover


def projects_again():
    yield {"date": DAYS[-1], "hour": 23}, {"objects.projects.count": 8}


@pytest.fixture(scope="module")
def seeded():
    """A migrated PostgreSQL store with the seed written by three real runs: ok, failed, ok."""
    for url in _scratch_database(PG_URL, "AUTOCOMMIT"):
        # the seed holds its own etl.* values: the runs' real self-metrics would add today's hour
        settings = config.parse({"store": {"url": url}, "monitoring": {"store": False}})
        cli.setup_logging(-1)
        first = graph.run_chains(settings, {"app": [records]}, ["app"], write=True)
        second = graph.run_chains(
            settings, {"objects": [run_projects_then_fail], "broken": [broken]}, ["objects", "broken"], write=True
        )
        third = graph.run_chains(settings, {"objects": [projects_again]}, ["objects"], write=True)
        assert first.ok and not second.ok and third.ok
        assert (second.rejected, second.errors) == (1, 1)
        engine = store.open_engine(url)
        MetricStore(engine).upsert("hourly", own_metrics())
        with engine.connect() as connection:
            runs = connection.execute(select(RunLog).order_by(RunLog.id)).all()
            readers = connection.execute(select(RunReader).order_by(RunReader.run_id, RunReader.reader)).all()
            metrics = {m.name: m for m in connection.execute(select(Metric)).all()}
        yield {"engine": engine, "runs": runs, "readers": readers, "metrics": metrics}
        engine.dispose()


def context(uid: str) -> QueryContext:
    end = datetime.now(UTC) + timedelta(hours=1) if uid == "apercite-etl" else TO
    return QueryContext(FROM, end, INTERVAL, VARIABLES)


def run(engine, sql: str, ctx: QueryContext) -> tuple[list[str], list[tuple]]:
    with engine.connect() as connection:
        result = connection.execute(text(expand(sql, ctx).replace(":", "\\:")))
        return list(result.keys()), [tuple(r) for r in result]


# -- expectations, per dashboard and panel title ------------------------------------------------


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def business(seeded) -> dict[str, tuple[list[str], list[tuple]]]:
    """The KPIs of metrics/kpis.yaml: each panel's column is its KPI title, lowercase."""
    per_day = buckets(86_400)
    per_interval = buckets(int(INTERVAL.total_seconds()))
    days = days_in()
    wau, mau = DAILY["events.activation.users.7d"], DAILY["events.activation.users.28d"]

    def daily_sums(title: str, *metrics: str) -> tuple[list[str], list[tuple]]:
        return ["time", title], [(t, sum(total(m, keys) for m in metrics)) for t, keys in per_day.items()]

    def interval_sums(title: str, metric: str) -> tuple[list[str], list[tuple]]:
        return ["time", title], [(t, total(metric, keys)) for t, keys in per_interval.items()]

    return {
        "Signups": daily_sums("signups", "events.signup.count"),
        "New accounts": daily_sums("new accounts", "app.signups.free", "app.signups.pro"),
        "Sessions": interval_sums("sessions", "ga.sessions"),
        "New visitors": interval_sums("new visitors", "ga.new_users"),
        "Activation rate": (
            ["activation rate"],
            [(total("events.activation.count") / total("events.signup.count"),)],
        ),
        "Activations": daily_sums("activations", "events.activation.count"),
        "Activated accounts": (
            ["time", "activated accounts"],
            [(int(at(d).timestamp()), DAILY["app.users.activated"][d]) for d in days],
        ),
        "Users": (["time", "users"], points("objects.users.count")),
        "WAU / MAU": (["time", "wau / mau"], [(at(d), wau[d] / mau[d]) for d in days]),
        "Projects": (["time", "projects"], points("objects.projects.count")),
        "Weekly active users": (["time", "weekly active users"], [(at(d), wau[d]) for d in days]),
        "Monthly active users": (["time", "monthly active users"], [(at(d), mau[d]) for d in days]),
    }


def quality_of_service(seeded) -> dict:
    statuses = ["200", "404", "500"]
    requests = [f"http.requests.{s}" for s in statuses]
    per_interval = buckets(int(INTERVAL.total_seconds()))
    all_requests = sum(total(m) for m in requests)
    return {
        "5xx error rate": (["5xx error rate"], [(total("http.errors.5xx") / all_requests,)]),
        "Latency p99": (["time", "p99"], points("http.latency.p99")),
        "Requests": (["requests"], [(all_requests,)]),
        "Latency p50": (["time", "p50"], points("http.latency.p50")),
        "Latency percentiles": (["time", "metric", "value"], long_rows("http.latency.", ["p50", "p90", "p99"])),
        "5xx error rate over time": (
            ["time", "5xx error rate"],
            [
                (t, total("http.errors.5xx", keys) / sum(total(m, keys) for m in requests))
                for t, keys in per_interval.items()
            ],
        ),
        "Requests by status": (
            ["time", "metric", "requests"],
            [(t, s, total(f"http.requests.{s}", keys)) for t, keys in per_interval.items() for s in statuses],
        ),
        "Event duration percentiles": (
            ["time", "metric", "value"],
            long_rows("events.render.duration.", ["p50", "p90", "p99", "max"]),
        ),
    }


def workers(seeded) -> dict:
    by_state = (["time", "metric", "value"], long_rows("spider.", ["idle", "active", "total"]))
    return {
        "Workers now": by_state,
        "Workers by state": by_state,
        "Utilisation": (
            ["time", "utilisation"],
            [(at(d, h), HOURLY["spider.active"][(d, h)] / HOURLY["spider.total"][(d, h)]) for d, h in hours_in()],
        ),
    }


def etl_health(seeded) -> dict:
    end = context("apercite-etl").time_to
    runs, readers = seeded["runs"], seeded["readers"]
    in_range = [r for r in runs if FROM <= r.started_at <= end]
    per_hour: dict[int, list] = defaultdict(list)
    for r in in_range:
        per_hour[int(r.started_at.timestamp()) // 3600 * 3600].append(r.status)
    table = []
    for name in sorted({r.reader for r in readers}):
        mine = [r for r in readers if r.reader == name]
        ok = [r.finished_at for r in mine if r.status == "ok"]
        ranged = [r for r in mine if FROM <= r.finished_at <= end]
        table.append(
            (
                name,
                max(ok) if ok else None,
                max(mine, key=lambda r: r.run_id).status,
                sum(r.status == "failed" for r in ranged),
                sum(r.records for r in ranged) if ranged else None,
            )
        )
    keys = hours_in(FROM, end)
    return {
        "Last successful run": (
            ["last successful run"],
            [(max(r.finished_at for r in runs if r.status == "ok").timestamp() * 1000,)],
        ),
        "Failed runs": (["failed runs"], [(sum(r.status == "failed" for r in in_range),)]),
        "Rows written": (["rows written"], [(sum(r.hourly_rows + r.daily_rows for r in in_range),)]),
        "Rejected values": (["rejected"], [(sum(r.rejected for r in in_range),)]),
        "Readers": (["reader", "last success", "last status", "failures in range", "records in range"], table),
        "Rows written per run": (
            ["time", "hourly rows", "daily rows"],
            [(r.started_at, r.hourly_rows, r.daily_rows) for r in in_range if r.status != "running"],
        ),
        "Runs per hour": (
            ["time", "ok", "failed"],
            [(t, s.count("ok"), s.count("failed")) for t, s in sorted(per_hour.items())],
        ),
        "Run duration": (["time", "seconds"], points("etl.run.seconds", FROM, end)),
        "Values, errors and rejections": (
            ["time", "metric", "value"],
            long_rows("etl.run.", ["values", "errors", "rejected"], FROM, end),
        ),
        "Records per reader": (
            ["time", "metric", "value"],
            [
                (at(d, h), name, HOURLY[f"etl.reader.{name}.records"][(d, h)])
                for d, h in keys
                for name in ("objects", "sql")
            ],
        ),
        "Errors per reader": (
            ["time", "metric", "value"],
            [(at(d, h), "sql", HOURLY["etl.reader.sql.errors"][(d, h)]) for d, h in keys],
        ),
        "Recent failed runs": (
            ["started", "finished", "readers", "rejected", "errors"],
            [
                (r.started_at, r.finished_at, r.readers, r.rejected, r.errors)
                for r in sorted(in_range, key=lambda r: r.started_at, reverse=True)
                if r.status == "failed"
            ],
        ),
    }


def explore(seeded) -> dict:
    users = "objects.users.count"
    values = [v for _, v in points(users)]
    metrics = seeded["metrics"]
    return {
        "Hourly values": (["time", "metric", "value"], [(t, users, v) for t, v in points(users)]),
        "Daily values": (
            ["time", "metric", "value"],
            [(at(d), "events.activation.users.7d", DAILY["events.activation.users.7d"][d]) for d in days_in()],
        ),
        "Latest hourly values": (
            ["metric", "last hour", "last value", "min", "max", "hours"],
            [(users, points(users)[-1][0], values[-1], min(values), max(values), len(values))],
        ),
        "Metric details": (
            ["name", "description", "unit", "created"],
            [
                (name, None, None, metrics[name].created_at)
                for name in sorted(["objects.users.count", "events.activation.users.7d"])
            ],
        ),
    }


EXPECTED = {
    "apercite-business": business,
    "apercite-qos": quality_of_service,
    "apercite-workers": workers,
    "apercite-etl": etl_health,
    "apercite-explore": explore,
}
PANELS = [(d["uid"], p["title"]) for d in DASHBOARDS.values() for p in d["panels"]]


def test_every_panel_has_an_expectation_and_nothing_else(seeded):
    assert sorted(d["uid"] for d in DASHBOARDS.values()) == sorted(EXPECTED)
    for dashboard in DASHBOARDS.values():
        titles = [p["title"] for p in dashboard["panels"]]
        assert len(titles) == len(set(titles)), f"{dashboard['uid']}: panel titles must be unique"
        assert sorted(titles) == sorted(EXPECTED[dashboard["uid"]](seeded))


@pytest.mark.parametrize(("uid", "title"), PANELS, ids=[f"{u.removeprefix('apercite-')}:{t}" for u, t in PANELS])
def test_panel_returns_the_expected_columns_and_values(seeded, uid, title):
    dashboard = next(d for d in DASHBOARDS.values() if d["uid"] == uid)
    panel = next(p for p in dashboard["panels"] if p["title"] == title)
    (target,) = panel["targets"]
    columns, rows = run(seeded["engine"], target["rawSql"], context(uid))
    expected_columns, expected_rows = EXPECTED[uid](seeded)[title]
    assert columns == expected_columns
    assert_rows(rows, expected_rows)
    if target["format"] == "time_series":  # Grafana needs a time column, sorted
        assert columns[0] == "time"
        times = [r[0] for r in rows]
        assert times == sorted(times)


def test_the_seed_is_not_trivial(seeded):
    """The ranges cut the seed on both sides, and the runs cover ok, failed and rejected."""
    assert 0 < len(hours_in()) < len(DAYS) * 24 and hours_in()[0] == (date(2026, 11, 3), 6)
    assert [r.status for r in seeded["runs"]] == ["ok", "failed", "ok"]
    assert [(r.reader, r.status, r.records) for r in seeded["readers"]] == [
        ("app", "ok", 150),
        ("broken", "failed", 0),
        ("objects", "ok", 1),
        ("objects", "ok", 1),
    ]
    assert seeded["runs"][1].rejected == 1 and "broken: the source is down" in seeded["runs"][1].errors


def test_variable_queries_offer_the_stored_names(seeded):
    options = {}
    for dashboard in DASHBOARDS.values():
        for variable in dashboard["templating"]["list"]:
            _, rows = run(seeded["engine"], variable["query"], context(dashboard["uid"]))
            options[variable["name"]] = [r[0] for r in rows]
    assert options["timed_event"] == ["render"]
    assert options["metric"] == sorted(seeded["metrics"])


def test_alert_rule_counts_successful_runs_of_the_last_two_hours(pg_url):
    rules = yaml.safe_load((ROOT / "grafana/provisioning/alerting/apercite.yaml").read_text())
    (rule,) = rules["groups"][0]["rules"]
    query = next(d for d in rule["data"] if d["refId"] == "A")
    span = timedelta(seconds=query["relativeTimeRange"]["from"])
    settings = config.parse({"store": {"url": pg_url}})
    cli.setup_logging(-1)
    assert graph.run_chains(settings, {"app": [records]}, ["app"], write=True).ok
    engine = store.open_engine(pg_url)
    now = datetime.now(UTC)
    ctx = QueryContext(now - span, now)
    try:
        columns, rows = run(engine, query["model"]["rawSql"], ctx)
        assert columns == ["time", "successful runs"] and rows[0][1] == 1
        with engine.begin() as connection:  # the same run, as if it had finished 3 hours ago
            connection.execute(update(RunLog).values(finished_at=RunLog.finished_at - timedelta(hours=3)))
        assert run(engine, query["model"]["rawSql"], ctx)[1][0][1] == 0
    finally:
        engine.dispose()
