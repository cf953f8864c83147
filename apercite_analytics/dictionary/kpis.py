"""KPIs: which metrics people watch, and how to show them (the Business dashboard, the `report`).

A KPI file is any YAML file of the dictionary folder whose document is a mapping with `kpis:` (a
list); the metric definitions' loader leaves those files to this module. Each KPI names one metric
(`metric:`, a name or a pattern whose matches are added up) or the ratio of two (`ratio:` with
`numerator` and `denominator`), and says how to show it:

    kpis:
      - key: activation_rate          # a-z, 0-9, _: unique
        title: Activation rate
        section: Activation           # report and dashboard group (default: Business)
        dashboard: business           # which generated dashboard (default: business)
        ratio: {numerator: events.activation.count, denominator: events.signup.count}
        aggregate: sum                # over a period: sum, last, max, min, avg (ratios: sum or last)
        chart: stat                   # stat, timeseries or bar
        good: up                      # up or down: how a change is coloured
        target: 0.4                   # optional: a number, or {day: …, week: …, month: …}

The unit is never written here: it is the dictionary definition's `unit` (a ratio of two metrics
of one unit is a `ratio`, shown as a percentage). Whether the hourly or the daily values are read
follows the definition's `time_frame`: `1d`, `7d`, `28d` → daily values; `1h` and `all` (a gauge
observed each hour) → hourly ones. Problems are
reported as `file:line: kpi: field: message`, like the definitions'.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from apercite_analytics.dictionary.definitions import _PART, Dictionary, _Loader, entry_problems
from apercite_analytics.errors import ConfigError

CHARTS = ("stat", "timeseries", "bar")
AGGREGATES = ("sum", "last", "max", "min", "avg")
RATIO_AGGREGATES = ("sum", "last")  # a ratio of sums, or of the latest values: both mean the same on any range
GOOD = ("up", "down")
PERIODS = ("day", "week", "month")
DAILY_FRAMES = ("1d", "7d", "28d")  # values of a day or more: read daily values; 1h and `all` (gauges): hourly
FIELDS = (
    "key", "title", "section", "dashboard", "metric", "ratio", "aggregate", "chart", "good", "target", "description",
)  # fmt: skip
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Kpi:
    """One KPI, its metrics resolved against the dictionary (`unit`, `daily`)."""

    key: str
    title: str
    section: str
    dashboard: str
    metrics: tuple[str, ...]  # (metric,) or (numerator, denominator)
    aggregate: str
    chart: str
    good: str
    unit: str  # the dictionary's unit; "ratio" for a ratio of two metrics of one unit
    daily: bool  # read daily values (the definition's time_frame is 1d, 7d or 28d)
    target: float | dict[str, float] | None = None
    description: str = ""
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"

    @property
    def is_ratio(self) -> bool:
        return len(self.metrics) == 2

    def target_for(self, period: str | None) -> float | None:
        """The target of a `day`/`week`/`month` period (a plain number is every period's)."""
        if isinstance(self.target, dict):
            return self.target.get(period) if period else None
        return self.target


def is_kpi_document(document: Any) -> bool:
    """A KPI file's document (the definitions' loader skips these)."""
    return isinstance(document, dict) and "kpis" in document


def load(folder: Path, dictionary: Dictionary) -> tuple[list[Kpi], list[str]]:
    """Every KPI of the YAML files under `folder`, and every problem (`file:line: kpi: field: message`)."""
    kpis: list[Kpi] = []
    errors: list[str] = []
    seen: dict[str, Kpi] = {}
    for path in sorted(p for p in folder.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()):
        try:
            document = yaml.load(path.read_text(encoding="utf-8"), Loader=_Loader)  # noqa: S506 — a SafeLoader
        except (yaml.YAMLError, OSError, UnicodeDecodeError):
            continue  # the definitions' loader reports the file
        if not is_kpi_document(document):
            continue
        shown = str(path)
        entries = document["kpis"]
        if set(document) != {"kpis"} or not isinstance(entries, list):
            errors.append(f"{shown}:{document.line}: expected `kpis:` and a list of KPIs, nothing else")
            continue
        for index, entry in enumerate(entries):
            kpi = _kpi(entry, dictionary, shown, index, errors)
            if kpi is None:
                continue
            if kpi.key in seen:
                errors.append(f"{kpi.where}: {kpi.key}: key already defined at {seen[kpi.key].where}")
                continue
            seen[kpi.key] = kpi
            kpis.append(kpi)
    return kpis, errors


def _kpi(entry: Any, dictionary: Dictionary, shown: str, index: int, errors: list[str]) -> Kpi | None:
    if not isinstance(entry, dict):
        errors.append(f"{shown}: KPI {index + 1}: expected a mapping of fields, got {type(entry).__name__}")
        return None
    key = entry.get("key")
    before = len(errors)
    label = key if isinstance(key, str) and key else f"KPI {index + 1}"
    problem = entry_problems(entry, FIELDS, shown, label, errors)
    for name in ("key", "title"):
        if not isinstance(entry.get(name), str) or not entry[name]:
            problem(None if name not in entry else name, f"missing or empty {name!r} (a string)")
    if isinstance(key, str) and key and not _KEY.match(key):
        problem("key", f"{key!r}: lowercase letters, digits and _ (starting with a letter)")
    for name in ("section", "dashboard", "description"):
        if name in entry and not isinstance(entry[name], str):
            problem(name, "expected a string")
    choices = {"chart": (CHARTS, "stat"), "good": (GOOD, "up"), "aggregate": (AGGREGATES, "sum")}
    chosen = {}
    for name, (allowed, default) in choices.items():
        chosen[name] = entry.get(name, default)
        if chosen[name] not in allowed:
            problem(name, f"must be one of {', '.join(allowed)}, got {chosen[name]!r}")
    metrics = _metrics(entry, problem)
    if metrics and len(metrics) == 2 and chosen["aggregate"] not in RATIO_AGGREGATES:
        problem("aggregate", f"a ratio is aggregated by {' or '.join(RATIO_AGGREGATES)}, not {chosen['aggregate']!r}")
    target = _target(entry.get("target"), problem)
    definitions = []
    for name in metrics:
        definition = dictionary.match(name)
        if definition is None:
            problem("ratio" if len(metrics) == 2 else "metric", f"no dictionary definition covers {name}")
        definitions.append(definition)
    if len(errors) > before:
        return None
    units = {d.unit for d in definitions}
    frames = {d.time_frame in DAILY_FRAMES for d in definitions}
    if len(frames) > 1:
        problem("ratio", "numerator and denominator must both have hourly values or both daily ones (time_frame)")
        return None
    if len(metrics) == 2:
        unit = "ratio" if len(units) == 1 else f"{definitions[0].unit}/{definitions[1].unit}"
    else:
        unit = definitions[0].unit
    return Kpi(
        key=key,
        title=entry["title"],
        section=entry.get("section", "Business"),
        dashboard=entry.get("dashboard", "business"),
        metrics=metrics,
        aggregate=chosen["aggregate"],
        chart=chosen["chart"],
        good=chosen["good"],
        unit=unit,
        daily=frames.pop(),
        target=target,
        description=entry.get("description", ""),
        file=shown,
        line=entry.line,
    )


def _metrics(entry: dict, problem) -> tuple[str, ...]:
    metric, ratio = entry.get("metric"), entry.get("ratio")
    if (metric is None) == (ratio is None):
        problem(None, "give either `metric` (one metric) or `ratio` (numerator and denominator)")
        return ()
    if metric is not None:
        names = (metric,)
        where = "metric"
    elif not isinstance(ratio, dict) or set(ratio) != {"numerator", "denominator"}:
        problem("ratio", "expected {numerator: METRIC, denominator: METRIC}")
        return ()
    else:
        names = (ratio["numerator"], ratio["denominator"])
        where = "ratio"
    for name in names:
        if not isinstance(name, str) or not all(_PART.match(p) for p in name.split(".")):
            problem(where, f"{name!r} is not a metric name or pattern (dotted parts of a-z, 0-9, _; `*` for one part)")
            return ()
    return names


def _target(value: Any, problem) -> float | dict[str, float] | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    numeric = isinstance(value, dict) and all(type(v) in (int, float) for v in value.values())
    if numeric and value and set(value) <= set(PERIODS):
        return {k: float(v) for k, v in value.items()}
    problem("target", f"expected a number, or a mapping of {', '.join(PERIODS)} to numbers")
    return None


def matches(pattern: str, name: str) -> bool:
    """Whether metric `name` is `pattern` (where `*` stands for one name part)."""
    parts, wanted = name.split("."), pattern.split(".")
    return len(parts) == len(wanted) and all(w in ("*", p) for w, p in zip(wanted, parts, strict=True))


def configured(folder: Path | None, dictionary: Dictionary | None) -> list[Kpi]:
    """The KPIs of a loaded dictionary's folder; ConfigError naming the first problem."""
    if folder is None or dictionary is None:
        return []
    kpis, errors = load(folder, dictionary)
    if errors:
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ConfigError(errors[0] + more)
    return kpis


def never_stored(kpis: list[Kpi], stored: list[str]) -> list[str]:
    """A warning line (`file:line: kpi: …`) for each KPI with a metric the store never had."""
    lines = []
    names = set(stored)
    for kpi in kpis:
        missing = [m for m in kpi.metrics if not (m in names or ("*" in m and any(matches(m, n) for n in names)))]
        if missing:
            lines.append(f"{kpi.where}: {kpi.key}: the store never had {', '.join(missing)} (check the metric name)")
    return lines
