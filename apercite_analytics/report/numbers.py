"""How the report writes numbers: one function per thing shown, shared by every output, so the
text, the HTML, the e-mail and the webhook say the same figures."""

from __future__ import annotations

from datetime import datetime

from apercite_analytics.report.digest import NO_DATA, KpiResult

TIME_UNITS = {"ms": "ms", "milliseconds": "ms", "s": "s", "seconds": "s", "minutes": "min", "hours": "h"}


def plain(value: float) -> str:
    """1,234 · 12.5 · 0.25: no more decimals than a person reads (2 below 100, none above)."""
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}"
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def with_unit(value: float | None, unit: str) -> str:
    """The value as shown beside a KPI: `41.3%`, `290 ms`, `1,234 users`; `no data` for None."""
    if value is None:
        return NO_DATA
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if unit in TIME_UNITS:
        return f"{plain(value)} {TIME_UNITS[unit]}"
    if unit in ("percent", "%"):
        return f"{plain(value)}%"
    return f"{plain(value)} {unit}"


def change(result: KpiResult) -> str:
    """`+56 (+4.8%)`, `-3.2 pts` for a ratio, `n/a` when either period has no data."""
    delta = result.change
    if delta is None:
        return "previous period: no data" if result.value is not None else "n/a"
    sign = "+" if delta > 0 else "-" if delta < 0 else "±"
    if result.kpi.unit == "ratio":
        return f"{sign}{abs(delta) * 100:.1f} pts"
    relative = result.change_ratio
    shown = f"{sign}{plain(abs(delta))}"
    return f"{shown} ({sign}{abs(relative) * 100:.1f}%)" if relative is not None else f"{shown} (new)"


def progress(result: KpiResult) -> str:
    """`82% of target 1,500` (empty when the KPI has no target for this period)."""
    if result.target is None:
        return ""
    if result.progress is None:
        return f"target {with_unit(result.target, result.kpi.unit)}"
    return f"{result.progress * 100:.0f}% of target {with_unit(result.target, result.kpi.unit)}"


def moment(value: datetime | None) -> str:
    return f"{value:%Y-%m-%d %H:%M} UTC" if value is not None else "never"
