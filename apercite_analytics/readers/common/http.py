"""URLs with credentials, for readers of HTTP APIs (retries: `retry.py`)."""

from __future__ import annotations

from urllib.parse import unquote, urlsplit, urlunsplit


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
