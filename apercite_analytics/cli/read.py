"""The `read` and `inspect` commands: the hourly job, and its graph."""

from __future__ import annotations

import argparse
import shlex
import sys

from apercite_analytics.config.secrets import scrub
from apercite_analytics.config.settings import Settings
from apercite_analytics.errors import EXIT_FAILED, EXIT_OK


def add_parsers(commands, common: argparse.ArgumentParser) -> None:
    read = commands.add_parser(
        "read",
        parents=[common],
        help="run readers (print, or --write to the store)",
        description="Run readers once. Without --write the values are printed, nothing is written.",
    )
    read.add_argument(
        "readers",
        nargs="+",
        metavar="READER",
        help="reader names (sql), single chains (sql.signups, prometheus.latency), or 'all' for every configured one",
    )
    read.add_argument("--write", action="store_true", help="upsert into the metric store (else print a table)")
    read.add_argument("--since", metavar="TIME", help="backfill from this UTC date/time (readers that can backfill)")
    read.add_argument("--until", metavar="TIME", help="backfill up to this UTC date/time, exclusive (default: now)")

    insp = commands.add_parser(
        "inspect",
        parents=[common],
        help="print the graph as Graphviz dot",
        description="Print the run's graph (reader chains, normalize, writers) as Graphviz dot on stdout. "
        "Rendering it needs Graphviz: apercite-analytics inspect | dot -Tsvg > graph.svg",
    )
    insp.add_argument("--graph", action="store_true", help=argparse.SUPPRESS)  # the only action; kept for old scripts
    insp.add_argument("readers", nargs="*", default=["all"], metavar="READER", help="readers or chains (default: all)")


def run_read(args: argparse.Namespace, settings: Settings, argv: list[str]) -> int:
    from apercite_analytics.run import job
    from apercite_analytics.run.result import render
    from apercite_analytics.window import Window

    window = Window.from_args(args.since, args.until)
    readers = job.select_readers(settings, args.readers)
    command = "apercite-analytics " + " ".join(shlex.quote(a) for a in argv)
    result = job.execute(settings, readers, window, write=args.write, command=command, only=args.readers)
    if not args.quiet:
        print(scrub(render(result)), file=sys.stderr)
    return EXIT_OK if result.ok else EXIT_FAILED


def run_inspect(args: argparse.Namespace, settings: Settings) -> int:
    from apercite_analytics.record import Normalizer
    from apercite_analytics.run import engine, plan
    from apercite_analytics.window import Window
    from apercite_analytics.writers.upsert import UpsertWriter

    readers = plan.select_readers(settings, args.readers)
    chains = plan.reader_chains(settings, readers, Window.from_args(None, None), args.readers)
    print(engine.dot(chains, Normalizer(), [UpsertWriter("hourly"), UpsertWriter("daily")]))
    if sys.stdout.isatty():
        print("(Graphviz dot: render it with `apercite-analytics inspect | dot -Tsvg > graph.svg`)", file=sys.stderr)
    return EXIT_OK
