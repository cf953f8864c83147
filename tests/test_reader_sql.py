"""The `sql` reader called directly (no Bonobo): named queries on real SQLite, PostgreSQL, MariaDB sources."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from apercite_analytics.config.load import parse
from apercite_analytics.config.settings import SourceSettings
from apercite_analytics.config.urls import database_url
from apercite_analytics.errors import ConfigError, SourceError
from apercite_analytics.readers import sql
from apercite_analytics.readers.common.naming import name_part
from apercite_analytics.readers.common.sources import Sources
from apercite_analytics.readers.sql import RunQuery
from apercite_analytics.window import Window

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
WINDOW = Window(now=NOW)
NOV19, NOV20 = date(2026, 11, 19), date(2026, 11, 20)

# Hour truncation per dialect. With SQLAlchemy text() a literal % is written once: SQLAlchemy doubles
# it for pymysql's format paramstyle (writing %% would reach MariaDB as %% and break DATE_FORMAT).
HOUR = {
    "sqlite": "strftime('%Y-%m-%d %H:00:00', created_at)",
    "postgresql": "date_trunc('hour', created_at)",
    "mariadb": "DATE_FORMAT(created_at, '%Y-%m-%d %H:00:00')",
}
DAY = {
    "sqlite": "date(created_at)",
    "postgresql": "date_trunc('day', created_at)",
    "mariadb": "DATE(created_at)",
}
TIMESTAMP = {"sqlite": "TEXT", "postgresql": "TIMESTAMP", "mariadb": "DATETIME"}
DIALECTS = ["sqlite", "postgresql", "mariadb"]


def hour(day: date, h: int) -> dict:
    return {"date": day, "hour": h}


# ── helpers ──────────────────────────────────────────────────────────────────────────────────


class Source:
    """A real source database of one dialect."""

    def __init__(self, dialect: str, url: str):
        self.dialect, self.url = dialect, url

    def run(self, *statements: str, rows: Sequence[dict] = (), insert: str = "") -> None:
        engine = create_engine(database_url(self.url))
        try:
            with engine.begin() as connection:
                for statement in statements:
                    connection.execute(text(statement))
                if rows:
                    connection.execute(text(insert), list(rows))
        finally:
            engine.dispose()

    def events(self, *moments: str | tuple[str, str | None]) -> None:
        """Table `events(created_at, plan)`: a row per moment ('YYYY-MM-DD HH:MM:SS' UTC, or (at, plan))."""
        rows = [{"at": m, "plan": None} if isinstance(m, str) else {"at": m[0], "plan": m[1]} for m in moments]
        self.run(
            f"CREATE TABLE events (id INTEGER, created_at {TIMESTAMP[self.dialect]} NOT NULL, plan VARCHAR(40))",
            rows=rows,
            insert="INSERT INTO events (created_at, plan) VALUES (:at, :plan)",
        )


@pytest.fixture(params=DIALECTS)
def source(request, tmp_path: Path) -> Source:
    if request.param == "sqlite":
        return Source("sqlite", f"sqlite:///{tmp_path / 'source.db'}")
    fixture = "pg_url" if request.param == "postgresql" else "mysql_url"
    return Source(request.param, request.getfixturevalue(fixture))


@pytest.fixture
def sqlite_source(tmp_path: Path) -> Source:
    return Source("sqlite", f"sqlite:///{tmp_path / 'source.db'}")


@pytest.fixture
def pg_source(pg_url: str) -> Source:
    return Source("postgresql", pg_url)


def configure(url: str, queries: dict, **section) -> tuple[sql.Settings, dict[str, SourceSettings]]:
    """Parse a TOML-shaped dict (runs the reader's `check`): the `[readers.sql]` settings and the sources."""
    settings = parse(
        {
            "sources": {"app": {"url": url}},
            "readers": {"sql": {"source": "app", **section, "queries": queries}},
        }
    )
    return settings.readers["sql"], settings.sources


def read(url: str, queries: dict, window: Window = WINDOW, **section) -> dict[str, list]:
    """Every chain of the reader run to the end: `{chain name: [(dims, metrics), …]}`."""
    reader, source_settings = configure(url, queries, **section)
    with Sources(source_settings) as sources:
        return {name: list(chain[-1](sources=sources)) for name, chain in sql.chains(reader, window).items()}


def read_one(url: str, query: dict, window: Window = WINDOW, name: str = "signups") -> list:
    return read(url, {name: query}, window)[f"sql.{name}"]


def read_error(url: str, query: dict, window: Window = WINDOW, name: str = "signups") -> str:
    """The SourceError a query fails with; no record may come out before it (rows are checked whole)."""
    reader, source_settings = configure(url, {name: query})
    [node] = sql.chains(reader, window)[f"sql.{name}"]
    with Sources(source_settings) as sources, pytest.raises(SourceError) as info:
        next(node(sources=sources))
    message = str(info.value)
    assert "\n" not in message
    return message


def config_error(queries: dict, **section) -> str:
    raw = {
        "sources": {"app": {"url": "sqlite:///unused.db"}},
        "readers": {"sql": {**section, "queries": queries}},
    }
    with pytest.raises(ConfigError) as info:
        parse(raw)
    return str(info.value)


def hourly(dialect: str, where: str = "WHERE created_at >= :since AND created_at < :until") -> str:
    return f"SELECT {HOUR[dialect]} AS time, count(*) AS count FROM events {where} GROUP BY 1"


# ── windows and hours, on every dialect ──────────────────────────────────────────────────────


def test_window_bounds_are_exact_at_hour_boundaries(source):
    source.events(
        "2026-11-20 09:59:59",  # before :since
        "2026-11-20 10:00:00",
        "2026-11-20 10:30:00",
        "2026-11-20 10:59:59",
        "2026-11-20 11:00:00",
        "2026-11-20 11:59:59",
        "2026-11-20 12:00:00",  # exactly :until, excluded
    )
    window = Window.from_args("2026-11-20T10:00", "2026-11-20T12:00", now=NOW)
    assert read_one(source.url, {"sql": hourly(source.dialect)}, window) == [
        (hour(NOV20, 10), {"signups.count": 3}),
        (hour(NOV20, 11), {"signups.count": 2}),
    ]


@pytest.mark.parametrize(
    ("lookback", "hours"),
    [
        (None, [12, 13, 14, 15]),  # default 3h: from 12:30 floored, to the end of the current hour
        ("1h", [14, 15]),
        ("1d", [8, 9, 10, 11, 12, 13, 14, 15]),
    ],
)
def test_lookback_on_a_normal_run(source, lookback, hours):
    # hour h (8…16) holds h - 7 events; 16:xx is after `now` (15:30) and never read
    source.events(*(f"2026-11-20 {h:02d}:{5 * i:02d}:00" for h in range(8, 17) for i in range(h - 7)))
    query = {"sql": hourly(source.dialect)} | ({"lookback": lookback} if lookback else {})
    assert read_one(source.url, query) == [(hour(NOV20, h), {"signups.count": h - 7}) for h in hours]


def test_backfill_window_from_args(source):
    source.events(
        "2026-11-18 23:59:59",  # before --since
        "2026-11-19 00:00:00",
        "2026-11-19 13:20:00",
        "2026-11-19 13:40:00",
        "2026-11-20 15:10:00",  # the current hour: --until is later than now, so the read stops at now's hour
        "2026-11-20 16:00:00",  # after now
    )
    window = Window.from_args("2026-11-19", "2026-11-21", now=NOW)
    assert read_one(source.url, {"sql": hourly(source.dialect)}, window) == [
        (hour(NOV19, 0), {"signups.count": 1}),
        (hour(NOV19, 13), {"signups.count": 2}),
        (hour(NOV20, 15), {"signups.count": 1}),
    ]


def test_dimensions_name_metrics_through_the_template(source):
    source.events(
        ("2026-11-20 14:05:00", "free"),
        ("2026-11-20 14:10:00", "free"),
        ("2026-11-20 14:15:00", "Paid Plan"),
        ("2026-11-20 14:20:00", "Économie"),
        ("2026-11-20 14:25:00", "Économie"),
        ("2026-11-20 14:30:00", "Économie"),
        ("2026-11-20 14:35:00", None),
        ("2026-11-20 15:01:00", "free"),
        ("2026-11-20 11:59:59", "free"),  # before the 3h lookback
    )
    query = {
        "sql": f"SELECT {HOUR[source.dialect]} AS time, plan, count(*) AS count FROM events "
        "WHERE created_at >= :since AND created_at < :until GROUP BY 1, 2",
        "dimensions": ["plan"],
        "metric": "app.signups.{plan}",
    }
    assert read_one(source.url, query) == [
        (
            hour(NOV20, 14),
            {
                "app.signups.free": 2,
                "app.signups.paid_plan": 1,
                "app.signups.economie": 3,
                "app.signups.none": 1,
            },
        ),
        (hour(NOV20, 15), {"app.signups.free": 1}),
    ]


def test_every_value_column_is_a_metric(source):
    source.events(("2026-11-20 14:05:00", "free"), ("2026-11-20 14:10:00", "paid"), ("2026-11-20 14:15:00", "paid"))
    # PostgreSQL folds `Paying` to `paying`, the others keep it: name_part lowercases it anyway
    query = {
        "sql": f"SELECT {HOUR[source.dialect]} AS time, plan, count(*) AS count, "
        "sum(CASE WHEN plan = 'paid' THEN 1 ELSE 0 END) AS Paying FROM events "
        "WHERE created_at >= :since AND created_at < :until GROUP BY 1, 2",
        "dimensions": ["plan"],
        "metric": "{query}.{plan}.{column}",
    }
    assert read_one(source.url, query, name="by_plan") == [
        (
            hour(NOV20, 14),
            {
                "by_plan.free.count": 1,
                "by_plan.free.paying": 0,
                "by_plan.paid.count": 2,
                "by_plan.paid.paying": 2,
            },
        ),
    ]


def test_daily_granularity(source):
    source.events(
        "2026-11-17 23:59:59",
        "2026-11-18 00:00:00",
        "2026-11-19 12:00:00",
        "2026-11-19 23:59:59",
        "2026-11-20 15:00:00",
        "2026-11-21 00:00:00",
    )
    query = {
        "sql": f"SELECT {DAY[source.dialect]} AS time, count(*) AS count FROM events "
        "WHERE created_at >= :since AND created_at < :until GROUP BY 1",
        "granularity": "day",
        "metric": "app.events.{column}",
    }
    # default daily lookback 2d: from 2026-11-18 (15:30 floored to the day) to the end of today
    assert read_one(source.url, query) == [
        ({"date": date(2026, 11, 18)}, {"app.events.count": 1}),
        ({"date": NOV19}, {"app.events.count": 2}),
        ({"date": NOV20}, {"app.events.count": 1}),
    ]


DATE_COLUMN_QUERY = {
    "sql": "SELECT day AS time, count(*) AS orders, sum(amount) AS revenue FROM orders "
    "WHERE day >= :since AND day < :until GROUP BY day",
    "granularity": "day",
    "metric": "shop.{column}",
}


def seed_orders(source: Source) -> None:
    source.run(
        "CREATE TABLE orders (day DATE NOT NULL, amount INTEGER NOT NULL)",
        rows=[
            {"day": d, "amount": a}
            for d, a in [
                ("2026-11-17", 100),
                ("2026-11-18", 1),
                ("2026-11-18", 2),
                ("2026-11-19", 4),
                ("2026-11-20", 8),
                ("2026-11-21", 1000),
            ]
        ],
        insert="INSERT INTO orders (day, amount) VALUES (:day, :amount)",
    )


EXPECTED_ORDERS = [
    ({"date": date(2026, 11, 18)}, {"shop.orders": 2, "shop.revenue": 3}),
    ({"date": NOV19}, {"shop.orders": 1, "shop.revenue": 4}),
    ({"date": NOV20}, {"shop.orders": 1, "shop.revenue": 8}),
]


@pytest.mark.parametrize("dialect", ["postgresql", "mariadb"])
def test_daily_granularity_with_a_date_column(request, dialect):
    source = Source(dialect, request.getfixturevalue("pg_url" if dialect == "postgresql" else "mysql_url"))
    seed_orders(source)
    assert read_one(source.url, DATE_COLUMN_QUERY, name="orders") == EXPECTED_ORDERS


def test_daily_granularity_with_a_date_column_on_sqlite(sqlite_source):
    seed_orders(sqlite_source)
    assert read_one(sqlite_source.url, DATE_COLUMN_QUERY, name="orders") == EXPECTED_ORDERS


def test_bound_parameters_on_sqlite(sqlite_source):
    """What :since and :until are bound to (SQLite hands them back as the text it was given)."""
    sqlite_source.run("CREATE TABLE t (x INTEGER)")
    query = {"sql": "SELECT '2026-11-20 15:00:00' AS time, :since AS since, :until AS until"}
    bounds = {
        "normal run, 3h": (WINDOW, {}),
        "normal run, 5h": (WINDOW, {"lookback": "5h"}),
        "backfill in the past": (Window.from_args("2026-11-20T09:10", "2026-11-20T11:20", now=NOW), {}),
        "backfill up to the future": (Window.from_args("2026-11-19", "2026-11-22", now=NOW), {}),
        "daily": (WINDOW, {"granularity": "day", "sql": "SELECT '2026-11-20' AS time, :since AS since"}),
    }
    got = {
        what: read_one(sqlite_source.url, query | extra, window, name="w") for what, (window, extra) in bounds.items()
    }
    assert got == {
        "normal run, 3h": [
            (hour(NOV20, 15), {"w.since": "2026-11-20 12:00:00", "w.until": "2026-11-20 16:00:00"}),
        ],
        "normal run, 5h": [
            (hour(NOV20, 15), {"w.since": "2026-11-20 10:00:00", "w.until": "2026-11-20 16:00:00"}),
        ],
        "backfill in the past": [
            (hour(NOV20, 15), {"w.since": "2026-11-20 09:00:00", "w.until": "2026-11-20 12:00:00"}),
        ],
        "backfill up to the future": [
            (hour(NOV20, 15), {"w.since": "2026-11-19 00:00:00", "w.until": "2026-11-20 16:00:00"}),
        ],
        "daily": [({"date": NOV20}, {"w.since": "2026-11-18"})],
    }


# ── time zones ───────────────────────────────────────────────────────────────────────────────


def test_timestamptz_on_postgresql_is_read_in_utc(pg_source):
    # the database's own default zone is +05:30: a session left in it would truncate to :30 UTC
    database = make_url(pg_source.url).database
    pg_source.run(
        f"ALTER DATABASE {database} SET timezone TO 'Asia/Kolkata'",
        "CREATE TABLE events (created_at TIMESTAMPTZ NOT NULL)",
        rows=[
            {"at": m}
            for m in [
                "2026-11-19 01:59:59+02:00",  # 2026-11-18 23:59:59 UTC: before --since
                "2026-11-20 01:15:00+02:00",  # 2026-11-19 23:15 UTC: the previous UTC day
                "2026-11-20 12:30:00+02:00",
                "2026-11-20 12:59:59+02:00",  # 10:30, 10:59:59 UTC
                "2026-11-20 13:00:00+02:00",  # 11:00 UTC
                "2026-11-20 16:00:00+02:00",  # 14:00 UTC
            ]
        ],
        insert="INSERT INTO events (created_at) VALUES (:at)",
    )
    window = Window.from_args("2026-11-19", "2026-11-20T14:00", now=NOW)
    assert read_one(pg_source.url, {"sql": hourly("postgresql")}, window) == [
        (hour(NOV19, 23), {"signups.count": 1}),
        (hour(NOV20, 10), {"signups.count": 2}),
        (hour(NOV20, 11), {"signups.count": 1}),
    ]
    # the same data by UTC day: the +05:30 default would put 23:15 UTC into 2026-11-20
    daily = {
        "sql": "SELECT date_trunc('day', created_at) AS time, count(*) AS count FROM events "
        "WHERE created_at >= :since AND created_at < :until GROUP BY 1",
        "granularity": "day",
    }
    assert read_one(pg_source.url, daily, window) == [
        ({"date": NOV19}, {"signups.count": 1}),
        ({"date": NOV20}, {"signups.count": 4}),  # a daily read ends with the day that holds --until
    ]


def test_percent_signs_on_mariadb_with_and_without_parameters(mysql_url):
    # a single % reaches DATE_FORMAT intact whether or not pymysql formats the statement with parameters
    source = Source("mariadb", mysql_url)
    source.events("2026-11-20 14:10:00", "2026-11-20 15:20:00", "2026-11-21 09:00:00")
    got = read(
        mysql_url,
        {
            "bound": {"sql": hourly("mariadb")},
            "unbound": {"sql": hourly("mariadb", where="WHERE plan IS NULL AND created_at < '2026-11-21'")},
        },
    )
    assert got == {
        "sql.bound": [(hour(NOV20, 14), {"bound.count": 1}), (hour(NOV20, 15), {"bound.count": 1})],
        "sql.unbound": [(hour(NOV20, 14), {"unbound.count": 1}), (hour(NOV20, 15), {"unbound.count": 1})],
    }


def test_timestamp_on_mariadb_is_read_in_utc(mysql_url):
    source = Source("mariadb", mysql_url)
    # TIMESTAMP values are entered in a +02:00 session: stored as UTC instants
    source.run(
        "CREATE TABLE events (created_at TIMESTAMP NOT NULL)",
        "SET time_zone = '+02:00'",
        rows=[{"at": m} for m in ["2026-11-20 12:30:00", "2026-11-20 12:59:59", "2026-11-20 13:00:00"]],
        insert="INSERT INTO events (created_at) VALUES (:at)",
    )
    window = Window.from_args("2026-11-20T10:00", "2026-11-20T12:00", now=NOW)
    assert read_one(mysql_url, {"sql": hourly("mariadb")}, window) == [
        (hour(NOV20, 10), {"signups.count": 2}),
        (hour(NOV20, 11), {"signups.count": 1}),
    ]


# ── sources, chains and point-in-time readings ──────────────────────────────────────────────


def test_each_query_is_a_chain_on_its_own_source(tmp_path):
    first = Source("sqlite", f"sqlite:///{tmp_path / 'a.db'}")
    second = Source("sqlite", f"sqlite:///{tmp_path / 'b.db'}")
    first.events("2026-11-20 14:00:00")
    second.events("2026-11-20 14:00:00", "2026-11-20 14:01:00")
    settings = parse(
        {
            "sources": {"app": {"url": first.url}, "crm": {"url": second.url}},
            "readers": {
                "sql": {
                    "source": "app",
                    "queries": {
                        "a": {"sql": hourly("sqlite")},
                        "b": {"sql": hourly("sqlite"), "source": "crm"},
                    },
                }
            },
        }
    )
    chains = sql.chains(settings.readers["sql"], WINDOW)
    assert list(chains) == ["sql.a", "sql.b"]
    assert [(n.__name__, n.source) for [n] in chains.values()] == [("sql.a", "app"), ("sql.b", "crm")]
    with Sources(settings.sources) as sources:
        assert {name: list(node(sources=sources)) for name, [node] in chains.items()} == {
            "sql.a": [(hour(NOV20, 14), {"a.count": 1})],
            "sql.b": [(hour(NOV20, 14), {"b.count": 2})],
        }


def test_point_in_time_query_goes_to_the_window_hour(sqlite_source):
    sqlite_source.run(
        "CREATE TABLE tickets (id INTEGER, closed_at TEXT)",
        rows=[{"closed": c} for c in [None, "2026-11-19 10:00:00", None]],
        insert="INSERT INTO tickets (closed_at) VALUES (:closed)",
    )
    query = {
        "time_column": "",
        "sql": "SELECT count(*) AS open FROM tickets WHERE closed_at IS NULL",
        "metric": "support.tickets.{column}",
    }
    assert read_one(sqlite_source.url, query, name="open_tickets") == [
        (hour(NOV20, 15), {"support.tickets.open": 2}),
    ]
    daily = query | {"granularity": "day"}
    assert read_one(sqlite_source.url, daily, name="open_tickets") == [
        ({"date": NOV20}, {"support.tickets.open": 2}),
    ]


def test_a_query_without_rows_yields_nothing(source):
    source.events("2026-11-19 10:00:00")
    assert read_one(source.url, {"sql": hourly(source.dialect)}) == []


# ── errors in what a query returns ───────────────────────────────────────────────────────────


def test_time_not_on_a_whole_hour(source):
    source.events("2026-11-20 10:00:00", "2026-11-20 10:15:00")
    query = {"sql": "SELECT created_at AS time, count(*) AS count FROM events GROUP BY created_at ORDER BY 1"}
    assert read_error(source.url, query) == (
        "query 'signups': row 2: time 2026-11-20 10:15:00 UTC is not on a whole hour (group by hour)"
    )


def test_time_not_at_midnight_for_a_daily_query(sqlite_source):
    sqlite_source.events("2026-11-20 10:00:00")
    query = {"sql": f"SELECT {HOUR['sqlite']} AS time, count(*) AS count FROM events GROUP BY 1", "granularity": "day"}
    assert read_error(sqlite_source.url, query) == (
        "query 'signups': row 1: time 2026-11-20 10:00:00 UTC is not midnight UTC (group by day)"
    )


@pytest.mark.parametrize(
    ("time", "error"),
    [
        ("'yesterday'", "row 1: time 'yesterday' is not a date or time"),
        ("1763600400", "row 1: time 1763600400 is not a date or time (int)"),
        ("NULL", "row 1: time None is not a date or time (NoneType)"),
    ],
)
def test_time_that_is_not_a_time(sqlite_source, time, error):
    sqlite_source.run("CREATE TABLE t (x INTEGER)")
    query = {"sql": f"SELECT {time} AS time, 1 AS count"}
    assert read_error(sqlite_source.url, query) == f"query 'signups': {error}"


def test_duplicate_rows(sqlite_source):
    sqlite_source.run("CREATE TABLE t (x INTEGER)")
    query = {
        "sql": "SELECT '2026-11-20 10:00:00' AS time, 1 AS count "
        "UNION ALL SELECT '2026-11-20 11:00:00', 2 "
        "UNION ALL SELECT '2026-11-20 10:00:00', 3"
    }
    assert read_error(sqlite_source.url, query) == (
        "query 'signups': row 3: duplicate row 'signups.count' at 2026-11-20 10:00 UTC"
    )


def test_duplicate_rows_with_a_dimension(sqlite_source):
    sqlite_source.run("CREATE TABLE t (x INTEGER)")
    query = {
        "sql": "SELECT '2026-11-20' AS time, 'free' AS plan, 1 AS count UNION ALL SELECT '2026-11-20', 'free', 2",
        "dimensions": ["plan"],
        "granularity": "day",
    }
    assert read_error(sqlite_source.url, query) == (
        "query 'signups': row 2: duplicate row 'signups.count' at 2026-11-20"
    )


def test_two_dimension_values_colliding_into_one_metric_name(sqlite_source):
    sqlite_source.run("CREATE TABLE t (x INTEGER)")
    query = {
        "sql": "SELECT '2026-11-20 10:00:00' AS time, 'Paid Plan' AS plan, 1 AS count UNION ALL "
        "SELECT '2026-11-20 10:00:00', 'paid-plan', 2",
        "dimensions": ["plan"],
        "metric": "app.signups.{plan}",
    }
    assert read_error(sqlite_source.url, query) == (
        "query 'signups': row 2: dimension values ('Paid Plan',) and ('paid-plan',) both give "
        "'app.signups.paid_plan' at 2026-11-20 10:00 UTC"
    )


def test_two_value_columns_colliding_into_one_metric_name(sqlite_source):
    sqlite_source.run("CREATE TABLE t (x INTEGER)")
    query = {
        "sql": "SELECT '2026-11-20 10:00:00' AS time, 'free' AS plan, 1 AS count, 2 AS total",
        "dimensions": ["plan"],
        "metric": "m.{plan}",
    }
    message = read_error(sqlite_source.url, query)
    assert message.startswith("query 'signups': row 1: ")
    assert "'count'" in message and "'total'" in message


def test_missing_time_column_lists_the_columns(source):
    source.events("2026-11-20 14:00:00")
    query = {"sql": f"SELECT {HOUR[source.dialect]} AS hour, count(*) AS count FROM events GROUP BY 1"}
    assert read_error(source.url, query) == ("query 'signups': returned no column 'time' (columns: hour, count)")


def test_missing_dimension_and_value_columns(sqlite_source):
    sqlite_source.run("CREATE TABLE t (x INTEGER)")
    query = {"sql": "SELECT '2026-11-20 10:00:00' AS time, 1 AS n", "dimensions": ["plan"], "values": ["count"]}
    assert read_error(sqlite_source.url, query) == (
        "query 'signups': returned no column 'plan', 'count' (columns: time, n)"
    )
    query = {"sql": "SELECT '2026-11-20 10:00:00' AS time, 'free' AS plan", "dimensions": ["plan"]}
    assert read_error(sqlite_source.url, query) == ("query 'signups': returns no value column (columns: time, plan)")


def test_listed_values_only(sqlite_source):
    sqlite_source.run("CREATE TABLE t (x INTEGER)")
    query = {"sql": "SELECT '2026-11-20 10:00:00' AS time, 1 AS count, 'ignored' AS note", "values": ["count"]}
    assert read_one(sqlite_source.url, query) == [(hour(NOV20, 10), {"signups.count": 1})]


# ── rows are streamed: one period at a time ─────────────────────────────────────────────────


def test_rows_in_any_order_give_one_record_per_period_in_time_order(source):
    # a GROUP BY answers in the order of its hash table: the reader orders by the time column itself
    source.events(*[f"2026-11-20 {h:02d}:{m:02d}:00" for h in (13, 9, 11, 9, 14, 13, 9) for m in (5, 40)])
    query = {"sql": f"{hourly(source.dialect)} ORDER BY count(*), 1 DESC;"}  # its own ORDER BY, and a `;`
    assert read_one(source.url, query, Window.from_args("2026-11-20T00:00", None, now=NOW)) == [
        (hour(NOV20, 9), {"signups.count": 6}),
        (hour(NOV20, 11), {"signups.count": 2}),
        (hour(NOV20, 13), {"signups.count": 4}),
        (hour(NOV20, 14), {"signups.count": 2}),
    ]


def test_a_trailing_comment_in_the_query(sqlite_source):
    sqlite_source.events("2026-11-20 13:10:00")
    query = {"sql": f"{hourly('sqlite')} -- signups per hour"}
    assert read_one(sqlite_source.url, query) == [(hour(NOV20, 13), {"signups.count": 1})]


def test_each_record_is_passed_on_when_the_next_period_begins():
    """Memory stays one period's worth: the first record comes out having read one row past it."""
    settings, _ = configure(
        "sqlite:///unused.db", {"signups": {"sql": "SELECT 1", "dimensions": ["plan"], "metric": "s.{plan}"}}
    )
    node = RunQuery("signups", settings.queries["signups"], "app", WINDOW)
    fetched = []

    def rows():
        for number, (moment, plan, count) in enumerate(
            [("2026-11-20 09:00:00", "free", 1), ("2026-11-20 09:00:00", "paid", 2), ("2026-11-20 10:00:00", "free", 3)]
            + [("2026-11-20 11:00:00", "free", 4)] * 1000,  # a duplicate, never reached
            start=1,
        ):
            fetched.append(number)
            yield moment, plan, count, number

    records = node.records(["time", "plan", "count", sql.ROW_NUMBER], rows())
    assert next(records) == (hour(NOV20, 9), {"s.free": 1, "s.paid": 2})
    assert fetched == [1, 2, 3]
    assert next(records) == (hour(NOV20, 10), {"s.free": 3})
    assert fetched == [1, 2, 3, 4]
    with pytest.raises(SourceError, match=r"row 5: duplicate row 's.free' at 2026-11-20 11:00 UTC$"):
        next(records)
    assert fetched == [1, 2, 3, 4, 5]


def test_a_time_column_that_does_not_sort_in_time_order(sqlite_source):
    sqlite_source.run("CREATE TABLE t (x INTEGER)")
    query = {  # text with an offset: sorts after '09:00:00' but is 08:00 UTC, whose record is due first
        "sql": "SELECT '2026-11-20 09:00:00' AS time, 1 AS count UNION ALL SELECT '2026-11-20 10:00:00+02:00', 2"
    }
    reader, source_settings = configure(sqlite_source.url, {"signups": query})
    [node] = sql.chains(reader, WINDOW)["sql.signups"]
    with Sources(source_settings) as sources, pytest.raises(SourceError) as info:
        list(node(sources=sources))
    assert str(info.value) == (
        "query 'signups': row 2: time 2026-11-20 08:00 UTC comes after rows of 2026-11-20 09:00 UTC: the time "
        "column does not sort in time order (return timestamps, or UTC text 'YYYY-MM-DD HH:MM:SS')"
    )


# ── errors from the database ─────────────────────────────────────────────────────────────────


def test_syntax_error_names_source_and_query_but_never_the_password(pg_url):
    url = make_url(pg_url).set(password="s3cretpw").render_as_string(hide_password=False)
    assert url.startswith("postgresql://postgres:s3cretpw@127.0.0.1:5432/")  # trust auth ignores it
    message = read_error(url, {"sql": "SELEC count(*) AS count FROM events WHERE x >= :since"}, name="broken")
    database = make_url(pg_url).database
    assert message == (
        f"source 'app' (postgresql://postgres:***@127.0.0.1:5432/{database}): "
        "query 'broken': syntax error at or near \"SELEC\""
    )
    assert "s3cretpw" not in message


def test_unregistered_password_is_masked_too(pg_url):
    # Sources built without `parse` (which remembers URL passwords as secrets): the URL is still masked
    url = make_url(pg_url).set(password="an0therpw").render_as_string(hide_password=False)
    reader, _ = configure("sqlite:///unused.db", {"broken": {"sql": "SELECT nope FROM nowhere"}})
    [node] = sql.chains(reader, WINDOW)["sql.broken"]
    with Sources({"app": SourceSettings(url=url)}) as sources, pytest.raises(SourceError) as info:
        list(node(sources=sources))
    assert str(info.value).startswith("source 'app' (postgresql://postgres:***@127.0.0.1:5432/")
    assert "query 'broken': relation \"nowhere\" does not exist" in str(info.value)
    assert "an0therpw" not in str(info.value)


@pytest.mark.parametrize("dialect", ["sqlite", "mariadb"])
def test_syntax_error_on_other_dialects(request, tmp_path, dialect):
    if dialect == "sqlite":
        source = Source("sqlite", f"sqlite:///{tmp_path / 'source.db'}")
        source.run("CREATE TABLE t (x INTEGER)")
    else:
        source = Source("mariadb", request.getfixturevalue("mysql_url"))
    message = read_error(source.url, {"sql": "SELECT count(*) AS count FORM events"}, name="broken")
    assert message.startswith(f"source 'app' ({source.url}): query 'broken': ")
    assert "syntax" in message.lower()


def test_unreachable_server():
    message = read_error("postgresql://postgres:s3cretpw@127.0.0.1:1/app", {"sql": "SELECT 1"}, name="down")
    assert message.startswith("source 'app' (postgresql://postgres:***@127.0.0.1:1/app): query 'down': ")
    assert "s3cretpw" not in message


def test_missing_sqlite_file(tmp_path):
    path = tmp_path / "typo.db"
    assert read_error(f"sqlite:///{path}", {"sql": "SELECT 1"}) == (
        f"source 'app': SQLite file {str(path)!r} does not exist"
    )
    assert not path.exists()


# ── configuration errors name the dotted key ─────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("queries", "section", "expected"),
    [
        (
            {"signups": {"sql": "SELECT 1 WHERE x > :foo AND y < :since"}},
            {"source": "app"},
            "readers.sql.queries.signups.sql: unknown parameter(s) :foo (only :since and :until are bound)",
        ),
        (
            {"signups": {"sql": "SELECT 1", "metric": "app.signups.{plan}"}},
            {"source": "app"},
            "readers.sql.queries.signups.metric: unknown placeholder(s) {plan} (allowed: {column}, {query}, {source})",
        ),
        (
            {"signups": {"sql": "SELECT 1", "metric": "app.{}"}},
            {"source": "app"},
            "readers.sql.queries.signups.metric: unknown placeholder(s) {} (allowed: {column}, {query}, {source})",
        ),
        (
            {"signups": {"sql": "SELECT 1", "metric": "app.{plan"}},
            {"source": "app"},
            "readers.sql.queries.signups.metric: invalid template 'app.{plan': ",
        ),
        (
            {"signups": {"sql": "SELECT 1"}},
            {},
            "readers.sql.queries.signups.source: missing (set it here or in [readers.sql])",
        ),
        (
            {"signups": {"sql": "SELECT 1", "source": "nope"}},
            {},
            "readers.sql.queries.signups.source: unknown source 'nope' (sources: app)",
        ),
        (
            {"signups": {"sql": "SELECT 1"}},
            {"source": "nope"},
            "readers.sql.source: unknown source 'nope' (sources: app)",
        ),
        (
            {"signups": {"sql": "SELECT 1", "lookback": "3 weeks"}},
            {"source": "app"},
            'readers.sql.queries.signups.lookback: expected a duration like "3h" or "2d", got \'3 weeks\'',
        ),
        (
            {"signups": {"sql": "SELECT 1", "lookback": "0h"}},
            {"source": "app"},
            'readers.sql.queries.signups.lookback: expected a duration like "3h" or "2d", got \'0h\'',
        ),
        (
            {"signups": {"sql": "SELECT 1", "granularity": "week"}},
            {"source": "app"},
            "readers.sql.queries.signups.granularity: must be one of 'hour', 'day', got 'week'",
        ),
        (
            {"signups": {"sql": "SELECT 1", "metrics": "x"}},
            {"source": "app"},
            "readers.sql.queries.signups.metrics: unknown key",
        ),
        ({"signups": {"metric": "x"}}, {"source": "app"}, "readers.sql.queries.signups.sql: missing required key"),
        (
            {"Sign-ups": {"sql": "SELECT 1"}},
            {"source": "app"},
            "readers.sql.queries.Sign-ups: name 'Sign-ups' must be lowercase letters, digits and _",
        ),
        (
            {"signups": {"sql": "SELECT 1", "dimensions": ["time"]}},
            {"source": "app"},
            "readers.sql.queries.signups: time_column, dimensions and values must name different columns",
        ),
        (
            {"signups": {"sql": "SELECT 1", "dimensions": ["plan"], "values": ["plan"]}},
            {"source": "app"},
            "readers.sql.queries.signups: time_column, dimensions and values must name different columns",
        ),
        ({}, {"source": "app"}, "readers.sql.queries: define at least one query ([readers.sql.queries.<name>])"),
        (
            {"signups": {"sql": "SELECT 1 WHERE x >= :since::timestamp"}},
            {"source": "app"},
            "readers.sql.queries.signups.sql: `:since::type` is not read as a parameter; write CAST(:since AS type)",
        ),
        (
            {"signups": {"sql": "SELECT 1", "dimensions": ["column"]}},
            {"source": "app"},
            "readers.sql.queries.signups.dimensions: 'column' is a template placeholder of its own",
        ),
        (
            {"signups": {"sql": "SELECT 1", "metric": "App Signups.{column}"}},
            {"source": "app"},
            "readers.sql.queries.signups.metric: template 'App Signups.{column}' gives names like 'App Signups.x': "
            "metric name 'App Signups.x' is not dotted lowercase",
        ),
        (
            {"signups": {"sql": "SELECT 1", "metric": "{column}..x"}},
            {"source": "app"},
            "readers.sql.queries.signups.metric: template '{column}..x' gives names like 'x..x'",
        ),
    ],
)
def test_config_errors_name_the_key(queries, section, expected):
    assert config_error(queries, **section).startswith(expected)


def test_config_accepts_the_documented_example():
    reader, _ = configure(
        "sqlite:///unused.db",
        {
            "signups": {
                "sql": "SELECT date_trunc('hour', created_at) AS time, plan, count(*) AS count FROM users "
                "WHERE created_at >= :since AND created_at < :until "
                "AND created_at::date > '2020-01-01' GROUP BY 1, 2",  # a ::cast is not a parameter
                "dimensions": ["plan"],
                "metric": "app.signups.{plan}",
                "lookback": "3h",
            },
            "open_tickets": {"time_column": "", "sql": "SELECT count(*) AS open FROM t", "metric": "x.{column}"},
        },
    )
    assert reader.queries["signups"].dimensions == ["plan"]
    assert reader.queries["open_tickets"].time_column == ""


def test_a_dimension_named_like_a_placeholder(sqlite_source):
    sqlite_source.run("CREATE TABLE t (x INTEGER)")
    query = {
        "sql": "SELECT '2026-11-20 10:00:00' AS time, 'x' AS column, 1 AS n",
        "dimensions": ["column"],
        "metric": "m.{column}",
    }
    try:
        reader, source_settings = configure(sqlite_source.url, {"signups": query})
    except ConfigError as exc:  # one acceptable answer: refused up front, naming the key
        assert str(exc).startswith("readers.sql.queries.signups.dimensions")
        return
    [node] = sql.chains(reader, WINDOW)["sql.signups"]
    # the other: accepted, then it must run (or fail as a SourceError), never crash
    with Sources(source_settings) as sources, contextlib.suppress(SourceError):
        list(node(sources=sources))


# ── name_part ────────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Paid Plan", "paid_plan"),
        ("Économie", "economie"),
        (None, "none"),
        ("5xx", "5xx"),
        ("a.b", "a_b"),
        ("free", "free"),
        ("  --Hello,  World!--  ", "hello_world"),
        ("already_ok_123", "already_ok_123"),
        ("__x__", "x"),
        ("", "none"),
        ("!!!", "none"),
        ("日本", "none"),
        ("naïve café", "naive_cafe"),
        ("ﬁle", "file"),  # NFKD folds the ligature
        (42, "42"),
        (1.5, "1_5"),
        (True, "true"),
    ],
)
def test_name_part(value, expected):
    assert name_part(value) == expected


def test_run_query_is_a_plain_callable(sqlite_source):
    sqlite_source.events("2026-11-20 13:10:00")
    reader, source_settings = configure(sqlite_source.url, {"signups": {"sql": hourly("sqlite")}})
    node = RunQuery("signups", reader.queries["signups"], "app", WINDOW)
    assert node.__name__ == "sql.signups"
    with Sources(source_settings) as sources:
        assert list(node(sources=sources)) == [(hour(NOV20, 13), {"signups.count": 1})]
