"""The metrics dictionary: what each number means, who owns it, how its hours roll up to a day.

Definitions live in YAML files (`*.yaml` / `*.yml`, searched recursively) in the folder named by
`[dictionary] path` (relative to the config file's folder). A file holds one definition (a mapping
with `key`), a list of them, or `{defaults: {…}, metrics: [ … ]}` where `defaults` fills the fields
a definition leaves out (owner, data_source, …).

`key` is a metric name (`spider.total`) or a pattern in which `*` stands for exactly ONE name part:
`objects.*.count` covers `objects.users.count` but not `objects.count` nor `objects.a.b.count`
(write `ga.sessions.*.*` for two dimensions). When several keys cover a name the most specific
wins: an exact key first, else comparing the patterns part by part from the left, a literal part
beats `*` (`events.signup.*` beats `events.*.count` for `events.signup.count`). Two patterns that
cover the same name always differ somewhere, so there is never a tie.

Every problem is reported as `file:line: key: field: message`; `load` collects them all.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from datetime import date, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

from apercite_analytics.config.settings import Settings
from apercite_analytics.dictionary.events import EventDefinition, event_metrics, is_event_file, parse_events, unique
from apercite_analytics.errors import ConfigError, excerpt, shorten
from apercite_analytics.record import MAX_NAME_LENGTH

VALUE_TYPES = ("integer", "number", "boolean")
# `none`: the daily value never comes from the hours (distinct counts: the reader writes the day)
AGGREGATIONS = ("sum", "last", "max", "min", "avg", "none")
TIME_FRAMES = ("1h", "1d", "7d", "28d", "all")
STATUSES = ("active", "deprecated", "removed")
_PART = re.compile(r"^(?:[a-z0-9_]+|\*)$")


@dataclass(frozen=True)
class Definition:
    """One dictionary entry. `file` and `line` say where it is defined."""

    key: str
    description: str
    unit: str
    value_type: str
    aggregation: str
    time_frame: str
    data_source: str
    status: str = "active"
    owner: str | None = None
    product_group: str | None = None
    introduced: date | None = None
    removed: date | None = None
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)

    @property
    def is_pattern(self) -> bool:
        return "*" in self.key

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def parts(self) -> tuple[str, ...]:
        return tuple(self.key.split("."))

    def matches(self, name: str) -> bool:
        parts = name.split(".")
        return len(parts) == len(self.parts) and all(p == "*" or p == n for p, n in zip(self.parts, parts, strict=True))


REQUIRED = ("key", "description", "unit", "value_type", "aggregation", "time_frame", "data_source")
FIELDS = tuple(f.name for f in fields(Definition) if f.name not in ("file", "line"))
CHOICES = {"value_type": VALUE_TYPES, "aggregation": AGGREGATIONS, "time_frame": TIME_FRAMES, "status": STATUSES}
LENGTHS = {"key": MAX_NAME_LENGTH, "unit": 50, "owner": 100, "product_group": 100, "data_source": 100}


class Dictionary:
    """The loaded definitions; `match(name)` finds the one that covers a metric name."""

    def __init__(
        self,
        definitions: Iterable[Definition],
        folder: Path | None = None,
        files: int = 0,
        events: Iterable[EventDefinition] = (),
    ):
        self.definitions = sorted(definitions, key=lambda d: d.key)
        self.events = {e.name: e for e in events}  # the product events the collector accepts (events.py)
        self.folder = folder
        self.files = files
        self.exact = {d.key: d for d in self.definitions if not d.is_pattern}
        self.patterns: dict[int, list[Definition]] = {}
        for definition in self.definitions:
            if definition.is_pattern:
                self.patterns.setdefault(len(definition.parts), []).append(definition)
        self._cache: dict[str, Definition | None] = {}

    def __len__(self) -> int:
        return len(self.definitions)

    def __iter__(self) -> Iterator[Definition]:
        return iter(self.definitions)

    def get(self, key: str) -> Definition | None:
        """The definition whose key is exactly `key` (a name or a pattern)."""
        return next((d for d in self.definitions if d.key == key), None)

    def match(self, name: str) -> Definition | None:
        """The most specific definition covering metric `name`, or None."""
        if name in self._cache:
            return self._cache[name]
        found = self.exact.get(name)
        if found is None:
            candidates = [d for d in self.patterns.get(name.count(".") + 1, ()) if d.matches(name)]
            if candidates:  # literal parts beat `*`, compared from the left
                found = max(candidates, key=lambda d: tuple(p != "*" for p in d.parts))
        self._cache[name] = found
        return found

    @cached_property
    def active(self) -> list[Definition]:
        return [d for d in self.definitions if d.status == "active"]


# ── loading ──────────────────────────────────────────────────────────────────────────────────


class _Located(dict):
    """A YAML mapping that remembers its line and the line of each of its keys."""

    line = 0
    key_lines: dict[Any, int]


class _Loader(yaml.SafeLoader):
    """yaml.safe_load's loader, plus line numbers on mappings and an error on duplicate keys and on
    aliases (`*name`: a few nested ones expand to billions of values; `defaults:` covers their use)."""

    def compose_node(self, parent, index):  # type: ignore[no-untyped-def]
        if self.check_event(yaml.events.AliasEvent):
            message = "aliases (*name) are not allowed in dictionary files: write the fields, or use `defaults:`"
            raise yaml.composer.ComposerError(None, None, message, self.peek_event().start_mark)
        return super().compose_node(parent, index)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> _Located:
    loader.flatten_mapping(node)
    mapping = _Located()
    mapping.line = node.start_mark.line + 1
    mapping.key_lines = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str | int | float | bool | date):
            raise yaml.constructor.ConstructorError(None, None, "mapping keys must be strings", key_node.start_mark)
        if key in mapping:
            message = f"duplicate field {excerpt(key)}"
            raise yaml.constructor.ConstructorError(None, None, message, key_node.start_mark)
        mapping[key] = loader.construct_object(value_node, deep=True)
        mapping.key_lines[key] = key_node.start_mark.line + 1
    return mapping


def _construct_timestamp(loader: _Loader, node: yaml.ScalarNode) -> date:
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError as exc:  # 2026-13-01 looks like a date to YAML but is none
        message = f"{excerpt(node.value)} is not a date: {exc}"
        raise yaml.constructor.ConstructorError(None, None, message, node.start_mark) from None


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)


def folder_of(settings: Settings) -> Path | None:
    """The configured dictionary folder (the config resolved it from the config file's folder), or None."""
    if settings.dictionary is None:
        return None
    return Path(os.path.expanduser(settings.dictionary.path))


def configured(settings: Settings) -> Dictionary | None:
    """The dictionary the config names (ConfigError naming the file and key if invalid), or None."""
    folder = folder_of(settings)
    if folder is None:
        return None
    dictionary, errors = load(folder)
    if errors:
        more = f" (and {len(errors) - 1} more: run `apercite-analytics metrics validate`)" if len(errors) > 1 else ""
        raise ConfigError(errors[0] + more)
    return dictionary


def require(settings: Settings) -> Path:
    folder = folder_of(settings)
    if folder is None:
        where = settings.path or "the config"
        raise ConfigError(f'{where}: no [dictionary] section (add [dictionary] path = "metrics")')
    return folder


def load(folder: Path) -> tuple[Dictionary, list[str]]:
    """Every definition under `folder` and every problem found (`file:line: key: field: message`)."""
    if not folder.is_dir():
        raise ConfigError(f"dictionary.path: {folder} is not a folder")
    definitions: list[Definition] = []
    errors: list[str] = []
    files = _files(folder, errors)
    first_seen: dict[str, Definition] = {}
    events: list[EventDefinition] = []
    for path in files:
        shown = str(path)
        for definition in _load_file(path, shown, errors, events):
            earlier = first_seen.get(definition.key)
            if earlier is not None:
                errors.append(f"{definition.where}: {definition.key}: key already defined at {earlier.where}")
                continue
            first_seen[definition.key] = definition
            definitions.append(definition)
    events = unique(events, errors)
    definitions += event_metrics(events, definitions)
    return Dictionary(definitions, folder, len(files), events), errors


def _files(folder: Path, errors: list[str]) -> list[Path]:
    """The YAML files under `folder`: regular files inside it. A link to a file elsewhere (say
    `x.yaml -> /etc/shadow`) or a device or pipe is refused unread, so no message shows its lines."""
    inside, found = folder.resolve(), []
    for path in sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml")):
        try:
            target = path.resolve(strict=True)
            regular = stat.S_ISREG(target.stat().st_mode)
        except (OSError, RuntimeError):  # a dangling link or a loop
            errors.append(f"{path}: cannot read: a broken link")
            continue
        if not target.is_relative_to(inside):
            errors.append(f"{path}: a link to a file outside the dictionary folder: not read")
        elif regular:
            found.append(path)
        elif not target.is_dir():
            errors.append(f"{path}: not a regular file: not read")
    return found


def _load_file(path: Path, shown: str, errors: list[str], events: list[EventDefinition]) -> list[Definition]:
    try:
        document = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 — a SafeLoader
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        errors.append(f"{shown}{line}: invalid YAML: {shorten(str(exc.problem or exc.context), 120)}")
        return []
    except yaml.YAMLError as exc:
        errors.append(f"{shown}: invalid YAML: {shorten(str(exc), 120)}")
        return []
    except (OSError, UnicodeDecodeError) as exc:
        errors.append(f"{shown}: cannot read: {exc}")
        return []
    if document is None or (isinstance(document, dict) and "kpis" in document):
        return []  # empty, or a KPI file: dictionary/kpis.py reads it
    if is_event_file(document):
        events.extend(parse_events(document, shown, errors))
        return []
    defaults: Mapping = {}
    if isinstance(document, dict) and ("metrics" in document or "defaults" in document):
        unknown = set(document) - {"defaults", "metrics"}
        if unknown or "metrics" not in document:
            errors.append(
                f"{shown}:{document.line}: expected a definition (with `key`), a list of definitions, "
                f"or `defaults:` and `metrics:` (found {', '.join(sorted(map(str, document))) or 'nothing'})"
            )
            return []
        defaults = document.get("defaults") or {}
        if not isinstance(defaults, dict):
            errors.append(f"{shown}:{document.key_lines['defaults']}: defaults: expected a mapping of fields")
            return []
        bad = [k for k in defaults if k not in FIELDS or k == "key"]
        if bad:
            errors.append(f"{shown}:{defaults.line}: defaults: unknown field(s) {', '.join(map(str, bad))}")
            return []
        entries = document["metrics"]
        if not isinstance(entries, list):
            errors.append(f"{shown}:{document.key_lines['metrics']}: metrics: expected a list of definitions")
            return []
    elif isinstance(document, dict):
        entries = [document]
    elif isinstance(document, list):
        entries = document
    else:
        errors.append(f"{shown}: expected a definition, a list of definitions, or `defaults:` and `metrics:`")
        return []
    definitions = []
    for index, entry in enumerate(entries):
        definition = _definition(entry, defaults, shown, index, errors)
        if definition is not None:
            definitions.append(definition)
    return definitions


def _definition(entry: Any, defaults: Mapping, shown: str, index: int, errors: list[str]) -> Definition | None:
    if not isinstance(entry, dict):
        errors.append(f"{shown}: entry {index + 1}: expected a mapping of fields, got {type(entry).__name__}")
        return None
    key = entry.get("key")
    found_before = len(errors)
    label = shorten(key) if isinstance(key, str) and key else f"entry {index + 1}"
    problem = entry_problems(entry, FIELDS, shown, label, errors)
    values = {**defaults, **entry}
    for name in REQUIRED:
        if values.get(name) in (None, ""):
            problem(None, f"missing required field {name!r}")
    for name in ("key", "description", "unit", "value_type", "aggregation", "time_frame", "data_source", "status"):
        value = values.get(name)
        if value is not None and not isinstance(value, str):
            problem(name, f"expected a string, got {_describe(value)}")
    for name in ("owner", "product_group"):
        value = values.get(name)
        if value is not None and not isinstance(value, str):
            problem(name, f"expected a string, got {_describe(value)}")
    if not (values.get("owner") or values.get("product_group")):
        problem(None, "missing 'owner' or 'product_group' (who answers questions about this metric)")
    for name, choices in CHOICES.items():
        value = values.get(name)
        if isinstance(value, str) and value not in choices:
            problem(name, f"must be one of {', '.join(choices)}, got {excerpt(value)}")
    for name, limit in LENGTHS.items():
        value = values.get(name)
        if isinstance(value, str) and len(value) > limit:
            problem(name, f"longer than {limit} characters")
    if isinstance(key, str) and key and not all(_PART.match(part) for part in key.split(".")):
        shape = "dotted parts of a-z, 0-9, _; `*` for one part"
        problem("key", f"{excerpt(key)} is not a metric name or pattern ({shape})")
    for name in ("introduced", "removed"):
        value = values.get(name)
        if isinstance(value, str):
            try:
                values[name] = date.fromisoformat(value)
            except ValueError:
                problem(name, f"{excerpt(value)} is not a date (YYYY-MM-DD)")
        elif value is not None and (not isinstance(value, date) or isinstance(value, datetime)):
            problem(name, f"expected a date (YYYY-MM-DD), got {_describe(value)}")
    status, removed, introduced = values.get("status", "active"), values.get("removed"), values.get("introduced")
    if status == "removed" and removed is None:
        problem("status", "a removed metric needs a `removed` date")
    if status == "active" and removed is not None:
        problem("removed", "set on an active metric (make it deprecated or removed)")
    if isinstance(introduced, date) and isinstance(removed, date) and removed < introduced:
        problem("removed", f"{removed} is before introduced ({introduced})")
    if len(errors) > found_before:
        return None
    return Definition(**{k: v for k, v in values.items() if k in FIELDS}, file=shown, line=entry.line)


def entry_problems(entry: _Located, known: tuple[str, ...], shown: str, label: str, errors: list[str]) -> Callable:
    """`problem(field, message)` for one YAML entry: appends `file:line: label: field: message`, at
    the field's own line (the entry's when no field); unknown fields are reported at once."""

    def problem(name: str | None, message: str) -> None:
        line = entry.key_lines.get(name, entry.line) if name else entry.line
        errors.append(f"{shown}:{line}: {label}: {shorten(name) + ': ' if name else ''}{message}")

    for name in entry:
        if name not in known:
            problem(str(name), f"unknown field (known: {', '.join(known)})")
    return problem


def _describe(value: Any) -> str:
    kinds = {bool: "a boolean", int: "an integer", float: "a number", list: "a list", dict: "a mapping", date: "a date"}
    if isinstance(value, dict):
        return "a mapping"
    return f"{kinds.get(type(value), type(value).__name__)} ({excerpt(value)})"
