"""The tracking SDK: `tracker.track("signup", user_id=…, duration_ms=…, properties={…})` from inside
the product. It runs in the host application, so it promises two things above all:

* **It never raises into the app and never blocks it.** `track()` only appends to a bounded
  in-memory queue (a lock, a deque: about a microsecond); a background thread sends batches, by
  size (`batch_size`) and by time (`flush_every`). When the queue is full or the destination
  fails, events are dropped and counted (`stats()`), with one warning a minute at most; the
  count of drops travels with the next batch so the collector stores it (`collector.sdk.dropped`).
* **It survives `fork`.** gunicorn and uwsgi fork workers after the app is imported: a child
  starts with an empty queue of its own and its own thread and connection (events queued
  before the fork are the parent's to send). At exit the queue is flushed, for `exit_timeout`
  seconds at most.

Two destinations: `HTTPDestination` (the collector; this module imports only the standard
library, nothing heavy lands in the app) and `SQLDestination` (validate, pseudonymize and write
straight into a database with the collector's own code, imported when it is created).
"""

from __future__ import annotations

import atexit
import http.client
import json
import logging
import os
import threading
import time
import weakref
from collections import deque
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urlsplit

log = logging.getLogger("apercite_analytics.tracking")
VERSION = 1
_trackers: weakref.WeakSet[Tracker] = weakref.WeakSet()


class Destination(Protocol):
    def send(self, events: list[dict[str, Any]], dropped: int) -> None:
        """Deliver one batch (raise anything on failure: the batch is then dropped and counted)."""

    def after_fork(self) -> None:
        """Forget connections inherited from the parent process."""


class HTTPDestination:
    """POSTs batches (JSON, schema version 1) to the collector's `/v1/events`, on one kept-alive connection."""

    def __init__(self, url: str, timeout: float = 2.0, headers: dict[str, str] | None = None):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"collector URL must be http(s)://host[:port], got {url!r}")
        self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port
        self.path = (parts.path.rstrip("/") or "") + "/v1/events"
        self.timeout = timeout
        self.headers = {"Content-Type": "application/json", "User-Agent": "apercite-sdk/python", **(headers or {})}
        self._connection: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self._connection is None:
            kind = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
            self._connection = kind(self.host, self.port, timeout=self.timeout)
        return self._connection

    def send(self, events: list[dict[str, Any]], dropped: int) -> None:
        body = json.dumps({"version": VERSION, "dropped": dropped, "events": events}, default=str).encode()
        connection = self._connect()
        try:
            connection.request("POST", self.path, body, self.headers)
            response = connection.getresponse()
            response.read()
        except Exception:
            connection.close()
            self._connection = None
            raise
        if response.status != 202:
            raise RuntimeError(f"collector answered HTTP {response.status}")

    def after_fork(self) -> None:
        self._connection = None  # the parent's socket: never write to it from the child


class SQLDestination:
    """Validates, pseudonymizes and writes batches straight into `[collector] url` (no collector
    process): the collector's own pipeline, configured by the same config file."""

    def __init__(self, config: str | None = None):
        from apercite_analytics.config import load
        from apercite_analytics.dictionary import definitions
        from apercite_analytics.tracking.service import pipeline

        settings = load.load(config)
        self.validator, self.sink = pipeline(settings, definitions.configured(settings))

    def send(self, events: list[dict[str, Any]], dropped: int) -> None:
        verdict = self.validator.batch({"version": VERSION, "dropped": dropped, "events": events}, datetime.now(UTC))
        self.sink.write(verdict.events, verdict.bad)

    def after_fork(self) -> None:
        self.sink.engine.dispose(close=False)  # the child opens its own connections


class Tracker:
    """One queue and one sending thread per process; use one Tracker per app."""

    def __init__(
        self,
        destination: Destination,
        *,
        queue_size: int = 10_000,
        batch_size: int = 100,
        flush_every: float = 1.0,
        exit_timeout: float = 2.0,
        warn_every: float = 60.0,
    ):
        self.destination = destination
        self.queue_size, self.batch_size, self.flush_every = queue_size, batch_size, flush_every
        self.exit_timeout, self.warn_every = exit_timeout, warn_every
        self._start_fresh()
        _trackers.add(self)

    @classmethod
    def http(cls, url: str, **options: Any) -> Tracker:
        """A tracker sending to the collector at `url` (e.g. http://collector:8787)."""
        timeout = options.pop("timeout", 2.0)
        return cls(HTTPDestination(url, timeout=timeout), **options)

    def _start_fresh(self) -> None:
        """Empty queue, zero counts, no thread yet (also what a forked child gets)."""
        self._queue: deque[tuple] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._idle = threading.Event()
        self._idle.set()
        self._thread: threading.Thread | None = None
        self._closed = False
        self._tracked = self._sent = self._dropped_full = self._dropped_failed = 0
        self._unreported = 0  # drops not yet told to the collector
        self._last_warning = 0.0
        self._last_error = ""

    def track(
        self,
        name: str,
        *,
        user_id: str | int | None = None,
        duration_ms: float | None = None,
        properties: dict[str, Any] | None = None,
        at: datetime | None = None,
    ) -> bool:
        """Queue one event; False when it was dropped (queue full, tracker closed). Never raises."""
        try:
            item = (
                name,
                time.time() if at is None else at,
                user_id,
                duration_ms,
                dict(properties) if properties else None,
            )
            with self._lock:
                self._tracked += 1
                if self._closed or len(self._queue) >= self.queue_size:
                    self._dropped_full += 1
                    self._unreported += 1
                    queued = -1
                else:
                    self._queue.append(item)
                    queued = len(self._queue)
                    self._idle.clear()
            if self._thread is None:
                self._start_thread()
            if queued >= self.batch_size:
                self._wake.set()
            elif queued < 0:
                self._warn()
            return queued > 0
        except Exception:  # noqa: BLE001 — whatever happens, the app goes on
            return False

    def stats(self) -> dict[str, int]:
        """Counts since start (or since the fork): tracked, sent, dropped (queue full / destination failed), queued."""
        with self._lock:
            return {
                "tracked": self._tracked,
                "sent": self._sent,
                "dropped_queue_full": self._dropped_full,
                "dropped_send_failed": self._dropped_failed,
                "dropped": self._dropped_full + self._dropped_failed,
                "queued": len(self._queue),
            }

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait up to `timeout` seconds until everything queued was sent or dropped; True if it was."""
        if self._thread is None:
            return not self._queue
        self._wake.set()
        return self._idle.wait(timeout)

    def close(self, timeout: float | None = None) -> None:
        """Send what is queued (at most `timeout`, default `exit_timeout`), then drop and count the rest."""
        timeout = self.exit_timeout if timeout is None else timeout
        self.flush(timeout)
        with self._lock:
            self._closed = True
            left = len(self._queue)
            self._queue.clear()
            self._dropped_failed += left
            self._idle.set()
        self._wake.set()

    def _start_thread(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="apercite-tracker", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self.flush_every)
            self._wake.clear()
            while self._send_batch():
                pass

    def _send_batch(self) -> bool:
        """Send one batch; True if a full batch went (there may be more)."""
        with self._lock:
            batch = [self._queue.popleft() for _ in range(min(self.batch_size, len(self._queue)))]
            dropped, self._unreported = self._unreported, 0
            if not batch:
                self._idle.set()
                self._unreported = dropped
                return False
        events = []
        for item in batch:  # an unusable `at` costs its own event, not the batch
            try:
                events.append(_as_json(item))
            except Exception:  # noqa: BLE001
                dropped += 1
                with self._lock:
                    self._dropped_failed += 1
        if not events:
            with self._lock:
                self._unreported += dropped
                if not self._queue:
                    self._idle.set()
                return bool(self._queue)
        batch = events
        try:
            self.destination.send(events, dropped)
        except Exception as exc:  # noqa: BLE001 — a failing destination costs this batch, nothing more
            with self._lock:
                self._dropped_failed += len(batch)
                self._unreported += dropped + len(batch)
                self._last_error = type(exc).__name__ if not isinstance(exc, RuntimeError) else str(exc)
                if not self._queue:
                    self._idle.set()
            self._warn()
            return False
        with self._lock:
            self._sent += len(batch)
            if not self._queue:
                self._idle.set()
        return len(batch) == self.batch_size

    def _warn(self) -> None:
        now = time.monotonic()
        if now - self._last_warning < self.warn_every:
            return
        self._last_warning = now
        counts = self.stats()
        log.warning(
            "apercite tracking: %d events dropped so far (%d queue full, %d send failed%s)",
            counts["dropped"],
            counts["dropped_queue_full"],
            counts["dropped_send_failed"],
            f": {self._last_error}" if self._last_error else "",
        )

    def _after_fork(self) -> None:
        self._start_fresh()
        self.destination.after_fork()


def _as_json(item: tuple) -> dict[str, Any]:
    name, at, user_id, duration_ms, properties = item
    if isinstance(at, datetime):
        moment = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)  # naive: taken as UTC
        stamp = moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    elif isinstance(at, str):
        stamp = at  # RFC 3339 already, or the collector says why not (bad_event)
    else:
        stamp = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    event: dict[str, Any] = {"name": name, "at": stamp}
    if user_id is not None:
        event["user_id"] = user_id
    if duration_ms is not None:
        event["duration_ms"] = duration_ms
    if properties:
        event["properties"] = properties
    return event


def _after_fork_in_child() -> None:
    for tracker in list(_trackers):
        tracker._after_fork()


def _close_all() -> None:
    for tracker in list(_trackers):
        tracker.close()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_close_all)
