"""`json`: numbers from JSON documents (a file or an HTTP URL), such as a Service Ping usage payload.

    [readers.json.documents.usage]
    url = "https://app.example.com/api/usage"    # or path = "usage.json" (relative to the config file's folder)
    prefix = "usage"                             # default: the document's name; "" for none
    date_field = "recorded_at"                   # dotted path to an ISO date/time; default: the run time
    granularity = "day"                          # "day" (default, like Service Ping) or "hour"

Nested objects flatten into dotted names: `{"counts": {"issues": 3}}` → `usage.counts.issues`. A
key that holds dots is split at them (`{"users.7d": 9}` → `users.7d`), so the `export` payload
reads back to the same names; each part is sanitised like any label (`readers/common/naming.py`:
`"Merge Requests"` → `merge_requests`). Integers and floats are kept; everything else — strings,
booleans (not numbers), nulls and lists (no rule turns a list into one number) — is skipped,
counted, and named in one log line. Two keys that give one name fail the document.

The values are dated by `date_field` (a date, or a date-time converted to UTC) or else by the
run's time: the UTC day (daily) or hour (hourly). HTTP: GET within `timeout` seconds in all (a
server dripping its answer fails at that deadline), and up to `retries` more attempts, `backoff`
apart (doubling, at most `max_backoff`), on connection errors, timeouts, 429 and 5xx.
Documents larger than 64 MiB are refused.

(This module is named after the reader; `import json` below is the standard library's: imports
are absolute.)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from http.client import HTTPException
from pathlib import Path
from typing import Any, Literal

from apercite_analytics import __version__
from apercite_analytics.config.secrets import mask_url, scrub
from apercite_analytics.config.settings import (
    SourceSettings,
    check_credentials,
    check_name,
    check_retries,
    check_seconds,
)
from apercite_analytics.errors import ConfigError, SourceError, excerpt, shorten
from apercite_analytics.readers.common import http
from apercite_analytics.readers.common.naming import name_part
from apercite_analytics.readers.common.retry import policy, with_retries
from apercite_analytics.record import check_name as check_metric_name
from apercite_analytics.window import Window, to_utc

BACKFILL = False
MAX_BYTES = 64 * 1024 * 1024
SHOWN_SKIPPED = 5
MAX_DEPTH = 100  # levels of nested objects: deeper is no usage payload (and Python's recursion ends near 1,000)
log = logging.getLogger("apercite_analytics")


@dataclass(frozen=True)
class Document:
    """`[readers.json.documents.<name>]`: one of `path` / `url`, and how to read it."""

    path: str | None = None
    url: str | None = None
    prefix: str | None = None
    date_field: str | None = None
    granularity: Literal["day", "hour"] = "day"
    timeout: float = 30.0
    retries: int = 2
    backoff: float = 1.0
    max_backoff: float = 60.0
    headers: dict[str, str] = field(default_factory=dict)

    def name_prefix(self, name: str) -> str:
        return name if self.prefix is None else self.prefix


@dataclass(frozen=True)
class Settings:
    """`[readers.json]`: the `documents` table."""

    documents: dict[str, Document] = field(default_factory=dict)


def check(settings: Settings, sources: Mapping[str, SourceSettings], where: str) -> None:
    if not settings.documents:
        raise ConfigError(f"{where}.documents: define at least one document ([{where}.documents.<name>])")
    for name, document in settings.documents.items():
        key = f"{where}.documents.{name}"
        check_name(name, key)
        if (document.path is None) == (document.url is None):
            raise ConfigError(f"{key}: set exactly one of `path` (a file) or `url` (http:// or https://)")
        if document.url is not None and not document.url.startswith(("http://", "https://")):
            raise ConfigError(f"{key}.url: must start with http:// or https://")
        if document.url is not None:
            check_credentials(document.url, f"{key}.url")
        prefix = document.name_prefix(name)
        reason = check_metric_name(prefix) if prefix else None
        if reason:
            raise ConfigError(f"{key}.prefix: {reason}")
        if document.date_field is not None and not all(document.date_field.split(".")):
            raise ConfigError(f"{key}.date_field: expected a dotted path like 'meta.recorded_at'")
        check_seconds(document.timeout, f"{key}.timeout")
        check_retries(document.retries, document.backoff, document.max_backoff, key)


def flatten(document: Mapping, prefix: str = "", skip: str | None = None) -> tuple[dict[str, Any], list[str]]:
    """Numbers of a nested object by dotted name, and the dotted paths skipped (`path (kind)`).

    `skip` is a dotted path left out silently (the date field). Raises ValueError when two keys
    give one name.
    """
    metrics: dict[str, Any] = {}
    origin: dict[str, str] = {}
    skipped: list[str] = []

    def walk(node: Mapping, parts: list[str], path: str) -> None:
        if len(parts) > MAX_DEPTH:
            raise ValueError(f"objects nested deeper than {MAX_DEPTH} levels (at {excerpt(path)})")
        for key, value in node.items():
            raw = f"{path}.{key}" if path else str(key)
            if raw == skip:
                continue
            names = [*parts, *(name_part(p) for p in str(key).split("."))]
            if isinstance(value, Mapping):
                walk(value, names, raw)
            elif isinstance(value, int | float) and not isinstance(value, bool):
                name = ".".join(names)
                if name in origin:
                    raise ValueError(f"keys {origin[name]!r} and {raw!r} both give the metric name {name!r}")
                origin[name] = raw
                metrics[name] = value
            else:
                skipped.append(f"{raw} ({_kind(value)})")

    walk(document, prefix.split(".") if prefix else [], "")
    return metrics, skipped


def _kind(value: Any) -> str:
    return {str: "string", bool: "boolean", list: "list", type(None): "null"}.get(type(value), type(value).__name__)


class ReadDocument:
    """Fetches one document and yields its numbers as one record."""

    def __init__(self, name: str, document: Document, window: Window):
        self.__name__ = f"json.{name}"
        self.name = name
        self.document = document
        self.window = window

    @property
    def origin(self) -> str:
        return self.document.path if self.document.path is not None else mask_url(self.document.url or "")

    def __call__(self) -> Iterator[tuple[dict, dict]]:
        raw = self.fetch()
        try:
            document = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise SourceError(f"{self.origin}: not a JSON document: {exc}") from None
        except RecursionError:
            raise SourceError(f"{self.origin}: not readable: nested deeper than {MAX_DEPTH} levels") from None
        if not isinstance(document, dict):
            raise SourceError(f"{self.origin}: the document must be a JSON object, not {_kind(document)}")
        dims = self.dims(document)
        try:
            metrics, skipped = flatten(document, self.document.name_prefix(self.name), self.document.date_field)
        except ValueError as exc:
            raise SourceError(f"{self.origin}: {exc}") from None
        if skipped:
            # keys come from the document: shown short and escaped (a key cannot forge a log line)
            shown = ", ".join(shorten(path) for path in skipped[:SHOWN_SKIPPED])
            shown += ", …" if len(skipped) > SHOWN_SKIPPED else ""
            log.info(
                "%s: skipped %d value%s that are not numbers: %s",
                self.__name__,
                len(skipped),
                "s" * (len(skipped) != 1),
                shown,
            )
        if not metrics:
            raise SourceError(f"{self.origin}: no number in the document ({len(skipped)} other values skipped)")
        yield dims, metrics

    def dims(self, document: dict) -> dict:
        """The record's dims: from `date_field`, else the run's time."""
        hourly = self.document.granularity == "hour"
        field_path = self.document.date_field
        if field_path is None:
            moment = self.window.now
            return {"date": moment.date(), "hour": moment.hour} if hourly else {"date": moment.date()}
        node: Any = document
        for part in field_path.split("."):
            if not isinstance(node, dict) or part not in node:
                raise SourceError(f"{self.origin}: date_field {field_path!r} is not in the document")
            node = node[part]
        if not isinstance(node, str):
            raise SourceError(f"{self.origin}: date_field {field_path!r} is {_kind(node)}, not an ISO date or time")
        try:
            if len(node) == 10:
                day = date.fromisoformat(node)
                if hourly:
                    raise SourceError(
                        f"{self.origin}: date_field {field_path!r} is a date ({node}); hourly needs a time"
                    )
                return {"date": day}
            moment = to_utc(datetime.fromisoformat(node))
        except ValueError:
            raise SourceError(
                f"{self.origin}: date_field {field_path!r}: {node!r} is not an ISO date or time"
            ) from None
        return {"date": moment.date(), "hour": moment.hour} if hourly else {"date": moment.date()}

    def fetch(self) -> bytes:
        if self.document.path is not None:
            try:
                with open(Path(self.document.path).expanduser(), "rb") as file:
                    data = file.read(MAX_BYTES + 1)
            except OSError as exc:
                raise SourceError(f"{self.origin}: cannot read: {exc.strerror or exc}") from None
        else:
            data = self._get()
        if len(data) > MAX_BYTES:
            raise SourceError(f"{self.origin}: larger than {MAX_BYTES // 1024 // 1024} MiB")
        return data

    def _get(self) -> bytes:
        document = self.document
        headers = {"Accept": "application/json", "User-Agent": f"apercite-analytics/{__version__}", **document.headers}

        def get() -> bytes:  # `timeout` bounds the whole request, not each read (a dripping server)
            answer = http.get(document.url or "", headers=headers, timeout=document.timeout, max_bytes=MAX_BYTES)
            if answer.status >= 400:
                raise _HTTPStatus(answer.status, answer.reason)
            return answer.body

        try:
            data, _ = with_retries(get, **policy(document), retryable=_retryable)
            return data
        except _HTTPStatus as exc:
            problem = f"HTTP {exc.status} {exc.reason}"
            if not _retryable(exc):
                raise SourceError(scrub(f"GET {self.origin}: {problem}")) from None
            attempts = exc.attempts  # type: ignore[attr-defined]
        except (OSError, HTTPException) as exc:
            problem = f"timed out after {document.timeout:g} s" if isinstance(exc, TimeoutError) else str(exc)
            attempts = exc.attempts  # type: ignore[attr-defined]
        tries = f" (after {attempts} attempts)" if attempts > 1 else ""
        raise SourceError(scrub(f"GET {self.origin}: {problem}{tries}"))


class _HTTPStatus(Exception):
    def __init__(self, status: int, reason: str):
        super().__init__(status, reason)
        self.status, self.reason = status, reason


def _retryable(exc: BaseException) -> bool:
    """Connection errors, timeouts, broken answers, 429 and 5xx are worth another try; other HTTP
    answers are not."""
    if isinstance(exc, _HTTPStatus):
        return exc.status == 429 or exc.status >= 500
    return isinstance(exc, OSError | HTTPException)


def chains(settings: Settings, window: Window) -> dict[str, list]:
    return {f"json.{name}": [ReadDocument(name, document, window)] for name, document in settings.documents.items()}
