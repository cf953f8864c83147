"""The quick start as a newcomer runs it after a plain `pip install`: from a wheel built from this
tree (not the tree itself), in a fresh venv, in an empty folder: `demo` (which uses `init`),
`read all --write`, `metrics validate --strict`, and `dashboards build` against the files `init`
wrote; then `init` alone in another folder.

Slow by nature (a venv and its dependencies): the wheel is built once per session from a copy of
the tree, and pip's own cache is reused, so it takes about a minute here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
COPY_IGNORES = shutil.ignore_patterns(
    ".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache", ".ruff_cache", "*.db*"
)


def run(*args: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "APERCITE_CONFIG", "VIRTUAL_ENV")}
    result = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"{' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="session")
def installed(tmp_path_factory) -> Path:
    """A fresh venv with the wheel built from a copy of this tree installed: its bin/ folder."""
    base = tmp_path_factory.mktemp("wheel")
    source = base / "source"
    shutil.copytree(ROOT, source, ignore=COPY_IGNORES)  # a stale build/ of the tree must not leak in
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", base / "dist", source, cwd=base)
    (wheel,) = (base / "dist").glob("apercite_analytics-*.whl")
    # no pip inside the venv (this pip installs into it), no .pyc compiling: half the time
    run(sys.executable, "-m", "venv", "--without-pip", base / "venv", cwd=base)
    run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        base / "venv/bin/python",
        "install",
        "-q",
        "--no-compile",
        wheel,
        cwd=base,
    )
    return base / "venv/bin"


def test_quick_start_from_a_wheel_in_an_empty_folder(installed, tmp_path):
    cli = installed / "apercite-analytics"
    where = run(
        installed / "python",
        "-c",
        "from apercite_analytics import shipped; print(shipped.folder('grafana'))",
        cwd=tmp_path,
    )
    assert Path(where.stdout.strip()).is_relative_to(installed.parent)  # the package's copy, not this tree

    demo = run(cli, "demo", cwd=tmp_path)
    assert "metrics/: wrote" in demo.stderr and "grafana/: wrote" in demo.stderr
    written = run(cli, "read", "all", "--write", cwd=tmp_path)
    assert "run ok" in written.stderr and "not in the dictionary" not in written.stderr
    for reader in ("events", "objects", "spiders", "sql.signups"):
        assert f"\n{reader} " in written.stderr
    run(cli, "metrics", "validate", "--strict", cwd=tmp_path)
    built = run(cli, "dashboards", "build", "--out", "grafana/dashboards", cwd=tmp_path)
    lines = [line for line in built.stderr.splitlines() if not line.startswith("warning: ")]  # KPIs without data
    assert len(lines) == len(list((ROOT / "grafana/dashboards").glob("*.json")))
    assert all(line.startswith("unchanged ") for line in lines), built.stderr  # init wrote what the code builds

    fresh = tmp_path / "fresh"
    run(cli, "init", fresh, cwd=tmp_path)
    for name in ("metrics", "grafana"):
        for path in (ROOT / name).rglob("*"):
            if path.is_file():
                assert (fresh / name / path.relative_to(ROOT / name)).read_bytes() == path.read_bytes()
    run(cli, "metrics", "validate", "-c", fresh / "analytics.toml", cwd=tmp_path)
