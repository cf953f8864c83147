"""Track → collect → read: the SDK sends to a real collector on a loopback port, the collector writes
the events table (PostgreSQL, SQLite, MariaDB), `read events --write` reads it with only `source`
configured, and the store's counts, distinct users and duration percentiles are the ones computed
from what was sent."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import timedelta

import numpy
import pytest
from sqlalchemy import create_engine, func, select
from support.collector import CollectorProcess
from support.storeview import stored

from apercite_analytics.config.urls import database_url
from apercite_analytics.store.models import Event
from apercite_analytics.tracking.sdk import Tracker
from apercite_analytics.window import floor_hour, utcnow

NAMES = ["signup", "screenshot_rendered", "page_view"]


def sent_events(seed: int = 7, n: int = 600) -> list[dict]:
    """Events over the last three hours, some anonymous, durations for the event that has one."""
    rng = random.Random(seed)
    now = utcnow()
    start = floor_hour(now) - timedelta(hours=2)
    span = (now - start).total_seconds() - 1
    events = []
    for _ in range(n):
        name = rng.choice(NAMES)
        user = f"user-{rng.randrange(40)}@example.com" if rng.random() > 0.1 else None
        event = {"name": name, "at": start + timedelta(seconds=rng.uniform(0, span)), "user_id": user}
        if name == "screenshot_rendered":
            event["duration_ms"] = round(rng.lognormvariate(5, 1), 3)
            event["properties"] = {"format": "png", "width": 1200, "cached": rng.random() > 0.5}
        elif name == "signup":
            event["properties"] = {"plan": rng.choice(["free", "pro"]), "referrer": "newsletter"}
        events.append(event)
    return events


def expected_values(events: list[dict]) -> dict[tuple, float]:
    by_hour: dict[tuple, list[dict]] = defaultdict(list)
    by_day: dict = defaultdict(lambda: defaultdict(set))
    for event in events:
        hour = floor_hour(event["at"])
        by_hour[(event["name"], hour.date(), hour.hour)].append(event)
        if event["user_id"] is not None:
            by_day[event["name"]][hour.date()].add(event["user_id"])
    values: dict[tuple, float] = {}
    for (name, day, hour), items in by_hour.items():
        values[(f"events.{name}.count", day, hour)] = len(items)
        values[(f"events.{name}.users", day, hour)] = len({e["user_id"] for e in items if e["user_id"] is not None})
        durations = [e["duration_ms"] for e in items if "duration_ms" in e]
        if durations:
            for key, p in (("p50", 50), ("p90", 90), ("p99", 99)):
                values[(f"events.{name}.duration.{key}", day, hour)] = float(numpy.percentile(durations, p))
            values[(f"events.{name}.duration.max", day, hour)] = max(durations)
    for name, days in by_day.items():
        for day in days:
            window = [u for d, users in days.items() if day - timedelta(days=6) <= d <= day for u in users]
            values[(f"events.{name}.users", day)] = len(days[day])
            values[(f"events.{name}.users.7d", day)] = len(set(window))
            values[(f"events.{name}.users.28d", day)] = len(set(window))  # all within three hours
    return values


@pytest.fixture(params=["postgresql", "sqlite", "mariadb"])
def databases(request, tmp_path):
    """(events URL, store URL): the store's own database (migrations make the table), or MariaDB."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
        return url, url, False
    if request.param == "postgresql":
        url = request.getfixturevalue("pg_url")
        return url, url, False
    return request.getfixturevalue("mysql_url"), f"sqlite:///{tmp_path / 'store.db'}", True


def test_sdk_to_collector_to_events_reader(databases, tmp_path):
    events_url, store_url, separate = databases
    collector = CollectorProcess(tmp_path, events_url, store_url)
    assert collector.cli("db", "upgrade").returncode == 0
    if separate:  # the app's own database: the tables come from --init-table
        done = collector.cli("collect", "--init-table")
        assert done.returncode == 0, done.stderr
        assert "tables events and bad_event ready" in done.stderr
    events = sent_events()
    with collector:
        tracker = Tracker.http(collector.url, flush_every=0.05)
        for event in events:
            tracker.track(
                event["name"],
                user_id=event["user_id"],
                duration_ms=event.get("duration_ms"),
                properties=event.get("properties"),
                at=event["at"],
            )
        assert tracker.flush(30)
        tracker.close()
        assert tracker.stats()["sent"] == len(events) and tracker.stats()["dropped"] == 0
    # the graceful stop (SIGTERM) wrote everything queued
    engine = create_engine(database_url(events_url))
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Event)).scalar() == len(events)
    engine.dispose()

    # a backfill of the hours sent: it writes today's daily users too (a normal run writes a day's
    # once the day is over, docs/events.md), so every expected value is there to compare
    since = floor_hour(min(event["at"] for event in events))
    run = collector.cli("read", "events", "--write", "--since", since.isoformat())
    assert run.returncode == 0, run.stderr
    values = {  # the reader's values (the daily rollups of counts and durations are the rollup's business)
        k: v for k, v in stored(store_url).items() if k[0].startswith("events.") and (len(k) == 3 or ".users" in k[0])
    }
    expected = expected_values(events)
    assert values.keys() == expected.keys()
    for key, value in expected.items():
        assert values[key] == pytest.approx(value, rel=1e-9), key  # MariaDB rounds percentiles to 10 places
    own = stored(store_url)
    accepted = sum(v for k, v in own.items() if k[0] == "collector.events.accepted" and len(k) == 3)  # hourly
    assert accepted == len(events)
