"""`collect`: the event collector, an HTTP server that validates, pseudonymizes and stores product
events (`tracking/`). Needs the `collector` extra (Starlette and uvicorn), imported only here.

SIGTERM or Ctrl-C stops it gracefully: uvicorn stops accepting, finishes the requests in flight,
then the app's shutdown writes every queued event and the collector's own metrics.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging

from apercite_analytics.config import load as config
from apercite_analytics.config.collector import CollectorSettings
from apercite_analytics.dictionary import definitions
from apercite_analytics.errors import EXIT_FAILED, EXIT_OK, AnalyticsError, ConfigError

log = logging.getLogger("apercite_analytics")


def add_parsers(commands, common: argparse.ArgumentParser) -> None:
    text = "receive product events over HTTP into the events table (docs/tracking.md)"
    collect = commands.add_parser("collect", parents=[common], help=text, description=text + ".")
    collect.add_argument("--listen", metavar="HOST:PORT", help="override collector.listen")
    collect.add_argument("--workers", type=int, metavar="N", help="override collector.workers (processes)")
    collect.add_argument(
        "--init-table",
        action="store_true",
        help="create the events and bad_event tables in collector.url if missing, then exit",
    )


def run(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    overrides = {k: v for k, v in (("listen", args.listen), ("workers", args.workers)) if v is not None}
    if settings.collector is not None and overrides:
        collector_settings = dataclasses.replace(settings.collector, **overrides)
        collector_settings.check(" and ".join(f"--{k}" for k in overrides))
        settings = dataclasses.replace(settings, collector=collector_settings)
    dictionary = definitions.configured(settings)
    if args.init_table:
        from apercite_analytics.tracking.service import pipeline

        _, sink = pipeline(settings, dictionary, init=True)
        log.info("%s: tables events and bad_event ready", sink.where)
        sink.close()
        return EXIT_OK
    try:
        import uvicorn  # noqa: F401

        from apercite_analytics.tracking.app import create_app  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            f"collect needs the collector extra: pip install 'apercite-analytics[collector]' ({exc})"
        ) from None
    for name in ("uvicorn", "uvicorn.error"):  # our one-line format; uvicorn's access log (client addresses) is off
        logging.getLogger(name).handlers[:] = log.handlers
        logging.getLogger(name).propagate = False
    current: CollectorSettings | None = settings.collector
    if current is None or current.workers == 1:  # (no [collector]: the collector says so in one line)
        _serve(settings, dictionary)
        return EXIT_OK
    from apercite_analytics.tracking import workers
    from apercite_analytics.tracking.service import pipeline

    _, sink = pipeline(settings, dictionary)  # the key and the tables, checked once before any worker starts
    sink.close()
    log.info("collecting on %s, %d workers", _where(settings, dictionary), current.workers)
    return workers.serve(settings, dictionary, current.workers, _serve_worker)


def _serve(settings, dictionary, sock=None, publish=None, worker: int | None = None) -> None:
    """One collector served by uvicorn: on the configured port, or on a worker's own socket."""
    import uvicorn

    from apercite_analytics.tracking.app import create_app
    from apercite_analytics.tracking.service import Collector

    collector = Collector(settings, dictionary, publish=publish, worker=worker)
    if worker is None:
        log.info("collecting on %s", _where(settings, dictionary))
    options = {"host": settings.collector.host, "port": settings.collector.port} if sock is None else {}
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(collector),
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=30,
            lifespan="on",
            **options,
        )
    )
    server.run(sockets=None if sock is None else [sock])


def _where(settings, dictionary) -> str:
    return f"http://{settings.collector.listen}/v1/events ({len(dictionary.events)} event definitions)"


def _serve_worker(settings, dictionary, sock, publish, number: int) -> None:
    """A worker process: one collector on the shared socket; a failure is one line and exit status 1."""
    import sys

    try:
        _serve(settings, dictionary, sock, publish, number)
    except Exception as exc:  # noqa: BLE001 — the parent names the worker that stopped; no traceback
        log.error("collector worker %d: %s", number, exc if isinstance(exc, AnalyticsError) else type(exc).__name__)
        sys.exit(EXIT_FAILED)
