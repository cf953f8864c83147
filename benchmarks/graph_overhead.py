"""Benchmark 3: what the Bonobo graph costs per record.

The same reader (records from a list), the same `Normalizer` and a null sink, wired three ways:
* graph — `run.engine.run`: the Bonobo graph, strategy and contexts `read` uses
  (one thread per node, queues between them);
* stock Bonobo — the graph as it was before issue 19: a `SetFields` node between the readers and
  normalize, Bonobo's own node contexts (per-record `inspect.signature`, 8,192-record queues polled
  with a 0.2 s sleep when empty);
* threads — the same three callables in three threads with two bounded `queue.Queue`s between them,
  without Bonobo: what one thread per node costs by itself (the floor of any thread-per-node engine);
* loop — a plain Python loop calling the same node functions (the baseline).
With 1 metric per record the cost is all per record; with 100 it is spread over the values.
"""

from __future__ import annotations

import argparse
import queue
import sys
import threading
from datetime import date, timedelta

import bonobo
from bonobo.execution.contexts.graph import GraphExecutionContext
from bonobo.execution.strategies import ThreadPoolExecutorStrategy

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


def through_stock_bonobo(records: list) -> int:
    def reader():
        yield from records

    sink = NullSink()
    graph = bonobo.Graph()
    graph.add_chain(bonobo.SetFields(["dims", "metrics"]), _input=None, _name="records")
    graph.add_chain(Normalizer(), sink, _input="records")
    graph.add_chain(reader, _output="records")
    bonobo.run(graph, strategy=ThreadPoolExecutorStrategy(GraphExecutionContext))
    return sink.values


def through_threads(records: list) -> int:
    done = object()
    sink, normalizer = NullSink(), Normalizer()
    first, second = queue.Queue(engine.QUEUE_RECORDS), queue.Queue(engine.QUEUE_RECORDS)

    def read() -> None:
        for record in records:
            first.put(record)
        first.put(done)

    def normalize() -> None:
        while (record := first.get()) is not done:
            for clean in normalizer(*record):
                second.put(clean)
        second.put(done)

    def write() -> None:
        while (record := second.get()) is not done:
            sink(*record)

    threads = [threading.Thread(target=f) for f in (read, normalize, write)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sink.values


def through_loop(records: list) -> int:
    def reader():
        yield from records

    sink, normalizer = NullSink(), Normalizer()
    for dims, metrics in reader():
        for clean in normalizer(dims, metrics):
            sink(*clean)
    return sink.values


WAYS = {"graph": through_graph, "stock Bonobo": through_stock_bonobo, "threads": through_threads, "loop": through_loop}


def run(runs: int, shapes: tuple[tuple[int, int], ...] = ((50_000, 1), (20_000, 100)), log=print) -> tuple[str, dict]:
    rows, medians = [], {}
    fixed = median([timed(lambda: through_graph([])) for _ in range(runs)])  # start and stop of an empty graph
    for count, metrics in shapes:
        records = make_records(count, metrics)
        expected = count * metrics
        samples: dict[str, list[float]] = {way: [] for way in WAYS}
        for n in range(runs):
            log(f"graph overhead: {count:,} records × {metrics} metrics, run {n + 1}/{runs}")
            for way, function in WAYS.items():
                result: list[int] = []
                seconds = timed(lambda f=function, r=result, data=records: r.append(f(data)))
                if result != [expected]:
                    raise RuntimeError(f"{way}: {result} values reached the sink, not {expected}")
                samples[way].append(seconds)
        g, b, t, p = (median(samples[way]) for way in WAYS)
        medians[(count, metrics)] = {
            "graph": count / g,
            "stock": count / b,
            "threads": count / t,
            "loop": count / p,
            "fixed": fixed,
            "µs graph": ((g - fixed) - p) / count * 1e6,
            "µs stock": ((b - fixed) - p) / count * 1e6,
            "µs threads": (t - p) / count * 1e6,
        }
        rows.append(
            [
                f"{count:,} records × {metrics} metric{'s' * (metrics != 1)}",
                f"{rate(count, g)} {spread(samples['graph'])}",
                f"{rate(count, b)} {spread(samples['stock Bonobo'])}",
                f"{rate(count, p)} {spread(samples['loop'])}",
                rate(count * metrics, g),
                f"{medians[(count, metrics)]['µs graph']:.0f}",
                f"{medians[(count, metrics)]['µs stock']:.0f}",
                f"{medians[(count, metrics)]['µs threads']:.0f}",
                f"{g / p:.1f}× / {b / p:.1f}×",
            ]
        )
    headers = ["graph vs plain loop (normalize → null sink)", "graph rec/s", "stock Bonobo rec/s", "loop rec/s",
               "graph values/s", "µs/record overhead", "stock µs/record", "threads µs/record",
               "graph/loop, stock/loop time"]  # fmt: skip
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
