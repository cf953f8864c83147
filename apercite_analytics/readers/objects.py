"""`objects`: row counts of configured tables, as hourly gauges `objects.<name>.count`.

A count is a point-in-time reading: it goes to the UTC hour the run observed it in (the run's
start, so every gauge of one run lands in the same hour), and later runs in that hour rewrite it.
Table names are names, never SQL: each is looked up in the source (reflected: the exact name, else
the only one differing in case) and quoted by the dialect, so `"Billing Invoices"` or a mixed-case
`Users` work; a missing table is an error listing the tables the source has.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select, table
from sqlalchemy.exc import SQLAlchemyError

from apercite_analytics.config.settings import SourceSettings, check_name, check_source
from apercite_analytics.errors import ConfigError, SourceError
from apercite_analytics.readers.common.naming import name_part
from apercite_analytics.readers.common.sources import is_transient
from apercite_analytics.readers.common.tables import check_table_name, find_table
from apercite_analytics.window import Window, utcnow

BACKFILL = False


@dataclass(frozen=True)
class Settings:
    """`[readers.objects]`: `source` and `tables`, a list (`["users", "crm.accounts"]`) or a
    table mapping metric names to tables (`{ customers = "crm.accounts" }`)."""

    source: str
    tables: list[str] | dict[str, str]


def table_map(settings: Settings) -> dict[str, str]:
    """Metric name part → table identifier (`crm.accounts` alone is named `accounts`)."""
    if isinstance(settings.tables, dict):
        return dict(settings.tables)
    return {name_part(t.rsplit(".", 1)[-1]): t for t in settings.tables}


def check(settings: Settings, sources: Mapping[str, SourceSettings], where: str) -> None:
    check_source(settings.source, sources, f"{where}.source")
    if not settings.tables:
        raise ConfigError(f"{where}.tables: list at least one table")
    if isinstance(settings.tables, dict):
        keyed = {f"{where}.tables.{name}": identifier for name, identifier in settings.tables.items()}
    else:
        keyed = {f"{where}.tables[{i}]": identifier for i, identifier in enumerate(settings.tables)}
    for key, identifier in keyed.items():
        check_table_name(identifier, key)
    names = table_map(settings)
    if isinstance(settings.tables, list) and len(names) != len(settings.tables):
        raise ConfigError(f'{where}.tables: two tables give the same metric name; use a table of name = "table"')
    for name in names:
        check_name(name, f"{where}.tables.{name}")


class CountRows:
    """Counts the rows of each table in one source; a failing table does not stop the others."""

    __name__ = "objects"

    def __init__(self, source: str, tables: Mapping[str, str], clock: Callable[[], datetime] = utcnow):
        self.source = source
        self.tables = dict(tables)
        self.clock = clock

    def __call__(self, *, sources) -> Iterator[tuple[dict, dict]]:
        failed: list[str] = []

        def count_all(connection) -> dict[str, int]:
            counts: dict[str, int] = {}
            failed.clear()
            for name, identifier in self.tables.items():
                try:
                    schema, table_name = find_table(connection, identifier)
                    query = select(func.count()).select_from(table(table_name, schema=schema))
                    counts[f"objects.{name}.count"] = connection.execute(query).scalar_one()
                except SourceError as exc:
                    failed.append(f"table {identifier!r}: {sources.describe(self.source)}: {exc}")
                except SQLAlchemyError as exc:
                    if is_transient(exc):
                        raise  # the connection is gone: retry everything on a new one
                    connection.rollback()
                    failed.append(f"table {identifier!r}: {sources.error(self.source, exc)}")
            return counts

        counts = sources.read(self.source, count_all, "connecting")
        observed = self.clock()
        if counts:
            yield {"date": observed.date(), "hour": observed.hour}, counts
        if failed:
            raise SourceError(f"{len(failed)} of {len(self.tables)} tables not counted: " + "; ".join(failed))


def literal_names(settings: Settings) -> list[tuple[str, str, str]]:
    """(config key, kind, metric) of every name this reader writes whatever its source answers."""
    return [("readers.objects", "hourly", f"objects.{name}.count") for name in table_map(settings)]


def chains(settings: Settings, window: Window) -> dict[str, list]:
    return {"objects": [CountRows(settings.source, table_map(settings), clock=lambda: window.now)]}
