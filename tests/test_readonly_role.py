"""`db grant-readonly` creates a PostgreSQL role that reads the store (tables and views) and can
write nothing; the password comes from the environment and is never printed."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from apercite_analytics.cli import main as cli
from apercite_analytics.config.urls import database_url
from apercite_analytics.store import schema as store

PASSWORD = "pa'ss%:w0rd $x"


@pytest.fixture
def role(pg_url):
    name = f"grafana_t_{uuid.uuid4().hex[:8]}"
    yield name
    admin = create_engine(database_url(pg_url), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:  # roles are cluster-wide: leave nothing behind
        exists = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": name}).first()
        if exists:
            connection.execute(text(f"DROP OWNED BY {name}"))
            connection.execute(text(f"DROP ROLE {name}"))
    admin.dispose()


def test_grant_readonly_role_reads_and_cannot_write(pg_url, role, monkeypatch, capsys):
    engine = store.open_engine(pg_url)
    store.upgrade(engine)
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO metric (id, name) VALUES (1, 'a.b')"))
        connection.execute(text("INSERT INTO hourly_value VALUES (1, '2026-11-20', 5, 2.5, now())"))
    monkeypatch.setenv("APERCITE_GRAFANA_DB_PASSWORD", PASSWORD)
    assert cli.main(["db", "grant-readonly", "--url", pg_url, "--role", role]) == 0
    err = capsys.readouterr().err
    assert f"created role {role}" in err and f"set the password of {role}" in err and PASSWORD not in err
    assert cli.main(["db", "grant-readonly", "--url", pg_url, "--role", role]) == 0  # idempotent
    assert "created role" not in capsys.readouterr().err

    with engine.connect() as connection:
        stored = connection.execute(text("SELECT rolpassword FROM pg_authid WHERE rolname = :r"), {"r": role}).scalar()
    assert stored and stored.startswith(("SCRAM-SHA-256$", "md5"))

    reader = create_engine(database_url(make_url(pg_url).set(username=role).render_as_string(hide_password=False)))
    try:
        with reader.connect() as connection:
            assert connection.execute(text("SHOW default_transaction_read_only")).scalar() == "on"
            row = connection.execute(text("SELECT metric, time, value FROM hourly_series")).one()
            assert (row.metric, row.time.isoformat(), row.value) == ("a.b", "2026-11-20T05:00:00+00:00", 2.5)
            for table in ("metric", "metric_definition", "daily_value", "daily_series", "run_log", "run_reader"):
                connection.execute(text(f"SELECT count(*) FROM {table}")).scalar()
        for statement in (
            "INSERT INTO metric (name) VALUES ('x')",
            "DELETE FROM hourly_value",
            "CREATE TABLE t (x int)",
        ):
            with reader.connect() as connection, pytest.raises(DBAPIError) as info:
                connection.execute(text("SET transaction_read_only = off"))  # even out of read-only mode
                connection.execute(text(statement))
            assert "permission denied" in str(info.value.orig)
    finally:
        reader.dispose()
        engine.dispose()


def test_print_shows_the_sql_without_a_password(pg_url, role, monkeypatch, capsys):
    monkeypatch.setenv("APERCITE_GRAFANA_DB_PASSWORD", PASSWORD)
    assert cli.main(["db", "grant-readonly", "--url", pg_url, "--role", role, "--print"]) == 0
    out = capsys.readouterr().out
    assert "GRANT SELECT ON public.metric, public.metric_definition, public.hourly_value" in out
    assert f"TO {role};" in out
    assert "default_transaction_read_only = on" in out and PASSWORD not in out


def test_bad_role_name_and_sqlite_store_are_clear_errors(sqlite_url, capsys):
    assert cli.main(["db", "grant-readonly", "--url", sqlite_url, "--role", "x; drop"]) == 2
    assert "--role 'x; drop': a role name is lowercase letters" in capsys.readouterr().err
    for extra in ([], ["--print"]):  # --print too: no PostgreSQL SQL for a SQLite store
        assert cli.main(["db", "grant-readonly", "--url", sqlite_url, *extra]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err == (
            f"error: db grant-readonly: PostgreSQL only; the store {sqlite_url} is sqlite, which has no roles "
            "(Grafana reads the store through its PostgreSQL data source)\n"
        )
