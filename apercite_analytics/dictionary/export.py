"""`export`: the current values of all active metrics as one nested JSON payload (Service Ping style).

The current value of a metric is its newest daily value, else its newest hourly one. Dotted names
nest (`objects.users.count` → `{"objects": {"users": {"count": 600}}}`), the inverse of the `json`
reader's flattening. When a name is also the prefix of others (`events.x.users` and
`events.x.users.7d`), the longer ones keep their remaining parts as one dotted key beside it
(`{"users": 5, "users.7d": 9}`); the `json` reader splits dotted keys into name parts, so the
payload reads back to the same names. `recorded_at` (UTC, ISO 8601) says when it was exported.

`periods` says what each value covers, as an ISO 8601 interval keyed by the metric's name:
`"2026-11-30T00:00:00+00:00/P1D"` for a daily value, `"2026-12-01T10:00:00+00:00/PT1H"` for an
hourly one; a period that ends after `recorded_at` was still going on (a partial value). The `json`
reader skips these strings (they are not numbers), so the payload still reads back to the values.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from apercite_analytics.errors import ConfigError, StoreError, describe_db_error
from apercite_analytics.files import write_atomic
from apercite_analytics.record import as_exact
from apercite_analytics.store import schema as store
from apercite_analytics.store.models import Metric, MetricDefinition
from apercite_analytics.store.queries import Latest, latest_values

RECORDED_AT = "recorded_at"
PERIODS = "periods"


def current_values(engine: Engine) -> tuple[dict[str, float], list[str]]:
    """Current values of the metrics whose definition is active; and the stored names left out."""
    values, _periods, left_out = current(engine)
    return values, left_out


def current(engine: Engine) -> tuple[dict[str, float], dict[str, str], list[str]]:
    """`current_values`, with the period each value covers (see the module docstring)."""
    m, d = Metric.__table__, MetricDefinition.__table__
    try:
        with engine.connect() as connection:
            active = set(
                connection.execute(
                    select(m.c.name).join(d, d.c.key == m.c.definition_key).where(d.c.status == "active")
                ).scalars()
            )
            latest = latest_values(connection)
    except SQLAlchemyError as exc:
        raise StoreError(f"{store.describe(engine)}: {describe_db_error(exc)}") from None
    values = {name: v.current for name, v in latest.items() if name in active and v.current is not None}
    periods = {name: period_of(latest[name]) for name in values}
    left_out = sorted(set(latest) - set(values))
    return values, periods, left_out


def period_of(latest: Latest) -> str:
    """The ISO 8601 interval the current value covers: its day (`/P1D`) or its hour (`/PT1H`)."""
    if latest.daily is not None:
        return f"{datetime.combine(latest.daily[0], time(), UTC).isoformat()}/P1D"
    day, hour, _ = latest.hourly
    return f"{datetime.combine(day, time(hour), UTC).isoformat()}/PT1H"


def nest(values: dict[str, float]) -> dict[str, Any]:
    """`{"a.b.c": 1}` → `{"a": {"b": {"c": 1}}}` (see the module docstring for names that are prefixes)."""
    tree: dict[str, Any] = {}
    for name in sorted(values):  # a name sorts before the names it is a prefix of
        parts = name.split(".")
        node = tree
        for i, part in enumerate(parts[:-1]):
            child = node.setdefault(part, {})
            if not isinstance(child, dict):  # `part` holds a value: keep the rest as one dotted key
                node[".".join(parts[i:])] = as_exact(values[name])
                break
            node = child
        else:
            node[parts[-1]] = as_exact(values[name])
    return tree


def payload(
    values: dict[str, float], recorded_at: datetime | None = None, periods: dict[str, str] | None = None
) -> dict[str, Any]:
    tree = nest(values)
    for reserved in (RECORDED_AT, PERIODS) if periods is not None else (RECORDED_AT,):
        if reserved in tree:
            raise ConfigError(f"a metric is named {reserved!r}, which the payload uses for its own field")
    moment = (recorded_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    document = {RECORDED_AT: moment.isoformat(), **tree}
    if periods is not None:
        document[PERIODS] = dict(sorted(periods.items()))
    return document


def write(document: dict[str, Any], out: Path | None) -> None:
    """To `out` (atomically: a reader never sees half a file), else to stdout."""
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if out is None:
        import sys

        sys.stdout.write(text)
        return
    try:
        write_atomic(out, text)
    except OSError as exc:
        raise ConfigError(f"--out {out}: cannot write: {exc.strerror or exc}") from None
