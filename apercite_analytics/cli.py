"""The command line: `read`, `inspect`, `db`, `demo`; `metrics`, `rollup`, `export` (in metrics_commands.py);
`dashboards` (in dashboards/command.py).

Exit status: 0 all good; 1 a reader, node or the store failed (the others still ran and wrote);
2 a usage or configuration error (one line naming the culprit).
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import sys
from pathlib import Path

from apercite_analytics import __version__
from apercite_analytics.errors import AnalyticsError, ConfigError
from apercite_analytics.redact import scrub

log = logging.getLogger("apercite_analytics")

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class _Formatter(logging.Formatter):
    """`error: …` / `warning: …` / plain info lines, secrets scrubbed."""

    def format(self, record: logging.LogRecord) -> str:
        message = scrub(record.getMessage())
        if record.levelno >= logging.WARNING:
            message = f"{record.levelname.lower()}: {message}"
        if record.exc_info and record.levelno <= logging.DEBUG:
            message += "\n" + scrub(self.formatException(record.exc_info))
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

    read = commands.add_parser(
        "read",
        parents=[common],
        help="run readers (print, or --write to the store)",
        description="Run readers once. Without --write the values are printed, nothing is written.",
    )
    read.add_argument("readers", nargs="+", metavar="READER", help="reader names, or 'all' for every configured one")
    read.add_argument("--write", action="store_true", help="upsert into the metric store (else print a table)")
    read.add_argument("--since", metavar="TIME", help="backfill from this UTC date/time (readers that can backfill)")
    read.add_argument("--until", metavar="TIME", help="backfill up to this UTC date/time, exclusive (default: now)")

    insp = commands.add_parser("inspect", parents=[common], help="show the graph (Graphviz dot)")
    insp.add_argument("--graph", action="store_true", required=True, help="print the graph as Graphviz dot on stdout")
    insp.add_argument("readers", nargs="*", default=["all"], metavar="READER", help="readers (default: all)")

    db = commands.add_parser("db", help="manage the metric store's schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION", parser_class=_Parser)
    for name, text in (
        ("upgrade", "migrate the store to the newest schema"),
        ("current", "print the store's schema revision"),
    ):
        action = db_commands.add_parser(name, parents=[common], help=text, description=text)
        action.add_argument("--url", help="store URL (default: store.url from the config, else sqlite:///analytics.db)")
    from apercite_analytics.dashboards import command as dashboards_command

    dashboards_command.add_grant_readonly(db_commands, common)
    dashboards_command.add_dashboards(commands, common, _Parser)

    from apercite_analytics import metrics_commands

    metrics_commands.add_parsers(commands, common, _Parser)  # metrics …, rollup, export

    demo = commands.add_parser("demo", parents=[common], help="create a demo SQLite source and ./analytics.toml")
    demo.add_argument("--dir", default=".", type=Path, help="where to create them (default: here)")
    demo.add_argument("--force", action="store_true", help="recreate the demo database if it exists")
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
    from apercite_analytics import config

    if args.command == "read":
        return _read(args, config.load(args.config), argv)
    if args.command == "inspect":
        return _inspect(args, config.load(args.config))
    if args.command == "db" and args.db_command == "grant-readonly":
        from apercite_analytics.dashboards.command import run_grant_readonly

        return run_grant_readonly(args, config)
    if args.command == "db":
        return _db(args, config)
    if args.command in ("metrics", "rollup", "export"):
        from apercite_analytics import metrics_commands

        return metrics_commands.run(args)
    if args.command == "dashboards":
        from apercite_analytics.dashboards.command import run_dashboards

        return run_dashboards(args)
    if args.command == "demo":
        from apercite_analytics import demo

        for line in demo.create(args.dir, force=args.force):
            log.info("%s", line)
        log.info("next: python -m apercite_analytics read all --write")
        return EXIT_OK
    raise AssertionError(args.command)


def _read(args: argparse.Namespace, settings, argv: list[str]) -> int:
    from apercite_analytics import graph, summary
    from apercite_analytics.window import Window

    window = Window.from_args(args.since, args.until)
    readers = graph.select_readers(settings, args.readers)
    command = "apercite-analytics " + " ".join(shlex.quote(a) for a in argv)
    result = graph.execute(settings, readers, window, write=args.write, command=command)
    if not args.quiet:
        print(summary.render(result), file=sys.stderr)
    return EXIT_OK if result.ok else EXIT_FAILED


def _inspect(args: argparse.Namespace, settings) -> int:
    from apercite_analytics import graph
    from apercite_analytics.normalize import Normalizer
    from apercite_analytics.window import Window
    from apercite_analytics.writers.upsert import UpsertWriter

    readers = graph.select_readers(settings, args.readers)
    chains = graph.reader_chains(settings, readers, Window.from_args(None, None))
    sinks = [UpsertWriter("hourly"), UpsertWriter("daily")]
    g = graph.build_graph(chains, Normalizer(), sinks, services=())
    print(g._repr_dot_())
    return EXIT_OK


def _db(args: argparse.Namespace, config) -> int:
    from apercite_analytics import store

    url = args.url or config.load(args.config, required=False).store.url
    engine = store.open_engine(url)
    try:
        if args.db_command == "current":
            current = store.current_revision(engine)
            head = store.head_revision()
            state = "up to date" if current == head else f"behind (newest is {head})"
            print(f"{current or 'empty (never migrated)'}: {state}")
            return EXIT_OK
        before, after = store.upgrade(engine)
        if before == after:
            log.info("%s is up to date (revision %s)", store.describe(engine), after)
        else:
            log.info("upgraded %s from %s to %s", store.describe(engine), before or "empty", after)
        return EXIT_OK
    finally:
        engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
