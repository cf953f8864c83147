"""A large synthetic metric store, generated inside PostgreSQL (generate_series), to check that the
dashboards' queries stay on the primary key at scale: for the EXPLAIN test (1 M values) and the
benchmark (100 M). Every metric the dashboards read gets a value every hour (or day) of the span,
and filler metrics stand for the rest of a real store.

The primary key and foreign key are dropped during the bulk insert and recreated after (one sorted
index build instead of 100 M index insertions); the resulting schema is the migrated one.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.engine import Engine

HOURLY_NAMES = (
    "events.signup.count",
    "events.activation.count",
    "events.trial.count",
    "objects.users.count",
    "ga.sessions",
    "ga.new_users",
    "http.requests.200",
    "http.requests.404",
    "http.requests.500",
    "http.errors.5xx",
    "http.latency.p50",
    "http.latency.p90",
    "http.latency.p99",
    "events.render.duration.p50",
    "events.render.duration.p90",
    "events.render.duration.p99",
    "events.render.duration.max",
    "spider.active",
    "spider.idle",
    "spider.total",
    "etl.run.seconds",
    "etl.run.values",
    "etl.run.errors",
    "etl.run.rejected",
    "etl.reader.objects.records",
    "etl.reader.sql.records",
    "etl.reader.sql.errors",
)
DAILY_NAMES = ("events.activation.users.7d", "events.activation.users.28d")
SPAN_HOURS = 3 * 365 * 24  # three years of hours
CHUNK_METRICS = 200


def fill(
    engine: Engine, values: int, *, end: datetime | None = None, say: Callable[[str], None] = lambda _: None
) -> dict[str, int]:
    """Write about `values` hourly values (and one daily value per metric and day) into an empty,
    migrated PostgreSQL store, ending at the hour before `end`; returns what was written."""
    end = (end or datetime.now(UTC)).replace(minute=0, second=0, microsecond=0) - timedelta(hours=1)
    metrics = max(len(HOURLY_NAMES) + len(DAILY_NAMES), math.ceil(values / SPAN_HOURS))
    hours = math.ceil(values / metrics)
    start = end - timedelta(hours=hours - 1)
    fillers = metrics - len(HOURLY_NAMES) - len(DAILY_NAMES)
    names = [*HOURLY_NAMES, *DAILY_NAMES, *(f"synthetic.m{i:06d}.count" for i in range(fillers))]
    with engine.begin() as connection:
        connection.execute(text("INSERT INTO metric (name) SELECT unnest(CAST(:names AS text[]))"), {"names": names})
        ids = connection.execute(text("SELECT min(id), max(id) FROM metric")).one()
        for table in ("hourly_value", "daily_value"):
            connection.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT pk_{table}"))
            connection.execute(text(f"ALTER TABLE {table} DROP CONSTRAINT fk_{table}_metric_id_metric"))
    params = {"start": start, "end": end, "start_day": start.date(), "end_day": end.date()}
    for low in range(ids[0], ids[1] + 1, CHUNK_METRICS):
        with engine.begin() as connection:
            connection.execute(text("SET LOCAL synchronous_commit = off"))
            connection.execute(
                text(
                    "INSERT INTO hourly_value (metric_id, date, hour, value, updated_at) "
                    "SELECT m.id, CAST(t AT TIME ZONE 'UTC' AS date), "
                    "CAST(extract(hour FROM t AT TIME ZONE 'UTC') AS int), "
                    "1 + (m.id * 31 + CAST(extract(epoch FROM t) AS bigint) / 3600) % 97, now() "
                    "FROM metric m CROSS JOIN generate_series(CAST(:start AS timestamptz), CAST(:end AS timestamptz), "
                    "interval '1 hour') AS t WHERE m.id BETWEEN :low AND :high"
                ),
                {**params, "low": low, "high": low + CHUNK_METRICS - 1},
            )
            connection.execute(
                text(
                    "INSERT INTO daily_value (metric_id, date, value, updated_at) "
                    "SELECT m.id, CAST(d AS date), "
                    "1 + (m.id * 17 + CAST(CAST(d AS date) - CAST(:start_day AS date) AS int)) % 89, now() "
                    "FROM metric m CROSS JOIN generate_series(CAST(:start_day AS date), CAST(:end_day AS date), "
                    "interval '1 day') AS d WHERE m.id BETWEEN :low AND :high"
                ),
                {**params, "low": low, "high": low + CHUNK_METRICS - 1},
            )
        say(f"  metrics {low}..{min(low + CHUNK_METRICS - 1, ids[1])} of {ids[1]} written")
    say("  building the primary keys and checking the foreign keys")
    with engine.begin() as connection:
        connection.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
        for table, key in (("hourly_value", "metric_id, date, hour"), ("daily_value", "metric_id, date")):
            connection.execute(text(f"ALTER TABLE {table} ADD CONSTRAINT pk_{table} PRIMARY KEY ({key})"))
            connection.execute(
                text(
                    f"ALTER TABLE {table} ADD CONSTRAINT fk_{table}_metric_id_metric FOREIGN KEY (metric_id) "
                    "REFERENCES metric (id) ON DELETE CASCADE"
                )
            )
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("ANALYZE metric"))
        connection.execute(text("ANALYZE hourly_value"))
        connection.execute(text("ANALYZE daily_value"))
        hourly = connection.execute(text("SELECT count(*) FROM hourly_value")).scalar_one()
        daily = connection.execute(text("SELECT count(*) FROM daily_value")).scalar_one()
    return {"metrics": metrics, "hours": hours, "hourly_values": hourly, "daily_values": daily}
