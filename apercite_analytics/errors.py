"""The errors a user can cause or meet; each carries one plain line meant for them.

Anything that is *not* one of these is a bug in apercite-analytics and gets a traceback with -v.
"""

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2  # all good; something failed (the rest still ran); usage or config
_CONTROL = {c: f"\\x{c:02x}" for c in range(32)} | {10: "\\n", 13: "\\r", 9: "\\t"}


class AnalyticsError(Exception):
    """Base: the message is shown to the user as is, on one line (control characters, such as a
    newline inside a quoted TOML key or a database's answer, are shown escaped)."""

    def __init__(self, message: str = "", *args: object) -> None:
        super().__init__(str(message).translate(_CONTROL), *args)


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
