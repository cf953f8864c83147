"""Panels from KPIs: the SQL of one KPI as a stat, a time series or bars (see `dictionary/kpis.py`).

Every KPI query is built on one inner query: the KPI's value per point in time (its metric, or
the sum of the metrics a pattern matches; for a ratio, numerator and denominator side by side),
restricted index-friendly on the range (`series_range`). A stat aggregates it over the range (or,
for `last`, lets Grafana take the newest point); a chart aggregates it per interval. A ratio is
agg(numerator) / agg(denominator), the same definition the report uses.
"""

from __future__ import annotations

from apercite_analytics.dashboards.panels import Panel, series_range, stat, timeseries
from apercite_analytics.dashboards.units import grafana_unit
from apercite_analytics.dictionary.kpis import Kpi

SQL_AGGREGATE = {"sum": "sum", "max": "max", "min": "min", "avg": "avg", "last": "max"}


def metric_condition(name: str) -> str:
    """SQL selecting one metric name, or every name a pattern (`*` = one part) matches."""
    if "*" not in name:
        return "metric = '" + name.replace("'", "''") + "'"
    regex = "\\.".join("[a-z0-9_]+" if p == "*" else p for p in name.split("."))
    return f"metric ~ '^{regex}$'"


def inner_sql(kpi: Kpi) -> str:
    """(time, v) — or (time, n, d) for a ratio — one row per point in time of the range."""
    source = "daily_series" if kpi.daily else "hourly_series"
    if kpi.is_ratio:
        numerator, denominator = (metric_condition(m) for m in kpi.metrics)
        columns = f"sum(value) FILTER (WHERE {numerator}) AS n, sum(value) FILTER (WHERE {denominator}) AS d"
        where = f"({numerator} OR {denominator})"
    else:
        columns, where = "sum(value) AS v", metric_condition(kpi.metrics[0])
    return f"SELECT time, {columns} FROM {source} WHERE {where} AND {series_range()} GROUP BY time"


def value_sql(kpi: Kpi, aggregate: str) -> str:
    """The KPI's value from the inner query's rows, aggregated by `aggregate` (a SQL function)."""
    if kpi.is_ratio:
        return f"{aggregate}(n) / NULLIF({aggregate}(d), 0)"
    return f"{aggregate}(v)"


def per_time_sql(kpi: Kpi) -> str:
    value = "n / NULLIF(d, 0)" if kpi.is_ratio else "v"
    return f'SELECT time, {value} AS "{_alias(kpi)}"\nFROM ({inner_sql(kpi)}) AS k\nORDER BY 1'


def per_interval_sql(kpi: Kpi, interval: str) -> str:
    aggregate = SQL_AGGREGATE[kpi.aggregate]
    return (
        f'SELECT $__timeGroupAlias(time, {interval}),\n  {value_sql(kpi, aggregate)} AS "{_alias(kpi)}"\n'
        f"FROM ({inner_sql(kpi)}) AS k\nGROUP BY 1\nORDER BY 1"
    )


def total_sql(kpi: Kpi) -> str:
    return f'SELECT {value_sql(kpi, SQL_AGGREGATE[kpi.aggregate])} AS "{_alias(kpi)}"\nFROM ({inner_sql(kpi)}) AS k'


def _alias(kpi: Kpi) -> str:
    return kpi.title.lower().replace('"', "")


def describe(kpi: Kpi) -> str:
    shown = " / ".join(kpi.metrics)
    how = {"last": "the latest value", "sum": "the total", "max": "the highest", "min": "the lowest", "avg": "the mean"}
    text = kpi.description or f"{kpi.title}: {shown}"
    return f"{text} ({how[kpi.aggregate]}; {kpi.section}; KPI {kpi.key} in {kpi.file.rsplit('/', 1)[-1]})"


def kpi_panel(kpi: Kpi) -> Panel:
    """The KPI's panel; its unit is the dictionary's."""
    unit = grafana_unit(kpi.unit)
    description = describe(kpi)
    if kpi.chart == "stat":
        if kpi.aggregate == "last":
            return stat(kpi.title, per_time_sql(kpi), sparkline=True, unit=unit, description=description)
        decimals = 1 if unit == "percentunit" else None
        return stat(kpi.title, total_sql(kpi), table=True, unit=unit, decimals=decimals, description=description)
    bars = kpi.chart == "bar"
    interval = "1d" if bars else "$__interval"
    sql = per_time_sql(kpi) if kpi.aggregate == "last" else per_interval_sql(kpi, interval)
    minimum = None if bars or kpi.aggregate == "last" else ("1d" if kpi.daily else "1h")
    return timeseries(kpi.title, sql, bars=bars, unit=unit, interval=minimum, description=description)
