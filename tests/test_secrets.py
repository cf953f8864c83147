"""A password written literally in a database URL (not through `${ENV}`) is a secret too: nothing
the run prints or stores shows it, in a URL or bare (a database that quotes it back in an error)."""

from __future__ import annotations

import subprocess
import sys

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from apercite_analytics.config.load import parse
from apercite_analytics.config.secrets import scrub
from apercite_analytics.config.urls import database_url

PASSWORD = "literalpw"  # PostgreSQL here trusts 127.0.0.1: any password connects


def test_loading_a_config_registers_a_literal_url_password():
    parse({"sources": {"app": {"url": f"postgresql://etl:{PASSWORD}@db.example/x"}}})
    assert scrub(f"the server said: {PASSWORD!r} is wrong") == "the server said: '***' is wrong"


def test_nothing_the_run_prints_or_stores_shows_a_literal_password(tmp_path, pg_url):
    with_password = make_url(pg_url).set(password=PASSWORD).render_as_string(hide_password=False)
    textfile = tmp_path / "apercite.prom"
    config = tmp_path / "analytics.toml"
    config.write_text(
        f"""
[store]
url = "{with_password}"

[monitoring]
textfile = "{textfile}"

[sources.app]
url = "{with_password}"

[sources.down]
url = "postgresql://etl:{PASSWORD}@127.0.0.1:1/x"
retries = 0

[readers.sql.queries.quoted]
source = "app"
sql = "SELECT CAST(:since AS timestamptz) AS time, CAST('{PASSWORD}' AS integer) AS one"

[readers.sql.queries.ok]
source = "app"
sql = "SELECT CAST(:since AS timestamptz) AS time, 1 AS one"

[readers.sql.queries.down]
source = "down"
sql = "SELECT CAST(:since AS timestamptz) AS time, 1 AS one"
"""
    )
    done = subprocess.run(
        [sys.executable, "-m", "apercite_analytics", "read", "sql", "--write", "-v", "-c", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    assert "query 'quoted': invalid input syntax for type integer: \"***\"" in done.stderr  # quoted back, masked
    assert "(postgresql://etl:***@127.0.0.1:1/x)" in done.stderr
    engine = create_engine(database_url(pg_url))
    with engine.connect() as connection:
        stored = [
            str(row)
            for table in ("run_log", "run_reader", "metric")
            for row in connection.execute(text(f"SELECT * FROM {table}"))
        ]
    engine.dispose()
    assert any("invalid input syntax" in row for row in stored)  # the error is stored …
    for output in (done.stdout, done.stderr, textfile.read_text(), *stored):
        assert PASSWORD not in output  # … masked, like everything else
