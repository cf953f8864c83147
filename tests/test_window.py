"""UTC time windows and --since/--until parsing."""

from datetime import UTC, datetime, timedelta

import pytest

from apercite_analytics.config.secrets import mask_url, scrub
from apercite_analytics.errors import ConfigError
from apercite_analytics.window import DAY, HOUR, Window, parse_duration, parse_moment

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)


def test_trailing_window_includes_the_current_period():
    window = Window(now=NOW)
    assert window.range(timedelta(hours=3), HOUR) == (
        datetime(2026, 11, 20, 12, tzinfo=UTC),
        datetime(2026, 11, 20, 16, tzinfo=UTC),
    )
    assert window.range(timedelta(days=2), DAY) == (
        datetime(2026, 11, 18, tzinfo=UTC),
        datetime(2026, 11, 21, tzinfo=UTC),
    )


def test_backfill_window():
    window = Window.from_args("2026-11-01", "2026-11-03T06:00", now=NOW)
    assert window.backfill
    assert window.range(timedelta(hours=3), HOUR) == (
        datetime(2026, 11, 1, tzinfo=UTC),
        datetime(2026, 11, 3, 6, tzinfo=UTC),
    )
    # an unaligned end takes its whole period; a future end stops at the current period
    assert Window.from_args("2026-11-20T10:15", "2026-11-20T12:30", now=NOW).range(HOUR, HOUR)[1] == datetime(
        2026, 11, 20, 13, tzinfo=UTC
    )
    assert Window.from_args("2026-11-20", "2027-01-01", now=NOW).range(HOUR, HOUR)[1] == datetime(
        2026, 11, 20, 16, tzinfo=UTC
    )


def test_moments_are_utc():
    assert parse_moment("2026-11-20T10:00+02:00", "--since") == datetime(2026, 11, 20, 8, tzinfo=UTC)
    assert parse_moment("2026-11-20 10:00", "--since") == datetime(2026, 11, 20, 10, tzinfo=UTC)
    with pytest.raises(ConfigError, match="--until: '20/11/2026' is not a date or time"):
        parse_moment("20/11/2026", "--until")
    with pytest.raises(ConfigError, match="is in the future"):
        Window.from_args("2026-12-01", None, now=NOW)


def test_durations():
    assert parse_duration("3h", "k") == timedelta(hours=3)
    assert parse_duration(" 7d ", "k") == timedelta(days=7)
    for bad in ("3 weeks", "0h", "h", "-1d", "1.5h", "15m"):
        with pytest.raises(ConfigError, match=r"^k: expected a duration"):
            parse_duration(bad, "k")


def test_durations_in_minutes_where_allowed():
    assert parse_duration("15m", "k", units="mhd") == timedelta(minutes=15)
    assert parse_duration("2h", "k", units="mhd") == timedelta(hours=2)
    with pytest.raises(ConfigError, match=r'^k: expected a duration like "15m", "3h" or "2d", got \'0m\''):
        parse_duration("0m", "k", units="mhd")


def test_masking():
    assert mask_url("postgresql://u:p4ss@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert mask_url("sqlite:///x.db") == "sqlite:///x.db"
    assert scrub("could not connect to mysql://root:abc123@db/x") == "could not connect to mysql://root:***@db/x"
