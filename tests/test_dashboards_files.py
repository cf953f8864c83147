"""The committed dashboards are what `dashboards build` generates, and the provisioning files parse
and point at things that exist (files, data source uid, dashboards, panels, query refIds)."""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath

import yaml

from apercite_analytics.cli import main as cli
from apercite_analytics.dashboards.build import generated

ROOT = Path(__file__).resolve().parents[1]
GRAFANA = ROOT / "grafana"
PROVISIONING = GRAFANA / "provisioning"
GRAFANA_HOME = PurePosixPath("/etc/grafana")  # the README's layout: grafana/* is copied there
ENV = re.compile(r"^\$\{[A-Z][A-Z0-9_]*\}$")


def load(kind: str) -> dict:
    (path,) = (PROVISIONING / kind).glob("*.yaml")
    document = yaml.safe_load(path.read_text())
    assert document["apiVersion"] == 1
    return document


def dashboards() -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((GRAFANA / "dashboards").glob("*.json"))]


def test_committed_json_is_what_build_generates():
    committed = {p.name: p.read_text() for p in (GRAFANA / "dashboards").glob("*.json")}
    assert committed == generated(), "run `apercite-analytics dashboards build` and commit grafana/dashboards/"


def test_build_command_writes_the_files_and_is_idempotent(tmp_path, capsys):
    assert cli.main(["dashboards", "build", "--out", str(tmp_path / "out")]) == 0
    assert {p.name: p.read_text() for p in (tmp_path / "out").iterdir()} == generated()
    assert capsys.readouterr().err.count("wrote ") == len(generated())
    assert cli.main(["dashboards", "build", "--out", str(tmp_path / "out")]) == 0
    assert capsys.readouterr().err.count("unchanged ") == len(generated())


def test_dashboards_are_well_formed():
    (source,) = load("datasources")["datasources"]
    uids = [d["uid"] for d in dashboards()]
    assert len(set(uids)) == len(uids) == 5
    for dashboard in dashboards():
        ids = [p["id"] for p in dashboard["panels"]]
        assert len(set(ids)) == len(ids)
        for panel in dashboard["panels"]:
            grid = panel["gridPos"]
            assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0
            references = [panel["datasource"], *(t["datasource"] for t in panel["targets"])]
            assert all(r == {"type": source["type"], "uid": source["uid"]} for r in references)
            for target in panel["targets"]:
                assert target["rawQuery"] and target["format"] in ("time_series", "table")
                assert "--" not in target["rawSql"] and "/*" not in target["rawSql"], "Grafana strips SQL comments"
        for variable in dashboard["templating"]["list"]:
            assert variable["datasource"]["uid"] == source["uid"]


def test_datasource_provisioning():
    (source,) = load("datasources")["datasources"]
    assert source["uid"] == "apercite-store" and source["type"] == "grafana-postgresql-datasource"
    assert source["jsonData"]["sslmode"] in ("disable", "require", "verify-ca", "verify-full")
    assert isinstance(source["jsonData"]["postgresVersion"], int)
    # credentials and coordinates come from Grafana's environment, never from the file
    for value in (source["url"], source["user"], source["jsonData"]["database"], source["secureJsonData"]["password"]):
        assert ENV.match(value), value
    assert source["secureJsonData"]["password"] == "${APERCITE_GRAFANA_DB_PASSWORD}"


def test_dashboard_provider_points_at_the_dashboards():
    (provider,) = load("dashboards")["providers"]
    assert provider["type"] == "file" and provider["folderUid"] == "apercite-analytics"
    where = PurePosixPath(provider["options"]["path"]).relative_to(GRAFANA_HOME)
    files = sorted(p.name for p in (GRAFANA / where).glob("*.json"))
    assert files == sorted(generated())


def test_alert_rule_provisioning():
    (source,) = load("datasources")["datasources"]
    (group,) = load("alerting")["groups"]
    assert group["folder"] and group["interval"]
    (rule,) = group["rules"]
    refs = {d["refId"]: d for d in rule["data"]}
    assert rule["condition"] in refs
    for query in rule["data"]:
        assert query["datasourceUid"] in (source["uid"], "__expr__")
        assert query["model"]["refId"] == query["refId"]
        if query["datasourceUid"] == "__expr__":
            assert query["model"]["expression"] in refs  # reduce / threshold read an earlier query
    assert refs["A"]["model"]["format"] == "time_series"  # the only format SQL alerting accepts
    assert refs["A"]["relativeTimeRange"]["from"] == 7200
    assert [refs[r]["model"]["type"] for r in ("B", "C")] == ["reduce", "threshold"]
    assert refs["C"]["model"]["conditions"][0]["evaluator"] == {"type": "lt", "params": [1]}
    assert rule["noDataState"] in ("NoData", "Alerting", "OK") and rule["execErrState"] in ("Error", "Alerting", "OK")
    dashboard = next(d for d in dashboards() if d["uid"] == rule["dashboardUid"])
    panel = next(p for p in dashboard["panels"] if p["id"] == rule["panelId"])
    assert panel["title"] == "Last successful run"
