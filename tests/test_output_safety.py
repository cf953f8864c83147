"""No secret and no forged line in any output (issue 15, items 7, 8, 9): passwords in a URL's query
string, literal or from `${ENV}`; a password with a raw `@`; control characters in names read
from data. Each run is the real command in a subprocess; stderr (with -v), `run_log` and the
monitoring textfile are all searched."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from support.ports import free_port

from apercite_analytics.config.load import parse
from apercite_analytics.config.secrets import mask_url, scrub
from apercite_analytics.config.urls import database_url

QUERY_SECRET = "Qu3ry-env-secret"  # ?password=${APP_DB_PASS}
LITERAL_SECRET = "L1teral-sslpass"  # ?sslpassword=… written in the config
STORE_SECRET = "St0re-literal-pw"  # ?password=… in the store URL (trust auth ignores it)
TOKEN_SECRET = "T0ken-in-a-query"  # ?api_token=… of a json document URL


def run(config: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "apercite_analytics", *args, "-c", str(config)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        timeout=180,
    )


def test_query_string_passwords_are_masked_in_stderr_run_log_and_textfile(tmp_path, pg_url):
    """Item 7: `?password=${APP_DB_PASS}` appeared in full on stderr, in -v output and in run_log."""
    dead = free_port()
    website = tmp_path / "website.db"
    with sqlite3.connect(website) as db:
        db.execute("CREATE TABLE users (id INTEGER)")
    store_url = f"{pg_url}?password={STORE_SECRET}"
    config = tmp_path / "analytics.toml"
    config.write_text(f"""
[store]
url = "{store_url}"

[monitoring]
textfile = "apercite.prom"

[sources.website]
url = "sqlite:///{website}"

[sources.env]
url = "postgresql://etl@127.0.0.1:{dead}/app?password=${{APP_DB_PASS}}&application_name=etl"
connect_timeout = 2
retries = 0

[sources.literal]
url = "postgresql://etl@127.0.0.1:{dead}/app?sslmode=disable&sslpassword={LITERAL_SECRET}"
connect_timeout = 2
retries = 0

[readers.objects]
source = "website"
tables = ["users"]

[readers.sql.queries.from_env]
source = "env"
sql = "SELECT now() AS time, 1 AS one"

[readers.sql.queries.from_literal]
source = "literal"
sql = "SELECT now() AS time, 1 AS one"

[readers.json.documents.usage]
url = "http://127.0.0.1:{dead}/usage?api_token={TOKEN_SECRET}"
timeout = 2
retries = 0
""")
    result = run(config, "read", "all", "--write", "-v", env={"APP_DB_PASS": QUERY_SECRET})
    assert result.returncode == 1, result.stderr
    output = result.stdout + result.stderr
    # the sources are named, their URLs shown masked (so the test would see a leak)
    assert f"postgresql://etl@127.0.0.1:{dead}/app?application_name=etl&password=***" in result.stderr
    assert "sslpassword=***" in result.stderr and "api_token=***" in result.stderr
    assert "initialised an empty store (postgresql://" in result.stderr and "password=***" in result.stderr

    engine = create_engine(database_url(pg_url))
    with engine.connect() as connection:
        command, errors = connection.execute(text("SELECT command, errors FROM run_log")).one()
    engine.dispose()
    assert "password=***" in errors and "api_token=***" in errors
    textfile = (tmp_path / "apercite.prom").read_text()
    assert "apercite_run_success 0" in textfile

    for secret in (QUERY_SECRET, LITERAL_SECRET, STORE_SECRET, TOKEN_SECRET):
        for where, content in (("stderr", output), ("run_log", command + errors), ("textfile", textfile)):
            assert secret not in content, f"{secret} in {where}"


@pytest.mark.parametrize(
    ("section", "key"),
    [
        ('[store]\nurl = "postgresql://u:{url_secret}@127.0.0.1/db"', "store.url"),
        ('[sources.app]\nurl = "postgresql://u:{url_secret}@127.0.0.1:5432/db"', "sources.app.url"),
        (
            '[readers.prometheus]\nurl = "http://u:{url_secret}@127.0.0.1:9090"\n'
            '[readers.prometheus.queries.up]\nexpr = "up"\nmetric = "up"',
            "readers.prometheus.url",
        ),
        (
            '[readers.json.documents.usage]\nurl = "https://u:{url_secret}@example.com/usage"',
            "readers.json.documents.usage.url",
        ),
    ],
)
def test_an_unencoded_at_sign_in_a_password_is_refused_at_config_time(tmp_path, section, key):
    """Item 8: `u:hunter2@topsecretpart@127.0.0.1` showed `topsecretpart` as the host, and the resolver's error."""
    config = tmp_path / "analytics.toml"
    config.write_text(section.format(url_secret="hunter2@topsecretpart") + "\n")
    result = run(config, "read", "all")
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert f"{key}: more than one '@' before the host: percent-encode '@'" in result.stderr
    assert "hunter2" not in result.stderr and "topsecretpart" not in result.stderr


def test_a_percent_encoded_at_sign_is_accepted_and_masked():
    url = "postgresql://u:hunter2%40topsecretpart@127.0.0.1/db"
    assert mask_url(url) == "postgresql://u:***@127.0.0.1/db"
    assert scrub(f"cannot connect to {url}: refused") == "cannot connect to postgresql://u:***@127.0.0.1/db: refused"


FORGED = "x\nerror: FORGED LINE\nrun ok (0.1 s)\u001b[2J\u009b31m"


def test_names_from_data_cannot_forge_log_lines(tmp_path):
    """Item 9: a JSON key with newlines and terminal escapes was printed raw in the "skipped" line."""
    document = tmp_path / "usage.json"
    document.write_text(json.dumps({"users": 3, FORGED: "a string, skipped", "b": {FORGED: None}}))
    collision = tmp_path / "collide.json"  # two keys that give one name: an error quoting both keys
    collision.write_text(json.dumps({f"a{FORGED}": 1, f"A{FORGED}": 2}))
    config = tmp_path / "analytics.toml"
    config.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "store.db"}"\n[monitoring]\ntextfile = "run.prom"\n'
        f'[readers.json.documents.usage]\npath = "{document}"\n'
        f'[readers.json.documents.collide]\npath = "{collision}"\n'
    )
    result = run(config, "read", "json", "--write", "-v")
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert not [line for line in lines if line.startswith(("error: FORGED", "run ok"))], result.stderr
    assert "\x1b" not in result.stderr and "\x9b" not in result.stderr
    skipped = next(line for line in lines if "skipped 2 values that are not numbers" in line)
    assert "x\\nerror: FORGED LINE\\nrun ok (0.1 s)\\x1b[2J\\x9b31m (string)" in skipped

    with sqlite3.connect(tmp_path / "store.db") as db:
        (errors,) = db.execute("SELECT errors FROM run_log").fetchone()
    assert errors.count("\n") == 0 and "\\n" in errors  # one failure, one line, its newlines escaped
    assert "\x1b" not in errors and "\x9b" not in errors
    textfile = (tmp_path / "run.prom").read_text()
    assert "FORGED" not in textfile and "\x1b" not in textfile


def test_a_literal_value_under_a_password_key_is_masked():
    parse({"report": {"smtp_user": "etl", "smtp_password": "L1teral-smtp-pw"}})
    assert scrub("535 authentication failed for L1teral-smtp-pw") == "535 authentication failed for ***"
