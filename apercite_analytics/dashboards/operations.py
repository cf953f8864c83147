"""The operations dashboards: Workers (spiders), ETL health (the job's own metrics and run log) and
Explore (any metric). Panel SQL carries no comments (recent Grafana versions strip them)."""

from __future__ import annotations

from typing import Any

from apercite_analytics.dashboards import panels
from apercite_analytics.dashboards.panels import Dashboard, Panel, hourly_sql, in_list, stat, table, timeseries
from apercite_analytics.dashboards.units import Units

RANGE = panels.series_range()

# -- Workers --------------------------------------------------------------------------------------

SPIDERS = ("spider.idle", "spider.active", "spider.total")


def per_reader(what: str, units: Units, **options: Any) -> Panel:
    """The job's `etl.reader.<reader>.<what>` per hour, one series per reader."""
    return timeseries(
        f"{what.capitalize()} per reader",
        hourly_sql("split_part(metric, '.', 3) AS metric, value", f"metric LIKE 'etl.reader.%.{what}'", order="1, 2"),
        unit=units.of(f"etl.reader.*.{what}"),
        description=f"etl.reader.<reader>.{what} per hour.",
        **options,
    )


def workers(units: Units) -> Dashboard:
    by_state = hourly_sql(
        f"substr(metric, {len('spider.') + 1}) AS metric, value", f"metric IN ({in_list(*SPIDERS)})", order="1, 2"
    )
    return Dashboard(
        uid="apercite-workers",
        title="Workers",
        description="Spider workers: idle, active and total, hour by hour.",
        panels=[
            stat(
                "Workers now",
                by_state,
                width=12,
                unit=units.of(*SPIDERS),
                description="spider.idle / active / total, the latest hour.",
            ),
            stat(
                "Utilisation",
                panels.ratio_sql("spider.active", "spider.total", "utilisation"),
                width=12,
                unit=units.ratio("spider.active", "spider.total"),
                sparkline=True,
                description="Active workers over all workers, the latest hour.",
            ),
            timeseries(
                "Workers by state",
                by_state,
                width=24,
                unit=units.of(*SPIDERS),
                description="spider.idle / active / total per hour.",
            ),
        ],
    )


# -- ETL health -----------------------------------------------------------------------------------


def etl_health(units: Units) -> Dashboard:
    return Dashboard(
        uid="apercite-etl",
        title="ETL health",
        description="The hourly job itself: last success per reader, rows written, failures "
        "(run_log, run_reader, etl.* metrics).",
        time_from="now-2d",
        refresh="1m",
        panels=[
            stat(  # epoch milliseconds: a stat shows numbers, and dateTimeFromNow reads milliseconds
                "Last successful run",
                """SELECT extract(epoch FROM max(finished_at)) * 1000 AS "last successful run"
FROM run_log
WHERE status = 'ok'""",
                table=True,
                unit="dateTimeFromNow",
                description="When the last `read --write` that ended ok finished.",
            ),
            stat(
                "Failed runs",
                """SELECT count(*) AS "failed runs"
FROM run_log
WHERE status = 'failed' AND $__timeFilter(started_at)""",
                table=True,
                description="Runs that ended failed, started in the time range.",
            ),
            stat(
                "Rows written",
                'SELECT sum(hourly_rows + daily_rows) AS "rows written"\nFROM run_log\nWHERE $__timeFilter(started_at)',
                table=True,
                description="Hourly and daily values written by the runs started in the time range.",
            ),
            stat(
                "Rejected values",
                'SELECT sum(rejected) AS "rejected"\nFROM run_log\nWHERE $__timeFilter(started_at)',
                table=True,
                description="Values normalize rejected in the runs started in the time range.",
            ),
            table(
                "Readers",
                """SELECT reader,
  max(finished_at) FILTER (WHERE status = 'ok') AS "last success",
  (array_agg(status ORDER BY run_id DESC))[1] AS "last status",
  count(*) FILTER (WHERE status = 'failed' AND $__timeFilter(finished_at)) AS "failures in range",
  sum(records) FILTER (WHERE $__timeFilter(finished_at)) AS "records in range"
FROM run_reader
GROUP BY reader
ORDER BY reader""",
                description="Per reader: its last successful run, how its last run ended, failures and records.",
            ),
            timeseries(
                "Rows written per run",
                """SELECT started_at AS "time", hourly_rows AS "hourly rows", daily_rows AS "daily rows"
FROM run_log
WHERE $__timeFilter(started_at) AND status <> 'running'
ORDER BY 1""",
                bars=True,
                description="hourly_value and daily_value rows each run wrote.",
            ),
            timeseries(
                "Runs per hour",
                """SELECT $__timeGroupAlias(started_at, 1h),
  count(*) FILTER (WHERE status = 'ok') AS "ok",
  count(*) FILTER (WHERE status = 'failed') AS "failed"
FROM run_log
WHERE $__timeFilter(started_at)
GROUP BY 1
ORDER BY 1""",
                bars=True,
                stack=True,
                description="Runs by outcome, per hour they started in.",
            ),
            timeseries(
                "Run duration",
                hourly_sql('value AS "seconds"', "metric = 'etl.run.seconds'"),
                unit=units.of("etl.run.seconds"),
                description="etl.run.seconds per hour.",
            ),
            timeseries(
                "Values, errors and rejections",
                hourly_sql(
                    f"substr(metric, {len('etl.run.') + 1}) AS metric, value",
                    "metric IN ('etl.run.values', 'etl.run.errors', 'etl.run.rejected')",
                    order="1, 2",
                ),
                unit=units.of("etl.run.values", "etl.run.errors", "etl.run.rejected"),
                description="etl.run.values / errors / rejected per hour.",
            ),
            per_reader("records", units),
            per_reader("errors", units, bars=True),
            table(
                "Recent failed runs",
                """SELECT started_at AS "started", finished_at AS "finished", readers, rejected, errors
FROM run_log
WHERE status = 'failed' AND $__timeFilter(started_at)
ORDER BY started_at DESC
LIMIT 50""",
                description="The last 50 failed runs in the time range, with their errors.",
            ),
        ],
    )


# -- Explore --------------------------------------------------------------------------------------


def explore() -> Dashboard:
    return Dashboard(
        uid="apercite-explore",
        title="Explore metrics",
        description="Any metric of the store, hourly and daily: pick them in $metric.",
        variables=[panels.query_variable("metric", "Metric", "SELECT name FROM metric ORDER BY name", multi=True)],
        panels=[
            timeseries(
                "Hourly values",
                hourly_sql("metric, value", "metric IN ($metric)", order="1, 2"),
                width=24,
                description="hourly_value of the selected metrics.",
            ),
            timeseries(
                "Daily values",
                f"""SELECT time, metric, value
FROM daily_series
WHERE metric IN ($metric)
  AND {RANGE}
ORDER BY 1, 2""",
                bars=True,
                width=24,
                description="daily_value of the selected metrics.",
            ),
            table(
                "Latest hourly values",
                f"""SELECT metric, max(time) AS "last hour",
  (array_agg(value ORDER BY time DESC))[1] AS "last value",
  min(value) AS "min", max(value) AS "max", count(*) AS "hours"
FROM hourly_series
WHERE metric IN ($metric)
  AND {RANGE}
GROUP BY metric
ORDER BY metric""",
                description="Per selected metric, over the time range.",
            ),
            table(
                "Metric details",
                """SELECT name, description, unit, created_at AS "created"
FROM metric
WHERE name IN ($metric)
ORDER BY name""",
                height=6,
                description="The metric table's rows for the selected metrics.",
            ),
        ],
    )
