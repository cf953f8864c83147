"""What the once-per-run live schema check costs, against a baseline measured in the same run.

    python -m benchmarks --only schema_check   (or: python benchmarks/schema_check.py [--runs 15] [--quick])

Per dialect, on a migrated scratch store (medians of --runs, each on a fresh engine, as a run opens one):
  baseline  `current_revision`: what preparing an up-to-date store cost before the check (one read
            of alembic_version on a new connection);
  prepare   `ensure_ready`: the same, plus `live_schema_problems` (every table's columns and
            primary key from the catalogue, compared with the models).
PostgreSQL: a scratch database on $APERCITE_BENCH_POSTGRES_URL (default the local test server), dropped after.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from apercite_analytics.config.urls import database_url
from apercite_analytics.store import schema as store

PG_URL = os.environ.get("APERCITE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def timed(url: str, step: Callable) -> float:
    engine = store.open_engine(url)
    try:
        started = time.perf_counter()
        step(engine)
        return time.perf_counter() - started
    finally:
        engine.dispose()


def measure(url: str, runs: int) -> tuple[float, float, float]:
    engine = store.open_engine(url)
    store.upgrade(engine)
    engine.dispose()
    baseline, prepare, ratios = [], [], []
    for _ in range(runs):
        base = timed(url, store.current_revision)
        ours = timed(url, store.ensure_ready)
        baseline.append(base)
        prepare.append(ours)
        ratios.append(ours / base)
    return statistics.median(baseline), statistics.median(prepare), statistics.median(ratios)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="3 runs (checks the benchmark works)")
    args = parser.parse_args(argv)
    if args.quick:
        args.runs = 3
    with tempfile.TemporaryDirectory() as folder:
        urls = {"sqlite": f"sqlite:///{folder}/store.db"}
        name = f"apercite_bench_{uuid.uuid4().hex[:10]}"
        admin = create_engine(database_url(PG_URL), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
        urls["postgresql"] = make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
        try:
            print(f"{'dialect':<11} {'baseline ms':>12} {'prepare ms':>11} {'ratio':>6}  (medians of {args.runs})")
            for dialect, url in urls.items():
                base, ours, ratio = measure(url, args.runs)
                print(f"{dialect:<11} {base * 1000:>12.1f} {ours * 1000:>11.1f} {ratio:>6.2f}")
        finally:
            with admin.connect() as connection:
                connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
