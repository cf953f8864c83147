"""Benchmark 2: end to end, a 1,000,000-value `read sql --write` backfill, PostgreSQL to PostgreSQL.

`read sql --write --since … --until …` (the real CLI, the real graph) for a backfill of 1,000,000
values from a PostgreSQL source table into a fresh PostgreSQL store.

The source table has one row per hour and region with 50 value columns; the query returns them all
with `region` as a dimension, so one record carries 500 metrics (the graph is not the bottleneck).
Each run is a fresh process (`benchmarks.child`) on a freshly migrated store; we report values/s
over the process's wall time (start-up included) and its peak RSS (VmHWM). The same at another size
(100,000 by default; `--values 1000000,10000000` for issue 19's flat-memory check), and the writer
alone (values generated one record at a time, 500 metrics a record like the backfill's, in the same
run, right after) at each size: the baseline of the end-to-end ÷ writer-alone ratio.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text

from apercite_analytics.config.urls import database_url
from apercite_analytics.store import schema as store
from benchmarks.common import ROOT, log, median, rate, scratch_database, spread, table

REGIONS = 10
COLUMNS = 50
START = datetime(2024, 1, 1)


def _fill_source(url: str, hours: int) -> None:
    engine = create_engine(database_url(url))
    values = ", ".join(f"(h * {c + 1} + r) * 0.25 AS v{c:02d}" for c in range(COLUMNS))
    with engine.begin() as connection:
        connection.execute(
            text(
                f"CREATE TABLE facts AS SELECT TIMESTAMPTZ '{START:%Y-%m-%d} 00:00+00' + h * INTERVAL '1 hour' "
                "AS time, "
                f"'region ' || r AS region, {values} "
                f"FROM generate_series(0, {hours - 1}) AS h, generate_series(1, {REGIONS}) AS r"
            )
        )
        connection.execute(text("CREATE INDEX ON facts (time)"))
        connection.execute(text("ANALYZE facts"))
    engine.dispose()


def _config(folder: Path, store_url: str, source_url: str) -> Path:
    columns = ", ".join(f"v{c:02d}" for c in range(COLUMNS))
    path = folder / "analytics.toml"
    path.write_text(
        f"""
[store]
url = "{store_url}"

[sources.warehouse]
url = "{source_url}"

[readers.sql.queries.facts]
source = "warehouse"
sql = "SELECT time, region, {columns} FROM facts WHERE time >= :since AND time < :until"
dimensions = ["region"]
metric = "bench.{{region}}.{{column}}"
"""
    )
    return path


def child(*args: str) -> dict:
    """Run `benchmarks.child` in a fresh process: its JSON report plus the wall time seen from here."""
    started = datetime.now()
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.child", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    wall = (datetime.now() - started).total_seconds()
    try:
        report = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise RuntimeError(f"benchmark child {args[:2]} failed:\n{done.stdout}\n{done.stderr}") from None
    if report["exit"] != 0:
        raise RuntimeError(f"benchmark child {args[:2]} exited {report['exit']}:\n{done.stderr}")
    return {**report, "wall": wall}


def backfill(source_url: str, values: int, folder: Path) -> dict:
    """One `read sql --write` backfill of `values` values into a fresh store."""
    hours = values // (REGIONS * COLUMNS)
    until = START + timedelta(hours=hours)
    with scratch_database() as store_url:
        engine = store.open_engine(store_url)
        store.upgrade(engine)
        engine.dispose()
        config = _config(folder, store_url, source_url)
        report = child(
            "cli", "read", "sql", "--write", "-q", "-c", str(config),
            "--since", f"{START:%Y-%m-%dT%H:%M}", "--until", f"{until:%Y-%m-%dT%H:%M}",
        )  # fmt: skip
        engine = store.open_engine(store_url)
        with engine.connect() as connection:
            stored = connection.execute(  # the job's own etl.* values aside
                text(
                    "SELECT count(*) FROM hourly_value h JOIN metric m ON m.id = h.metric_id "
                    "WHERE m.name NOT LIKE 'etl.%'"
                )
            ).scalar_one()
        engine.dispose()
    if stored != values:
        raise RuntimeError(f"the backfill stored {stored} values, not {values}")
    return report


def writer_alone(values: int) -> dict:
    with scratch_database() as store_url:
        engine = store.open_engine(store_url)
        store.upgrade(engine)
        engine.dispose()
        return child("writer", str(values), store_url, str(REGIONS * COLUMNS))  # records of the same width


def run(runs: int, sizes: tuple[int, ...] = (100_000, 1_000_000), log=print) -> tuple[str, dict]:
    results: dict[tuple[str, int], list[dict]] = {}
    with scratch_database() as source_url, tempfile.TemporaryDirectory() as folder:
        _fill_source(source_url, max(sizes) // (REGIONS * COLUMNS))
        for n in range(runs):
            log(f"end to end: run {n + 1}/{runs}")
            for size in sizes:
                results.setdefault(("read sql --write", size), []).append(backfill(source_url, size, Path(folder)))
                results.setdefault(("writer alone", size), []).append(writer_alone(size))
    rows, medians = [], {}
    for (what, size), reports in results.items():
        speeds = [size / r["wall"] for r in reports]
        peaks = [r["peak_mib"] for r in reports]
        medians[(what, size)] = {"values/s": median(speeds), "peak MiB": median(peaks)}
        rows.append(
            [
                f"{what} ({size:,} values)",
                f"{median([r['wall'] for r in reports]):.1f}",
                f"{rate(1, 1 / median(speeds))} {spread(speeds)}",
                f"{median(peaks):.0f}",
            ]
        )
    headers = ["end to end, PostgreSQL → PostgreSQL", "seconds", "values/s (wall)", "peak RSS MiB"]
    ratios = []
    for size in sizes:  # median of the per-run ratios: each pair ran back to back
        pairs = zip(results[("read sql --write", size)], results[("writer alone", size)], strict=True)
        per_run = [writer["wall"] / ours["wall"] for ours, writer in pairs]
        medians[("ratio", size)] = median(per_run)
        ratios.append(
            f"{size:,} values: end to end ÷ writer alone (values/s) = {median(per_run):.2f}× "
            f"(runs: {', '.join(f'{r:.2f}' for r in per_run)})"
        )
    return table(headers, rows) + "\n" + "\n".join(ratios), medians


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.end_to_end", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (default 3; medians are shown)")
    parser.add_argument("--quick", action="store_true", help="10,000 values, 1 run")
    parser.add_argument("--values", help="sizes, comma-separated (default 100000,1000000)")
    args = parser.parse_args(argv)
    sizes = (10_000,) if args.quick else (100_000, 1_000_000)
    if args.values:
        sizes = tuple(int(v) for v in args.values.split(","))
    text, _ = run(1 if args.quick else args.runs, sizes, log=log)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
