"""Grafana on the metric store: dashboards generated from code, provisioning, upload.

`definitions.py` says what the dashboards show, `panels.py` how a panel's JSON is built, `build.py`
writes them to `grafana/dashboards/`, `push.py` uploads them through Grafana's HTTP API,
`readonly.py` creates the read-only database role Grafana connects with, and `macros.py` expands
panel SQL exactly as Grafana does (for tests and the benchmark).
"""
