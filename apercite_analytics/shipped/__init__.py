"""Files the package ships beside its code: the metrics dictionary (`metrics/`) and the Grafana
dashboards and provisioning (`grafana/`), which `init` and `demo` copy into a project folder.

They live at the repository's root, where people edit and review them. Building the wheel copies
them into this package (`setup.py`), so a plain `pip install` has them; from a source tree or an
editable install they are read at the root.
"""

from __future__ import annotations

from pathlib import Path

from apercite_analytics.errors import AnalyticsError

FOLDERS = ("metrics", "grafana")


def folder(name: str) -> Path:
    """The shipped folder `name` (`metrics` or `grafana`): inside the installed package, else the source tree's."""
    if name not in FOLDERS:
        raise ValueError(name)
    for candidate in (Path(__file__).parent / name, Path(__file__).resolve().parents[2] / name):
        if candidate.is_dir():
            return candidate
    raise AnalyticsError(f"the package ships no {name}/ folder: reinstall apercite-analytics (a broken build?)")


def files(name: str) -> list[tuple[Path, Path]]:
    """(absolute source, path relative to the shipped folder) of every file under `name`, sorted."""
    root = folder(name)
    return [(p, p.relative_to(root)) for p in sorted(root.rglob("*")) if p.is_file() and "__pycache__" not in p.parts]
