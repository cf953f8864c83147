"""The one retry loop, for databases, HTTP APIs and GA alike.

Every retrying section of the config spells it the same way: `retries` (attempts after the first),
`backoff` (seconds before the first retry, doubled each time) and `max_backoff` (the longest wait).
Only errors the caller calls transient are retried; anything else is raised at once.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def with_retries(
    call: Callable[[], T],
    *,
    retries: int,
    backoff: float,
    retryable: Callable[[BaseException], bool],
    max_backoff: float = math.inf,
    on_retry: Callable[[BaseException, float], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[T, int]:
    """`call()` and the number of attempts it took; retried up to `retries` times when `retryable(exc)`,
    waiting `backoff`, then twice as long each time, at most `max_backoff` (`on_retry(exc, delay)` is
    told before each wait). The last exception is raised with `attempts` and `waited` (seconds) set on it."""
    attempt, waited = 0, 0.0
    while True:
        attempt += 1
        try:
            return call(), attempt
        except Exception as exc:
            if attempt > retries or not retryable(exc):
                exc.attempts = attempt  # type: ignore[attr-defined]
                exc.waited = waited  # type: ignore[attr-defined]
                raise
            delay = min(backoff * 2 ** (attempt - 1), max_backoff)
            if on_retry is not None:
                on_retry(exc, delay)
        sleep(delay)
        waited += delay


def policy(settings: Any) -> dict[str, Any]:
    """A config section's `retries`, `backoff` and `max_backoff`, as `with_retries` keywords."""
    return {"retries": settings.retries, "backoff": settings.backoff, "max_backoff": settings.max_backoff}
