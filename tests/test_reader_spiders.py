"""The `spiders` reader on real SQLite, PostgreSQL and MariaDB sources: workers counted in the database
as idle/active (a non-empty JSON `stage`) among those updated within the freshness window."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from support.storeview import stored

from apercite_analytics.cli import main as cli
from apercite_analytics.config.load import parse
from apercite_analytics.config.urls import database_url
from apercite_analytics.errors import ConfigError, SourceError
from apercite_analytics.readers import spiders
from apercite_analytics.readers.common.sources import Sources
from apercite_analytics.run import job as graph
from apercite_analytics.window import Window

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
WINDOW = Window(now=NOW)
MISSING = object()
# (dialect, attributes column type, updated_at column type)
FLAVOURS = [
    ("sqlite", "TEXT", "TEXT"),
    ("postgresql", "JSONB", "TIMESTAMP WITH TIME ZONE"),
    ("postgresql", "JSON", "TIMESTAMP"),
    ("postgresql", "TEXT", "TIMESTAMP WITH TIME ZONE"),
    ("mariadb", "JSON", "DATETIME(3)"),
]

# worker, stage (MISSING: no key), updated at (UTC, None: never)
WORKERS = [
    ("w1", "rendering", "2026-11-20 15:29:00"),  # fresh, active
    ("w2", None, "2026-11-20 15:20:00"),  # fresh, stage null: idle
    ("w3", MISSING, "2026-11-20 15:15:00"),  # exactly `fresh` ago: still fresh, idle
    ("w4", "", "2026-11-20 15:25:00"),  # empty stage: idle
    ("w5", "crawling", "2026-11-20 15:14:59.999"),  # just stale
    ("w6", "crawling", None),  # never updated: stale
    ("w7", "crawling", "2026-11-20 15:00:00"),  # two rows: an old active one…
    ("w7", MISSING, "2026-11-20 15:28:00"),  # …and a fresh idle one: idle
    ("w8", 3, "2026-11-20 15:10:00"),  # a numeric stage is a stage (stale at 15m, active at 1h)
]


class Source:
    def __init__(self, dialect: str, url: str, attributes: str, updated_at: str):
        self.dialect, self.url, self.attributes, self.updated_at = dialect, url, attributes, updated_at

    def seed(self, workers=WORKERS) -> None:
        def stamp(moment: str | None) -> str | None:
            if moment is None or self.updated_at != "TIMESTAMP WITH TIME ZONE":
                return moment
            return moment + "+00:00"

        rows = [
            {
                "id": worker,
                "attributes": json.dumps({"host": "a"} | ({} if stage is MISSING else {"stage": stage})),
                "updated_at": stamp(updated),
            }
            for worker, stage, updated in workers
        ]
        engine = create_engine(database_url(self.url))
        try:
            with engine.begin() as connection:
                connection.execute(
                    text(
                        f"CREATE TABLE spiders (id VARCHAR(40), attributes {self.attributes}, "
                        f"updated_at {self.updated_at})"
                    )
                )
                if rows:
                    connection.execute(
                        text("INSERT INTO spiders (id, attributes, updated_at) VALUES (:id, :attributes, :updated_at)"),
                        rows,
                    )
        finally:
            engine.dispose()


@pytest.fixture(params=FLAVOURS, ids=lambda f: "-".join(f).replace(" ", "_"))
def source(request, tmp_path: Path) -> Source:
    dialect, attributes, updated_at = request.param
    if dialect == "sqlite":
        url = f"sqlite:///{tmp_path / 'source.db'}"
    else:
        url = request.getfixturevalue("pg_url" if dialect == "postgresql" else "mysql_url")
    return Source(dialect, url, attributes, updated_at)


def configure(url: str, **overrides) -> tuple[spiders.Settings, dict]:
    settings = parse({"sources": {"app": {"url": url}}, "readers": {"spiders": {"source": "app", **overrides}}})
    return settings.readers["spiders"], settings.sources


def read(url: str, window: Window = WINDOW, **overrides) -> list:
    reader, source_settings = configure(url, **overrides)
    [node] = spiders.chains(reader, window)["spiders"]
    with Sources(source_settings) as sources:
        return list(node(sources=sources))


def test_idle_active_total_and_stale(source):
    source.seed()
    assert read(source.url) == [
        (
            {"date": date(2026, 11, 20), "hour": 15},
            {"spider.idle": 4, "spider.active": 1, "spider.total": 5, "spider.stale": 3},
        )
    ]


def test_a_wider_freshness_window(source):
    source.seed()
    [(_, metrics)] = read(source.url, fresh="1h")
    # w5, w7 (its 15:00 row) and w8 are fresh and active now; w6 was never updated
    assert metrics == {"spider.idle": 3, "spider.active": 4, "spider.total": 7, "spider.stale": 1}


def test_no_workers_gives_zeros(source):
    source.seed(workers=[])
    [(_, metrics)] = read(source.url)
    assert metrics == {"spider.idle": 0, "spider.active": 0, "spider.total": 0, "spider.stale": 0}


def test_configured_columns_and_key(tmp_path):
    url = f"sqlite:///{tmp_path / 'workers.db'}"
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(text('CREATE TABLE workers (name TEXT, "Status" TEXT, seen TEXT)'))
        connection.execute(
            text("INSERT INTO workers VALUES (:n, :s, :t)"),
            [
                {"n": "a", "s": '{"job": "render"}', "t": "2026-11-20 15:00:00"},
                {"n": "b", "s": '{"stage": "render"}', "t": "2026-11-20 15:00:00"},
            ],
        )
    engine.dispose()
    columns = {"id": "name", "attributes": "Status", "updated_at": "seen"}
    [(_, metrics)] = read(url, table="workers", columns=columns, stage="job", fresh="45m")
    assert metrics == {"spider.idle": 1, "spider.active": 1, "spider.total": 2, "spider.stale": 0}


def test_written_as_a_gauge_in_the_hour_observed(store_url, tmp_path):
    source = Source("sqlite", f"sqlite:///{tmp_path / 'source.db'}", "TEXT", "TEXT")
    source.seed()
    config = parse(
        {
            "store": {"url": store_url},
            "sources": {"app": {"url": source.url}},
            "readers": {"spiders": {"source": "app"}},
        }
    )
    cli.setup_logging(-1)
    result = graph.run_chains(config, spiders.chains(config.readers["spiders"], WINDOW), ["spiders"], write=True)
    assert result.ok, result.failures
    rows = [(*key, value) for key, value in stored(store_url, daily=False).items()]
    assert sorted(rows) == [
        ("spider.active", date(2026, 11, 20), 15, 1),
        ("spider.idle", date(2026, 11, 20), 15, 4),
        ("spider.stale", date(2026, 11, 20), 15, 3),
        ("spider.total", date(2026, 11, 20), 15, 5),
    ]


# ── errors ───────────────────────────────────────────────────────────────────────────────────


def test_a_missing_column_names_the_key(source):
    source.seed()
    with pytest.raises(SourceError) as info:
        read(source.url, columns={"updated_at": "seen_at"})
    assert str(info.value).endswith(
        "readers.spiders.columns.updated_at: table 'spiders' has no column 'seen_at' "
        "(columns: id, attributes, updated_at)"
    )


def test_attributes_that_are_not_json(pg_url):
    source = Source("postgresql", pg_url, "TEXT", "TIMESTAMP")
    source.seed(workers=[("w1", "x", "2026-11-20 15:29:00")])
    engine = create_engine(database_url(pg_url))
    with engine.begin() as connection:
        connection.execute(text("UPDATE spiders SET attributes = 'stage=x'"))
    engine.dispose()
    with pytest.raises(SourceError) as info:
        read(pg_url)
    assert "counting the workers of 'spiders': invalid input syntax for type json" in str(info.value)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"fresh": "15 min"}, 'readers.spiders.fresh: expected a duration like "15m", "3h" or "2d", got \'15 min\''),
        ({"fresh": "0m"}, "readers.spiders.fresh: expected a duration"),
        ({"stage": "$.stage"}, "readers.spiders.stage: '$.stage' is not a JSON key"),
        ({"columns": {"id": "worker id"}}, "readers.spiders.columns.id: 'worker id' is not a column name"),
        ({"columns": {"updated_at": "id"}}, "readers.spiders.columns: id, attributes and updated_at must be different"),
        ({"table": "spiders;"}, "readers.spiders.table: 'spiders;' is not a table name"),
        ({"source": "db"}, "readers.spiders.source: unknown source 'db' (sources: app)"),
    ],
)
def test_config_errors_name_the_key(overrides, expected):
    with pytest.raises(ConfigError) as info:
        configure("sqlite:///unused.db", **overrides)
    assert str(info.value).startswith(expected)
