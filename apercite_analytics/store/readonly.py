"""`db grant-readonly`: the PostgreSQL role Grafana connects with, allowed to read and nothing else.

Grafana runs whatever SQL a dashboard editor types, so its data source must not be able to write
(Grafana's own documentation says so). The role gets USAGE on the schema, SELECT on the store's
tables and views, SELECT by default on what later migrations create, and read-only transactions
by default. Its password, if any, comes from an environment variable, never from the command line.
"""

from __future__ import annotations

import re

from sqlalchemy import text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from apercite_analytics.config.secrets import mask_url
from apercite_analytics.errors import ConfigError, StoreError, describe_db_error
from apercite_analytics.store.schema import describe

READABLE = (
    "metric",
    "metric_definition",
    "hourly_value",
    "daily_value",
    "hourly_series",
    "daily_series",
    "run_log",
    "run_reader",
)
_ROLE = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


def check_role(role: str) -> str:
    if not _ROLE.match(role):
        raise ConfigError(f"--role {role!r}: a role name is lowercase letters, digits and _ (at most 63)")
    return role


def check_dialect(url: str) -> None:
    """Roles and GRANTs are PostgreSQL's: on any other store, one clear line before anything runs."""
    try:
        backend = make_url(url).get_backend_name()
    except (ArgumentError, ValueError):  # opening the store reports a bad URL with its own message
        return
    if backend != "postgresql":
        raise ConfigError(
            f"db grant-readonly: PostgreSQL only; the store {mask_url(url)} is {backend}, which has no roles "
            "(Grafana reads the store through its PostgreSQL data source)"
        )


def grant_statements(role: str, schema: str = "public") -> list[str]:
    """The GRANTs, with the role and schema already checked as plain identifiers."""
    check_role(role)
    check_role(schema)
    return [
        f"GRANT CONNECT ON DATABASE {{database}} TO {role}",
        f"GRANT USAGE ON SCHEMA {schema} TO {role}",
        f"GRANT SELECT ON {', '.join(f'{schema}.{t}' for t in READABLE)} TO {role}",
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT SELECT ON TABLES TO {role}",
        f"ALTER ROLE {role} SET default_transaction_read_only = on",
    ]


def script(role: str, database: str, schema: str = "public") -> str:
    """The SQL `--print` shows (the password is set separately, never printed)."""
    lines = [
        f"DO $$ BEGIN CREATE ROLE {check_role(role)} LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$;",
        *(s.format(database=_quote_ident(database)) + ";" for s in grant_statements(role, schema)),
        f"-- then: ALTER ROLE {role} PASSWORD '…';  (or run `db grant-readonly` with the password in the environment)",
    ]
    return "\n".join(lines)


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def grant(engine: Engine, role: str, password: str | None, schema: str = "public") -> list[str]:
    """Create `role` if missing (LOGIN), set its password if given, grant read access; returns what
    was done, one line each. Needs a user allowed to create roles and grant on the store."""
    if engine.dialect.name != "postgresql":
        raise StoreError(f"{describe(engine)}: a read-only role is for PostgreSQL stores (Grafana reads PostgreSQL)")
    done = []
    try:
        with engine.begin() as connection:
            exists = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :r"), {"r": role}).first()
            if not exists:
                connection.execute(text(f"CREATE ROLE {check_role(role)} LOGIN"))
                done.append(f"created role {role}")
            if password is not None:
                # quoted by psycopg2 (sql.Literal), not pasted: the password may hold any character
                from psycopg2 import sql

                statement = sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), sql.Literal(password))
                with connection.connection.driver_connection.cursor() as cursor:
                    cursor.execute(statement)
                done.append(f"set the password of {role}")
            database = connection.execute(text("SELECT current_database()")).scalar_one()
            for statement in grant_statements(role, schema):
                connection.exec_driver_sql(statement.format(database=_quote_ident(database)))
            done.append(f"granted {role} read-only access to {', '.join(READABLE)} in {database}.{schema}")
    except SQLAlchemyError as exc:
        raise StoreError(f"{describe(engine)}: granting read access to {role}: {describe_db_error(exc)}") from None
    return done
