"""The collector's own metrics: what it accepted, refused and lost, and how fast it answered.

Counted per UTC hour and written, like the job's `etl.*` metrics, as hourly values
(`collector.events.accepted`, `.bad`, `.dropped`, `collector.sdk.dropped`,
`collector.requests.refused`, `collector.latency.p50/.p99` in ms) into the metric store every
minute and at shutdown, and as a Prometheus textfile (counters since the process started).
With several workers (`[collector] workers`), each worker sends its `snapshot()` to the parent,
which adds them up (`combined`) and writes them: one writer per store. Two separate collectors
on one store would overwrite each other's hours; a restart within an hour starts that hour's
counts again from zero.
"""

from __future__ import annotations

import random
import threading
from collections import defaultdict
from datetime import datetime

from apercite_analytics.window import floor_hour, utcnow

COUNTS = {  # counter → hourly metric
    "accepted": "collector.events.accepted",
    "bad": "collector.events.bad",
    "dropped": "collector.events.dropped",
    "sdk_dropped": "collector.sdk.dropped",
    "refused": "collector.requests.refused",
}
SAMPLES = 10_000  # latency samples kept per hour (a uniform reservoir beyond)


class CollectorMetrics:
    """Thread-safe counters per UTC hour, and totals since start."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.totals: dict[str, int] = dict.fromkeys(COUNTS, 0)
        self.refusals: dict[str, int] = defaultdict(int)  # by status code, for the textfile
        self._hours: dict[datetime, dict[str, int]] = {}
        self._latency: dict[datetime, tuple[list[float], list[int]]] = {}  # samples, [seen]
        self.started = utcnow()
        self.pending = 0  # events queued for the database, as last reported (combined metrics only)

    def snapshot(self, pending: int) -> dict:
        """What is counted, as plain data (what a worker sends to the parent): the totals, and the
        last two hours, as `hourly_values` writes them (older ones are forgotten here too)."""
        with self._lock:
            self._forget_old_hours()
            return {
                "totals": dict(self.totals),
                "refusals": dict(self.refusals),
                "hours": {hour: dict(counts) for hour, counts in self._hours.items()},
                "latency": {hour: (list(samples), seen[0]) for hour, (samples, seen) in self._latency.items()},
                "started": self.started,
                "pending": pending,
            }

    @classmethod
    def combined(cls, snapshots: list[dict]) -> CollectorMetrics:
        """The sum of several workers' snapshots (latency: their samples together, at most SAMPLES a
        worker, so a quantile weighs each worker by the requests it sampled)."""
        metrics = cls()
        for snapshot in snapshots:
            for what, n in snapshot["totals"].items():
                metrics.totals[what] += n
            for status, n in snapshot["refusals"].items():
                metrics.refusals[status] += n
            for hour, counts in snapshot["hours"].items():
                mine = metrics._hours.setdefault(hour, dict.fromkeys(COUNTS, 0))
                for what, n in counts.items():
                    mine[what] += n
            for hour, (samples, seen) in snapshot["latency"].items():
                mine_samples, mine_seen = metrics._latency.setdefault(hour, ([], [0]))
                mine_samples.extend(samples)
                mine_seen[0] += seen
            metrics.started = min(metrics.started, snapshot["started"])
            metrics.pending += snapshot["pending"]
        return metrics

    def _forget_old_hours(self) -> None:
        """Keep the last two hours (the lock held): older ones were written for the last time."""
        for hour in sorted(self._hours)[:-2]:
            del self._hours[hour]
        for hour in sorted(self._latency)[:-2]:
            del self._latency[hour]

    def count(self, what: str, n: int = 1, *, status: int | None = None) -> None:
        if n <= 0:
            return
        hour = floor_hour(utcnow())
        with self._lock:
            self.totals[what] += n
            self._hours.setdefault(hour, dict.fromkeys(COUNTS, 0))[what] += n
            if status is not None:
                self.refusals[str(status)] += n

    def latency(self, seconds: float) -> None:
        hour = floor_hour(utcnow())
        with self._lock:
            samples, seen = self._latency.setdefault(hour, ([], [0]))
            seen[0] += 1
            if len(samples) < SAMPLES:
                samples.append(seconds * 1000)
            elif (slot := random.randrange(seen[0])) < SAMPLES:  # noqa: S311 — sampling, not secrets
                samples[slot] = seconds * 1000

    def hourly_values(self) -> dict[tuple[str, object, int], float]:
        """`{(name, date, hour): value}` of the hours counted so far; hours before the last two are forgotten."""
        values: dict[tuple[str, object, int], float] = {}
        with self._lock:
            self._forget_old_hours()
            for hour, counts in self._hours.items():
                for what, name in COUNTS.items():
                    values[(name, hour.date(), hour.hour)] = counts[what]
            for hour, (samples, _) in self._latency.items():
                ordered = sorted(samples)
                for key, fraction in (("p50", 0.5), ("p99", 0.99)):
                    rank = min(len(ordered) - 1, max(0, round(fraction * len(ordered) + 0.5) - 1))
                    values[(f"collector.latency.{key}", hour.date(), hour.hour)] = round(ordered[rank], 3)
        return values

    def textfile(self, pending: int) -> str:
        """Prometheus text exposition: counters since start, the queue, the latest hour's latency."""
        with self._lock:
            totals, refusals = dict(self.totals), dict(self.refusals)
        lines = [
            "# HELP apercite_collector_events_total Events by outcome since the collector started.",
            "# TYPE apercite_collector_events_total counter",
            *(
                f'apercite_collector_events_total{{outcome="{k}"}} {v}'
                for k, v in sorted(totals.items())
                if k != "refused"
            ),
            "# HELP apercite_collector_requests_refused_total Requests refused whole, by HTTP status.",
            "# TYPE apercite_collector_requests_refused_total counter",
            *(f'apercite_collector_requests_refused_total{{status="{k}"}} {v}' for k, v in sorted(refusals.items())),
            "# HELP apercite_collector_queue_events Validated events waiting for the database.",
            "# TYPE apercite_collector_queue_events gauge",
            f"apercite_collector_queue_events {pending}",
            "# HELP apercite_collector_start_timestamp_seconds When the collector started.",
            "# TYPE apercite_collector_start_timestamp_seconds gauge",
            f"apercite_collector_start_timestamp_seconds {self.started.timestamp()!r}",
        ]
        latest = {name: v for (name, _, _), v in sorted(self.hourly_values().items()) if "latency" in name}
        for name, value in sorted(latest.items()):  # the current hour's, in seconds
            metric = f"apercite_collector_latency_{name.rsplit('.', 1)[1]}_seconds"
            lines += [
                f"# HELP {metric} Time to answer a batch in the current hour ({name.rsplit('.', 1)[1]}).",
                f"# TYPE {metric} gauge",
                f"{metric} {value / 1000!r}",
            ]
        return "\n".join(lines) + "\n"
