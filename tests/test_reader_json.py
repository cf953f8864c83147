"""The `json` reader on real files and a real local HTTP server (http.server on a free loopback port)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import create_engine, select
from support.http_answers import AnsweringServer

from apercite_analytics.cli import main as cli
from apercite_analytics.config.load import parse
from apercite_analytics.config.urls import database_url
from apercite_analytics.errors import ConfigError, SourceError
from apercite_analytics.readers import json as json_reader
from apercite_analytics.store.models import DailyValue, HourlyValue, Metric
from apercite_analytics.window import Window

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
PAYLOAD = {
    "recorded_at": "2026-11-19T23:30:00-02:00",  # 2026-11-20 01:30 UTC
    "version": "17.5.0",
    "active": True,
    "license": None,
    "counts": {"issues": 12, "Merge Requests": 3, "ratio": 0.25, "by_plan": [1, 2], "empty": {}},
    "usage_activity_by_stage": {"create": {"projects.7d": 4}},
}
FLAT = {
    "usage.counts.issues": 12,
    "usage.counts.merge_requests": 3,
    "usage.counts.ratio": 0.25,
    "usage.usage_activity_by_stage.create.projects.7d": 4,
}


@pytest.fixture
def server() -> Iterator[AnsweringServer]:
    running = AnsweringServer()
    yield running
    running.close()


def reader(document: dict, name: str = "usage") -> json_reader.ReadDocument:
    settings = parse({"readers": {"json": {"documents": {name: document}}}}).readers["json"]
    [[node]] = json_reader.chains(settings, Window(now=NOW)).values()
    return node


def read(document: dict, name: str = "usage") -> list:
    return list(reader(document, name)())


def read_error(document: dict) -> str:
    with pytest.raises(SourceError) as info:
        read(document)
    return str(info.value)


def test_flatten_keeps_numbers_splits_dotted_keys_and_names_the_rest():
    metrics, skipped = json_reader.flatten(PAYLOAD, "usage")
    assert metrics == FLAT
    assert skipped == [
        "recorded_at (string)",
        "version (string)",
        "active (boolean)",
        "license (null)",
        "counts.by_plan (list)",
    ]
    assert json_reader.flatten({"a": {"b": 1}}, "")[0] == {"a.b": 1}
    with pytest.raises(ValueError, match="keys 'a.B c' and 'a.b_c' both give the metric name 'p.a.b_c'"):
        json_reader.flatten({"a": {"B c": 1, "b_c": 2}}, "p")


def test_a_file_dated_by_its_field(tmp_path):
    path = tmp_path / "usage.json"
    path.write_text(json.dumps(PAYLOAD))
    assert read({"path": str(path), "date_field": "recorded_at"}) == [({"date": date(2026, 11, 20)}, FLAT)]
    hourly = read({"path": str(path), "date_field": "recorded_at", "granularity": "hour"})
    assert hourly[0][0] == {"date": date(2026, 11, 20), "hour": 1}


def test_run_time_when_no_date_field_and_a_nested_date_field(tmp_path):
    path = tmp_path / "doc.json"
    path.write_text(json.dumps({"meta": {"day": "2026-11-18"}, "n": 1}))
    assert read({"path": str(path), "prefix": ""}) == [({"date": date(2026, 11, 20)}, {"n": 1})]
    assert read({"path": str(path), "prefix": "", "granularity": "hour"})[0][0] == {
        "date": date(2026, 11, 20),
        "hour": 15,
    }
    assert read({"path": str(path), "prefix": "x", "date_field": "meta.day"}) == [
        ({"date": date(2026, 11, 18)}, {"x.n": 1})
    ]


@pytest.mark.parametrize(
    ("content", "section", "message"),
    [
        ("{not json", {}, "doc.json: not a JSON document: Expecting property name"),
        ("[1, 2]", {}, "doc.json: the document must be a JSON object, not list"),
        ('{"a": "x"}', {}, "doc.json: no number in the document (1 other values skipped)"),
        ('{"a": 1}', {"date_field": "meta.at"}, "doc.json: date_field 'meta.at' is not in the document"),
        ('{"a": 1, "at": 5}', {"date_field": "at"}, "doc.json: date_field 'at' is int, not an ISO date or time"),
        ('{"a": 1, "at": "soon"}', {"date_field": "at"}, "doc.json: date_field 'at': 'soon' is not an ISO date"),
        (
            '{"a": 1, "at": "2026-11-20"}',
            {"date_field": "at", "granularity": "hour"},
            "doc.json: date_field 'at' is a date (2026-11-20); hourly needs a time",
        ),
        ('{"a": {"B": 1, "b": 2}}', {}, "doc.json: keys 'a.B' and 'a.b' both give the metric name 'usage.a.b'"),
    ],
)
def test_document_errors_name_the_document(tmp_path, content, section, message):
    path = tmp_path / "doc.json"
    path.write_text(content)
    assert read_error({"path": str(path), **section}).startswith(f"{tmp_path}/{message}")


def test_missing_file(tmp_path):
    assert (
        read_error({"path": str(tmp_path / "nope.json")})
        == f"{tmp_path}/nope.json: cannot read: No such file or directory"
    )


def test_http_document_with_headers(server):
    url = server.answer("/api/usage", (200, PAYLOAD))
    records = read({"url": url, "date_field": "recorded_at", "headers": {"Authorization": "Bearer t0ken-123"}})
    assert records == [({"date": date(2026, 11, 20)}, FLAT)]
    [(path, headers)] = server.requests
    assert path == "/api/usage" and headers["Authorization"] == "Bearer t0ken-123"
    assert headers["Accept"] == "application/json" and headers["User-Agent"].startswith("apercite-analytics/")


def test_http_retries_server_errors_then_succeeds(server):
    url = server.answer("/flaky", (503, b"busy"), (502, b"bad gateway"), (200, {"n": 7}))
    assert read({"url": url, "prefix": "p", "retries": 2, "backoff": 0}) == [({"date": date(2026, 11, 20)}, {"p.n": 7})]
    assert len(server.requests) == 3


def test_http_gives_up_after_the_retries_and_never_retries_a_client_error(server):
    url = server.answer("/down", (503, b"busy"))
    message = read_error({"url": url, "retries": 2, "backoff": 0})
    assert message == f"GET {url}: HTTP 503 Service Unavailable (after 3 attempts)"
    assert len(server.requests) == 3
    missing = server.url + "/missing"
    assert read_error({"url": missing, "retries": 2, "backoff": 0}) == f"GET {missing}: HTTP 404 Not Found"
    assert len(server.requests) == 4


def test_http_connection_refused_and_timeout(server):
    closed = AnsweringServer()
    url = closed.url + "/x"
    closed.close()
    assert read_error({"url": url, "retries": 0}).startswith(f"GET {url}: [Errno 111] Connection refused")

    silent = threading.Event()

    class Slow(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            silent.wait(5)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/slow"
        assert read_error({"url": url, "timeout": 0.3, "retries": 0}) == f"GET {url}: timed out after 0.3 s"
    finally:
        silent.set()
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({}, "readers.json.documents.usage: set exactly one of `path` (a file) or `url`"),
        ({"path": "a", "url": "http://x"}, "readers.json.documents.usage: set exactly one of"),
        ({"url": "ftp://x"}, "readers.json.documents.usage.url: must start with http:// or https://"),
        ({"path": "a", "prefix": "Bad Prefix"}, "readers.json.documents.usage.prefix: metric name 'Bad Prefix'"),
        ({"path": "a", "date_field": "a..b"}, "readers.json.documents.usage.date_field: expected a dotted path"),
        (
            {"path": "a", "granularity": "week"},
            "readers.json.documents.usage.granularity: must be one of 'day', 'hour'",
        ),
        ({"path": "a", "timeout": 0}, "readers.json.documents.usage.timeout: must be a positive number"),
        ({"path": "a", "retries": 11}, "readers.json.documents.usage.retries: must be between 0 and 10"),
        ({"path": "a", "colour": 1}, "readers.json.documents.usage.colour: unknown key"),
    ],
)
def test_config_errors_name_the_key(document, message):
    with pytest.raises(ConfigError) as info:
        parse({"readers": {"json": {"documents": {"usage": document}}}})
    assert str(info.value).startswith(message)


def test_read_write_from_the_command_line(tmp_path, server, sqlite_url, capsys):
    url = server.answer("/usage", (200, PAYLOAD))
    config = tmp_path / "analytics.toml"
    config.write_text(f"""
[store]
url = "{sqlite_url}"

[readers.json.documents.usage]
url = "{url}"
date_field = "recorded_at"
""")
    assert cli.main(["read", "json", "--write", "-c", str(config)]) == 0
    err = capsys.readouterr().err
    skipped = "version (string), active (boolean), license (null), counts.by_plan (list)"
    assert f"json.usage: skipped 4 values that are not numbers: {skipped}\n" in err
    assert "run ok" in err
    engine = create_engine(database_url(sqlite_url))
    with engine.connect() as connection:
        daily = dict(connection.execute(select(Metric.name, DailyValue.value).join(Metric)).all())
        hourly = connection.execute(select(HourlyValue).join(Metric).where(~Metric.name.like("etl.%"))).all()
    engine.dispose()
    assert daily == FLAT and hourly == []  # (the job's own etl.* hourly metrics aside)
