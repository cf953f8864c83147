"""A batch as sent (schema version 1) into stored events and bad events: the collector's one rule book.

    {"version": 1,
     "dropped": 0,                          # optional: events the sender dropped since its last batch
     "events": [{"name": "signup",          # a defined event (dictionary, events:)
                 "at": "2026-12-01T08:00:00.125Z",   # optional, RFC 3339 with an offset; default: now
                 "user_id": "42",           # optional, text or integer; stored as its pseudonym
                 "duration_ms": 812.5,      # only for events with `duration: true`
                 "properties": {"plan": "pro"}}]}

A batch that is not this shape is refused whole (`Refused`, a 4xx naming what is wrong, counted).
An event that breaks a rule — unknown name, a property of the wrong type, a duration on an event
without one, a time too far in the past or the future — becomes a `BadRow` with the reason (the
`bad_event` table), never dropped silently. Properties the definition does not list are dropped.

Nothing raw is kept, in good rows or bad: user ids and unkept properties are pseudonymized, and a
bad row keeps each property's JSON type, never its value. Reasons name keys and types, never values.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from apercite_analytics.dictionary.events import NAME, EventDefinition
from apercite_analytics.tracking.pseudonymize import Pseudonymizer
from apercite_analytics.tracking.sinks import StoredEvent

VERSION = 1
MAX_USER_ID = 256  # characters of a user id as sent
CONTEXT = ("browser", "os", "network")  # filled in by the collector, for events that list them
_JSON_TYPES = {str: "string", bool: "boolean", int: "integer", float: "number", list: "array", dict: "object"}


class Refused(Exception):  # noqa: N818 — a verdict, not a failure of ours
    """A request refused whole: `status` (400, 413) and a message naming what is wrong."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class BadRow:
    """A refused event, as the `bad_event` table keeps it."""

    reason: str
    received_at: datetime
    key_id: str
    name: str | None = None
    created_at: datetime | None = None
    user_id: str | None = None
    types: dict[str, str] = field(default_factory=dict)


@dataclass
class Verdict:
    """What one batch gave: events to store, bad rows, and the sender's own drop count."""

    events: list[StoredEvent] = field(default_factory=list)
    bad: list[BadRow] = field(default_factory=list)
    sender_dropped: int = 0


def json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), "null" if value is None else type(value).__name__)


def decode(body: bytes) -> Any:
    """The JSON document of a request body; malformed or too deeply nested JSON is refused (400)."""
    try:
        return json.loads(body, parse_constant=_not_json)
    except RecursionError:
        raise Refused(400, "JSON nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise Refused(400, f"malformed JSON: {str(exc).split(':')[0]}") from None


def _not_json(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")  # Python's json reads NaN and Infinity; no one else does


class Validator:
    """Checks batches against the event definitions and pseudonymizes what it keeps."""

    def __init__(
        self,
        events: Mapping[str, EventDefinition],
        pseudonymize: Pseudonymizer,
        *,
        max_past: timedelta,
        max_future: timedelta,
        max_events: int,
    ):
        self.definitions = events
        self.pseudonymize = pseudonymize
        self.max_past, self.max_future, self.max_events = max_past, max_future, max_events

    def batch(self, document: Any, received_at: datetime, context: Mapping[str, str | None] | None = None) -> Verdict:
        """Every event of a decoded batch, judged; `context` holds the collector's own fields (browser, …)."""
        if not isinstance(document, dict):
            raise Refused(400, f"expected a JSON object with version and events, got {json_type(document)}")
        version = document.get("version")
        if version != VERSION:
            raise Refused(400, f"version: expected {VERSION}, got {json_type(version)} {version!r}"[:120])
        events = document.get("events")
        if not isinstance(events, list):
            raise Refused(400, f"events: expected an array, got {json_type(events)}")
        if len(events) > self.max_events:
            raise Refused(413, f"events: {len(events)} in one request, at most {self.max_events}")
        dropped = document.get("dropped", 0)
        if not isinstance(dropped, int) or isinstance(dropped, bool) or not 0 <= dropped <= 10**9:
            raise Refused(400, "dropped: expected a count (an integer, 0 or more)")
        verdict = Verdict(sender_dropped=dropped)
        for index, event in enumerate(events):
            result = self.event(event, received_at, context or {}, index)
            (verdict.events if isinstance(result, StoredEvent) else verdict.bad).append(result)
        return verdict

    def event(
        self, event: Any, received_at: datetime, context: Mapping[str, str | None], index: int = 0
    ) -> StoredEvent | BadRow:
        """One event: a StoredEvent, or a BadRow saying why not."""
        if not isinstance(event, dict):
            return BadRow(f"events[{index}]: expected an object, got {json_type(event)}", received_at, self.key_id)
        name = event.get("name")
        definition = self.definitions.get(name) if isinstance(name, str) else None  # a defined name is a valid one
        if definition is None:
            return self._bad(event, name, self._name_problem(name), received_at)
        created, problem = self._moment(event.get("at"), received_at)
        if problem:
            return self._bad(event, name, problem, received_at, created)
        user, problem = self._user(event.get("user_id"))
        if problem:
            return self._bad(event, name, problem, received_at, created)
        duration = event.get("duration_ms")
        if duration is not None:
            duration, problem = _duration(duration, definition)
            if problem:
                return self._bad(event, name, problem, received_at, created, user)
        sent = event.get("properties")
        if sent is None:
            sent = {}
        elif not isinstance(sent, dict):
            problem = f"properties: expected an object, got {json_type(sent)}"
            return self._bad(event, name, problem, received_at, created, user)
        kept: dict[str, Any] = {}
        for key, spec in definition.properties.items():
            value = context.get(key) if key in CONTEXT else sent.get(key)
            if value is None:
                continue
            if not spec.accepts(value):
                got = json_type(value)  # the same type: a number too large for a double (`1e999`)
                problem = f"properties.{key}: expected {spec.type}, got {got if got != spec.type else 'infinity'}"
                return self._bad(event, name, problem, received_at, created, user)
            kept[key] = value if spec.keep else self.pseudonymize(value)
        return StoredEvent(name, created, user, duration, self.key_id, received_at, kept)

    def _name_problem(self, name: Any) -> str:
        if not isinstance(name, str):
            return f"name: expected a string, got {json_type(name)}"
        if not NAME.match(name):
            return "name: not an event name (a-z, 0-9 and _, starting with a letter, at most 100)"
        return f"unknown event {name!r} (not in the event definitions)"

    def _bad(
        self,
        event: dict,
        name: Any,
        reason: str,
        received_at: datetime,
        created: datetime | None = None,
        user: str | None = None,
    ) -> BadRow:
        """A refused event as kept: its name only if it is a name, its user's pseudonym, its properties' types."""
        shown = name if isinstance(name, str) and (name in self.definitions or NAME.match(name)) else None
        if user is None:
            user, _ = self._user(event.get("user_id"))
        sent = event.get("properties")
        types = {}  # the JSON types of what was sent; keys that are no property name are left out: they may be data
        if isinstance(sent, dict):
            types = {k: json_type(v) for k, v in sent.items() if isinstance(k, str) and NAME.match(k)}
        return BadRow(reason, received_at, self.key_id, shown, created, user, types)

    @property
    def key_id(self) -> str:
        return self.pseudonymize.key_id

    def _user(self, value: Any) -> tuple[str | None, str | None]:
        """(pseudonym or None, problem or None): a user id is text or an integer."""
        if value is None or value == "":
            return None, None
        if isinstance(value, bool) or not isinstance(value, str | int):
            return None, f"user_id: expected a string or an integer, got {json_type(value)}"
        if isinstance(value, str) and len(value) > MAX_USER_ID:
            return None, f"user_id: longer than {MAX_USER_ID} characters"
        return self.pseudonymize(value), None

    def _moment(self, value: Any, received_at: datetime) -> tuple[datetime | None, str | None]:
        if value is None:
            return received_at, None
        if not isinstance(value, str) or len(value) > 40:
            return None, f"at: expected an RFC 3339 time with an offset, got {json_type(value)}"
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None, "at: not an RFC 3339 time (e.g. 2026-12-01T08:00:00.125Z)"
        if moment.tzinfo is None:
            return None, "at: no time zone offset (end it with Z or +hh:mm)"
        moment = moment.astimezone(UTC)
        if moment < received_at - self.max_past:
            return moment, f"at: {_ago(received_at - moment)} before it was received (more than {_ago(self.max_past)})"
        if moment > received_at + self.max_future:
            return moment, f"at: {_ago(moment - received_at)} after it was received (a skewed clock?)"
        return moment, None


def _duration(value: Any, definition: EventDefinition) -> tuple[float | None, str | None]:
    if value is None:
        return None, None
    if not definition.duration:
        return None, f"duration_ms: event {definition.name!r} has no duration (duration: false)"
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None, f"duration_ms: expected a number of milliseconds, got {json_type(value)}"
    if value < 0:
        return None, "duration_ms: must be 0 or more"
    return float(value), None


def _ago(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds >= 86400:
        return f"{seconds // 86400}d {seconds % 86400 // 3600}h"
    return f"{seconds // 3600}h {seconds % 3600 // 60}m" if seconds >= 3600 else f"{seconds // 60}m {seconds % 60}s"
