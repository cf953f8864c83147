"""A newcomer's first hour, from the source tree: `init` writes a project folder from the shipped
files, `demo` builds on it, and after `demo` + `read all --write` every dashboard panel that needs
neither GA nor Prometheus has data (each panel's SQL expanded as Grafana expands it, on PostgreSQL).

The same quick start from a built wheel, in a fresh venv, is `test_wheel_quickstart.py`.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, text
from support.grafana_macros import QueryContext, Variable, expand

from apercite_analytics import shipped
from apercite_analytics.cli import main as cli
from apercite_analytics.cli.demo import DEMO_CONFIG
from apercite_analytics.config import load as config
from apercite_analytics.dictionary import definitions
from apercite_analytics.readers import google_analytics
from apercite_analytics.store import schema as store
from apercite_analytics.store.models import Metric

ROOT = Path(__file__).resolve().parents[1]
# panels that cannot have data without GA or Prometheus, and the one that lists failures (there are none)
NEEDS_ANOTHER_SOURCE = re.compile(r"'(ga|http)\.")
NO_FAILURE_NO_ROW = {("apercite-etl", "Recent failed runs")}


def test_init_writes_the_shipped_files_and_keeps_what_exists(tmp_path, capsys):
    project = tmp_path / "project"
    assert cli.main(["init", str(project)]) == 0
    err = capsys.readouterr().err
    assert f"wrote {project / 'analytics.toml'}" in err
    for name in shipped.FOLDERS:
        written = sorted(p.relative_to(project / name) for p in (project / name).rglob("*") if p.is_file())
        assert written == sorted(p.relative_to(ROOT / name) for p in (ROOT / name).rglob("*") if p.is_file())
        for relative in written:
            assert (project / name / relative).read_bytes() == (ROOT / name / relative).read_bytes()
    assert (project / "grafana/provisioning/datasources/apercite.yaml").is_file()
    settings = config.load(str(project / "analytics.toml"))  # the commented config is valid as written
    assert settings.store.url == f"sqlite:///{project}/analytics.db"  # relative to the config file
    assert definitions.configured(settings) is not None
    assert cli.main(["metrics", "validate", "-c", str(project / "analytics.toml")]) == 0

    # again: everything kept, and an edited file is named, not overwritten
    (project / "metrics/objects.yaml").write_text("metrics: []\n")
    capsys.readouterr()
    assert cli.main(["init", str(project)]) == 0
    err = capsys.readouterr().err
    assert f"kept the existing {project / 'analytics.toml'}" in err
    assert "1 kept differ from the shipped ones, e.g. objects.yaml; --force replaces them" in err
    assert (project / "metrics/objects.yaml").read_text() == "metrics: []\n"
    assert cli.main(["init", str(project), "--force"]) == 0
    assert (project / "metrics/objects.yaml").read_bytes() == (ROOT / "metrics/objects.yaml").read_bytes()


def test_demo_in_another_folder_runs_from_anywhere(tmp_path, monkeypatch, capsys):
    """Every path in the demo config is relative to the config file, so `-c elsewhere/…` works."""
    monkeypatch.chdir(tmp_path)
    assert cli.main(["demo", "--dir", "elsewhere"]) == 0
    assert "next: apercite-analytics read all --write -c elsewhere/analytics.toml" in capsys.readouterr().err
    (tmp_path / "other").mkdir()
    monkeypatch.chdir(tmp_path / "other")
    assert cli.main(["read", "all", "--write", "-q", "-c", "../elsewhere/analytics.toml"]) == 0
    assert (tmp_path / "elsewhere/analytics.db").is_file() and not (tmp_path / "other/analytics.db").exists()
    assert cli.main(["metrics", "validate", "--strict", "-c", "../elsewhere/analytics.toml"]) == 0


@pytest.fixture(scope="module")
def quick_start(tmp_path_factory):
    """The quick start (demo, then read all --write), with the store on PostgreSQL."""
    from conftest import PG_URL, _scratch_database

    folder = tmp_path_factory.mktemp("quickstart")
    for url in _scratch_database(PG_URL, "AUTOCOMMIT"):
        assert cli.main(["demo", "--dir", str(folder)]) == 0
        cfg = folder / "analytics.toml"
        assert 'url = "sqlite:///analytics.db"' in cfg.read_text()
        cfg.write_text(cfg.read_text().replace('url = "sqlite:///analytics.db"', f'url = "{url}"'))
        assert cli.main(["read", "all", "--write", "-c", str(cfg)]) == 0
        engine = store.open_engine(url)
        yield folder, engine
        engine.dispose()


def panels(dashboard: dict) -> list[dict]:
    found = []
    for panel in dashboard["panels"]:
        found += panels(panel) if "panels" in panel else [panel]
    return found


def default_variables(engine, dashboard: dict, ctx: QueryContext) -> dict[str, Variable]:
    """Each variable's saved value, else the first option its query offers (what Grafana selects)."""
    values = {}
    for variable in dashboard.get("templating", {}).get("list", []):
        current = (variable.get("current") or {}).get("value")
        if current in (None, "", []):
            with engine.connect() as connection:
                options = [r[0] for r in connection.execute(text(expand(variable["query"], ctx)))]
            assert options, f"{dashboard['uid']}: variable {variable['name']} offers nothing"
            current = options[0]
        values[variable["name"]] = Variable(current, multi=bool(variable.get("multi")))
    return values


def test_after_the_quick_start_every_panel_has_data(quick_start):
    folder, engine = quick_start
    now = datetime.now(UTC)
    empty, checked = [], 0
    for path in sorted((folder / "grafana/dashboards").glob("*.json")):  # as `init` wrote them
        dashboard = json.loads(path.read_text())
        ctx = QueryContext(now - timedelta(days=15), now + timedelta(hours=1), timedelta(hours=1))
        ctx = QueryContext(ctx.time_from, ctx.time_to, ctx.interval, default_variables(engine, dashboard, ctx))
        for panel in panels(dashboard):
            for target in panel.get("targets", []):
                sql = target["rawSql"]
                if NEEDS_ANOTHER_SOURCE.search(sql) or (dashboard["uid"], panel["title"]) in NO_FAILURE_NO_ROW:
                    continue
                with engine.connect() as connection:
                    rows = connection.execute(text(expand(sql, ctx).replace(":", "\\:"))).all()
                checked += 1
                if not any(value is not None for row in rows for value in row[1:] or row):
                    empty.append(f"{dashboard['uid']}: {panel['title']}")
    assert checked >= 25
    assert empty == []


def test_every_metric_family_a_reader_can_write_has_a_definition(quick_start):
    """The demo runs objects, events, spiders and sql (and the job's own etl.* metrics): every name
    they stored is covered (spider.stale had no definition before), and so are GA's default reports."""
    folder, engine = quick_start
    dictionary = definitions.configured(config.load(str(folder / "analytics.toml")))
    with engine.connect() as connection:
        stored = set(connection.execute(select(Metric.name)).scalars())
    families = {n.split(".")[0] for n in stored}
    assert {"objects", "events", "spider", "app", "etl"} <= families
    assert {"spider.idle", "spider.active", "spider.total", "spider.stale"} <= stored
    names = stored | {f"ga.{google_analytics.snake_case(m)}" for m in google_analytics.DEFAULT_METRICS}
    assert sorted(n for n in names if dictionary.match(n) is None) == []
    assert cli.main(["metrics", "validate", "--strict", "-c", str(folder / "analytics.toml")]) == 0


def test_the_demo_config_runs_every_reader_it_needs():
    assert all(f"[readers.{name}]" in DEMO_CONFIG for name in ("objects", "events", "spiders"))
    assert "[readers.sql.queries." in DEMO_CONFIG
