"""Event definitions: which product events the collector accepts, and what each may carry.

They live in the dictionary folder beside the metric definitions, in files whose top level is
`events:` (optionally with `defaults:` for `owner` and `duration`):

    defaults:
      owner: growth
    events:
      - name: signup
        description: A new account was created.
        duration: false                 # true: the event carries duration_ms
        properties:
          plan: {type: string, keep: true}    # stored as sent
          referrer: {type: string}            # stored as its keyed hash (the default for text)
          seats: {type: integer, keep: true}

Privacy by default: a `string` or `integer` property is pseudonymized (HMAC-SHA256, see
`tracking/pseudonymize.py`) unless it says `keep: true`; `number` and `boolean` values are kept
(a hash of them would mean nothing). A property that is not listed is dropped by the collector.

The events reader's metrics of a defined event (`events.<name>.count`, `.users`, …) get exact
definitions derived from the `events.*` patterns with the event's description and owner
(`event_metrics`, which `definitions.load` calls once both kinds are read). Problems are reported
as `file:line: name: field: message`, like the metric definitions'.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from apercite_analytics.errors import excerpt

PROPERTY_TYPES = ("string", "integer", "number", "boolean")
HASHABLE = ("string", "integer")  # the types a pseudonym makes sense for
EVENT_FIELDS = ("name", "description", "owner", "duration", "properties")
DEFAULT_FIELDS = ("owner", "duration")
PROPERTY_FIELDS = ("type", "keep")
NAME = re.compile(r"^[a-z][a-z0-9_]{0,99}$")  # an event name is also a metric-name part: events.<name>.count


@dataclass(frozen=True)
class Property:
    """One allowed property: its JSON type and whether its value is kept as sent or pseudonymized."""

    type: str
    keep: bool

    def accepts(self, value: Any) -> bool:
        """Whether a decoded JSON value has this type (JSON has no int/float split: 3.0 is a number only)."""
        if self.type == "string":
            return isinstance(value, str)
        if self.type == "boolean":
            return isinstance(value, bool)
        if self.type == "integer":
            return isinstance(value, int) and not isinstance(value, bool)
        if isinstance(value, float):
            return math.isfinite(value)  # JSON has no infinity, but `1e999` decodes to one
        return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class EventDefinition:
    """One product event. `file` and `line` say where it is defined."""

    name: str
    description: str
    owner: str
    duration: bool = False
    properties: Mapping[str, Property] = field(default_factory=dict)
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


def is_event_file(document: Any) -> bool:
    """A YAML document of event definitions (top-level `events:`), as opposed to metric definitions."""
    return isinstance(document, dict) and "events" in document


def parse_events(document: Any, shown: str, errors: list[str]) -> list[EventDefinition]:
    """The events of one file (a mapping with line numbers, see `definitions._Loader`); every problem
    is appended to `errors` and its event left out."""
    line = getattr(document, "line", 0)
    unknown = sorted(str(k) for k in document if k not in ("defaults", "events"))
    if unknown:
        errors.append(
            f"{shown}:{line}: an events file holds `defaults:` and `events:` only (found {', '.join(unknown)})"
        )
        return []
    defaults = document.get("defaults") or {}
    if not isinstance(defaults, dict) or any(k not in DEFAULT_FIELDS for k in defaults):
        known = ", ".join(DEFAULT_FIELDS)
        errors.append(f"{shown}:{getattr(defaults, 'line', line)}: defaults: a mapping of {known} only")
        return []
    entries = document["events"]
    if not isinstance(entries, list):
        errors.append(f"{shown}:{document.key_lines.get('events', line)}: events: expected a list of event definitions")
        return []
    found = [_event(entry, defaults, shown, index, errors) for index, entry in enumerate(entries)]
    return [event for event in found if event is not None]


def unique(events: list[EventDefinition], errors: list[str]) -> list[EventDefinition]:
    """The events with their first definition; a name defined twice is a problem naming both places."""
    seen: dict[str, EventDefinition] = {}
    for event in events:
        if event.name in seen:
            errors.append(f"{event.where}: {event.name}: event already defined at {seen[event.name].where}")
        else:
            seen[event.name] = event
    return list(seen.values())


def event_metrics(events: Iterable[EventDefinition], definitions: list[Any]) -> list[Any]:
    """Exact definitions of a defined event's reader metrics, from the `events.*.…` patterns, with the
    event's description and owner (`events.signup.count`: "A new account was created. — Events of
    this name …"). A key defined explicitly wins; an event without duration gets no duration metrics."""
    explicit = {d.key for d in definitions}
    patterns = [d for d in definitions if d.parts[:2] == ("events", "*") and "*" not in d.parts[2:]]
    derived = []
    for event in events:
        for pattern in patterns:
            key = ".".join(("events", event.name, *pattern.parts[2:]))
            if key in explicit or (pattern.parts[2] == "duration" and not event.duration):
                continue
            description = f"{event.description.rstrip('.')}. — {pattern.description}"
            derived.append(
                dataclasses.replace(
                    pattern, key=key, description=description, owner=event.owner, file=event.file, line=event.line
                )
            )
    return derived


def _event(entry: Any, defaults: Mapping, shown: str, index: int, errors: list[str]) -> EventDefinition | None:
    if not isinstance(entry, dict):
        errors.append(f"{shown}: event {index + 1}: expected a mapping of fields, got {type(entry).__name__}")
        return None
    name = entry.get("name")
    label = name if isinstance(name, str) and name else f"event {index + 1}"
    before = len(errors)

    def problem(key: str | None, message: str, line: int | None = None) -> None:
        line = line or (entry.key_lines.get(key, entry.line) if key else entry.line)
        errors.append(f"{shown}:{line}: {label}: {key + ': ' if key else ''}{message}")

    for key in entry:
        if key not in EVENT_FIELDS:
            problem(str(key), f"unknown field (known: {', '.join(EVENT_FIELDS)})")
    values = {**defaults, **entry}
    for key in ("name", "description", "owner"):
        value = values.get(key)
        if value in (None, ""):
            problem(None, f"missing required field {key!r}")
        elif not isinstance(value, str):
            problem(key, f"expected a string, got {type(value).__name__} ({excerpt(value)})")
    if isinstance(name, str) and name and not NAME.match(name):
        problem("name", f"{excerpt(name)} is not an event name (a-z, 0-9 and _, starting with a letter, at most 100)")
    duration = values.get("duration", False)
    if not isinstance(duration, bool):
        problem("duration", f"expected true or false, got {excerpt(duration)}")
    properties = _properties(values.get("properties") or {}, problem)
    if len(errors) > before:
        return None
    return EventDefinition(
        name=name,
        description=values["description"],
        owner=values["owner"],
        duration=duration,
        properties=properties,
        file=shown,
        line=entry.line,
    )


def _properties(raw: Any, problem) -> dict[str, Property]:
    if not isinstance(raw, dict):
        problem("properties", "expected a mapping of property name → {type, keep}")
        return {}
    properties: dict[str, Property] = {}
    for name, spec in raw.items():
        where = raw.key_lines.get(name) if hasattr(raw, "key_lines") else None
        key = f"properties: {name}"
        if not isinstance(name, str) or not NAME.match(name):
            problem(key, "a property name is a-z, 0-9 and _, starting with a letter", where)
            continue
        if isinstance(spec, str):  # `plan: string` is short for `plan: {type: string}`
            spec = {"type": spec}
        if not isinstance(spec, dict):
            problem(key, "expected a type (string, integer, number, boolean) or {type: …, keep: …}", where)
            continue
        unknown = [str(k) for k in spec if k not in PROPERTY_FIELDS]
        if unknown:
            problem(key, f"unknown field(s) {', '.join(unknown)} (known: {', '.join(PROPERTY_FIELDS)})", where)
            continue
        kind = spec.get("type")
        if kind not in PROPERTY_TYPES:
            problem(key, f"type must be one of {', '.join(PROPERTY_TYPES)}, got {excerpt(kind)}", where)
            continue
        keep = spec.get("keep", kind not in HASHABLE)
        if not isinstance(keep, bool):
            problem(key, f"keep: expected true or false, got {excerpt(keep)}", where)
        elif not keep and kind not in HASHABLE:
            problem(
                key, f"a {kind} cannot be pseudonymized (only string and integer values): keep it or drop it", where
            )
        else:
            properties[name] = Property(kind, keep)
    return properties
