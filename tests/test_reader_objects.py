"""The `objects` reader called directly (no Bonobo): row counts of real SQLite, PostgreSQL, MariaDB tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, create_engine, insert, text
from sqlalchemy.engine import make_url

from apercite_analytics.config.load import parse
from apercite_analytics.config.settings import SourceSettings
from apercite_analytics.config.urls import database_url
from apercite_analytics.errors import ConfigError, SourceError
from apercite_analytics.readers import objects
from apercite_analytics.readers.common.sources import Sources
from apercite_analytics.readers.objects import CountRows, table_map
from apercite_analytics.window import Window

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
HOUR_15 = {"date": date(2026, 11, 20), "hour": 15}


def fixed_clock(moment: datetime = NOW):
    return lambda: moment


# ── helpers ──────────────────────────────────────────────────────────────────────────────────


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def source_url(request, tmp_path: Path) -> str:
    """An empty source database on each dialect (the SQLite file is created by `seed`)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'source.db'}"
    return request.getfixturevalue("pg_url" if request.param == "postgresql" else "mysql_url")


def seed(url: str, rows: dict[str, int], schema_sql: Sequence[str] = ()) -> None:
    """A table per name in `rows` (quoted as SQLAlchemy quotes: `order`, `UserEvents`), that many rows."""
    engine = create_engine(database_url(url))  # postgresql:// → psycopg2, as the readers do
    try:
        with engine.begin() as connection:
            for statement in schema_sql:
                connection.execute(text(statement))
            metadata = MetaData()
            tables = {}
            for identifier in rows:
                schema, _, name = identifier.rpartition(".")
                tables[identifier] = Table(
                    name,
                    metadata,
                    Column("id", Integer, primary_key=True),
                    Column("label", String(20)),
                    schema=schema or None,
                )
            metadata.create_all(connection)
            for identifier, count in rows.items():
                if count:
                    # from 1: MariaDB takes an id 0 as "generate one"
                    values = [{"id": i, "label": f"r{i}"} for i in range(1, count + 1)]
                    connection.execute(insert(tables[identifier]), values)
    finally:
        engine.dispose()


def settings_for(url: str, tables) -> tuple:
    """Parse a TOML-shaped dict (runs the reader's `check`): the reader's settings and the sources."""
    settings = parse(
        {
            "sources": {"app": {"url": url}},
            "readers": {"objects": {"source": "app", "tables": tables}},
        }
    )
    return settings.readers["objects"], settings.sources


def count(url: str, tables, clock=None) -> list:
    clock = clock or fixed_clock()
    reader, source_settings = settings_for(url, tables)
    node = CountRows(reader.source, table_map(reader), clock=clock)
    with Sources(source_settings) as sources:
        return list(node(sources=sources))


def config_error(tables, sources=None, source: str = "app") -> str:
    raw = {
        "sources": sources if sources is not None else {"app": {"url": "sqlite:///unused.db"}},
        "readers": {"objects": {"source": source, "tables": tables}},
    }
    with pytest.raises(ConfigError) as info:
        parse(raw)
    return str(info.value)


# ── counting ─────────────────────────────────────────────────────────────────────────────────


def test_counts_several_tables_including_quoted_names(source_url):
    # `order` is a reserved word, `UserEvents` is mixed case (created quoted): both need quoting to count.
    seed(source_url, {"users": 3, "order": 2, "UserEvents": 4, "empty": 0})
    records = count(source_url, ["users", "order", "UserEvents", "empty"])
    assert records == [
        (
            HOUR_15,
            {
                "objects.users.count": 3,
                "objects.order.count": 2,
                "objects.userevents.count": 4,
                "objects.empty.count": 0,
            },
        ),
    ]
    assert all(type(v) is int for v in records[0][1].values())


def test_names_that_need_quoting_are_looked_up_and_quoted(source_url):
    """`"Billing Invoices"` (a space, capitals) is counted; a name written in another case finds the
    only table that differs in case (PostgreSQL folds unquoted names: `Users` is `users` there)."""
    seed(source_url, {"Billing Invoices": 5, "users": 2})
    records = count(source_url, {"invoices": "Billing Invoices", "users": "Users"})
    assert records == [(HOUR_15, {"objects.invoices.count": 5, "objects.users.count": 2})]


def test_chains_builds_one_counting_node(sqlite_url):
    seed(sqlite_url, {"users": 2, "order": 1})
    reader, source_settings = settings_for(sqlite_url, ["users", "order"])
    chains = objects.chains(reader, Window(now=NOW))
    assert list(chains) == ["objects"]
    [node] = chains["objects"]
    assert isinstance(node, CountRows)
    assert node.source == "app" and node.tables == {"users": "users", "order": "order"}
    with Sources(source_settings) as sources:
        records = list(node(sources=sources))
    # the count goes to the hour the run observed it in: the window's `now`, as every gauge of the run
    assert records == [({"date": NOW.date(), "hour": NOW.hour}, {"objects.users.count": 2, "objects.order.count": 1})]


def test_observed_hour_comes_from_the_injected_clock(sqlite_url):
    seed(sqlite_url, {"users": 1})
    assert count(sqlite_url, ["users"], clock=fixed_clock(datetime(2026, 1, 2, 0, 0, 5, tzinfo=UTC))) == [
        ({"date": date(2026, 1, 2), "hour": 0}, {"objects.users.count": 1}),
    ]
    last_second = datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC)
    assert count(sqlite_url, ["users"], clock=fixed_clock(last_second)) == [
        ({"date": date(2026, 12, 31), "hour": 23}, {"objects.users.count": 1}),
    ]


def test_clock_is_read_after_counting(sqlite_url):
    seed(sqlite_url, {"users": 1})
    calls = []

    def clock():
        calls.append(1)
        return NOW

    reader, source_settings = settings_for(sqlite_url, ["users"])
    node = CountRows("app", table_map(reader), clock=clock)
    with Sources(source_settings) as sources:
        gen = node(sources=sources)
        assert calls == []  # a generator: nothing runs before the first record is asked for
        assert next(gen) == (HOUR_15, {"objects.users.count": 1})
        assert calls == [1]


def test_list_and_mapping_forms_with_a_real_schema_on_postgresql(pg_url):
    seed(pg_url, {"users": 3, "crm.accounts": 2}, schema_sql=["CREATE SCHEMA crm"])
    # list form: `crm.accounts` alone is named `accounts`
    assert count(pg_url, ["users", "crm.accounts"]) == [
        (HOUR_15, {"objects.users.count": 3, "objects.accounts.count": 2}),
    ]
    # mapping form: the metric names are the keys
    assert count(pg_url, {"customers": "crm.accounts", "people": "users"}) == [
        (HOUR_15, {"objects.customers.count": 2, "objects.people.count": 3}),
    ]


def test_schema_qualified_table_on_mariadb(mysql_url):
    # on MariaDB a schema is a database: count a table of the scratch database by its qualified name
    database = make_url(mysql_url).database
    seed(mysql_url, {"accounts": 5})
    assert count(mysql_url, {"customers": f"{database}.accounts"}) == [
        (HOUR_15, {"objects.customers.count": 5}),
    ]


# ── failures ─────────────────────────────────────────────────────────────────────────────────


def test_missing_table_does_not_stop_the_others(source_url):
    seed(source_url, {"users": 3, "order": 2})
    reader, source_settings = settings_for(source_url, ["users", "missing_table", "order"])
    node = CountRows(reader.source, table_map(reader), clock=fixed_clock())
    with Sources(source_settings) as sources:
        gen = node(sources=sources)
        # the table after the failing one is still counted (PostgreSQL: after a rollback of the failed one)
        assert next(gen) == (HOUR_15, {"objects.users.count": 3, "objects.order.count": 2})
        with pytest.raises(SourceError) as info:
            list(gen)
    message = str(info.value)
    assert message.startswith("1 of 3 tables not counted: table 'missing_table': source 'app' (")
    assert "missing_table" in message.split("): ", 1)[1]  # the database's own message names it too
    assert "\n" not in message


def test_only_missing_tables_yield_nothing_then_fail(sqlite_url):
    seed(sqlite_url, {"users": 1})
    reader, source_settings = settings_for(sqlite_url, ["nope", "gone"])
    with Sources(source_settings) as sources:
        gen = CountRows("app", table_map(reader), clock=fixed_clock())(sources=sources)
        with pytest.raises(SourceError) as info:
            next(gen)
    assert str(info.value) == (
        "2 of 2 tables not counted: "
        f"table 'nope': source 'app' ({sqlite_url}): no such table: nope (tables: users); "
        f"table 'gone': source 'app' ({sqlite_url}): no such table: gone (tables: users)"
    )


def test_missing_sqlite_file_is_an_error_and_is_not_created(tmp_path):
    path = tmp_path / "typo.db"
    reader, source_settings = settings_for(f"sqlite:///{path}", ["users"])
    with Sources(source_settings) as sources, pytest.raises(SourceError) as info:
        list(CountRows("app", table_map(reader), clock=fixed_clock())(sources=sources))
    assert str(info.value) == f"source 'app': SQLite file {str(path)!r} does not exist"
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_sqlite_source_is_opened_read_only_even_with_a_space_in_its_path(tmp_path):
    folder = tmp_path / "with space"
    folder.mkdir()
    url = f"sqlite:///{folder / 'source.db'}"
    seed(url, {"users": 2})
    assert count(url, ["users"]) == [(HOUR_15, {"objects.users.count": 2})]
    assert sorted(p.name for p in folder.iterdir()) == ["source.db"]


def test_sqlite_path_with_hash_reads_the_right_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'data#1.db'}"
    seed(url, {"users": 2})
    try:
        assert count(url, ["users"]) == [(HOUR_15, {"objects.users.count": 2})]
    finally:
        assert not (tmp_path / "data").exists(), "an empty database was created next to the source"


def test_unreachable_server_names_the_source_without_the_password():
    # port 1: connection refused at once
    url = "postgresql://postgres:s3cretpw@127.0.0.1:1/app"
    node = CountRows("app", {"users": "users"}, clock=fixed_clock())
    settings = {"app": SourceSettings(url=url, connect_timeout=2)}
    with Sources(settings) as sources, pytest.raises(SourceError) as info:
        list(node(sources=sources))
    message = str(info.value)
    assert message.startswith("source 'app' (postgresql://postgres:***@127.0.0.1:1/app): connecting: ")
    assert "s3cretpw" not in message


# ── configuration ────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    "bad",
    [
        "users; drop table x",
        "a.b.c",
        "x'y",
        'x"y',
        "x`y",
        "",
        " users",
        "users\n",
        "crm.",
        ".users",
        "a" * 64,
    ],
)
def test_config_rejects_what_is_not_a_table_name(bad):
    message = config_error([bad])
    assert message == (
        f"readers.objects.tables[0]: {bad!r} is not a table name (optionally schema.table; "
        "at most 63 characters each, no quotes, no ;)"
    )


def test_config_accepts_names_that_need_quoting():
    """Looked up in the source and quoted by the dialect, never pasted: spaces, case, digits first."""
    tables = ["Billing Invoices", "UserEvents", "schéma.users", "a-b"]
    reader, _ = settings_for("sqlite:///unused.db", tables)
    assert table_map(reader) == {
        "billing_invoices": "Billing Invoices",
        "userevents": "UserEvents",
        "users": "schéma.users",
        "a_b": "a-b",
    }


def test_config_error_names_the_position_in_the_list():
    assert config_error(["users", "orders", "x; delete from users"]).startswith("readers.objects.tables[2]: ")


def test_config_accepts_the_longest_identifiers_and_a_schema():
    reader, _ = settings_for("sqlite:///unused.db", ["a" * 63, "crm.accounts", "Mixed_Case1"])
    assert table_map(reader) == {"a" * 63: "a" * 63, "accounts": "crm.accounts", "mixed_case1": "Mixed_Case1"}


def test_config_rejects_injection_in_the_mapping_form():
    message = config_error({"customers": "accounts; drop table x"})
    assert "'accounts; drop table x' is not a table name" in message
    assert message.startswith("readers.objects.tables")


def test_config_error_in_the_mapping_form_names_the_metric_key():
    assert config_error({"customers": "a;b"}).startswith("readers.objects.tables.customers: ")


def test_config_rejects_an_unknown_source():
    assert config_error(["users"], source="nope") == ("readers.objects.source: unknown source 'nope' (sources: app)")
    assert config_error(["users"], sources={}, source="app") == (
        "readers.objects.source: unknown source 'app' (sources: none defined)"
    )


def test_config_rejects_tables_that_give_one_metric_name():
    expected = "readers.objects.tables: two tables give the same metric name"
    assert config_error(["crm.users", "users"]).startswith(expected)
    assert config_error(["Users", "users"]).startswith(expected)


def test_a_retried_read_reports_each_missing_table_once(pg_url):
    """A missing table, then a table whose query loses the connection once (its backend is
    terminated, a transient error): the whole read is retried on a new connection, and the error
    counts the missing table once, not once per attempt."""
    seed(pg_url, {"users": 3, "order": 2})
    engine = create_engine(database_url(pg_url))
    with engine.begin() as connection:
        connection.execute(text("CREATE SEQUENCE shots"))
        connection.execute(  # the first query of the view kills its own connection; later ones count
            text(
                'CREATE VIEW flaky AS SELECT * FROM "order" '
                "WHERE CASE WHEN nextval('shots') = 1 THEN pg_terminate_backend(pg_backend_pid()) ELSE true END"
            )
        )
    settings = parse(
        {
            "sources": {"app": {"url": pg_url, "retries": 2, "backoff": 0.1}},
            "readers": {"objects": {"source": "app", "tables": ["users", "missing_table", "flaky"]}},
        }
    )
    node = CountRows("app", table_map(settings.readers["objects"]), clock=fixed_clock())
    with Sources(settings.sources) as sources:
        gen = node(sources=sources)
        assert next(gen) == (HOUR_15, {"objects.users.count": 3, "objects.flaky.count": 2})
        with pytest.raises(SourceError) as info:
            list(gen)
    with engine.connect() as connection:
        # one shot on the first attempt (killed there), then one per row of "order" on the retry
        assert connection.execute(text("SELECT last_value FROM shots")).scalar_one() == 1 + 2
    engine.dispose()
    message = str(info.value)
    assert message.startswith("1 of 3 tables not counted: table 'missing_table': source 'app' (")
    assert message.count("missing_table") == 2  # our name for it, and the database's in its message
