"""The config file into one `Settings`: found at `--config`, else `$APERCITE_CONFIG`, else
`./analytics.toml`. Secrets come from the environment through `${NAME}` (or `${NAME:-default}`;
`$$` is a literal `$`) or from a file through `${file:PATH}` (Docker/Kubernetes secrets, systemd
`LoadCredential=`: the file's content, one trailing newline removed; PATH relative to the config
file's folder). Secret-looking variables and every file secret are remembered, so no output shows
them. Relative file settings are resolved from the config file's folder (`paths.py`).

The only config module that knows the readers: it asks the reader registry for each section's
dataclass, so the readers import `settings.py` and never this module.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from apercite_analytics.config import paths
from apercite_analytics.config.collector import CollectorSettings
from apercite_analytics.config.secrets import register_secret, register_url
from apercite_analytics.config.settings import (
    DictionarySettings,
    MonitoringSettings,
    ReportSettings,
    RunSettings,
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
_INTERPOLATION = re.compile(
    r"\$(?:\$|\{(?:file:(?P<file>[^}]+)|(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?)\})"
)


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
            hint = "" if explicit else " (pass --config, set APERCITE_CONFIG, or run `apercite-analytics init`)"
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
    base = path.parent if path is not None else Path(".")
    raw = interpolate(raw, os.environ if environ is None else environ, base=base)
    _register_secrets(raw)  # before any check, so that no message can show them
    if path is not None:
        raw = paths.resolve(raw, base)
    known = {"store", "monitoring", "sources", "readers", "dictionary", "collector", "report", "run"}
    for key in raw:
        if key not in known:
            raise ConfigError(f"{key}: unknown section (known: {', '.join(sorted(known))})")
    store = parse_dataclass(StoreSettings, raw.get("store", {}), "store")
    store.check("store")
    monitoring = parse_dataclass(MonitoringSettings, raw.get("monitoring", {}), "monitoring")
    monitoring.check("monitoring")
    run = parse_dataclass(RunSettings, raw.get("run", {}), "run")
    run.check("run")
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

    check_literal_names(modules, readers)
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
        run=run,
    )


def check_literal_names(modules: Mapping[str, Any], readers: Mapping[str, Any]) -> None:
    """Two sections may not write the same metric (of the same kind): found here where the names
    are literal (readers exporting `literal_names`), at run time otherwise (`writers/claims.py`)."""
    seen: dict[tuple[str, str], str] = {}
    for reader, settings in readers.items():
        names = getattr(modules[reader], "literal_names", None)
        for where, kind, metric in names(settings) if names else []:
            first = seen.setdefault((kind, metric), where)
            if first != where:
                raise ConfigError(
                    f"{first} and {where} both write the {kind} metric {metric!r}: two sections may not write "
                    "the same metric (rename one)"
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


def interpolate(value: Any, environ: Mapping[str, str], where: str = "", base: Path = Path(".")) -> Any:
    """Replace `${NAME}` and `${file:PATH}` in every string, recursively; remember the values that
    look secret: file secrets, and `${NAME}` values by the variable's name (`*PASS*`, `*TOKEN*`, …)
    or the key's (`headers.Authorization`); the URLs' own passwords and credential query values are
    remembered by `_register_secrets`."""
    if isinstance(value, str):

        def replace(match: re.Match[str]) -> str:
            if match.group(0) == "$$":
                return "$"
            if match.group("file") is not None:
                return read_secret_file(match.group("file"), base, where or "config")
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
        return {k: interpolate(v, environ, f"{where}.{k}" if where else k, base) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, environ, f"{where}[{i}]", base) for i, v in enumerate(value)]
    return value


def read_secret_file(name: str, base: Path, where: str) -> str:
    """A `${file:PATH}` secret: the file's text without its trailing newline, remembered as a secret."""
    path = paths.file_path(name.strip(), base)
    try:
        secret = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(f"{where}: secret file {path}: cannot read: {reason}") from None
    secret = secret[:-1] if secret.endswith("\n") else secret
    secret = secret[:-1] if secret.endswith("\r") else secret
    if not secret:
        raise ConfigError(f"{where}: secret file {path} is empty")
    register_secret(secret)
    return secret
