"""Between the HTTP handlers and the sink: a bounded queue and one thread that writes batches.

A request is answered once its events are validated and queued, not once they are in the
database: a slow or restarting database then costs memory up to `queue_size` events, not
requests piling up in the server. The thread writes `batch_size` events at a time, or what is
there every `flush_every` seconds, each batch in one transaction, retried (the one retry loop,
`readers/common/retry.py`) and then dropped and counted if the database stays down. `close()`
writes everything still queued: that is the graceful shutdown.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from apercite_analytics.readers.common.retry import with_retries
from apercite_analytics.tracking.sinks import SinkError, StoredEvent
from apercite_analytics.tracking.validation import BadRow

log = logging.getLogger("apercite_analytics")


class BatchWriter:
    """Queues events and bad rows; `write(events, bad)` is the sink's, called from one thread only."""

    def __init__(
        self,
        write: Callable[[Sequence[StoredEvent], Sequence[BadRow]], None],
        *,
        batch_size: int,
        flush_every: float,
        queue_size: int,
        on_written: Callable[[int, int], None],
        on_dropped: Callable[[int], None],
        retries: int = 3,
        backoff: float = 0.5,
    ):
        self._write, self.batch_size, self.flush_every, self.queue_size = write, batch_size, flush_every, queue_size
        self.on_written, self.on_dropped = on_written, on_dropped
        self.retries, self.backoff = retries, backoff
        self._events: deque[StoredEvent] = deque()
        self._bad: deque[BadRow] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name="apercite-collector-writer", daemon=True)
        self._thread.start()

    def offer(self, events: Sequence[StoredEvent], bad: Sequence[BadRow]) -> bool:
        """Queue one request's rows, all or none: False (nothing queued) when they do not fit."""
        with self._lock:
            if self._closing or len(self._events) + len(self._bad) + len(events) + len(bad) > self.queue_size:
                return False
            self._events.extend(events)
            self._bad.extend(bad)
            full = len(self._events) + len(self._bad) >= self.batch_size
        if full:
            self._wake.set()
        return True

    def alive(self) -> bool:
        return self._thread.is_alive()

    def pending(self) -> int:
        with self._lock:
            return len(self._events) + len(self._bad)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued (the graceful shutdown) and stop the thread."""
        with self._lock:
            self._closing = True
        self._wake.set()
        self._thread.join(timeout)

    def _take(self) -> tuple[list[StoredEvent], list[BadRow]]:
        with self._lock:
            events = [self._events.popleft() for _ in range(min(self.batch_size, len(self._events)))]
            room = max(self.batch_size - len(events), 0)
            bad = [self._bad.popleft() for _ in range(min(room, len(self._bad)))]
            return events, bad

    def _run(self) -> None:
        while True:
            self._wake.wait(self.flush_every)
            self._wake.clear()
            while True:
                events, bad = self._take()
                if not events and not bad:
                    break
                self._flush(events, bad)
                if len(events) + len(bad) < self.batch_size and not self._closing:
                    break  # a partial batch: wait for more rather than spin
            if self._closing and not self.pending():
                return

    def _flush(self, events: list[StoredEvent], bad: list[BadRow]) -> None:
        started = time.monotonic()

        def retry(exc: BaseException, delay: float) -> None:
            log.warning("%s (retrying in %.1f s)", exc, delay)

        try:
            with_retries(
                lambda: self._write(events, bad),
                retries=0 if self._closing else self.retries,
                backoff=self.backoff,
                max_backoff=10.0,
                retryable=lambda exc: isinstance(exc, SinkError),
                on_retry=retry,
            )
        except SinkError as exc:
            log.error("%s: %d events and %d bad events dropped", exc, len(events), len(bad))
            self.on_dropped(len(events) + len(bad))
            return
        except Exception as exc:  # noqa: BLE001 — a bug must not kill the thread that writes everything
            log.error("collector writer: unexpected %s: %d events dropped", type(exc).__name__, len(events) + len(bad))
            self.on_dropped(len(events) + len(bad))
            return
        log.debug("wrote %d events, %d bad in %.3f s", len(events), len(bad), time.monotonic() - started)
        self.on_written(len(events), len(bad))
