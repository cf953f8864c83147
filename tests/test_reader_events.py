"""The `events` reader on real SQLite, PostgreSQL and MariaDB sources: counts, distinct users (hour, day,
7d, 28d), duration percentiles against numpy, UTC hour boundaries, incremental runs into a store."""

from __future__ import annotations

import logging
import os
import random
import subprocess
import sys
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy
import pytest
from sqlalchemy import create_engine, select, text
from support.storeview import stored

from apercite_analytics.cli import main as cli
from apercite_analytics.config.load import parse
from apercite_analytics.config.urls import database_url
from apercite_analytics.errors import ConfigError, SourceError
from apercite_analytics.readers import events
from apercite_analytics.readers.common.sources import Sources
from apercite_analytics.run import job as graph
from apercite_analytics.store import schema as store
from apercite_analytics.store.models import ReaderState
from apercite_analytics.store.watermarks import Watermarks
from apercite_analytics.window import Window

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
NOV20 = date(2026, 11, 20)
DIALECTS = ["sqlite", "postgresql", "mariadb"]
# the time column's type; the second of each pair is the other timestamp flavour of that dialect
TIME_TYPES = {
    "sqlite": ["TEXT"],
    "postgresql": ["TIMESTAMP WITH TIME ZONE", "TIMESTAMP"],
    "mariadb": ["DATETIME(3)", "TIMESTAMP(3) NULL"],
}


def at(text_: str) -> datetime:
    """'YYYY-MM-DD HH:MM:SS[.fff]' UTC."""
    return datetime.fromisoformat(text_).replace(tzinfo=UTC)


class Source:
    """A real source database with an `events(name, created_at, user_id, duration_ms)` table."""

    def __init__(self, dialect: str, url: str, time_type: str | None = None):
        self.dialect, self.url = dialect, url
        self.time_type = time_type or TIME_TYPES[dialect][0]

    def engine(self):
        engine = create_engine(database_url(self.url))
        if self.dialect == "mariadb":  # seed TIMESTAMP columns in UTC whatever the server's zone
            from sqlalchemy import event

            event.listen(engine, "connect", lambda c, _: c.cursor().execute("SET time_zone = '+00:00'"))
        return engine

    def run(self, *statements: str) -> None:
        engine = self.engine()
        try:
            with engine.begin() as connection:
                for statement in statements:
                    connection.execute(text(statement))
        finally:
            engine.dispose()

    def create(self, table: str = "events") -> None:
        self.run(
            f"CREATE TABLE {table} (id INTEGER, name VARCHAR(80), created_at {self.time_type}, "
            "user_id INTEGER, duration_ms DOUBLE PRECISION)"
        )
        if self.dialect != "sqlite":
            self.run(f"CREATE INDEX {table}_created_at ON {table} (created_at)")

    def insert(self, rows: Sequence[tuple], table: str = "events") -> None:
        """Rows of (name, moment (aware UTC), user or None, duration or None)."""

        def stamp(moment: datetime) -> str:
            value = moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
            # a timestamptz literal needs its offset (the seeding session's zone is the server's)
            return value + "+00:00" if self.time_type == "TIMESTAMP WITH TIME ZONE" else value

        engine = self.engine()
        try:
            with engine.begin() as connection:
                connection.execute(
                    text(f"INSERT INTO {table} (name, created_at, user_id, duration_ms) VALUES (:n, :t, :u, :d)"),
                    [{"n": n, "t": stamp(t), "u": u, "d": d} for n, t, u, d in rows],
                )
        finally:
            engine.dispose()


def make_source(request, dialect: str, tmp_path: Path, time_type: str | None = None) -> Source:
    if dialect == "sqlite":
        return Source("sqlite", f"sqlite:///{tmp_path / 'source.db'}", time_type)
    return Source(dialect, request.getfixturevalue("pg_url" if dialect == "postgresql" else "mysql_url"), time_type)


@pytest.fixture(params=DIALECTS)
def source(request, tmp_path: Path) -> Source:
    source = make_source(request, request.param, tmp_path)
    source.create()
    return source


def section(**overrides) -> dict:
    return {"source": "app", "columns": {"duration": "duration_ms"}} | overrides


def configure(url: str, **overrides) -> tuple[events.Settings, dict]:
    settings = parse({"sources": {"app": {"url": url}}, "readers": {"events": section(**overrides)}})
    return settings.readers["events"], settings.sources


def read(url: str, window: Window, state: Watermarks | None = None, **overrides) -> list[tuple[dict, dict]]:
    reader, source_settings = configure(url, **overrides)
    [node] = events.chains(reader, window)["events"]
    with Sources(source_settings) as sources:
        return list(node(sources=sources, state=state or Watermarks()))


def split(records: list[tuple[dict, dict]]) -> tuple[dict, dict]:
    """{(date, hour): metrics} and {date: metrics}; a period may appear once only."""
    hourly, daily = {}, {}
    for dims, metrics in records:
        target, key = (hourly, (dims["date"], dims["hour"])) if "hour" in dims else (daily, dims["date"])
        assert key not in target, f"{key} twice"
        target[key] = metrics
    return hourly, daily


def backfill(since: str, until: str | None = None) -> Window:
    return Window.from_args(since, until, now=NOW)


# ── a reference computation, in Python, of what the database must return ────────────────────


def reference(rows: Sequence[tuple], hours: Sequence[datetime], days: Sequence[date]) -> tuple[dict, dict]:
    hourly: dict = defaultdict(dict)
    for hour in hours:
        by_name = defaultdict(list)
        for name, moment, user, duration in rows:
            if hour <= moment < hour + timedelta(hours=1):
                by_name[name].append((user, duration))
        for name, items in by_name.items():
            part = events.name_part(name)
            metrics = hourly[(hour.date(), hour.hour)]
            metrics[f"events.{part}.count"] = len(items)
            metrics[f"events.{part}.users"] = len({u for u, _ in items if u is not None})
            durations = [d for _, d in items if d is not None]
            if durations:
                for key, p in (("p50", 50), ("p90", 90), ("p99", 99)):
                    metrics[f"events.{part}.duration.{key}"] = float(numpy.percentile(durations, p))
                metrics[f"events.{part}.duration.max"] = max(durations)
    daily: dict = defaultdict(dict)
    for day in days:
        users = {window: defaultdict(set) for window in (1, 7, 28)}
        for name, moment, user, _ in rows:
            for window, found in users.items():
                if user is not None and day - timedelta(days=window - 1) <= moment.date() <= day:
                    found[events.name_part(name)].add(user)
        for part in users[28]:  # a name with users in the last 28 days has all three values, zeros included
            for window, suffix in ((1, ""), (7, ".7d"), (28, ".28d")):
                daily[day][f"events.{part}.users{suffix}"] = len(users[window][part])
    return dict(hourly), dict(daily)


def random_events(seed: int, start: datetime, hours: int, per_hour: int) -> list[tuple]:
    rng = random.Random(seed)
    names = ["signup", "screenshot", "Screenshot Failed"]
    rows = []
    for h in range(hours):
        for _ in range(rng.randrange(per_hour // 2, per_hour)):
            moment = start + timedelta(hours=h, milliseconds=rng.randrange(3_600_000))
            user = rng.randrange(1, 40) if rng.random() > 0.1 else None  # some anonymous events
            duration = round(rng.lognormvariate(5, 1), 3) if rng.random() > 0.15 else None
            rows.append((rng.choice(names), moment, user, duration))
    return rows


def assert_close(actual: dict, expected: dict) -> None:
    """Same keys and metric names; counts exact, percentiles as numpy's (MariaDB rounds to 1e-10)."""
    assert actual.keys() == expected.keys()
    for key in expected:
        assert actual[key].keys() == expected[key].keys(), key
        for name, value in expected[key].items():
            if ".duration." in name:
                assert actual[key][name] == pytest.approx(value, rel=1e-12, abs=1e-9), (key, name)
            else:
                assert actual[key][name] == value, (key, name)


# ── aggregates, on every dialect ─────────────────────────────────────────────────────────────


def test_hourly_and_daily_aggregates_match_a_reference(source):
    start = at("2026-11-17 00:00:00")
    rows = random_events(5, start, hours=3 * 24 + 16, per_hour=14)  # to 16:00 on the 20th: 15:30… is in the future
    rows = [r for r in rows if r[1] < NOW]
    source.insert(rows)
    hourly, daily = split(read(source.url, backfill("2026-11-19T20:00")))
    hours = [at("2026-11-19 20:00:00") + timedelta(hours=h) for h in range(20)]
    days = [date(2026, 11, 19), NOV20]
    expected_hourly, expected_daily = reference(rows, hours, days)
    assert len(expected_hourly) == 20 and sum(len(m) for m in expected_hourly.values()) > 200  # data to compare
    assert_close(hourly, expected_hourly)
    assert_close(daily, expected_daily)


def returning_users(seed: int, start: str, days: int, count: int) -> list[tuple]:
    """`count` logins and exports of 25 users over `days` days: users come back after gaps of every
    length (1 to 40 days), so their spans overlap, touch and part."""
    rng = random.Random(seed)
    first = at(f"{start} 00:00:00")
    return [
        (
            rng.choice(["login", "export"]),
            first + timedelta(minutes=rng.randrange(days * 24 * 60)),
            rng.randrange(25),
            None,
        )
        for _ in range(count)
    ]


def test_daily_values_over_many_days_match_a_reference(source):
    rows = [r for r in returning_users(11, "2026-10-01", days=50, count=400) if r[1] < NOW]
    source.insert(rows)
    _, daily = split(read(source.url, backfill("2026-11-01", "2026-11-20T16:00")))
    days = [date(2026, 11, 1) + timedelta(days=d) for d in range(20)]
    _, expected = reference(rows, [], days)
    assert len(expected) == 20
    assert_close(daily, expected)


def test_one_day_at_a_time_gives_the_reference_daily_values(source):
    # the once-a-day run reads one day (its own statement): the same values as the reference, with users
    # who come back after gaps of every length and on the windows' edges (days 1, 7 and 28 back)
    rows = returning_users(12, "2026-10-10", days=40, count=300)
    day = date(2026, 11, 12)
    for back, clock in (
        (0, "00:00:00"),
        (0, "23:59:59.999"),
        (6, "00:00:00"),
        (7, "23:59:59.999"),
        (27, "00:00:00"),
        (28, "23:59:59.999"),
    ):
        rows.append(("edge", at(f"{day - timedelta(days=back)} {clock}"), 100 + back, None))
    rows.append(("edge", at(f"{day} 12:00:00"), None, None))  # anonymous: never a user
    rows = [r for r in rows if r[1] < NOW]
    source.insert(rows)
    days = [day - timedelta(days=1), day, day + timedelta(days=1), day + timedelta(days=6)]
    _, expected = reference(rows, [], days)
    for one in days:
        _, daily = split(read(source.url, backfill(f"{one}T00:00", f"{one + timedelta(days=1)}T00:00")))
        assert daily == {one: expected[one]}, one
    assert [expected[day][f"events.edge.users{w}"] for w in ("", ".7d", ".28d")] == [1, 2, 4]  # edges: in, in, out


@pytest.mark.parametrize(
    ("dialect", "time_type"), [(dialect, time_type) for dialect in DIALECTS for time_type in TIME_TYPES[dialect]]
)
def test_hour_boundaries_are_utc_hours(request, tmp_path, dialect, time_type):
    source = make_source(request, dialect, tmp_path, time_type)
    if dialect == "postgresql":  # sessions default to a zone 5:30 off UTC: the reader's must still be UTC
        database = source.url.rsplit("/", 1)[1]
        source.run(f"ALTER DATABASE {database} SET timezone = 'Asia/Kolkata'")
    source.create()
    source.insert(
        [
            ("signup", at("2026-11-20 09:59:59.999"), 1, 1.0),  # before --since
            ("signup", at("2026-11-20 10:00:00"), 1, 2.0),
            ("signup", at("2026-11-20 10:59:59.999"), 2, 3.0),
            ("signup", at("2026-11-20 11:00:00"), 3, 4.0),
            ("signup", at("2026-11-20 11:59:59.999"), 3, 5.0),
            ("signup", at("2026-11-20 12:00:00"), 4, 6.0),  # --until is exclusive
        ]
    )
    hourly, _ = split(read(source.url, backfill("2026-11-20T10:00", "2026-11-20T12:00")))
    assert hourly == {
        (NOV20, 10): {
            "events.signup.count": 2,
            "events.signup.users": 2,
            "events.signup.duration.p50": 2.5,
            "events.signup.duration.p90": 2.9,
            "events.signup.duration.p99": pytest.approx(2.99),
            "events.signup.duration.max": 3.0,
        },
        (NOV20, 11): {
            "events.signup.count": 2,
            "events.signup.users": 1,
            "events.signup.duration.p50": 4.5,
            "events.signup.duration.p90": 4.9,
            "events.signup.duration.p99": pytest.approx(4.99),
            "events.signup.duration.max": 5.0,
        },
    }, (dialect, time_type)


def test_rolling_windows_at_their_edges(source):
    day = date(2026, 11, 20)

    def on(days_before: int, clock: str = "12:00:00") -> datetime:
        return at(f"{day - timedelta(days=days_before)} {clock}")

    source.insert(
        [
            ("login", on(28, "23:59:59.999"), 1, None),  # D-28 of the 20th: out; D-27 of the 19th: in
            ("login", on(27, "00:00:00"), 2, None),  # first moment of the 28-day window
            ("login", on(7, "23:59:59.999"), 3, None),  # last moment before the 7-day window
            ("login", on(6, "00:00:00"), 4, None),  # first moment of the 7-day window
            ("login", on(6), 4, None),  # the same user again
            ("login", on(0, "00:00:00"), 5, None),
            ("login", on(0, "15:00:00"), 5, None),
            ("login", on(0, "15:10:00"), None, None),  # anonymous: counted, never a user
            ("login", on(-1, "00:00:00"), 6, None),  # the 21st: after the day
        ]
    )
    _, daily = split(read(source.url, backfill("2026-11-19T00:00", "2026-11-20T16:00")))
    assert daily == {
        date(2026, 11, 19): {
            "events.login.users": 0,
            "events.login.users.7d": 2,  # users 3 (D-6 of the 19th is the 13th) and 4
            "events.login.users.28d": 4,  # users 1 (the 23rd of October is D-27 of the 19th), 2, 3, 4
        },
        day: {"events.login.users": 1, "events.login.users.7d": 2, "events.login.users.28d": 4},
    }


def test_allow_list_reads_only_those_names_and_writes_zeros(source):
    source.insert(
        [
            ("signup", at("2026-11-20 13:10:00"), 1, 10.0),
            ("screenshot", at("2026-11-20 13:20:00"), 1, 20.0),
            ("signup", at("2026-11-20 15:05:00"), 2, None),
        ]
    )
    hourly, daily = split(read(source.url, backfill("2026-11-20T13:00"), events=["signup", "Activation"]))
    assert hourly == {
        (NOV20, 13): {
            "events.activation.count": 0,
            "events.activation.users": 0,
            "events.signup.count": 1,
            "events.signup.users": 1,
            "events.signup.duration.p50": 10.0,
            "events.signup.duration.p90": 10.0,
            "events.signup.duration.p99": 10.0,
            "events.signup.duration.max": 10.0,
        },
        (NOV20, 14): {
            "events.activation.count": 0,
            "events.activation.users": 0,
            "events.signup.count": 0,
            "events.signup.users": 0,
        },
        (NOV20, 15): {  # the current, partial hour; every duration NULL: no percentiles
            "events.activation.count": 0,
            "events.activation.users": 0,
            "events.signup.count": 1,
            "events.signup.users": 1,
        },
    }
    assert daily == {
        NOV20: {
            "events.activation.users": 0,
            "events.activation.users.7d": 0,
            "events.activation.users.28d": 0,
            "events.signup.users": 2,
            "events.signup.users.7d": 2,
            "events.signup.users.28d": 2,
        }
    }


def test_without_duration_column(source):
    source.insert([("signup", at("2026-11-20 13:10:00"), 7, 10.0), ("signup", at("2026-11-20 13:20:00"), 7, 30.0)])
    hourly, _ = split(read(source.url, backfill("2026-11-20T13:00", "2026-11-20T14:00"), columns={"duration": ""}))
    assert hourly == {(NOV20, 13): {"events.signup.count": 2, "events.signup.users": 1}}


def test_schema_table_and_mixed_case_columns_are_quoted(pg_url):
    source = Source("postgresql", pg_url)
    source.run(
        "CREATE SCHEMA product",
        'CREATE TABLE product."Events" ("Kind" text, "createdAt" timestamptz, "user" integer, "select" real)',
        "INSERT INTO product.\"Events\" VALUES ('signup', '2026-11-20 13:10:00+00', 1, 4), "
        "('signup', '2026-11-20 13:20:00+00', 2, 8)",
    )
    columns = {"name": "Kind", "time": "createdAt", "user": "user", "duration": "select"}  # reserved words too
    hourly, _ = split(
        read(source.url, backfill("2026-11-20T13:00", "2026-11-20T14:00"), table="product.Events", columns=columns)
    )
    assert hourly == {
        (NOV20, 13): {
            "events.signup.count": 2,
            "events.signup.users": 2,
            "events.signup.duration.p50": 6.0,
            "events.signup.duration.p90": 7.6,
            "events.signup.duration.p99": pytest.approx(7.96),
            "events.signup.duration.max": 8.0,
        }
    }
    with pytest.raises(
        SourceError, match=r"readers\.events\.columns\.time: table 'product\.Events' has no column 'createdat'"
    ):
        read(source.url, backfill("2026-11-20T13:00"), table="product.Events", columns=columns | {"time": "createdat"})


def test_names_colliding_after_sanitising(source):
    source.insert([("Sign Up", at("2026-11-20 13:10:00"), 1, None), ("sign-up", at("2026-11-20 13:20:00"), 2, None)])
    with pytest.raises(SourceError) as info:
        read(source.url, backfill("2026-11-20T13:00"))
    assert str(info.value) == (
        "events: event names 'Sign Up' and 'sign-up' both give metric names events.sign_up.* "
        "(rename one, or list the names to read in `events`)"
    )


def test_a_missing_column_names_the_key_and_lists_the_columns(source):
    with pytest.raises(SourceError) as info:
        read(source.url, backfill("2026-11-20T13:00"), columns={"user": "account_id"})
    message = str(info.value)
    assert message.startswith("source 'app' (")
    assert message.endswith(
        "readers.events.columns.user: table 'events' has no column 'account_id' "
        "(columns: id, name, created_at, user_id, duration_ms)"
    )
    with pytest.raises(SourceError, match=r"readers\.events\.table: table 'evnts' not found in the source$"):
        read(source.url, backfill("2026-11-20T13:00"), table="evnts")


# ── incremental runs ─────────────────────────────────────────────────────────────────────────


def test_plan_of_normal_runs_and_backfills():
    settings, _ = configure("sqlite:///unused.db")
    window = Window(now=NOW)
    hour = at("2026-11-20 15:00:00")
    first = events.plan(settings, window, None)
    assert (first.start, first.end, first.advance_to) == (hour - timedelta(days=2), hour + timedelta(hours=1), hour)
    assert list(first.days()) == [date(2026, 11, 18), date(2026, 11, 19), NOV20]
    later = events.plan(settings, window, at("2026-11-20 12:00:00"))
    assert (later.start, later.end, later.advance_to) == (at("2026-11-20 11:00:00"), hour + timedelta(hours=1), hour)
    ahead = events.plan(settings, window, at("2026-11-20 18:00:00"))  # a watermark ahead of the clock
    assert ahead.start == at("2026-11-20 14:00:00")
    old = events.plan(settings, backfill("2026-11-01", "2026-11-02"), at("2026-11-20 12:00:00"))
    assert (old.start, old.end, old.advance_to) == (at("2026-11-01 00:00:00"), at("2026-11-02 00:00:00"), None)
    catch_up = events.plan(settings, backfill("2026-11-19"), at("2026-11-20 12:00:00"))
    assert (catch_up.start, catch_up.end, catch_up.advance_to) == (
        at("2026-11-19 00:00:00"),
        hour + timedelta(hours=1),
        hour,
    )


def test_plan_of_the_daily_values():
    """A day's daily values once, when the day is final (its last hour past `lookback`)."""
    settings, _ = configure("sqlite:///unused.db")
    nov = {d: date(2026, 11, d) for d in range(18, 24)}
    midnight = {d: at(f"{nov[d]} 00:00:00") for d in nov}

    def days(now: str, mark: str | None, days_mark: str | None = "2026-11-20 00:00:00") -> tuple:
        planned = events.plan(settings, Window(now=at(now)), mark and at(mark), days_mark and at(days_mark))
        return planned.daily_days(), planned.days_advance_to

    # the steady state: yesterday is final, today waits
    assert days("2026-11-20 15:30:00", "2026-11-20 15:00:00") == (None, midnight[20])
    # 00:10: the 20th's last hour is read again (lookback 1h): not final yet
    assert days("2026-11-21 00:10:00", "2026-11-21 00:00:00") == (None, midnight[20])
    # 01:10: the 20th is final
    assert days("2026-11-21 01:10:00", "2026-11-21 01:00:00") == ((nov[20], nov[20]), midnight[21])
    # a job stopped for three days finalizes each of them
    assert days("2026-11-23 09:10:00", "2026-11-20 09:00:00") == ((nov[20], nov[22]), midnight[23])
    # the first run: the complete days of its initial lookback (2d)
    assert days("2026-11-20 15:30:00", None, None) == ((nov[18], nov[19]), midnight[20])
    # a backfill recomputes every day it touches, today's too, and leaves the days watermark alone
    planned = events.plan(settings, backfill("2026-11-19T20:00"), None, midnight[19])
    assert (planned.daily_days(), planned.days_advance_to) == ((nov[19], nov[20]), None)


def test_a_hint_when_no_index_starts_with_the_time_column(request, tmp_path):
    source = make_source(request, "sqlite", tmp_path)
    source.create()  # no index on SQLite
    messages: list[str] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = lambda record: messages.append(record.getMessage())
    logger = logging.getLogger("apercite_analytics")
    logger.addHandler(handler)
    try:
        read(source.url, backfill("2026-11-20T13:00"))
        assert messages == [
            "events: table 'events' has no index on its time column 'created_at', so every run reads the whole "
            "table; create one: CREATE INDEX events_created_at ON events (created_at)"
        ]
        messages.clear()
        source.run("CREATE INDEX events_at ON events (created_at, name)")
        read(source.url, backfill("2026-11-20T13:00"))
        assert messages == []
    finally:
        logger.removeHandler(handler)


def watermark(engine, key: str = "events"):
    with engine.connect() as connection:
        mark = connection.execute(
            select(ReaderState.watermark).where(ReaderState.reader == "events", ReaderState.key == key)
        ).scalar_one()
    return mark if mark.tzinfo else mark.replace(tzinfo=UTC)


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_incremental_runs_catch_up_from_the_watermark(request, tmp_path, store_url, dialect):
    source = make_source(request, dialect, tmp_path)
    source.create()
    source.insert(
        [
            ("signup", at("2026-11-20 08:10:00"), 1, 5.0),
            ("signup", at("2026-11-20 13:10:00"), 2, 7.0),
            ("signup", at("2026-11-20 15:20:00"), 6, 3.0),
        ]
    )
    config = parse(
        {
            "store": {"url": store_url},
            "sources": {"app": {"url": source.url}},
            "readers": {"events": section(initial_lookback="3h")},
        }
    )
    cli.setup_logging(-1)

    def run(now: datetime):
        chains = events.chains(config.readers["events"], Window(now=now))
        result = graph.run_chains(config, chains, ["events"], write=True)
        assert result.ok, result.failures
        return result

    run(NOW)  # the first run reads 12:00 – 15:59 (initial_lookback 3h back from 15:00)
    engine = store.open_engine(store_url)
    try:
        values = stored(engine, daily=False)
        assert values[("events.signup.count", NOV20, 13)] == 1
        assert values[("events.signup.count", NOV20, 15)] == 1  # the current, partial hour
        assert ("events.signup.count", NOV20, 8) not in values  # before the initial lookback
        assert watermark(engine) == at("2026-11-20 15:00:00")

        # new events: in the partial hour read last time, in hours not read yet, and one late row
        source.insert(
            [
                ("signup", at("2026-11-20 15:45:00"), 3, 9.0),
                ("signup", at("2026-11-20 16:30:00"), 3, 11.0),
                ("signup", at("2026-11-20 17:05:00"), 4, 13.0),
                ("signup", at("2026-11-20 14:20:00"), 5, 1.0),  # committed late: inside `lookback` (1h)
            ]
        )
        run(NOW + timedelta(hours=2, minutes=10))  # 17:40: reads 14:00 – 17:59
        values = stored(engine, daily=False)
        assert watermark(engine) == at("2026-11-20 17:00:00")
        assert {h: values[("events.signup.count", NOV20, h)] for h in (13, 14, 16, 17)} == {13: 1, 14: 1, 16: 1, 17: 1}
        assert values[("events.signup.count", NOV20, 15)] == 2  # the partial hour, rewritten
        assert values[("events.signup.duration.max", NOV20, 17)] == 13.0

        def daily() -> dict:
            with engine.connect() as connection:
                return dict(
                    connection.execute(
                        text(
                            "SELECT m.name, d.value FROM daily_value d JOIN metric m ON m.id = d.metric_id "
                            "WHERE d.date = :day ORDER BY m.name"
                        ),
                        {"day": NOV20},
                    ).all()
                )

        # the day's distinct users wait for the day to be over (they cannot change after)
        assert daily() == {}
        assert watermark(engine, "events days") == at("2026-11-20 00:00:00")
        run(at("2026-11-21 00:10:00"))  # the 20th's last hour is read again (lookback): not final yet
        assert daily() == {}
        run(at("2026-11-21 01:10:00"))  # final: written once
        assert daily() == {
            "events.signup.users": 6,  # user 1 (08:10) is in the day, though in no hour read
            "events.signup.users.7d": 6,
            "events.signup.users.28d": 6,
        }
        assert watermark(engine, "events days") == at("2026-11-21 00:00:00")
    finally:
        engine.dispose()


def test_the_command_line_backfills_into_the_store(tmp_path, pg_url):
    source = Source("postgresql", pg_url)
    source.create()
    yesterday = datetime.now(UTC).replace(minute=0, second=0, microsecond=0) - timedelta(days=1)
    source.insert([("signup", yesterday + timedelta(minutes=5), 1, 2.0), ("signup", yesterday, 2, 4.0)])
    config = tmp_path / "analytics.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "store.db"}"\n'
        f'[sources.app]\nurl = "{pg_url}"\n'
        '[readers.events]\nsource = "app"\ncolumns = { duration = "duration_ms" }\n'
    )
    since = (yesterday - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    until = (yesterday + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M")
    command = [
        sys.executable,
        "-m",
        "apercite_analytics",
        "read",
        "events",
        "--write",
        "--since",
        since,
        "--until",
        until,
    ]
    env = {k: v for k, v in os.environ.items() if k != "APERCITE_CONFIG"}
    done = subprocess.run([*command, "-c", str(config)], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    engine = store.open_engine(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        values = stored(engine, daily=False)
    finally:
        engine.dispose()
    key = (yesterday.date(), yesterday.hour)
    assert values[("events.signup.count", *key)] == 2
    assert values[("events.signup.duration.p50", *key)] == 3.0
    assert values[("events.signup.users", *key)] == 2


# ── configuration ────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"columns": {"user": "user id"}}, "readers.events.columns.user: 'user id' is not a column name"),
        ({"columns": {"time": "t; drop table x"}}, "readers.events.columns.time: 't; drop table x' is not a column"),
        ({"columns": {"usr": "x"}}, "readers.events.columns.usr: unknown key"),
        ({"columns": {"user": "name"}}, "readers.events.columns: name, time, user and duration must be different"),
        ({"table": "a.b.c"}, "readers.events.table: 'a.b.c' is not a table name"),
        ({"lookback": "1w"}, 'readers.events.lookback: expected a duration like "3h" or "2d", got \'1w\''),
        ({"initial_lookback": "0d"}, "readers.events.initial_lookback: expected a duration"),
        ({"source": "nope"}, "readers.events.source: unknown source 'nope' (sources: app)"),
        ({"events": ["Sign Up", "sign_up"]}, "readers.events.events[1]: 'Sign Up' and 'sign_up' both give"),
        ({"events": "signup"}, "readers.events.events: expected a list"),
    ],
)
def test_config_errors_name_the_key(overrides, expected):
    with pytest.raises(ConfigError) as info:
        configure("sqlite:///unused.db", **overrides)
    assert str(info.value).startswith(expected)


def test_default_columns_are_the_collectors_table():
    settings, _ = configure("sqlite:///unused.db", columns={})
    expected = {"name": "name", "time": "created_at", "user": "user_id", "duration": "duration_ms"}
    assert settings.columns.roles() == expected
    assert settings.table == "events" and settings.events == []
    settings, _ = configure("sqlite:///unused.db", columns={"duration": ""})
    assert settings.columns.roles()["duration"] is None


@pytest.mark.parametrize("dialect", DIALECTS)
def test_text_durations_are_ordered_as_numbers(request, tmp_path, dialect):
    """Issue 15, item 3: '100', '20', '3' sorted as strings gave p90 = 6.4 on SQLite."""
    source = make_source(request, dialect, tmp_path)
    source.run(
        f"CREATE TABLE events (name VARCHAR(80), created_at {source.time_type}, user_id INTEGER, duration_ms TEXT)"
    )
    moment = at("2026-11-20 10:15:00")
    source.run(
        *(
            f"INSERT INTO events VALUES ('signup', '{moment:%Y-%m-%d %H:%M:%S}', {i}, '{d}')"
            for i, d in enumerate(["100", "20", "3"])
        )
    )
    hourly, _ = split(read(source.url, backfill("2026-11-20T10:00", "2026-11-20T11:00")))
    metrics = hourly[(NOV20, 10)]
    expected = {key: float(numpy.percentile([100, 20, 3], p)) for key, p in (("p50", 50), ("p90", 90), ("p99", 99))}
    for key, value in expected.items():
        assert metrics[f"events.signup.duration.{key}"] == pytest.approx(value, rel=1e-9), (dialect, key)
    assert metrics["events.signup.duration.max"] == 100


def test_mariadb_max_of_a_single_precision_float_keeps_every_digit(request, tmp_path):
    """Issue 15, item 5: MAX(FLOAT) came back with 6 significant digits (2426.224 → 2426.22)."""
    source = make_source(request, "mariadb", tmp_path)
    source.run(
        f"CREATE TABLE events (name VARCHAR(80), created_at {source.time_type}, user_id INTEGER, duration_ms FLOAT)"
    )
    source.insert([("signup", at("2026-11-20 10:05:00"), 1, 2426.224), ("signup", at("2026-11-20 10:06:00"), 2, 1.5)])
    hourly, _ = split(read(source.url, backfill("2026-11-20T10:00", "2026-11-20T11:00")))
    stored_as = float(numpy.float32(2426.224))  # what a FLOAT column holds: 2426.22412109375
    assert hourly[(NOV20, 10)]["events.signup.duration.max"] == stored_as
    assert hourly[(NOV20, 10)]["events.signup.duration.p99"] == pytest.approx(1.5 + (stored_as - 1.5) * 0.99)
