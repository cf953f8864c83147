"""Which readers a run runs, and their chains: the plan, before anything is read."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from apercite_analytics.config.settings import Settings
from apercite_analytics.errors import ConfigError
from apercite_analytics.readers import available
from apercite_analytics.readers.common.schedule import Scheduled
from apercite_analytics.run.result import reader_of
from apercite_analytics.window import Window

log = logging.getLogger("apercite_analytics")


def select_readers(settings: Settings, names: Iterable[str]) -> list[str]:
    """The readers to run: `all` means every configured one (the others are named in one debug
    line: `-v` shows it); `sql.signups` (a chain) means its reader."""
    modules = available()
    names = list(dict.fromkeys(reader_of(n) for n in names))
    where = settings.path or "the config"
    if "all" in names:
        skipped = sorted(set(modules) - set(settings.readers))
        if skipped:
            log.debug("not configured in %s, skipped: %s", where, ", ".join(skipped))
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


def reader_chains(settings: Settings, readers: list[str], window: Window, only: Iterable[str] = ()) -> dict[str, list]:
    """Every chain of `readers`; with `only` (names given as `reader.chain`), just those chains,
    and run now: a chain named explicitly skips its `every` schedule."""
    modules = available()
    chains: dict[str, list] = {}
    for name in readers:
        if window.backfill and not modules[name].BACKFILL:
            log.info("%s: reads current values only; --since/--until do not apply to it", name)
        chains.update(modules[name].chains(settings.readers[name], window))
    named = [n for n in only if "." in n]
    if not named or "all" in only:
        return chains
    chosen: dict[str, list] = {}
    for wanted in named:
        found = {c: nodes for c, nodes in chains.items() if c == wanted or c.startswith(wanted + ".")}
        found = {c: nodes for c, nodes in found.items() if reader_of(c) == reader_of(wanted)}
        if not found:
            mine = sorted(c for c in chains if reader_of(c) == reader_of(wanted))
            raise ConfigError(f"unknown chain {wanted!r} (chains of {reader_of(wanted)}: {', '.join(mine) or 'none'})")
        chosen.update({c: [_unscheduled(n) for n in nodes] for c, nodes in found.items()})
    for reader in {reader_of(n) for n in only if "." not in n}:  # `read sql sql.x`: all of sql
        chosen.update({c: nodes for c, nodes in chains.items() if reader_of(c) == reader and c not in chosen})
    return chosen


def _unscheduled(node):
    return node.inner if isinstance(node, Scheduled) else node
