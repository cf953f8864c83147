"""Benchmark: the `events` reader on the same events in PostgreSQL, day-partitioned Parquet (DuckDB)
and ClickHouse (chdb, in-process) — the hourly run and a 30-day backfill, medians and peak RSS.

The events are generated once, deterministically, by DuckDB (the distribution of `events_10m.py`:
8 names, users 0–200,000 with 5 % anonymous, an exponential duration on 2 names of 8, spread over
--days days back from now) and written as day=YYYY-MM-DD/*.parquet sorted by time; PostgreSQL
(timestamptz, an index on it, ANALYZE) and chdb (MergeTree, ordered by hour and name) are loaded
from those very files. Each measurement is one whole `read events --write` (graph, normalize,
upsert into a fresh SQLite store) in its own process (`events_10m.measure`), which reports wall
time and peak RSS. PostgreSQL is the baseline, measured in the same run; runs alternate between
the stores. Scenarios as in `events_10m.py`: hourly (watermark one hour old: three hours plus
today's daily values, whose 28-day distinct users read 28 days) and backfill (`--since` 30 days).

    python benchmarks/events_columnar.py [--events 10000000] [--days 60] [--runs 3] [--stores pg,parquet,chdb] [--quick]

Each scenario is measured twice per run: the reader alone (connect, aggregates, records — what the
store changes) and the whole run (which adds the graph, normalize, the store's upserts and the
run's bookkeeping, the same for every store). The reader prints a digest of its records: equal
digests mean the stores gave the same values. Build times are printed; the scratch database and
folders are removed at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, text  # noqa: E402

from apercite_analytics.config.urls import database_url  # noqa: E402
from benchmarks.child import peak_mib  # noqa: E402
from benchmarks.common import machine, scratch_database, table  # noqa: E402
from benchmarks.events_10m import NAMES, measure  # noqa: E402

TABLE = "events"
# u(k): a uniform [0, 1) per row and purpose, from DuckDB's hash of (row, k): deterministic
GENERATE = """
COPY (
  SELECT name, created_at, user_id, duration_ms, CAST(created_at AS DATE) AS day FROM (
    SELECT ({names})[1 + (i % 8)] AS name,
           TIMESTAMPTZ '{now}' - to_microseconds(CAST(u1 * {days} * 86400e6 AS BIGINT)) AS created_at,
           CASE WHEN u2 < 0.05 THEN NULL ELSE CAST(floor(u3 * 200000) AS INTEGER) END AS user_id,
           CASE WHEN i % 8 IN (2, 7) THEN -ln(1 - u4) * 250 END AS duration_ms
    FROM (SELECT i, (hash(i, 1) % 1000000007) / 1000000007.0 AS u1, (hash(i, 2) % 1000000007) / 1000000007.0 AS u2,
                 (hash(i, 3) % 1000000007) / 1000000007.0 AS u3, (hash(i, 4) % 1000000007) / 1000000007.0 AS u4
          FROM range({count}) AS r(i)))
  ORDER BY created_at
) TO '{folder}' (FORMAT parquet, PARTITION_BY (day), COMPRESSION zstd)
"""
PG_TABLE = f"""CREATE TABLE {TABLE} (id bigserial PRIMARY KEY, name text NOT NULL, created_at timestamptz NOT NULL,
    user_id integer, duration_ms double precision)"""
CHDB_LOAD = """
import sys
from clickhouse_connect import get_client
client = get_client(interface="chdb", path=sys.argv[1])
client.command("CREATE DATABASE IF NOT EXISTS bench")
client.command("CREATE TABLE bench.events (name LowCardinality(String), created_at DateTime64(6, 'UTC'), "
               "user_id Nullable(Int32), duration_ms Nullable(Float64)) ENGINE = MergeTree "
               "PARTITION BY toYYYYMM(created_at) ORDER BY (toStartOfHour(created_at), name)")
client.command(f"INSERT INTO bench.events SELECT name, created_at, user_id, duration_ms "
               f"FROM file('{sys.argv[2]}/*/*.parquet', Parquet)")
client.command("OPTIMIZE TABLE bench.events FINAL")
print(client.command("SELECT count() FROM bench.events"))
"""


def generate(folder: Path, count: int, days: int, now: datetime) -> float:
    import duckdb

    started = time.monotonic()
    names = "[" + ", ".join(f"'{n}'" for n in NAMES) + "]"
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        connection.execute(GENERATE.format(names=names, now=now.isoformat(), days=days, count=count, folder=folder))
    return time.monotonic() - started


def load_postgres(url: str, folder: Path) -> float:
    """Day by day: DuckDB writes the day's CSV, PostgreSQL COPYs it in; then the index and ANALYZE."""
    import duckdb

    started = time.monotonic()
    engine = create_engine(database_url(url))
    with engine.begin() as connection:
        connection.execute(text(PG_TABLE))
    with tempfile.TemporaryDirectory() as scratch, duckdb.connect() as duck:
        duck.execute("SET TimeZone = 'UTC'")
        for day in sorted(folder.iterdir()):
            csv = Path(scratch) / "day.csv"
            duck.execute(
                f"COPY (SELECT name, created_at, user_id, duration_ms FROM read_parquet('{day}/*.parquet')) "
                f"TO '{csv}' (FORMAT csv, HEADER false)"
            )
            raw = engine.raw_connection()
            try:
                with raw.cursor() as cursor, open(csv) as handle:
                    cursor.copy_expert(
                        f"COPY {TABLE} (name, created_at, user_id, duration_ms) FROM STDIN WITH (FORMAT csv)", handle
                    )
                raw.commit()
            finally:
                raw.close()
    with engine.begin() as connection:
        connection.execute(text(f"CREATE INDEX {TABLE}_created_at ON {TABLE} (created_at)"))
        connection.execute(text(f"ANALYZE {TABLE}"))
    engine.dispose()
    return time.monotonic() - started


def load_chdb(path: Path, folder: Path) -> float:
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", CHDB_LOAD, str(path), str(folder)], check=True, capture_output=True)
    return time.monotonic() - started


def reader_child(url: str, table_: str, scenario: str) -> None:
    """The reader alone (connect, reflect, both statements, records; no graph, no store), in this
    process — in the hourly scenario, the run of the day that finds yesterday final: its hours and
    yesterday's `users`, `.7d`, `.28d` (the once-a-day work) — and prints its seconds, peak RSS and
    a digest of the records (durations rounded to 9 significant digits), so that the stores can be
    checked to give the same values."""
    import hashlib

    from apercite_analytics.config.load import parse
    from apercite_analytics.readers import events
    from apercite_analytics.readers.common.sources import Sources
    from apercite_analytics.store.watermarks import Watermarks
    from apercite_analytics.window import Window, floor_hour, utcnow

    settings = parse(
        {
            "sources": {"app": {"url": url, "query_timeout": 3600}},
            "readers": {"events": {"source": "app", "table": table_, "columns": {"duration": "duration_ms"}}},
        }
    )
    now = utcnow()
    marks = Watermarks()
    if scenario == "hourly":  # the once-a-day run: the last hours, and yesterday's daily values (now final)
        yesterday = datetime.combine(now.date() - timedelta(days=1), datetime.min.time(), UTC)
        marks = Watermarks(
            {("events", table_): floor_hour(now) - timedelta(hours=1), ("events", f"{table_} days"): yesterday}
        )
    window = Window(now=now, since=now - timedelta(days=30)) if scenario == "backfill" else Window(now=now)
    [node] = events.chains(settings.readers["events"], window)["events"]
    started, cpu = time.monotonic(), time.process_time()
    records, hourly_done = [], 0.0
    with Sources(settings.sources) as sources:
        for record in node(sources=sources, state=marks):
            records.append(record)
            if "hour" in record[0]:  # the hourly statement's records all come before the daily statement runs
                hourly_done = time.monotonic() - started
    seconds, cpu = time.monotonic() - started, time.process_time() - cpu
    digest = hashlib.sha256()
    for dims, metrics in sorted(records, key=lambda r: (r[0]["date"], r[0].get("hour", -1))):
        values = sorted((k, float(f"{float(v):.9g}")) for k, v in metrics.items())
        digest.update(repr((sorted(dims.items()), values)).encode())
    print(
        json.dumps(
            {
                "seconds": seconds,
                "hourly_seconds": hourly_done,
                "cpu_seconds": cpu,  # of this process: DuckDB and chdb work in it, PostgreSQL does not
                "rss_mb": peak_mib(),
                "records": len(records),
                "digest": digest.hexdigest()[:12],
            }
        )
    )


def measure_reader(url: str, table_: str, scenario: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--reader-child", url, table_, scenario], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"reader {scenario} on {url} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def size(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=10_000_000)
    ap.add_argument("--days", type=int, default=60, help="time span of the events, back from now")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--stores", default="pg,parquet,chdb")
    ap.add_argument("--scenarios", default="hourly,backfill")
    ap.add_argument("--backfill-runs", type=int, help="runs of the backfill scenario (default: --runs)")
    ap.add_argument(
        "--quick", action="store_true", help="20,000 events over 3 days, 1 run (checks the benchmark works)"
    )
    ap.add_argument("--reader-child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.reader_child:
        reader_child(*args.reader_child)
        return 0
    if args.quick:
        args.events, args.days, args.runs = 20_000, 3, 1
    stores = args.stores.split(",")
    print(machine(), flush=True)
    now = datetime.now(UTC) - timedelta(minutes=1)
    work = Path(tempfile.mkdtemp(prefix="apercite_bench_events_", dir=os.environ.get("APERCITE_BENCH_TMP")))
    try:
        with scratch_database() as pg_url:
            folder = work / "events"
            seconds = generate(folder, args.events, args.days, now)
            print(f"built Parquet: {args.events:,} events, {size(folder):,.0f} MB in {seconds:.0f} s", flush=True)
            urls = {"parquet": ("duckdb:///:memory:", str(folder))}
            if "pg" in stores:
                seconds = load_postgres(pg_url, folder)
                print(f"built PostgreSQL (COPY per day, index, ANALYZE) in {seconds:.0f} s", flush=True)
                urls["pg"] = (pg_url, TABLE)
            if "chdb" in stores:
                seconds = load_chdb(work / "chdb", folder)
                print(f"built chdb (INSERT … SELECT FROM the Parquet files, OPTIMIZE) in {seconds:.0f} s", flush=True)
                urls["chdb"] = (f"clickhouse:///bench?interface=chdb&path={work / 'chdb'}", TABLE)
            results: dict[tuple[str, str], list[dict]] = {}
            for scenario in args.scenarios.split(","):
                runs = args.backfill_runs if scenario == "backfill" and args.backfill_runs else args.runs
                for run in range(runs):
                    for store in stores:
                        alone = measure_reader(*urls[store], scenario)
                        results.setdefault((scenario, store, "reader"), []).append(alone)
                        line = (
                            f"  {scenario:8} {store:8} run {run + 1}: reader {alone['seconds']:7.2f} s (hourly "
                            f"statement {alone['hourly_seconds']:.2f} s; CPU here {alone['cpu_seconds']:.2f} s; "
                            f"RSS {alone['rss_mb']:.0f} MB; {alone['records']} records, digest {alone['digest']})"
                        )
                        if scenario == "hourly":  # the whole job, as cron runs it (graph, store, bookkeeping)
                            whole = measure(*urls[store], scenario)
                            results.setdefault((scenario, store, "run"), []).append(whole)
                            line += f"; whole run {whole['seconds']:.2f} s (RSS {whole['rss_mb']:.0f} MB)"
                        print(line, flush=True)
            rows = []
            for (scenario, store, what), runs in results.items():
                seconds = statistics.median(r["seconds"] for r in runs)
                baseline = statistics.median(r["seconds"] for r in results.get((scenario, "pg", what), runs))
                hourly = [r["hourly_seconds"] for r in runs if "hourly_seconds" in r]
                rows.append(
                    [
                        f"{scenario} {store} {what}",
                        f"{seconds:.2f}",
                        f"{statistics.median(hourly):.2f}" if hourly else "-",
                        f"{statistics.median(r['rss_mb'] for r in runs):.0f}",
                        f"{baseline / seconds:.1f}×",
                        ",".join(sorted({r.get("digest", "-") for r in runs})),
                    ]
                )
            backfill = f" ({args.backfill_runs} of the backfill)" if args.backfill_runs else ""
            print(f"\nmedians of {args.runs} runs{backfill}, {args.events:,} events over {args.days} days")
            headers = ["scenario", "seconds", "hourly stmt s", "peak RSS MB", "vs PostgreSQL", "digest"]
            print(table(headers, rows))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
