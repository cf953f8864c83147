"""apercite-analytics on Airflow: every hour, one task per configured reader, then the rollups.

Each task runs our command line in the Python environment where apercite-analytics is installed:

    <python> -m apercite_analytics read <reader> --write --since <start> --until <end> -c <config>
    <python> -m apercite_analytics rollup --since <start> --until <end> -c <config>

where <start> and <end> are the run's data interval. So this file imports neither our package nor
its extras (it parses on any Airflow 3 DAG processor), and a run, a backfill or a cleared task reads
exactly its hour [data_interval_start, data_interval_end): `CronDataIntervalTimetable`, because in
Airflow 3 a plain cron `schedule` gives zero-length intervals. The task list is the config's
`[readers.*]` sections, read with `tomllib` when the DAG is parsed. Tasks run in the config file's
directory, as from cron, so relative SQLite paths in the config mean the same thing. Tested with
Airflow 3.3.2.

Settings (an Airflow Variable, else the environment variable, else the default):

    apercite_config      APERCITE_CONFIG      the config file (required)
    apercite_python      APERCITE_PYTHON      the Python that has apercite-analytics installed (python3)
    apercite_start_date  APERCITE_START_DATE  the first hour to run, UTC (2026-11-01); with catchup,
                                              every hour since then is run once the DAG is unpaused
    apercite_lookback    APERCITE_LOOKBACK    also re-read this much before each interval ("3h", "2d";
                                              default none): for sources whose recent hours still
                                              change (late rows, GA4's processing delay)
    apercite_report_args APERCITE_REPORT_ARGS what the weekly `report` task does (--email)

A second DAG, `apercite_analytics_report`, sends the KPI report of each ISO week (Monday to
Sunday, UTC) on Monday at 06:30 UTC: `report --since <Monday before> --until <this Monday>
--email`, the week read from the run's data interval, so a cleared run re-sends the same week.

Exit statuses: 1 (a reader or the store failed) is retried with exponential backoff; 2 (a usage or
configuration error) fails the task at once, because retrying cannot fix a config file. The rollup
runs when every reader is done, even if one failed (the others' values are in the store), and
`fail_if_a_reader_failed` keeps such a run marked failed. See docs/scheduling.md.
"""

from __future__ import annotations

import os
import re
import shlex
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path

from airflow.providers.standard.operators.bash import BashOperator
from airflow.sdk import DAG, TriggerRule, Variable, task
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

try:
    from airflow.sdk import CronDataIntervalTimetable
except ImportError:  # older Airflow 3 releases have it only here
    from airflow.timetables.interval import CronDataIntervalTimetable

DAG_ID = "apercite_analytics"
REPORT_DAG_ID = "apercite_analytics_report"
DEFAULT_START_DATE = "2026-11-01"
EXIT_USAGE = 2  # our CLI's exit status for a usage or configuration error


def setting(variable: str, environment: str, default: str | None = None) -> str | None:
    """An Airflow Variable, else the environment variable, else `default`."""
    try:
        value = Variable.get(variable, default=None)
    except Exception:  # noqa: BLE001 — no Airflow API here (e.g. a bare DagBag): fall back to the environment
        value = None
    return value or os.environ.get(environment) or default


def config_path() -> Path:
    """The config file: absolute, because the DAG processor's and the workers' working directories differ."""
    value = setting("apercite_config", "APERCITE_CONFIG")
    if not value:
        raise ValueError("no config: set the Airflow Variable apercite_config or $APERCITE_CONFIG to the config file")
    path = Path(value).expanduser()
    if not path.is_absolute():
        raise ValueError(f"apercite_config / $APERCITE_CONFIG: {value!r} must be an absolute path")
    return path


def configured_readers(config: Path) -> list[str]:
    """The `[readers.<name>]` sections, in file order (each task's CLI checks the config in full)."""
    try:
        document = tomllib.loads(config.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"{config}: no such config file (Variable apercite_config, $APERCITE_CONFIG)") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{config}: cannot read the config: {exc}") from None
    readers = document.get("readers")
    if not isinstance(readers, dict) or not readers:
        raise ValueError(f"{config}: no [readers.<name>] section: nothing to schedule")
    return list(readers)


def interval(lookback: str | None) -> str:
    """`--since/--until` as Jinja templates of the run's data interval, `--since` moved back by `lookback`."""
    until = "--until {{ data_interval_end | ts }}"
    if not lookback:
        return "--since {{ data_interval_start | ts }} " + until
    match = re.fullmatch(r"\s*(\d+)\s*([hd])\s*", lookback)
    if not match:
        raise ValueError(f'apercite_lookback / $APERCITE_LOOKBACK: {lookback!r} is not a duration like "3h" or "2d"')
    hours = int(match[1]) * (24 if match[2] == "d" else 1)
    return f"--since {{{{ (data_interval_start - macros.timedelta(hours={hours})) | ts }}}} {until}"


def start_date(text: str) -> datetime:
    """`2026-11-01` or `2026-11-01T06:00`, UTC unless an offset is given."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"apercite_start_date / $APERCITE_START_DATE: {text!r} is not a date or time") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


class AperciteCommand(BashOperator):
    """A BashOperator running our CLI, whose exit status 2 (configuration error) fails the task without retries.

    It uses BashOperator's documented `skip_on_exit_code` to see that status and turns the skip into a
    failure: a skipped task would hide a broken config, and a retry would only fail again.
    """

    def __init__(self, **kwargs) -> None:
        super().__init__(skip_on_exit_code=EXIT_USAGE, **kwargs)

    def execute(self, context):
        try:
            return super().execute(context)
        except AirflowSkipException:
            raise AirflowFailException(
                f"exit status {EXIT_USAGE}: a usage or configuration error (the line above names it); not retried"
            ) from None


CONFIG = config_path()
PYTHON = setting("apercite_python", "APERCITE_PYTHON", "python3")
START_DATE = start_date(setting("apercite_start_date", "APERCITE_START_DATE", DEFAULT_START_DATE))
INTERVAL = interval(setting("apercite_lookback", "APERCITE_LOOKBACK"))
CLI = f"{shlex.quote(PYTHON)} -m apercite_analytics"
CONFIG_ARG = f"-c {shlex.quote(str(CONFIG))}"

with DAG(
    dag_id=DAG_ID,
    description="apercite-analytics: every configured reader for the hour, then the rollups",
    doc_md=__doc__,
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
    start_date=START_DATE,
    catchup=True,  # every hour since start_date is run (max_active_runs at a time): no silent gaps
    max_active_runs=1,  # hours in order: watermarks follow, a catch-up does not flood the sources
    tags=["apercite-analytics"],
    default_args={
        "retries": 3,
        "retry_delay": timedelta(minutes=2),
        "retry_exponential_backoff": 2.0,  # 2, 4, 8 minutes
        "max_retry_delay": timedelta(minutes=20),
        "execution_timeout": timedelta(minutes=50),
    },
) as dag:
    readers = [
        AperciteCommand(
            task_id=f"read_{reader}",
            bash_command=f"{CLI} read {shlex.quote(reader)} --write {INTERVAL} {CONFIG_ARG}",
            cwd=str(CONFIG.parent),
        )
        for reader in configured_readers(CONFIG)
    ]
    rollup = AperciteCommand(
        task_id="rollup",
        bash_command=f"{CLI} rollup {INTERVAL} {CONFIG_ARG}",
        cwd=str(CONFIG.parent),
        trigger_rule=TriggerRule.ALL_DONE,  # refresh from what was written, even if one reader failed
    )

    @task(trigger_rule=TriggerRule.ONE_FAILED, retries=0)
    def fail_if_a_reader_failed() -> None:
        """The rollup (all_done) would otherwise make a run with a failed reader look successful."""
        raise AirflowException("a reader failed in this run (see its task); the rollup ran on what was written")

    readers >> rollup
    readers >> fail_if_a_reader_failed()

REPORT_ARGS = setting("apercite_report_args", "APERCITE_REPORT_ARGS", "--email")
WEEK = "--since {{ (data_interval_end - macros.timedelta(days=7)) | ds }} --until {{ data_interval_end | ds }}"

with DAG(
    dag_id=REPORT_DAG_ID,
    description="apercite-analytics: the weekly KPI report (e-mail, webhook or files)",
    schedule=CronDataIntervalTimetable("30 6 * * 1", timezone="UTC"),  # Mondays 06:30: Sunday is in the store
    start_date=START_DATE,
    catchup=False,  # unpausing sends last week's report, not one per week since start_date
    max_active_runs=1,
    tags=["apercite-analytics"],
    default_args={"retries": 2, "retry_delay": timedelta(minutes=10), "execution_timeout": timedelta(minutes=20)},
) as report_dag:
    AperciteCommand(
        task_id="report",
        bash_command=f"{CLI} report {WEEK} {REPORT_ARGS} {CONFIG_ARG}",
        cwd=str(CONFIG.parent),
    )
