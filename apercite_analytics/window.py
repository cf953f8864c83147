"""Time in UTC: the run's clock, whole hours and the --since/--until window readers read."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from apercite_analytics.errors import ConfigError

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
_DURATION = re.compile(r"^\s*(?P<n>\d+)\s*(?P<unit>[mhd])\s*$")
_UNITS = {"m": timedelta(minutes=1), "h": HOUR, "d": DAY}
MAX_DURATION_DAYS = 36_500  # a century: any lookback beyond it is a typo (and overflows dates)


def utcnow() -> datetime:
    return datetime.now(UTC)


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def floor_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def to_utc(moment: datetime) -> datetime:
    """Aware datetimes are converted to UTC; naive ones are taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_duration(text: str, where: str, units: str = "hd") -> timedelta:
    """`"3h"` or `"2d"` (config lookbacks); `"15m"` too where `units` includes `m`."""
    match = _DURATION.match(text)
    if not match or int(match["n"]) == 0 or match["unit"] not in units:
        example = '"15m", "3h" or "2d"' if "m" in units else '"3h" or "2d"'
        raise ConfigError(f"{where}: expected a duration like {example}, got {text!r}")
    minutes = int(match["n"]) * (_UNITS[match["unit"]] // timedelta(minutes=1))  # an int: never overflows
    if minutes > MAX_DURATION_DAYS * 24 * 60:
        raise ConfigError(f"{where}: {text.strip()!r} is longer than {MAX_DURATION_DAYS} days")
    return timedelta(minutes=minutes)


def parse_moment(text: str, option: str) -> datetime:
    """A --since/--until value: ISO date or date-time; naive means UTC."""
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        return to_utc(datetime.fromisoformat(text))
    except ValueError:
        raise ConfigError(
            f"{option}: {text!r} is not a date or time "
            "(use 2026-11-20 or 2026-11-20T13:00, UTC unless an offset is given)"
        ) from None


@dataclass(frozen=True)
class Window:
    """What a run asks readers to cover. `since`/`until` are None unless the user backfills."""

    now: datetime
    since: datetime | None = None
    until: datetime | None = None

    @classmethod
    def from_args(cls, since: str | None, until: str | None, now: datetime | None = None) -> Window:
        now = to_utc(now or utcnow())
        start = parse_moment(since, "--since") if since else None
        end = parse_moment(until, "--until") if until else None
        if start and end and start >= end:
            raise ConfigError(f"--since ({start:%Y-%m-%d %H:%M}) must be before --until ({end:%Y-%m-%d %H:%M})")
        if start and start > now:
            raise ConfigError(f"--since ({start:%Y-%m-%d %H:%M} UTC) is in the future")
        return cls(now=now, since=start, until=end)

    @property
    def backfill(self) -> bool:
        return self.since is not None or self.until is not None

    def range(self, lookback: timedelta, step: timedelta) -> tuple[datetime, datetime]:
        """[start, end) to read: the backfill if given, else the trailing `lookback` up to now.

        Both ends are aligned to `step` (an hour or a day); the end includes the current,
        partial period, which later runs rewrite.
        """
        floor = floor_hour if step == HOUR else floor_day
        end = min(self.until or self.now, self.now)
        start = self.since or (end - lookback)
        end_aligned = floor(end)
        if end_aligned < end or (self.until is None):
            end_aligned += step
        return floor(start), end_aligned
