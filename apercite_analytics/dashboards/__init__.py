"""Grafana on the metric store: dashboards generated from code and provisioning.

`definitions.py` says what the dashboards show, `panels.py` how a panel's JSON is built, `build.py`
writes them to `grafana/dashboards/`, `push.py` uploads them through Grafana's HTTP API.

May import: `errors`, `config`. Never the run.
"""
