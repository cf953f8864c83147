"""Daily rollup cost on SQLite and PostgreSQL, against a baseline measured in the same run.

    python benchmarks/rollup.py [--metrics 500] [--days 30] [--runs 3] [--quick]

Fills a scratch store with metrics × days × 24 hourly values (a fifth each of sum/last/max/min/avg
definitions), then times, per dialect (medians of --runs):
  baseline  a bare `SELECT metric_id, date, sum(value) … GROUP BY` over the same rows (the least a
            rollup must do: read every hour once);
  rollup    `rollup.roll_up` over every day (first run: inserts every daily value);
  rerun     the same again (idempotent: computes, writes nothing).
PostgreSQL: a scratch database on $APERCITE_TEST_POSTGRES_URL (default the local test server), dropped after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import date, timedelta

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from apercite_analytics.config.urls import database_url
from apercite_analytics.dictionary.definitions import Definition, Dictionary
from apercite_analytics.store import rollup
from apercite_analytics.store import schema as store
from apercite_analytics.store.definitions import sync
from apercite_analytics.store.models import DailyValue, HourlyValue
from apercite_analytics.store.values import MetricStore

AGGREGATIONS = ["sum", "last", "max", "min", "avg"]


def fill(url: str, metrics: int, days: int) -> tuple:
    engine = store.open_engine(url)
    store.upgrade(engine)
    first = date(2026, 10, 1)
    writer = MetricStore(engine)
    batch = {}
    for m in range(metrics):
        for d in range(days):
            for h in range(24):
                batch[(f"bench.{AGGREGATIONS[m % 5]}.m{m}", first + timedelta(days=d), h)] = (m * 31 + d * 7 + h) % 97
        if len(batch) >= 50_000:
            writer.upsert("hourly", batch)
            batch = {}
    writer.upsert("hourly", batch)
    definitions = [
        Definition(f"bench.{a}.*", "bench", "x", "number", a, "1h", "bench", owner="bench") for a in AGGREGATIONS
    ]
    sync(engine, Dictionary(definitions))
    return engine, [first + timedelta(days=d) for d in range(days)]


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def measure(engine, days: list[date], runs: int) -> dict[str, float]:
    h = HourlyValue.__table__
    raw = select(h.c.metric_id, h.c.date, func.sum(h.c.value)).group_by(h.c.metric_id, h.c.date)

    def baseline():
        with engine.connect() as connection:
            connection.execute(raw).all()

    def fresh():
        with engine.begin() as connection:
            connection.execute(DailyValue.__table__.delete())
        return timed(lambda: rollup.roll_up(engine, days))

    results = {"baseline": [], "rollup": [], "rerun": []}
    for _ in range(runs):
        results["baseline"].append(timed(baseline))
        results["rollup"].append(fresh())
        results["rerun"].append(timed(lambda: rollup.roll_up(engine, days)))
    return {k: statistics.median(v) for k, v in results.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--metrics", type=int, default=500)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10 metrics × 2 days, 1 run")
    args = parser.parse_args(argv)
    if args.quick:
        args.metrics, args.days, args.runs = 10, 2, 1
    rows = args.metrics * args.days * 24
    print(f"{args.metrics} metrics × {args.days} days × 24 h = {rows:,} hourly values; medians of {args.runs} runs")
    with tempfile.TemporaryDirectory() as folder:
        engine, days = fill(f"sqlite:///{folder}/bench.db", args.metrics, args.days)
        report("sqlite", measure(engine, days, args.runs), rows)
        engine.dispose()
    admin_url = os.environ.get("APERCITE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    name = f"apercite_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(database_url(admin_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    try:
        engine, days = fill(make_url(admin_url).set(database=name).render_as_string(False), args.metrics, args.days)
        report("postgresql", measure(engine, days, args.runs), rows)
        engine.dispose()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()
    return 0


def report(dialect: str, t: dict[str, float], rows: int) -> None:
    print(
        f"{dialect:<11} baseline GROUP BY {t['baseline']:.3f} s | rollup {t['rollup']:.3f} s "
        f"({t['rollup'] / t['baseline']:.1f}× baseline, {rows / t['rollup']:,.0f} hours/s) | "
        f"idempotent re-run {t['rerun']:.3f} s ({t['rerun'] / t['baseline']:.1f}×)"
    )


if __name__ == "__main__":
    sys.exit(main())
