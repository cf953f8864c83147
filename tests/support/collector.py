"""A real `apercite-analytics collect` for tests and benchmarks: a config file, the process on a free
loopback port, a client that posts from a chosen loopback address, and the process's log at stop.

    with CollectorProcess(tmp_path, events_url, store_url) as collector:
        collector.post({"version": 1, "events": [...]})      # (status, decoded answer)
    collector.log                                            # everything it printed (stderr + stdout)
"""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from support.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
KEY = "test-key-0123456789abcdef"
CLIENT_ADDRESS = "127.0.0.2"  # the test client's source address: must appear nowhere the collector writes


def write_config(
    folder: Path, events_url: str, store_url: str, port: int, dictionary: Path = ROOT / "metrics", **collector: Any
) -> Path:
    """An analytics.toml with [collector] (key from $APERCITE_EVENTS_KEY; events into `events_url`),
    the dictionary, and an `events` reader on the events database with only `source` set."""
    options = {"listen": f"127.0.0.1:{port}", "key": "${APERCITE_EVENTS_KEY}", "flush_every": 0.1, **collector}
    if events_url != store_url:
        options["url"] = events_url
    lines = [
        "[store]",
        f'url = "{store_url}"',
        "[monitoring]",
        'textfile = "collector.prom"',
        "[dictionary]",
        f'path = "{dictionary}"',
        "[sources.app]",
        f'url = "{events_url}"',
        "[readers.events]",
        'source = "app"',
        "[collector]",
        *(f"{key} = {json.dumps(value)}" for key, value in options.items()),
    ]
    path = folder / "analytics.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


class CollectorProcess:
    def __init__(self, folder: Path, events_url: str, store_url: str, *, env: dict | None = None, **collector: Any):
        self.folder, self.port = folder, free_port()
        self.config = write_config(folder, events_url, store_url, self.port, **collector)
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "APERCITE_EVENTS_KEY": KEY, **(env or {})}
        self.log = ""
        self.process: subprocess.Popen | None = None

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        """`apercite-analytics ARGS -c CONFIG` in this process (what it printed, its exit status)."""
        from apercite_analytics.cli.main import main

        out, err = (io.TextIOWrapper(io.BytesIO(), encoding="utf-8") for _ in range(2))  # Bonobo wants .buffer
        saved = os.environ.get("APERCITE_EVENTS_KEY")
        os.environ["APERCITE_EVENTS_KEY"] = KEY
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = main([*args, "-c", str(self.config)])
        finally:
            if saved is None:
                del os.environ["APERCITE_EVENTS_KEY"]
            else:
                os.environ["APERCITE_EVENTS_KEY"] = saved
        printed = []
        for stream in (out, err):
            stream.flush()
            printed.append(stream.buffer.getvalue().decode())
        return subprocess.CompletedProcess(args, code, *printed)

    def start(self) -> CollectorProcess:
        command = [sys.executable, "-m", "apercite_analytics", "collect", "-c", str(self.config)]
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=self.env, cwd=self.folder
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"collector exited: {self.process.stdout.read()}")
            try:
                if self.request("GET", "/health")[0] == 200:
                    return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("collector did not answer /health within 30 s")

    def stop(self) -> str:
        """SIGTERM (a graceful shutdown), wait, and return what it printed."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process is not None:
            self.log = self.process.stdout.read()
        return self.log

    def __enter__(self) -> CollectorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict | None = None
    ) -> tuple[int, Any, dict]:
        """One request from CLIENT_ADDRESS: (status, decoded JSON answer or text, headers)."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10, source_address=(CLIENT_ADDRESS, 0))
        try:
            chunked = body is not None and not isinstance(body, bytes)  # an iterator: sent chunked, no length
            connection.request(method, path, body, headers or {}, encode_chunked=chunked)
            response = connection.getresponse()
            data = response.read()
            try:
                decoded = json.loads(data)
            except ValueError:
                decoded = data.decode(errors="replace")
            return response.status, decoded, dict(response.getheaders())
        finally:
            connection.close()

    def post(self, document: Any, headers: dict | None = None) -> tuple[int, Any]:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        status, answer, _ = self.request(
            "POST", "/v1/events", body, {"Content-Type": "application/json", **(headers or {})}
        )
        return status, answer
