"""The `sources` service: one lazily created SQLAlchemy engine per configured source database.

Source sessions run in UTC (so `date_trunc`, `NOW()` and timestamp parameters mean UTC), with a
connect timeout and a statement timeout (`query_timeout`) that the server itself enforces, so a
statement that runs too long is cancelled there and not left running: PostgreSQL's
`statement_timeout`, MariaDB's `max_statement_time` / MySQL's `max_execution_time` (the driver's
read timeout, a little longer, is only a backstop for a server that stops answering), and on
SQLite a progress handler that interrupts the statement. Errors become one `SourceError` line
naming the source and its URL without the password. `read()` retries transient failures
(connection refused or lost, server shutting down, deadlock, serialization failure) with
exponential backoff; a timeout, a syntax error or a missing table fails at once (repeating it
would only add load or noise).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from sqlalchemy import create_engine, event
from sqlalchemy.engine import Connection, CursorResult, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from apercite_analytics.config.secrets import mask_url, scrub
from apercite_analytics.config.settings import SourceSettings
from apercite_analytics.config.urls import database_url
from apercite_analytics.errors import SourceError, describe_db_error
from apercite_analytics.readers.common.columnar import columnar_connect_args, duckdb_session_utc
from apercite_analytics.readers.common.retry import policy, with_retries

log = logging.getLogger("apercite_analytics")
T = TypeVar("T")
# PostgreSQL SQLSTATEs worth another try: serialization failure, deadlock, server shutting down/starting
_PG_TRANSIENT = ("40001", "40P01", "57P01", "57P02", "57P03")
_PG_TRANSIENT_CLASS = ("08",)  # connection exceptions
# MySQL/MariaDB: can't connect, server gone away, lost connection, deadlock, server shutting down
_MYSQL_TRANSIENT = (2002, 2003, 2006, 2013, 1213, 1053)
# MariaDB max_statement_time exceeded, MySQL max_execution_time exceeded, query interrupted
_MYSQL_TIMEOUT = (1969, 3024, 1317)
MYSQL_READ_MARGIN = 5.0  # seconds the driver waits beyond query_timeout before it gives up on the server
SQLITE_PROGRESS_STEPS = 4000  # SQLite virtual-machine steps between two looks at the clock
_TIMED_OUT = ("timeout", "timed out", "canceling statement", "interrupted")


def is_transient(exc: BaseException) -> bool:
    """Whether a database error may go away by itself (so a retry is worth it)."""
    if not isinstance(exc, DBAPIError):
        return False
    # a timeout first: the driver's read timeout also invalidates the connection, yet running the same
    # statement again would only time out again (and pile up copies of it on the server)
    if timed_out(exc):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    message = str(orig).lower()
    errno = _errno(orig)
    code = getattr(orig, "pgcode", None)
    if code is not None:
        return code in _PG_TRANSIENT or code[:2] in _PG_TRANSIENT_CLASS
    if errno is not None:
        return errno in _MYSQL_TRANSIENT
    # psycopg2 at connect time has no pgcode; SQLite says "database is locked" while a writer works
    return any(
        text in message
        for text in (
            "could not connect",
            "connection refused",
            "server closed the connection",
            "terminating connection",
            "connection to server",
            "database is locked",
        )
    )


def timed_out(exc: BaseException) -> bool:
    """Whether a database error is a statement (or read) timeout."""
    if not isinstance(exc, DBAPIError):
        return False
    message = str(exc.orig).lower()
    return _errno(exc.orig) in _MYSQL_TIMEOUT or any(text in message for text in _TIMED_OUT)


def _errno(orig: BaseException | None) -> int | None:
    args = getattr(orig, "args", ())
    return args[0] if args and isinstance(args[0], int) else None  # PyMySQL: (errno, message)


class Sources:
    """Engines by source name, created on first use and disposed by `close()`."""

    def __init__(self, settings: Mapping[str, SourceSettings]):
        self._settings = dict(settings)
        self._engines: dict[str, Engine] = {}
        self._lock = threading.Lock()

    def describe(self, name: str) -> str:
        """`source 'website' (postgresql://app:***@db/website)` for error messages."""
        return f"source {name!r} ({mask_url(self._settings[name].url)})"

    def engine(self, name: str) -> Engine:
        with self._lock:
            if name not in self._engines:
                self._engines[name] = _create_engine(name, self._settings[name])
            return self._engines[name]

    def connect(self, name: str, doing: str = "connecting") -> Connection:
        """A connection, retrying transient connect failures (for readers that stream their results:
        a connection lost mid-stream fails the reader, whose watermark then stays where it was)."""
        return self._retrying(name, doing, lambda: self.engine(name).connect())

    def read(self, name: str, work: Callable[[Connection], T], doing: str = "") -> T:
        """`work(connection)` on a fresh connection, retried on transient errors (see module doc).

        `work` must finish its reading before it returns (it may run more than once).
        """

        def attempt() -> T:
            with self.engine(name).connect() as connection:
                return work(connection)

        return self._retrying(name, doing, attempt)

    @contextmanager
    def stream(self, name: str, statement: Any, params: Mapping[str, Any], doing: str = "") -> Iterator[CursorResult]:
        """The rows of `statement` as the server sends them (a server-side cursor on PostgreSQL and
        MariaDB), so that a reader holds one batch of rows, not the whole result. Connecting and
        executing are retried on transient errors, as `read()` does; an error while the rows are
        fetched fails at once (the reader may have passed rows on), as one line naming the source."""

        def attempt() -> tuple[Connection, CursorResult]:
            connection = self.engine(name).connect()
            try:
                return connection, connection.execution_options(stream_results=True).execute(statement, params)
            except BaseException:
                connection.close()
                raise

        connection, result = self._retrying(name, doing, attempt)
        try:
            yield result
        except SQLAlchemyError as exc:
            raise self.error(name, exc, doing) from None
        finally:
            connection.close()

    def _retrying(self, name: str, doing: str, attempt: Callable[[], T]) -> T:
        settings = self._settings[name]

        def retrying(exc: BaseException, delay: float) -> None:
            log.warning("%s; retrying in %.0f s", self.error(name, exc, doing), delay)

        try:
            result, _ = with_retries(
                attempt,
                **policy(settings),
                retryable=is_transient,
                on_retry=retrying,
            )
            return result
        except SQLAlchemyError as exc:
            raise self.error(name, exc, doing) from None

    def error(self, name: str, exc: BaseException, doing: str = "") -> SourceError:
        """Turn a driver exception into one readable line naming the source."""
        what = f"{self.describe(name)}: {doing + ': ' if doing else ''}{describe_db_error(exc)}"
        if timed_out(exc):
            what += f" (query_timeout = {self._settings[name].query_timeout:g} s)"
        return SourceError(scrub(what))

    def __enter__(self) -> Sources:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


def _create_engine(name: str, settings: SourceSettings) -> Engine:
    url = database_url(settings.url)
    backend = url.get_backend_name()
    connect_args: dict = {}
    if backend == "sqlite":
        database = url.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            if not Path(database).is_file():
                raise SourceError(f"source {name!r}: SQLite file {database!r} does not exist")
            # read-only: a typo must not create an empty database that then reads as zero rows
            # (percent-encoded: a '#' or '?' in the path must not end the file name)
            path = quote(str(Path(database).resolve()), safe="/")
            url = url.set(database=f"file:{path}", query={"mode": "ro", "uri": "true"})
        connect_args["timeout"] = settings.connect_timeout
    elif backend == "postgresql":
        connect_args["connect_timeout"] = max(1, round(settings.connect_timeout))
        statement_ms = max(1, round(settings.query_timeout * 1000))  # 0 would mean no limit
        connect_args["options"] = f"-c timezone=UTC -c statement_timeout={statement_ms}"
    elif backend in ("mysql", "mariadb"):
        connect_args["connect_timeout"] = max(1, round(settings.connect_timeout))
        connect_args["read_timeout"] = math.ceil(settings.query_timeout + MYSQL_READ_MARGIN)
    elif backend in ("duckdb", "clickhousedb"):
        url, connect_args = columnar_connect_args(name, url, settings)
    try:
        engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError) as exc:
        raise SourceError(f"source {name!r} ({mask_url(settings.url)}): {describe_db_error(exc)}") from None
    if backend in ("mysql", "mariadb"):
        event.listen(engine, "connect", _MysqlSession(settings.query_timeout))
    elif backend == "sqlite":
        _sqlite_statement_timeout(engine, settings.query_timeout)
    elif backend == "duckdb":
        event.listen(engine, "connect", duckdb_session_utc)
    return engine


class _MysqlSession:
    """A new MySQL/MariaDB session: UTC, and a statement time limit the server enforces (it cancels
    the statement itself, so nothing is left running when we give up)."""

    def __init__(self, seconds: float):
        self.seconds = seconds

    def __call__(self, dbapi_connection, _record) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("SET time_zone = '+00:00'")
        cursor.execute("SELECT VERSION()")
        if "mariadb" in str(cursor.fetchone()[0]).lower():
            cursor.execute("SET SESSION max_statement_time = %s", (round(self.seconds, 3),))
        else:  # MySQL ≥ 5.7.8: read-only SELECTs, which is what readers run
            cursor.execute("SET SESSION max_execution_time = %s", (max(1, round(self.seconds * 1000)),))
        cursor.close()


def _sqlite_statement_timeout(engine: Engine, seconds: float) -> None:
    """SQLite has no statement timeout: a progress handler interrupts a statement (its execution and
    the fetching of its rows) once it ran `seconds` ("interrupted", not retried)."""

    @event.listens_for(engine, "connect")
    def watch(dbapi_connection, record) -> None:
        info = record.info
        dbapi_connection.set_progress_handler(
            lambda: time.monotonic() > info.get("statement_until", math.inf), SQLITE_PROGRESS_STEPS
        )

    @event.listens_for(engine, "before_cursor_execute")
    def start(connection, *_args) -> None:
        connection.info["statement_until"] = time.monotonic() + seconds
