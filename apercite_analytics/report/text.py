"""The report as plain text: for a terminal, a log, a chat message and the e-mail's text part."""

from __future__ import annotations

from apercite_analytics.report import numbers
from apercite_analytics.report.digest import PARTIAL, Digest

MARK = {"good": "▲ good", "bad": "▼ bad", "flat": ""}


def headline(digest: Digest) -> str:
    state = "" if digest.complete else " (partial: the period is not complete yet)"
    return f"{digest.title}: {digest.period.label()}{state}"


def footer(digest: Digest) -> str:
    health = digest.health
    failed = f"{health.failed_runs} failed run{'s' * (health.failed_runs != 1)} of {health.runs} in the period"
    return f"Job health: last successful run {numbers.moment(health.last_success)}; {failed}"


def kpi_line(result, width: int = 24) -> str:
    value = numbers.with_unit(result.value, result.kpi.unit)
    if result.status == PARTIAL:
        value += " (partial)"
    parts = [f"{result.kpi.title:<{width}}  {value:<22}"]
    if result.value is not None:
        parts.append(f"{numbers.change(result):<24}")
        parts.append(f"{MARK[result.verdict]:<7}" if result.change is not None else " " * 7)
        parts.append(numbers.progress(result))
    return "  " + " ".join(parts).rstrip()


def render(digest: Digest) -> str:
    lines = [headline(digest), f"compared with {digest.previous.label()}", ""]
    if not digest.results:
        lines += ["no data: none of the KPIs' metrics is in the store", ""]
    width = max([len(r.kpi.title) for r in digest.results] + [10])
    for section, results in digest.sections().items():
        lines.append(section)
        lines += [kpi_line(r, width) for r in results]
        lines.append("")
    if digest.not_shown:
        lines += [f"Not shown (metrics never stored): {', '.join(digest.not_shown)}", ""]
    lines.append(footer(digest))
    return "\n".join(lines) + "\n"
