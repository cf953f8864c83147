"""TOML tables into typed, frozen dataclasses: unknown, missing and mistyped keys are errors that
name the dotted key (`readers.sql.queries.x.metric: expected a string, got an integer (3)`).

Generic: the settings classes (settings.py and each reader's `Settings`) are its only knowledge.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Literal

from apercite_analytics.errors import ConfigError


def parse_dataclass(cls: type, data: Any, where: str) -> Any:
    """Build dataclass `cls` from a TOML table: unknown, missing and mistyped keys name `where.key`."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a table, got {_describe(data)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    for key in data:
        if key not in fields:
            raise ConfigError(f"{where}.{key}: unknown key (known: {', '.join(sorted(fields))})")
    values = {}
    for name, f in fields.items():
        if name in data:
            values[name] = convert(hints[name], data[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}.{name}: missing required key")
    return cls(**values)


def convert(tp: Any, value: Any, where: str) -> Any:
    """Check `value` against type hint `tp` (the subset of types our settings use) and convert it."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if dataclasses.is_dataclass(tp):
        return parse_dataclass(tp, value, where)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in args if a is not type(None)]
        for option in options:
            if _matches(option, value):
                return convert(option, value, where)
        return convert(options[0], value, where)
    if origin is Literal:
        if value not in args:
            raise ConfigError(f"{where}: must be one of {', '.join(map(repr, args))}, got {value!r}")
        return value
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {_describe(value)}")
        return [convert(args[0], v, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a table, got {_describe(value)}")
        return {k: convert(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if not _matches(tp, value):
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {_describe(value)}")
    return float(value) if tp is float else value


def _matches(tp: Any, value: Any) -> bool:
    origin = typing.get_origin(tp)
    if origin is list:
        return isinstance(value, list)
    if origin is dict or dataclasses.is_dataclass(tp):
        return isinstance(value, dict)
    if origin is Literal:
        return value in typing.get_args(tp)
    if tp is bool:
        return isinstance(value, bool)
    if tp is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if tp is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(tp, type):
        return isinstance(value, tp)
    return False


def _type_name(tp: Any) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(tp, str(tp))


def _describe(value: Any) -> str:
    kinds = {str: "a string", bool: "a boolean", int: "an integer", float: "a number", list: "a list", dict: "a table"}
    kind = kinds.get(type(value), type(value).__name__)
    if isinstance(value, str | bool | int | float):
        return f"{kind} ({value!r})" if len(repr(value)) <= 40 else kind
    return kind
