"""Known metric values for the dashboard tests: seeded through the real graph and writers, and the
plain-Python answers every panel must give on them (an oracle independent of the panels' SQL)."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

DAYS = [date(2026, 11, 2) + timedelta(days=i) for i in range(6)]  # Monday 2 .. Saturday 7 November
FROM = datetime(2026, 11, 3, 5, 30, tzinfo=UTC)  # partial first day: 05:00 is out, 06:00 is in
TO = datetime(2026, 11, 6, 20, 0, tzinfo=UTC)  # inclusive, as Grafana's BETWEEN: 20:00 is in, 21:00 out


def hourly_values() -> dict[str, dict[tuple[date, int], float]]:
    values: dict[str, dict[tuple[date, int], float]] = defaultdict(dict)
    for i, day in enumerate(DAYS):
        for h in range(24):
            put = {
                "events.signup.count": 1 + h % 5 + i,
                "events.activation.count": h % 3,
                "events.trial.count": 1,
                "objects.users.count": 100 + 24 * i + h,
                "objects.projects.count": 20 + 24 * i + h // 2,
                "app.signups.free": h % 2 + i,
                "app.signups.pro": 1 if h % 6 == 0 else 0,
                "ga.sessions": 10 + h,
                "ga.new_users": h % 4,
                "http.requests.200": 1000 + h,
                "http.requests.404": 10,
                "http.requests.500": h % 2,
                "http.errors.5xx": h % 2,
                "http.latency.p50": 0.125,
                "http.latency.p90": 0.25 + h / 1000,
                "http.latency.p99": 0.5 + i / 10,
                "events.render.duration.p50": 1.5,
                "events.render.duration.p90": 2.5,
                "events.render.duration.p99": 4 + h / 100,
                "events.render.duration.max": 9,
                "spider.active": h % 5,
                "spider.idle": 5 - h % 5 + i % 2,
                "spider.total": 5 + i % 2,
                "etl.run.seconds": 12.5 + h,
                "etl.run.values": 100 * h,
                "etl.run.errors": h % 2,
                "etl.run.rejected": 0,
                "etl.reader.objects.records": 3,
                "etl.reader.sql.records": 40 + h,
                "etl.reader.sql.errors": 1 if h == 13 else 0,
            }
            for name, value in put.items():
                values[name][(day, h)] = value
    return dict(values)


def daily_values() -> dict[str, dict[date, float]]:
    values: dict[str, dict[date, float]] = defaultdict(dict)
    for i, day in enumerate(DAYS):
        values["events.activation.users.7d"][day] = 50 + i
        values["events.activation.users.28d"][day] = 200 + 2 * i
        values["events.signup.users.7d"][day] = 70 + i
        values["events.signup.users.28d"][day] = 300
        values["app.users.activated"][day] = 5 + i
    return dict(values)


HOURLY = hourly_values()
DAILY = daily_values()


def records():
    """The seed as the record contract: one record per hour, one per day (without the job's own
    etl.* metrics, which no reader may write: see `own_metrics`)."""
    for day in DAYS:
        for h in range(24):
            yield {"date": day, "hour": h}, {n: v[(day, h)] for n, v in HOURLY.items() if not n.startswith("etl.")}
        yield {"date": day}, {name: v[day] for name, v in DAILY.items()}


def own_metrics() -> dict:
    """The seed's etl.* values, as the job writes its own metrics: `{(name, date, hour): value}`."""
    return {
        (n, day, h): v[(day, h)] for n, v in HOURLY.items() if n.startswith("etl.") for day in DAYS for h in range(24)
    }


# -- the oracle -----------------------------------------------------------------------------------


def at(day: date, hour: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def hours_in(start: datetime = FROM, end: datetime = TO) -> list[tuple[date, int]]:
    return [(d, h) for d in DAYS for h in range(24) if start <= at(d, h) <= end]


def days_in(start: datetime = FROM, end: datetime = TO) -> list[date]:
    return [d for d in DAYS if start <= at(d) <= end]


def points(metric: str, start: datetime = FROM, end: datetime = TO) -> list[tuple]:
    return [(at(d, h), HOURLY[metric][(d, h)]) for d, h in hours_in(start, end)]


def total(metric: str, keys=None) -> float:
    return sum(HOURLY[metric][k] for k in (keys if keys is not None else hours_in()))


def buckets(seconds: int, keys=None) -> dict[int, list[tuple[date, int]]]:
    grouped: dict[int, list] = defaultdict(list)
    for d, h in keys if keys is not None else hours_in():
        epoch = int(at(d, h).timestamp())
        grouped[epoch // seconds * seconds].append((d, h))
    return dict(sorted(grouped.items()))


def long_rows(prefix: str, names: list[str], start: datetime = FROM, end: datetime = TO) -> list[tuple]:
    """Rows (time, metric without prefix, value), ordered by time then name, as the panels' ORDER BY 1, 2."""
    return [(at(d, h), name, HOURLY[prefix + name][(d, h)]) for d, h in hours_in(start, end) for name in sorted(names)]


# -- comparing -------------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """Numbers from PostgreSQL as plain ints / floats (numeric epochs come back as Decimal)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    return value


def assert_rows(actual: list[tuple], expected: list[tuple]) -> None:
    actual = [tuple(plain(v) for v in row) for row in actual]
    assert len(actual) == len(expected), f"{len(actual)} rows, expected {len(expected)}:\n{actual[:5]}\n{expected[:5]}"
    for got, want in zip(actual, expected, strict=True):
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            if isinstance(w, float) or isinstance(g, float):
                assert g == pytest.approx(w, rel=1e-12, abs=1e-12), (got, want)
            else:
                assert g == w, (got, want)
