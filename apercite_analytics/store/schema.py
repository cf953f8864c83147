"""The metric store's engine and schema: connect, check the migration state, upgrade.

`read --write` initialises an empty store by itself (so the first run on a fresh machine just
works) but never upgrades an existing one behind the user's back: that is `db upgrade`.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, inspect
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from apercite_analytics.config.secrets import mask_url
from apercite_analytics.config.urls import database_url, display_url
from apercite_analytics.errors import StoreError, describe_db_error

MIGRATIONS = Path(__file__).parent / "migrations"
T = TypeVar("T")
IN_CHUNK = 500  # names per `IN (…)`: well under every dialect's bound-parameter limit


def open_engine(url: str) -> Engine:
    """An engine on the store; SQLite gets foreign keys, WAL and a busy timeout."""
    try:
        parsed = database_url(url)
        backend = parsed.get_backend_name()
        connect_args: dict = {}
        if backend == "postgresql":
            connect_args = {"connect_timeout": 10, "application_name": "apercite-analytics"}
        elif backend == "sqlite":
            connect_args = {"timeout": 30}
        engine = create_engine(parsed, connect_args=connect_args, pool_pre_ping=True)
    except (SQLAlchemyError, ValueError, ImportError) as exc:
        raise StoreError(f"store ({mask_url(url)}): {describe_db_error(exc)}") from None
    if backend == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def missing_sqlite_file(url: str) -> str | None:
    """The file of a SQLite store URL whose file does not exist (opening it would create it), else None."""
    try:
        parsed = database_url(url)
    except (ValueError, SQLAlchemyError):
        return None
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:") or database.startswith("file:"):
        return None
    return None if Path(database).exists() else database


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys = ON")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.close()


def describe(engine: Engine) -> str:
    return f"store ({display_url(engine.url)})"


def _alembic_config(connection) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    script = ScriptDirectory(str(MIGRATIONS))
    return script.get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The store's Alembic revision (None for a database we never migrated)."""
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise StoreError(f"{describe(engine)}: {describe_db_error(exc)}") from None


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Migrate the store to the newest revision; returns (before, after)."""
    before = current_revision(engine)
    try:
        with engine.begin() as connection:
            command.upgrade(_alembic_config(connection), "head")
    except SQLAlchemyError as exc:
        raise StoreError(f"{describe(engine)}: migration failed: {describe_db_error(exc)}") from None
    return before, head_revision()


def ensure_ready(engine: Engine) -> str | None:
    """Make sure the store can be written: initialise it if empty, else demand it is up to date.

    Returns a line to tell the user when it initialised the store, else None.
    """
    current, head = current_revision(engine), head_revision()
    if current == head:
        return None
    if current is None:
        try:
            tables = inspect(engine).get_table_names()
        except SQLAlchemyError as exc:
            raise StoreError(f"{describe(engine)}: {describe_db_error(exc)}") from None
        if {"metric", "hourly_value", "daily_value"} & set(tables):
            raise StoreError(
                f"{describe(engine)}: has tables named metric/hourly_value/daily_value but no migration "
                "record (alembic_version); point store.url at an empty database or an apercite-analytics store"
            )
        upgrade(engine)
        return f"initialised an empty {describe(engine)} at revision {head}"
    raise StoreError(
        f"{describe(engine)} is at revision {current}, this version needs {head}: run `apercite-analytics db upgrade`"
    )


def dialect_insert(engine: Engine):
    """The INSERT construct with ON CONFLICT for the store's dialect (PostgreSQL or SQLite)."""
    from sqlalchemy.dialects import postgresql, sqlite

    name = engine.dialect.name
    if name == "postgresql":
        return postgresql.insert
    if name == "sqlite":
        return sqlite.insert
    raise StoreError(f"{describe(engine)}: the store must be PostgreSQL or SQLite, not {name}")


def in_chunks(items: list[T], size: int = IN_CHUNK) -> Iterator[list[T]]:
    """`items` in slices of `size`, for `WHERE name IN (…)` over any number of names."""
    for i in range(0, len(items), size):
        yield items[i : i + size]
