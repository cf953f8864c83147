"""`spiders`: the workers' status table, reduced in the source database to idle/active/total gauges.

    [readers.spiders]
    source = "app"
    table = "spiders"
    columns = { id = "id", attributes = "attributes", updated_at = "updated_at" }
    stage = "stage"          # the key in the JSON attributes
    fresh = "15m"

A worker (rows grouped by `id`) counts if one of its rows was updated within `fresh` of the run:
it is active when such a row's JSON attributes hold a non-empty `stage` (not missing, not null, not
""), idle otherwise. Workers with no fresh row are counted apart as `spider.stale` (a worker that
died without saying so): `spider.total = spider.idle + spider.active`, stale ones excluded. The
values are gauges, stored in the UTC hour the run observed them in (later runs rewrite it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from sqlalchemy import text

from apercite_analytics.config.settings import SourceSettings, check_source
from apercite_analytics.errors import ConfigError
from apercite_analytics.readers.common.tables import check_column, check_table, reflect_table
from apercite_analytics.window import Window, parse_duration

BACKFILL = False
READER = "spiders"
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

# The stage as text (NULL when missing or JSON null), per dialect; :path is '$.<key>', :key the key.
_STAGE = {
    "postgresql": "(CAST({a} AS jsonb) ->> :key)",
    "mysql": "JSON_VALUE({a}, :path)",
    "mariadb": "JSON_VALUE({a}, :path)",
    "sqlite": "json_extract({a}, :path)",
}


@dataclass(frozen=True)
class Columns:
    """`[readers.spiders.columns]`: the worker id, its JSON attributes and when its row was last updated."""

    id: str = "id"
    attributes: str = "attributes"
    updated_at: str = "updated_at"

    def roles(self) -> dict[str, str | None]:
        return {"id": self.id, "attributes": self.attributes, "updated_at": self.updated_at}


@dataclass(frozen=True)
class Settings:
    """`[readers.spiders]`."""

    source: str
    table: str = "spiders"
    columns: Columns = field(default_factory=Columns)
    stage: str = "stage"
    fresh: str = "15m"


def check(settings: Settings, sources: Mapping[str, SourceSettings], where: str) -> None:
    check_source(settings.source, sources, f"{where}.source")
    check_table(settings.table, f"{where}.table")
    for role, column in settings.columns.roles().items():
        check_column(column or "", f"{where}.columns.{role}")
    if len({c.lower() for c in settings.columns.roles().values() if c}) != 3:
        raise ConfigError(f"{where}.columns: id, attributes and updated_at must be different columns")
    if not _KEY.match(settings.stage):
        raise ConfigError(f"{where}.stage: {settings.stage!r} is not a JSON key (letters, digits and _)")
    parse_duration(settings.fresh, f"{where}.fresh", units="mhd")


class CountSpiders:
    """One record: the fresh workers' idle/active/total and the stale ones, counted by the database."""

    __name__ = READER

    def __init__(self, settings: Settings, window: Window):
        self.settings, self.window = settings, window

    def __call__(self, *, sources) -> Iterator[tuple[dict, dict]]:
        s, now = self.settings, self.window.now
        fresh_since = now - parse_duration(s.fresh, "fresh", units="mhd")

        def count(connection) -> tuple[int, int, int]:
            table = reflect_table(sources, s.source, connection, s.table, s.columns.roles(), f"readers.{READER}")
            c = table.columns
            stage = _STAGE[table.dialect].format(a=c["attributes"])
            fresh = f"{c['updated_at']} >= :fresh_since"
            statement = text(
                "SELECT COUNT(CASE WHEN fresh = 1 THEN 1 END) AS total, "
                "COUNT(CASE WHEN fresh = 1 AND busy = 1 THEN 1 END) AS active, "
                "COUNT(CASE WHEN fresh = 0 THEN 1 END) AS stale FROM ("
                f"SELECT {c['id']} AS worker, MAX(CASE WHEN {fresh} THEN 1 ELSE 0 END) AS fresh, "
                f"MAX(CASE WHEN {fresh} AND {stage} IS NOT NULL AND {stage} <> '' THEN 1 ELSE 0 END) AS busy "
                f"FROM {table.name} GROUP BY {c['id']}) AS workers"
            )
            params = {"fresh_since": table.bind_time(fresh_since, "updated_at")}
            params.update({"key": s.stage} if table.dialect == "postgresql" else {"path": f"$.{s.stage}"})
            return tuple(connection.execute(statement, params).one())

        total, active, stale = sources.read(s.source, count, f"counting the workers of {s.table!r}")
        metrics = {
            "spider.idle": total - active,
            "spider.active": active,
            "spider.total": total,
            "spider.stale": stale,
        }
        yield {"date": now.date(), "hour": now.hour}, metrics


def chains(settings: Settings, window: Window) -> dict[str, list]:
    return {READER: [CountSpiders(settings, window)]}
