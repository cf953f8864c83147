"""HTTP helpers for readers of HTTP APIs: URLs with credentials, and retries with exponential backoff."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import unquote, urlsplit, urlunsplit

T = TypeVar("T")


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """`http://u:p@host/x` → (`http://host/x`, ("u", "p")): the URL to request, and basic auth."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.netloc.rpartition("@")[2]
    bare = urlunsplit(parts._replace(netloc=host))
    return bare, (unquote(parts.username or ""), unquote(parts.password or ""))


def mask_credentials(url: str) -> str:
    """`http://u:secret@host/x` → `http://u:***@host/x` (a user alone is kept, a password never)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


def with_retries(
    call: Callable[[], T],
    *,
    retries: int,
    backoff: float,
    retryable: Callable[[BaseException], bool],
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[T, int]:
    """`call()` and the number of attempts it took; retried up to `retries` times when `retryable(exc)`,
    waiting `backoff`, then twice as long each time. The last exception is raised with `attempts` set on it."""
    attempt = 0
    while True:
        attempt += 1
        try:
            return call(), attempt
        except Exception as exc:
            if attempt > retries or not retryable(exc):
                exc.attempts = attempt  # type: ignore[attr-defined]
                raise
        sleep(backoff * 2 ** (attempt - 1))
