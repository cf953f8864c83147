"""The collector's pieces on their own: pseudonyms (one key one pseudonym, two keys two), allow-listed
properties, user agents and networks, the rate limiter, and the SQL sink's all-or-nothing batches on
PostgreSQL, MariaDB and SQLite."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import create_engine, func, select

from apercite_analytics.config.urls import database_url
from apercite_analytics.dictionary.events import EventDefinition, Property
from apercite_analytics.errors import ConfigError
from apercite_analytics.store.models import BadEvent, Event
from apercite_analytics.tracking import useragents
from apercite_analytics.tracking.pseudonymize import Pseudonymizer, network
from apercite_analytics.tracking.ratelimit import RateLimiter
from apercite_analytics.tracking.sinks import SinkError, StoredEvent
from apercite_analytics.tracking.sql_sink import SQLSink
from apercite_analytics.tracking.validation import BadRow, Refused, Validator

NOW = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
SIGNUP = EventDefinition(
    "signup",
    "A new account.",
    "growth",
    properties={
        "plan": Property("string", True),
        "referrer": Property("string", False),
        "seats": Property("integer", True),
    },
)


def validator(key: bytes = b"first-key-0123456789", key_id: str = "k1") -> Validator:
    return Validator(
        {"signup": SIGNUP},
        Pseudonymizer(key, key_id),
        max_past=timedelta(days=7),
        max_future=timedelta(hours=1),
        max_events=10,
    )


def test_one_key_one_pseudonym_two_keys_two():
    first, second = validator(), validator(b"second-key-0123456789", "k2")
    a = first.event({"name": "signup", "user_id": "alice@example.com"}, NOW, {})
    b = first.event({"name": "signup", "user_id": "alice@example.com"}, NOW, {})
    c = second.event({"name": "signup", "user_id": "alice@example.com"}, NOW, {})
    assert a.user_id == b.user_id and len(a.user_id) == 64 and "alice" not in a.user_id
    assert c.user_id != a.user_id and (a.key_id, c.key_id) == ("k1", "k2")
    assert first.event({"name": "signup", "user_id": 42}, NOW, {}).user_id == first.pseudonymize("42")
    with pytest.raises(ConfigError):
        Pseudonymizer(b"short", "k1")
    assert "first-key" not in repr(first.pseudonymize)


def test_pseudonyms_are_hmac_sha256_whether_remembered_or_not(monkeypatch):
    import hashlib
    import hmac

    from apercite_analytics.tracking import pseudonymize

    key = b"first-key-0123456789"
    monkeypatch.setattr(pseudonymize, "CACHED", 50)  # the memo empties itself 20 times below
    pseudonymous = Pseudonymizer(key, "k1")
    values = [*range(1000), "alice@example.com", "é", True, "True", 1.5, "x" * 300]
    for value in values + values[::-1]:  # once computed, once remembered (or computed again)
        assert pseudonymous(value) == hmac.new(key, str(value).encode(), hashlib.sha256).hexdigest(), value
        assert len(pseudonymous._memo) <= 50
    assert pseudonymous(True) == pseudonymous("True") and pseudonymous(42) == pseudonymous("42")
    assert "alice" not in repr(pseudonymous) and "first-key" not in repr(pseudonymous)


def test_workers_metrics_add_up_and_keep_the_last_two_hours_only(monkeypatch):
    from apercite_analytics.tracking import selfmetrics
    from apercite_analytics.tracking.selfmetrics import CollectorMetrics

    workers = [CollectorMetrics(), CollectorMetrics()]
    clock = [datetime(2026, 12, 1, 5, 10, tzinfo=UTC)]
    monkeypatch.setattr(selfmetrics, "utcnow", lambda: clock[0])
    for hour in range(5):  # a long-running worker: five hours of counts and latencies
        clock[0] = datetime(2026, 12, 1, 5 + hour, 10, tzinfo=UTC)
        for n, metrics in enumerate(workers, 1):
            metrics.count("accepted", 10 * n)
            metrics.latency(0.001 * n)
    snapshots = [metrics.snapshot(pending=n) for n, metrics in enumerate(workers, 1)]
    assert all(len(s["hours"]) == len(s["latency"]) == 2 for s in snapshots)  # not every hour, every minute
    combined = CollectorMetrics.combined(snapshots)
    assert combined.totals["accepted"] == 5 * 30 and combined.pending == 3
    values = combined.hourly_values()
    assert values[("collector.events.accepted", date(2026, 12, 1), 9)] == 30  # both workers' hour 9
    assert ("collector.events.accepted", date(2026, 12, 1), 7) not in values
    assert values[("collector.latency.p99", date(2026, 12, 1), 9)] == 2.0  # ms, the pooled samples


def test_a_number_property_must_be_finite():
    definition = dataclasses.replace(SIGNUP, properties={"score": Property("number", True)})
    check = Validator(
        {"signup": definition}, Pseudonymizer(b"first-key-0123456789", "k1"),
        max_past=timedelta(days=7), max_future=timedelta(hours=1), max_events=10,
    )  # fmt: skip
    kept = check.event({"name": "signup", "properties": {"score": 2.5}}, NOW, {})
    assert isinstance(kept, StoredEvent) and kept.properties == {"score": 2.5}
    huge = check.event({"name": "signup", "properties": {"score": float("inf")}}, NOW, {})  # what `1e999` decodes to
    assert isinstance(huge, BadRow) and huge.reason == "properties.score: expected number, got infinity"


def test_only_listed_properties_are_kept_and_unkept_ones_are_hashed():
    event = validator().event(
        {
            "name": "signup",
            "at": "2026-12-01T08:00:00Z",
            "properties": {"plan": "pro", "referrer": "news", "email": "x@y.z"},
        },
        NOW,
        {"browser": "chrome"},
    )
    assert isinstance(event, StoredEvent)
    assert event.properties == {"plan": "pro", "referrer": validator().pseudonymize("news")}
    assert event.created_at == datetime(2026, 12, 1, 8, 0, tzinfo=UTC) and event.received_at == NOW
    assert validator().event({"name": "signup"}, NOW, {}).created_at == NOW  # no time: when it was received


def test_timestamps_with_offsets_become_utc_and_skew_is_bad():
    check = validator()
    assert check.event({"name": "signup", "at": "2026-12-01T10:00:00+02:00"}, NOW, {}).created_at.hour == 8
    future = check.event({"name": "signup", "at": (NOW + timedelta(hours=1, seconds=1)).isoformat()}, NOW, {})
    past = check.event({"name": "signup", "at": (NOW - timedelta(days=7, seconds=1)).isoformat()}, NOW, {})
    assert isinstance(future, BadRow) and "after it was received" in future.reason and future.created_at is not None
    assert isinstance(past, BadRow) and "before it was received (more than 7d 0h)" in past.reason
    assert isinstance(
        check.event({"name": "signup", "at": (NOW - timedelta(days=6)).isoformat()}, NOW, {}), StoredEvent
    )


def test_batch_shape_refusals():
    check = validator()
    with pytest.raises(Refused) as info:
        check.batch({"version": 1, "events": [{}] * 11}, NOW)
    assert info.value.status == 413
    for document in ([], {"version": 2, "events": []}, {"version": 1}, {"version": 1, "events": [], "dropped": True}):
        with pytest.raises(Refused) as info:
            check.batch(document, NOW)
        assert info.value.status == 400
    verdict = check.batch({"version": 1, "dropped": 4, "events": [{"name": "signup"}, {"name": "x"}]}, NOW)
    assert (len(verdict.events), len(verdict.bad), verdict.sender_dropped) == (1, 1, 4)


@pytest.mark.parametrize(
    ("agent", "expected"),
    [
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/131.0 Safari/537.36",
            ("chrome", "windows"),
        ),
        ("Mozilla/5.0 (Windows NT 10.0) AppleWebKit/537.36 Chrome/131.0 Safari/537.36 Edg/131.0", ("edge", "windows")),
        (
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 Version/17.5 Safari/605.1.15",
            ("safari", "macos"),
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Version/17.5 Mobile/15E148 Safari/604.1",
            ("safari", "ios"),
        ),
        ("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", ("firefox", "linux")),
        (
            "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36",
            ("chrome", "android"),
        ),
        ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", ("bot", "other")),
        ("apercite-sdk/python", ("sdk", "other")),
        (None, ("other", "other")),
    ],
)
def test_user_agents_are_reduced_to_browser_family_and_os(agent, expected):
    assert useragents.reduce(agent) == expected


def test_networks_keep_a_24_or_a_48_only():
    assert network("203.0.113.77") == "203.0.113.0/24"
    assert network("2001:db8:1234:5678::1") == "2001:db8:1234::/48"
    assert network("::ffff:203.0.113.77") == "203.0.113.0/24"
    assert network("not an address") is None and network(None) is None


def test_rate_limiter_buckets_per_client():
    limiter = RateLimiter(rate=2, burst=3, max_clients=2)
    assert [limiter.allow("a", now=0) for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("b", now=0) and limiter.allow("a", now=0.5)  # half a second: one token back
    limiter.allow("c", now=10)  # over max_clients: full buckets are forgotten
    assert len(limiter._buckets) <= 2


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def events_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'app.db'}"
    return request.getfixturevalue("pg_url" if request.param == "postgresql" else "mysql_url")


def count(url: str, table) -> int:
    engine = create_engine(database_url(url))
    try:
        with engine.connect() as connection:
            return connection.execute(select(func.count()).select_from(table)).scalar()
    finally:
        engine.dispose()


def test_sink_writes_a_batch_all_or_nothing(events_url):
    with pytest.raises(SinkError, match=r"no table events or bad_event .*collect --init-table"):
        SQLSink(events_url)
    sink = SQLSink(events_url, init=True)
    good = validator().event(
        {
            "name": "signup",
            "user_id": "u",
            "at": "2026-12-01T08:00:00.123456Z",
            "properties": {"plan": 'tab\there \\ "quoted" ünï'},
        },
        NOW,
        {},
    )
    bad = BadRow("unknown event 'x'", NOW, "k1", "x", None, None, {"plan": "integer"})
    sink.write([good] * 3, [bad])
    assert (count(events_url, Event), count(events_url, BadEvent)) == (3, 1)
    broken = dataclasses.replace(good, name=None)  # NOT NULL: the database refuses the whole batch
    with pytest.raises(SinkError, match="writing 3 events and 1 bad events failed"):
        sink.write([good, good, broken], [bad])
    assert (count(events_url, Event), count(events_url, BadEvent)) == (3, 1)  # nothing of the failed batch
    engine = create_engine(database_url(events_url))
    with engine.connect() as connection:
        row = connection.execute(select(Event.properties, Event.created_at)).first()
    engine.dispose()
    assert (
        row.properties == '{"plan":"tab\\there \\\\ \\"quoted\\" \\u00fcn\\u00ef"}'
    )  # the JSON as written, COPY or not
    assert row.created_at.replace(tzinfo=None) == datetime(2026, 12, 1, 8, 0, 0, 123456)
    sink.close()


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({}, "collector: set exactly one of key"),
        ({"key": "short"}, "collector.key: at least 16 characters"),
        ({"key_file": "k", "listen": "8787"}, "collector.listen: expected host:port"),
        ({"key_file": "k", "origins": ["https://a.example.com/path"]}, "collector.origins[0]: expected scheme://host"),
        ({"key_file": "k", "key_id": "a b"}, "collector.key_id: 1 to 32 letters"),
        ({"key_file": "k", "ip": "keep"}, "collector.ip: must be one of 'drop', 'truncate'"),
        ({"key_file": "k", "max_past": "1w"}, "collector.max_past: expected a duration"),
        ({"key_file": "k", "batch_size": 0}, "collector.batch_size: must be between 1 and 100000"),
        ({"key_file": "k", "colour": "red"}, "collector.colour: unknown key"),
    ],
)
def test_collector_config_errors_name_the_key(section, expected):
    from apercite_analytics.config.load import parse

    with pytest.raises(ConfigError) as info:
        parse({"collector": section})
    assert str(info.value).startswith(expected), str(info.value)


def test_the_key_file_is_read_and_never_shown(tmp_path):
    from apercite_analytics.config.load import parse
    from apercite_analytics.config.secrets import scrub
    from apercite_analytics.tracking.pseudonymize import load_key

    (tmp_path / "events.key").write_text("file-key-0123456789abcdef\n")
    settings = parse({"collector": {"key_file": str(tmp_path / "events.key"), "key_id": "2026-12"}}).collector
    key = load_key(settings)
    assert key.key_id == "2026-12" and key("u") == Pseudonymizer(b"file-key-0123456789abcdef", "x")("u")
    assert scrub("the key is file-key-0123456789abcdef") == "the key is ***"
    missing = parse({"collector": {"key_file": str(tmp_path / "nope.key")}}).collector
    with pytest.raises(ConfigError, match=r"collector.key_file: cannot read .*nope.key: No such file"):
        load_key(missing)
