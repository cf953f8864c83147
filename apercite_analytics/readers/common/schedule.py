"""`every = "1d"`: run an expensive chain at most once per period, whatever the hourly job does.

Periods are aligned on UTC (`1d` is the UTC day, `6h` starts at 00:00, 06:00, …; any duration counts
from the Unix epoch). After a run in a period, the chain's watermark (`reader_state`, key = the
chain's name without the reader) holds the start of the next period: runs before it skip the chain
(a debug line, 0 records), the first run at or after it runs it and moves the watermark on.
Like every watermark it is saved only when the chain and the writers succeeded, so a failed run is
retried by the next run. The run's clock is `--until` when given (so Airflow's hourly intervals
and tests drive it), else now. Without `--write` nothing is remembered and the chain always runs;
naming the chain (`read sql.<query>`) runs it now and leaves its schedule alone.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

from apercite_analytics.window import Window, parse_duration

log = logging.getLogger("apercite_analytics")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def check_every(text: str, where: str) -> timedelta:
    return parse_duration(text, where)


def next_due(moment: datetime, every: timedelta) -> datetime:
    """The start of the period after the one `moment` is in."""
    periods = (moment - EPOCH) // every
    return EPOCH + (periods + 1) * every


class Scheduled:
    """Wraps a chain's first node: runs it only when due (see the module docstring)."""

    def __init__(self, inner: Callable, reader: str, key: str, every: str, window: Window):
        self.inner, self.reader, self.key, self.every_text = inner, reader, key, every
        self.every = check_every(every, "every")
        self.clock = min(window.until or window.now, window.now)
        self.__name__ = getattr(inner, "__name__", key)
        self._wants = set(inspect.signature(inner).parameters)

    def __call__(self, *, sources, state) -> Iterator:
        due = state.get(self.reader, self.key)
        if due is not None and self.clock < due:
            log.debug(
                "%s: runs every %s; not due before %s UTC, skipped",
                self.__name__,
                self.every_text,
                f"{due:%Y-%m-%d %H:%M}",
            )
            return
        services = {"sources": sources, "state": state}
        yield from self.inner(**{k: v for k, v in services.items() if k in self._wants})
        state.advance(self.reader, self.key, next_due(self.clock, self.every))
