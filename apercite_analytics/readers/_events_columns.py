"""The `events` reader's table on the columnar stores (DuckDB, Parquet, ClickHouse): which columns
it has, of which types, checked before any aggregate runs.

The row stores go through `common/tables.py` (SQLAlchemy's inspector). Here the store describes
the relation itself (`DESCRIBE`), which works the same for a table and for `read_parquet(…)`, and
gives the types as the store spells them: a duration stored as text would be aggregated as text
(a lexicographic `max`, a failed cast halfway through a backfill), so it is refused up front, and
so is a time column that is not a timestamp.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from sqlalchemy import text
from sqlalchemy.engine import Connection

from apercite_analytics.errors import SourceError
from apercite_analytics.readers.common.tables import Table

# base type names, once Nullable(…)/LowCardinality(…) wrappers are removed and case folded
_NUMERIC = re.compile(
    r"^(u?tinyint|u?smallint|u?integer|u?int|u?bigint|u?hugeint|float|double|real|decimal|numeric"
    r"|u?int(8|16|32|64|128|256)|float(32|64)|decimal(32|64|128|256)?)\b"
)
_TIME = re.compile(r"^(timestamp|datetime|datetime64)\b")
_WRAPPERS = re.compile(r"^(nullable|lowcardinality)\((.*)\)$")


def base_type(spelled: str) -> str:
    """`Nullable(Float64)` → `float64`; `DECIMAL(10,3)` → `decimal(10,3)`."""
    name = spelled.strip().lower()
    while match := _WRAPPERS.match(name):
        name = match.group(2)
    return name


def describe(connection: Connection, what: str, shown: str, where: str) -> dict[str, str]:
    """Column name → type of `DESCRIBE <what>` (SQL, names already quoted), in the store's order."""
    rows = connection.execute(text(f"DESCRIBE {what}")).all()
    found = {str(row[0]): str(row[1]) for row in rows}
    if not found:
        raise SourceError(f"{where}.table: {shown} has no columns")
    return found


def columns_table(
    dialect: str,
    relation: str,
    shown: str,
    found: Mapping[str, str],
    roles: Mapping[str, str | None],
    where: str,
    *,
    quote,
    case_sensitive: bool,
) -> Table:
    """The `Table` for `relation` whose columns (name → type) are `found`: each configured column must
    exist; `time` must be a timestamp and `duration` a number."""
    by_name = {(name if case_sensitive else name.lower()): name for name in found}
    quoted: dict[str, str] = {}
    aware: dict[str, bool] = {}
    for role, column in roles.items():
        if column is None:
            continue
        name = by_name.get(column if case_sensitive else column.lower())
        if name is None:
            raise SourceError(f"{where}.columns.{role}: {shown} has no column {column!r} (columns: {', '.join(found)})")
        spelled = base_type(found[name])
        if role == "time" and not _TIME.match(spelled):
            raise SourceError(f"{where}.columns.time: column {name!r} of {shown} is {found[name]}, not a timestamp")
        if role == "duration" and not _NUMERIC.match(spelled):
            raise SourceError(f"{where}.columns.duration: column {name!r} of {shown} is {found[name]}, not a number")
        quoted[role] = quote(name)
        aware[role] = "with time zone" in spelled  # DuckDB's TIMESTAMPTZ (ClickHouse is bound naive UTC)
    return Table(dialect, relation, quoted, aware)
