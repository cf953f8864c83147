"""`apercite-analytics demo`: a small SQLite "website" database and a config that reads it.

So that a fresh machine runs the real job, with no server: `demo` then `read all --write`.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apercite_analytics.errors import ConfigError
from apercite_analytics.window import floor_hour

log = logging.getLogger("apercite_analytics")

DEMO_CONFIG = """\
# apercite-analytics demo configuration, written by `apercite-analytics demo`.
# A complete, commented example: examples/analytics.toml in the source tree.

[store]
url = "sqlite:///{store}"          # the metric store (embedded default)
{dictionary}
[sources.website]
url = "sqlite:///{database}"           # the demo "website" database

[readers.objects]                       # row counts → objects.<table>.count, hourly
source = "website"
tables = ["users", "projects", "screenshots"]

[readers.sql.queries.signups]           # new users per hour → app.signups.<plan>
source = "website"
sql = \"\"\"
SELECT strftime('%Y-%m-%d %H:00:00', created_at) AS time, plan, count(*) AS count
FROM users
WHERE created_at >= :since AND created_at < :until
GROUP BY 1, 2
\"\"\"
dimensions = ["plan"]
metric = "app.signups.{{plan}}"
lookback = "48h"

[readers.sql.queries.activations]       # users who created a first project, per day
source = "website"
granularity = "day"
sql = \"\"\"
SELECT date(first_project) AS time, count(*) AS activated
FROM (SELECT user_id, min(created_at) AS first_project FROM projects GROUP BY user_id)
WHERE first_project >= :since AND first_project < :until
GROUP BY 1
\"\"\"
metric = "app.users.{{column}}"
lookback = "7d"
"""


def create(directory: Path, *, force: bool = False, now: datetime | None = None, seed: int = 7) -> list[str]:
    """Create `demo-website.db` (and `analytics.toml` unless one exists); returns what was done."""
    now = floor_hour(now or datetime.now(UTC))
    database = directory / "demo-website.db"
    config = directory / "analytics.toml"
    if database.exists() and not force:
        raise ConfigError(f"{database} exists (use --force to recreate it)")
    database.unlink(missing_ok=True)
    rng = random.Random(seed)
    with sqlite3.connect(database) as db:
        db.executescript(
            """
            CREATE TABLE users (id INTEGER PRIMARY KEY, plan TEXT NOT NULL, created_at TEXT NOT NULL);
            CREATE TABLE projects (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id),
                                   created_at TEXT NOT NULL);
            CREATE TABLE screenshots (id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL REFERENCES projects(id),
                                      created_at TEXT NOT NULL, duration_ms INTEGER NOT NULL);
            """
        )
        start = now - timedelta(days=14)
        users = []
        for user_id in range(1, 601):
            created = start + timedelta(seconds=rng.randrange(int((now - start).total_seconds())))
            users.append((user_id, rng.choice(["free", "free", "free", "pro", "business"]), created))
        db.executemany("INSERT INTO users VALUES (?, ?, ?)", [(i, p, _ts(c)) for i, p, c in users])
        projects, project_id = [], 0
        for user_id, _plan, created in users:
            for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
                project_id += 1
                at = min(created + timedelta(minutes=rng.randrange(1, 3000)), now - timedelta(seconds=1))
                projects.append((project_id, user_id, _ts(at)))
        db.executemany("INSERT INTO projects VALUES (?, ?, ?)", projects)
        shots = [
            (
                i + 1,
                rng.randrange(1, project_id + 1),
                _ts(now - timedelta(minutes=rng.randrange(1, 20000))),
                rng.randrange(200, 9000),
            )
            for i in range(3000)
        ]
        db.executemany("INSERT INTO screenshots VALUES (?, ?, ?, ?)", shots)
    done = [f"created {database} ({len(users)} users, {len(projects)} projects, {len(shots)} screenshots)"]
    if config.exists():
        done.append(f"kept the existing {config}")
    else:
        config.write_text(
            DEMO_CONFIG.format(
                database=_relative(database),
                store=_relative(directory / "analytics.db"),
                dictionary=_dictionary(directory),
            ),
            encoding="utf-8",
        )
        done.append(f"wrote {config}")
    return done


DICTIONARY_ON = """
[dictionary]                            # metric definitions: descriptions, units, daily rollups
path = "metrics"
"""
DICTIONARY_OFF = """
# [dictionary]                          # metric definitions (see metrics/ in the source tree)
# path = "metrics"
"""


def _dictionary(directory: Path) -> str:
    """The metrics dictionary section: on in a clone of the repository (its `metrics/` folder), else a hint."""
    return DICTIONARY_ON if (directory / "metrics").is_dir() else DICTIONARY_OFF


def _relative(path: Path) -> str:
    """SQLite URLs are relative to the working directory: say the path from here."""
    return os.path.relpath(path.resolve(), Path.cwd()).replace(os.sep, "/")


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def add_parsers(commands, common: argparse.ArgumentParser) -> None:
    demo = commands.add_parser("demo", parents=[common], help="create a demo SQLite source and ./analytics.toml")
    demo.add_argument("--dir", default=".", type=Path, help="where to create them (default: here)")
    demo.add_argument("--force", action="store_true", help="recreate the demo database if it exists")


def run(args: argparse.Namespace) -> int:
    if args.dir.exists() and not args.dir.is_dir():
        raise ConfigError(f"--dir {args.dir}: not a folder")
    try:
        args.dir.mkdir(parents=True, exist_ok=True)
        done = create(args.dir, force=args.force)
    except (OSError, sqlite3.Error) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(f"--dir {args.dir}: cannot create the demo there: {reason}") from None
    for line in done:
        log.info("%s", line)
    log.info("next: python -m apercite_analytics read all --write")
    return 0
