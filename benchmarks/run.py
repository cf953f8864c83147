"""Run the benchmarks and print their tables: `python -m benchmarks` (or `python benchmarks/run.py`).

    python -m benchmarks                  all three, 3 runs each (about 10 minutes on 2 busy cores)
    python -m benchmarks --runs 5         more runs (medians are printed)
    python -m benchmarks --only writer    writer | end-to-end | graph (repeatable)
    python -m benchmarks --quick          small sizes, 1 run: a smoke test of the benchmarks themselves

PostgreSQL: $APERCITE_BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test (each
benchmark creates its own scratch databases there and drops them).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import end_to_end, graph_overhead, writer  # noqa: E402
from benchmarks.common import machine  # noqa: E402

TARGETS = {"ours / per-row": 40.0, "ours / ceiling": 1 / 3}


def log(message: str) -> None:
    print(f"  … {message}", file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per measurement (default 3; medians are shown)")
    parser.add_argument("--only", action="append", choices=["writer", "end-to-end", "graph"], help="run only these")
    parser.add_argument("--quick", action="store_true", help="small sizes and 1 run (checks the benchmarks work)")
    parser.add_argument("--values", help="end-to-end sizes, comma-separated (default 100000,1000000)")
    args = parser.parse_args(argv)
    only = set(args.only or ["writer", "end-to-end", "graph"])
    runs = 1 if args.quick else args.runs
    started = time.monotonic()
    print(f"machine: {machine()}")
    print(f"runs: {runs} per figure; each cell is the median, ± half the spread between runs\n")
    verdicts = []
    if "writer" in only:
        sizes = {"values": 20_000, "sample": 2_000} if args.quick else {}
        text, medians = writer.run(runs, log=log, **sizes)
        print(text + "\n")
        for label, target in TARGETS.items():
            worst = min(medians[label].values())
            verdicts.append(
                f"{label}: {worst:.2f}× at worst (target ≥ {target:.2f}×): {'met' if worst >= target else 'NOT met'}"
            )
    if "end-to-end" in only:
        sizes = (10_000, 50_000) if args.quick else (100_000, 1_000_000)
        if args.values:
            sizes = tuple(int(v) for v in args.values.split(","))
        text, _ = end_to_end.run(runs, sizes, log=log)
        print(text + "\n")
    if "graph" in only:
        shapes = ((5_000, 1), (1_000, 100)) if args.quick else ((50_000, 1), (20_000, 100))
        text, _ = graph_overhead.run(runs, shapes, log=log)
        print(text + "\n")
    for line in verdicts:
        print(line)
    print(f"done in {time.monotonic() - started:.0f} s; machine load now {machine().split('load ')[1].split(';')[0]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
