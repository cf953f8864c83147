"""The errors a user can cause or meet; each carries one plain line meant for them.

Anything that is *not* one of these is a bug in apercite-analytics and gets a traceback with -v.
"""

import reprlib

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2  # all good; something failed (the rest still ran); usage or config
# C0, DEL and C1 (ESC [ and its one-character twin \x9b start terminal escapes): shown as \xNN
_CONTROL = {c: f"\\x{c:02x}" for c in [*range(32), *range(127, 160)]} | {10: "\\n", 13: "\\r", 9: "\\t"}
EXCERPT = 60  # characters of a name or value from data (or a file) that a message may quote


def escape_control(text: str) -> str:
    """`text` with every control character shown escaped (`\\n`, `\\x1b`): one line, no terminal escapes."""
    return str(text).translate(_CONTROL)


def shorten(text: str, limit: int = EXCERPT) -> str:
    """At most `limit` characters of `text` (then `…`), control characters escaped."""
    return escape_control(text if len(text) <= limit else text[:limit] + "…")


def excerpt(value: object, limit: int = EXCERPT) -> str:
    """A short, escaped excerpt of something read from data or a file, for a message (repr-quoted)."""
    text = value if isinstance(value, str) else reprlib.repr(value)  # bounded, whatever the nesting
    cut = text[:limit] + "…" if len(text) > limit else text
    return escape_control(repr(cut) if isinstance(value, str) else cut)


class AnalyticsError(Exception):
    """Base: the message is shown to the user as is, on one line (control characters, such as a
    newline inside a quoted TOML key or a database's answer, are shown escaped)."""

    def __init__(self, message: str = "", *args: object) -> None:
        super().__init__(escape_control(message), *args)


class ConfigError(AnalyticsError):
    """The config file or the command line is wrong (exit status 2)."""


class SourceError(AnalyticsError):
    """A source (database, API) failed or answered something unusable."""


class StoreError(AnalyticsError):
    """The metric store cannot be used (unreachable, not migrated, write failed)."""


def describe_db_error(exc: BaseException) -> str:
    """The first line of what the database said, without SQLAlchemy's boilerplate."""
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    from apercite_analytics.config.secrets import scrub

    if isinstance(exc, ImportError):  # a database driver that is not installed: say which extra has it
        from apercite_analytics.config.urls import missing_driver

        return missing_driver(exc)
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        text = str(exc.orig).strip()
    elif isinstance(exc, SQLAlchemyError):
        text = str(exc).split("\n")[0]
        text = text.split(" (Background on this error")[0]
    else:
        text = str(exc) or type(exc).__name__
    first = text.splitlines()[0] if text else type(exc).__name__
    return scrub(first.strip())
