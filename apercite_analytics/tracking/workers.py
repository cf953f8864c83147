"""Several collector processes on one port (`[collector] workers = N`), for a host with more cores
than one Python process can use: validation, pseudonyms and JSON are CPU work under one GIL.

The parent forks the workers and then only supervises. Each worker is a whole collector (its own
queue, writer thread and database connection) served by uvicorn on its own socket, bound to the
port with SO_REUSEPORT (Linux 3.9+): the kernel spreads the connections over the workers. The
workers send their metrics' snapshots to the parent, which adds them up and writes them into the
store and the textfile, every minute and at the end: one writer, so the counts are the sum of the
workers', never one worker's overwriting another's.

SIGTERM or Ctrl-C: the parent passes SIGTERM on; each worker finishes its requests in flight,
writes its queue and sends its last snapshot; the parent writes the totals and exits 0. A worker
that dies otherwise (killed, out of memory) stops the others the same way and the parent exits 1
naming it, for the service manager to restart the whole collector (`Restart=on-failure`).
The rate limit holds per worker: a client spread over N workers may get N times `rate_limit`.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import signal
import socket
import sys
import time
from typing import Any

from apercite_analytics.config.settings import Settings
from apercite_analytics.dictionary.definitions import Dictionary
from apercite_analytics.errors import EXIT_FAILED, EXIT_OK, SourceError
from apercite_analytics.tracking.selfmetrics import CollectorMetrics
from apercite_analytics.tracking.service import METRICS_EVERY, stopped, write_metrics

log = logging.getLogger("apercite_analytics")


def listening_socket(host: str, port: int) -> socket.socket:
    """A worker's own socket on the collector's port (SO_REUSEPORT: the kernel spreads the incoming
    connections over the workers' sockets evenly, by a hash of each connection's addresses)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=2048, reuse_port=True)


def serve(settings: Settings, dictionary: Dictionary, workers: int, serve_one, metrics_every: float = 0) -> int:
    """Run `workers` processes, each `serve_one(settings, dictionary, sock, publish, number)`, until
    SIGTERM/SIGINT (exit 0) or until one of them dies (exit 1)."""
    every = metrics_every or METRICS_EVERY
    host, port = settings.collector.host, settings.collector.port
    try:
        listening_socket(host, port).close()  # a port in use is one line here, not one per worker
    except OSError as exc:
        where = settings.collector.listen
        raise SourceError(f"collector.listen: cannot listen on {where}: {exc.strerror or exc}") from None
    context = multiprocessing.get_context("fork")  # the workers start from this parsed config
    reports: Any = context.Queue()
    processes = {}
    for number in range(1, workers + 1):
        process = context.Process(
            target=_worker,
            args=(serve_one, settings, dictionary, reports, number),
            name=f"apercite-collector-{number}",
            daemon=False,
        )
        process.start()
        processes[number] = process

    stopping: list[int] = []

    def stop(signum: int, frame: Any) -> None:
        if not stopping:
            stopping.append(signum)
            for process in processes.values():
                if process.is_alive():
                    process.terminate()  # SIGTERM: uvicorn's graceful shutdown, then the queue is written

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    latest: dict[int, dict] = {}
    failed: list[str] = []
    next_report = time.monotonic() + every
    try:
        while any(p.is_alive() for p in processes.values()) or not reports.empty():
            _drain(reports, latest, timeout=0.2)
            for number, process in processes.items():
                if process.exitcode not in (None, 0) and not stopping and not failed:
                    failed.append(f"collector worker {number} exited ({_how(process.exitcode)}): stopping the others")
                    log.error("%s", failed[0])
                    stop(signal.SIGTERM, None)
            if time.monotonic() >= next_report:
                next_report += every
                _write(settings, latest)
        for process in processes.values():
            process.join()
        _drain(reports, latest, timeout=0)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    metrics = _write(settings, latest)
    stopped(metrics)
    return EXIT_FAILED if failed else EXIT_OK


def _worker(serve_one, settings: Settings, dictionary: Dictionary, reports, number: int) -> None:
    try:
        sock = listening_socket(settings.collector.host, settings.collector.port)
    except OSError as exc:
        log.error("collector worker %d: cannot listen on %s: %s", number, settings.collector.listen, exc.strerror)
        sys.exit(EXIT_FAILED)
    for signum in (signal.SIGTERM, signal.SIGINT):
        # uvicorn handles them while it serves, then raises them again with the handler it found:
        # this one, so that the worker returns and its last snapshot leaves before it exits
        signal.signal(signum, _after_shutdown)
    serve_one(settings, dictionary, sock, lambda snapshot: reports.put((number, snapshot)), number)
    reports.close()
    reports.join_thread()  # the snapshot sent at shutdown is in the pipe


def _after_shutdown(signum: int, frame: Any) -> None:
    """A signal after uvicorn's shutdown: nothing left to stop."""


def _drain(reports, latest: dict[int, dict], timeout: float) -> None:
    """Take every snapshot waiting (the newest of each worker wins: they are totals, not increments)."""
    try:
        number, snapshot = reports.get(timeout=timeout) if timeout else reports.get_nowait()
        latest[number] = snapshot
        while True:
            number, snapshot = reports.get_nowait()
            latest[number] = snapshot
    except queue.Empty:
        return


def _write(settings: Settings, latest: dict[int, dict]) -> CollectorMetrics:
    metrics = CollectorMetrics.combined(list(latest.values()))
    write_metrics(settings, metrics, metrics.pending)
    return metrics


def _how(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            return f"killed by {signal.Signals(-exitcode).name}"
        except ValueError:
            return f"killed by signal {-exitcode}"
    return f"exit status {exitcode}"
