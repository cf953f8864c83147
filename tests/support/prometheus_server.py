"""A real Prometheus for tests and benchmarks: OpenMetrics test data → promtool blocks → a server on a free port.

    blocks = create_blocks(write_openmetrics(path, samples), tmp / "tsdb")
    with PrometheusServer(blocks) as server:
        server.url                       # http://127.0.0.1:<free port>

Needs Debian's `prometheus` package (`prometheus` and `promtool` on PATH; `.ci/run` installs it).
The server scrapes nothing and keeps blocks for 100 years: the test data's fixed past dates stay
queryable (time retention counts from the newest block, but the margin costs nothing).
"""

from __future__ import annotations

import math
import shutil
import subprocess
import time
import urllib.request
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

from support.ports import free_port

Sample = tuple[str, dict[str, str], int, float]  # metric, labels, unix seconds, value


def _value(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def write_openmetrics(path: Path, samples: Iterable[Sample]) -> Path:
    """Gauges in OpenMetrics text: families contiguous, each series in time order, `# EOF` last."""
    families: dict[str, dict[tuple, list[tuple[int, float]]]] = defaultdict(lambda: defaultdict(list))
    for metric, labels, at, value in samples:
        families[metric][tuple(sorted(labels.items()))].append((at, value))
    with path.open("w", encoding="utf-8") as out:
        for metric, series in families.items():
            out.write(f"# TYPE {metric} gauge\n")
            for labels, points in series.items():
                label_text = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                head = f"{metric}{{{label_text}}}" if labels else metric
                out.writelines(f"{head} {_value(v)} {at}\n" for at, v in sorted(points))
        out.write("# EOF\n")
    return path


def require_binaries() -> None:
    missing = [b for b in ("prometheus", "promtool") if shutil.which(b) is None]
    if missing:
        raise RuntimeError(
            f"{' and '.join(missing)} not found: apt-get install -y --no-install-recommends prometheus (.ci/run does)"
        )


def create_blocks(openmetrics: Path, tsdb: Path) -> Path:
    require_binaries()
    tsdb.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        ["promtool", "tsdb", "create-blocks-from", "openmetrics", "-q", str(openmetrics), str(tsdb)],
        capture_output=True,
        text=True,
    )
    if result.returncode:
        raise RuntimeError(f"promtool failed: {result.stderr.strip() or result.stdout.strip()}")
    return tsdb


class PrometheusServer:
    """`prometheus` on a free loopback port over an existing TSDB directory; stopped on exit."""

    def __init__(self, tsdb: Path, ready_timeout: float = 60.0):
        require_binaries()
        self.tsdb = tsdb
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ready_timeout = ready_timeout
        self.process: subprocess.Popen | None = None

    def start(self) -> PrometheusServer:
        config = self.tsdb.parent / f"prometheus-{self.port}.yml"
        config.write_text("global:\n  scrape_interval: 1h\nscrape_configs: []\n")
        self.log = (self.tsdb.parent / f"prometheus-{self.port}.log").open("w")
        self.process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={self.tsdb}",
                "--storage.tsdb.retention.time=100y",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + self.ready_timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"prometheus exited ({self.process.returncode}); see {self.log.name}")
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"prometheus on {self.url} not ready after {self.ready_timeout:.0f} s; see {self.log.name}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()

    def __enter__(self) -> PrometheusServer:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
