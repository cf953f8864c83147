"""What the run puts around each reader chain: the run deadline, and the claim of every key it gives.

A reader waiting on a source that drips its answer, or on a statement that never ends, must not
hold the whole run past the next hourly run (cron's `flock -n` would then skip every later run):
each chain's node runs in a thread of its own (a daemon: one stuck in a system call never keeps
the process alive), and the chain hands on what that thread yields until the run deadline
(`[run] deadline`). A chain not finished by then fails with one line naming it; the records it
gave before are kept and written, like the other chains' (the readers' own timeouts — per HTTP
request, per statement — normally end a slow source long before).

Every record leaving a chain is claimed in the run's `Claims` under the chain's name, which is
how two chains giving the same metric and hour are found (`writers/claims.py`).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from datetime import date
from types import GeneratorType
from typing import Any

from apercite_analytics.errors import SourceError
from apercite_analytics.writers.claims import Claims

AHEAD = 1024  # records a chain's thread may read ahead of the graph
AHEAD_VALUES = 32_768  # … and metric values: 64 records of an `sql` backfill with 500 metrics a record
_END, _TIMEOUT = object(), object()


class DeadlinePassed(SourceError):
    """A chain had not finished when the run deadline passed."""


class GuardedChain:
    """A reader chain's node: with `until`, run in its own thread until then (the first node of a
    chain); with `claims`, its records claimed under the chain's name (the last node)."""

    def __init__(self, node: Callable, chain: str, claims: Claims | None, until: float | None, deadline: float):
        self.__name__ = getattr(node, "__name__", chain)
        self.__wrapped__ = node  # `inspect.signature` (services asked by name) sees the node's own
        self.node, self.chain, self.claims = node, chain, claims
        self.until, self.deadline = until, deadline

    def __call__(self, *args: Any, **services: Any) -> Iterator[tuple[dict, dict]]:
        records = self._pumped(args, services) if self.until is not None else _records(self.node(*args, **services))
        for record in records:
            if self.claims is not None:
                record = self._claimed(record)
                if record is None:
                    continue
            yield record

    def _claimed(self, record: Any) -> Any:
        """The record without the keys another chain gave (None if nothing is left); a malformed
        record goes on as it is, for normalize to reject and count."""
        if type(record) is not tuple or len(record) != 2:
            return record
        dims, metrics = record
        if type(dims) is not dict or type(metrics) is not dict or type(dims.get("date")) is not date:
            return record
        if type(dims.get("hour", 0)) is not int:
            return record
        metrics = self.claims.claim(self.chain, dims, metrics)  # type: ignore[union-attr]
        return (dims, metrics) if metrics else None

    def _pumped(self, args: tuple, services: dict) -> Iterator[Any]:
        """What the node yields, from its own thread, until the run deadline."""
        pipe = _Pipe()
        threading.Thread(
            target=self._pump, args=(pipe, args, services), name=f"reader {self.chain}", daemon=True
        ).start()
        given = 0
        try:
            while True:
                item = pipe.get(self.until)  # type: ignore[arg-type]
                if item is _TIMEOUT:
                    raise DeadlinePassed(
                        f"not finished by the run deadline ({self.deadline:g} s, [run] deadline): stopped; "
                        f"the {given} record{'s' * (given != 1)} it gave before are kept"
                    )
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                given += 1
                yield item
        finally:
            pipe.stop.set()

    def _pump(self, pipe: _Pipe, args: tuple, services: dict) -> None:
        """The node's records into `pipe`, then its end or its error; gives up once the pipe is stopped."""
        try:
            out = self.node(*args, **services)
            for item in _records(out):
                if not pipe.put(item):
                    if isinstance(out, GeneratorType):
                        out.close()  # the reader's `finally`/`with` blocks release their connections
                    return
        except BaseException as exc:  # noqa: BLE001 — handed to the graph's thread, which reports it
            pipe.put(exc)
            return
        pipe.put(_END)


class _Pipe:
    """Records from a chain's thread to the graph's, at most AHEAD records and AHEAD_VALUES values
    waiting (a record weighs its metrics: memory stays flat however wide the reader's records are).
    A deque and two events rather than a `queue.Queue`: the graph's thread takes what is there
    without a thread switch per record (a Queue cost about 40 µs a record under load, this about 2)."""

    def __init__(self) -> None:
        self.items: deque = deque()
        self.ready = threading.Event()  # set when items are there (or may be)
        self.room = threading.Event()  # set when the reader may add more
        self.stop = threading.Event()  # set when the graph no longer listens
        self.added = self.taken = 0  # metric values put and got: each counter has one writer thread

    def put(self, item: Any) -> bool:
        weight = len(item[1]) if type(item) is tuple and len(item) == 2 and type(item[1]) is dict else 1
        while len(self.items) >= AHEAD or self.added - self.taken >= AHEAD_VALUES:
            self.room.clear()
            if len(self.items) < AHEAD and self.added - self.taken < AHEAD_VALUES:
                break
            if self.stop.is_set():
                return False
            self.room.wait(0.2)
        if self.stop.is_set():
            return False
        self.added += weight
        self.items.append((item, weight))  # then signal: the reader's append is seen before the graph waits again
        if not self.ready.is_set():
            self.ready.set()
        return True

    def get(self, until: float) -> Any:
        """The next item, or _TIMEOUT once `until` (monotonic) passed."""
        while True:
            try:
                item, weight = self.items.popleft()
            except IndexError:
                self.ready.clear()
                if self.items:
                    continue
                if not self.ready.wait(max(0.0, until - time.monotonic())):
                    return _TIMEOUT
                continue
            self.taken += weight
            if not self.room.is_set():
                self.room.set()
            return item


def _records(out: Any) -> Iterator[Any]:
    """A node's result as Bonobo reads it: each item of a generator (or iterator), else the one value."""
    if isinstance(out, Iterator):
        return out
    return iter(() if out is None else (out,))


def guard(chains: dict[str, list], claims: Claims, until: float, deadline: float) -> dict[str, list]:
    """Each chain's first node runs until the run deadline, and its last node's records are claimed."""
    guarded = {}
    for name, nodes in chains.items():
        nodes = list(nodes)
        last = len(nodes) - 1
        guarded[name] = [
            GuardedChain(node, name, claims if i == last else None, until if i == 0 else None, deadline)
            for i, node in enumerate(nodes)
        ]
    return guarded
