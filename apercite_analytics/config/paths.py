"""Every file setting is relative to the config file's folder, SQLite URLs included, so that a
config works from any working directory (`read -c elsewhere/analytics.toml`, cron, systemd, Airflow).

Resolved on the decoded TOML, before the sections are typed, so that readers see absolute paths
and never need to know where the config file was. `~` is expanded. Without a config file (the
defaults) paths stay relative to the working directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from apercite_analytics.config.settings import DEFAULT_STORE_URL

# dotted keys of file settings; `*` is any one name (a source, a document)
FILE_KEYS = (
    "monitoring.textfile",
    "dictionary.path",
    "readers.json.documents.*.path",
    "readers.google_analytics.credentials",
    "collector.key_file",
    "report.smtp_cafile",
)
URL_KEYS = ("store.url", "sources.*.url", "collector.url")


def resolve(raw: dict[str, Any], base: Path) -> dict[str, Any]:
    """A copy of `raw` with relative file settings and SQLite URLs made absolute from `base`."""
    raw = _copy(raw)
    raw.setdefault("store", {})
    if isinstance(raw["store"], dict):
        raw["store"].setdefault("url", DEFAULT_STORE_URL)
    for key in FILE_KEYS:
        for parent, name in _find(raw, key.split(".")):
            if isinstance(parent[name], str):
                parent[name] = str(file_path(parent[name], base))
    for key in URL_KEYS:
        for parent, name in _find(raw, key.split(".")):
            if isinstance(parent[name], str):
                parent[name] = sqlite_url(parent[name], base)
    return raw


def file_path(value: str, base: Path) -> Path:
    path = Path(os.path.expanduser(value))
    return path if path.is_absolute() else base / path


def sqlite_url(url: str, base: Path) -> str:
    """`sqlite:///analytics.db` → `sqlite:////<base>/analytics.db`; other URLs unchanged."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return url  # the settings' check names the key
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return url
    head, separator, rest = url.partition(":///")
    path, question, query = rest.partition("?")
    if not separator or Path(os.path.expanduser(path)).is_absolute():
        return url
    return f"{head}:///{file_path(path, base)}{question}{query}"  # as written, only the path changed


def _find(node: Any, parts: list[str]) -> Iterator[tuple[dict, str]]:
    if not isinstance(node, dict) or not parts:
        return
    head, rest = parts[0], parts[1:]
    names = list(node) if head == "*" else [head] if head in node else []
    for name in names:
        if rest:
            yield from _find(node[name], rest)
        else:
            yield node, name


def _copy(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy(v) for v in node]
    return node
