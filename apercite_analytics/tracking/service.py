"""The collector without its HTTP: configuration wired into a validator, a sink behind the batch
writer, a rate limiter and the collector's own metrics — and `accept`, what one request does.

`app.py` puts HTTP in front of it; `cli/collect.py` runs it; the SDK's SQL destination uses
`Pipeline` alone (validate, pseudonymize, write) in the app's own process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apercite_analytics.config.collector import CollectorSettings
from apercite_analytics.config.settings import Settings
from apercite_analytics.dictionary.definitions import Dictionary
from apercite_analytics.errors import AnalyticsError, ConfigError
from apercite_analytics.files import write_atomic
from apercite_analytics.tracking import useragents
from apercite_analytics.tracking.pseudonymize import load_key, network
from apercite_analytics.tracking.ratelimit import RateLimiter
from apercite_analytics.tracking.selfmetrics import CollectorMetrics
from apercite_analytics.tracking.sql_sink import SQLSink
from apercite_analytics.tracking.validation import Refused, Validator, decode
from apercite_analytics.tracking.writer import BatchWriter
from apercite_analytics.window import parse_duration, utcnow

log = logging.getLogger("apercite_analytics")
METRICS_EVERY = 60.0  # seconds between writes of the collector's own metrics


def pipeline(settings: Settings, dictionary: Dictionary | None, *, init: bool = False) -> tuple[Validator, SQLSink]:
    """The validator (definitions + key) and the SQL sink that `[collector]` describes."""
    collector: CollectorSettings | None = settings.collector
    if collector is None:
        raise ConfigError(f"{settings.path or 'the config'}: no [collector] section (see docs/tracking.md)")
    if dictionary is None or not dictionary.events:
        raise ConfigError("dictionary: no event definitions (a file with `events:` in the dictionary folder)")
    validator = Validator(
        dictionary.events,
        load_key(collector),
        max_past=parse_duration(collector.max_past, "collector.max_past", "mhd"),
        max_future=parse_duration(collector.max_future, "collector.max_future", "mhd"),
        max_events=collector.max_events,
    )
    return validator, SQLSink(collector.url or settings.store.url, init=init)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, Any]


class Collector:
    """One running collector: `accept` a request's body, `close` to flush everything."""

    def __init__(
        self,
        settings: Settings,
        dictionary: Dictionary,
        *,
        init: bool = False,
        metrics_every: float = 0,
        publish: Callable[[dict], None] | None = None,
        worker: int | None = None,
    ):
        """`publish`: a worker's way to hand its metrics' snapshot to the parent, which writes them;
        `worker`: its number, shown by /health."""
        self.settings, self.config, self.publish, self.worker = settings, settings.collector, publish, worker
        self.validator, self.sink = pipeline(settings, dictionary, init=init)
        self.metrics = CollectorMetrics()
        self.limiter = RateLimiter(self.config.rate_limit, self.config.burst)
        self.writer = BatchWriter(
            self.sink.write,
            batch_size=self.config.batch_size,
            flush_every=self.config.flush_every,
            queue_size=self.config.queue_size,
            on_written=self._written,
            on_dropped=lambda n: self.metrics.count("dropped", n),
        )
        self._stop = threading.Event()
        self._reporter = threading.Thread(
            target=self._report_every, args=(metrics_every or METRICS_EVERY,), name="apercite-collector-metrics"
        )
        self._reporter.daemon = True
        self._reporter.start()

    def _written(self, events: int, bad: int) -> None:
        self.metrics.count("accepted", events)
        self.metrics.count("bad", bad)

    def refuse(self, status: int, message: str) -> Answer:
        self.metrics.count("refused", status=status)
        return Answer(status, {"error": message})

    def accept(self, body: bytes, client: str, user_agent: str | None, started: float) -> Answer:
        """Validate and queue one batch; the answer says how many events were queued and refused."""
        try:
            document = decode(body)
            browser, system = useragents.reduce(user_agent)
            context = {"browser": browser, "os": system}
            if self.config.ip == "truncate":
                context["network"] = network(client)
            verdict = self.validator.batch(document, utcnow(), context)
        except Refused as exc:
            return self.refuse(exc.status, str(exc))
        self.metrics.count("sdk_dropped", verdict.sender_dropped)
        if not self.writer.offer(verdict.events, verdict.bad):
            self.metrics.count("dropped", len(verdict.events) + len(verdict.bad))
            return Answer(503, {"error": "the collector's queue is full: try again later"})
        self.metrics.latency(time.monotonic() - started)
        reasons = sorted({b.reason for b in verdict.bad})[:10]
        return Answer(202, {"accepted": len(verdict.events), "bad": len(verdict.bad), "reasons": reasons})

    def healthy(self) -> Answer:
        pending = self.writer.pending()
        ok = self.writer.alive() and self._reporter.is_alive() and pending < self.config.queue_size * 0.9
        body: dict[str, Any] = {"status": "ok" if ok else "busy", "queued": pending}
        if self.worker is not None:
            body["worker"] = self.worker
        return Answer(200 if ok else 503, body)

    def report(self) -> None:
        """Write the collector's own metrics into the store and the textfile (errors logged, not raised),
        or, in a worker, hand them to the parent."""
        if self.publish is not None:
            self.publish(self.metrics.snapshot(self.writer.pending()))
        else:
            write_metrics(self.settings, self.metrics, self.writer.pending())

    def _report_every(self, seconds: float) -> None:
        while not self._stop.wait(seconds):
            self.report()

    def close(self) -> None:
        """Graceful shutdown: write every queued event, then the final metrics."""
        self.writer.close()
        self._stop.set()
        self._reporter.join(5)
        self.report()
        self.sink.close()
        if self.publish is None:  # a worker's parent says it for all of them
            stopped(self.metrics)


def write_metrics(settings: Settings, metrics: CollectorMetrics, pending: int) -> None:
    """The collector's own metrics into the store and the textfile (errors logged, not raised)."""
    from apercite_analytics.store.handle import Store

    monitoring = settings.monitoring
    if monitoring.store:
        try:
            with Store(settings.store.url) as store:
                store.prepare()
                store.values().upsert("hourly", metrics.hourly_values())
        except AnalyticsError as exc:
            log.error("collector metrics: %s", exc)
    if monitoring.textfile:
        try:
            write_atomic(monitoring.textfile, metrics.textfile(pending))
        except OSError as exc:
            log.error("monitoring.textfile: cannot write %s: %s", monitoring.textfile, exc.strerror or exc)


def stopped(metrics: CollectorMetrics) -> None:
    totals = metrics.totals
    log.info(
        "collector stopped: %d events accepted, %d bad, %d dropped, %d requests refused",
        totals["accepted"],
        totals["bad"],
        totals["dropped"],
        totals["refused"],
    )
