"""A configured source table and its columns: checked as identifiers at config time, checked against
the real table at run time, and written into SQL only as quoted by the dialect's own preparer.

Readers that build their SQL from configured names (`events`, `spiders`) use this so that a typo
is one error naming the config key, and a name is never pasted into SQL unquoted.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.engine import Connection
from sqlalchemy.exc import NoSuchTableError, SQLAlchemyError

from apercite_analytics.config.secrets import scrub
from apercite_analytics.errors import ConfigError, SourceError

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
DIALECTS = ("postgresql", "mysql", "mariadb", "sqlite")
# a name `objects` only looks up (reflected, then quoted): spaces and any case, but nothing that reads like SQL
_TABLE_NAME = re.compile(r"^(?=.{1,63}$)[^\s\"'`;\x00-\x1f](?:[^\"'`;\x00-\x1f]*[^\s\"'`;\x00-\x1f])?$")


def check_table(value: str, where: str) -> None:
    """`table` or `schema.table`, each part an identifier (letters, digits, _)."""
    parts = value.split(".")
    if len(parts) > 2 or not all(IDENTIFIER.match(p) for p in parts):
        raise ConfigError(f"{where}: {value!r} is not a table name (letters, digits, _; optionally schema.table)")


def check_table_name(value: str, where: str) -> None:
    """A table the reader only names (never pastes into SQL): `table` or `schema.table`, any printable
    name (`Billing Invoices`, `Users`), quoted by the dialect when it needs quoting."""
    parts = value.split(".")
    if len(parts) > 2 or not all(_TABLE_NAME.fullmatch(p) for p in parts):
        raise ConfigError(
            f"{where}: {value!r} is not a table name (optionally schema.table; at most 63 characters each, "
            "no quotes, no ;)"
        )


def find_table(connection: Connection, identifier: str) -> tuple[str | None, str]:
    """(schema, name) of the source's table or view `identifier` names: the exact name, else the only
    one that differs in case (PostgreSQL folds unquoted names to lowercase, so `Users` may be `users`).
    A missing table is a SourceError listing the ones there are."""
    schema, _, name = identifier.rpartition(".")
    inspector = inspect(connection)
    try:
        names = [*inspector.get_table_names(schema=schema or None), *inspector.get_view_names(schema=schema or None)]
    except NoSuchTableError:
        names = []
    if name in names:
        return schema or None, name
    folded = [n for n in names if n.lower() == name.lower()]
    if len(folded) == 1:
        return schema or None, folded[0]
    shown = ", ".join(sorted(names)[:20]) + (", …" if len(names) > 20 else "") or "none"
    raise SourceError(f"no such table: {identifier} (tables{' of ' + schema if schema else ''}: {shown})")


def check_column(value: str, where: str) -> None:
    if not IDENTIFIER.match(value):
        raise ConfigError(f"{where}: {value!r} is not a column name (letters, digits and _, not starting with a digit)")


@dataclass(frozen=True)
class Table:
    """A reflected table: its quoted name and quoted columns by role, ready to go into SQL."""

    dialect: str
    name: str  # quoted, with its schema
    columns: dict[str, str]  # role → quoted column
    time_zone_aware: dict[str, bool]  # role → whether a PostgreSQL timestamp column is timestamptz

    def bind_time(self, moment: datetime, role: str) -> Any:
        """A UTC bound as the driver compares it correctly with the `role` column (session in UTC).

        SQLite compares text: `YYYY-MM-DD HH:MM:SS`, which sorts right against stored
        `YYYY-MM-DD HH:MM:SS[.ffffff]`. MySQL/MariaDB take naive UTC. PostgreSQL gets an aware
        value for timestamptz and a naive UTC one for timestamp, so the index is used as is.
        """
        moment = moment.astimezone(UTC)
        if self.dialect == "sqlite":
            return moment.strftime("%Y-%m-%d %H:%M:%S")
        if self.dialect in ("mysql", "mariadb") or not self.time_zone_aware.get(role, True):
            return moment.replace(tzinfo=None)
        return moment


def reflect(connection: Connection, table: str, columns: Mapping[str, str | None], where: str) -> Table:
    """Check `table` and its `columns` (role → configured name; None = not used) exist in the source.

    A missing table or column is a SourceError naming the config key (`<where>.table`,
    `<where>.columns.<role>`) and listing the columns the table has.
    """
    dialect = connection.dialect.name
    if dialect not in DIALECTS:
        raise SourceError(f"{where}: {dialect} sources are not supported (PostgreSQL, MariaDB/MySQL or SQLite)")
    schema, _, name = table.rpartition(".")
    try:
        found = inspect(connection).get_columns(name, schema=schema or None)
    except NoSuchTableError:
        raise SourceError(f"{where}.table: table {table!r} not found in the source") from None
    sensitive = dialect == "postgresql"  # quoted identifiers are case-sensitive there, case-insensitive elsewhere
    by_name = {(c["name"] if sensitive else c["name"].lower()): c for c in found}
    preparer = connection.dialect.identifier_preparer
    quoted: dict[str, str] = {}
    aware: dict[str, bool] = {}
    for role, column in columns.items():
        if column is None:
            continue
        info = by_name.get(column if sensitive else column.lower())
        if info is None:
            have = ", ".join(c["name"] for c in found)
            raise SourceError(f"{where}.columns.{role}: table {table!r} has no column {column!r} (columns: {have})")
        quoted[role] = preparer.quote(column)
        aware[role] = bool(getattr(info["type"], "timezone", False))
    table_sql = (preparer.quote_schema(schema) + "." if schema else "") + preparer.quote(name)
    return Table(dialect, table_sql, quoted, aware)


def reflect_table(
    sources,
    source: str,
    connection: Connection,
    table: str,
    columns: Mapping[str, str | None],
    where: str,
    using: Callable[..., Table] = reflect,
) -> Table:
    """`reflect` (or a store's own, `using`), with every failure one SourceError naming the source (its URL masked)."""
    try:
        return using(connection, table, columns, where)
    except SourceError as exc:
        raise SourceError(scrub(f"{sources.describe(source)}: {exc}")) from None
    except SQLAlchemyError as exc:
        raise sources.error(source, exc, f"reading the columns of {table!r}") from None
