"""Run locks on PostgreSQL: released when the block ends (not when the object dies), and taken in
one order whatever order the readers were named in, so two runs never wait on each other."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import text

from apercite_analytics.store import schema as store
from apercite_analytics.store.locks import _NAMESPACE, RunLocks, advisory_key


@pytest.fixture
def engine(pg_url):
    engine = store.open_engine(pg_url)
    yield engine
    engine.dispose()


def our_advisory_locks(engine) -> list[int]:
    """The second keys of the advisory locks in our namespace held on this database, by anyone."""
    with engine.connect() as connection:
        return sorted(
            connection.execute(
                text(
                    "SELECT objid::bigint FROM pg_locks WHERE locktype = 'advisory' AND granted AND classid = :space "
                    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                ),
                {"space": _NAMESPACE},
            ).scalars()
        )


def key(reader: str) -> int:
    return advisory_key(reader) % 2**32  # pg_locks shows the key as an unsigned oid


def test_the_lock_is_released_when_the_block_ends_while_the_object_lives(engine):
    first = RunLocks(engine, ["sql"], 0)
    with first:
        assert our_advisory_locks(engine) == [key("sql")]
    assert our_advisory_locks(engine) == []  # `first` is still referenced: only release() could drop it
    with RunLocks(engine, ["sql"], 0):  # not refused
        assert our_advisory_locks(engine) == [key("sql")]
    assert our_advisory_locks(engine) == []
    assert first.readers == ["sql"]  # keeps `first` alive to the end


def test_readers_named_in_either_order_are_locked_in_one_order(engine, monkeypatch):
    """`read sql objects` and `read objects sql` at the same time, made deterministic: each run,
    once it holds its first lock, waits until the other has tried its own first lock. Locked in one
    order, the second waits for the first to finish; in the order given, each would hold the lock
    the other wants and both would time out."""
    original = RunLocks._try
    tried = {"sql objects": threading.Event(), "objects sql": threading.Event()}
    holding: dict[str, tuple[float, float]] = {}

    def paced_try(self, backend, reader):
        name = getattr(self, "name", None)
        got = original(self, backend, reader)
        if name is not None and not tried[name].is_set():
            tried[name].set()
            if got:  # holding a first lock: let the other run make its first attempt
                other = next(n for n in tried if n != name)
                assert tried[other].wait(10), "the other run never tried its first lock"
        return got

    monkeypatch.setattr(RunLocks, "_try", paced_try)
    errors: list[BaseException] = []

    def run(readers: list[str]) -> None:
        locks = RunLocks(engine, readers, 5)
        locks.name = " ".join(readers)
        try:
            with locks:
                began = time.monotonic()
                time.sleep(0.5)  # the run's work
                holding[locks.name] = (began, time.monotonic())
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(readers,)) for readers in (["sql", "objects"], ["objects", "sql"])]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    (first_start, first_end), (second_start, second_end) = sorted(holding.values())
    assert first_end <= second_start  # one after the other
    assert our_advisory_locks(engine) == []
