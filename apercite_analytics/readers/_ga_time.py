"""Google Analytics time: property-local `dateHour` / `date` values placed in UTC, and the local
dates to request for a UTC window.

GA4 reports in the property's time zone (the response's `metadata.timeZone`), and a request's
`startDate`/`endDate` are local dates too. We only learn the zone from a response, so a request
for the UTC window [start, end) asks for every local date that window can touch in *any* zone
(UTC−12 … UTC+14: one extra day on each side at most) and the rows are then placed in UTC and
filtered to the window.

DST, with the zone database (`zoneinfo`):

* fall back (e.g. America/New_York 2026-11-01): the local hour 01 happens twice, but GA reports
  one `dateHour` row for it. We place it at its *first* occurrence (05:00 UTC, EDT); the second
  UTC hour (06:00 UTC) gets no row. Nothing is split or invented: the day's total is unchanged.
* spring forward (e.g. America/New_York 2026-03-08): the local hour 02 does not exist, so GA has
  no row for it and nothing lands in that UTC slot. A row claiming a local time that does not
  exist cannot be placed and is skipped (and reported).

Daily rows are dated by the property's local calendar date (`date` = `20261101` → 2026-11-01):
the property's day, not the UTC day (a GA day in New York is 04:00/05:00 → 04:00/05:00 UTC).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apercite_analytics.window import HOUR

# The widest offsets in the zone database: a UTC instant is on local date (t - 12 h) … (t + 14 h).
MAX_BEHIND_UTC = timedelta(hours=12)
MAX_AHEAD_OF_UTC = timedelta(hours=14)
_DATE_HOUR = re.compile(r"^(\d{4})(\d{2})(\d{2})(\d{2})$")
_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


class Unplaceable(ValueError):
    """A row whose time value cannot be placed in UTC (GA's "(other)" row, a skipped local hour)."""


def zone(name: str) -> ZoneInfo:
    """The property's zone from `metadata.timeZone`; ValueError if the zone database lacks it."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


def utc_hour(date_hour: str, tz: ZoneInfo) -> datetime:
    """The UTC start of the local hour `YYYYMMDDHH`; a repeated hour is its first occurrence."""
    match = _DATE_HOUR.match(date_hour)
    if not match:
        raise Unplaceable(f"dateHour {date_hour!r} is not a time")
    year, month, day, hour = map(int, match.groups())
    try:
        local = datetime(year, month, day, hour, tzinfo=tz)  # fold=0: the first of a repeated hour
    except ValueError:
        raise Unplaceable(f"dateHour {date_hour!r} is not a time") from None
    moment = local.astimezone(UTC)
    if moment.astimezone(tz).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise Unplaceable(f"dateHour {date_hour!r} does not exist in {tz.key} (the clocks skipped it)")
    return moment


def local_date(value: str) -> date:
    """The property-local calendar date of a `date` value `YYYYMMDD`."""
    match = _DATE.match(value)
    if not match:
        raise Unplaceable(f"date {value!r} is not a date")
    try:
        return date(*map(int, match.groups()))
    except ValueError:
        raise Unplaceable(f"date {value!r} is not a date") from None


def hourly_request_dates(start: datetime, end: datetime) -> tuple[date, date]:
    """Local dates (inclusive) covering the UTC hours [start, end) whatever the property's zone."""
    return (start - MAX_BEHIND_UTC).date(), (end - HOUR + MAX_AHEAD_OF_UTC).date()
