"""Every panel of every built dashboard shows its metrics in the dictionary's unit.

The metrics a panel shows are read from its SQL as committed (`metric = '…'`, `IN (…)`, `LIKE`,
`~` and template variables standing for one name part), looked up in the shipped dictionary, and
the panel's unit must be that unit in Grafana's terms: a ratio of two metrics of one unit is a
fraction (`percentunit`). Today's QoS panel "Event duration percentiles" said `s` for `ms` data.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from apercite_analytics.dashboards.units import grafana_unit
from apercite_analytics.dictionary import definitions

ROOT = Path(__file__).resolve().parents[1]
DICTIONARY, _ = definitions.load(ROOT / "metrics")
PANELS = [
    (path.stem, panel)
    for path in sorted((ROOT / "grafana/dashboards").glob("*.json"))
    for panel in json.loads(path.read_text())["panels"]
]
NAME = r"[-a-z0-9_.$%{}\\[\]+*^]+"
ANY_METRIC = "$metric"  # the Explore dashboard's free choice: any metric, so no one unit


def shown_metrics(sql: str) -> set[str]:
    """The metric names or patterns a panel's SQL reads (`*` for one name part)."""
    found: set[str] = set()
    found.update(re.findall(rf"metric = '({NAME})'", sql))
    for listed in re.findall(r"metric IN \(([^)]*)\)", sql):
        found.update(re.findall(rf"'({NAME})'", listed))
    found.update(p.replace("%", "*") for p in re.findall(rf"metric LIKE '({NAME})'", sql))
    for regex in re.findall(rf"metric ~ '\^({NAME})\$'", sql):
        found.add(regex.replace("[a-z0-9_]+", "*").replace("\\.", "."))
    return {re.sub(r"\$\{?[a-z_]+\}?", "*", name) for name in found}


def test_the_sql_reader_finds_every_form():
    sql = (
        "WHERE metric = 'a.b' OR metric IN ('c.d', 'events.$timed_event.duration.p50') "
        "OR metric LIKE 'http.requests.%' OR metric ~ '^app\\.signups\\.[a-z0-9_]+$'"
    )
    assert shown_metrics(sql) == {"a.b", "c.d", "events.*.duration.p50", "http.requests.*", "app.signups.*"}
    assert (grafana_unit("ms"), grafana_unit("seconds"), grafana_unit("users")) == ("ms", "s", "short")


@pytest.mark.parametrize(("dashboard", "panel"), PANELS, ids=[f"{d}:{p['title']}" for d, p in PANELS])
def test_the_panel_unit_is_the_dictionary_unit(dashboard, panel):
    sql = " ".join(t["rawSql"] for t in panel["targets"])
    if ANY_METRIC in sql:
        return
    metrics = shown_metrics(sql)
    unit = panel["fieldConfig"]["defaults"].get("unit")
    if not metrics:
        assert "_series" not in sql, "a panel reading values must name its metrics"
        return
    units = {}
    for name in sorted(metrics):
        definition = DICTIONARY.match(name)
        assert definition is not None, f"{name}: shown by the panel, defined nowhere in metrics/"
        units[name] = definition.unit
    if "/ NULLIF(" in sql:  # a ratio of two metrics of one unit
        assert len(set(units.values())) == 1, units
        expected = grafana_unit("ratio")
    else:
        grafana = {grafana_unit(u) for u in units.values()}
        assert len(grafana) == 1, f"the panel mixes units: {units}"
        expected = grafana.pop()
    assert unit == expected, f"unit {unit!r}, but the dictionary says {units} (Grafana: {expected!r})"
