"""Benchmark 3: what the Bonobo graph costs per record.

The same reader (records from a list), the same `Normalizer` and a null sink, wired two ways:
* graph — `run.engine.run`: the Bonobo graph, strategy and contexts `read` uses
  (one thread per node, queues between them);
* loop — a plain Python loop calling the same node functions.
With 1 metric per record the cost is all per record; with 100 it is spread over the values.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date, timedelta

from apercite_analytics.record import Normalizer
from apercite_analytics.run import engine
from apercite_analytics.run.result import Reporter
from benchmarks.common import log, median, rate, spread, table, timed

START = date(2024, 1, 1)


class NullSink:
    """Counts what reaches it."""

    __name__ = "null sink"

    def __init__(self) -> None:
        self.values = 0

    def __call__(self, dims: dict, metrics: dict) -> None:
        self.values += len(metrics)


def make_records(count: int, metrics: int) -> list[tuple[dict, dict]]:
    names = [f"bench.m{i:03d}" for i in range(metrics)]
    return [
        (
            {"date": START + timedelta(days=(k // 24) % 700), "hour": k % 24},
            {n: k + i * 0.5 for i, n in enumerate(names)},
        )
        for k in range(count)
    ]


def through_graph(records: list) -> int:
    def reader():
        yield from records

    sink = NullSink()
    reporter = Reporter()
    engine.run({"bench": [reader]}, Normalizer(on_reject=reporter.rejected), [sink], {}, reporter)
    return sink.values


def through_loop(records: list) -> int:
    def reader():
        yield from records

    sink, normalizer = NullSink(), Normalizer()
    for dims, metrics in reader():
        for clean in normalizer(dims, metrics):
            sink(*clean)
    return sink.values


def run(runs: int, shapes: tuple[tuple[int, int], ...] = ((50_000, 1), (20_000, 100)), log=print) -> tuple[str, dict]:
    rows, medians = [], {}
    fixed = median([timed(lambda: through_graph([])) for _ in range(runs)])  # start and stop of an empty graph
    for count, metrics in shapes:
        records = make_records(count, metrics)
        expected = count * metrics
        samples: dict[str, list[float]] = {"graph": [], "loop": []}
        for n in range(runs):
            log(f"graph overhead: {count:,} records × {metrics} metrics, run {n + 1}/{runs}")
            for way, function in (("graph", through_graph), ("loop", through_loop)):
                result: list[int] = []
                seconds = timed(lambda f=function, r=result, data=records: r.append(f(data)))
                if result != [expected]:
                    raise RuntimeError(f"{way}: {result} values reached the sink, not {expected}")
                samples[way].append(seconds)
        g, p = median(samples["graph"]), median(samples["loop"])
        medians[(count, metrics)] = {"graph": count / g, "loop": count / p, "fixed": fixed}
        rows.append(
            [
                f"{count:,} records × {metrics} metric{'s' * (metrics != 1)}",
                f"{rate(count, g)} {spread(samples['graph'])}",
                f"{rate(count, p)} {spread(samples['loop'])}",
                rate(count * metrics, g),
                f"{((g - fixed) - p) / count * 1e6:.0f}",
                f"{g / p:.1f}×",
            ]
        )
    headers = ["graph vs plain loop (normalize → null sink)", "graph rec/s", "loop rec/s", "graph values/s",
               "µs/record overhead", "graph/loop time"]  # fmt: skip
    note = f"an empty graph starts and stops in {fixed:.2f} s (subtracted from the per-record overhead)"
    return table(headers, rows) + "\n" + note, medians


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.graph_overhead", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (default 3; medians are shown)")
    parser.add_argument("--quick", action="store_true", help="5,000 × 1 and 1,000 × 100 records, 1 run")
    args = parser.parse_args(argv)
    shapes = ((5_000, 1), (1_000, 100)) if args.quick else ((50_000, 1), (20_000, 100))
    text, _ = run(1 if args.quick else args.runs, shapes, log=log)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
