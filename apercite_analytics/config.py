"""One typed settings object from the TOML config file and the environment.

The file is found at `--config`, else `$APERCITE_CONFIG`, else `./analytics.toml`. Secrets come only
from the environment through `${NAME}` (or `${NAME:-default}`; `$$` is a literal `$`). Every
section is parsed into a frozen dataclass; unknown keys, missing keys and wrong types are errors
that name the file and the dotted key. Each reader module owns the dataclass of its section.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from apercite_analytics.errors import ConfigError
from apercite_analytics.redact import register_secret, register_url

DEFAULT_STORE_URL = "sqlite:///analytics.db"
ENV_CONFIG = "APERCITE_CONFIG"
DEFAULT_CONFIG = "analytics.toml"
_SECRET_ENV = re.compile(r"PASSWORD|PASSWD|SECRET|TOKEN|KEY|CREDENTIAL", re.IGNORECASE)
_INTERPOLATION = re.compile(r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\})")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class StoreSettings:
    """Where the metric store lives and how writes are batched."""

    url: str = DEFAULT_STORE_URL
    batch_size: int = 5000
    lock_wait: float = 60.0  # seconds a run waits for another run of the same reader to finish

    def check(self, where: str) -> None:
        if not 1 <= self.batch_size <= 1_000_000:
            raise ConfigError(f"{where}.batch_size: must be between 1 and 1000000, got {self.batch_size}")
        if not 0 <= self.lock_wait <= 86400:
            raise ConfigError(f"{where}.lock_wait: must be between 0 and 86400 seconds, got {self.lock_wait}")
        check_url(self.url, f"{where}.url")


@dataclass(frozen=True)
class MonitoringSettings:
    """The job's own metrics (`[monitoring]`): into the store, and as a Prometheus textfile."""

    store: bool = True  # etl.* hourly values in the metric store
    textfile: str | None = None  # e.g. /var/lib/prometheus/node-exporter/apercite.prom

    def check(self, where: str) -> None:
        if self.textfile is not None and not self.textfile.endswith(".prom"):
            raise ConfigError(f"{where}.textfile: node_exporter only reads files ending in .prom")


@dataclass(frozen=True)
class SourceSettings:
    """A database the readers read from, by name (`[sources.<name>]`)."""

    url: str
    connect_timeout: float = 10.0
    query_timeout: float = 300.0
    retries: int = 2  # for transient errors only (connection lost, deadlock, server restarting)

    def check(self, where: str) -> None:
        check_url(self.url, f"{where}.url")
        for name in ("connect_timeout", "query_timeout"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{where}.{name}: must be a positive number of seconds")
        if not 0 <= self.retries <= 10:
            raise ConfigError(f"{where}.retries: must be between 0 and 10, got {self.retries}")


@dataclass(frozen=True)
class DictionarySettings:
    """`[dictionary]`: the folder of metric-definition YAML files, relative to the config file's folder."""

    path: str = "metrics"


@dataclass(frozen=True)
class Settings:
    """The whole configuration; `readers` maps a reader name to its module's settings object."""

    path: Path | None = None
    store: StoreSettings = field(default_factory=StoreSettings)
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    sources: dict[str, SourceSettings] = field(default_factory=dict)
    readers: dict[str, Any] = field(default_factory=dict)
    dictionary: DictionarySettings | None = None  # None: no [dictionary] section


def check_url(url: str, where: str) -> None:
    """Reject what SQLAlchemy cannot parse, naming the key (never echoing the URL: it may hold a password)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(url)
    except (ArgumentError, ValueError):
        raise ConfigError(f"{where}: not a database URL (expected e.g. postgresql://user@host/db)") from None


def check_name(name: str, where: str) -> None:
    """Names of sources, queries and tables become metric-name parts: lowercase, digits, underscore."""
    if not _NAME.match(name):
        raise ConfigError(f"{where}: name {name!r} must be lowercase letters, digits and _ (starting with a letter)")


def config_path(cli_path: str | None) -> Path:
    """The config file to use: --config, else $APERCITE_CONFIG, else ./analytics.toml."""
    return Path(cli_path or os.environ.get(ENV_CONFIG) or DEFAULT_CONFIG)


def load(cli_path: str | None = None, *, required: bool = True) -> Settings:
    """Read, interpolate and validate the config file.

    With `required=False` a missing default file gives the default settings (embedded SQLite
    store, no reader); a file named explicitly must exist.
    """
    path = config_path(cli_path)
    explicit = bool(cli_path or os.environ.get(ENV_CONFIG))
    if not path.is_file():
        if required or explicit:
            hint = "" if explicit else " (pass --config, set APERCITE_CONFIG, or run `apercite-analytics demo`)"
            raise ConfigError(f"{path}: config file not found{hint}")
        return Settings()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {exc}") from None
    try:
        return parse(raw, path=path)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


def parse(raw: Mapping[str, Any], *, path: Path | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Validate an already-decoded TOML document (errors name the dotted key, not the file)."""
    raw = interpolate(raw, os.environ if environ is None else environ)
    known = {"store", "monitoring", "sources", "readers", "dictionary"}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{key}: unknown section (known: {', '.join(sorted(known))})")
    store = parse_dataclass(StoreSettings, raw.get("store", {}), "store")
    store.check("store")
    monitoring = parse_dataclass(MonitoringSettings, raw.get("monitoring", {}), "monitoring")
    monitoring.check("monitoring")
    if monitoring.textfile and path is not None:
        monitoring = dataclasses.replace(monitoring, textfile=str(path.parent / monitoring.textfile))
    sources = convert(dict[str, SourceSettings], raw.get("sources", {}), "sources")
    for name, source in sources.items():
        check_name(name, f"sources.{name}")
        source.check(f"sources.{name}")

    from apercite_analytics.readers import available

    modules = available()
    reader_sections = raw.get("readers", {})
    if not isinstance(reader_sections, dict):
        raise ConfigError("readers: expected a table of reader sections")
    readers = {}
    for name, section in reader_sections.items():
        if name not in modules:
            raise ConfigError(f"readers.{name}: unknown reader (known: {', '.join(sorted(modules))})")
        module = modules[name]
        settings = parse_dataclass(module.Settings, section, f"readers.{name}")
        module.check(settings, sources, f"readers.{name}")
        readers[name] = settings

    dictionary = parse_dataclass(DictionarySettings, raw["dictionary"], "dictionary") if "dictionary" in raw else None

    for url in [store.url, *(s.url for s in sources.values())]:
        register_url(url)
    return Settings(
        path=path, store=store, monitoring=monitoring, sources=sources, readers=readers, dictionary=dictionary
    )


def check_source(name: str, sources: Mapping[str, SourceSettings], where: str) -> None:
    """A reader's `source` must name a `[sources.<name>]` section."""
    if name not in sources:
        known = ", ".join(sorted(sources)) or "none defined"
        raise ConfigError(f"{where}: unknown source {name!r} (sources: {known})")


def interpolate(value: Any, environ: Mapping[str, str], where: str = "") -> Any:
    """Replace `${NAME}` in every string, recursively; remember secret-looking values."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name, default = match.group("name"), match.group("default")
            if name in environ:
                result = environ[name]
                if _SECRET_ENV.search(name):
                    register_secret(result)
                return result
            if default is not None:
                return default
            raise ConfigError(f"{where or 'config'}: environment variable {name} is not set")

        return _INTERPOLATION.sub(replace, value)
    if isinstance(value, dict):
        return {k: interpolate(v, environ, f"{where}.{k}" if where else k) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, environ, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


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
