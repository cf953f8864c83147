"""The only module that knows both sources and store: builds the Bonobo graph, runs it, judges it.

    reader chains ──► records (SetFields) ──► normalize ──► hourly writer   (records with an hour)
                                                         └─► daily writer    (records without)
                                             without --write: ──► printer

Nodes are plain callables. They ask for services by keyword-only parameter name (`sources`,
`store`, `state`), which is how Bonobo injects them here; a node with a `close()` is closed, with the
same services, when its input ends (writers flush their last batch there). A node that raises is
counted (`err`) and reported in one line; the other chains go on. A run with any node error,
any defunct node or any rejected value is a failed run.

Reader watermarks (`state.py`) proposed during the run are committed after the graph ended, only
if the writers had no error and only for readers whose chain had none.
"""

from __future__ import annotations

import inspect
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import Any

import bonobo
from bonobo.config import use
from bonobo.execution import events
from bonobo.execution.contexts.graph import GraphExecutionContext
from bonobo.execution.contexts.node import NodeExecutionContext
from bonobo.execution.strategies import ThreadPoolExecutorStrategy
from bonobo.util import get_name

from apercite_analytics import compat, dictionary, dictionary_store, rollup, runlog, selfmetrics, store
from apercite_analytics.config import Settings
from apercite_analytics.errors import AnalyticsError, ConfigError, StoreError
from apercite_analytics.lock import RunLocks
from apercite_analytics.normalize import Normalizer
from apercite_analytics.readers import available
from apercite_analytics.redact import scrub
from apercite_analytics.sources import Sources
from apercite_analytics.state import Watermarks
from apercite_analytics.window import Window, utcnow
from apercite_analytics.writers.printer import TablePrinter
from apercite_analytics.writers.upsert import MetricStore, UpsertWriter

log = logging.getLogger("apercite_analytics")
compat.apply()
RECORD_FIELDS = ["dims", "metrics"]
MAX_REJECTIONS_SHOWN = 20
MAX_ERRORS_SHOWN = 10  # per node: a node failing on every record must not flood the log
PROGRESS_EVERY = 10.0


def select_readers(settings: Settings, names: Iterable[str]) -> list[str]:
    """The readers to run: `all` means every configured one (saying which are skipped)."""
    modules = available()
    names = list(dict.fromkeys(names))
    where = settings.path or "the config"
    if "all" in names:
        for name in sorted(set(modules) - set(settings.readers)):
            log.info("%s: not configured (no [readers.%s] in %s), skipped", name, name, where)
        chosen = [n for n in sorted(modules) if n in settings.readers]
        if not chosen:
            raise ConfigError(f"{where}: no reader is configured (add a [readers.<name>] section)")
        return chosen
    for name in names:
        if name not in modules:
            raise ConfigError(f"unknown reader {name!r} (known: {', '.join(sorted(modules))}, all)")
        if name not in settings.readers:
            raise ConfigError(f"reader {name!r} is not configured: {where} has no [readers.{name}] section")
    return names


def reader_chains(settings: Settings, readers: list[str], window: Window) -> dict[str, list]:
    modules = available()
    chains: dict[str, list] = {}
    for name in readers:
        if window.backfill and not modules[name].BACKFILL:
            log.info("%s: reads current values only; --since/--until do not apply to it", name)
        chains.update(modules[name].chains(settings.readers[name], window))
    return chains


def build_graph(
    chains: dict[str, list], normalizer: Callable, sinks: list[Callable], services: Iterable[str]
) -> bonobo.Graph:
    """Wire the reader chains into normalize and the sinks; attach each node's services."""
    services = set(services)
    graph = bonobo.Graph()
    graph.add_chain(bonobo.SetFields(RECORD_FIELDS), _input=None, _name="records")
    graph.add_chain(normalizer, _input="records", _name="normalize")
    for sink in sinks:
        graph.add_chain(_with_services(sink, services), _input="normalize")
    for nodes in chains.values():
        graph.add_chain(*(_with_services(n, services) for n in nodes), _output="records")
    return graph


def _with_services(node: Callable, services: set[str]) -> Callable:
    wanted = [
        p.name
        for p in inspect.signature(node).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name in services
    ]
    return use(*wanted)(node) if wanted else node


def reader_of(chain: str) -> str:
    """Chains are named `<reader>` or `<reader>.<part>`."""
    return chain.split(".", 1)[0]


@dataclass
class NodeStats:
    name: str
    read: int
    wrote: int
    errors: int
    defunct: bool
    killed: bool = False
    chain: str | None = None  # None for normalize and the sinks

    @property
    def failed(self) -> bool:
        return bool(self.errors or self.defunct or self.killed)

    def as_dict(self) -> dict[str, Any]:
        return {
            "node": self.name,
            "in": self.read,
            "out": self.wrote,
            "err": self.errors,
            "defunct": self.defunct,
            "killed": self.killed,
        }


@dataclass
class RunResult:
    """What a run did, for the summary, the run log and the exit status."""

    readers: list[str]
    write: bool
    nodes: list[NodeStats] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # the first errors of each node, as shown
    errors: int = 0  # all node errors
    rejected: int = 0
    written: dict[str, int] = field(default_factory=dict)
    metrics_created: int = 0
    printed: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    watermarks_moved: int = 0
    report: list[str] = field(default_factory=list)  # summary lines before the verdict (rollups, dictionary)

    def watermark_ok(self, reader: str, key: str) -> bool:
        """Whether a watermark proposal may be saved: its own chain (`<reader>.<key>`, as the
        prometheus and google_analytics readers name them) had no error, or, for a reader whose
        chains are not named by key, none of the reader's chains had one."""
        chains = [n for n in self.nodes if n.chain is not None and reader_of(n.chain) == reader]
        own = [n for n in chains if n.chain == f"{reader}.{key}"]
        return not any(n.failed for n in (own or chains))

    def reader_status(self) -> dict[str, tuple[bool, int, int]]:
        """Per reader: (ok, records out of its chain, errors in its chain)."""
        status: dict[str, tuple[bool, int, int]] = {r: (True, 0, 0) for r in self.readers}
        last: dict[str, NodeStats] = {}
        for node in self.nodes:
            if node.chain is None:
                continue
            reader = reader_of(node.chain)
            ok, records, errors = status.get(reader, (True, 0, 0))
            status[reader] = (ok and not node.failed, records, errors + node.errors)
            last[node.chain] = node
        for chain, node in last.items():
            ok, records, errors = status[reader_of(chain)]
            status[reader_of(chain)] = (ok, records + node.wrote, errors)
        return status

    @property
    def ok(self) -> bool:
        return not self.errors and not self.rejected and not any(n.failed for n in self.nodes)


class Reporter:
    """Collects node failures and rejected values; logs each failure and the first rejections."""

    def __init__(self) -> None:
        self.failures: list[str] = []
        self.errors_by_node: dict[str, int] = {}
        self._shown = 0
        self._lock = threading.Lock()

    def failed(self, node: str, exc: BaseException) -> None:
        """Record a node's error; the first MAX_ERRORS_SHOWN of each node are logged and kept."""
        if isinstance(exc, AnalyticsError):
            message = scrub(str(exc))
        else:  # a bug or an error we did not foresee: keep the type, traceback with -v
            message = scrub(f"{type(exc).__name__}: {exc}".splitlines()[0])
        with self._lock:
            count = self.errors_by_node[node] = self.errors_by_node.get(node, 0) + 1
            if count <= MAX_ERRORS_SHOWN:
                self.failures.append(f"{node}: {message}")
        if count <= MAX_ERRORS_SHOWN:
            if not isinstance(exc, AnalyticsError):
                log.debug("%s: traceback", node, exc_info=exc)
            log.error("%s: %s", node, message)
        elif count == MAX_ERRORS_SHOWN + 1:
            log.error("%s: more errors not shown (the count is in the summary)", node)

    def rejected(self, reason: str) -> None:
        with self._lock:
            self._shown += 1
            shown = self._shown
        if shown <= MAX_REJECTIONS_SHOWN:
            log.warning("normalize: %s", scrub(reason))
        elif shown == MAX_REJECTIONS_SHOWN + 1:
            log.warning("normalize: more rejections not shown (the count is in the summary)")


def _context_type(reporter: Reporter) -> type[GraphExecutionContext]:
    """Bonobo contexts that report errors through `reporter` (one line, no traceback) and close nodes."""

    class NodeContext(NodeExecutionContext):
        _closed = False

        def error(self, exc_info, *, level=logging.ERROR):
            self.increment("err")
            reporter.failed(get_name(self.wrapped), exc_info[1])

        def fatal(self, exc_info, *, level=logging.CRITICAL):
            self.increment("err")
            self._defunct = True
            reporter.failed(get_name(self.wrapped), exc_info[1])
            self.input.shutdown()

        def stop(self):
            close = getattr(self.wrapped, "close", None)
            if close is not None and self.started and not self._closed:
                self._closed = True
                try:
                    close(**self.parent.services.kwargs_for(self.wrapped))
                except Exception:  # noqa: BLE001 — reported like any node error
                    self.fatal(sys.exc_info())
            super().stop()

    class GraphContext(GraphExecutionContext):
        NodeExecutionContextType = NodeContext

    return GraphContext


class ProgressPlugin:
    """A status line every PROGRESS_EVERY seconds on long runs (per node in/out/err)."""

    def __init__(self, every: float | None = None):
        self.every = PROGRESS_EVERY if every is None else every
        self.last = time.monotonic()

    def register(self, dispatcher):
        dispatcher.add_listener(events.TICK, self.tick)

    def unregister(self, dispatcher):
        dispatcher.remove_listener(events.TICK, self.tick)

    def tick(self, event):
        if time.monotonic() - self.last >= self.every:
            self.last = time.monotonic()
            parts = [
                f"{get_name(n.wrapped)} {n.statistics['in']}/{n.statistics['out']}/{n.statistics['err']}"
                for n in event.context.nodes
                if n.wrapped is not event.context.graph[0]
            ]
            log.info("progress (in/out/err): %s", ", ".join(parts))


def execute(settings: Settings, readers: list[str], window: Window, *, write: bool, command: str = "") -> RunResult:
    """Run the selected readers once: into the store with `write`, else printed."""
    return run_chains(settings, reader_chains(settings, readers, window), readers, write=write, command=command)


def run_chains(
    settings: Settings, chains: dict[str, list], readers: list[str], *, write: bool, command: str = ""
) -> RunResult:
    """Run reader chains through normalize into the writers (or the printer) and judge the run."""
    result = RunResult(readers=readers, write=write)
    reporter = Reporter()
    normalizer = Normalizer(on_reject=reporter.rejected)
    sources = Sources(settings.sources)
    services: dict[str, Any] = {"sources": sources, "state": Watermarks()}
    engine = metric_store = run_id = None
    started = time.monotonic()
    started_at = utcnow()
    exits = ExitStack()
    try:
        if write:
            metrics_dictionary = dictionary.configured(settings)
            engine = store.open_engine(settings.store.url)
            note = store.ensure_ready(engine)
            if note:
                log.info("%s", note)
                result.notes.append(note)
            exits.enter_context(RunLocks(engine, readers, settings.store.lock_wait))
            abandoned = runlog.close_abandoned(engine, readers)
            if abandoned:
                log.warning(
                    "run %s never finished (killed?): marked abandoned; what it committed stays, "
                    "this run reads its hours again",
                    ", ".join(map(str, abandoned)),
                )
            if metrics_dictionary is not None:
                dictionary_store.sync(engine, metrics_dictionary)
            metric_store = services["store"] = MetricStore(engine)
            services["state"] = Watermarks.load(engine)
            sinks: list[Callable] = [UpsertWriter(kind, settings.store.batch_size) for kind in ("hourly", "daily")]
            run_id = runlog.start(engine, command, readers, started_at)
        else:
            sinks = [TablePrinter()]
        graph = build_graph(chains, normalizer, sinks, services)
        strategy = ThreadPoolExecutorStrategy(_context_type(reporter))
        try:
            context = bonobo.run(graph, services=services, strategy=strategy, plugins=[ProgressPlugin()])
        except BaseException as exc:  # interrupted: the run log must not say "running" forever
            if run_id is not None:
                runlog.finish(
                    engine,
                    run_id,
                    ok=False,
                    hourly_rows=metric_store.written["hourly_value"],
                    daily_rows=metric_store.written["daily_value"],
                    rejected=normalizer.rejected,
                    errors=[*reporter.failures, f"run interrupted: {type(exc).__name__}"],
                    nodes=[],
                )
            raise
        chain_of = {id(node): name for name, nodes in chains.items() for node in nodes}
        stats = [
            NodeStats(
                get_name(n.wrapped),
                n.statistics["in"],
                n.statistics["out"],
                n.statistics["err"],
                n.defunct,
                n.killed,
                chain_of.get(id(n.wrapped)),
            )
            for n in context.nodes
            if n.wrapped is not graph[0]
        ]
        result.nodes = stats[1 + len(sinks) :] + stats[: 1 + len(sinks)]  # readers, then normalize and sinks
        for node in result.nodes:
            if node.name == normalizer.__name__:
                node.errors = normalizer.rejected
        result.failures = list(reporter.failures)
        result.errors = sum(reporter.errors_by_node.values())
        result.rejected = normalizer.rejected
        if metric_store is not None:
            result.written = dict(metric_store.written)
            result.metrics_created = metric_store.created
        else:
            result.printed = sinks[0].lines
        if write and not any(n.failed for n in result.nodes if n.chain is None and n.name != normalizer.__name__):
            result.watermarks_moved = services["state"].commit(engine, result.watermark_ok)
        if write:
            rollup.after_run(engine, metrics_dictionary, metric_store, result)
        result.seconds = time.monotonic() - started
        if write and settings.monitoring.store:
            try:
                MetricStore(engine).upsert("hourly", selfmetrics.store_values(result, started_at))
            except StoreError as exc:
                reporter.failed("monitoring", exc)
                result.failures.append(f"monitoring: {exc}")
                result.errors += 1
        if run_id is not None:
            runlog.finish(
                engine,
                run_id,
                ok=result.ok,
                hourly_rows=result.written["hourly_value"],
                daily_rows=result.written["daily_value"],
                rejected=result.rejected,
                errors=result.failures,
                nodes=[n.as_dict() for n in result.nodes],
                readers=result.reader_status(),
            )
        if write and settings.monitoring.textfile:
            content = selfmetrics.textfile(result, utcnow(), selfmetrics.last_success(engine))
            selfmetrics.write_textfile(settings.monitoring.textfile, content)
        return result
    finally:
        exits.close()
        sources.close()
        if engine is not None:
            engine.dispose()
