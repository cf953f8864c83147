"""The dashboards, in the order Grafana lists them; each is defined in `business.py` or `operations.py`.

Metric names are the project's (see the README): `events.<name>.count|users.7d|users.28d|duration.pNN`,
`objects.<table>.count`, `ga.*`, `http.*`, `spider.*`, `etl.*`, plus the `run_log` / `run_reader`
tables. Panel SQL carries no comments (recent Grafana versions strip them before interpolating).
"""

from __future__ import annotations

from apercite_analytics.dashboards.business import business, quality_of_service
from apercite_analytics.dashboards.operations import etl_health, explore, workers
from apercite_analytics.dashboards.panels import Dashboard


def all_dashboards() -> list[Dashboard]:
    return [business(), quality_of_service(), workers(), etl_health(), explore()]
