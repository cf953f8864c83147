"""Benchmark: a `prometheus` backfill of 30 days × 100 series into a PostgreSQL store.

    python benchmarks/prometheus_backfill.py [--days 30] [--series 100] [--runs 5] [--max-points 11000] [--data DIR]
    python benchmarks/prometheus_backfill.py --quick     1 day × 3 series, 1 run

Needs `prometheus` and `promtool` (Debian's `prometheus` package) and the PostgreSQL the tests use
($APERCITE_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test). It builds TSDB
blocks of one gauge with `--series` series (a sample every 15 minutes), starts Prometheus on a free
port, then per run, interleaved so that machine noise hits both alike:

* baseline — the same range requests (same chunks) with plain `requests` and `json`: what reading
  Prometheus costs anyway;
* reader — the `prometheus.<query>` node alone (requests, parsing, naming, records), nothing written;
* ETL — `read prometheus --write --since … --until …` through the whole graph (reader, normalize,
  upsert writer) into a fresh scratch PostgreSQL database.

It prints the medians, values/second written and the ratios to the baseline (the ETL's overhead).
Building the blocks takes a minute or more on a busy machine: `--data DIR` keeps them for the next
invocation (same --days and --series).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import requests
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.prometheus_server import PrometheusServer, create_blocks, write_openmetrics  # noqa: E402

from apercite_analytics.cli import main as cli  # noqa: E402
from apercite_analytics.config import load as config  # noqa: E402
from apercite_analytics.config.urls import database_url  # noqa: E402
from apercite_analytics.readers import prometheus  # noqa: E402
from apercite_analytics.run import job as graph  # noqa: E402
from apercite_analytics.store import schema as store  # noqa: E402
from apercite_analytics.store.watermarks import Watermarks  # noqa: E402
from apercite_analytics.window import HOUR, Window  # noqa: E402

PG_URL = __import__("os").environ.get("APERCITE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
START = datetime(2025, 1, 1, tzinfo=UTC)
EXPR = "sum_over_time(bench_requests[1h])"


def samples(days: int, series: int):
    for s in range(series):
        labels = {"instance": f"web-{s:03d}"}
        for q in range(days * 24 * 4):
            at = int(START.timestamp()) + q * 900 + 450  # :07:30, :22:30, … never on an hour edge
            yield "bench_requests", labels, at, (q * 7 + s) % 100


class ScratchDatabase:
    """A fresh PostgreSQL database, dropped on exit."""

    def __init__(self):
        self.name = f"apercite_bench_{uuid.uuid4().hex[:10]}"
        self.admin = create_engine(database_url(PG_URL), isolation_level="AUTOCOMMIT")
        self.url = make_url(PG_URL).set(database=self.name).render_as_string(hide_password=False)

    def __enter__(self) -> str:
        with self.admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {self.name}"))
        engine = store.open_engine(self.url)
        store.upgrade(engine)
        engine.dispose()
        return self.url

    def __exit__(self, *exc_info) -> None:
        with self.admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {self.name} WITH (FORCE)"))
        self.admin.dispose()


def raw_queries(url: str, ranges: list[tuple[datetime, datetime]]) -> int:
    """The baseline: the reader's requests, plain; returns the number of values received."""
    values = 0
    with requests.Session() as session:
        for first, stop in ranges:
            params = {"query": EXPR, "start": (first + HOUR).timestamp(), "end": stop.timestamp(), "step": 3600}
            response = session.get(f"{url}/api/v1/query_range", params=params, timeout=300)
            response.raise_for_status()
            values += sum(len(s["values"]) for s in response.json()["data"]["result"])
    return values


def settings_for(prometheus_url: str, store_url: str, max_points: int) -> config.Settings:
    return config.parse(
        {
            "store": {"url": store_url},
            "readers": {
                "prometheus": {
                    "url": prometheus_url,
                    "max_points": max_points,
                    "queries": {"requests": {"expr": EXPR, "metric": "bench.requests.{instance}"}},
                }
            },
        }
    )


def reader_alone(prometheus_url: str, until: datetime, max_points: int) -> int:
    """The reader's node run to its end, without Bonobo or a store: the values it yields."""
    settings = settings_for(prometheus_url, "sqlite://", max_points).readers["prometheus"]
    [[node]] = prometheus.chains(settings, Window.from_args(START.isoformat(), until.isoformat())).values()
    return sum(len(metrics) for _, metrics in node(state=Watermarks()))


def etl(prometheus_url: str, store_url: str, until: datetime, max_points: int) -> tuple[int, bool]:
    settings = settings_for(prometheus_url, store_url, max_points)
    window = Window.from_args(START.isoformat(), until.isoformat())
    result = graph.execute(settings, ["prometheus"], window, write=True, command="benchmark")
    return result.written["hourly_value"], result.ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--max-points", type=int, default=prometheus.MAX_POINTS)
    parser.add_argument("--data", type=Path, help="keep the TSDB blocks here and reuse them (default: a temp dir)")
    parser.add_argument("--quick", action="store_true", help="1 day × 3 series, 1 run")
    args = parser.parse_args(argv)
    if args.quick:
        args.days, args.series, args.runs = 1, 3, 1
    cli.setup_logging(-1)
    until = START + timedelta(days=args.days)
    ranges = prometheus.chunks(START, until, args.max_points)
    expected = args.days * 24 * args.series

    with tempfile.TemporaryDirectory(prefix="apercite-bench-") as tmp:
        root = args.data or Path(tmp)
        tsdb = root / f"tsdb-{args.days}d-{args.series}s"
        if not tsdb.is_dir():
            root.mkdir(parents=True, exist_ok=True)
            began = time.monotonic()
            create_blocks(write_openmetrics(root / "data.om", samples(args.days, args.series)), tsdb)
            print(
                f"test data: {args.series} series × {args.days} days, blocks built in {time.monotonic() - began:.0f} s"
            )
        with PrometheusServer(tsdb) as server:
            # warm-up, and the data is all there
            assert raw_queries(server.url, ranges) == expected == reader_alone(server.url, until, args.max_points)
            raw_times, reader_times, etl_times = [], [], []
            for run in range(1, args.runs + 1):
                began = time.perf_counter()
                raw_queries(server.url, ranges)
                raw_times.append(time.perf_counter() - began)
                began = time.perf_counter()
                reader_alone(server.url, until, args.max_points)
                reader_times.append(time.perf_counter() - began)
                with ScratchDatabase() as store_url:
                    began = time.perf_counter()
                    written, ok = etl(server.url, store_url, until, args.max_points)
                    etl_times.append(time.perf_counter() - began)
                if written != expected or not ok:
                    print(f"run {run}: wrote {written} of {expected} values (ok={ok})", file=sys.stderr)
                    return 1
                print(
                    f"run {run}: baseline {raw_times[-1]:.2f} s, reader {reader_times[-1]:.2f} s, "
                    f"ETL {etl_times[-1]:.2f} s"
                )

    raw, reader, full = (statistics.median(t) for t in (raw_times, reader_times, etl_times))
    print(
        f"\n{expected} values ({args.days * 24} hours × {args.series} series), {len(ranges)} request(s), "
        f"medians of {args.runs} runs:"
    )
    print(f"  Prometheus HTTP queries alone (baseline): {raw:6.2f} s  {expected / raw:>9,.0f} values/s")
    print(
        f"  reader node alone (nothing written):      {reader:6.2f} s  {expected / reader:>9,.0f} values/s"
        f"          {reader / raw:5.1f}× baseline"
    )
    print(
        f"  backfill into PostgreSQL (read --write):  {full:6.2f} s  {expected / full:>9,.0f} values/s written"
        f"  {full / raw:5.1f}× baseline"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
