"""The dashboards, in the order Grafana lists them: the KPI dashboards (Business first, generated
from the dictionary's KPIs) in `business.py`, Quality of service there too, the operations ones in
`operations.py`. Every panel's unit comes from the dictionary (`units.py`).

Metric names of the fixed dashboards are the project's (see the README):
`events.<name>.count|users.7d|users.28d|duration.pNN`, `objects.<table>.count`, `ga.*`, `http.*`,
`spider.*`, `etl.*`, plus the `run_log` / `run_reader` tables. Panel SQL carries no comments
(recent Grafana versions strip them before interpolating).
"""

from __future__ import annotations

from apercite_analytics.dashboards.business import kpi_dashboards, quality_of_service
from apercite_analytics.dashboards.operations import etl_health, explore, workers
from apercite_analytics.dashboards.panels import Dashboard
from apercite_analytics.dashboards.units import Units
from apercite_analytics.dictionary.definitions import Dictionary
from apercite_analytics.dictionary.kpis import Kpi


def all_dashboards(dictionary: Dictionary | None, kpis: list[Kpi]) -> list[Dashboard]:
    units = Units(dictionary)
    return [*kpi_dashboards(kpis), quality_of_service(units), workers(units), etl_health(units), explore()]
