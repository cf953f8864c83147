"""What every benchmark shares: scratch PostgreSQL databases, timing, medians, the table printer."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from apercite_analytics.config.urls import database_url

PG_URL = os.environ.get("APERCITE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def scratch_database(admin_url: str = PG_URL) -> Iterator[str]:
    """A fresh PostgreSQL database for the duration of the block (dropped after): its URL."""
    name = f"apercite_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(database_url(admin_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


def log(message: str) -> None:
    """Progress, on stderr (the tables go to stdout)."""
    print(f"  … {message}", file=sys.stderr, flush=True)


def timed(function: Callable[[], object]) -> float:
    """Seconds `function()` took (wall clock)."""
    started = time.perf_counter()
    function()
    return time.perf_counter() - started


def median(samples: list[float]) -> float:
    return statistics.median(samples)


def spread(samples: list[float]) -> str:
    """How noisy the runs were: (max − min) / median, in percent."""
    middle = statistics.median(samples)
    return f"±{50 * (max(samples) - min(samples)) / middle:.0f}%" if middle else "-"


def table(headers: list[str], rows: list[list[str]]) -> str:
    """A plain aligned text table (first column left-aligned, the others right-aligned)."""
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    lines = []
    for n, row in enumerate([headers, *rows]):
        cells = [
            str(c).ljust(w) if i == 0 else str(c).rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}"


def machine() -> str:
    """One line describing where the figures were measured."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info if line.startswith("model name")), cpu)
    except OSError:
        pass
    try:
        engine = create_engine(database_url(PG_URL))
        with engine.connect() as connection:
            server = connection.execute(text("SELECT current_setting('server_version')")).scalar_one().split()[0]
        engine.dispose()
    except Exception:  # noqa: BLE001 — the benchmarks will say what is wrong
        server = "?"
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} cores, load {load}; Python {platform.python_version()}; "
        f"PostgreSQL {server or '?'} on {make_url(PG_URL).host}; {platform.system()} {platform.release()}"
    )
