"""Report periods in UTC: the last complete day, ISO week (Monday to Sunday) or calendar month,
or any `--since/--until` range; each with the previous period of the same kind to compare with."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apercite_analytics.errors import ConfigError
from apercite_analytics.window import DAY, HOUR, floor_day

KINDS = ("day", "week", "month")


@dataclass(frozen=True)
class Period:
    """[start, end) in UTC; `kind` is day/week/month, or None for a --since/--until range."""

    start: datetime
    end: datetime
    kind: str | None = None

    @property
    def hourly_buckets(self) -> bool:
        """Charts of a period up to two days show hours; longer ones show days."""
        return self.end - self.start <= 2 * DAY

    @property
    def step(self) -> timedelta:
        return HOUR if self.hourly_buckets else DAY

    def buckets(self) -> list[datetime]:
        step, moment, found = self.step, self.start, []
        while moment < self.end:
            found.append(moment)
            moment += step
        return found

    def previous(self) -> Period:
        if self.kind == "month":
            end = self.start
            before = end - DAY
            return Period(before.replace(day=1), end, "month")
        length = self.end - self.start
        return Period(self.start - length, self.start, self.kind)

    def label(self) -> str:
        last = self.end - timedelta(microseconds=1)
        if self.kind == "day":
            return self.start.strftime("%A %d %B %Y")
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"week {week} of {year} ({self.start:%d %b} – {last:%d %b %Y})"
        if self.kind == "month":
            return self.start.strftime("%B %Y")
        if self.start.time() == self.end.time() == datetime.min.time():
            return f"{self.start:%d %b %Y} – {last:%d %b %Y}"
        return f"{self.start:%Y-%m-%d %H:%M} – {self.end:%Y-%m-%d %H:%M} UTC"

    def short(self) -> str:
        """A few words for a subject line."""
        if self.kind == "week":
            year, week, _ = self.start.isocalendar()
            return f"week {week}, {year}"
        if self.kind == "day":
            return f"{self.start:%d %b %Y}"
        if self.kind == "month":
            return f"{self.start:%B %Y}"
        return self.label()


def last_complete(kind: str, now: datetime) -> Period:
    """The last day, ISO week or calendar month that ended at or before `now` (UTC)."""
    today = floor_day(now.astimezone(UTC))
    if kind == "day":
        return Period(today - DAY, today, "day")
    if kind == "week":
        monday = today - timedelta(days=today.weekday())
        return Period(monday - 7 * DAY, monday, "week")
    if kind == "month":
        first = today.replace(day=1)
        return Period((first - DAY).replace(day=1), first, "month")
    raise ConfigError(f"--period: must be one of {', '.join(KINDS)}, got {kind!r}")


def between(since: datetime, until: datetime) -> Period:
    if until <= since:
        raise ConfigError(f"--until: {until:%Y-%m-%d %H:%M} is not after --since ({since:%Y-%m-%d %H:%M})")
    if until - since > 400 * DAY:
        raise ConfigError("--since/--until: at most 400 days in one report")
    return Period(since, until)
