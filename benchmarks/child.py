"""What the benchmarks run in a fresh process, so that peak memory (ru_maxrss) is this job's alone.

    python -m benchmarks.child cli ARGS…          the real command line (`cli.main(ARGS)`)
    python -m benchmarks.child writer N URL [M]   N hourly values, M metrics a record (100), through the writer

Prints one JSON line on stdout's last line: exit status, seconds inside the process, peak RSS in MiB.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from datetime import date, timedelta

METRICS = 100


def _writer(values: int, url: str, metrics: int = METRICS) -> int:
    from apercite_analytics.store import schema as store
    from apercite_analytics.store.values import MetricStore
    from apercite_analytics.writers.upsert import UpsertWriter

    engine = store.open_engine(url)
    metric_store = MetricStore(engine)
    writer = UpsertWriter("hourly")
    start = date(2020, 1, 1)
    for k in range(values // metrics):  # records made one at a time: only the writer holds values
        dims = {"date": start + timedelta(days=k // 24), "hour": k % 24}
        writer(dims, {f"bench.m{i:03d}": k * 0.5 + i for i in range(metrics)}, store=metric_store)
    writer.close(metric_store)
    engine.dispose()
    return 0 if metric_store.written["hourly_value"] == values else 1


def peak_mib() -> float:
    """This process's peak resident set size. Linux: VmHWM, the high-water mark of this address
    space (ru_maxrss would not do: it keeps the parent's RSS across fork and exec)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux, bytes on macOS


def main(argv: list[str]) -> int:
    started = time.perf_counter()
    if argv[0] == "cli":
        from apercite_analytics.cli import main as cli

        code = cli.main(argv[1:])
    elif argv[0] == "writer":
        code = _writer(int(argv[1]), argv[2], *(int(a) for a in argv[3:4]))
    else:
        raise SystemExit(f"unknown mode {argv[0]!r}")
    seconds = time.perf_counter() - started
    print(json.dumps({"exit": code, "seconds": seconds, "peak_mib": peak_mib()}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
