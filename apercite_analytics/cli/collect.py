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
from apercite_analytics.errors import EXIT_OK, ConfigError

log = logging.getLogger("apercite_analytics")


def add_parsers(commands, common: argparse.ArgumentParser) -> None:
    text = "receive product events over HTTP into the events table (docs/tracking.md)"
    collect = commands.add_parser("collect", parents=[common], help=text, description=text + ".")
    collect.add_argument("--listen", metavar="HOST:PORT", help="override collector.listen")
    collect.add_argument(
        "--init-table",
        action="store_true",
        help="create the events and bad_event tables in collector.url if missing, then exit",
    )


def run(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    if settings.collector is not None and args.listen:
        collector_settings = dataclasses.replace(settings.collector, listen=args.listen)
        collector_settings.check("--listen")
        settings = dataclasses.replace(settings, collector=collector_settings)
    dictionary = definitions.configured(settings)
    if args.init_table:
        from apercite_analytics.tracking.service import pipeline

        _, sink = pipeline(settings, dictionary, init=True)
        log.info("%s: tables events and bad_event ready", sink.where)
        sink.close()
        return EXIT_OK
    try:
        import uvicorn

        from apercite_analytics.tracking.app import create_app
    except ImportError as exc:
        raise ConfigError(
            f"collect needs the collector extra: pip install 'apercite-analytics[collector]' ({exc})"
        ) from None
    from apercite_analytics.tracking.service import Collector

    collector = Collector(settings, dictionary)
    current: CollectorSettings = collector.config
    for name in ("uvicorn", "uvicorn.error"):  # our one-line format; uvicorn's access log (client addresses) is off
        logging.getLogger(name).handlers[:] = log.handlers
        logging.getLogger(name).propagate = False
    log.info("collecting on http://%s/v1/events (%d event definitions)", current.listen, len(dictionary.events))
    uvicorn.run(
        create_app(collector),
        host=current.host,
        port=current.port,
        log_config=None,
        access_log=False,
        server_header=False,
        timeout_graceful_shutdown=30,
        lifespan="on",
    )
    return EXIT_OK
