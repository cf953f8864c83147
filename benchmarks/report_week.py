"""A week's KPI report with 20 KPIs on a large PostgreSQL store: query time and rendering time apart.

    python -m benchmarks --only report_week
    python benchmarks/report_week.py [--values 100000000] [--runs 3] [--quick]

Fills a scratch database with `--values` hourly values (tests/support/synthetic_store.py: about
3 years of hours per metric, the dashboards' metrics plus filler metrics), then times, `--runs`
times each (medians shown): the report's reads (`digest.compute`: metric ids, one range read of
the two weeks' values, the run log) and its rendering (20 PNG charts, the HTML and the text). The
baseline, measured in the same run, reads the same values as a naive report would: through the
`hourly_series` view filtered on its computed `time` only, which the primary key cannot serve.
Target: under 2 s in total. The database is dropped at the end.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # the synthetic store (test-only)

from sqlalchemy import text  # noqa: E402
from support.synthetic_store import DAILY_NAMES, HOURLY_NAMES, fill  # noqa: E402

from apercite_analytics.dictionary.kpis import Kpi  # noqa: E402
from apercite_analytics.report import digest as digests  # noqa: E402
from apercite_analytics.report import html  # noqa: E402
from apercite_analytics.report import text as plain
from apercite_analytics.report.charts import Charts  # noqa: E402
from apercite_analytics.report.period import last_complete  # noqa: E402
from apercite_analytics.store import schema as store  # noqa: E402
from apercite_analytics.store.reads import ReportReader  # noqa: E402
from benchmarks.common import PG_URL, machine, scratch_database, spread, table  # noqa: E402

AGGREGATES = ("sum", "last", "max", "avg")


def kpis() -> list[Kpi]:
    """20 KPIs over the synthetic store's metrics: 18 of one metric, 2 ratios (one of daily values)."""
    found = [
        Kpi(
            key=f"k{i}",
            title=name,
            section=f"Section {i % 4}",
            dashboard="business",
            metrics=(name,),
            aggregate=AGGREGATES[i % 4],
            chart=("stat", "timeseries", "bar")[i % 3],
            good="up",
            unit="events",
            daily=False,
            target=100.0 if i % 5 == 0 else None,
        )  # fmt: skip
        for i, name in enumerate(HOURLY_NAMES[:18])
    ]
    found.append(
        Kpi("ratio", "Activation rate", "Ratios", "business", ("events.activation.count", "events.signup.count"),
            "sum", "stat", "up", "ratio", False)
    )  # fmt: skip
    found.append(Kpi("stickiness", "WAU / MAU", "Ratios", "business", DAILY_NAMES, "last", "stat", "up", "ratio", True))
    return found


def naive_reads(engine, names: list[str], start: datetime, end: datetime) -> int:
    """The values a report needs, read as a naive report would: the view, filtered on `time` only."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT metric, time, value FROM hourly_series WHERE metric = ANY(:names) AND time >= :s AND time < :e"
            ),
            {"names": names, "s": start, "e": end},
        ).all()
    return len(rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--values", type=int, default=100_000_000, help="hourly values (default 100 M)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs (default 3; medians are shown)")
    parser.add_argument("--quick", action="store_true", help="20,000 values, 1 run (checks the benchmark works)")
    args = parser.parse_args(argv)
    if args.quick:
        args.values, args.runs = 20_000, 1
    print(f"machine: {machine()}", flush=True)
    with scratch_database(PG_URL) as url:
        engine = store.open_engine(url)
        store.upgrade(engine)
        started = time.perf_counter()
        sizes = fill(engine, args.values, say=lambda m: print(m, file=sys.stderr, flush=True))
        print(f"store: {sizes} (generated in {time.perf_counter() - started:.0f} s)", flush=True)
        found, now = kpis(), datetime.now(UTC)
        period = last_complete("week", now)
        reader = ReportReader(engine)
        names = sorted({m for k in found if not k.daily for m in k.metrics})
        queries, renders, naive, totals = [], [], [], []
        drawer = Charts()
        for _ in range(args.runs + 1):  # the first run warms the caches and is not counted
            t0 = time.perf_counter()
            digest = digests.compute("KPI report", found, period, reader, now)
            t1 = time.perf_counter()
            charts = {r.kpi.key: drawer.png(r) for r in digest.results}
            page = html.render(digest, lambda r, charts=charts: html.data_uri(charts[r.kpi.key]))
            plain.render(digest)
            t2 = time.perf_counter()
            naive_reads(engine, names, period.previous().start, period.end)
            t3 = time.perf_counter()
            queries.append(t1 - t0), renders.append(t2 - t1), naive.append(t3 - t2), totals.append(t2 - t0)
        queries, renders, naive, totals = queries[1:], renders[1:], naive[1:], totals[1:]
        assert len(digest.results) == 20 and all(r.value is not None for r in digest.results), digest.not_shown
        engine.dispose()
    ms = [1000 * statistics.median(s) for s in (queries, renders, totals, naive)]
    rows = [
        ["report reads (digest.compute)", f"{ms[0]:.0f}", spread(queries)],
        ["rendering (20 PNG charts, HTML, text)", f"{ms[1]:.0f}", spread(renders)],
        ["total", f"{ms[2]:.0f}", spread(totals)],
        ["baseline: the same values through hourly_series, time filter only", f"{ms[3]:.0f}", spread(naive)],
    ]
    print(f"\nweek report, 20 KPIs, {sizes['hourly_values']:,} hourly values, median of {args.runs} runs")
    print(table(["step", "ms", "spread"], rows))
    print(f"baseline / report reads: {ms[3] / ms[0]:.1f}x; HTML {len(page) / 1024:.0f} KiB")
    print(f"target < 2000 ms in total: {'met' if ms[2] < 2000 else 'NOT met'} ({ms[2]:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
