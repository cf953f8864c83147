"""`apercite-analytics demo`: a small SQLite "website" database, and a project folder (`init`) whose
config reads it with four readers, so that a fresh machine runs the real job with no server and
every dashboard that needs neither GA nor Prometheus has data: `demo` then `read all --write`.

The website has users (plans), projects, screenshots, an app events table (signup, activation,
screenshot with its duration) and a workers' status table, over the last 14 days.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from apercite_analytics.cli.init import write_project
from apercite_analytics.errors import ConfigError
from apercite_analytics.window import floor_hour

log = logging.getLogger("apercite_analytics")
DAYS = 14
WORKERS = 12

DEMO_CONFIG = """\
# apercite-analytics demo configuration, written by `apercite-analytics demo`.
# Every key: docs/configuration.md and docs/readers.md. Relative paths are from this file's folder.

[store]
url = "sqlite:///analytics.db"          # the metric store (embedded; production: PostgreSQL)

[dictionary]                            # metric definitions: descriptions, units, daily rollups
path = "metrics"

[sources.website]
url = "sqlite:///demo-website.db"       # the demo "website" database (opened read-only)

[readers.objects]                       # row counts -> objects.<table>.count, hourly
source = "website"
tables = ["users", "projects", "screenshots"]

[readers.events]                        # app events -> events.<name>.count/.users/.duration.p50…, WAU/MAU
source = "website"
columns = { duration = "duration_ms" }
initial_lookback = "15d"                # the first run reads the whole demo history

[readers.spiders]                       # worker status -> spider.idle/active/total/stale, hourly
source = "website"
fresh = "1d"                            # the demo's workers reported within the last day

[readers.sql.queries.signups]           # new users per hour -> app.signups.<plan>
source = "website"
sql = \"\"\"
SELECT strftime('%Y-%m-%d %H:00:00', created_at) AS time, plan, count(*) AS count
FROM users
WHERE created_at >= :since AND created_at < :until
GROUP BY 1, 2
\"\"\"
dimensions = ["plan"]
metric = "app.signups.{plan}"
lookback = "48h"

[readers.sql.queries.activations]       # users who created a first project, per day; once a day
source = "website"
granularity = "day"
every = "1d"
sql = \"\"\"
SELECT date(first_project) AS time, count(*) AS activated
FROM (SELECT user_id, min(created_at) AS first_project FROM projects GROUP BY user_id)
WHERE first_project >= :since AND first_project < :until
GROUP BY 1
\"\"\"
metric = "app.users.{column}"
lookback = "7d"
"""

SCHEMA = """
CREATE TABLE users (id INTEGER PRIMARY KEY, plan TEXT NOT NULL, created_at TEXT NOT NULL);
CREATE TABLE projects (id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id), created_at TEXT NOT NULL);
CREATE TABLE screenshots (id INTEGER PRIMARY KEY, project_id INTEGER NOT NULL REFERENCES projects(id),
                          created_at TEXT NOT NULL, duration_ms INTEGER NOT NULL);
CREATE TABLE events (id INTEGER PRIMARY KEY, name TEXT NOT NULL, created_at TEXT NOT NULL, user_id INTEGER,
                     duration_ms INTEGER);
CREATE INDEX events_created_at ON events (created_at);
CREATE TABLE spiders (id TEXT NOT NULL, attributes TEXT NOT NULL, updated_at TEXT NOT NULL);
"""


def create(directory: Path, *, force: bool = False, now: datetime | None = None, seed: int = 7) -> list[str]:
    """Create `demo-website.db` and the project folder (`init`, with the demo config); returns what was done."""
    now = floor_hour(now or datetime.now(UTC))
    database = directory / "demo-website.db"
    if database.exists() and not force:
        raise ConfigError(f"{database} exists (use --force to recreate it)")
    done = write_project(directory, config=DEMO_CONFIG, force=False)
    database.unlink(missing_ok=True)
    rng = random.Random(seed)
    start = now - timedelta(days=DAYS)
    users = []
    for user_id in range(1, 601):
        created = start + timedelta(seconds=rng.randrange(int((now - start).total_seconds())))
        users.append((user_id, rng.choice(["free", "free", "free", "pro", "business"]), created))
    projects, project_id = [], 0
    for user_id, _plan, created in users:
        for _ in range(rng.choice([0, 0, 1, 1, 2, 3])):
            project_id += 1
            at = min(created + timedelta(minutes=rng.randrange(1, 3000)), now - timedelta(seconds=1))
            projects.append((project_id, user_id, at))
    owner = {p: u for p, u, _ in projects}
    project_created = {p: at for p, _, at in projects}
    shots = []
    for i in range(3000):
        project = rng.randrange(1, project_id + 1)
        at = max(now - timedelta(minutes=rng.randrange(1, 20000)), project_created[project])
        shots.append((i + 1, project, at, rng.randrange(200, 9000)))
    events = _events(users, projects, shots, owner)
    spiders = _spiders(rng, now)
    with sqlite3.connect(database) as db:
        db.executescript(SCHEMA)
        db.executemany("INSERT INTO users VALUES (?, ?, ?)", [(i, p, _ts(c)) for i, p, c in users])
        db.executemany("INSERT INTO projects VALUES (?, ?, ?)", [(i, u, _ts(c)) for i, u, c in projects])
        db.executemany("INSERT INTO screenshots VALUES (?, ?, ?, ?)", [(i, p, _ts(c), d) for i, p, c, d in shots])
        db.executemany("INSERT INTO events (name, created_at, user_id, duration_ms) VALUES (?, ?, ?, ?)", events)
        db.executemany("INSERT INTO spiders VALUES (?, ?, ?)", spiders)
    db.close()
    done.insert(
        0,
        f"created {database} ({len(users)} users, {len(projects)} projects, {len(shots)} screenshots, "
        f"{len(events)} events, {WORKERS} workers)",
    )
    return done


def _events(users: list, projects: list, shots: list, owner: dict[int, int]) -> list[tuple]:
    """signup per user, activation at a user's first project, screenshot (with its duration) per screenshot."""
    rows = [("signup", _ts(created), user_id, None) for user_id, _plan, created in users]
    first: dict[int, datetime] = {}
    for _project, user_id, at in projects:
        first[user_id] = min(at, first.get(user_id, at))
    rows += [("activation", _ts(at), user_id, None) for user_id, at in first.items()]
    rows += [("screenshot", _ts(at), owner[project], duration) for _i, project, at, duration in shots]
    return sorted(rows, key=lambda r: r[1])


def _spiders(rng: random.Random, now: datetime) -> list[tuple]:
    """Workers reporting in the last hours, some rendering (a stage), some idle, two silent for days."""
    rows = []
    for n in range(WORKERS):
        stage = rng.choice(["render", "upload", None, None]) if n < WORKERS - 2 else None
        age = timedelta(minutes=rng.randrange(1, 120)) if n < WORKERS - 2 else timedelta(days=3)
        attributes = {"stage": stage, "host": f"worker-{n:02d}"}
        rows.append((f"w{n:02d}", json.dumps(attributes), _ts(now - age)))
    return rows


def _ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def add_parsers(commands, common: argparse.ArgumentParser) -> None:
    demo = commands.add_parser(
        "demo", parents=[common], help="create a demo SQLite source and a project folder (init) that reads it"
    )
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
    where = "" if args.dir == Path(".") else f" -c {args.dir / 'analytics.toml'}"
    log.info("next: apercite-analytics read all --write%s", where)
    return 0
