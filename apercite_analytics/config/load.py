"""The config file into one `Settings`: found at `--config`, else `$APERCITE_CONFIG`, else
`./analytics.toml`. Secrets come only from the environment through `${NAME}` (or
`${NAME:-default}`; `$$` is a literal `$`) and are remembered so that no output shows them.

The only config module that knows the readers: it asks the reader registry for each section's
dataclass, so the readers import `settings.py` and never this module.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from apercite_analytics.config.collector import CollectorSettings
from apercite_analytics.config.secrets import register_secret, register_url
from apercite_analytics.config.settings import (
    DictionarySettings,
    MonitoringSettings,
    ReportSettings,
    Settings,
    SourceSettings,
    StoreSettings,
    check_name,
)
from apercite_analytics.config.typed import convert, parse_dataclass
from apercite_analytics.errors import ConfigError
from apercite_analytics.readers import available

__all__ = ["Settings", "config_path", "interpolate", "load", "parse"]
ENV_CONFIG = "APERCITE_CONFIG"
DEFAULT_CONFIG = "analytics.toml"
_SECRET_ENV = re.compile(r"PASS|PWD|SECRET|TOKEN|KEY|CREDENTIAL|AUTH", re.IGNORECASE)
_SECRET_KEY = re.compile(r"pass|pwd|secret|token", re.IGNORECASE)  # a literal value under such a key is one
_INTERPOLATION = re.compile(r"\$(?:\$|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\})")


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
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, not a config file (name the .toml file in it)")
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
    _register_secrets(raw)  # before any check, so that no message can show them
    known = {"store", "monitoring", "sources", "readers", "dictionary", "collector", "report"}
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
    collector = parse_dataclass(CollectorSettings, raw["collector"], "collector") if "collector" in raw else None
    if collector is not None:
        collector.check("collector")
    report = parse_dataclass(ReportSettings, raw.get("report", {}), "report")
    report.check("report")

    return Settings(
        path=path,
        store=store,
        monitoring=monitoring,
        sources=sources,
        readers=readers,
        dictionary=dictionary,
        collector=collector,
        report=report,
    )


def _register_secrets(value: Any, key: str = "") -> None:
    """Remember, whether written literally or through `${NAME}`, the password and credential query
    values of every URL in the config (store, sources, prometheus, json, …) and the value of every
    key named like a password or token (`smtp_password`)."""
    if isinstance(value, str):
        if "://" in value:
            register_url(value)
        if _SECRET_KEY.search(key):
            register_secret(value)
    elif isinstance(value, dict):
        for name, item in value.items():
            _register_secrets(item, str(name))
    elif isinstance(value, list):
        for item in value:
            _register_secrets(item, key)


def interpolate(value: Any, environ: Mapping[str, str], where: str = "") -> Any:
    """Replace `${NAME}` in every string, recursively; remember the values that look secret: by the
    variable's name (`*PASS*`, `*TOKEN*`, …) or the key's (`headers.Authorization`); the URLs' own
    passwords and credential query values are remembered by `_register_secrets`."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            name, default = match.group("name"), match.group("default")
            if name in environ:
                result = environ[name]
                if _SECRET_ENV.search(name) or _SECRET_ENV.search(where.rpartition(".")[2]):
                    register_secret(result)  # a secret by its name, or by its key's (headers.Authorization)
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
