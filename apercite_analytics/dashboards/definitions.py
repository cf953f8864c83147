"""The dashboards: what each panel shows, in SQL on the metric store.

Metric names are the project's (see the README): `events.<name>.count|users.7d|users.28d|duration.pNN`,
`objects.<table>.count`, `ga.*`, `http.*`, `spider.*`, `etl.*`, plus the `run_log` / `run_reader`
tables. Panel SQL carries no comments (recent Grafana versions strip them before interpolating).
"""

from __future__ import annotations

from apercite_analytics.dashboards.panels import (
    Dashboard,
    in_list,
    query_variable,
    series_range,
    stat,
    table,
    timeseries,
)

RANGE = series_range()

# -- Business -------------------------------------------------------------------------------------

EVENT_NAMES = (
    "SELECT substring(name FROM '^events\\.([a-z0-9_]+)\\.count$') AS event FROM metric "
    "WHERE name ~ '^events\\.[a-z0-9_]+\\.count$' ORDER BY 1"
)
ACQ = "events.$acquisition.count"
ACT = "events.$activation.count"
WAU = "events.$active.users.7d"
MAU = "events.$active.users.28d"


def business() -> Dashboard:
    return Dashboard(
        uid="apercite-business",
        title="Business",
        description="Acquisition, activation, users, sessions and engagement at a glance.",
        time_from="now-30d",
        variables=[
            query_variable("acquisition", "Acquisition event", EVENT_NAMES, default="signup"),
            query_variable("activation", "Activation event", EVENT_NAMES, default="activation"),
            query_variable("active", "Active-user event (WAU/MAU)", EVENT_NAMES, default="activation"),
        ],
        panels=[
            stat(
                "Activation rate",
                f"""SELECT sum(value) FILTER (WHERE metric = '{ACT}')
  / NULLIF(sum(value) FILTER (WHERE metric = '{ACQ}'), 0) AS "activation rate"
FROM hourly_series
WHERE metric IN ('{ACQ}', '{ACT}')
  AND {RANGE}""",
                table=True,
                unit="percentunit",
                decimals=1,
                description="$activation events per $acquisition event over the whole time range.",
            ),
            stat(
                "Users",
                f"""SELECT time, value AS "users"
FROM hourly_series
WHERE metric = 'objects.users.count'
  AND {RANGE}
ORDER BY 1""",
                sparkline=True,
                description="Rows of the users table (objects.users.count), the latest hour.",
            ),
            stat(
                "WAU / MAU",
                f"""SELECT time,
  sum(value) FILTER (WHERE metric = '{WAU}')
  / NULLIF(sum(value) FILTER (WHERE metric = '{MAU}'), 0) AS "stickiness"
FROM daily_series
WHERE metric IN ('{WAU}', '{MAU}')
  AND {RANGE}
GROUP BY time
ORDER BY 1""",
                unit="percentunit",
                decimals=1,
                sparkline=True,
                description="Stickiness: distinct $active users over 7 days divided by over 28 days, the latest day.",
            ),
            stat(
                "Sessions",
                f"""SELECT sum(value) FILTER (WHERE metric = 'ga.sessions') AS "sessions",
  sum(value) FILTER (WHERE metric = 'ga.new_users') AS "new users"
FROM hourly_series
WHERE metric IN ('ga.sessions', 'ga.new_users')
  AND {RANGE}""",
                table=True,
                description="Google Analytics sessions and new users over the time range.",
            ),
            timeseries(
                "Signups and activations per day",
                f"""SELECT $__timeGroupAlias(time, 1d),
  sum(value) FILTER (WHERE metric = '{ACQ}') AS "$acquisition",
  sum(value) FILTER (WHERE metric = '{ACT}') AS "$activation"
FROM hourly_series
WHERE metric IN ('{ACQ}', '{ACT}')
  AND {RANGE}
GROUP BY 1
ORDER BY 1""",
                bars=True,
                description="Count of $acquisition and $activation events per UTC day.",
            ),
            timeseries(
                "Activation rate per day",
                f"""SELECT $__timeGroupAlias(time, 1d),
  sum(value) FILTER (WHERE metric = '{ACT}')
  / NULLIF(sum(value) FILTER (WHERE metric = '{ACQ}'), 0) AS "activation rate"
FROM hourly_series
WHERE metric IN ('{ACQ}', '{ACT}')
  AND {RANGE}
GROUP BY 1
ORDER BY 1""",
                unit="percentunit",
                description="$activation events per $acquisition event, per UTC day.",
            ),
            timeseries(
                "Sessions and new users",
                f"""SELECT $__timeGroupAlias(time, $__interval),
  sum(value) FILTER (WHERE metric = 'ga.sessions') AS "sessions",
  sum(value) FILTER (WHERE metric = 'ga.new_users') AS "new users"
FROM hourly_series
WHERE metric IN ('ga.sessions', 'ga.new_users')
  AND {RANGE}
GROUP BY 1
ORDER BY 1""",
                interval="1h",
                description="Google Analytics ga.sessions and ga.new_users, summed per interval (at least an hour).",
            ),
            timeseries(
                "Weekly and monthly active users",
                f"""SELECT time,
  sum(value) FILTER (WHERE metric = '{WAU}') AS "WAU",
  sum(value) FILTER (WHERE metric = '{MAU}') AS "MAU"
FROM daily_series
WHERE metric IN ('{WAU}', '{MAU}')
  AND {RANGE}
GROUP BY time
ORDER BY 1""",
                description="Distinct users with a $active event in the 7 and 28 days up to each UTC day.",
            ),
            timeseries(
                "Users over time",
                f"""SELECT time, value AS "users"
FROM hourly_series
WHERE metric = 'objects.users.count'
  AND {RANGE}
ORDER BY 1""",
                width=24,
                description="Rows of the users table, hour by hour.",
            ),
        ],
    )


# -- Quality of service ---------------------------------------------------------------------------

LATENCY = ("http.latency.p50", "http.latency.p90", "http.latency.p99")
DURATION_EVENTS = (
    "SELECT substring(name FROM '^events\\.([a-z0-9_]+)\\.duration\\.p50$') AS event FROM metric "
    "WHERE name ~ '^events\\.[a-z0-9_]+\\.duration\\.p50$' ORDER BY 1"
)
ERROR_RATE = """sum(value) FILTER (WHERE metric = 'http.errors.5xx')
  / NULLIF(sum(value) FILTER (WHERE metric LIKE 'http.requests.%'), 0)"""


def quality_of_service() -> Dashboard:
    prefix = len("http.requests.") + 1
    return Dashboard(
        uid="apercite-qos",
        title="Quality of Service",
        description="Latency percentiles and error rates (Prometheus-sourced), and event durations.",
        variables=[query_variable("timed_event", "Timed event", DURATION_EVENTS)],
        panels=[
            stat(
                "5xx error rate",
                f"""SELECT {ERROR_RATE} AS "5xx error rate"
FROM hourly_series
WHERE (metric = 'http.errors.5xx' OR metric LIKE 'http.requests.%')
  AND {RANGE}""",
                table=True,
                unit="percentunit",
                decimals=2,
                description="http.errors.5xx over the sum of every http.requests.<status>, over the range.",
            ),
            stat(
                "Latency p99",
                f"""SELECT time, value AS "p99"
FROM hourly_series
WHERE metric = 'http.latency.p99'
  AND {RANGE}
ORDER BY 1""",
                unit="s",
                sparkline=True,
                description="http.latency.p99, the latest hour.",
            ),
            stat(
                "Requests",
                f"""SELECT sum(value) AS "requests"
FROM hourly_series
WHERE metric LIKE 'http.requests.%'
  AND {RANGE}""",
                table=True,
                description="Sum of every http.requests.<status> over the range.",
            ),
            stat(
                "Latency p50",
                f"""SELECT time, value AS "p50"
FROM hourly_series
WHERE metric = 'http.latency.p50'
  AND {RANGE}
ORDER BY 1""",
                unit="s",
                sparkline=True,
                description="http.latency.p50, the latest hour.",
            ),
            timeseries(
                "Latency percentiles",
                f"""SELECT time, replace(metric, 'http.latency.', '') AS metric, value
FROM hourly_series
WHERE metric IN ({in_list(*LATENCY)})
  AND {RANGE}
ORDER BY 1, 2""",
                unit="s",
                description="http.latency.p50 / p90 / p99 per hour.",
            ),
            timeseries(
                "5xx error rate over time",
                f"""SELECT $__timeGroupAlias(time, $__interval),
  {ERROR_RATE} AS "5xx error rate"
FROM hourly_series
WHERE (metric = 'http.errors.5xx' OR metric LIKE 'http.requests.%')
  AND {RANGE}
GROUP BY 1
ORDER BY 1""",
                unit="percentunit",
                interval="1h",
                description="http.errors.5xx over all http.requests.<status>, per interval (at least an hour).",
            ),
            timeseries(
                "Requests by status",
                f"""SELECT $__timeGroupAlias(time, $__interval), substr(metric, {prefix}) AS metric,
  sum(value) AS requests
FROM hourly_series
WHERE metric LIKE 'http.requests.%'
  AND {RANGE}
GROUP BY 1, 2
ORDER BY 1, 2""",
                bars=True,
                stack=True,
                interval="1h",
                description="http.requests.<status>, summed per interval (at least an hour).",
            ),
            timeseries(
                "Event duration percentiles",
                f"""SELECT time, substr(metric, length('events.$timed_event.duration.') + 1) AS metric, value
FROM hourly_series
WHERE metric IN ({in_list(*(f"events.$timed_event.duration.{p}" for p in ("p50", "p90", "p99", "max")))})
  AND {RANGE}
ORDER BY 1, 2""",
                unit="s",
                description="events.$timed_event.duration.p50 / p90 / p99 / max per hour.",
            ),
        ],
    )


# -- Workers --------------------------------------------------------------------------------------

SPIDERS = ("spider.idle", "spider.active", "spider.total")


def workers() -> Dashboard:
    by_state = f"""SELECT time, substr(metric, {len("spider.") + 1}) AS metric, value
FROM hourly_series
WHERE metric IN ({in_list(*SPIDERS)})
  AND {RANGE}
ORDER BY 1, 2"""
    return Dashboard(
        uid="apercite-workers",
        title="Workers",
        description="Spider workers: idle, active and total, hour by hour.",
        panels=[
            stat("Workers now", by_state, width=12, description="spider.idle / active / total, the latest hour."),
            stat(
                "Utilisation",
                f"""SELECT time,
  sum(value) FILTER (WHERE metric = 'spider.active')
  / NULLIF(sum(value) FILTER (WHERE metric = 'spider.total'), 0) AS "utilisation"
FROM hourly_series
WHERE metric IN ('spider.active', 'spider.total')
  AND {RANGE}
GROUP BY time
ORDER BY 1""",
                width=12,
                unit="percentunit",
                sparkline=True,
                description="Active workers over all workers, the latest hour.",
            ),
            timeseries("Workers by state", by_state, width=24, description="spider.idle / active / total per hour."),
        ],
    )


# -- ETL health -----------------------------------------------------------------------------------


def etl_health() -> Dashboard:
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
                f"""SELECT time, value AS "seconds"
FROM hourly_series
WHERE metric = 'etl.run.seconds'
  AND {RANGE}
ORDER BY 1""",
                unit="s",
                description="etl.run.seconds per hour.",
            ),
            timeseries(
                "Values, errors and rejections",
                f"""SELECT time, substr(metric, {len("etl.run.") + 1}) AS metric, value
FROM hourly_series
WHERE metric IN ('etl.run.values', 'etl.run.errors', 'etl.run.rejected')
  AND {RANGE}
ORDER BY 1, 2""",
                description="etl.run.values / errors / rejected per hour.",
            ),
            timeseries(
                "Records per reader",
                f"""SELECT time, split_part(metric, '.', 3) AS metric, value
FROM hourly_series
WHERE metric LIKE 'etl.reader.%.records'
  AND {RANGE}
ORDER BY 1, 2""",
                description="etl.reader.<reader>.records per hour.",
            ),
            timeseries(
                "Errors per reader",
                f"""SELECT time, split_part(metric, '.', 3) AS metric, value
FROM hourly_series
WHERE metric LIKE 'etl.reader.%.errors'
  AND {RANGE}
ORDER BY 1, 2""",
                bars=True,
                description="etl.reader.<reader>.errors per hour.",
            ),
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
        variables=[query_variable("metric", "Metric", "SELECT name FROM metric ORDER BY name", multi=True)],
        panels=[
            timeseries(
                "Hourly values",
                f"""SELECT time, metric, value
FROM hourly_series
WHERE metric IN ($metric)
  AND {RANGE}
ORDER BY 1, 2""",
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


def all_dashboards() -> list[Dashboard]:
    return [business(), quality_of_service(), workers(), etl_health(), explore()]
