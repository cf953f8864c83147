"""The `sources` service: one lazily created SQLAlchemy engine per configured source database.

Source sessions run in UTC (so `date_trunc`, `NOW()` and timestamp parameters mean UTC), with a
connect timeout and a statement timeout; errors become one `SourceError` line naming the source
and its URL without the password. `read()` retries transient failures (connection refused or
lost, server shutting down, deadlock, serialization failure) with exponential backoff; a timeout,
a syntax error or a missing table fails at once (repeating it would only add load or noise).
"""

from __future__ import annotations

import logging
import threading
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
from apercite_analytics.readers.common.retry import policy, with_retries

log = logging.getLogger("apercite_analytics")
T = TypeVar("T")
# PostgreSQL SQLSTATEs worth another try: serialization failure, deadlock, server shutting down/starting
_PG_TRANSIENT = ("40001", "40P01", "57P01", "57P02", "57P03")
_PG_TRANSIENT_CLASS = ("08",)  # connection exceptions
# MySQL/MariaDB: can't connect, server gone away, lost connection, deadlock, server shutting down
_MYSQL_TRANSIENT = (2002, 2003, 2006, 2013, 1213, 1053)


def is_transient(exc: BaseException) -> bool:
    """Whether a database error may go away by itself (so a retry is worth it)."""
    if not isinstance(exc, DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    orig = exc.orig
    code = getattr(orig, "pgcode", None)
    if code is not None:
        return code in _PG_TRANSIENT or code[:2] in _PG_TRANSIENT_CLASS
    message = str(orig).lower()
    args = getattr(orig, "args", ())
    if args and isinstance(args[0], int):  # PyMySQL: (errno, message)
        return args[0] in _MYSQL_TRANSIENT and "timed out" not in message
    if "timeout" in message or "timed out" in message or "canceling statement" in message:
        return False
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


def is_timeout(exc: BaseException | None) -> bool:
    """Whether a database error is a statement or read timeout (running the statement again would
    take as long)."""
    orig = getattr(exc, "orig", None)
    if orig is None:
        return False
    message = str(orig).lower()
    return getattr(orig, "pgcode", None) == "57014" or "timed out" in message or "timeout" in message


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
        connect_args["connect_timeout"] = max(1, int(settings.connect_timeout))
        statement_ms = int(settings.query_timeout * 1000)
        connect_args["options"] = f"-c timezone=UTC -c statement_timeout={statement_ms}"
    elif backend in ("mysql", "mariadb"):
        connect_args["connect_timeout"] = max(1, int(settings.connect_timeout))
        connect_args["read_timeout"] = max(1, int(settings.query_timeout))
    try:
        engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True)
    except (SQLAlchemyError, ImportError) as exc:
        raise SourceError(f"source {name!r} ({mask_url(settings.url)}): {describe_db_error(exc)}") from None
    if backend in ("mysql", "mariadb"):
        event.listen(engine, "connect", _mysql_session_utc)
    return engine


def _mysql_session_utc(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("SET time_zone = '+00:00'")
    cursor.close()
