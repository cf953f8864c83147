"""`dashboards build`: write every dashboard's JSON, one file per dashboard, deterministically
(same dictionary and code → same bytes), so the committed files can be checked against the code.

The Business dashboard comes from the KPIs of the dictionary folder, every unit from its
definitions: the committed files are built from the shipped `metrics/`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from apercite_analytics.dashboards.definitions import all_dashboards
from apercite_analytics.dictionary import definitions, kpis
from apercite_analytics.dictionary.definitions import Dictionary
from apercite_analytics.errors import ConfigError

DEFAULT_OUT = Path("grafana/dashboards")
SHIPPED = Path(__file__).resolve().parents[2] / "metrics"  # the source tree's dictionary: the committed files


def file_name(uid: str) -> str:
    return uid.removeprefix("apercite-") + ".json"


def render(dashboard: dict[str, Any]) -> str:
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


def load_dictionary(folder: Path) -> tuple[Dictionary, list[kpis.Kpi]]:
    """The definitions and KPIs of `folder`; ConfigError naming the first problem (`file:line: …`)."""
    dictionary, errors = definitions.load(folder)
    if errors:
        raise ConfigError(errors[0] + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""))
    return dictionary, kpis.configured(folder, dictionary)


def generated(folder: Path = SHIPPED) -> dict[str, str]:
    """{file name: JSON text} of every dashboard, from the dictionary in `folder`."""
    dictionary, found = load_dictionary(folder)
    return {file_name(d.uid): render(d.to_json()) for d in all_dashboards(dictionary, found)}


def build(folder: Path, out: Path = DEFAULT_OUT) -> list[tuple[Path, bool]]:
    """Write the dashboards into `out`; returns (path, changed) for each file."""
    files = generated(folder)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in files.items():
        path = out / name
        changed = not path.exists() or path.read_text(encoding="utf-8") != text
        if changed:
            path.write_text(text, encoding="utf-8")
        written.append((path, changed))
    return written
