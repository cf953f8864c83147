"""The `google_analytics` reader driving Google's real client (REST transport) against Google's side
of the wire simulated at the HTTP level with `responses`: runReport answers shaped like the documented
RunReportResponse JSON, and an OAuth token endpoint for a real (test) service-account key file. No
request leaves the machine: `responses` refuses any URL not registered here.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
import responses
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth import jwt
from support.storeview import stored

from apercite_analytics.cli import main as cli
from apercite_analytics.config.load import parse
from apercite_analytics.errors import ConfigError, SourceError
from apercite_analytics.readers import _ga_client, google_analytics
from apercite_analytics.readers.google_analytics import snake_case
from apercite_analytics.store.watermarks import Watermarks
from apercite_analytics.window import Window

PROPERTY = "123456789"
REPORT_URL = f"https://analyticsdata.googleapis.com/v1beta/properties/{PROPERTY}:runReport"
TOKEN_URL = "https://oauth2.googleapis.com/token"
CLIENT_EMAIL = "etl@apercite-test.iam.gserviceaccount.com"
ALLOWED_LOCATIONS_URL = (
    f"https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/{CLIENT_EMAIL}/allowedLocations"
)
NEW_YORK = "America/New_York"
NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
QUOTA_MESSAGE = "Exhausted property tokens per hour. Wait an hour and try again."


# ── Google's side of the wire ───────────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


@pytest.fixture
def key_file(tmp_path: Path, private_key_pem: str) -> Path:
    """A service-account key file as the Cloud console gives it (with a key made for the test)."""
    path = tmp_path / "ga-service-account.json"
    path.write_text(
        json.dumps(
            {
                "type": "service_account",
                "project_id": "apercite-test",
                "private_key_id": "0123456789abcdef",
                "private_key": private_key_pem,
                "client_email": CLIENT_EMAIL,
                "client_id": "100000000000000000001",
                "auth_uri": "https://accounts.google.com/o/oauth2/auth",
                "token_uri": TOKEN_URL,
            }
        )
    )
    return path


def error_body(code: int, status: str, message: str) -> dict:
    return {"error": {"code": code, "message": message, "status": status}}


class FakeGA:
    """The token endpoint and runReport of one property. runReport serves `rows` page by page from the
    request's own offset/limit, after answering the queued `errors` (one per request; `forever` repeats)."""

    def __init__(self, mock: responses.RequestsMock):
        self.mock = mock
        self.dimensions: list[str] = []
        self.metrics: list[tuple[str, Any]] = []
        self.rows: list[tuple[tuple[str, ...], tuple[str, ...]]] = []
        self.time_zone = NEW_YORK
        self.errors: list[tuple[int, dict] | Exception] = []
        self.forever: tuple[int, dict] | Exception | None = None
        self.bodies: list[dict] = []
        self.authorizations: list[str | None] = []
        mock.add(
            responses.POST,
            TOKEN_URL,
            json={"access_token": "ya29.never-used", "expires_in": 3599, "token_type": "Bearer"},
        )
        mock.add_callback(responses.POST, REPORT_URL, callback=self.answer, content_type="application/json")
        # google-auth looks up the service account's regional access boundary in a background thread
        mock.add(responses.GET, ALLOWED_LOCATIONS_URL, json={"locations": ["us-central1"], "encodedLocations": "0x1"})

    def serve(self, dimensions: list[str], metrics: list[tuple[str, Any]], rows: list, time_zone: str = NEW_YORK):
        self.dimensions, self.metrics, self.rows, self.time_zone = dimensions, metrics, rows, time_zone

    def answer(self, request) -> tuple[int, dict, str]:
        body = json.loads(request.body)
        self.bodies.append(body)
        self.authorizations.append(request.headers.get("Authorization"))
        if self.errors or self.forever:
            answer = self.errors.pop(0) if self.errors else self.forever
            if isinstance(answer, Exception):
                raise answer
            status, error = answer
            return status, {}, json.dumps(error)
        dimensions, metrics, rows, time_zone = self.table(body)
        offset, limit = int(body.get("offset", 0)), int(body.get("limit", 10000))
        page = rows[offset : offset + limit]
        report: dict[str, Any] = {
            "dimensionHeaders": [{"name": d} for d in dimensions],
            "metricHeaders": [{"name": name, "type": kind} for name, kind in metrics],
        }
        if page:  # proto3 JSON leaves out empty lists and zero counts
            report["rows"] = [
                {"dimensionValues": [{"value": v} for v in dims], "metricValues": [{"value": v} for v in values]}
                for dims, values in page
            ]
        if rows:
            report["rowCount"] = len(rows)
        report["metadata"] = {"currencyCode": "USD", "timeZone": time_zone}
        report["kind"] = "analyticsData#runReport"
        return 200, {}, json.dumps(report)

    def table(self, body: dict) -> tuple[list, list, list, str]:
        """The whole report a request asks for: (dimensions, metric headers, rows, time zone)."""
        return self.dimensions, self.metrics, self.rows, self.time_zone

    @property
    def token_requests(self) -> int:
        return sum(1 for call in self.mock.calls if call.request.url == TOKEN_URL)


def google(fake_type: type[FakeGA]) -> Iterator[FakeGA]:
    before = set(threading.enumerate())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        fake = fake_type(mock)
        yield fake
        for thread in set(threading.enumerate()) - before:  # google-auth's background lookups, if any
            thread.join(timeout=10)
        # only registered endpoints were called (any other URL raises ConnectionError), never the token one
        assert {call.request.url.split("?")[0] for call in mock.calls} <= {REPORT_URL, ALLOWED_LOCATIONS_URL}


@pytest.fixture
def ga() -> Iterator[FakeGA]:
    yield from google(FakeGA)


@pytest.fixture
def warnings() -> Iterator[list[str]]:
    """Warnings the reader logs (without pytest's logging plugin, which the suite may disable)."""
    lines: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    logger = logging.getLogger("apercite_analytics")
    handler = Keep(logging.WARNING)
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


# ── helpers ─────────────────────────────────────────────────────────────────────────────────


def configure(key: Path | None, **section) -> google_analytics.Settings:
    raw = {"readers": {"google_analytics": {"property": int(PROPERTY), "backoff": 0.0, **section}}}
    if key is not None:
        raw["readers"]["google_analytics"]["credentials"] = str(key)
    return parse(raw).readers["google_analytics"]


def nodes(settings: google_analytics.Settings, window: Window, sleeps: list | None = None) -> dict:
    chains = google_analytics.chains(settings, window)
    result = {}
    for name, [node] in chains.items():
        if sleeps is not None:
            node.client.sleep = sleeps.append
        result[name.split(".", 1)[1]] = node
    return result


def read(key: Path, report: dict, window: Window, state: Watermarks | None = None, **section) -> list:
    settings = configure(key, reports={"r": report}, **section)
    return list(nodes(settings, window)["r"](state=state or Watermarks()))


def read_error(key: Path | None, report: dict, window: Window | None = None, **section) -> str:
    window = window or Window(now=NOW)
    settings = configure(key, reports={"r": report}, **section)
    with pytest.raises(SourceError) as info:
        list(nodes(settings, window)["r"](state=Watermarks()))
    message = str(info.value)
    assert "\n" not in message
    return message


def config_error(**section) -> str:
    section = {"property": int(PROPERTY), "credentials": "/etc/ga.json", **section}
    with pytest.raises(ConfigError) as info:
        parse({"readers": {"google_analytics": section}})
    return str(info.value)


def hourly(day: date, hour: int, **metrics) -> tuple[dict, dict]:
    return {"date": day, "hour": hour}, metrics


def backfill(since: str, until: str) -> Window:
    return Window.from_args(since, until, now=NOW)


SESSIONS = {"metrics": ["sessions"]}
INTEGER = [("sessions", "TYPE_INTEGER")]


# ── configuration ───────────────────────────────────────────────────────────────────────────


def test_defaults_read_the_four_usual_metrics_hourly_and_daily():
    settings = configure(Path("/etc/ga.json"))
    assert settings.trailing_window == "3d"
    assert {name: (r.granularity, r.metrics, r.template) for name, r in settings.reports.items()} == {
        "hourly": ("hourly", ["sessions", "activeUsers", "newUsers", "screenPageViews"], "ga.{metric}"),
        "daily": ("daily", ["sessions", "activeUsers", "newUsers", "screenPageViews"], "ga.{metric}"),
    }
    assert list(google_analytics.chains(settings, Window(now=NOW))) == [
        "google_analytics.hourly",
        "google_analytics.daily",
    ]


@pytest.mark.parametrize(
    ("api_name", "part"),
    [
        ("sessions", "sessions"),
        ("activeUsers", "active_users"),
        ("newUsers", "new_users"),
        ("screenPageViews", "screen_page_views"),
        ("averageSessionDuration", "average_session_duration"),
        ("customEvent:plan_name", "custom_event_plan_name"),
    ],
)
def test_metric_names_in_snake_case(api_name, part):
    assert snake_case(api_name) == part


def test_default_template_with_dimensions_and_custom_dimension_placeholders():
    report = configure(
        Path("/x.json"), reports={"r": {"metrics": ["sessions"], "dimensions": ["country", "customUser:plan"]}}
    ).reports["r"]
    assert report.template == "ga.{metric}.{country}.{customUser_plan}"


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"property": "G-ABC123"}, "readers.google_analytics.property: expected the numeric GA4 property id"),
        ({"property": True}, "readers.google_analytics.property: expected an integer, got a boolean"),
        ({"trailing_window": "3 days"}, 'readers.google_analytics.trailing_window: expected a duration like "3h"'),
        ({"page_size": 300000}, "readers.google_analytics.page_size: must be between 1 and 250000"),
        ({"retries": -1}, "readers.google_analytics.retries: must be between 0 and 20"),
        ({"timeout": 0}, "readers.google_analytics.timeout: must be a positive number of seconds"),
        ({"reports": {}}, "readers.google_analytics.reports: define at least one report"),
        ({"reports": {"Web": SESSIONS}}, "readers.google_analytics.reports.Web: name 'Web' must be lowercase"),
        ({"reports": {"r": {"metrics": []}}}, "readers.google_analytics.reports.r.metrics: list 1 to 10 GA metric"),
        (
            {"reports": {"r": {"metrics": ["sessions", "bad name"]}}},
            "readers.google_analytics.reports.r.metrics[1]: 'bad name' is not a GA API name",
        ),
        (
            {"reports": {"r": {"metrics": ["sessions"], "granularity": "weekly"}}},
            "readers.google_analytics.reports.r.granularity: must be one of 'hourly', 'daily', got 'weekly'",
        ),
        (
            {"reports": {"r": {"metrics": ["sessions"], "dimensions": ["dateHour"]}}},
            "readers.google_analytics.reports.r.dimensions[0]: 'dateHour' is a time dimension",
        ),
        (
            {"reports": {"r": {"metrics": ["sessions", "newUsers"], "metric": "ga.visits"}}},
            "readers.google_analytics.reports.r.metric: with several metrics the template needs {metric}",
        ),
        (
            {"reports": {"r": {"metrics": ["sessions"], "dimensions": ["country"], "metric": "ga.sessions"}}},
            "readers.google_analytics.reports.r.metric: the template 'ga.sessions' lacks {country}",
        ),
        (
            {"reports": {"r": {"metrics": ["sessions"], "metric": "ga.{metric}.{country}"}}},
            "readers.google_analytics.reports.r.metric: unknown placeholder(s) {country}",
        ),
        (
            {"reports": {"r": {"metrics": ["sessions"], "metric": "GA.{metric}"}}},
            "readers.google_analytics.reports.r.metric: template 'GA.{metric}' gives names like 'GA.x'",
        ),
        ({"reports": {"r": {"metrics": ["sessions"], "dims": []}}}, "readers.google_analytics.reports.r.dims: unknown"),
    ],
)
def test_config_errors_name_the_key(section, message):
    assert config_error(**section).startswith(message)


def test_credentials_come_from_the_key_or_the_environment(monkeypatch):
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    section = {"property": 1, "reports": {"r": SESSIONS}}
    with pytest.raises(ConfigError, match=r"^readers.google_analytics.credentials: missing .*GOOGLE_APPLICATION"):
        parse({"readers": {"google_analytics": section}})
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/run/secrets/ga.json")
    settings = parse({"readers": {"google_analytics": section}}).readers["google_analytics"]
    assert settings.credentials_path() == "/run/secrets/ga.json"


def test_a_missing_google_client_is_one_config_error(monkeypatch):
    monkeypatch.setattr(_ga_client, "package_available", lambda: False)
    assert config_error() == (
        "readers.google_analytics: Google's GA4 client is not installed: pip install 'apercite-analytics[ga]'"
    )


# ── requests, credentials, values ───────────────────────────────────────────────────────────


def test_the_request_body_and_the_credentials(ga, key_file, private_key_pem):
    ga.serve(
        ["dateHour", "sessionDefaultChannelGroup"], [("sessions", "TYPE_INTEGER"), ("newUsers", "TYPE_INTEGER")], []
    )
    report = {"metrics": ["sessions", "newUsers"], "dimensions": ["sessionDefaultChannelGroup"]}
    assert read(key_file, report, Window(now=NOW)) == []
    # trailing 3 days from 2026-11-17 15:00 UTC to the end of the current hour (16:00 UTC), as the local
    # dates that window can touch in any zone: UTC-12 … UTC+14
    assert ga.bodies == [
        {
            "dimensions": [{"name": "dateHour"}, {"name": "sessionDefaultChannelGroup"}],
            "metrics": [{"name": "sessions"}, {"name": "newUsers"}],
            "dateRanges": [{"startDate": "2026-11-17", "endDate": "2026-11-21"}],
            "limit": "100000",  # int64 travels as a JSON string; offset 0 is the default and left out
            "orderBys": [
                {"dimension": {"dimensionName": "dateHour"}},
                {"dimension": {"dimensionName": "sessionDefaultChannelGroup"}},
            ],
            "keepEmptyRows": True,
        }
    ]
    # Google's client signs its own JWT with the service account's key: no token request at all
    assert ga.token_requests == 0
    [authorization] = ga.authorizations
    scheme, token = authorization.split(" ")
    public_key = serialization.load_pem_private_key(private_key_pem.encode(), None).public_key()
    public_pem = public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    claims = jwt.decode(token, certs=public_pem.decode())  # raises unless signed by the key file's key
    assert scheme == "Bearer" and claims["iss"] == claims["sub"] == CLIENT_EMAIL
    assert claims["scope"] == "https://www.googleapis.com/auth/analytics.readonly"


def test_values_are_typed_from_the_metric_headers(ga, key_file):
    metrics = [
        ("sessions", "TYPE_INTEGER"),
        ("bounceRate", "TYPE_FLOAT"),
        ("averageSessionDuration", "TYPE_SECONDS"),
        ("totalRevenue", "TYPE_CURRENCY"),
        ("eventCount", 1),  # enum-encoding=int, as the REST client asks for: 1 is TYPE_INTEGER
    ]
    ga.serve(["dateHour"], metrics, [(("2026112009",), ("12", "0.4166666667", "73.25", "19.9", "40"))])
    [(dims, values)] = read(key_file, {"metrics": [m for m, _ in metrics]}, Window(now=NOW))
    assert dims == {"date": date(2026, 11, 20), "hour": 14}  # 09:00 EST = 14:00 UTC
    assert values == {
        "ga.sessions": 12,
        "ga.bounce_rate": 0.4166666667,
        "ga.average_session_duration": 73.25,
        "ga.total_revenue": 19.9,
        "ga.event_count": 40,
    }
    assert [type(v) for v in values.values()] == [int, float, float, float, int]


def test_dimensions_become_name_parts_and_other_rows_do_not_crash(ga, key_file, warnings):
    ga.serve(
        ["dateHour", "sessionDefaultChannelGroup"],
        INTEGER,
        [
            (("2026112009", "Organic Search"), ("7",)),
            (("2026112009", "Paid Social"), ("2",)),
            (("2026112009", "(other)"), ("3",)),
            (("(other)", "(other)"), ("5",)),  # GA's (other) row: no time, cannot be placed
        ],
    )
    report = {
        **SESSIONS,
        "dimensions": ["sessionDefaultChannelGroup"],
        "metric": "ga.sessions.{sessionDefaultChannelGroup}",
    }
    assert read(key_file, report, Window(now=NOW)) == [
        hourly(
            date(2026, 11, 20),
            14,
            **{"ga.sessions.organic_search": 7, "ga.sessions.paid_social": 2, "ga.sessions.other": 3},
        )
    ]
    assert warnings == [
        "google_analytics.r: 1 row skipped, not placeable in time: dateHour '(other)' is not a time "
        "(GA's (other) row: too many dimension combinations in a day)"
    ]


def test_two_values_giving_one_name_fail_the_report_naming_them(ga, key_file):
    ga.serve(
        ["dateHour", "sessionSource"],
        INTEGER,
        [(("2026112009", "Google Ads"), ("7",)), (("2026112009", "google-ads"), ("2",))],
    )
    message = read_error(key_file, {**SESSIONS, "dimensions": ["sessionSource"]})
    assert message == (
        f"report 'r' (property {PROPERTY}): dimension values ('Google Ads',) and ('google-ads',) give the same "
        "name 'ga.sessions.google_ads' (twice at 2026-11-20 14:00 UTC; change the metric template)"
    )


@pytest.mark.parametrize("page_size", [100_000, 1])
def test_a_duplicate_row_fails_the_report(ga, key_file, page_size):
    ga.serve(["dateHour"], INTEGER, [(("2026112009",), ("7",)), (("2026112009",), ("8",))])
    assert read_error(key_file, SESSIONS, page_size=page_size) == (
        f"report 'r' (property {PROPERTY}): two rows for 'ga.sessions' at 2026-11-20 14:00 UTC"
    )


def test_unexpected_columns_are_an_error(ga, key_file):
    ga.serve(["date"], INTEGER, [(("20261120",), ("7",))])
    assert read_error(key_file, SESSIONS) == (
        f"report 'r' (property {PROPERTY}): the response's columns (date, sessions) "
        "are not the ones asked for (dateHour, sessions)"
    )


def test_an_unreadable_value_is_passed_on_for_normalize_to_reject(ga, key_file):
    ga.serve(["dateHour"], INTEGER, [(("2026112009",), ("n/a",))])
    assert read(key_file, SESSIONS, Window(now=NOW)) == [hourly(date(2026, 11, 20), 14, **{"ga.sessions": "n/a"})]


# ── time zones and DST ──────────────────────────────────────────────────────────────────────


def test_fall_back_day_new_york(ga, key_file):
    """2026-11-01, America/New_York: 01:00–02:00 local happens twice (EDT then EST), GA has one row.

    It goes to the first occurrence (05:00 UTC); 06:00 UTC has no value; 02:00 EST is 07:00 UTC."""
    local_hours = [("20261031", h) for h in range(18, 24)] + [("20261101", h) for h in range(24)]
    ga.serve(["dateHour"], INTEGER, [((f"{d}{h:02d}",), (str(int(d[-2:]) * 100 + h),)) for d, h in local_hours])
    records = read(key_file, SESSIONS, backfill("2026-11-01", "2026-11-02"))
    assert ga.bodies[0]["dateRanges"] == [{"startDate": "2026-10-31", "endDate": "2026-11-02"}]
    by_hour = {dims["hour"]: values["ga.sessions"] for dims, values in records}
    assert {dims["date"] for dims, _ in records} == {date(2026, 11, 1)}
    assert by_hour == {
        0: 3120,  # 2026-10-31 20:00 EDT
        1: 3121,
        2: 3122,
        3: 3123,
        4: 100,  # 2026-11-01 00:00 EDT
        5: 101,  # 01:00 EDT, the first 01:00 (GA's single 01 row)
        # 6: the second 01:00 (EST): no row
        7: 102,  # 02:00 EST
        **{h: 100 + h - 5 for h in range(8, 24)},  # … 18:00 EST = 23:00 UTC
    }


def test_spring_forward_day_new_york(ga, key_file, warnings):
    """2026-03-08, America/New_York: 02:00 local does not exist; UTC hours stay contiguous."""
    rows = [(("2026030800",), ("10",)), (("2026030801",), ("11",)), (("2026030803",), ("13",))]
    rows += [(("2026030802",), ("99",))]  # a local time that does not exist cannot be placed
    rows += [(("2026030804",), ("14",))]
    ga.serve(["dateHour"], INTEGER, rows)
    records = read(key_file, SESSIONS, backfill("2026-03-08T05:00", "2026-03-08T10:00"))
    day = date(2026, 3, 8)
    assert records == [
        hourly(day, 5, **{"ga.sessions": 10}),  # 00:00 EST
        hourly(day, 6, **{"ga.sessions": 11}),  # 01:00 EST
        hourly(day, 7, **{"ga.sessions": 13}),  # 03:00 EDT
        hourly(day, 8, **{"ga.sessions": 14}),  # 04:00 EDT
    ]
    assert warnings == [
        "google_analytics.r: 1 row skipped, not placeable in time: "
        "dateHour '2026030802' does not exist in America/New_York (the clocks skipped it)"
    ]


def test_a_zone_ahead_of_utc_lands_on_the_previous_utc_day(ga, key_file):
    ga.serve(["dateHour"], INTEGER, [(("2026111507",), ("4",)), (("2026111509",), ("6",))], time_zone="Asia/Tokyo")
    assert read(key_file, SESSIONS, backfill("2026-11-14T22:00", "2026-11-15T00:00")) == [
        hourly(date(2026, 11, 14), 22, **{"ga.sessions": 4}),  # 07:00 JST
        # 09:00 JST is 00:00 UTC on the 15th: outside the window
    ]


def test_daily_rows_are_dated_by_the_property_day(ga, key_file):
    ga.serve(["date"], [("activeUsers", "TYPE_INTEGER")], [(("20261031",), ("40",)), (("20261101",), ("52",))])
    records = read(key_file, {"metrics": ["activeUsers"], "granularity": "daily"}, backfill("2026-10-31", "2026-11-02"))
    assert ga.bodies[0]["dimensions"] == [{"name": "date"}]
    assert ga.bodies[0]["dateRanges"] == [{"startDate": "2026-10-31", "endDate": "2026-11-01"}]
    assert records == [
        ({"date": date(2026, 10, 31)}, {"ga.active_users": 40}),
        ({"date": date(2026, 11, 1)}, {"ga.active_users": 52}),
    ]


def test_daily_normal_run_stops_at_today_utc(ga, key_file):
    """A property ahead of UTC already has "tomorrow": it is read once that date begins in UTC."""
    ga.serve(["date"], INTEGER, [(("20261120",), ("9",))], time_zone="Pacific/Auckland")
    read(key_file, {**SESSIONS, "granularity": "daily"}, Window(now=NOW))
    # window from 2026-11-17 15:00 UTC: local dates from the 17th (UTC-12 gives 03:00 on the 17th)
    assert ga.bodies[0]["dateRanges"] == [{"startDate": "2026-11-17", "endDate": "2026-11-20"}]


def test_a_response_without_a_time_zone_or_with_an_unknown_one(ga, key_file):
    ga.serve(["dateHour"], INTEGER, [(("2026112009",), ("1",))], time_zone="Mars/Olympus_Mons")
    assert read_error(key_file, SESSIONS) == (
        f"report 'r' (property {PROPERTY}): metadata.timeZone: unknown time zone 'Mars/Olympus_Mons'"
    )


# ── re-reading: trailing window and watermark ──────────────────────────────────────────────


def test_a_missed_period_is_caught_up_from_the_watermark_and_the_watermark_advances(ga, key_file):
    ga.serve(["dateHour"], INTEGER, [(("2026111000",), ("3",))])
    state = Watermarks({("google_analytics", "r"): datetime(2026, 11, 10, 5, tzinfo=UTC)})
    records = read(key_file, SESSIONS, Window(now=NOW), state=state)
    assert ga.bodies[0]["dateRanges"] == [{"startDate": "2026-11-09", "endDate": "2026-11-21"}]
    assert records == [hourly(date(2026, 11, 10), 5, **{"ga.sessions": 3})]  # 00:00 EST
    # complete hours only: the current, partial hour (15:00) is read again next time
    assert state.proposed() == {("google_analytics", "r"): datetime(2026, 11, 20, 15, tzinfo=UTC)}


def test_a_recent_watermark_still_rereads_the_trailing_window(ga, key_file):
    ga.serve(["dateHour"], INTEGER, [])
    state = Watermarks({("google_analytics", "r"): datetime(2026, 11, 20, 15, tzinfo=UTC)})
    read(key_file, SESSIONS, Window(now=NOW), state=state, trailing_window="2d")
    assert ga.bodies[0]["dateRanges"] == [{"startDate": "2026-11-18", "endDate": "2026-11-21"}]


# ── paging and retries ──────────────────────────────────────────────────────────────────────


def test_paging_follows_row_count(ga, key_file):
    rows = [((f"2026111{d}{h:02d}",), (str(d * 100 + h),)) for d in (6, 7) for h in (10, 11, 12, 13)]
    rows += [(("2026111814",), ("1814",))]  # 9 rows
    ga.serve(["dateHour"], INTEGER, rows)
    records = read(key_file, SESSIONS, backfill("2026-11-16", "2026-11-19"), page_size=4)
    assert [(b["limit"], b.get("offset")) for b in ga.bodies] == [("4", None), ("4", "4"), ("4", "8")]
    assert len(records) == 9
    assert records[0] == hourly(date(2026, 11, 16), 15, **{"ga.sessions": 610})
    assert records[-1] == hourly(date(2026, 11, 18), 19, **{"ga.sessions": 1814})
    assert ga.token_requests == 0


def test_paging_with_dimensions_gives_the_same_records_as_one_page(ga, key_file):
    rows = [((f"202611200{h}", channel), (str(h),)) for h in (7, 8, 9) for channel in ("Direct", "Email")]
    ga.serve(["dateHour", "sessionDefaultChannelGroup"], INTEGER, rows)
    report = {**SESSIONS, "dimensions": ["sessionDefaultChannelGroup"]}
    one_page = read(key_file, report, Window(now=NOW))
    assert read(key_file, report, Window(now=NOW), page_size=1) == one_page
    assert one_page[0] == hourly(date(2026, 11, 20), 12, **{"ga.sessions.direct": 7, "ga.sessions.email": 7})
    assert len(one_page) == 3 and len(ga.bodies) == 1 + 6


def test_a_quota_error_is_retried_with_backoff_then_succeeds(ga, key_file):
    ga.serve(["dateHour"], INTEGER, [(("2026112009",), ("12",))])
    ga.errors = [
        (429, error_body(429, "RESOURCE_EXHAUSTED", QUOTA_MESSAGE)),
        (503, error_body(503, "UNAVAILABLE", "The service is currently unavailable.")),
    ]
    sleeps: list[float] = []
    settings = configure(key_file, reports={"r": SESSIONS}, backoff=1.5)
    records = list(nodes(settings, Window(now=NOW), sleeps)["r"](state=Watermarks()))
    assert records == [hourly(date(2026, 11, 20), 14, **{"ga.sessions": 12})]
    assert sleeps == [1.5, 3.0]
    assert len(ga.bodies) == 3 and ga.bodies[0] == ga.bodies[2]


def test_a_quota_error_forever_is_one_clear_error(ga, key_file):
    ga.forever = (429, error_body(429, "RESOURCE_EXHAUSTED", QUOTA_MESSAGE))
    sleeps: list[float] = []
    settings = configure(key_file, reports={"r": SESSIONS}, retries=3, backoff=2.0, max_backoff=5.0)
    with pytest.raises(SourceError) as info:
        list(nodes(settings, Window(now=NOW), sleeps)["r"](state=Watermarks()))
    assert str(info.value) == (
        f"report 'r' (property {PROPERTY}): Google Analytics quota exhausted "
        f"(HTTP 429 RESOURCE_EXHAUSTED: {QUOTA_MESSAGE}) (gave up after 4 attempts over 11 s)"
    )
    assert sleeps == [2.0, 4.0, 5.0]
    assert len(ga.bodies) == 4


def test_network_errors_are_retried_then_one_clear_error(ga, key_file):
    ga.forever = requests.ReadTimeout("Read timed out. (read timeout=60.0)")
    sleeps: list[float] = []
    settings = configure(key_file, reports={"r": SESSIONS}, retries=1, backoff=0.5)
    with pytest.raises(SourceError) as info:
        list(nodes(settings, Window(now=NOW), sleeps)["r"](state=Watermarks()))
    assert str(info.value) == (
        f"report 'r' (property {PROPERTY}): cannot reach Google (ReadTimeout: Read timed out. (read timeout=60.0)) "
        "(gave up after 2 attempts over 0.5 s)"
    )
    assert sleeps == [0.5] and len(ga.bodies) == 2


def test_a_refused_request_is_not_retried(ga, key_file):
    ga.forever = (400, error_body(400, "INVALID_ARGUMENT", "Field sesions is not a valid metric."))
    assert read_error(key_file, {"metrics": ["sesions"]}) == (
        f"report 'r' (property {PROPERTY}): Google Analytics refused the request "
        "(HTTP 400 INVALID_ARGUMENT: Field sesions is not a valid metric.)"
    )
    assert len(ga.bodies) == 1


# ── credentials files ───────────────────────────────────────────────────────────────────────


def test_a_missing_credentials_file_names_the_path(ga, tmp_path):
    path = tmp_path / "nope.json"
    assert read_error(path, SESSIONS) == f"credentials file '{path}' not found"
    assert ga.bodies == [] and ga.token_requests == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "is not a service-account key file (invalid JSON at line 1)"),
        (
            json.dumps({"type": "authorized_user", "refresh_token": "secret-refresh"}),
            'is not a service-account key file (its "type" is \'authorized_user\', expected "service_account"',
        ),
        (
            json.dumps({"type": "service_account", "private_key": "-----BEGIN PRIVATE KEY-----\nSECRET"}),
            "is not a usable service-account key file (missing client_email, token_uri)",
        ),
        (
            json.dumps(
                {
                    "type": "service_account",
                    "client_email": "etl@x.iam.gserviceaccount.com",
                    "token_uri": TOKEN_URL,
                    "private_key": "-----BEGIN PRIVATE KEY-----\nSECRETKEYMATERIAL\n-----END PRIVATE KEY-----\n",
                }
            ),
            ": its private_key cannot be loaded (",
        ),
    ],
)
def test_an_invalid_credentials_file_is_one_error_without_its_content(ga, tmp_path, content, message):
    path = tmp_path / "key.json"
    path.write_text(content)
    error = read_error(path, SESSIONS)
    assert error.startswith(f"credentials file '{path}'") and message in error
    assert "SECRET" not in error and "secret" not in error
    assert ga.bodies == [] and ga.token_requests == 0


def test_an_unreadable_credentials_file(ga, tmp_path):
    assert (
        read_error(tmp_path, SESSIONS)
        == f"credentials file '{tmp_path}' is a directory, not a service-account key file"
    )


def test_a_service_account_without_access_is_one_error(ga, key_file):
    ga.forever = (
        403,
        error_body(403, "PERMISSION_DENIED", "User does not have sufficient permissions for this property."),
    )
    assert read_error(key_file, SESSIONS) == (
        f"report 'r' (property {PROPERTY}): Google Analytics refused the request "
        "(HTTP 403 PERMISSION_DENIED: User does not have sufficient permissions for this property.)"
    )
    assert len(ga.bodies) == 1


# ── end to end: the CLI, the graph, PostgreSQL ──────────────────────────────────────────────


def write_config(tmp_path: Path, store_url: str, key: Path, extra: str = "") -> Path:
    with sqlite3.connect(tmp_path / "website.db") as db:
        db.executescript("CREATE TABLE users (id INTEGER PRIMARY KEY); INSERT INTO users DEFAULT VALUES;")
    path = tmp_path / "analytics.toml"
    path.write_text(f"""
[store]
url = "{store_url}"

[sources.website]
url = "sqlite:///{tmp_path / "website.db"}"

[readers.objects]
source = "website"
tables = ["users"]

[readers.google_analytics]
property = {PROPERTY}
credentials = "{key}"
retries = 2
backoff = 0.0
{extra}

[readers.google_analytics.reports.hourly]
metrics = ["sessions", "averageSessionDuration"]

[readers.google_analytics.reports.channels]
metrics = ["sessions"]
dimensions = ["sessionDefaultChannelGroup"]
metric = "ga.sessions.{{sessionDefaultChannelGroup}}"
""")
    return path


class ByReport(FakeGA):
    """Answers each report by its dimensions (the two reports' chains run at the same time)."""

    def table(self, body: dict) -> tuple[list, list, list, str]:
        if len(body["dimensions"]) == 2:
            rows = [
                (("2026103121", "Direct"), ("3",)),
                (("2026110101", "Direct"), ("5",)),
                (("2026110101", "Organic Search"), ("8",)),
            ]
            return ["dateHour", "sessionDefaultChannelGroup"], INTEGER, rows, NEW_YORK
        metrics = [("sessions", "TYPE_INTEGER"), ("averageSessionDuration", "TYPE_SECONDS")]
        rows = [(("2026103121",), ("3", "61.5")), (("2026110101",), ("13", "42.25")), (("2026110102",), ("4", "7"))]
        return ["dateHour"], metrics, rows, NEW_YORK


@pytest.fixture
def ga_by_report() -> Iterator[FakeGA]:
    yield from google(ByReport)


def test_exact_values_written_to_postgresql(tmp_path, key_file, pg_url, ga_by_report, capsys):
    cfg = write_config(tmp_path, pg_url, key_file)
    argv = ["read", "all", "--write", "-c", str(cfg), "--since", "2026-11-01", "--until", "2026-11-02"]
    assert cli.main(argv) == 0, capsys.readouterr().err
    values = stored(pg_url)
    ga_values = {k: v for k, v in values.items() if k[0].startswith("ga.")}
    nov1 = date(2026, 11, 1)
    assert ga_values == {
        ("ga.sessions", nov1, 1): 3,  # 2026-10-31 21:00 EDT
        ("ga.average_session_duration", nov1, 1): 61.5,
        ("ga.sessions", nov1, 5): 13,  # 01:00, the first (EDT) of the two
        ("ga.average_session_duration", nov1, 5): 42.25,
        ("ga.sessions", nov1, 7): 4,  # 02:00 EST
        ("ga.average_session_duration", nov1, 7): 7.0,
        ("ga.sessions.direct", nov1, 1): 3,
        ("ga.sessions.direct", nov1, 5): 5,
        ("ga.sessions.organic_search", nov1, 5): 8,
    }
    assert [k for k in values if k[0] == "objects.users.count"]  # the other reader wrote too
    # the same run again rewrites the same rows: nothing new
    assert cli.main(argv) == 0
    assert stored(pg_url) == values


def test_quota_exhausted_forever_exits_1_and_the_other_readers_write(tmp_path, key_file, pg_url, ga, capsys):
    ga.forever = (429, error_body(429, "RESOURCE_EXHAUSTED", QUOTA_MESSAGE))
    cfg = write_config(tmp_path, pg_url, key_file)
    code = cli.main(["read", "all", "--write", "-c", str(cfg), "--since", "2026-11-01", "--until", "2026-11-02"])
    assert code == 1
    err = capsys.readouterr().err
    errors = sorted(line for line in err.splitlines() if line.startswith("error:"))
    assert errors == [
        f"error: google_analytics.{name}: report '{name}' (property {PROPERTY}): Google Analytics quota exhausted "
        f"(HTTP 429 RESOURCE_EXHAUSTED: {QUOTA_MESSAGE}) (gave up after 3 attempts over 0 s)"
        for name in ("channels", "hourly")
    ]
    assert "Traceback" not in err
    assert [k[0] for k in stored(pg_url)] == ["objects.users.count"]


def test_a_missing_credentials_file_exits_1_and_the_other_readers_write(tmp_path, pg_url, ga, capsys):
    missing = tmp_path / "secrets" / "ga.json"
    cfg = write_config(tmp_path, pg_url, missing)
    assert cli.main(["read", "all", "--write", "-c", str(cfg)]) == 1
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert sorted(errors) == [
        f"error: google_analytics.{name}: credentials file '{missing}' not found" for name in ("channels", "hourly")
    ]
    assert [k[0] for k in stored(pg_url)] == ["objects.users.count"]
    assert ga.bodies == [] and ga.token_requests == 0
