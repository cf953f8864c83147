"""Self-monitoring: etl.* values in the store, the Prometheus textfile, the run log per reader, and
no secret anywhere a failure is reported."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from support.ports import free_port
from support.textfile import parse_textfile

SECRET = "Sup3r-s3cret_pw"


@pytest.fixture
def website(tmp_path: Path) -> Path:
    path = tmp_path / "website.db"
    with sqlite3.connect(path) as db:
        db.executescript("CREATE TABLE users (id INTEGER PRIMARY KEY); INSERT INTO users DEFAULT VALUES;")
    return path


def test_a_run_reports_itself_everywhere_without_secrets(tmp_path, website):
    dead_port = free_port()
    config = tmp_path / "analytics.toml"
    config.write_text(f"""
[store]
url = "sqlite:///{tmp_path / "store.db"}"

[monitoring]
textfile = "metrics/apercite.prom"

[sources.website]
url = "sqlite:///{website}"

[sources.app]
url = "postgresql://app:${{APP_DB_PASSWORD}}@127.0.0.1:{dead_port}/app"
connect_timeout = 1
retries = 0

[readers.objects]
source = "website"
tables = ["users"]

[readers.sql.queries.broken]
source = "app"
sql = "SELECT now() AS time, 1 AS one"
metric = "app.{{column}}"
""")
    result = subprocess.run(
        [sys.executable, "-m", "apercite_analytics", "read", "all", "--write", "-v", "-c", str(config)],
        capture_output=True,
        text=True,
        env={"APP_DB_PASSWORD": SECRET, "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert result.returncode == 1
    assert SECRET not in result.stdout + result.stderr
    assert f"postgresql://app:***@127.0.0.1:{dead_port}/app" in result.stderr

    db = sqlite3.connect(tmp_path / "store.db")
    (errors,) = db.execute("SELECT errors FROM run_log").fetchone()
    assert SECRET not in errors and "app:***@" in errors
    etl = dict(
        db.execute(
            "SELECT m.name, v.value FROM hourly_value v JOIN metric m ON m.id = v.metric_id WHERE m.name LIKE 'etl.%'"
        )
    )
    assert etl["etl.reader.objects.ok"] == 1 and etl["etl.reader.sql.ok"] == 0
    assert etl["etl.reader.objects.records"] == 1 and etl["etl.reader.sql.errors"] == 1
    assert etl["etl.run.values"] == 1 and etl["etl.run.errors"] == 1 and etl["etl.run.rejected"] == 0
    assert etl["etl.run.seconds"] > 0
    assert sorted(db.execute("SELECT reader, status, records, errors FROM run_reader")) == [
        ("objects", "ok", 1, 0),
        ("sql", "failed", 0, 1),
    ]
    db.close()

    textfile = tmp_path / "metrics" / "apercite.prom"
    content = textfile.read_text()
    assert SECRET not in content
    samples = parse_textfile(content)
    assert samples[("apercite_run_success", "")] == 0
    assert samples[("apercite_run_errors", "")] == 1
    assert samples[("apercite_run_values_written", 'table="hourly_value"')] == 1
    assert samples[("apercite_reader_last_run_success", 'reader="objects"')] == 1
    assert samples[("apercite_reader_last_run_success", 'reader="sql"')] == 0
    assert ("apercite_reader_last_success_timestamp_seconds", 'reader="sql"') not in samples
    first_success = samples[("apercite_reader_last_success_timestamp_seconds", 'reader="objects"')]
    assert first_success > 1.7e9
    assert list(textfile.parent.iterdir()) == [textfile]  # no temporary file left behind

    # a later run of one reader keeps the other reader's last success in the file (from the store)
    again = subprocess.run(
        [sys.executable, "-m", "apercite_analytics", "read", "objects", "--write", "-c", str(config)],
        capture_output=True,
        text=True,
        env={"APP_DB_PASSWORD": SECRET, "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert again.returncode == 0, again.stderr
    samples = parse_textfile(textfile.read_text())
    assert samples[("apercite_run_success", "")] == 1
    assert samples[("apercite_reader_last_success_timestamp_seconds", 'reader="objects"')] > first_success


def test_monitoring_config_errors_name_the_key(tmp_path):
    from apercite_analytics.config import load as config
    from apercite_analytics.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^monitoring.textfile: node_exporter only reads files ending in .prom$"):
        config.parse({"monitoring": {"textfile": "/tmp/x.txt"}})
    with pytest.raises(ConfigError, match=r"^monitoring.store: expected true or false"):
        config.parse({"monitoring": {"store": "yes"}})
    with pytest.raises(ConfigError, match=r"^sources.app.retries: must be between 0 and 10, got 11$"):
        config.parse({"sources": {"app": {"url": "sqlite:///x.db", "retries": 11}}})


def test_a_textfile_that_cannot_be_written_fails_the_run_everywhere(tmp_path, website):
    """One verdict: exit 1, the summary says FAILED and why, and so do run_log and the job's own metrics."""
    (tmp_path / "metrics").write_text("a file where the textfile's folder should be")
    config = tmp_path / "analytics.toml"
    config.write_text(f"""
[store]
url = "sqlite:///{tmp_path / "store.db"}"

[monitoring]
textfile = "metrics/apercite.prom"

[sources.website]
url = "sqlite:///{website}"

[readers.objects]
source = "website"
tables = ["users"]
""")
    result = subprocess.run(
        [sys.executable, "-m", "apercite_analytics", "read", "all", "--write", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "monitoring.textfile: cannot write" in errors[0], result.stderr
    assert result.stderr.splitlines()[-1].startswith("run FAILED: 1 node error ("), result.stderr
    db = sqlite3.connect(tmp_path / "store.db")
    status, logged = db.execute("SELECT status, errors FROM run_log").fetchone()
    assert status == "failed" and "monitoring.textfile: cannot write" in logged
    etl = dict(db.execute("SELECT m.name, v.value FROM hourly_value v JOIN metric m ON m.id = v.metric_id"))
    assert etl["etl.run.errors"] == 1 and etl["objects.users.count"] == 1
    db.close()
