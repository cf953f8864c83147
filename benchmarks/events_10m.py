"""Benchmark: the `events` reader on 10 M events in PostgreSQL — hourly run time and flat memory.

Seeds a scratch PostgreSQL database (generate_series, in SQL) with two tables of the same shape and
time span: `events_big` (10 M events) and `events_base` (100 k, the baseline measured in the same
run). Each measurement is one whole `read events --write` (graph, normalize, upsert into a fresh
SQLite store) in its own process, which reports its wall time and peak RSS (getrusage); one more
run per table and scenario reports the peak of Python allocations (tracemalloc). Scenarios:

* hourly   — the steady-state hourly job: the watermark is one hour old, so it reads the last two
             completed hours (lookback 1h) and the current one; the days watermark says yesterday
             is final already, so no daily values;
* final    — the one run a day that finalizes yesterday: the same, plus yesterday's distinct users
             over 1, 7 and 28 days, which read 28 days of the table. This is what every hourly run
             cost before issue 19 (it recomputed today's daily values each time): the baseline;
* backfill — `--since` 30 days ago: 30 days of hours and 31 days of daily values.

Runs alternate between the tables; medians of --runs runs, and big/base ratios, are printed.
Memory stays flat when the big/base RSS ratio is ≈ 1 (only aggregates reach Python).

    python benchmarks/events_10m.py [--events 10000000] [--baseline 100000] [--days 60] [--runs 3] [--quick]
        [--database NAME --keep] [--scenarios hourly,final,backfill] [--covering]

PostgreSQL: $APERCITE_BENCH_POSTGRES_URL, else $APERCITE_TEST_POSTGRES_URL, else
postgresql://postgres@127.0.0.1:5432/test. The scratch database is dropped at the end, unless
`--database NAME` names one to use (its tables are seeded only if missing) and `--keep` keeps it:
that is how a 100 M-event table is built once and measured more than once.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/events_10m.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from apercite_analytics.config.urls import database_url  # noqa: E402
from benchmarks.child import peak_mib  # noqa: E402

ADMIN_URL = os.environ.get(
    "APERCITE_BENCH_POSTGRES_URL",
    os.environ.get("APERCITE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
)
NAMES = ["signup", "login", "screenshot", "export", "share", "invite", "upgrade", "api_call"]
SEED = """
CREATE TABLE {table} (
    id bigserial PRIMARY KEY,
    name text NOT NULL,
    created_at timestamptz NOT NULL,
    user_id integer,
    duration_ms double precision
);
INSERT INTO {table} (name, created_at, user_id, duration_ms)
SELECT (ARRAY[{names}])[1 + (i % 8)],
       :now - random() * interval '{days} days',
       CASE WHEN random() < 0.05 THEN NULL ELSE (random() * 200000)::integer END,
       CASE WHEN i % 8 IN (2, 7) THEN -ln(1 - random()) * 250 END
FROM generate_series(1, {count}) AS i;
CREATE INDEX {table}_created_at ON {table} (created_at);
ANALYZE {table};
"""


def seed(url: str, table: str, count: int, days: int, now: datetime) -> float:
    started = time.monotonic()
    engine = create_engine(database_url(url))
    names = ", ".join(f"'{n}'" for n in NAMES)
    with engine.begin() as connection:
        for statement in SEED.format(table=table, names=names, days=days, count=count).split(";"):
            if statement.strip():
                connection.execute(text(statement), {"now": now} if ":now" in statement else {})
    engine.dispose()
    return time.monotonic() - started


def cover(url: str, table: str) -> float:
    """The recommended index (docs/events.md): every statement of the reader becomes an index-only
    scan of a time range, whatever the order of the table's rows on disk."""
    started = time.monotonic()
    engine = create_engine(database_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        columns = "(created_at, name, user_id) INCLUDE (duration_ms)"
        connection.execute(text(f"CREATE INDEX IF NOT EXISTS {table}_covering ON {table} {columns}"))
        connection.execute(text(f"VACUUM ANALYZE {table}"))
    engine.dispose()
    return time.monotonic() - started


def child(url: str, table: str, scenario: str, traced: str) -> None:
    """One measured run, in this process; prints one JSON line. Timed runs are not traced
    (tracemalloc slows every allocation); a traced run reports the peak of Python allocations."""
    from apercite_analytics.cli import main as cli
    from apercite_analytics.config.load import parse
    from apercite_analytics.readers import events
    from apercite_analytics.run import job as graph
    from apercite_analytics.store.handle import Store
    from apercite_analytics.store.watermarks import Watermarks
    from apercite_analytics.window import Window, floor_hour, utcnow

    cli.setup_logging(-1)
    with tempfile.TemporaryDirectory() as folder:
        store_url = f"sqlite:///{Path(folder) / 'store.db'}"
        settings = parse(
            {
                "store": {"url": store_url},
                "sources": {"app": {"url": url, "query_timeout": 3600}},
                "readers": {"events": {"source": "app", "table": table, "columns": {"duration": "duration_ms"}}},
            }
        )
        now = utcnow()
        with Store(store_url) as store:  # the calls a run makes: prepare, then save watermarks
            store.prepare()
            if scenario in ("hourly", "final"):  # the previous hourly run read up to the start of the last hour
                marks = Watermarks()
                marks.advance("events", table, floor_hour(now) - timedelta(hours=1))
                today = datetime.combine(now.date(), datetime.min.time(), UTC)  # the first day not final yet
                marks.advance("events", f"{table} days", today if scenario == "hourly" else today - timedelta(days=1))
                store.save_watermarks(marks, lambda reader, key: reader == "events")
        if scenario == "final":  # just past the hour that makes yesterday final (lookback 1h)
            now = max(now, datetime.combine(now.date(), datetime.min.time(), UTC) + timedelta(hours=1, minutes=5))
        window = Window(now=now, since=now - timedelta(days=30)) if scenario == "backfill" else Window(now=now)
        if traced == "traced":
            tracemalloc.start()
        started = time.monotonic()
        result = graph.run_chains(settings, events.chains(settings.readers["events"], window), ["events"], write=True)
        seconds = time.monotonic() - started
        _, traced_peak = tracemalloc.get_traced_memory()  # 0 when not tracing
        tracemalloc.stop()
    if not result.ok:
        raise SystemExit(f"run failed: {result.failures}")
    print(
        json.dumps(
            {
                "seconds": seconds,
                "rss_mb": peak_mib(),  # VmHWM: ru_maxrss would report the parent's peak when that is larger
                "traced_mb": traced_peak / 2**20,
                "hourly_rows": result.written["hourly_value"],
                "daily_rows": result.written["daily_value"],
            }
        )
    )


def measure(url: str, table: str, scenario: str, traced: bool = False) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--child", url, table, scenario, "traced" if traced else "timed"],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"{scenario} on {table} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--baseline", type=int, default=100_000)
    ap.add_argument("--days", type=int, default=60, help="time span of the seeded events, back from now")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--quick", action="store_true", help="20,000 vs 2,000 events over 3 days, 1 (traced) run")
    ap.add_argument("--database", help="use this database (created if missing; tables seeded if missing)")
    ap.add_argument("--keep", action="store_true", help="do not drop the database at the end")
    ap.add_argument("--scenarios", default="hourly,final,backfill")
    ap.add_argument(
        "--covering", action="store_true", help="add the recommended covering index (docs/events.md) to both tables"
    )
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        child(*args.child)
        return 0
    if args.quick:
        args.events, args.baseline, args.days, args.runs = 20_000, 2_000, 3, 1

    database = args.database or f"apercite_bench_{uuid.uuid4().hex[:10]}"
    scenarios = args.scenarios.split(",")
    admin = create_engine(database_url(ADMIN_URL), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        exists = connection.execute(text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": database}).first()
        if not exists:
            connection.execute(text(f"CREATE DATABASE {database}"))
    url = make_url(ADMIN_URL).set(database=database).render_as_string(hide_password=False)
    try:
        now = datetime.now(UTC)
        tables = {"base": ("events_base", args.baseline), "big": ("events_big", args.events)}
        for table, count in tables.values():
            engine = create_engine(database_url(url))
            with engine.connect() as connection:
                present = connection.execute(text("SELECT to_regclass(:t)"), {"t": table}).scalar_one()
            engine.dispose()
            if present:
                print(f"using the existing {table}", flush=True)
            else:
                seconds = seed(url, table, count, args.days, now)
                print(f"seeded {table}: {count:,} events over {args.days} days in {seconds:.1f} s", flush=True)
            if args.covering:
                print(f"covering index on {table}: {cover(url, table):.1f} s", flush=True)
        results: dict[tuple, list[dict]] = {}
        for scenario in scenarios:
            for run in range(args.runs):
                for label, (table, _) in tables.items():
                    measured = measure(url, table, scenario, traced=args.quick)  # quick: one traced run only
                    results.setdefault((scenario, label), []).append(measured)
                    print(
                        f"  {scenario:8} {label:4} run {run + 1}: {measured['seconds']:6.2f} s, "
                        f"peak RSS {measured['rss_mb']:6.1f} MB, "
                        f"{measured['hourly_rows']} hourly + {measured['daily_rows']} daily values",
                        flush=True,
                    )
            for label, (table, _) in tables.items():
                traced = results[(scenario, label)][0] if args.quick else measure(url, table, scenario, traced=True)
                results[(scenario, label, "traced")] = [traced]
                print(f"  {scenario:8} {label:4} traced run: peak of Python allocations {traced['traced_mb']:.2f} MB")
        print(f"\nmedians of {args.runs} runs ({args.events:,} vs {args.baseline:,} events over {args.days} days)")
        print(f"{'scenario':10}{'table':8}{'seconds':>10}{'peak RSS MB':>14}{'traced MB':>12}{'values':>10}")
        for scenario in scenarios:
            medians = {}
            for label in tables:
                runs = results[(scenario, label)]
                medians[label] = {key: statistics.median(r[key] for r in runs) for key in ("seconds", "rss_mb")}
                medians[label]["traced_mb"] = results[(scenario, label, "traced")][0]["traced_mb"]
                values = runs[0]["hourly_rows"] + runs[0]["daily_rows"]
                m = medians[label]
                print(
                    f"{scenario:10}{label:8}{m['seconds']:>10.2f}{m['rss_mb']:>14.1f}{m['traced_mb']:>12.2f}{values:>10}"
                )
            big, base = medians["big"], medians["base"]
            print(
                f"{scenario:10}{'big/base':8}{big['seconds'] / base['seconds']:>10.1f}"
                f"{big['rss_mb'] / base['rss_mb']:>14.2f}{big['traced_mb'] / base['traced_mb']:>12.2f}"
            )
    finally:
        if not args.keep:
            with admin.connect() as connection:
                connection.execute(text(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
        admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
