"""The metric store's engine and schema: connect, check the migration state, upgrade.

`read --write` initialises an empty store by itself (so the first run on a fresh machine just
works) but never upgrades an existing one behind the user's back: that is `db upgrade`. Before a
run writes, the live tables are compared with the models once (`live_schema_problems`): a column
whose type was changed by hand would otherwise round or truncate every value silently.

Only PostgreSQL and SQLite can be the store (`require_store_dialect` refuses others before any
statement): the migrations and the upserts are written for those two. A migration runs in one transaction on
both, so one that fails leaves the store as it was (SQLite: see `_transactional`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import create_engine, event, inspect, types
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from apercite_analytics.config.secrets import mask_url
from apercite_analytics.config.urls import database_url, display_url
from apercite_analytics.errors import StoreError, describe_db_error
from apercite_analytics.store.models import Base

MIGRATIONS = Path(__file__).parent / "migrations"
T = TypeVar("T")
IN_CHUNK = 500  # names per `IN (…)`: well under every dialect's bound-parameter limit
DIALECTS = ("postgresql", "sqlite")


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


def require_store_dialect(engine: Engine) -> None:
    """Refuse, before any statement, a store on a dialect the migrations and upserts are not
    written for (an engine on MariaDB is fine elsewhere: as a source, or the collector's events)."""
    if engine.dialect.name not in DIALECTS:
        raise StoreError(
            f"{describe(engine)}: the store must be PostgreSQL or SQLite, not {engine.dialect.name} "
            "(MariaDB and MySQL can be read as sources)"
        )


def current_revision(engine: Engine) -> str | None:
    """The store's Alembic revision (None for a database we never migrated)."""
    require_store_dialect(engine)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise StoreError(f"{describe(engine)}: {describe_db_error(exc)}") from None


def is_newer(revision: str | None) -> bool:
    """Whether `revision` is one this version of the program does not know (a newer program migrated the store)."""
    if revision is None:
        return False
    try:
        return ScriptDirectory(str(MIGRATIONS)).get_revision(revision) is None
    except CommandError:
        return True


def newer_error(engine: Engine, revision: str) -> StoreError:
    return StoreError(
        f"{describe(engine)} is at revision {revision}, newer than this version of apercite-analytics "
        f"(it knows up to {head_revision()}): upgrade the program (pip install -U apercite-analytics)"
    )


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Migrate the store to the newest revision, in one transaction; returns (before, after)."""
    before = current_revision(engine)
    if is_newer(before):
        raise newer_error(engine, before or "")
    migrating = _transactional(engine)
    try:
        with migrating.begin() as connection:
            command.upgrade(_alembic_config(connection), "head")
    except SQLAlchemyError as exc:
        raise StoreError(f"{describe(engine)}: migration failed: {describe_db_error(exc)}") from None
    finally:
        if migrating is not engine:
            migrating.dispose()
    return before, head_revision()


def _transactional(engine: Engine) -> Engine:
    """An engine whose transactions hold DDL too. PostgreSQL's do; Python's sqlite3 commits before
    each CREATE/ALTER, so SQLite gets SQLAlchemy's documented recipe: the driver's own transaction
    handling off, and an explicit BEGIN (a failed first migration then leaves no table behind)."""
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return engine  # an in-memory store lives in its one connection: nothing to leave half-done
    migrating = create_engine(engine.url, poolclass=NullPool, connect_args={"timeout": 30})

    @event.listens_for(migrating, "connect")
    def _connect(dbapi_connection, _record) -> None:
        _sqlite_pragmas(dbapi_connection, _record)
        dbapi_connection.isolation_level = None

    @event.listens_for(migrating, "begin")
    def _begin(connection) -> None:
        connection.exec_driver_sql("BEGIN")

    return migrating


def ensure_ready(engine: Engine) -> str | None:
    """Make sure the store can be written: initialise it if empty, else demand it is up to date.

    Returns a line to tell the user when it initialised the store, else None.
    """
    current, head = current_revision(engine), head_revision()
    if current == head:
        problems = live_schema_problems(engine)
        if problems:
            more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
            raise StoreError(
                f"{describe(engine)}: its tables differ from revision {head}: {problems[0]}{more}; "
                "was it changed by hand? Restore it (or point store.url at a new store) before writing"
            )
        return None
    if is_newer(current):
        raise newer_error(engine, current)
    if current is None:
        try:
            tables = inspect(engine).get_table_names()
        except SQLAlchemyError as exc:
            raise StoreError(f"{describe(engine)}: {describe_db_error(exc)}") from None
        ours = sorted(set(tables) & set(Base.metadata.tables))
        if ours:
            raise StoreError(
                f"{describe(engine)}: has tables named {', '.join(ours)} but no migration record "
                "(alembic_version); point store.url at an empty database or an apercite-analytics store"
            )
        upgrade(engine)
        return f"initialised an empty {describe(engine)} at revision {head}"
    raise StoreError(
        f"{describe(engine)} is at revision {current}, this version needs {head}: run `apercite-analytics db upgrade`"
    )


_FAMILIES = (  # the type families a change would matter for (checked in this order: Float before Numeric)
    (types.Boolean, "boolean"),
    (types.Integer, "integer"),
    (types.Float, "floating point"),
    (types.Numeric, "numeric"),
    (types.DateTime, "timestamp"),
    (types.Date, "date"),
    (types.JSON, "JSON"),
    (types.Uuid, "UUID"),
    (types.String, "text"),
    (types.LargeBinary, "binary"),
    (types.Time, "time"),
    (types.Interval, "interval"),
)


def _family(column_type: types.TypeEngine) -> str:
    return next((name for kind, name in _FAMILIES if isinstance(column_type, kind)), type(column_type).__name__)


def live_schema_problems(engine: Engine) -> list[str]:
    """How the live tables differ from the models: a missing table or column, another primary
    key, a column of another type family (`integer` for a `floating point` value) or a shorter text."""
    try:
        inspector = inspect(engine)
        live_columns = inspector.get_multi_columns()
        live_keys = inspector.get_multi_pk_constraint()
    except SQLAlchemyError as exc:
        raise StoreError(f"{describe(engine)}: cannot read its tables: {describe_db_error(exc)}") from None
    live = {name: columns for (_, name), columns in live_columns.items()}
    keys = {name: key.get("constrained_columns") or [] for (_, name), key in live_keys.items()}
    problems = []
    for table in Base.metadata.sorted_tables:
        if table.name not in live:
            problems.append(f"table {table.name} is missing")
            continue
        found = {column["name"]: column["type"] for column in live[table.name]}
        for column in table.columns:
            where = f"{table.name}.{column.name}"
            if column.name not in found:
                problems.append(f"{where} is missing")
                continue
            expected, actual = _family(column.type), _family(found[column.name])
            live_length = getattr(found[column.name], "length", None)
            model_length = getattr(column.type, "length", None)
            if expected != actual:
                problems.append(f"{where} is {actual}, expected {expected}")
            elif live_length and model_length and live_length < model_length:
                problems.append(f"{where} holds {live_length} characters, expected {model_length}")
        if sorted(keys.get(table.name, [])) != sorted(c.name for c in table.primary_key):
            problems.append(f"{table.name}'s primary key is not ({', '.join(c.name for c in table.primary_key)})")
    return problems


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
