"""The job's own metrics: how each `read --write` run went, for dashboards and alerting.

Two outputs, both written after the run was judged:

* hourly values `etl.*` in the metric store, in the hour the run started (a later run in the
  same hour rewrites them: they describe the latest run of that hour);
* a Prometheus text-format file for node_exporter's textfile collector (`[monitoring] textfile`),
  written to a temporary file and renamed, so the collector never reads half a file. Per-reader
  "last success" comes from the store's `run_reader` table, so the file is complete even when
  each reader runs as its own process (Airflow).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from apercite_analytics.config.secrets import scrub
from apercite_analytics.errors import StoreError, escape_control
from apercite_analytics.files import write_atomic

if TYPE_CHECKING:
    from apercite_analytics.run.result import RunResult


def store_values(result: RunResult, started: datetime) -> dict[tuple[str, object, int], float]:
    """`{(name, date, hour): value}` of the run's `etl.*` metrics, in the hour it started."""
    key = (started.date(), started.hour)
    written = sum(result.written.values())
    values = {
        "etl.run.seconds": round(result.seconds, 3),
        "etl.run.values": written,
        "etl.run.errors": result.errors,
        "etl.run.rejected": result.rejected,
    }
    for reader, (ok, records, errors) in result.reader_status().items():
        values[f"etl.reader.{reader}.records"] = records
        values[f"etl.reader.{reader}.errors"] = errors
        values[f"etl.reader.{reader}.ok"] = 1 if ok else 0
    return {(name, *key): value for name, value in values.items()}


def _escape(value: str) -> str:
    """A label value as the text format quotes it; no secret, no raw control character."""
    return escape_control(scrub(value).replace("\\", "\\\\").replace('"', '\\"'))


def textfile(result: RunResult, finished: datetime, successes: dict[str, datetime]) -> str:
    """The Prometheus text exposition of the run and of every reader's last success."""
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, samples: list[tuple[dict[str, str], float]]) -> None:
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
            number = repr(float(value)) if isinstance(value, float) else str(int(value))
            lines.append(f"{name}{{{label_text}}} {number}" if label_text else f"{name} {number}")

    metric(
        "apercite_run_finished_timestamp_seconds",
        "gauge",
        "When the latest run finished.",
        [({}, finished.timestamp())],
    )
    metric("apercite_run_success", "gauge", "1 if the latest run had no error, else 0.", [({}, int(result.ok))])
    metric("apercite_run_duration_seconds", "gauge", "Duration of the latest run.", [({}, round(result.seconds, 3))])
    metric(
        "apercite_run_values_written",
        "gauge",
        "Values the latest run wrote, per table.",
        [({"table": table}, count) for table, count in sorted(result.written.items())],
    )
    metric("apercite_run_errors", "gauge", "Node errors in the latest run.", [({}, result.errors)])
    metric("apercite_run_rejected", "gauge", "Values the latest run rejected.", [({}, result.rejected)])
    status = result.reader_status()
    metric(
        "apercite_reader_last_run_success",
        "gauge",
        "1 if the reader's latest run had no error, else 0.",
        [({"reader": reader}, int(ok)) for reader, (ok, _, _) in sorted(status.items())],
    )
    metric(
        "apercite_reader_records",
        "gauge",
        "Records the reader yielded in its latest run.",
        [({"reader": reader}, records) for reader, (_, records, _) in sorted(status.items())],
    )
    metric(
        "apercite_reader_last_success_timestamp_seconds",
        "gauge",
        "When the reader last finished without error.",
        [({"reader": reader}, moment.timestamp()) for reader, moment in sorted(successes.items())],
    )
    return "\n".join(lines) + "\n"


def write_textfile(path: str | Path, content: str) -> None:
    """Replace the textfile atomically (node_exporter never reads half of it)."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, content)
    except OSError as exc:
        raise StoreError(f"monitoring.textfile: cannot write {path}: {exc.strerror or exc}") from None
