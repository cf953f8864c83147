"""The numbers of the report: each KPI over the period and the previous one, per chart bucket,
with the change, the progress to its target, and whether the period is complete.

Values are read through the store (`store/reads.py`); every aggregate is computed here, once, for
every output. A pattern KPI adds up its metrics at each point in time first; a ratio is
agg(numerator) / agg(denominator). Nothing stored means None ("no data"), never 0.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from apercite_analytics.dictionary.kpis import Kpi, matches
from apercite_analytics.report.period import Period
from apercite_analytics.store.reads import Health, Points, ReportReader

NO_DATA, PARTIAL, COMPLETE = "no data", "partial", "complete"


def aggregate(how: str, values: list[float]) -> float | None:
    """sum, last, max, min or avg of values in time order; None for no values (never 0)."""
    if not values:
        return None
    if how == "sum":
        return float(sum(values))
    if how == "last":
        return values[-1]
    if how == "max":
        return max(values)
    if how == "min":
        return min(values)
    return sum(values) / len(values)


@dataclass
class KpiResult:
    kpi: Kpi
    value: float | None
    previous: float | None
    status: str  # complete, partial or no data
    points: list[float | None] = field(default_factory=list)  # one per bucket of the period
    previous_points: list[float | None] = field(default_factory=list)
    target: float | None = None

    @property
    def change(self) -> float | None:
        return None if self.value is None or self.previous is None else self.value - self.previous

    @property
    def change_ratio(self) -> float | None:
        """The change relative to the previous value (None when that is 0 or missing)."""
        return None if self.change is None or not self.previous else self.change / abs(self.previous)

    @property
    def verdict(self) -> str:
        """good, bad or flat: the change against the KPI's `good` direction."""
        if not self.change:
            return "flat"
        return "good" if (self.change > 0) == (self.kpi.good == "up") else "bad"

    @property
    def progress(self) -> float | None:
        return None if self.value is None or not self.target else self.value / self.target


@dataclass
class Digest:
    title: str
    period: Period
    previous: Period
    results: list[KpiResult]
    health: Health
    generated_at: datetime
    complete: bool  # the period is over and the job's successful runs reached its end
    not_shown: list[str] = field(default_factory=list)  # KPIs whose metrics the store never had

    def sections(self) -> dict[str, list[KpiResult]]:
        grouped: dict[str, list[KpiResult]] = defaultdict(list)
        for result in self.results:
            grouped[result.kpi.section].append(result)
        return dict(grouped)


class _Series:
    """One KPI side (a metric, or a pattern's sum) as (time, value) points."""

    def __init__(self, points: Points, names: Iterable[str]) -> None:
        totals: dict[datetime, float] = defaultdict(float)
        for name in names:
            for moment, value in points.get(name, ()):
                totals[moment] += value
        self.points = sorted(totals.items())

    def within(self, start: datetime, end: datetime) -> list[float]:
        return [v for t, v in self.points if start <= t < end]


def _value(kpi: Kpi, sides: list[_Series], start: datetime, end: datetime) -> float | None:
    values = [aggregate(kpi.aggregate, side.within(start, end)) for side in sides]
    if kpi.is_ratio:
        numerator, denominator = values
        return None if numerator is None or not denominator else numerator / denominator
    return values[0]


def _stored(kpi: Kpi, ids: dict[str, int]) -> list[list[str]]:
    """Per KPI side, the stored metric names it reads."""
    return [[n for n in ids if n == m or ("*" in m and matches(m, n))] for m in kpi.metrics]


def compute(title: str, kpis: list[Kpi], period: Period, reader: ReportReader, now: datetime) -> Digest:
    previous = period.previous()
    ids = reader.metric_ids()
    shown, not_shown, names = [], [], {False: set(), True: set()}
    for kpi in kpis:
        sides = _stored(kpi, ids)
        if not all(sides):
            not_shown.append(kpi.key)
            continue
        shown.append((kpi, sides))
        names[kpi.daily].update(n for side in sides for n in side)
    points: dict[bool, Points] = {
        daily: reader.values({n: ids[n] for n in wanted}, previous.start, period.end, daily=daily) if wanted else {}
        for daily, wanted in names.items()
    }
    health = reader.health(period.start, period.end)
    complete = period.end <= now and (health.last_success is None or health.last_success >= period.end)
    results = []
    for kpi, sides in shown:
        series = [_Series(points[kpi.daily], side) for side in sides]
        value = _value(kpi, series, period.start, period.end)
        status = NO_DATA if value is None else COMPLETE if complete else PARTIAL
        results.append(
            KpiResult(
                kpi=kpi,
                value=value,
                previous=_value(kpi, series, previous.start, previous.end),
                status=status,
                points=[_value(kpi, series, b, b + period.step) for b in period.buckets()],
                previous_points=[_value(kpi, series, b, b + previous.step) for b in previous.buckets()],
                target=kpi.target_for(period.kind),
            )
        )
    return Digest(title, period, previous, results, health, now, complete, not_shown)
