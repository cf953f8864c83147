"""Per-reader run locks, so two `read --write` runs never write the same reader's metrics at once.

A run takes one lock per reader it runs, in sorted order, before it writes anything, and holds
them to its end. On PostgreSQL these are session advisory locks on a connection of their own (the
server drops them when that connection dies, so a killed run never leaves a lock behind); on
SQLite they are `flock`s on files in `<store file>.locks/` (the kernel drops them with the
process). Runs of different readers go on side by side (an Airflow DAG runs one task per
reader); a run of the same reader waits up to `store.lock_wait` seconds, then gives up with one
line that names the reader and the run holding it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
import zlib
from pathlib import Path

from sqlalchemy import create_engine, select, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from apercite_analytics.errors import StoreError, describe_db_error
from apercite_analytics.store.models import RunLog
from apercite_analytics.store.schema import describe

POLL = 0.2  # seconds between attempts while waiting
_NAMESPACE = 0x61706572  # "aper": the first key of our advisory locks, so they never meet other apps'


class LockTimeout(StoreError):
    """Another run holds a reader's lock for longer than we may wait."""


def advisory_key(reader: str) -> int:
    """The second advisory-lock key of `reader` (a stable signed 32-bit hash)."""
    value = zlib.crc32(reader.encode())
    return value - 2**32 if value >= 2**31 else value


class RunLocks:
    """Holds the locks of a set of readers on one store; use as a context manager."""

    def __init__(self, engine: Engine, readers: list[str], wait: float) -> None:
        self.engine = engine
        self.readers = sorted(set(readers))
        self.wait = wait
        self._connection: Connection | None = None
        self._lock_engine: Engine | None = None
        self._files: list[int] = []

    def __enter__(self) -> RunLocks:
        try:
            self.acquire()
        except BaseException:
            self.release()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.release()

    def acquire(self) -> None:
        deadline = time.monotonic() + self.wait
        backend = self.engine.dialect.name
        for reader in self.readers:
            while not self._try(backend, reader):
                if time.monotonic() >= deadline:
                    raise LockTimeout(
                        f"reader {reader!r} is being written by another run{self._holder(reader)}; "
                        f"gave up after waiting {self.wait:g} s (store.lock_wait)"
                    )
                time.sleep(POLL)

    def _try(self, backend: str, reader: str) -> bool:
        if backend == "postgresql":
            try:
                connection = self._pg_connection()
                got = connection.execute(
                    text("SELECT pg_try_advisory_lock(:space, :key)"),
                    {"space": _NAMESPACE, "key": advisory_key(reader)},
                ).scalar_one()
                connection.commit()
            except SQLAlchemyError as exc:
                raise StoreError(
                    f"{describe(self.engine)}: cannot take the run lock: {describe_db_error(exc)}"
                ) from None
            return bool(got)
        if backend == "sqlite":
            folder = _sqlite_lock_folder(self.engine)
            if folder is None:  # in-memory store: nobody else can see it
                return True
            fd = self._lock_file(folder, reader)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            self._files.append(fd)
            return True
        return True  # not reached: the store is PostgreSQL or SQLite (store.dialect_insert refuses others)

    def _lock_file(self, folder: Path, reader: str) -> int:
        """An open descriptor on the reader's lock file (the folder is made if need be)."""
        path = folder / f"{reader}.lock"
        try:
            if folder.exists() and not folder.is_dir():
                raise StoreError(f"{describe(self.engine)}: {folder} is not a folder: the run locks are kept there")
            folder.mkdir(exist_ok=True)
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(
                f"{describe(self.engine)}: cannot take the run lock {path}: {exc.strerror or exc} "
                "(the user running apercite-analytics must be able to write there)"
            ) from None

    def _pg_connection(self) -> Connection:
        if self._connection is None:
            # a connection of its own, never pooled: closing it (or dying) releases every lock
            self._lock_engine = create_engine(self.engine.url, poolclass=NullPool, connect_args={"connect_timeout": 10})
            self._connection = self._lock_engine.connect()
        return self._connection

    def _holder(self, reader: str) -> str:
        """` (run 12, started 2026-11-24 10:00 UTC: apercite-analytics read all --write)`, if known."""
        try:
            with self.engine.connect() as connection:
                rows = connection.execute(
                    select(RunLog.id, RunLog.started_at, RunLog.command, RunLog.readers)
                    .where(RunLog.status == "running")
                    .order_by(RunLog.id.desc())
                ).all()
        except SQLAlchemyError:
            return ""
        for run_id, started_at, command, readers in rows:
            if reader in readers.split(","):
                return f" (run {run_id}, started {started_at:%Y-%m-%d %H:%M} UTC: {command})"
        return ""

    def release(self) -> None:
        for fd in self._files:
            os.close(fd)  # closing the descriptor drops the flock
        self._files.clear()
        if self._connection is not None:
            # unlock before closing: the server ends a closed session's backend (and its locks) a
            # moment later, and a run starting right after ours must not find them still held
            with contextlib.suppress(SQLAlchemyError):  # the server is gone, and with it the locks
                self._connection.execute(text("SELECT pg_advisory_unlock_all()"))
            with contextlib.suppress(SQLAlchemyError):
                self._connection.close()
            self._connection = None
        if self._lock_engine is not None:
            self._lock_engine.dispose()
            self._lock_engine = None


def _sqlite_lock_folder(engine: Engine) -> Path | None:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(f"{Path(database).resolve()}.locks")
