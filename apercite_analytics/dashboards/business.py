"""The product dashboards: Business (acquisition, activation, users, sessions) and Quality of
service (latency, errors, event durations). Panel SQL carries no comments (recent Grafana
versions strip them before interpolating)."""

from __future__ import annotations

from apercite_analytics.dashboards.panels import (
    Dashboard,
    hourly_sql,
    in_list,
    per_interval_sql,
    query_variable,
    ratio_sql,
    series_range,
    stat,
    sum_of,
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
                ratio_sql(ACT, ACQ, "activation rate", per_time=False),
                table=True,
                unit="percentunit",
                decimals=1,
                description="$activation events per $acquisition event over the whole time range.",
            ),
            stat(
                "Users",
                hourly_sql('value AS "users"', "metric = 'objects.users.count'"),
                sparkline=True,
                description="Rows of the users table (objects.users.count), the latest hour.",
            ),
            stat(
                "WAU / MAU",
                ratio_sql(WAU, MAU, "stickiness", daily=True),
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
                per_interval_sql(
                    f'{sum_of(ACQ)} AS "$acquisition",\n  {sum_of(ACT)} AS "$activation"',
                    (ACQ, ACT),
                    "1d",
                ),
                bars=True,
                description="Count of $acquisition and $activation events per UTC day.",
            ),
            timeseries(
                "Activation rate per day",
                per_interval_sql(
                    f'{sum_of(ACT)}\n  / NULLIF({sum_of(ACQ)}, 0) AS "activation rate"',
                    (ACQ, ACT),
                    "1d",
                ),
                unit="percentunit",
                description="$activation events per $acquisition event, per UTC day.",
            ),
            timeseries(
                "Sessions and new users",
                per_interval_sql(
                    f'{sum_of("ga.sessions")} AS "sessions",\n  {sum_of("ga.new_users")} AS "new users"',
                    ("ga.sessions", "ga.new_users"),
                ),
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
                hourly_sql('value AS "users"', "metric = 'objects.users.count'"),
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


DURATIONS = tuple(f"events.$timed_event.duration.{p}" for p in ("p50", "p90", "p99", "max"))


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
                hourly_sql('value AS "p99"', "metric = 'http.latency.p99'"),
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
                hourly_sql('value AS "p50"', "metric = 'http.latency.p50'"),
                unit="s",
                sparkline=True,
                description="http.latency.p50, the latest hour.",
            ),
            timeseries(
                "Latency percentiles",
                hourly_sql(
                    "replace(metric, 'http.latency.', '') AS metric, value",
                    f"metric IN ({in_list(*LATENCY)})",
                    order="1, 2",
                ),
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
                hourly_sql(
                    "substr(metric, length('events.$timed_event.duration.') + 1) AS metric, value",
                    f"metric IN ({in_list(*DURATIONS)})",
                    order="1, 2",
                ),
                unit="s",
                description="events.$timed_event.duration.p50 / p90 / p99 / max per hour.",
            ),
        ],
    )
