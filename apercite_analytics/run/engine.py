"""The only module that imports Bonobo: wires reader chains into normalize and the sinks, runs the
graph, and turns Bonobo's node contexts into our `NodeStats`.

    reader chains ──► normalize ──► hourly writer   (records with an hour)
                               └─► daily writer    (records without)
                 without --write: ──► printer

Nodes are plain callables. They ask for services by keyword-only parameter name (`sources`,
`store`, `state`), which is how Bonobo injects them here; a node with a `close()` is closed, with
the same services, when its input ends (writers flush their last batch there). A node that
raises is counted (`err`) and told to the `Reporter` (one line, no traceback); the other chains
go on. Keeping Bonobo behind `run()` keeps the engine replaceable.

What a record costs in the graph, and what our contexts change in Bonobo's (docs/performance.md):
every reader chain feeds normalize directly (a `SetFields` node in between was one more thread
and queue hop per record); a node's callable is called with its input as is, where Bonobo's
`ContextCurrifier` computed `inspect.signature` of it for every record (half of the graph's CPU),
its signature now checked only when a call fails with a TypeError; and a node waits on its input
queue (`Input.get` with a timeout) instead of polling it and sleeping 0.2 s whenever it is empty,
which is what let Bonobo's queues hold 8,192 records each: `QUEUE_RECORDS` bounds them now, so
memory stays flat when the writers are slower than a reader (a backfill).

bonobo2 on Python ≥ 3.10 needs three patches, all here and applied before a graph runs:
mondrian 0.8.1's formatter sets `_Style._defaults`, which Python 3.10 made part of
`logging.PercentStyle`'s contract (reset to None); bonobo's `fs` dependency imports
`pkg_resources` (hence the `setuptools<82` pin), which warns; bonobo installs its own console
plugin when stdout is a terminal, and we report progress and the summary ourselves (`QUIET`).
"""

from __future__ import annotations

import inspect
import itertools
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterable
from typing import Any

warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"(fs|pkg_resources)(\..*)?")
warnings.filterwarnings("ignore", message=r".*pkg_resources is deprecated.*")

import bonobo  # noqa: E402 — after the warning filters
import mondrian.formatters  # noqa: E402
from bonobo.config import use  # noqa: E402
from bonobo.config.processors import ContextCurrifier  # noqa: E402
from bonobo.errors import UnrecoverableTypeError  # noqa: E402
from bonobo.execution import events  # noqa: E402
from bonobo.execution.contexts.graph import GraphExecutionContext  # noqa: E402
from bonobo.execution.contexts.node import NodeExecutionContext  # noqa: E402
from bonobo.execution.strategies import ThreadPoolExecutorStrategy  # noqa: E402
from bonobo.structs.inputs import Input  # noqa: E402
from bonobo.util import get_name  # noqa: E402

from apercite_analytics.run.result import NodeStats, Reporter  # noqa: E402

log = logging.getLogger("apercite_analytics")
PROGRESS_EVERY = 10.0
QUEUE_RECORDS = 256  # records waiting before a node (Bonobo's default is 8,192: 4M values of an `sql` backfill)
TICK = 0.02  # seconds between the graph's looks at its nodes (each is a check and a TICK event)
WAIT = 0.2  # seconds a node waits on an empty input before Bonobo's loop looks around (its tick)
mondrian.formatters._Style._defaults = None
os.environ.setdefault("QUIET", "1")


def build_graph(
    chains: dict[str, list], normalizer: Callable, sinks: list[Callable], services: Iterable[str]
) -> bonobo.Graph:
    """Wire the reader chains into normalize and the sinks; attach each node's services."""
    services = set(services)
    graph = bonobo.Graph()
    graph.add_chain(normalizer, _input=None, _name="normalize")
    for sink in sinks:
        graph.add_chain(_with_services(sink, services), _input="normalize")
    for nodes in chains.values():
        graph.add_chain(*(_with_services(n, services) for n in nodes), _output="normalize")
    return graph


def dot(chains: dict[str, list], normalizer: Callable, sinks: list[Callable]) -> str:
    """The graph as Graphviz dot (`inspect`): the reader chains into normalize into the sinks (drawn
    by us: Bonobo's own drawing would show its internal BEGIN wiring, not what a user configured)."""
    lines = ["digraph {", "\trankdir=LR", "\tBEGIN [shape=point]"]
    ids = itertools.count()

    def node(callable_: Callable) -> str:
        number = f"n{next(ids)}"
        label = get_name(callable_).replace("\\", "\\\\").replace('"', '\\"')
        lines.append(f'\t{number} [label="{label}"]')
        return number

    end = node(normalizer)
    for sink in sinks:
        lines.append(f"\t{end} -> {node(sink)}")
    for nodes in chains.values():
        previous = "BEGIN"
        for callable_ in nodes:
            current = node(callable_)
            lines.append(f"\t{previous} -> {current}")
            previous = current
        lines.append(f"\t{previous} -> {end}")
    lines.append("}")
    return "\n".join(lines)


def run(
    chains: dict[str, list], normalizer: Callable, sinks: list[Callable], services: dict[str, Any], reporter: Reporter
) -> list[NodeStats]:
    """Run the graph to its end; the statistics of every node, reader chains first, then
    normalize and the sinks (each reader node knows its chain)."""
    graph = build_graph(chains, normalizer, sinks, services)
    strategy = ThreadPoolExecutorStrategy(context_type(reporter))
    context = bonobo.run(graph, services=services, strategy=strategy, plugins=[ProgressPlugin()])
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
    ]
    return stats[1 + len(sinks) :] + stats[: 1 + len(sinks)]


def _with_services(node: Callable, services: set[str]) -> Callable:
    wanted = [
        p.name
        for p in inspect.signature(node).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name in services
    ]
    return use(*wanted)(node) if wanted else node


def context_type(reporter: Reporter) -> type[GraphExecutionContext]:
    """Bonobo contexts that report errors through `reporter` (one line, no traceback) and close nodes."""

    class NodeContext(NodeExecutionContext):
        QueueType = WaitingInput
        _closed = False

        def start(self):
            super().start()
            if self._stack is not None and not hasattr(self.wrapped, "__input_format__"):  # ours: plain callables
                self._stack.__class__ = DirectCall

        def error(self, exc_info, *, level=logging.ERROR):
            self.increment("err")
            reporter.failed(get_name(self.wrapped), exc_info[1])

        def fatal(self, exc_info, *, level=logging.CRITICAL):
            self.increment("err")
            self._defunct = True
            reporter.failed(get_name(self.wrapped), exc_info[1])
            self.input.shutdown()
            self.input.discard()

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
        TICK_PERIOD = TICK  # how soon the run sees that its last node ended (Bonobo's: 0.25 s)

    return GraphContext


class WaitingInput(Input):
    """A node's input queue, bounded (`QUEUE_RECORDS`), that a node waits on: Bonobo's node loop asks
    with `timeout=0` and sleeps 0.2 s when the queue is empty, so a faster consumer idled while its
    producer filled the queue, and a small bound would have capped the graph at bound / 0.2 s."""

    def __init__(self) -> None:
        super().__init__(maxsize=QUEUE_RECORDS)

    discarding = False

    def get(self, block=True, timeout=None):
        return super().get(block, WAIT if block and timeout == 0 else timeout)

    def put(self, data, block=True, timeout=None):
        if self.discarding:
            return None
        return super().put(data, block, timeout)

    def discard(self) -> None:
        """The node died: what its producers still send is dropped, so that none waits forever on a
        full queue that nobody reads."""
        with self.mutex:
            self.discarding = True
            self.queue.clear()
            self.not_full.notify_all()


class DirectCall(ContextCurrifier):
    """Calls the node with its input as is. Bonobo's `ContextCurrifier` binds each input to
    `inspect.signature(node)` first (recomputed for every record) only to turn a mismatch into
    `UnrecoverableTypeError`; here the signature is looked at only when the call raises TypeError."""

    def __call__(self, _input):
        if not callable(self.wrapped):
            return super().__call__(_input)
        try:
            return self.wrapped(*self.args, *_input, **self.kwargs)
        except TypeError:
            try:
                inspect.signature(self.wrapped).bind(*self.args, *_input, **self.kwargs)
            except TypeError as exc:
                raise UnrecoverableTypeError(f"input of {get_name(self.wrapped)} does not bind: {exc}") from exc
            raise


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
            ]
            log.info("progress (in/out/err): %s", ", ".join(parts))
