"""Panel query latency on a large store: every dashboard panel, as Grafana runs it, on PostgreSQL.

    python benchmarks/grafana_panels.py [--values 100000000] [--runs 5] [--url postgresql://postgres@127.0.0.1/test]
    python benchmarks/grafana_panels.py --quick     100,000 values, 1 run

Creates a scratch database, migrates it, fills it with `--values` hourly values (generated inside
PostgreSQL: about 3 years of hours for every metric the dashboards read, plus filler metrics), then
runs each panel's SQL (expanded as Grafana expands it, with the dashboard's default time range and
variables) `--runs` times and prints the median. The baseline, measured in the same run, is the same
panel query without the `date BETWEEN` restriction — only the exact filter on the computed `time`
(`$__timeFilter(time)`), which the primary key cannot serve. 100 M values need about 8 GB of disk and
several minutes to generate; check `df -h` first. The database is dropped at the end (unless --keep).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))  # the test-only Grafana macro expander and synthetic store

from support.grafana_macros import dashboard_context, expand  # noqa: E402
from support.synthetic_store import fill  # noqa: E402

from apercite_analytics.config.urls import database_url  # noqa: E402
from apercite_analytics.dashboards.build import generated  # noqa: E402
from apercite_analytics.dashboards.panels import series_range  # noqa: E402
from apercite_analytics.store import schema as store  # noqa: E402

EXPLORE = {"metric": ["objects.users.count", "http.latency.p99"], "timed_event": "render"}


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def timed(connection, sql: str, runs: int) -> float:
    """Median wall time in milliseconds of `runs` executions (rows fetched), after one warm-up."""
    connection.execute(text(sql)).all()
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        connection.execute(text(sql)).all()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=100_000_000, help="hourly values to generate (default 100 M)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per query (default 5)")
    parser.add_argument("--url", default="postgresql://postgres@127.0.0.1:5432/test", help="an admin database URL")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    parser.add_argument("--quick", action="store_true", help="100,000 values, 1 run")
    args = parser.parse_args(argv)
    if args.quick:
        args.values, args.runs = 100_000, 1

    say(f"free disk where this runs: {shutil.disk_usage('.').free / 1e9:.0f} GB")
    name = f"apercite_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(database_url(args.url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"CREATE DATABASE {name}"))
    url = make_url(args.url).set(database=name).render_as_string(hide_password=False)
    engine = store.open_engine(url)
    try:
        store.upgrade(engine)
        started = time.perf_counter()
        say(f"generating {args.values:,} hourly values in {name} …")
        sizes = fill(engine, args.values, say=say)
        with engine.connect() as connection:
            size = connection.execute(text("SELECT pg_size_pretty(pg_database_size(current_database()))")).scalar()
        say(f"generated in {time.perf_counter() - started:.0f} s: {sizes}, database {size}")

        now = datetime.now(UTC)
        rows = []
        with engine.connect() as connection:
            for file_name, body in generated().items():
                dashboard = json.loads(body)
                ctx = dashboard_context(dashboard, now, **EXPLORE)
                for panel in dashboard["panels"]:
                    raw = panel["targets"][0]["rawSql"]
                    fast = timed(connection, expand(raw, ctx), args.runs)
                    naive = None
                    if series_range() in raw:
                        naive_sql = raw.replace(series_range(), "$__timeFilter(time)")
                        naive = timed(connection, expand(naive_sql, ctx), args.runs)
                    rows.append((Path(file_name).stem, panel["title"], fast, naive))
                    say(
                        f"  {rows[-1][0]:9} {rows[-1][1]:34} {fast:9.2f} ms"
                        + (f"  naive {naive:9.2f} ms" if naive else "")
                    )
    finally:
        engine.dispose()
        if not args.keep:
            with admin.connect() as connection:
                connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()

    print(f"\npanel query latency, median of {args.runs} runs, {sizes['hourly_values']:,} hourly values")
    print(f"{'dashboard':10} {'panel':34} {'indexed ms':>11} {'naive ms':>11} {'naive/indexed':>14}")
    for board, title, fast, naive in rows:
        ratio = f"{naive / fast:13.1f}x" if naive else f"{'-':>14}"
        print(f"{board:10} {title:34} {fast:11.2f} {naive if naive else float('nan'):11.2f} {ratio}")
    series = [(fast, naive) for _, _, fast, naive in rows if naive]
    print(
        f"\nall {len(rows)} panels: median {statistics.median(r[2] for r in rows):.2f} ms, "
        f"slowest {max(r[2] for r in rows):.2f} ms; the {len(series)} series panels: median "
        f"{statistics.median(f for f, _ in series):.2f} ms indexed vs {statistics.median(n for _, n in series):.2f} ms "
        f"naive (median ratio {statistics.median(n / f for f, n in series):.1f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
