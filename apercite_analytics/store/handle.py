"""`Store`: the one object a run talks to about the metric store.

It owns the engine (opened once, disposed once) and offers what a run does with the store, in
the order a run does it: make it ready, lock the readers, close runs that died, open the run
log, load watermarks, write values, save watermarks, sync the dictionary, roll up, close the
run log. The modules behind it each own one table or one job; nothing else is handed an engine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from apercite_analytics.dictionary.definitions import Dictionary
from apercite_analytics.store import definitions, reads, rollup, runlog, schema
from apercite_analytics.store.locks import RunLocks
from apercite_analytics.store.values import MetricStore
from apercite_analytics.store.watermarks import Watermarks


class Store:
    """An open metric store (use as a context manager, or call `close()`)."""

    def __init__(self, url: str) -> None:
        self.engine = schema.open_engine(url)

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self.engine.dispose()

    def describe(self) -> str:
        return schema.describe(self.engine)

    def prepare(self) -> str | None:
        """Initialise an empty store, or demand an up-to-date one; a line to show when it initialised."""
        return schema.ensure_ready(self.engine)

    def lock(self, readers: list[str], wait: float) -> RunLocks:
        """The run locks of `readers` (a context manager; waits up to `wait` seconds)."""
        return RunLocks(self.engine, readers, wait)

    def close_abandoned(self, readers: list[str]) -> list[int]:
        return runlog.close_abandoned(self.engine, readers)

    def start_run(self, command: str, readers: list[str], started_at: datetime) -> int:
        return runlog.start(self.engine, command, readers, started_at)

    def finish_run(self, run_id: int, **outcome: Any) -> None:
        runlog.finish(self.engine, run_id, **outcome)

    def watermarks(self) -> Watermarks:
        return Watermarks.load(self.engine)

    def save_watermarks(self, marks: Watermarks, allowed: Callable[[str, str], bool]) -> int:
        return marks.commit(self.engine, allowed)

    def values(self) -> MetricStore:
        """A fresh value writer (its metric-id cache and counts last one run)."""
        return MetricStore(self.engine)

    def sync_dictionary(self, dictionary: Dictionary) -> definitions.SyncResult:
        return definitions.sync(self.engine, dictionary)

    def roll_up(self, days: Iterable[date], *, find_uncovered: bool = True) -> rollup.RollupResult:
        return rollup.roll_up(self.engine, days, find_uncovered=find_uncovered)

    def last_success(self) -> dict[str, datetime]:
        return runlog.last_success(self.engine)

    def metric_names(self) -> list[str]:
        """Every metric name the store has (none in a store never migrated)."""
        return definitions.stored_names(self.engine)

    def report_reader(self) -> reads.ReportReader:
        """Reads for the KPI report: values of some metrics over a range, the job's health."""
        return reads.ReportReader(self.engine)
