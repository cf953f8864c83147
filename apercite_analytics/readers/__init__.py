"""Readers: one module per source, found by name, so adding a source is adding a module.

Each reader module exports:

* `Settings` — the frozen dataclass of its `[readers.<name>]` config section;
* `check(settings, sources, where)` — cross-checks against the config, raising `ConfigError`;
* `chains(settings, window)` — `{chain name: [node, …]}`; the first node takes no input, the last
  yields `(dims, metrics)` records (see `record.py`). Nodes ask for services (`sources`) by
  keyword-only parameter name;
* `BACKFILL` — whether `--since/--until` mean anything to it;
* optionally `literal_names(settings)` — `(config key, kind, metric)` of the names it writes
  whatever its source answers, so that two sections writing one metric fail at config time.

A reader knows its source and nothing about the store. Helpers several readers share live in
`common/`; helpers of one reader in `_<reader>_*.py`.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from types import ModuleType


@cache
def available() -> dict[str, ModuleType]:
    """Every reader module in this package, by name."""
    modules = {}
    for info in pkgutil.iter_modules(__path__):
        if not info.name.startswith("_") and not info.ispkg:  # `common/` and `_private` helpers
            modules[info.name] = importlib.import_module(f"{__name__}.{info.name}")
    return modules
