"""Every benchmark, one command: `python -m benchmarks` (or `python benchmarks/run.py`).

    python -m benchmarks --list              what each benchmark measures
    python -m benchmarks                     all of them at full size (over an hour: see docs/performance.md)
    python -m benchmarks --only writer       only these (repeatable; a unique prefix will do: `graph`)
    python -m benchmarks --runs 5            runs per figure, passed to each (default: each its own)
    python -m benchmarks --quick             tiny sizes, 1 run each: checks that they all still work (CI)

Each benchmark runs in a process of its own (`python -m benchmarks.<name>`), which prints its tables.
One that fails is named on the last line and the command exits 1; the others still run.

Adding a benchmark: a module `benchmarks/<name>.py` whose docstring's first line says what it
measures, with `main(argv: list[str] | None = None) -> int` taking `--quick` (tiny sizes, one run,
a few seconds, the same code path as the full run) and `--runs N`; then add `"<name>"` to
BENCHMARKS below (tests/test_benchmarks.py fails on a module of `benchmarks/` that is not listed).

PostgreSQL: $APERCITE_BENCH_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test (each
benchmark creates its own scratch databases there and drops them).
"""

from __future__ import annotations

import argparse
import ast
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # `python benchmarks/run.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import ROOT, machine  # noqa: E402

# One line per benchmark, in the order they run (the cheap, core ones first).
BENCHMARKS = [
    "writer",
    "end_to_end",
    "graph_overhead",
    "rollup",
    "ga_rows",
    "prometheus_backfill",
    "events_10m",
    "events_columnar",
    "grafana_panels",
    "tracking",
    "report_week",
    "schema_check",
]
HELPERS = {"__init__", "__main__", "common", "child", "run"}  # modules of benchmarks/ that are not benchmarks
QUICK_TIMEOUT = 300  # seconds a benchmark may take in --quick mode before it counts as failed


def summary(name: str) -> str:
    """The first line of the benchmark's docstring, read without importing it (a broken one still lists)."""
    doc = ast.get_docstring(ast.parse((ROOT / "benchmarks" / f"{name}.py").read_text())) or ""
    return doc.splitlines()[0] if doc else ""


def chosen(only: list[str] | None) -> list[str]:
    """The benchmarks `--only` names (exact name, `-` for `_`, or a unique prefix), in BENCHMARKS order."""
    if not only:
        return list(BENCHMARKS)
    picked = set()
    for wanted in only:
        key = wanted.replace("-", "_")
        matches = [key] if key in BENCHMARKS else [n for n in BENCHMARKS if n.startswith(key)]
        if len(matches) != 1:
            problem = "ambiguous" if matches else "unknown"
            raise SystemExit(f"--only {wanted}: {problem} (known: {', '.join(BENCHMARKS)})")
        picked.add(matches[0])
    return [n for n in BENCHMARKS if n in picked]


def run_one(name: str, args: list[str], timeout: float | None) -> int:
    """`python -m benchmarks.<name> ARGS` in its own process group (a timeout ends its children too)."""
    process = subprocess.Popen([sys.executable, "-m", f"benchmarks.{name}", *args], cwd=ROOT, start_new_session=True)
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
        print(f"benchmarks: {name} took more than {timeout:.0f} s", file=sys.stderr)
        return -1
    except BaseException:
        os.killpg(process.pid, signal.SIGKILL)
        raise


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true", help="list the benchmarks and what each measures")
    parser.add_argument("--only", action="append", metavar="NAME", help="run only these (repeatable)")
    parser.add_argument("--runs", type=int, help="runs per figure, for each benchmark (default: its own)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and 1 run each (checks the benchmarks work)")
    args = parser.parse_args(argv)
    names = chosen(args.only)
    if args.list:
        width = max(map(len, names))
        for name in names:
            print(f"{name:{width}}  {summary(name)}")
        return 0
    extra = ["--quick"] if args.quick else []
    if args.runs is not None:
        extra += ["--runs", str(args.runs)]
    started = time.monotonic()
    print(f"machine: {machine()}", flush=True)
    failed, took = [], {}
    for name in names:
        print(f"\n== {name}: {summary(name)}\n   python -m benchmarks.{name} {' '.join(extra)}".rstrip(), flush=True)
        began = time.monotonic()
        status = run_one(name, extra, QUICK_TIMEOUT if args.quick else None)
        took[name] = time.monotonic() - began
        if status != 0:
            failed.append(name)
            print(f"benchmarks: {name} FAILED (exit {status})", file=sys.stderr, flush=True)
    times = ", ".join(f"{n} {s:.0f} s" for n, s in took.items())
    print(f"\ndone in {time.monotonic() - started:.0f} s ({times}); load now {os.getloadavg()[0]:.1f}")
    if failed:
        print(f"benchmarks: {len(failed)} of {len(names)} failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    print(f"benchmarks: {len(names)} of {len(names)} ran")
    return 0


if __name__ == "__main__":
    sys.exit(main())
