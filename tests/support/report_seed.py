"""A store for the report tests, written by real runs, and the report's numbers computed
independently, by plain SQL on the store's tables (not through the report's code).

Two ISO weeks of values with the shipped dictionary's names: week 47 (16–22 Nov 2026, the
previous period) and week 48 (23–29 Nov, the reported one), plus 30 Nov (outside both). Some KPIs
have no previous data (ga.sessions starts in week 48), some metrics are never stored
(ga.new_users, objects.projects.count): the report must say so, never print 0.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import bindparam, text

ROOT = Path(__file__).resolve().parents[2]
FIRST, PREVIOUS, CURRENT, AFTER = date(2026, 11, 16), date(2026, 11, 16), date(2026, 11, 23), date(2026, 11, 30)
SINCE, UNTIL = "2026-11-23", "2026-11-30"
DAYS = [FIRST + timedelta(days=i) for i in range(15)]  # 16 Nov … 30 Nov


def hourly(i: int, h: int) -> dict[str, float]:
    values = {
        "events.signup.count": 1 + h % 4 + i,
        "events.activation.count": (h + i) % 3,
        "objects.users.count": 1000 + 24 * i + h,
        "app.signups.free": h % 2,
        "app.signups.pro": 1 if h % 8 == 0 else 0,
        "http.latency.p99": 0.25 + i / 100,  # not a KPI: must not show
    }
    if DAYS[i] >= CURRENT:
        values["ga.sessions"] = 10 + h + i
    return values


def daily(i: int) -> dict[str, float]:
    return {"events.activation.users.7d": 40 + i, "events.activation.users.28d": 150 + 3 * i}


def records():
    for i, day in enumerate(DAYS):
        for h in range(24):
            yield {"date": day, "hour": h}, hourly(i, h)
        yield {"date": day}, daily(i)


def config_text(url: str, **report: str) -> str:
    lines = [f'[store]\nurl = "{url}"\n', f'[dictionary]\npath = "{ROOT / "metrics"}"\n', "[report]"]
    lines += [f"{k} = {v}" for k, v in report.items()]
    return "\n".join(lines) + "\n"


# -- the oracle: plain SQL ----------------------------------------------------------------------


def _scalar(engine, sql: str, **params):
    query = text(sql)
    if "names" in params:
        query = query.bindparams(bindparam("names", expanding=True))
    with engine.connect() as connection:
        return connection.execute(query, params).scalar()


def hourly_sum(engine, names: list[str], start: date, end: date) -> float | None:
    return _scalar(
        engine,
        "SELECT sum(v.value) FROM hourly_value v JOIN metric m ON m.id = v.metric_id "
        "WHERE m.name IN :names AND v.date >= :start AND v.date < :end",
        names=list(names),
        start=start,
        end=end,
    )


def last_value(engine, table: str, name: str, start: date, end: date) -> float | None:
    """The newest value of `name` in [start, end) of `hourly_value` or `daily_value`."""
    newest = "v.date DESC, v.hour DESC" if table == "hourly_value" else "v.date DESC"
    return _scalar(
        engine,
        f"SELECT v.value FROM {table} v JOIN metric m ON m.id = v.metric_id "
        f"WHERE m.name = :name AND v.date >= :start AND v.date < :end ORDER BY {newest} LIMIT 1",
        name=name,
        start=start,
        end=end,
    )


def expected(engine, start: date, end: date) -> dict[str, float | None]:
    """Each shown KPI's value over [start, end), by KPI key (metrics/kpis.yaml)."""

    def ratio(a, b):
        return None if a is None or not b else a / b

    signups = hourly_sum(engine, ["events.signup.count"], start, end)
    activations = hourly_sum(engine, ["events.activation.count"], start, end)
    wau = last_value(engine, "daily_value", "events.activation.users.7d", start, end)
    mau = last_value(engine, "daily_value", "events.activation.users.28d", start, end)
    return {
        "signups": signups,
        "new_accounts": hourly_sum(engine, ["app.signups.free", "app.signups.pro"], start, end),
        "sessions": hourly_sum(engine, ["ga.sessions"], start, end),
        "activations": activations,
        "activation_rate": ratio(activations, signups),
        "users": last_value(engine, "hourly_value", "objects.users.count", start, end),
        "wau": wau,
        "mau": mau,
        "stickiness": ratio(wau, mau),
    }


def failed_runs(engine, start: datetime, end: datetime) -> int:
    return _scalar(
        engine,
        "SELECT count(*) FROM run_log WHERE status = 'failed' AND started_at >= :start AND started_at < :end",
        start=start,
        end=end,
    )


def at(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


# -- reading the report back ---------------------------------------------------------------------


def number(text: str) -> float:
    return float(text.replace(",", ""))


def close(shown: str, value: float) -> bool:
    """A shown number equals the value at the precision it is shown with."""
    decimals = len(shown.partition(".")[2])
    return abs(number(shown) - value) <= 0.5 * 10**-decimals + 1e-9


def check_value(kpi: str, shown: str, value: float | None) -> None:
    assert value is not None, f"{kpi}: the store has no value, the report shows {shown!r}"
    if kpi in ("activation_rate", "stickiness"):
        assert shown.endswith("%") and close(shown[:-1], value * 100), (kpi, shown, value)
    else:
        figure = re.match(r"^([\d,.]+)", shown)
        assert figure and close(figure.group(1), value), (kpi, shown, value)


def check_change(kpi: str, shown: str, value: float, previous: float | None) -> None:
    if previous is None:
        assert shown == "previous period: no data", (kpi, shown)
        return
    if kpi in ("activation_rate", "stickiness"):
        found = re.fullmatch(r"([+\-±])([\d.]+) pts", shown)
        assert found and close(found.group(2), abs(value - previous) * 100), (kpi, shown)
        return
    found = re.fullmatch(r"([+\-±])([\d,.]+) \(([+\-±])([\d.]+)%\)", shown)
    assert found, (kpi, shown)
    assert found.group(1) == ("+" if value > previous else "-" if value < previous else "±")
    assert close(found.group(2), abs(value - previous))
    assert close(found.group(4), abs(value - previous) / abs(previous) * 100)


def cards(dom: str) -> dict[str, str]:
    """KPI key → the visible text of its card."""
    found = {}
    for key, body in re.findall(
        r'<div class="kpi" data-kpi="([a-z_]+)"[^>]*>(.*?)</div></div>(?=<div class="kpi"|\r?\n)', dom, re.S
    ):
        found[key] = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)).strip()
    return found


def check_cards(html: str, engine) -> None:
    """Every KPI card of a rendered page shows the store's value and change (plain SQL)."""
    shown = cards(html)
    now = expected(engine, CURRENT, AFTER)
    before = expected(engine, PREVIOUS, CURRENT)
    assert sorted(shown) == sorted(now), shown
    for kpi, card in shown.items():
        figures = re.match(
            r"^(.*?) (\d[\d,.]*%?(?: [a-z/]+)?) (?:▲|▼)? ?(.*?)(?: vs previous)?(?: \d+% of target .*)?$", card
        )
        assert figures, card
        check_value(kpi, figures.group(2), now[kpi])
        check_change(kpi, figures.group(3).strip(), now[kpi], before[kpi])
