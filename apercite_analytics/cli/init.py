"""`apercite-analytics init [DIR]`: a project folder with everything a plain `pip install` needs.

Writes a commented `analytics.toml`, the shipped metrics dictionary (`metrics/`) and the Grafana
dashboards and provisioning (`grafana/`), copied from the package. Files that exist are kept
(`--force` replaces them), so running it again after an upgrade adds what is new and says which
files differ from the shipped ones. `demo` uses it with its own config.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from apercite_analytics import shipped
from apercite_analytics.errors import ConfigError

log = logging.getLogger("apercite_analytics")

CONFIG = """\
# apercite-analytics configuration, written by `apercite-analytics init`.
# Every key is described in docs/configuration.md; the complete, commented example is
# examples/analytics.toml in the source repository. Relative paths (SQLite files included)
# are relative to this file's folder. Secrets: "${NAME}" from the environment,
# "${file:/run/secrets/name}" from a file.

[store]                                 # where the metrics go
url = "sqlite:///analytics.db"          # production: "postgresql://analytics:${ANALYTICS_DB_PASSWORD}@db/analytics"

[dictionary]                            # what each metric means, and how hours roll up to days
path = "metrics"

# [sources.app]                         # a database to read from, by name
# url = "postgresql://readonly:${file:/run/secrets/app_db_password}@db/app"

# [readers.objects]                     # row counts -> objects.<table>.count, hourly
# source = "app"
# tables = ["users", "projects"]

# [readers.sql.queries.signups]         # your own metric, in SQL -> app.signups.<plan>
# source = "app"
# sql = \"\"\"
# SELECT date_trunc('hour', created_at) AS time, plan, count(*) AS count
# FROM users WHERE created_at >= :since AND created_at < :until GROUP BY 1, 2
# \"\"\"
# dimensions = ["plan"]
# metric = "app.signups.{plan}"
"""


def write_project(directory: Path, *, config: str = CONFIG, force: bool = False) -> list[str]:
    """Write the config, `metrics/` and `grafana/` into `directory`; one line per thing done."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"{directory}: cannot create the folder: {exc.strerror or exc}") from None
    done = [_write(directory / "analytics.toml", config.encode(), force)]
    for name in shipped.FOLDERS:
        counts = {"wrote": 0, "kept": 0, "replaced": 0}
        differing = []
        for source, relative in shipped.files(name):
            target = directory / name / relative
            what = _write(target, source.read_bytes(), force, quiet=True)
            counts[what] += 1
            if what == "kept" and target.read_bytes() != source.read_bytes():
                differing.append(str(relative))
        parts = [f"{what} {n}" for what, n in counts.items() if n]
        line = f"{directory / name}/: {', '.join(parts)} file{'s' * (sum(counts.values()) != 1)}"
        if differing:
            line += f" ({len(differing)} kept differ from the shipped ones, e.g. {differing[0]}; --force replaces them)"
        done.append(line)
    return done


def _write(path: Path, content: bytes, force: bool, quiet: bool = False) -> str:
    existed = path.exists()
    if existed and not force:
        return "kept" if quiet else f"kept the existing {path}"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write: {exc.strerror or exc}") from None
    if quiet:
        return "replaced" if existed else "wrote"
    return f"{'replaced' if existed else 'wrote'} {path}"


def add_parsers(commands, common: argparse.ArgumentParser) -> None:
    init = commands.add_parser(
        "init",
        parents=[common],
        help="write a config, the metrics dictionary and the Grafana files into a folder",
        description="Write analytics.toml (commented), metrics/ (the shipped dictionary) and grafana/ "
        "(dashboards and provisioning) into DIR. Existing files are kept unless --force.",
    )
    init.add_argument("dir", nargs="?", default=Path("."), type=Path, help="the project folder (default: here)")
    init.add_argument("--force", action="store_true", help="replace files that exist")


def run(args: argparse.Namespace) -> int:
    for line in write_project(args.dir, force=args.force):
        log.info("%s", line)
    log.info(
        "next: edit %s, then `apercite-analytics read all` (see docs/configuration.md)", args.dir / "analytics.toml"
    )
    return 0
