"""Two chains writing the same metric and hour: refused at config time where the names are literal,
found at run time otherwise; the colliding key is not written, the run fails naming the metric, the
hour and both chains. And no reader may write in the job's own `etl.` namespace."""

from __future__ import annotations

import random
import sqlite3
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from apercite_analytics.config import load as config
from apercite_analytics.errors import ConfigError
from apercite_analytics.writers.claims import Claims, Periods

D = date(2026, 11, 20)
SOURCE = {"app": {"url": "sqlite:///unused.db"}}


def sql(metric: str, **extra) -> dict:
    return {"source": "app", "sql": "SELECT 1 AS time, 111 AS users", "metric": metric, **extra}


@pytest.mark.parametrize(
    ("readers", "message"),
    [
        (
            {"sql": {"queries": {"a": sql("objects.users.count"), "b": sql("objects.users.count")}}},
            "readers.sql.queries.a and readers.sql.queries.b both write the hourly metric 'objects.users.count'",
        ),
        (
            {"objects": {"source": "app", "tables": ["users"]}, "sql": {"queries": {"b": sql("objects.users.count")}}},
            "readers.objects and readers.sql.queries.b both write the hourly metric 'objects.users.count'",
        ),
        (  # the default template with listed value columns is literal too
            {
                "sql": {
                    "queries": {
                        "a": sql("app.{column}", values=["users"]),
                        "b": sql("app.users"),
                    }
                }
            },
            "readers.sql.queries.a and readers.sql.queries.b both write the hourly metric 'app.users'",
        ),
        (
            {
                "sql": {"queries": {"a": sql("up")}},
                "prometheus": {"url": "http://p:9090", "queries": {"up": {"expr": "up", "metric": "up"}}},
            },
            "readers.sql.queries.a and readers.prometheus.queries.up both write the hourly metric 'up'",
        ),
    ],
)
def test_literal_names_written_by_two_sections_are_a_config_error(readers, message):
    with pytest.raises(ConfigError) as raised:
        config.parse({"sources": SOURCE, "readers": readers})
    assert str(raised.value).startswith(message)


def test_same_name_in_two_kinds_or_from_templates_is_left_to_run_time():
    daily = sql("app.users", granularity="day")
    config.parse({"sources": SOURCE, "readers": {"sql": {"queries": {"a": sql("app.users"), "b": daily}}}})
    templated = sql("objects.{kind}.count", dimensions=["kind"])
    config.parse(
        {
            "sources": SOURCE,
            "readers": {"objects": {"source": "app", "tables": ["users"]}, "sql": {"queries": {"b": templated}}},
        }
    )


@pytest.mark.parametrize(
    ("readers", "key"),
    [
        ({"sql": {"queries": {"a": sql("etl.run.errors")}}}, "readers.sql.queries.a.metric"),
        ({"sql": {"queries": {"a": sql("etl.{column}")}}}, "readers.sql.queries.a.metric"),
        ({"json": {"documents": {"d": {"path": "d.json", "prefix": "etl"}}}}, "readers.json.documents.d.prefix"),
        (
            {"prometheus": {"url": "http://p:9090", "queries": {"q": {"expr": "up", "metric": "etl.{job}"}}}},
            "readers.prometheus.queries.q.metric",
        ),
    ],
)
def test_templates_may_not_write_in_the_jobs_own_namespace(readers, key):
    with pytest.raises(ConfigError) as raised:
        config.parse({"sources": SOURCE, "readers": readers})
    assert str(raised.value).startswith(f"{key}: ") and "etl. namespace" in str(raised.value)


def test_periods_are_a_set_of_integers():
    rng = random.Random(15)
    for _ in range(200):
        periods, expected = Periods(), set()
        for n in [rng.randrange(60) for _ in range(rng.randrange(80))]:
            periods.add(n)
            expected.add(n)
        assert [n for n in range(-1, 62) if n in periods] == sorted(expected)
        assert len(periods) == len(expected) and len(periods.starts) <= len(expected)
    in_order = Periods()
    for n in range(8760):
        in_order.add(n)
    assert (in_order.starts, in_order.ends) == ([0], [8760])  # a year of hours in one run


def test_claims_drop_the_second_chain_and_name_both():
    claims = Claims()
    hour = {"date": D, "hour": 8}
    assert claims.claim("sql.a", hour, {"x": 1, "y": 2}) == {"x": 1, "y": 2}
    assert claims.claim("sql.a", hour, {"x": 3}) == {"x": 3}  # its own key again: the chain's business
    assert claims.claim("objects", hour, {"x": 600, "z": 1}) == {"z": 1}
    assert claims.claim("objects", {"date": D, "hour": 9}, {"x": 5}) == {"x": 5}  # another hour: no collision
    assert claims.claim("sql.a", {"date": D}, {"x": 1}) == {"x": 1}  # a daily value is another key
    assert claims.keys(True) == [("x", D, 8)] and claims.keys(False) == []
    (collision,) = claims.collisions.values()
    assert collision.line() == (
        "metric 'x' at 2026-11-20 08:00 UTC: given by both sql.a and objects; "
        "not written (two chains may not write the same metric and hour: rename one)"
    )


@pytest.fixture
def website(tmp_path: Path) -> Path:
    path = tmp_path / "website.db"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE users (id INTEGER PRIMARY KEY);"
            "INSERT INTO users DEFAULT VALUES; INSERT INTO users DEFAULT VALUES;"
            "CREATE TABLE orders (id INTEGER PRIMARY KEY); INSERT INTO orders DEFAULT VALUES;"
        )
    return path


def test_two_chains_giving_one_metric_and_hour_fail_the_run_and_write_neither(tmp_path, website):
    """A query whose dimension gives `objects.users.count`, as the objects reader does, in the same hour.
    batch_size = 1: whichever chain comes first is flushed before the other gives the key."""
    store = tmp_path / "store.db"
    configured = tmp_path / "analytics.toml"
    configured.write_text(f"""
[store]
url = "sqlite:///{store}"
batch_size = 1

[sources.website]
url = "sqlite:///{website}"

[readers.objects]
source = "website"
tables = ["users", "orders"]

[readers.sql.queries.counts]
source = "website"
sql = "SELECT 'users' AS kind, 222 AS n"
time_column = ""
dimensions = ["kind"]
metric = "objects.{{kind}}.count"
""")
    for run in range(3):  # the outcome must not depend on which chain comes first
        started = datetime.now(UTC)
        result = subprocess.run(
            [sys.executable, "-m", "apercite_analytics", "read", "objects", "sql", "--write", "-c", str(configured)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 1, result.stderr
        assert "Traceback" not in result.stderr
        errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        assert errors == [
            f"error: collision: metric 'objects.users.count' at {started:%Y-%m-%d %H}:00 UTC: given by both "
            + ("objects and sql.counts" if "objects and sql" in errors[0] else "sql.counts and objects")
            + "; not written (two chains may not write the same metric and hour: rename one)"
        ], result.stderr
        db = sqlite3.connect(store)
        values = dict(db.execute("SELECT m.name, v.value FROM hourly_value v JOIN metric m ON m.id = v.metric_id"))
        assert "objects.users.count" not in values, f"run {run}: a random chain won"
        assert values["objects.orders.count"] == 1  # the rest of both chains is written
        assert db.execute("SELECT status FROM run_log ORDER BY id DESC").fetchone() == ("failed",)
        assert sorted(db.execute(f"SELECT reader, status FROM run_reader WHERE run_id = {run + 1}")) == [
            ("objects", "failed"),
            ("sql", "failed"),
        ]
        db.close()


def test_claims_agree_with_a_plain_key_to_chain_map():
    """Random chains, names, hours and orders: what the claims keep and the keys they call collided
    are what a plain {key: first chain} map says (a key is kept only while one chain gave it)."""
    rng = random.Random(2)
    for _ in range(300):
        claims, owner, collided = Claims(), {}, set()
        for _ in range(rng.randrange(1, 60)):
            chain = rng.choice(["a", "b", "c"])
            day = date(2026, 11, rng.randrange(1, 4))
            dims = {"date": day, "hour": rng.randrange(3)} if rng.random() < 0.8 else {"date": day}
            metrics = {name: 1 for name in rng.sample(["x", "y", "z"], rng.randrange(1, 4))}
            expected = {}
            for name in metrics:
                key = (name, day, dims.get("hour"))
                if owner.setdefault(key, chain) == chain and key not in collided:
                    expected[name] = 1
                else:
                    collided.add(key)
            assert claims.claim(chain, dims, metrics) == expected
        assert set(claims.collided) == collided
        assert sorted(claims.keys(True) + claims.keys(False), key=str) == sorted(collided, key=str)
