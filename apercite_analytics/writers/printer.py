"""Without --write: print the records as a table on stdout, and write nothing."""

from __future__ import annotations

import sys
import threading
from typing import TextIO


def format_value(value: float | int) -> str:
    return str(value) if isinstance(value, int) else f"{value:.10g}"


class TablePrinter:
    """One line per value: `date  hour  metric  value` (hour `--` for daily values)."""

    __name__ = "printer"

    def __init__(self, out: TextIO | None = None):
        self.out = out
        self.lines = 0
        self.reader_gone = False  # `read all | head`: the reader of stdout left, which is no error
        self._lock = threading.Lock()

    def __call__(self, dims: dict, metrics: dict) -> None:
        out = self.out or sys.stdout
        hour = f"{dims['hour']:02d}" if "hour" in dims else "--"
        with self._lock:
            if self.reader_gone:
                return
            try:
                if not self.lines:
                    out.write(f"{'date':<10}  {'hour':>4}  {'metric':<48}  {'value':>14}\n")
                for name in sorted(metrics):
                    out.write(f"{dims['date']!s:<10}  {hour:>4}  {name:<48}  {format_value(metrics[name]):>14}\n")
                    self.lines += 1
            except BrokenPipeError:
                self.reader_gone = True
