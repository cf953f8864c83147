"""Shared fixtures: real PostgreSQL and MariaDB databases (created per test, dropped after), SQLite files.

PostgreSQL: $APERCITE_TEST_POSTGRES_URL, default postgresql://postgres@127.0.0.1:5432/test (the
service on the project's machines; `.ci/run` starts it). MariaDB: $APERCITE_TEST_MYSQL_URL,
default mysql+pymysql://root@127.0.0.1:3306/test. A server that is down fails the tests that
need it: nothing is silently skipped.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from apercite_analytics.config.urls import database_url
from apercite_analytics.store import schema as store

PG_URL = os.environ.get("APERCITE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
MYSQL_URL = os.environ.get("APERCITE_TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")


def _scratch_database(admin_url: str, isolation: str | None) -> Iterator[str]:
    name = f"apercite_t_{uuid.uuid4().hex[:12]}"
    url = database_url(admin_url)
    admin = create_engine(url, isolation_level=isolation) if isolation else create_engine(url)
    try:
        with admin.connect() as connection:
            connection.execute(text(f"CREATE DATABASE {name}"))
            connection.commit()
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"cannot create a test database on {make_url(admin_url).render_as_string()}: {exc}")
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            drop = f"DROP DATABASE IF EXISTS {name}" + (" WITH (FORCE)" if admin.dialect.name == "postgresql" else "")
            connection.execute(text(drop))
            connection.commit()
        admin.dispose()


@pytest.fixture
def pg_url() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database."""
    yield from _scratch_database(PG_URL, "AUTOCOMMIT")


@pytest.fixture
def mysql_url() -> Iterator[str]:
    """URL of a fresh, empty MariaDB database."""
    yield from _scratch_database(MYSQL_URL, None)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'store.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store URL on each dialect the store supports."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        yield from _scratch_database(PG_URL, "AUTOCOMMIT")


@pytest.fixture
def store_engine(store_url: str):
    """An engine on a migrated, empty store."""
    engine = store.open_engine(store_url)
    store.upgrade(engine)
    yield engine
    engine.dispose()
