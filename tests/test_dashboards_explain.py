"""On a 1 M-value store, every panel query reads `hourly_value` / `daily_value` through their primary
key with a `date` range in the index condition (EXPLAIN (FORMAT JSON)), never by a sequential scan."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import text
from support.grafana_macros import dashboard_context, expand
from support.synthetic_store import fill

from apercite_analytics.dashboards.build import generated
from apercite_analytics.dashboards.panels import series_range
from apercite_analytics.store import schema as store

VALUES = {"metric": ["objects.users.count", "events.activation.users.7d"], "timed_event": "render"}
TABLES = {"hourly_value": "pk_hourly_value", "daily_value": "pk_daily_value"}


@pytest.fixture(scope="module")
def big_store():
    from conftest import PG_URL, _scratch_database

    for url in _scratch_database(PG_URL, "AUTOCOMMIT"):
        engine = store.open_engine(url)
        store.upgrade(engine)
        sizes = fill(engine, 1_000_000)
        assert sizes["hourly_values"] >= 1_000_000
        yield engine
        engine.dispose()


def nodes(plan: dict):
    yield plan
    for child in plan.get("Plans", []):
        yield from nodes(child)


def plan_of(engine, sql: str) -> list[dict]:
    with engine.connect() as connection:
        (document,) = connection.execute(text("EXPLAIN (FORMAT JSON) " + sql.replace(":", "\\:"))).scalar_one()
    return list(nodes(document["Plan"]))


def value_scans(plan: list[dict]) -> list[dict]:
    """The plan nodes that read hourly_value / daily_value (or their primary key index)."""
    return [n for n in plan if n.get("Relation Name") in TABLES or n.get("Index Name") in TABLES.values()]


PANELS = [
    (json.loads(body)["uid"], panel["title"], panel["targets"][0]["rawSql"], json.loads(body))
    for body in generated().values()
    for panel in json.loads(body)["panels"]
]


@pytest.mark.parametrize(("uid", "title", "sql", "dashboard"), PANELS, ids=[f"{p[0][9:]}:{p[1]}" for p in PANELS])
def test_panel_reads_values_by_primary_key_range(big_store, uid, title, sql, dashboard):
    ctx = dashboard_context(dashboard, datetime.now(UTC), **VALUES)
    plan = plan_of(big_store, expand(sql, ctx))
    scans = value_scans(plan)
    assert not [n for n in scans if n["Node Type"] == "Seq Scan"], f"sequential scan on the values: {scans}"
    if "_series" not in sql:
        assert not scans  # a run_log / metric panel
        return
    indexed = [n for n in scans if n["Node Type"] in ("Index Scan", "Index Only Scan", "Bitmap Index Scan")]
    assert indexed, f"no index scan on the values: {[n['Node Type'] for n in plan]}"
    for node in indexed:
        assert node["Index Name"] in TABLES.values()
        assert "metric_id" in node["Index Cond"] and "date >=" in node["Index Cond"], node["Index Cond"]


def test_without_the_date_range_the_index_only_finds_the_metric(big_store):
    """The discriminating case: with only the exact time filter, the whole history of the metric
    is read (no date in the index condition) — what `series_range` exists to avoid."""
    uid, _, sql, dashboard = next(p for p in PANELS if p[1] == "Users")
    ctx = dashboard_context(dashboard, datetime.now(UTC), **VALUES)
    naive = sql.replace(series_range(), "$__timeFilter(time)")
    conditions = [n.get("Index Cond", "") for n in value_scans(plan_of(big_store, expand(naive, ctx)))]
    assert conditions and not any("date" in c for c in conditions)
