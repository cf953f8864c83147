"""`dashboards build`: write every dashboard's JSON, one file per dashboard, deterministically
(same code → same bytes), so the committed files can be checked against the code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from apercite_analytics.dashboards.definitions import all_dashboards

DEFAULT_OUT = Path("grafana/dashboards")


def file_name(uid: str) -> str:
    return uid.removeprefix("apercite-") + ".json"


def render(dashboard: dict[str, Any]) -> str:
    return json.dumps(dashboard, indent=2, ensure_ascii=False) + "\n"


def generated() -> dict[str, str]:
    """{file name: JSON text} of every dashboard."""
    return {file_name(d.uid): render(d.to_json()) for d in all_dashboards()}


def build(out: Path = DEFAULT_OUT) -> list[tuple[Path, bool]]:
    """Write the dashboards into `out`; returns (path, changed) for each file."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in generated().items():
        path = out / name
        changed = not path.exists() or path.read_text(encoding="utf-8") != text
        if changed:
            path.write_text(text, encoding="utf-8")
        written.append((path, changed))
    return written
