"""The product dashboards: Business (generated from the dictionary's KPIs) and Quality of service
(latency, errors, event durations; units from the dictionary). Panel SQL carries no comments
(recent Grafana versions strip them before interpolating)."""

from __future__ import annotations

from apercite_analytics.dashboards.kpi_panels import kpi_panel
from apercite_analytics.dashboards.panels import (
    Dashboard,
    Panel,
    hourly_sql,
    in_list,
    query_variable,
    series_range,
    stat,
    timeseries,
)
from apercite_analytics.dashboards.units import Units
from apercite_analytics.dictionary.kpis import Kpi

RANGE = series_range()

# -- Business (and any other dashboard the KPIs name) ------------------------------------------------

TITLES = {"business": ("Business", "The KPIs of the metrics dictionary (KPI files in its folder), by section.")}


def latest_stat(title: str, metric: str, alias: str, units: Units) -> Panel:
    """One metric's latest hour as a stat with its sparkline, in the metric's own unit."""
    return stat(
        title,
        hourly_sql(f'value AS "{alias}"', f"metric = '{metric}'"),
        unit=units.of(metric),
        sparkline=True,
        description=f"{metric}, the latest hour.",
    )


def kpi_dashboards(kpis: list[Kpi]) -> list[Dashboard]:
    """One dashboard per `dashboard:` the KPIs name (always `business`), panels grouped by section."""
    names = ["business", *dict.fromkeys(k.dashboard for k in kpis if k.dashboard != "business")]
    dashboards = []
    for name in names:
        mine = [k for k in kpis if k.dashboard == name]
        sections = list(dict.fromkeys(k.section for k in mine))
        title, description = TITLES.get(name, (name.replace("_", " ").capitalize(), f"The KPIs of dashboard {name}."))
        dashboards.append(
            Dashboard(
                uid=f"apercite-{name.replace('_', '-')}",
                title=title,
                description=description,
                time_from="now-30d",
                panels=[  # per section: its stats side by side, then its charts
                    kpi_panel(k)
                    for section in sections
                    for k in sorted((k for k in mine if k.section == section), key=lambda k: k.chart != "stat")
                ],
            )
        )
    return dashboards


# -- Quality of service ---------------------------------------------------------------------------

LATENCY = ("http.latency.p50", "http.latency.p90", "http.latency.p99")
DURATION_EVENTS = (
    "SELECT substring(name FROM '^events\\.([a-z0-9_]+)\\.duration\\.p50$') AS event FROM metric "
    "WHERE name ~ '^events\\.[a-z0-9_]+\\.duration\\.p50$' ORDER BY 1"
)
ERROR_RATE = """sum(value) FILTER (WHERE metric = 'http.errors.5xx')
  / NULLIF(sum(value) FILTER (WHERE metric LIKE 'http.requests.%'), 0)"""


DURATIONS = tuple(f"events.$timed_event.duration.{p}" for p in ("p50", "p90", "p99", "max"))


def quality_of_service(units: Units) -> Dashboard:
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
                unit=units.ratio("http.errors.5xx", "http.requests.*"),
                decimals=2,
                description="http.errors.5xx over the sum of every http.requests.<status>, over the range.",
            ),
            latest_stat("Latency p99", "http.latency.p99", "p99", units),
            stat(
                "Requests",
                f"""SELECT sum(value) AS "requests"
FROM hourly_series
WHERE metric LIKE 'http.requests.%'
  AND {RANGE}""",
                table=True,
                unit=units.of("http.requests.*"),
                description="Sum of every http.requests.<status> over the range.",
            ),
            latest_stat("Latency p50", "http.latency.p50", "p50", units),
            timeseries(
                "Latency percentiles",
                hourly_sql(
                    "replace(metric, 'http.latency.', '') AS metric, value",
                    f"metric IN ({in_list(*LATENCY)})",
                    order="1, 2",
                ),
                unit=units.of(*LATENCY),
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
                unit=units.ratio("http.errors.5xx", "http.requests.*"),
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
                unit=units.of("http.requests.*"),
                description="http.requests.<status>, summed per interval (at least an hour).",
            ),
            timeseries(
                "Event duration percentiles",
                hourly_sql(
                    "substr(metric, length('events.$timed_event.duration.') + 1) AS metric, value",
                    f"metric IN ({in_list(*DURATIONS)})",
                    order="1, 2",
                ),
                unit=units.of(*(d.replace("$timed_event", "*") for d in DURATIONS)),
                description="events.$timed_event.duration.p50 / p90 / p99 / max per hour.",
            ),
        ],
    )
