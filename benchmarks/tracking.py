"""Benchmark 4: product events in — the SDK's cost to the app and the collector's throughput.

* track() — the median time of one `tracker.track(...)` call (timed in blocks of 1,000 calls, the
  SDK sending to a live collector meanwhile), against the baseline an app without the SDK pays:
  one synchronous `INSERT` of the event into PostgreSQL per call (autocommit, psycopg2, one
  connection kept open).
* collector throughput — events/s from the first request until the last event is committed in the
  PostgreSQL events table, clients posting batches of 100 events over kept-alive connections (a
  new one every `RECONNECT` requests) from `CLIENTS` processes; against one `INSERT` per event
  (autocommit, one connection), the way an app or a naive collector writes. Same machine, same
  scratch database, same run.
* single-event requests/s — clients posting one event per request; next to it the framework's
  floor on this machine (`GET /health`, which does no work).

The collector is the real command (`apercite-analytics collect`), run twice: with one process
(`workers = 1`) and with two (`workers = 2`: a parent and two processes sharing the port), uvicorn
with httptools/uvloop; the clients share the machine's 2 cores with it and with PostgreSQL, so
the figures are a floor for a dedicated collector host. Every event carries a user never seen
before, so no pseudonym is remembered: the worst case for the collector.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import psycopg2
from sqlalchemy.engine import make_url

from benchmarks.common import ROOT, median, scratch_database, spread, table

KEY = "bench-key-0123456789abcdef"
CLIENTS = 4  # sender processes: more senders than cores, as a collector serving many apps and browsers has
WORKERS = (1, 2)  # collector processes (`[collector] workers`)
RECONNECT = 10  # requests per kept-alive connection


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Collector:
    """`apercite-analytics collect` on a free port, events into `url` (tables made by --init-table)."""

    def __init__(self, url: str, folder: Path, workers: int = 1):
        self.port = _free_port()
        self.config = folder / f"analytics-{workers}.toml"
        self.config.write_text(
            f'[store]\nurl = "sqlite:///{folder / "store.db"}"\n[monitoring]\nstore = false\n'
            f'[dictionary]\npath = "{ROOT / "metrics"}"\n[collector]\nurl = "{url}"\n'
            f'listen = "127.0.0.1:{self.port}"\nkey = "${{APERCITE_EVENTS_KEY}}"\nrate_limit = 1000000.0\n'
            f"burst = 1000000\nbatch_size = 2000\nflush_every = 0.05\nqueue_size = 2000000\nworkers = {workers}\n"
        )
        self.env = {**os.environ, "APERCITE_EVENTS_KEY": KEY}
        command = [sys.executable, "-m", "apercite_analytics", "collect", "-c", str(self.config)]
        subprocess.run([*command, "--init-table"], check=True, env=self.env, capture_output=True)
        self.process = subprocess.Popen(command, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if _request(self.port, "GET", "/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("the collector did not start")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(60)


def _request(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def _event(i: int) -> dict:
    return {
        "name": "screenshot_rendered",
        "at": datetime.now(UTC).isoformat(),
        "user_id": f"user-{i}",  # a new user in every event: no pseudonym is remembered (the worst case)
        "duration_ms": 100.0 + i % 900,
        "properties": {"format": "png", "width": 1200, "cached": i % 2 == 0},
    }


def _batches(first: int, count: int, size: int = 100) -> list[bytes]:
    """`count` request bodies of `size` events each, numbered from event `first` on (distinct users)."""
    return [
        json.dumps({"version": 1, "events": [_event(first + b * size + i) for i in range(size)]}).encode()
        for b in range(count)
    ]


def _client(port: int, method: str, path: str, bodies: list[bytes | None], requests: int, out) -> None:
    """One client process: `requests` requests on one kept-alive connection; sends back the statuses."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    statuses: dict[int, int] = {}
    for n in range(requests):
        if n and n % RECONNECT == 0:  # as senders come and go; and the kernel spreads connections over workers
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        body = bodies[n % len(bodies)]
        connection.request(method, path, body, {"Content-Type": "application/json"} if body else {})
        response = connection.getresponse()
        response.read()
        statuses[response.status] = statuses.get(response.status, 0) + 1
    connection.close()
    out.put(statuses)


def _load(
    port: int, method: str, path: str, bodies: list[list[bytes | None]], requests: int
) -> tuple[float, dict[int, int]]:
    """Seconds for CLIENTS processes to make `requests` requests each (client k cycling through
    `bodies[k]`), and the statuses they got."""
    context = multiprocessing.get_context("fork")
    out = context.Queue()
    workers = [
        context.Process(target=_client, args=(port, method, path, bodies[k], requests, out)) for k in range(CLIENTS)
    ]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    statuses: dict[int, int] = {}
    for _ in workers:
        for status, n in out.get().items():
            statuses[status] = statuses.get(status, 0) + n
    for worker in workers:
        worker.join()
    return time.perf_counter() - started, statuses


def _count(dsn: str) -> int:
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM events")
        return cursor.fetchone()[0]


def _insert_per_event(dsn: str, n: int) -> list[float]:
    """The baseline: one autocommitted INSERT per event; returns each call's seconds."""
    connection = psycopg2.connect(dsn)
    connection.autocommit = True
    cursor = connection.cursor()
    timings = []
    for i in range(n):
        event = _event(i)
        started = time.perf_counter()
        cursor.execute(
            "INSERT INTO events (name, created_at, user_id, duration_ms, properties, key_id, received_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, now())",
            (event["name"], event["at"], event["user_id"], event["duration_ms"], json.dumps(event["properties"]), "k1"),
        )
        timings.append(time.perf_counter() - started)
    connection.close()
    return timings


def _track_block_medians(tracker, blocks: int) -> float:
    """Median seconds per track() call, over blocks of 1,000 calls."""
    per_call = []
    for _ in range(blocks):
        started = time.perf_counter()
        for i in range(1000):
            tracker.track("screenshot_rendered", user_id=i, duration_ms=120.5, properties={"format": "png"})
        per_call.append((time.perf_counter() - started) / 1000)
        tracker.flush(30)  # the sending thread works between blocks, as it would between requests
    return median(per_call)


def _pipeline_events_per_second(url: str, bodies: list[bytes]) -> float:
    """The collector's work without HTTP, in this process: decode, validate and pseudonymize, COPY."""
    from datetime import timedelta

    from apercite_analytics.dictionary.definitions import load
    from apercite_analytics.tracking.pseudonymize import Pseudonymizer
    from apercite_analytics.tracking.sql_sink import SQLSink
    from apercite_analytics.tracking.validation import Validator, decode
    from apercite_analytics.window import utcnow

    dictionary, _ = load(ROOT / "metrics")
    validator = Validator(
        dictionary.events,
        Pseudonymizer(KEY.encode(), "k1"),
        max_past=timedelta(days=7),
        max_future=timedelta(hours=1),
        max_events=1000,
    )
    sink = SQLSink(url)
    started = time.perf_counter()
    pending = []
    for body in bodies:
        pending += validator.batch(decode(body), utcnow(), {}).events
        if len(pending) >= 2000:
            sink.write(pending)
            pending = []
    sink.write(pending)
    seconds = time.perf_counter() - started
    sink.close()
    return len(bodies) * 100 / seconds


def _throughput(collector: Collector, dsn: str, batches: list[list[bytes]], requests: int) -> float:
    """Events/s from the first request until the last event is committed."""
    before = _count(dsn)
    started = time.perf_counter()
    _, statuses = _load(collector.port, "POST", "/v1/events", batches, requests)
    expected = before + requests * CLIENTS * 100
    while _count(dsn) < expected and time.perf_counter() - started < 600:
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    assert statuses == {202: requests * CLIENTS} and _count(dsn) == expected, statuses
    return requests * CLIENTS * 100 / seconds


def run(runs: int, events: int = 200_000, single: int = 3_000, log=print) -> tuple[str, dict]:
    from apercite_analytics.tracking.sdk import Tracker

    names = ("track", "insert", "pipeline", "per-event", "health")
    names += tuple(f"{what}{w}" for w in WORKERS for what in ("ours", "single"))
    figures: dict[str, list[float]] = {k: [] for k in names}
    with scratch_database() as url, tempfile.TemporaryDirectory() as folder:
        dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        collectors: dict[int, Collector] = {}
        try:
            for workers in WORKERS:
                collectors[workers] = Collector(url, Path(folder), workers)
            one = collectors[1]
            requests = events // 100 // CLIENTS
            for run_number in range(runs):
                log(f"tracking run {run_number + 1}/{runs}: track()")
                tracker = Tracker.http(one.url, queue_size=100_000)
                figures["track"].append(_track_block_medians(tracker, 20))
                tracker.close(30)
                figures["insert"].append(median(_insert_per_event(dsn, 2_000)))

                for workers, collector in collectors.items():
                    log(f"tracking run {run_number + 1}/{runs}: collector ({workers} workers), batches of 100")
                    first = (run_number * len(WORKERS) + workers) * (events + single)  # no user is seen twice
                    batches = [_batches(first + k * requests * 100, requests) for k in range(CLIENTS)]
                    figures[f"ours{workers}"].append(_throughput(collector, dsn, batches, requests))
                    ones = [_batches(first + events + k * single, single // CLIENTS, size=1) for k in range(CLIENTS)]
                    seconds, _ = _load(collector.port, "POST", "/v1/events", ones, single // CLIENTS)
                    figures[f"single{workers}"].append(single // CLIENTS * CLIENTS / seconds)
                figures["pipeline"].append(_pipeline_events_per_second(url, batches[0]))
                timings = _insert_per_event(dsn, 5_000)
                figures["per-event"].append(len(timings) / sum(timings))
                seconds, _ = _load(one.port, "GET", "/health", [[None]] * CLIENTS, single // CLIENTS)
                figures["health"].append(single // CLIENTS * CLIENTS / seconds)
        finally:
            for collector in collectors.values():
                collector.stop()
    ratio_track = median([i / t for i, t in zip(figures["insert"], figures["track"], strict=True)])
    rows = [
        ["track() per call, µs", f"{median(figures['track']) * 1e6:.2f} {spread(figures['track'])}"],
        [
            "baseline: synchronous INSERT per event, µs",
            f"{median(figures['insert']) * 1e6:.0f} {spread(figures['insert'])}",
        ],
        ["  ratio (INSERT / track)", f"{ratio_track:.0f}×"],
    ]
    for workers in WORKERS:
        ours = figures[f"ours{workers}"]
        ratio = median([o / p for o, p in zip(ours, figures["per-event"], strict=True)])
        rows += [
            [
                f"collector, workers = {workers}, batches of 100, {events:,} events, events/s",
                f"{median(ours):,.0f} {spread(ours)}",
            ],
            ["  ratio (collector / one INSERT per event)", f"{ratio:.1f}×"],
        ]
    rows += [
        ["the same work without HTTP, one process, events/s", f"{median(figures['pipeline']):,.0f}"],
        [
            "baseline: one INSERT per event, events/s",
            f"{median(figures['per-event']):,.0f} {spread(figures['per-event'])}",
        ],
        *(
            [
                f"single-event POST requests/s, workers = {w}",
                f"{median(figures[f'single{w}']):,.0f} {spread(figures[f'single{w}'])}",
            ]
            for w in WORKERS
        ),
        ["floor: GET /health requests/s, 1 worker", f"{median(figures['health']):,.0f} {spread(figures['health'])}"],
    ]
    text = "4. Product events in (SDK and collector)\n" + table(["measure", "median"], rows)
    return text, {k: median(v) for k, v in figures.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="20,000 events, 600 single requests, 1 run")
    args = parser.parse_args(argv)
    sizes = {"events": 20_000, "single": 600} if args.quick else {}
    text, figures = run(1 if args.quick else args.runs, log=lambda m: print(f"  … {m}", file=sys.stderr), **sizes)
    print(text)
    print(f"track(): {figures['track'] * 1e6:.2f} µs median (target < 5 µs)")
    speeds = ", ".join(f"{figures[f'ours{w}']:,.0f} events/s with workers = {w}" for w in WORKERS)
    print(f"collector into PostgreSQL: {speeds} (target ≥ 50,000 on 2 cores)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
