"""The installed commands as a user runs them: `python -m apercite_analytics`, the console script, the demo."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def run(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k != "APERCITE_CONFIG"} | (env or {})
    return subprocess.run(
        [sys.executable, "-m", "apercite_analytics", *args],
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_demo_then_the_hourly_job_writes_rows(tmp_path):
    demo = run("demo", cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert (tmp_path / "demo-website.db").is_file() and (tmp_path / "analytics.toml").is_file()
    job = run("read", "all", "--write", cwd=tmp_path)
    assert job.returncode == 0, job.stderr
    assert "run ok" in job.stderr and job.stdout == ""
    with sqlite3.connect(tmp_path / "analytics.db") as db:
        counts = dict(
            db.execute(
                "SELECT m.name, h.value FROM hourly_value h JOIN metric m ON m.id = h.metric_id "
                "WHERE m.name LIKE 'objects.%' ORDER BY h.date DESC, h.hour DESC"
            ).fetchall()
        )
        signups = db.execute(
            "SELECT count(*) FROM hourly_value h JOIN metric m ON m.id = h.metric_id WHERE m.name LIKE 'app.signups.%'"
        ).fetchone()[0]
        activations = db.execute("SELECT count(*) FROM daily_value").fetchone()[0]
        status = db.execute("SELECT status FROM run_log").fetchall()
    assert counts == {
        "objects.users.count": 600,
        "objects.projects.count": counts["objects.projects.count"],
        "objects.screenshots.count": 3000,
    }
    assert signups > 0 and activations > 0
    assert status == [("ok",)]
    # demo refuses to clobber its database, keeps an existing config
    again = run("demo", cwd=tmp_path)
    assert again.returncode == 2 and "exists (use --force to recreate it)" in again.stderr
    forced = run("demo", "--force", cwd=tmp_path)
    assert forced.returncode == 0 and "kept the existing" in forced.stderr


def test_console_script_and_version(tmp_path):
    script = BIN / "apercite-analytics"
    assert script.is_file(), "the console script is installed with the package"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("apercite-analytics ")


@pytest.mark.parametrize(
    ("args", "code", "first_line"),
    [
        (["read", "all"], 2, "error: analytics.toml: config file not found (pass --config, set APERCITE_CONFIG"),
        (["frobnicate"], 2, "apercite-analytics: error: argument COMMAND: invalid choice: 'frobnicate'"),
        (["read"], 2, "apercite-analytics read: error: the following arguments are required: READER"),
        (
            ["dashboards", "push", "--url", "http://127.0.0.1:1", "--timeout", "nan"],
            2,
            "apercite-analytics dashboards push: error: argument --timeout: 'nan' is not a number of seconds",
        ),
    ],
)
def test_errors_from_the_shell(tmp_path, args, code, first_line):
    result = run(*args, cwd=tmp_path)
    assert result.returncode == code
    assert result.stderr.startswith(first_line), result.stderr
    assert "Traceback" not in result.stderr


def test_config_from_the_environment_variable(tmp_path):
    (tmp_path / "custom.toml").write_text('[store]\nurl = "sqlite:///custom-store.db"\n')
    result = run("db", "upgrade", cwd=tmp_path, env={"APERCITE_CONFIG": str(tmp_path / "custom.toml")})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "custom-store.db").is_file()


def test_piping_into_head_is_quiet_and_succeeds(tmp_path):
    """`read … | head` closes stdout early: no traceback, no error, exit 0."""
    source = tmp_path / "big.db"
    with sqlite3.connect(source) as db:
        db.execute("CREATE TABLE t (h INTEGER, k INTEGER)")
        db.executemany("INSERT INTO t VALUES (?, ?)", [(h, k) for h in range(24) for k in range(200)])
    (tmp_path / "analytics.toml").write_text(f"""
[sources.big]
url = "sqlite:///{source}"
[readers.sql.queries.big]
source = "big"
sql = "SELECT printf('2026-11-20 %02d:00:00', h) AS time, k, 1 AS n FROM t"
dimensions = ["k"]
metric = "big.{{k}}"
""")
    command = f"{sys.executable} -m apercite_analytics read sql | head -n 3; exit ${{PIPESTATUS[0]}}"
    result = subprocess.run(["bash", "-c", command], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.splitlines()) == 3
    assert "Traceback" not in result.stderr and "error" not in result.stderr
    assert "run ok" in result.stderr
