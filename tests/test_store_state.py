"""The store's state before a run writes (issue 15, items 6, 11, 12, 13): a column changed by hand,
a MariaDB store, a store migrated by a newer program, a first migration that fails half-way. Each
is one line and exit 1, and leaves the store as it found it. Real PostgreSQL, MariaDB and SQLite."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from support.storeview import stored

from apercite_analytics.cli import main as cli
from apercite_analytics.config.urls import database_url

VALUES_SQL = "SELECT '2026-11-20 10:00:00' AS time, 1.5 AS v UNION ALL SELECT '2026-11-20 11:00:00', 2.7"


def make_config(tmp_path: Path, store_url: str) -> Path:
    sqlite3.connect(tmp_path / "app.db").close()  # the source: an empty SQLite file (the query needs no table)
    path = tmp_path / "analytics.toml"
    path.write_text(
        f'[store]\nurl = "{store_url}"\n\n'
        f'[sources.app]\nurl = "sqlite:///{tmp_path / "app.db"}"\n\n'
        f'[readers.sql.queries.q]\nsource = "app"\nsql = "{VALUES_SQL}"\nmetric = "app.value"\n',
        encoding="utf-8",
    )
    return path


def read_write(config: Path) -> list[str]:
    return ["read", "sql", "--write", "-c", str(config), "--since", "2026-11-20", "--until", "2026-11-21"]


def run_sql(url: str, *statements: str) -> None:
    engine = create_engine(database_url(url))
    try:
        with engine.begin() as connection:
            for statement in statements:
                connection.execute(text(statement))
    finally:
        engine.dispose()


def tables(url: str) -> set[str]:
    engine = create_engine(database_url(url))
    try:
        found = inspect(engine)
        return set(found.get_table_names()) | set(found.get_view_names())
    finally:
        engine.dispose()


def one_error_line(err: str) -> str:
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    return errors[0]


def test_a_column_type_changed_by_hand_is_refused_before_writing(tmp_path, pg_url, capsys):
    """Item 6: after `ALTER … value TYPE integer`, 1.5 and 2.7 were stored as 2 and 3, exit 0."""
    config = make_config(tmp_path, pg_url)
    assert cli.main(["db", "upgrade", "-c", str(config)]) == 0
    run_sql(
        pg_url,
        "DROP VIEW hourly_series",  # the view depends on the column: a hand change drops it first
        "ALTER TABLE hourly_value ALTER value TYPE integer",
    )
    capsys.readouterr()
    assert cli.main(read_write(config)) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "hourly_value.value is integer, expected floating point" in line
    assert "changed by hand" in line
    assert stored(pg_url) == {}

    assert cli.main(["db", "current", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "tables differ: hourly_value.value is integer, expected floating point" in out


def test_an_untouched_store_passes_the_live_schema_check(tmp_path, store_url, capsys):
    config = make_config(tmp_path, store_url)
    assert cli.main(read_write(config)) == 0
    assert cli.main(read_write(config)) == 0  # the second run checks the live tables of a migrated store
    values = stored(store_url)
    assert [values[k] for k in sorted(values)] == [1.5, 2.7]


def test_a_mariadb_store_is_refused_before_any_statement(tmp_path, mysql_url, capsys):
    """Item 11: a MariaDB store half-migrated (KeyError: 'mysql'), then had no way forward."""
    config = make_config(tmp_path, mysql_url)
    assert cli.main(read_write(config)) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "the store must be PostgreSQL or SQLite, not mysql" in line
    assert cli.main(["db", "upgrade", "--url", mysql_url]) == 1
    assert "the store must be PostgreSQL or SQLite" in one_error_line(capsys.readouterr().err)
    assert tables(mysql_url) == set()


def test_a_store_at_a_newer_revision_says_to_upgrade_the_program(tmp_path, store_url, capsys):
    """Item 12: `read --write` advised `db upgrade`, which failed with a traceback; `db current` said behind."""
    config = make_config(tmp_path, store_url)
    assert cli.main(["db", "upgrade", "-c", str(config)]) == 0
    run_sql(store_url, "UPDATE alembic_version SET version_num = '9999_from_a_newer_program'")
    capsys.readouterr()

    assert cli.main(read_write(config)) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "is at revision 9999_from_a_newer_program, newer than this version of apercite-analytics" in line
    assert "upgrade the program" in line and "db upgrade" not in line

    assert cli.main(["db", "upgrade", "-c", str(config)]) == 1
    assert "upgrade the program" in one_error_line(capsys.readouterr().err)

    assert cli.main(["db", "current", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("9999_from_a_newer_program: newer than this version of apercite-analytics")
    assert "behind" not in out


def test_a_foreign_table_of_ours_is_refused_before_migrating(tmp_path, sqlite_url, capsys):
    """Item 13: an existing `run_log` table left metric, hourly_value, … behind; every later run refused."""
    run_sql(sqlite_url, "CREATE TABLE run_log (x INTEGER)")
    config = make_config(tmp_path, sqlite_url)
    assert cli.main(read_write(config)) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "has tables named run_log but no migration record" in line
    assert tables(sqlite_url) == {"run_log"}


def test_a_failed_first_migration_leaves_the_database_as_it_was(tmp_path, store_url, capsys):
    """Item 13: migrations run in one transaction on SQLite too; a failure part-way keeps nothing."""
    run_sql(store_url, "CREATE TABLE hourly_series (x INTEGER)")  # revision 0003's view cannot be created
    config = make_config(tmp_path, store_url)
    assert cli.main(read_write(config)) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "migration failed" in line and "hourly_series" in line
    assert tables(store_url) == {"hourly_series"}

    run_sql(store_url, "DROP TABLE hourly_series")
    assert cli.main(read_write(config)) == 0  # nothing was left half-done: the next run initialises it
    assert sorted(stored(store_url).values()) == [1.5, 2.7]
