"""The `events` reader on ClickHouse (25.3 LTS or later; tested against chdb 4.4, ClickHouse 26.9).

    [sources.events_ch]
    url = "clickhouse://reader:${CH_PASSWORD}@clickhouse:8123/analytics"
    [readers.events]
    source = "events_ch"
    table = "events"

The same two statements as `_events_sql.py`, same columns, same numbers, in ClickHouse's own
functions, exact ones only: `uniqExact` (not the approximate `uniq`) and
`quantilesExactInclusive` (numpy's "linear" method, like `percentile_cont`; not `quantile`, which
samples). Times are bound as naive UTC text and read with `toDateTime64(…, 6, 'UTC')`, and hours
and days are taken in 'UTC' explicitly: the server's and the column's time zones do not matter.

`daily()`: per (name, user), the set of its active UTC days in the range read; then, for each day
D asked for (`ARRAY JOIN range(…)`), `last` = its latest active day up to D. A user with an active
day in [D − 27, D] counts in `users_28d`, in `users_7d` when last ≥ D − 6, and in `users` when
last = D. The work is (names × users) × days asked for — one or two days for an hourly run — and
does not grow with the number of events per user (3× faster than counting distinct (name, user,
day) rows per day on a 30-day backfill of 10 M events).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.elements import TextClause

from apercite_analytics.errors import SourceError
from apercite_analytics.readers._events_columns import columns_table, describe
from apercite_analytics.readers._events_sql import PERCENTILES, EventsSQL
from apercite_analytics.readers.common.tables import Table

DIALECT = "clickhousedb"  # clickhouse-connect's SQLAlchemy dialect


def reflect(connection: Connection, table: str, roles: Mapping[str, str | None], where: str) -> Table:
    """The events table of a ClickHouse source (`table` or `database.table`; names are case-sensitive)."""
    preparer = connection.dialect.identifier_preparer
    database, _, name = table.rpartition(".")
    relation = (preparer.quote(database) + "." if database else "") + preparer.quote(name)
    try:
        found = describe(connection, f"TABLE {relation}", f"table {table!r}", where)
    except DBAPIError as exc:
        if "UNKNOWN_TABLE" in str(exc.orig) or "UNKNOWN_DATABASE" in str(exc.orig):
            raise SourceError(f"{where}.table: table {table!r} not found in the source") from None
        raise
    shown = f"table {table!r}"
    return columns_table(DIALECT, relation, shown, found, roles, where, quote=preparer.quote, case_sensitive=True)


class ClickHouseEventsSQL(EventsSQL):
    """`hourly()` and `daily()` with the columns and order of `EventsSQL`'s, in ClickHouse SQL."""

    def __init__(self, table: Table, *, filtered: bool):
        # the base keeps the columns and the allow-list; its per-dialect expressions are not used here
        super().__init__(replace(table, dialect="postgresql"), filtered=filtered)
        self.table, self.dialect = table, DIALECT

    def _where(self, *extra: str) -> str:
        t = self.c["time"]
        conditions = [f"{t} >= toDateTime64(:since, 6, 'UTC')", f"{t} < toDateTime64(:until, 6, 'UTC')", *extra]
        if self.filtered:
            conditions.append(f"{self.c['name']} IN :names")
        return " AND ".join(conditions)

    def hourly(self) -> TextClause:
        c = self.c
        hour = f"toString(toStartOfHour({c['time']}, 'UTC'))"  # 'YYYY-MM-DD HH:00:00', UTC
        measures = ""
        if self.duration is not None:
            fractions = ", ".join(str(p) for p in PERCENTILES.values())
            measures = (
                f", quantilesExactInclusive({fractions})(toFloat64({c['duration']})) AS pct, "
                f"max(toFloat64({c['duration']})) AS top"
            )
        inner = (
            f"SELECT {hour} AS hr, {c['name']} AS ev_name, count() AS events, uniqExact({c['user']}) AS users"
            f"{measures} FROM {self.table.name} WHERE {self._where()} GROUP BY hr, ev_name"
        )
        if self.duration is None:
            return self._text(f"{inner} ORDER BY hr, ev_name")
        # every duration NULL in an hour: ClickHouse answers an empty array and NULL for the max
        picks = ", ".join(f"if(top IS NULL, NULL, pct[{i}]) AS {k}" for i, k in enumerate(PERCENTILES, 1))
        return self._text(f"SELECT hr, ev_name, events, users, {picks}, top FROM ({inner}) ORDER BY hr, ev_name")

    def daily(self, one_day: bool = False) -> TextClause:
        """One statement for one day or many: each user's active days as an array (see the module doc)."""
        c = self.c
        per_user = (
            f"SELECT {c['name']} AS ev_name, groupUniqArray(toUInt32(toDate({c['time']}, 'UTC'))) AS days "
            f"FROM {self.table.name} WHERE {self._where(c['user'] + ' IS NOT NULL')} GROUP BY ev_name, {c['user']}"
        )
        return self._text(
            "SELECT dn, ev_name, countIf(last = dn) AS users, countIf(last + 6 >= dn) AS users_7d, "
            "count() AS users_28d FROM ("
            "SELECT ev_name, dn, arrayMax(arrayFilter(d -> d <= dn, days)) AS last "
            f"FROM ({per_user}) ARRAY JOIN range(toUInt32(:first_day), toUInt32(:last_day) + 1) AS dn "
            "WHERE arrayExists(d -> d <= dn AND d + 27 >= dn, days)) "
            "GROUP BY dn, ev_name ORDER BY dn, ev_name"
        )
