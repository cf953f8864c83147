"""What a run did: per-node statistics, the run's verdict, the errors it met, and its summary.

`Reporter` is told every node failure and rejected value while the graph runs (it logs the first
ones, one line each); `RunResult` is filled by `job.py` once the graph ended and read by the
summary, the run log, the job's own metrics and the exit status: one verdict, written everywhere.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any

from apercite_analytics.config.secrets import scrub
from apercite_analytics.errors import AnalyticsError, escape_control

log = logging.getLogger("apercite_analytics")
MAX_REJECTIONS_SHOWN = 20
MAX_ERRORS_SHOWN = 10  # per node: a node failing on every record must not flood the log


def reader_of(chain: str) -> str:
    """Chains are named `<reader>` or `<reader>.<part>`."""
    return chain.split(".", 1)[0]


@dataclass
class NodeStats:
    name: str
    read: int
    wrote: int
    errors: int
    defunct: bool
    killed: bool = False
    chain: str | None = None  # None for normalize and the sinks

    @property
    def failed(self) -> bool:
        return bool(self.errors or self.defunct or self.killed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "node": self.name,
            "in": self.read,
            "out": self.wrote,
            "err": self.errors,
            "defunct": self.defunct,
            "killed": self.killed,
        }


@dataclass
class RunResult:
    """What a run did, for the summary, the run log and the exit status."""

    readers: list[str]
    write: bool
    nodes: list[NodeStats] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # the first errors of each node, as shown
    errors: int = 0  # all node errors
    rejected: int = 0
    written: dict[str, int] = field(default_factory=dict)  # values accepted, per table
    changed: dict[str, int] = field(default_factory=dict)  # rows inserted or updated, per table
    metrics_created: int = 0
    printed: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    watermarks_moved: int = 0
    report: list[str] = field(default_factory=list)  # summary lines before the verdict (rollups, dictionary)

    def watermark_ok(self, reader: str, key: str) -> bool:
        """Whether a watermark proposal may be saved: its own chain (`<reader>.<key>`, as the
        prometheus and google_analytics readers name them) had no error, or, for a reader whose
        chains are not named by key, none of the reader's chains had one."""
        chains = [n for n in self.nodes if n.chain is not None and reader_of(n.chain) == reader]
        own = [n for n in chains if n.chain == f"{reader}.{key}"]
        return not any(n.failed for n in (own or chains))

    def reader_status(self) -> dict[str, tuple[bool, int, int]]:
        """Per reader: (ok, records out of its chain, errors in its chain)."""
        status: dict[str, tuple[bool, int, int]] = {r: (True, 0, 0) for r in self.readers}
        last: dict[str, NodeStats] = {}
        for node in self.nodes:
            if node.chain is None:
                continue
            reader = reader_of(node.chain)
            ok, records, errors = status.get(reader, (True, 0, 0))
            status[reader] = (ok and not node.failed, records, errors + node.errors)
            last[node.chain] = node
        for chain, node in last.items():
            ok, records, errors = status[reader_of(chain)]
            status[reader_of(chain)] = (ok, records + node.wrote, errors)
        return status

    @property
    def ok(self) -> bool:
        return not self.errors and not self.rejected and not any(n.failed for n in self.nodes)


class Reporter:
    """Collects node failures and rejected values; logs each failure and the first rejections."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.errors_by_node: dict[str, int] = {}
        self._shown = 0
        self._lock = threading.Lock()

    def failed(self, node: str, exc: BaseException) -> None:
        """Record a node's error; the first MAX_ERRORS_SHOWN of each node are logged and kept."""
        if isinstance(exc, AnalyticsError):
            message = scrub(str(exc))
        else:  # a bug or an error we did not foresee: keep the type, traceback with -v
            message = escape_control(scrub(f"{type(exc).__name__}: {exc}".splitlines()[0]))
        with self._lock:
            count = self.errors_by_node[node] = self.errors_by_node.get(node, 0) + 1
            if count <= MAX_ERRORS_SHOWN:
                self.failures.append(f"{node}: {message}")
        if count <= MAX_ERRORS_SHOWN:
            if not isinstance(exc, AnalyticsError):
                log.debug("%s: traceback", node, exc_info=exc)
            log.error("%s: %s", node, message)
        elif count == MAX_ERRORS_SHOWN + 1:
            log.error("%s: more errors not shown (the count is in the summary)", node)

    def rejected(self, reason: str) -> None:
        with self._lock:
            self._shown += 1
            shown = self._shown
        if shown <= MAX_REJECTIONS_SHOWN:
            log.warning("normalize: %s", scrub(reason))
        elif shown == MAX_REJECTIONS_SHOWN + 1:
            log.warning("normalize: more rejections not shown (the count is in the summary)")


def render(result: RunResult) -> str:
    """The summary: per node the records in and out (a record is one hour or day of one chain, holding
    any number of values), then the values written (one row of `hourly_value`/`daily_value` each)."""
    width = max([len("node"), *(len(n.name) for n in result.nodes)])
    lines = [f"{'node':<{width}}  {'records in':>10}  {'records out':>11}  {'err':>6}"]
    for node in result.nodes:
        flag = "  defunct" if node.defunct else "  killed" if node.killed else ""
        lines.append(f"{node.name:<{width}}  {node.read:>10}  {node.wrote:>11}  {node.errors:>6}{flag}")
    if result.write:
        hourly, daily = result.written.get("hourly_value", 0), result.written.get("daily_value", 0)
        changed = sum(result.changed.values())
        lines.append(
            f"values written: {hourly} hourly, {daily} daily ({changed} new or changed); "
            f"{result.metrics_created} new metric{'s' * (result.metrics_created != 1)}"
        )
    else:
        lines.append(f"values printed: {result.printed}; nothing written (add --write to store them)")
    lines.extend(result.report)
    problems = []
    if result.errors:
        problems.append(f"{result.errors} node error{'s' * (result.errors != 1)}")
    if result.rejected:
        problems.append(f"{result.rejected} value{'s' * (result.rejected != 1)} rejected")
    if any(n.killed for n in result.nodes):
        problems.append("interrupted")
    verdict = "ok" if result.ok else "FAILED: " + ", ".join(problems or ["node errors"])
    lines.append(f"run {verdict} ({result.seconds:.1f} s, readers: {', '.join(result.readers)})")
    return "\n".join(escape_control(line) for line in lines)
