"""Run by the Airflow venv's Python (not by pytest): load a DAG folder with Airflow's DagBag, report in JSON.

Usage: airflow_dagbag_report.py DAGS_FOLDER SCENARIOS_FILE REPORT_FILE. SCENARIOS_FILE is a JSON list
of environments (`{"APERCITE_CONFIG": "…"}`, `null` to unset); the folder is loaded once under each
(one process: Airflow takes seconds to import), and REPORT_FILE gets one report per scenario (a file:
Airflow logs to stdout): the import errors and, per DAG, what tests/test_airflow_dag.py checks: its
schedule (as the scheduler stores it), its settings and its tasks. Serializing the DAG, as the DAG
processor does, is part of loading it.
"""

from __future__ import annotations

import json
import os
import sys

from airflow.dag_processing.dagbag import DagBag
from airflow.serialization.serialized_objects import DagSerialization


def describe(dag) -> dict:
    serialized = json.loads(json.dumps(DagSerialization.to_dict(dag)["dag"], default=str))
    return {
        "timetable": serialized["timetable"],
        "catchup": dag.catchup,
        "max_active_runs": dag.max_active_runs,
        "start_date": dag.start_date.isoformat(),
        "tasks": {
            task.task_id: {
                "type": type(task).__name__,
                "upstream": sorted(task.upstream_task_ids),
                "trigger_rule": str(task.trigger_rule.value),
                "retries": task.retries,
                "retry_delay": task.retry_delay.total_seconds(),
                "retry_exponential_backoff": task.retry_exponential_backoff,
                "max_retry_delay": task.max_retry_delay.total_seconds() if task.max_retry_delay else None,
                "bash_command": getattr(task, "bash_command", None),
                "cwd": getattr(task, "cwd", None),
            }
            for task in dag.tasks
        },
    }


def load(folder: str, environment: dict[str, str | None]) -> dict:
    for name, value in environment.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    bag = DagBag(dag_folder=folder)
    return {
        "import_errors": {path: str(error) for path, error in bag.import_errors.items()},
        "dags": {dag_id: describe(dag) for dag_id, dag in bag.dags.items()},
    }


def main(folder: str, scenarios: str, out: str) -> None:
    with open(scenarios, encoding="utf-8") as file:
        environments = json.load(file)
    reports = [load(folder, environment) for environment in environments]
    with open(out, "w", encoding="utf-8") as file:
        json.dump(reports, file)


if __name__ == "__main__":
    main(*sys.argv[1:4])
