"""The record contract and its validation: what every reader yields and the writers may trust.

A record is `(dims, metrics)`: dims `{'date': date, 'hour': int}` (hourly) or `{'date': date}`
(daily), always UTC; metrics `{name: number}` with dotted lowercase names. A record whose dims are
wrong is rejected whole; a bad metric inside a good record is rejected alone. Every rejection is
counted with a reason naming the metric, and never stops the other records.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from numbers import Integral, Real
from typing import Any

MAX_NAME_LENGTH = 200
METRIC_NAME = re.compile(r"^[a-z0-9_]+(?:\.[a-z0-9_]+)*$")
RESERVED = "etl"  # the job's own metrics (run/selfmetrics.py) are etl.*: no reader may write there
EXACT_INT = 2**53  # ints beyond it lose digits as the store's double precision
MAX_KNOWN_NAMES = 100_000

Dims = dict[str, Any]
Metrics = dict[str, float | int]


class Rejected(ValueError):
    """Why a record or a value was not accepted."""


def check_name(name: Any) -> str | None:
    """The reason `name` is not a valid metric name, or None."""
    if not isinstance(name, str):
        return f"metric name {name!r} is not a string"
    if len(name) > MAX_NAME_LENGTH:
        return f"metric name {name[:40]!r}… is longer than {MAX_NAME_LENGTH} characters"
    if not METRIC_NAME.match(name):
        return f"metric name {name!r} is not dotted lowercase (a-z, 0-9, _ separated by dots)"
    if name == RESERVED or name.startswith(RESERVED + "."):
        return f"metric name {name!r} is in the {RESERVED}. namespace, the job's own metrics (etl.run.*, etl.reader.*)"
    return None


def check_value(value: Any) -> int | float:
    """The value as an int or float, or `Rejected` saying why not."""
    if value is None:
        raise Rejected("value is NULL")
    if isinstance(value, bool):
        raise Rejected(f"value {value!r} is a boolean, not a number")
    if isinstance(value, Decimal):  # what SQL sums and numeric columns give: one fast path
        if not value.is_finite():
            raise Rejected(f"value {value} is not finite")
        whole = int(value)
        if whole == value and -EXACT_INT < whole < EXACT_INT:
            return whole
        number = float(value)
        if not math.isfinite(number):
            raise Rejected(f"value {number} is not finite")
        return number
    if not isinstance(value, Real):
        raise Rejected(f"value {value!r} is not a number ({type(value).__name__})")
    if isinstance(value, Integral):
        value = int(value)
        if abs(value) < EXACT_INT:
            return value
    try:
        value = float(value)
    except OverflowError:
        raise Rejected("value is too large for the store") from None
    if not math.isfinite(value):
        raise Rejected(f"value {value} is not finite")
    return value


def is_storable(value: Any) -> bool:
    """Whether `value` is what `check_value` returns and the store keeps exactly: an int within
    ±2**53 or a finite float (the writers' last line of defence asks the same question)."""
    kind = type(value)
    return (kind is float and math.isfinite(value)) or (kind is int and -EXACT_INT < value < EXACT_INT)


def as_exact(value: float) -> int | float:
    """A stored value as a person or a JSON reader expects it: `3`, not `3.0`, when it is whole."""
    return int(value) if float(value).is_integer() and abs(value) < EXACT_INT else value


def check_dims(dims: Any, now: datetime) -> Dims:
    """Clean dims, or `Rejected`. `now` bounds the future: no value for an hour not yet begun."""
    if not isinstance(dims, Mapping):
        raise Rejected(f"dims {dims!r} is not a mapping")
    extra = set(dims) - {"date", "hour"}
    if extra:
        raise Rejected(f"dims have unknown keys {sorted(map(str, extra))} (only 'date' and 'hour')")
    day = dims.get("date")
    if isinstance(day, datetime) or not isinstance(day, date):
        raise Rejected(f"dims date {day!r} is not a datetime.date")
    today = now.astimezone(UTC).date()
    if "hour" not in dims:
        if day > today:
            raise Rejected(f"date {day} is in the future (today is {today} UTC)")
        return {"date": day}
    hour = dims["hour"]
    if isinstance(hour, bool) or not isinstance(hour, int) or not 0 <= hour <= 23:
        raise Rejected(f"dims hour {hour!r} is not an integer from 0 to 23")
    if (day, hour) > (today, now.astimezone(UTC).hour):
        raise Rejected(f"hour {day} {hour:02d}:00 is in the future (now is {now:%Y-%m-%d %H:%M} UTC)")
    return {"date": day, "hour": hour}


def describe(dims: Any) -> str:
    """`2026-11-20 05:00` (hourly), `2026-11-20` (daily), for messages about a record."""
    if not isinstance(dims, Mapping):
        return repr(dims)
    hour = dims.get("hour")
    if "hour" not in dims:
        return f"{dims.get('date')}"
    if isinstance(hour, int) and not isinstance(hour, bool) and 0 <= hour <= 23:
        return f"{dims.get('date')} {hour:02d}:00"
    return f"{dims.get('date')} hour {hour!r}"


class Normalizer:
    """The normalize node: validates every record, passes on the good part, counts the rest.

    `on_reject(reason)` is told each rejection (the graph logs the first ones); `clock()` gives
    the current time, read again only when a record claims an hour beyond the last reading.
    """

    __name__ = "normalize"

    def __init__(
        self,
        on_reject: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.on_reject = on_reject or (lambda reason: None)
        self.clock = clock
        self.rejected = 0
        self._now = clock()
        self._lock = threading.Lock()
        self._names: set[str] = set()  # names that passed check_name (bounded: MAX_KNOWN_NAMES)

    def __call__(self, dims: Any, metrics: Any) -> Iterator[tuple[Dims, Metrics]]:
        try:
            clean_dims = self._check_dims(dims)
        except Rejected as exc:
            count = len(metrics) if isinstance(metrics, Mapping) and metrics else 1
            self._reject(f"record at {describe(dims)} rejected ({count} value{'s' * (count != 1)}): {exc}", count)
            return
        if not isinstance(metrics, Mapping):
            self._reject(f"record at {describe(dims)} rejected: metrics {metrics!r} is not a mapping")
            return
        clean: Metrics = {}
        known = self._names  # names that passed check_name before: not checked again
        for name, value in metrics.items():
            if name in known:
                reason = None
            else:
                reason = check_name(name)
                if reason is None and len(known) < MAX_KNOWN_NAMES:
                    known.add(name)
            if reason is None:
                if is_storable(value):
                    clean[name] = value  # what check_value returns for these, without its generic checks
                    continue
                try:
                    clean[name] = check_value(value)
                    continue
                except Rejected as exc:
                    reason = str(exc)
            self._reject(f"{name if isinstance(name, str) else '?'} at {describe(dims)} rejected: {reason}")
        if clean:
            yield clean_dims, clean

    def _check_dims(self, dims: Any) -> Dims:
        try:
            return check_dims(dims, self._now)
        except Rejected:
            self._now = self.clock()  # the run may have crossed into a new hour
            return check_dims(dims, self._now)

    def _reject(self, reason: str, count: int = 1) -> None:
        with self._lock:
            self.rejected += count
        self.on_reject(reason)
