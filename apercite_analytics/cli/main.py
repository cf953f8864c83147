"""The command line's front: the parser, logging, the exit status, and dispatch to one module per
command group (`read.py`: read, inspect; `db.py`; `metrics.py`: metrics, rollup, export;
`dashboards.py`; `init.py`; `demo.py`; `collect.py`; `report.py`; `events.py`: events export).

Exit status: 0 all good; 1 a reader, node or the store failed (the others still ran and wrote);
2 a usage or configuration error (one line naming the culprit).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

from apercite_analytics import __version__
from apercite_analytics.cli import collect, dashboards, db, demo, events, init, metrics, read, report
from apercite_analytics.config import load as config
from apercite_analytics.config.secrets import scrub
from apercite_analytics.errors import EXIT_FAILED, EXIT_USAGE, AnalyticsError, ConfigError, escape_control

log = logging.getLogger("apercite_analytics")


class _Formatter(logging.Formatter):
    """`error: …` / `warning: …` / plain info lines, secrets scrubbed; a message is one line (a name
    read from data cannot start a forged line or a terminal escape), the -v traceback follows it."""

    def format(self, record: logging.LogRecord) -> str:
        message = escape_control(scrub(record.getMessage()))
        if record.levelno >= logging.WARNING:
            message = f"{record.levelname.lower()}: {message}"
        if record.exc_info and record.levelno <= logging.DEBUG:  # a traceback: its lines, each escaped
            lines = scrub(self.formatException(record.exc_info)).split("\n")
            message += "\n" + "\n".join(escape_control(line) for line in lines)
        return message


def setup_logging(verbosity: int) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    log.handlers[:] = [handler]
    log.propagate = False
    log.setLevel(logging.WARNING if verbosity < 0 else logging.DEBUG if verbosity > 0 else logging.INFO)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line and exit 2, as argparse does, but without the usage dump
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", "-c", metavar="FILE", help="config file (default: $APERCITE_CONFIG, else ./analytics.toml)"
    )
    common.add_argument(
        "-v", "--verbose", action="count", default=0, help="more detail (tracebacks of unexpected errors)"
    )
    common.add_argument("-q", "--quiet", action="store_true", help="only warnings and errors; no summary")

    main = _Parser(prog="apercite-analytics", description="Hourly business metrics into one store, for Grafana.")
    main.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = main.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    read.add_parsers(commands, common)
    db.add_parsers(commands, common, _Parser)
    metrics.add_parsers(commands, common, _Parser)  # metrics …, rollup, export
    dashboards.add_parsers(commands, common, _Parser)
    init.add_parsers(commands, common)
    demo.add_parsers(commands, common)
    collect.add_parsers(commands, common)
    report.add_parsers(commands, common)
    events.add_parsers(commands, common, _Parser)  # events export
    return main


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    setup_logging(-1 if args.quiet else args.verbose)
    try:
        code = _dispatch(args, argv if argv is not None else sys.argv[1:])
        _flush_stdout()
        return code
    except ConfigError as exc:
        log.error("%s", exc)
        return EXIT_USAGE
    except AnalyticsError as exc:
        log.error("%s", exc)
        return EXIT_FAILED
    except KeyboardInterrupt:
        log.error("interrupted")
        return 130


def _flush_stdout() -> None:
    """If stdout's reader left (`… | head`), say nothing more there instead of a traceback at exit."""
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def _dispatch(args: argparse.Namespace, argv: list[str]) -> int:
    if args.command == "read":
        return read.run_read(args, config.load(args.config), argv)
    if args.command == "inspect":
        return read.run_inspect(args, config.load(args.config))
    runner = {
        "db": db.run,
        "metrics": metrics.run,
        "rollup": metrics.run,
        "export": metrics.run,
        "dashboards": dashboards.run,
        "init": init.run,
        "demo": demo.run,
        "collect": collect.run,
        "report": report.run,
        "events": events.run,
    }.get(args.command)
    if runner is not None:
        return runner(args)
    raise AssertionError(args.command)


if __name__ == "__main__":
    sys.exit(main())
