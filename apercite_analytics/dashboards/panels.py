"""Builders for Grafana 11 dashboard JSON: panels on the PostgreSQL data source, query variables,
and a simple left-to-right grid layout. Only what the dashboards use; plain dicts, no schema library.

Every value query goes through the `hourly_series` / `daily_series` views (migration 0003) and
restricts both `date` — the second column of the `(metric_id, date, hour)` primary key, so the
planner scans an index range — and the exact time (`$__timeFilter(time)`): see `series_range`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DATASOURCE = {"type": "grafana-postgresql-datasource", "uid": "apercite-store"}
SCHEMA_VERSION = 39  # Grafana 11.0
TAG = "apercite-analytics"
GRID_WIDTH = 24


def series_range() -> str:
    """The time restriction of every `hourly_series` / `daily_series` query.

    `date BETWEEN` the UTC dates of the range's ends lets PostgreSQL walk the primary key from
    (metric_id, first date) to (metric_id, last date) instead of every row of the metric; Grafana's
    `$__timeFrom()` is a UTC RFC 3339 literal, so `::date` takes its UTC date. `$__timeFilter(time)`
    then keeps exactly the hours (or days) inside the range.
    """
    return "date BETWEEN $__timeFrom()::date AND $__timeTo()::date AND $__timeFilter(time)"


def hourly_sql(columns: str, where: str, order: str = "1") -> str:
    """The panel query most panels are: hourly points of some metrics, index-friendly on the range."""
    return f"""SELECT time, {columns}
FROM hourly_series
WHERE {where}
  AND {series_range()}
ORDER BY {order}"""


def sum_of(metric: str) -> str:
    """The sum of one metric's values among the rows of a panel query."""
    return f"sum(value) FILTER (WHERE metric = '{metric}')"


def per_interval_sql(columns: str, metrics: tuple[str, ...], interval: str = "$__interval") -> str:
    """`columns` (aggregates over `value`) per time bucket of `interval`, over some hourly metrics."""
    return f"""SELECT $__timeGroupAlias(time, {interval}),
  {columns}
FROM hourly_series
WHERE metric IN ({in_list(*metrics)})
  AND {series_range()}
GROUP BY 1
ORDER BY 1"""


def ratio_sql(numerator: str, denominator: str, alias: str, *, daily: bool = False, per_time: bool = True) -> str:
    """sum(numerator) / sum(denominator) over the range, or per point in time (`per_time`)."""
    ratio = f'{sum_of(numerator)}\n  / NULLIF({sum_of(denominator)}, 0) AS "{alias}"'
    source = f"FROM {'daily_series' if daily else 'hourly_series'}\nWHERE metric IN ('{numerator}', '{denominator}')"
    if per_time:
        return f"SELECT time,\n  {ratio}\n{source}\n  AND {series_range()}\nGROUP BY time\nORDER BY 1"
    return f"SELECT {ratio}\n{source}\n  AND {series_range()}"


def in_list(*names: str) -> str:
    return ", ".join("'" + n.replace("'", "''") + "'" for n in names)


@dataclass
class Panel:
    """One panel: its type, title, size, SQL and display options."""

    kind: str  # timeseries, stat, table, barchart
    title: str
    sql: str
    description: str = ""
    table: bool = False  # query format: table instead of time series
    width: int = 12
    height: int = 8
    unit: str | None = None
    decimals: int | None = None
    options: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)
    interval: str | None = None  # the panel's minimum $__interval
    overrides: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self, panel_id: int, x: int, y: int) -> dict[str, Any]:
        defaults: dict[str, Any] = {}
        if self.unit:
            defaults["unit"] = self.unit
        if self.decimals is not None:
            defaults["decimals"] = self.decimals
        if self.custom:
            defaults["custom"] = self.custom
        panel: dict[str, Any] = {
            "id": panel_id,
            "type": self.kind,
            "title": self.title,
            "description": self.description,
            "datasource": dict(DATASOURCE),
            "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
            "fieldConfig": {"defaults": defaults, "overrides": self.overrides},
            "options": self.options,
            "targets": [
                {
                    "refId": "A",
                    "datasource": dict(DATASOURCE),
                    "editorMode": "code",
                    "format": "table" if self.table else "time_series",
                    "rawQuery": True,
                    "rawSql": self.sql,
                }
            ],
        }
        if self.interval:
            panel["interval"] = self.interval
        return panel


def timeseries(title: str, sql: str, *, bars: bool = False, stack: bool = False, **kw: Any) -> Panel:
    custom: dict[str, Any] = {"drawStyle": "bars" if bars else "line", "fillOpacity": 60 if bars else 10}
    if stack:
        custom["stacking"] = {"mode": "normal", "group": "A"}
    options = {
        "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
        "tooltip": {"mode": "multi"},
    }
    return Panel("timeseries", title, sql, custom=custom, options=options, **kw)


def stat(title: str, sql: str, *, reduce: str = "lastNotNull", sparkline: bool = False, **kw: Any) -> Panel:
    options = {
        "reduceOptions": {"calcs": [reduce], "fields": "", "values": False},
        "graphMode": "area" if sparkline else "none",
        "colorMode": "value",
        "textMode": "auto",
        "justifyMode": "auto",
        "orientation": "auto",
    }
    kw.setdefault("width", 6)
    kw.setdefault("height", 5)
    return Panel("stat", title, sql, options=options, **kw)


def table(title: str, sql: str, **kw: Any) -> Panel:
    kw.setdefault("width", 24)
    return Panel("table", title, sql, table=True, options={"showHeader": True, "cellHeight": "sm"}, **kw)


def query_variable(name: str, label: str, sql: str, *, default: str | None = None, multi: bool = False) -> dict:
    """A variable whose options come from SQL (first column); `default` is its initial selection."""
    current: dict[str, Any] = {}
    if default is not None:
        current = {"selected": True, "text": [default] if multi else default, "value": [default] if multi else default}
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": dict(DATASOURCE),
        "query": sql,
        "definition": sql,
        "refresh": 1,  # on dashboard load
        "current": current,
        "options": [],
        "multi": multi,
        "includeAll": False,
        "sort": 1,
        "regex": "",
        "hide": 0,
        "skipUrlSync": False,
    }


@dataclass
class Dashboard:
    uid: str
    title: str
    description: str
    panels: list[Panel]
    variables: list[dict] = field(default_factory=list)
    time_from: str = "now-7d"
    refresh: str = "5m"

    def to_json(self) -> dict[str, Any]:
        placed, x, y, row_height = [], 0, 0, 0
        for panel_id, panel in enumerate(self.panels, start=1):
            if x + panel.width > GRID_WIDTH:
                x, y, row_height = 0, y + row_height, 0
            placed.append(panel.to_json(panel_id, x, y))
            x += panel.width
            row_height = max(row_height, panel.height)
        return {
            "uid": self.uid,
            "title": self.title,
            "description": self.description,
            "tags": [TAG],
            "timezone": "utc",
            "editable": True,
            "graphTooltip": 1,
            "schemaVersion": SCHEMA_VERSION,
            "version": 1,
            "time": {"from": self.time_from, "to": "now"},
            "refresh": self.refresh,
            "annotations": {
                "list": [
                    {
                        "builtIn": 1,
                        "datasource": {"type": "grafana", "uid": "-- Grafana --"},
                        "enable": True,
                        "hide": True,
                        "iconColor": "rgba(0, 211, 255, 1)",
                        "name": "Annotations & Alerts",
                        "type": "dashboard",
                    }
                ]
            },
            "links": [{"type": "dashboards", "tags": [TAG], "asDropdown": True, "title": "apercite-analytics"}],
            "templating": {"list": self.variables},
            "panels": placed,
        }
