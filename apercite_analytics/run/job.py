"""A run, as the steps it takes: the only module that knows both the readers and the store.

    open the store ─► prepare it ─► lock the readers ─► close runs that died ─► open the run log
      ─► run the graph (engine.py) ─► drop colliding keys ─► save watermarks
      ─► sync the dictionary and roll up ─► one verdict: the monitoring textfile, the job's own
         metrics, the run log

Without `--write` only the graph runs, into the printer: nothing is loaded, locked or saved.

Reader watermarks proposed during the run are saved after the graph ended, only if the writers
had no error and only for chains that had none (`RunResult.watermark_ok`), so a run that dies or
fails never moves a watermark past data that is not in the store.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from apercite_analytics.config.settings import Settings
from apercite_analytics.dictionary import definitions
from apercite_analytics.dictionary.definitions import Dictionary
from apercite_analytics.errors import AnalyticsError, SourceError, StoreError
from apercite_analytics.readers.common.sources import Sources
from apercite_analytics.record import Normalizer
from apercite_analytics.run import engine, selfmetrics
from apercite_analytics.run.guard import guard
from apercite_analytics.run.plan import reader_chains, select_readers
from apercite_analytics.run.result import Reporter, RunResult
from apercite_analytics.store.handle import Store
from apercite_analytics.store.rollup import names
from apercite_analytics.store.values import MetricStore
from apercite_analytics.store.watermarks import Watermarks
from apercite_analytics.window import Window, utcnow
from apercite_analytics.writers.claims import Claims
from apercite_analytics.writers.printer import TablePrinter
from apercite_analytics.writers.upsert import UpsertWriter

__all__ = ["Window", "execute", "reader_chains", "run_chains", "select_readers"]
log = logging.getLogger("apercite_analytics")


def execute(
    settings: Settings, readers: list[str], window: Window, *, write: bool, command: str = "", only: list[str] = ()
) -> RunResult:
    """Run the selected readers once (with `only`, the chains named `reader.chain` in it): into the
    store with `write`, else printed."""
    chains = reader_chains(settings, readers, window, only)
    return run_chains(settings, chains, readers, write=write, command=command)


def run_chains(
    settings: Settings, chains: dict[str, list], readers: list[str], *, write: bool, command: str = ""
) -> RunResult:
    """Run reader chains through normalize into the writers (or the printer) and judge the run."""
    run = _Run(settings, chains, readers, write)
    return run.into_store(command) if write else run.printed()


class _Run:
    """One run's state while its steps go by; each step is one method."""

    def __init__(self, settings: Settings, chains: dict[str, list], readers: list[str], write: bool) -> None:
        self.settings, self.chains, self.readers = settings, chains, readers
        self.result = RunResult(readers=readers, write=write)
        self.reporter = Reporter()
        self.normalizer = Normalizer(on_reject=self.reporter.rejected)
        self.started = time.monotonic()
        self.started_at = utcnow()
        self.claims = Claims()  # which chain gave which (metric, hour): two chains giving one is an error

    def printed(self) -> RunResult:
        printer = TablePrinter()
        with Sources(self.settings.sources) as sources:
            self.run_graph([printer], {"sources": sources, "state": Watermarks()})
        self.result.printed = printer.lines
        self.result.seconds = time.monotonic() - self.started
        return self.result

    def into_store(self, command: str) -> RunResult:
        dictionary = definitions.configured(self.settings)  # a bad definition file stops us before any write
        with Store(self.settings.store.url) as store, Sources(self.settings.sources) as sources:
            self.prepare(store)
            with store.lock(self.readers, self.settings.store.lock_wait):
                self.close_abandoned(store)
                values, marks = store.values(), store.watermarks()
                run_id = store.start_run(command, self.readers, self.started_at)
                batch = self.settings.store.batch_size
                sinks: list[Callable] = [
                    UpsertWriter("hourly", batch, self.claims),
                    UpsertWriter("daily", batch, self.claims),
                ]
                try:
                    self.run_graph(sinks, {"sources": sources, "store": values, "state": marks})
                except BaseException as exc:  # interrupted: the run log must not say "running" forever
                    self.close_run_log(store, run_id, values, interrupted=exc)
                    raise
                self.remove_collisions(values)
                self.count_written(values)
                self.save_watermarks(store, marks)
                self.roll_up(store, dictionary, values)
                self.report_verdict(store, run_id, values)
        return self.result

    def prepare(self, store: Store) -> None:
        note = store.prepare()
        if note:
            log.info("%s", note)
            self.result.notes.append(note)

    def close_abandoned(self, store: Store) -> None:
        abandoned = store.close_abandoned(self.readers)
        if abandoned:
            log.warning(
                "run %s never finished (killed?): marked abandoned; what it committed stays, "
                "this run reads its hours again",
                ", ".join(map(str, abandoned)),
            )

    def run_graph(self, sinks: list[Callable], services: dict[str, Any]) -> None:
        """Run the chains (each until the run deadline, its records claimed) into the sinks."""
        result = self.result
        deadline = self.settings.run.deadline
        chains = guard(self.chains, self.claims, self.started + deadline, deadline)
        result.nodes = engine.run(chains, self.normalizer, sinks, services, self.reporter)
        for node in result.nodes:
            if node.name == self.normalizer.__name__:
                node.errors = self.normalizer.rejected
        result.failures = list(self.reporter.failures)
        result.errors = sum(self.reporter.errors_by_node.values())
        result.rejected = self.normalizer.rejected
        for collision in self.claims.collisions.values():  # both chains failed: neither moves its watermark
            self.failed("collision", SourceError(collision.line()))
            for node in result.nodes:
                if node.chain in (collision.first, collision.second):
                    node.errors += 1

    def remove_collisions(self, values: MetricStore) -> None:
        """A colliding key the writers flushed before the second chain gave it is removed: the run
        leaves neither chain's value (which one is right is a guess)."""
        for kind in ("hourly", "daily"):
            keys = self.claims.keys(kind == "hourly")
            if keys:
                try:
                    values.remove(kind, keys)
                except StoreError as exc:
                    self.failed("collision", exc)

    def count_written(self, values: MetricStore) -> None:
        self.result.written = dict(values.written)
        self.result.changed = dict(values.changed)
        self.result.metrics_created = values.created

    def save_watermarks(self, store: Store, marks: Watermarks) -> None:
        writers = [n for n in self.result.nodes if n.chain is None and n.name != self.normalizer.__name__]
        if not any(n.failed for n in writers):
            self.result.watermarks_moved = store.save_watermarks(marks, self.result.watermark_ok)

    def roll_up(self, store: Store, dictionary: Dictionary | None, values: MetricStore) -> None:
        """Describe the metrics this run created, roll up the days it wrote hours for, and say
        which metrics it wrote that no definition covers (the dictionary is synced once a run)."""
        report = self.result.report
        if dictionary is None:
            report.append('dictionary: none configured ([dictionary] path = "metrics"): no daily rollups')
            return
        try:
            store.sync_dictionary(dictionary)
            rolled = store.roll_up(values.hourly_days, find_uncovered=False)
        except AnalyticsError as exc:
            self.failed("rollup", exc)
            return
        written = sorted(values.ids)
        uncovered = [n for n in written if dictionary.match(n) is None]
        removed = [n for n in written if (found := dictionary.match(n)) is not None and found.status == "removed"]
        if values.hourly_days:
            report.append(rolled.line())
        if uncovered:
            report.append(
                f"not in the dictionary: {names(uncovered, 'metric')} written; no description, no daily rollup"
            )
        if removed:
            report.append(f"removed from the dictionary but still written: {names(removed, 'metric')}")

    def report_verdict(self, store: Store, run_id: int, values: MetricStore) -> None:
        """Write the run's one verdict everywhere: the textfile, the job's own metrics, the run log
        (and, from the result, the summary and the exit status). A step that fails here fails the
        run, and what was already written with the earlier verdict is written again."""
        self.result.seconds = time.monotonic() - self.started
        textfile = self.write_textfile(store)
        was_ok = self.result.ok
        self.store_own_metrics(store)
        if textfile and self.result.ok != was_ok:
            self.write_textfile(store)
        try:
            self.close_run_log(store, run_id, values)
        except StoreError as exc:  # the run log cannot say it: the summary, the textfile and the exit status do
            self.failed("run log", exc)
            if textfile:
                self.write_textfile(store)

    def store_own_metrics(self, store: Store) -> None:
        if self.settings.monitoring.store:
            try:
                store.values().upsert("hourly", selfmetrics.store_values(self.result, self.started_at))
            except StoreError as exc:
                self.failed("monitoring", exc)

    def close_run_log(
        self, store: Store, run_id: int, values: MetricStore, interrupted: BaseException | None = None
    ) -> None:
        result = self.result
        if interrupted is not None:
            store.finish_run(
                run_id,
                ok=False,
                hourly_rows=values.written["hourly_value"],
                daily_rows=values.written["daily_value"],
                rejected=self.normalizer.rejected,
                errors=[*self.reporter.failures, f"run interrupted: {type(interrupted).__name__}"],
                nodes=[],
            )
            return
        store.finish_run(
            run_id,
            ok=result.ok,
            hourly_rows=result.written["hourly_value"],
            daily_rows=result.written["daily_value"],
            rejected=result.rejected,
            errors=result.failures,
            nodes=[n.as_dict() for n in result.nodes],
            readers=result.reader_status(),
        )

    def write_textfile(self, store: Store) -> bool:
        """The monitoring textfile, written before the run log is closed so that a failure to write
        it is part of the verdict; whether it was written (False also when none is configured)."""
        if not self.settings.monitoring.textfile:
            return False
        try:
            successes = store.last_success()
            finished = utcnow()
            for reader, (ok, _, _) in self.result.reader_status().items():
                if ok and self.result.write:
                    successes[reader] = finished  # this run's, not in run_reader before the log is closed
            content = selfmetrics.textfile(self.result, finished, successes)
            selfmetrics.write_textfile(self.settings.monitoring.textfile, content)
        except StoreError as exc:
            self.failed("monitoring", exc)
            return False
        return True

    def failed(self, step: str, exc: AnalyticsError) -> None:
        """A step after the graph failed: logged and counted like a node error."""
        self.reporter.failed(step, exc)
        self.result.failures.append(f"{step}: {exc}")
        self.result.errors += 1
