"""The Airflow DAG (airflow/dags/apercite_analytics.py) in a real Airflow: it loads, and a run writes its hour.

Airflow lives in its own venv, never in the test venv: $APERCITE_AIRFLOW_VENV, default
`.venv-airflow` in the repository (git-ignored), created on first use (`pip install
apache-airflow==3.3.2`, about a minute). Our package is not installed there: the DAG calls our CLI
through the Python of this test run, as it calls a deployment's venv. Each module run gets its own
AIRFLOW_HOME with a SQLite metadata database; `airflow dags test` runs the DAG in-process against it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

AIRFLOW_VERSION = "3.3.2"
ROOT = Path(__file__).resolve().parent.parent
DAGS = ROOT / "airflow" / "dags"
REPORT_SCRIPT = Path(__file__).with_name("airflow_dagbag_report.py")
VENV = Path(os.environ.get("APERCITE_AIRFLOW_VENV") or ROOT / ".venv-airflow")
READY = VENV / "apercite-airflow-ready"  # written last: a half-built venv is rebuilt
DAG_ID = "apercite_analytics"
INTERVAL = "--since {{ data_interval_start | ts }} --until {{ data_interval_end | ts }}"

# The source: orders on 2026-11-20, a different number in each hour from 08:00 to 13:59 UTC, so a
# run that read another hour than its data interval would write other numbers.
ORDERS = [
    (f"2026-11-20 {hour:02d}:{minute:02d}:00", round(hour + minute / 100, 2))
    for hour in range(8, 14)
    for minute in range(0, 60, 60 // (hour - 6))
]
CONFIG = """\
[store]
url = "sqlite:///analytics.db"          # relative: the tasks run in the config's directory

[sources.shop]
url = "sqlite:///{source}"

[readers.objects]
source = "shop"
tables = ["orders"]

[readers.sql.queries.orders]
source = "shop"
sql = \"\"\"
SELECT strftime('%Y-%m-%d %H:00:00', created_at) AS time, count(*) AS count, sum(amount) AS amount
FROM orders WHERE created_at >= :since AND created_at < :until GROUP BY 1
\"\"\"
metric = "shop.orders.{{column}}"
"""


def _run(args: list, *, timeout: float, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=timeout, **kwargs)


@pytest.fixture(scope="session")
def airflow_venv() -> Path:
    """A venv with Airflow (and nothing of ours), built once and kept for later runs."""
    if READY.is_file() and READY.read_text().strip() == AIRFLOW_VERSION:
        return VENV
    shutil.rmtree(VENV, ignore_errors=True)
    steps = [
        [sys.executable, "-m", "venv", VENV],
        [VENV / "bin" / "python", "-m", "pip", "install", "-q", f"apache-airflow=={AIRFLOW_VERSION}"],
    ]
    for step in steps:
        result = _run(step, timeout=1800)
        if result.returncode != 0:
            pytest.fail(f"cannot build the Airflow venv ({' '.join(map(str, step))}):\n{result.stderr[-3000:]}")
    READY.write_text(AIRFLOW_VERSION)
    return VENV


class Airflow:
    """Airflow commands in one AIRFLOW_HOME (SQLite metadata database), quiet and offline."""

    def __init__(self, venv: Path, home: Path) -> None:
        self.venv, self.home = venv, home
        self.database = home / "airflow.db"

    def env(self, **extra: str) -> dict[str, str]:
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("AIRFLOW", "APERCITE_")) and k not in ("PYTHONPATH", "VIRTUAL_ENV")
        }
        return (
            inherited
            | {
                "AIRFLOW_HOME": str(self.home),
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{self.database}",
                "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
                "APERCITE_PYTHON": sys.executable,  # the Python that has apercite-analytics installed
            }
            | extra
        )

    def run(self, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess:
        return _run([self.venv / "bin" / "airflow", *args], timeout=timeout, cwd=self.home, env=self.env(**env))

    def dagbag(self, tmp_path: Path, *scenarios: dict[str, str | None]) -> list[dict]:
        """Load the DAG folder with DagBag under each environment (one process); a report per scenario."""
        (tmp_path / "scenarios.json").write_text(json.dumps(scenarios), encoding="utf-8")
        script = [self.venv / "bin" / "python", REPORT_SCRIPT, DAGS, tmp_path / "scenarios.json", tmp_path / "out.json"]
        result = _run(script, timeout=300, cwd=self.home, env=self.env())
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        return json.loads((tmp_path / "out.json").read_text())

    def query(self, sql: str, *params) -> list[tuple]:
        with sqlite3.connect(self.database) as db:
            return db.execute(sql, params).fetchall()


@pytest.fixture(scope="module")
def airflow(airflow_venv: Path, tmp_path_factory) -> Airflow:
    home = tmp_path_factory.mktemp("airflow-home")
    instance = Airflow(airflow_venv, home)
    result = instance.run("db", "migrate")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return instance


def make_config(directory: Path) -> Path:
    """A SQLite source with ORDERS and a config that reads it (objects + sql), store next to it."""
    directory.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(directory / "shop.db") as db:
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, created_at TEXT NOT NULL, amount REAL NOT NULL)")
        db.executemany("INSERT INTO orders (created_at, amount) VALUES (?, ?)", ORDERS)
    db.close()
    config = directory / "analytics.toml"
    config.write_text(CONFIG.format(source=directory / "shop.db"), encoding="utf-8")
    return config


def task_states(airflow: Airflow, logical_date: str) -> tuple[tuple, dict[str, tuple[str, int]]]:
    """(state, interval start, interval end) of the run at `logical_date`, and {task: (state, try_number)}."""
    (run,) = airflow.query(
        "SELECT run_id, state, data_interval_start, data_interval_end FROM dag_run "
        "WHERE dag_id = ? AND logical_date = ?",
        DAG_ID,
        logical_date,
    )
    tasks = airflow.query("SELECT task_id, state, try_number FROM task_instance WHERE run_id = ?", run[0])
    return run[1:], {task: (state, tries) for task, state, tries in tasks}


def test_the_dag_loads_with_one_task_per_configured_reader(airflow, tmp_path):
    config = make_config(tmp_path / "deploy")
    other = tmp_path / "other" / "analytics.toml"
    other.parent.mkdir()
    other.write_text('[readers.sql.queries.q]\nsql = "SELECT 1"\n', encoding="utf-8")
    missing = tmp_path / "nowhere" / "analytics.toml"
    by_variable, by_environment, not_found, not_set, bad_lookback = airflow.dagbag(
        tmp_path,
        # the config path from an Airflow Variable (set through Airflow's environment backend) ...
        {"AIRFLOW_VAR_APERCITE_CONFIG": str(config)},
        # ... or from $APERCITE_CONFIG; $APERCITE_START_DATE moves the start, $APERCITE_LOOKBACK --since
        {
            "AIRFLOW_VAR_APERCITE_CONFIG": None,
            "APERCITE_CONFIG": str(other),
            "APERCITE_START_DATE": "2026-11-20T06:00",
            "APERCITE_LOOKBACK": "2d",
        },
        {"APERCITE_CONFIG": str(missing), "APERCITE_START_DATE": None, "APERCITE_LOOKBACK": None},
        {"APERCITE_CONFIG": None},
        {"APERCITE_CONFIG": str(config), "APERCITE_LOOKBACK": "3 hours"},
    )

    assert by_variable["import_errors"] == {}
    dag = by_variable["dags"][DAG_ID]
    assert dag["timetable"] == {
        "__type": "airflow.timetables.interval.CronDataIntervalTimetable",
        "__var": {"expression": "0 * * * *", "timezone": "UTC"},
    }
    assert dag["catchup"] is True and dag["max_active_runs"] == 1
    assert dag["start_date"] == "2026-11-01T00:00:00+00:00"
    tasks = dag["tasks"]
    assert set(tasks) == {"read_objects", "read_sql", "rollup", "fail_if_a_reader_failed"}
    cli = f"{sys.executable} -m apercite_analytics"
    for reader in ("objects", "sql"):
        task = tasks[f"read_{reader}"]
        assert task["bash_command"] == f"{cli} read {reader} --write {INTERVAL} -c {config}"
        assert task["cwd"] == str(config.parent)
        assert task["upstream"] == [] and task["trigger_rule"] == "all_success"
        assert (task["retries"], task["retry_delay"], task["retry_exponential_backoff"]) == (3, 120, 2.0)
        assert task["max_retry_delay"] == 1200
    assert tasks["rollup"]["bash_command"] == f"{cli} rollup {INTERVAL} -c {config}"
    assert tasks["rollup"]["upstream"] == ["read_objects", "read_sql"]
    assert tasks["rollup"]["trigger_rule"] == "all_done"
    assert tasks["fail_if_a_reader_failed"]["upstream"] == ["read_objects", "read_sql"]
    assert tasks["fail_if_a_reader_failed"]["trigger_rule"] == "one_failed"

    assert by_environment["import_errors"] == {}
    dag = by_environment["dags"][DAG_ID]
    assert set(dag["tasks"]) == {"read_sql", "rollup", "fail_if_a_reader_failed"}
    assert dag["start_date"] == "2026-11-20T06:00:00+00:00"
    since = "--since {{ (data_interval_start - macros.timedelta(hours=48)) | ts }}"
    assert (
        f"read sql --write {since} --until {{{{ data_interval_end | ts }}}} -c {other}"
        in dag["tasks"]["read_sql"]["bash_command"]
    )

    # No config is an import error that says why (Airflow shows it as a broken DAG).
    assert not_found["dags"] == {}
    (error,) = not_found["import_errors"].values()
    assert f"{missing}: no such config file" in error
    (error,) = not_set["import_errors"].values()
    assert "set the Airflow Variable apercite_config or $APERCITE_CONFIG" in error
    (error,) = bad_lookback["import_errors"].values()
    assert 'apercite_lookback / $APERCITE_LOOKBACK: \'3 hours\' is not a duration like "3h" or "2d"' in error


def test_airflow_dags_test_writes_the_data_interval(airflow, tmp_path):
    config = make_config(tmp_path / "deploy")
    before = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    result = airflow.run("dags", "test", DAG_ID, "2026-11-20T11:00:00+00:00", APERCITE_CONFIG=str(config))
    after = datetime.now(UTC)
    output = result.stdout[-6000:] + result.stderr[-3000:]
    assert result.returncode == 0, output

    (state, start, end), tasks = task_states(airflow, "2026-11-20 11:00:00.000000")
    assert state == "success", output
    assert (start, end) == ("2026-11-20 10:00:00.000000", "2026-11-20 11:00:00.000000")
    assert tasks == {
        "read_objects": ("success", 1),
        "read_sql": ("success", 1),
        "rollup": ("success", 1),
        "fail_if_a_reader_failed": ("skipped", 0),
    }, output

    store = config.parent / "analytics.db"  # the config's relative store URL, in its directory
    with sqlite3.connect(store) as db:
        rows = db.execute(
            "SELECT m.name, h.date, h.hour, h.value FROM hourly_value h JOIN metric m ON m.id = h.metric_id "
            "ORDER BY m.name, h.date, h.hour"
        ).fetchall()
        commands = db.execute("SELECT command, status FROM run_log WHERE command LIKE '% read %'").fetchall()
    db.close()
    hour = [amount for at, amount in ORDERS if at.startswith("2026-11-20 10:")]
    sql_rows = [row for row in rows if row[0].startswith("shop.")]
    assert sql_rows == [
        ("shop.orders.amount", "2026-11-20", 10, pytest.approx(sum(hour))),
        ("shop.orders.count", "2026-11-20", 10, len(hour)),
    ]
    # objects cannot backfill: it stores the row count in the hour the run observed it in.
    ((name, day, observed, count),) = [row for row in rows if row[0].startswith("objects.")]
    assert (name, count) == ("objects.orders.count", len(ORDERS))
    observed_at = datetime.fromisoformat(day).replace(hour=observed, tzinfo=UTC)
    assert before - timedelta(hours=1) <= observed_at <= after
    interval = "--since 2026-11-20T10:00:00+00:00 --until 2026-11-20T11:00:00+00:00"
    assert sorted(commands) == [
        (f"apercite-analytics read objects --write {interval} -c {config}", "ok"),
        (f"apercite-analytics read sql --write {interval} -c {config}", "ok"),
    ]


def test_a_configuration_error_fails_the_tasks_at_once(airflow, tmp_path):
    """Exit status 2 fails without retries: a retry (2 minutes later) could only fail again.

    (This run also has a 2-hour lookback: its tasks' --since is 2 hours before the interval.)
    """
    config = make_config(tmp_path / "deploy")
    text = config.read_text(encoding="utf-8").replace(str(tmp_path / "deploy" / "shop.db"), "${SHOP_DB_PATH}")
    config.write_text(text, encoding="utf-8")
    result = airflow.run(
        "dags",
        "test",
        DAG_ID,
        "2026-11-20T13:00:00+00:00",
        timeout=240,
        APERCITE_CONFIG=str(config),
        APERCITE_LOOKBACK="2h",
    )
    output = result.stdout[-6000:] + result.stderr[-3000:]
    assert result.returncode != 0, output
    log = result.stdout + result.stderr
    assert "sources.shop.url: environment variable SHOP_DB_PATH is not set" in log
    assert f"read sql --write --since 2026-11-20T10:00:00+00:00 --until 2026-11-20T13:00:00+00:00 -c {config}" in log
    (state, start, end), tasks = task_states(airflow, "2026-11-20 13:00:00.000000")
    assert (state, start, end) == ("failed", "2026-11-20 12:00:00.000000", "2026-11-20 13:00:00.000000")
    assert tasks == {
        "read_objects": ("failed", 1),  # not up_for_retry
        "read_sql": ("failed", 1),
        "rollup": ("failed", 1),  # ran although the readers failed (all_done), and failed the same way
        "fail_if_a_reader_failed": ("failed", 1),
    }, output
    assert not (config.parent / "analytics.db").exists()


REPORT_DAG_ID = "apercite_analytics_report"
WEEK = "--since {{ (data_interval_end - macros.timedelta(days=7)) | ds }} --until {{ data_interval_end | ds }}"
SHOP_DICTIONARY = """\
defaults: {owner: shop, data_source: sql, value_type: integer, time_frame: 1h, aggregation: sum}
metrics:
  - {key: shop.orders.count, description: Orders in the hour., unit: orders}
  - {key: shop.orders.amount, description: Order amounts in the hour., unit: EUR, value_type: number}
  - {key: objects.*.count, description: Rows of a table., unit: rows, aggregation: last, time_frame: all}
"""
SHOP_KPIS = "kpis:\n  - {key: orders, title: Orders, section: Shop, metric: shop.orders.count, chart: bar}\n"


def test_the_weekly_report_dag_reports_the_week_of_its_interval(airflow, tmp_path):
    config = make_config(tmp_path / "deploy")
    (config.parent / "dictionary").mkdir()
    (config.parent / "dictionary" / "shop.yaml").write_text(SHOP_DICTIONARY, encoding="utf-8")
    (config.parent / "dictionary" / "kpis.yaml").write_text(SHOP_KPIS, encoding="utf-8")
    with config.open("a", encoding="utf-8") as file:
        file.write('\n[dictionary]\npath = "dictionary"\n')
    (report,) = airflow.dagbag(tmp_path, {"APERCITE_CONFIG": str(config)})
    assert report["import_errors"] == {}
    dag = report["dags"][REPORT_DAG_ID]
    assert dag["timetable"]["__var"] == {"expression": "30 6 * * 1", "timezone": "UTC"}  # Mondays, after Sunday
    assert dag["catchup"] is False and list(dag["tasks"]) == ["report"]
    cli = f"{sys.executable} -m apercite_analytics"
    assert dag["tasks"]["report"]["bash_command"] == f"{cli} report {WEEK} --email -c {config}"

    hourly = airflow.run("dags", "test", DAG_ID, "2026-11-20T11:00:00+00:00", APERCITE_CONFIG=str(config))
    assert hourly.returncode == 0, hourly.stdout[-3000:] + hourly.stderr[-3000:]
    out = tmp_path / "week.txt"
    result = airflow.run(
        "dags", "test", REPORT_DAG_ID, "2026-11-23T06:30:00+00:00",
        APERCITE_CONFIG=str(config), APERCITE_REPORT_ARGS=f"--out {out}",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    text = out.read_text(encoding="utf-8")
    orders = len([at for at, _ in ORDERS if at.startswith("2026-11-20 10:")])  # the hour the hourly run wrote
    assert text.startswith("KPI report: 16 Nov 2026 – 22 Nov 2026")
    assert re.search(rf"^  Orders\s+{orders} orders\s+previous period: no data$", text, re.M), text
