"""Which readers a run runs, and their chains: the plan, before anything is read."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from apercite_analytics.config.settings import Settings
from apercite_analytics.errors import ConfigError
from apercite_analytics.readers import available
from apercite_analytics.window import Window

log = logging.getLogger("apercite_analytics")


def select_readers(settings: Settings, names: Iterable[str]) -> list[str]:
    """The readers to run: `all` means every configured one (saying which are skipped)."""
    modules = available()
    names = list(dict.fromkeys(names))
    where = settings.path or "the config"
    if "all" in names:
        for name in sorted(set(modules) - set(settings.readers)):
            log.info("%s: not configured (no [readers.%s] in %s), skipped", name, name, where)
        chosen = [n for n in sorted(modules) if n in settings.readers]
        if not chosen:
            raise ConfigError(f"{where}: no reader is configured (add a [readers.<name>] section)")
        return chosen
    for name in names:
        if name not in modules:
            raise ConfigError(f"unknown reader {name!r} (known: {', '.join(sorted(modules))}, all)")
        if name not in settings.readers:
            raise ConfigError(f"reader {name!r} is not configured: {where} has no [readers.{name}] section")
    return names


def reader_chains(settings: Settings, readers: list[str], window: Window) -> dict[str, list]:
    modules = available()
    chains: dict[str, list] = {}
    for name in readers:
        if window.backfill and not modules[name].BACKFILL:
            log.info("%s: reads current values only; --since/--until do not apply to it", name)
        chains.update(modules[name].chains(settings.readers[name], window))
    return chains
