"""The record contract: what normalize lets through, what it rejects and how it says so."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from apercite_analytics.record import Normalizer

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
HOUR = {"date": date(2026, 11, 20), "hour": 10}


def run(records, now=NOW):
    reasons: list[str] = []
    node = Normalizer(on_reject=reasons.append, clock=lambda: now)
    out = [r for dims, metrics in records for r in node(dims, metrics)]
    return out, reasons, node.rejected


def test_good_records_pass_unchanged():
    records = [
        (HOUR, {"objects.users.count": 3, "http.requests.5xx": 0.5}),
        ({"date": date(2026, 11, 19)}, {"ga.sessions": 7}),
    ]
    out, reasons, rejected = run(records)
    assert out == records
    assert (reasons, rejected) == ([], 0)


def test_value_types_are_normalized():
    out, reasons, _ = run([(HOUR, {"a": Decimal("3"), "b": Decimal("2.5"), "c": 2**60, "d": 1.0})])
    assert out == [(HOUR, {"a": 3, "b": 2.5, "c": float(2**60), "d": 1.0})]
    assert isinstance(out[0][1]["a"], int)
    assert reasons == []


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (math.nan, "value nan is not finite"),
        (math.inf, "value inf is not finite"),
        (Decimal("NaN"), "value NaN is not finite"),
        ("12", "value '12' is not a number (str)"),
        (None, "value is NULL"),
        (True, "value True is a boolean, not a number"),
        (10**400, "value is too large for the store"),
    ],
)
def test_bad_values_are_rejected_alone(value, reason):
    out, reasons, rejected = run([(HOUR, {"good.metric": 1, "bad.metric": value})])
    assert out == [(HOUR, {"good.metric": 1})]
    assert reasons == [f"bad.metric at 2026-11-20 10:00 rejected: {reason}"]
    assert rejected == 1


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("Users.Count", "metric name 'Users.Count' is not dotted lowercase"),
        ("users..count", "is not dotted lowercase"),
        ("users count", "is not dotted lowercase"),
        (".users", "is not dotted lowercase"),
        ("a" * 201, "is longer than 200 characters"),
        (42, "metric name 42 is not a string"),
    ],
)
def test_bad_names_are_rejected(name, reason):
    out, reasons, rejected = run([(HOUR, {name: 1, "ok": 2})])
    assert out == [(HOUR, {"ok": 2})]
    assert len(reasons) == 1 and reason in reasons[0]
    assert rejected == 1


def test_name_of_200_characters_is_fine():
    name = "a" * 200
    assert run([(HOUR, {name: 1})])[0] == [(HOUR, {name: 1})]


@pytest.mark.parametrize(
    ("dims", "reason"),
    [
        ({"date": date(2026, 11, 20), "hour": 24}, "dims hour 24 is not an integer from 0 to 23"),
        ({"date": date(2026, 11, 20), "hour": -1}, "dims hour -1 is not an integer from 0 to 23"),
        ({"date": date(2026, 11, 20), "hour": "10"}, "dims hour '10' is not an integer"),
        ({"date": date(2026, 11, 20), "hour": True}, "dims hour True is not an integer"),
        ({"date": "2026-11-20", "hour": 1}, "dims date '2026-11-20' is not a datetime.date"),
        ({"date": datetime(2026, 11, 20, 1), "hour": 1}, "is not a datetime.date"),
        ({"date": date(2026, 11, 20), "hour": 1, "plan": "x"}, "dims have unknown keys ['plan']"),
        ({"hour": 1}, "dims date None is not a datetime.date"),
        ({"date": date(2026, 11, 20), "hour": 16}, "hour 2026-11-20 16:00 is in the future"),
        ({"date": date(2026, 11, 21)}, "date 2026-11-21 is in the future"),
        ("2026-11-20", "dims '2026-11-20' is not a mapping"),
    ],
)
def test_bad_dims_reject_the_whole_record(dims, reason):
    out, reasons, rejected = run([(dims, {"a": 1, "b": 2}), (HOUR, {"c": 3})])
    assert out == [(HOUR, {"c": 3})]
    assert len(reasons) == 1 and reason in reasons[0], reasons
    assert rejected == 2


def test_current_hour_is_accepted_and_the_clock_is_read_again():
    times = iter([NOW, datetime(2026, 11, 20, 16, 0, 1, tzinfo=UTC)])
    node = Normalizer(clock=lambda: next(times))
    assert list(node({"date": date(2026, 11, 20), "hour": 15}, {"a": 1}))
    # the run crossed into 16:00: the new current hour is not "in the future"
    assert list(node({"date": date(2026, 11, 20), "hour": 16}, {"a": 1}))
    assert node.rejected == 0


def test_metrics_not_a_mapping():
    out, reasons, rejected = run([(HOUR, [("a", 1)])])
    assert out == [] and rejected == 1
    assert "metrics [('a', 1)] is not a mapping" in reasons[0]


def test_record_with_only_bad_values_yields_nothing():
    out, _, rejected = run([(HOUR, {"a": "x", "b": math.nan})])
    assert out == [] and rejected == 2


def test_a_name_seen_before_still_gets_every_value_checked():
    """The fast path for known names must not let through what the full check rejects."""
    good = [(HOUR, {"a.b": 1, "c": 2.5})]
    later = [
        (HOUR, {"a.b": math.nan, "c": None}),
        (HOUR, {"a.b": True, "c": 2**60}),
        (HOUR, {"a.b": Decimal("4"), "c": math.inf}),
        (HOUR, {"a.b": -(2**53), "c": -0.0}),
        (HOUR, {"Bad.Name": 1}),
        (HOUR, {"Bad.Name": 1}),
    ]
    out, reasons, rejected = run(good + later)
    assert out == [
        (HOUR, {"a.b": 1, "c": 2.5}),
        (HOUR, {"c": float(2**60)}),
        (HOUR, {"a.b": 4}),
        (HOUR, {"a.b": float(-(2**53)), "c": -0.0}),
    ]
    assert isinstance(out[1][1]["c"], float) and isinstance(out[2][1]["a.b"], int)
    assert rejected == 6 and len(reasons) == 6
    assert sum("Bad.Name" in r and "not dotted lowercase" in r for r in reasons) == 2
