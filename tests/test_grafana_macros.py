"""The macro expander against Grafana's own expectations (pkg/tsdb/grafana-postgresql-datasource
macros_test.go, sqleng.Interpolate, the SQL data sources' interpolateVariable and formats)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from support.grafana_macros import (
    MacroError,
    QueryContext,
    Variable,
    expand,
    format_interval,
    go_float,
    interpolate_macros,
    interpolate_variables,
    parse_interval,
    rfc3339nano,
)

FROM = datetime(2018, 4, 12, 18, 0, tzinfo=UTC)
CTX = QueryContext(FROM, FROM + timedelta(minutes=5), interval=timedelta(minutes=10))


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("select $__time(time_column)", 'select time_column AS "time"'),
        ("select min($__time(time_column))", 'select min(time_column AS "time")'),
        ("select $__timeEpoch(t)", 'select extract(epoch from t) as "time"'),
        (
            "WHERE $__timeFilter(time_column)",
            "WHERE time_column BETWEEN '2018-04-12T18:00:00Z' AND '2018-04-12T18:05:00Z'",
        ),
        ("select $__timeFrom()", "select '2018-04-12T18:00:00Z'"),
        ("select $__timeTo()", "select '2018-04-12T18:05:00Z'"),
        # pre-5.3 compatibility: a ',' right after $__timeGroup(...) adds the alias
        (
            "SELECT $__timeGroup(time_column,'5m'), value",
            'SELECT floor(extract(epoch from time_column)/300)*300 AS "time", value',
        ),
        (
            "SELECT $__timeGroup(time_column,'5m') as time, value",
            "SELECT floor(extract(epoch from time_column)/300)*300 as time, value",
        ),
        ("SELECT $__timeGroup(time_column,'5m')", "SELECT floor(extract(epoch from time_column)/300)*300"),
        (
            "SELECT $__timeGroupAlias(time_column,'5m')",
            'SELECT floor(extract(epoch from time_column)/300)*300 AS "time"',
        ),
        ("$__timeGroup(time_column , '5m')", "floor(extract(epoch from time_column)/300)*300"),
        ("$__timeGroupAlias(c, 1d)", 'floor(extract(epoch from c)/86400)*86400 AS "time"'),
        ("$__timeGroup(c, 2w)", "floor(extract(epoch from c)/1.2096e+06)*1.2096e+06"),
        ("$__timeGroup(c, '20ms', NULL)", "floor(extract(epoch from c)/0.02)*0.02"),
        ("select $__unixEpochFilter(time)", "select time >= 1523556000 AND time <= 1523556300"),
        (
            "select $__unixEpochNanoFilter(time)",
            "select time >= 1523556000000000000 AND time <= 1523556300000000000",
        ),
        ("select $__unixEpochNanoFrom()", "select 1523556000000000000"),
        ("select $__unixEpochNanoTo()", "select 1523556300000000000"),
        (
            "SELECT $__unixEpochGroup(time_column+time_adjustment,'5m')",
            "SELECT floor((time_column+time_adjustment)/300)*300",
        ),
        (
            "SELECT $__unixEpochGroupAlias(time_column+time_adjustment,'5m')",
            'SELECT floor((time_column+time_adjustment)/300)*300 AS "time"',
        ),
    ],
)
def test_postgres_macros_as_grafana_expands_them(sql, expected):
    assert interpolate_macros(sql, CTX) == expected


def test_times_before_1970_and_fractions_of_seconds():
    ctx = QueryContext(
        datetime(1960, 2, 1, 7, 0, 0, 500_000, tzinfo=UTC), datetime(1980, 2, 3, 8, 0, 0, 500_000, tzinfo=UTC)
    )
    assert (
        expand("WHERE $__timeFilter(c)", ctx) == "WHERE c BETWEEN '1960-02-01T07:00:00.5Z' AND '1980-02-03T08:00:00.5Z'"
    )
    # Go's Unix() rounds towards minus infinity
    assert expand("$__unixEpochFilter(t)", ctx) == "t >= -312915600 AND t <= 318412800"
    assert rfc3339nano(datetime(2026, 1, 2, 3, 4, 5, 120_000, tzinfo=UTC)) == "2026-01-02T03:04:05.12Z"


def test_global_substitutions_of_the_back_end():
    assert (
        expand("$__interval_ms $__interval $__unixEpochFrom() $__unixEpochTo()", CTX)
        == "600000 10m 1523556000 1523556300"
    )


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (3600, "3600"),
        (86400, "86400"),
        (604800, "604800"),
        (1e6, "1e+06"),
        (0.5, "0.5"),
        (1e-5, "1e-05"),
        (123456.5, "123456.5"),
    ],
)
def test_go_float_formatting(value, text):
    assert go_float(value) == text


def test_intervals():
    assert parse_interval("5m") == timedelta(minutes=5)
    assert parse_interval("1d") == timedelta(days=1)
    assert parse_interval("1h30m") == timedelta(minutes=90)
    assert [format_interval(timedelta(seconds=s)) for s in (3600, 600, 86400, 90, 0.5)] == [
        "1h",
        "10m",
        "1d",
        "90s",
        "500ms",
    ]
    with pytest.raises(MacroError, match="error parsing interval 1M"):
        interpolate_macros("$__timeGroup(c, 1M)", CTX)


def test_unknown_macro_and_missing_arguments_are_errors_like_grafana():
    with pytest.raises(MacroError, match='unknown macro "__nope"'):
        expand("select $__nope(x)", CTX)
    with pytest.raises(MacroError, match="needs time column and interval"):
        expand("select $__timeGroup(x)", CTX)


def test_template_variables_single_multi_and_formats():
    ctx = QueryContext(
        FROM,
        FROM + timedelta(hours=1),
        variables={
            "event": Variable("it's"),
            "metric": Variable(["a.b", "c'd"], multi=True),
            "one": Variable("x", multi=True),
        },
    )
    # single value: quotes doubled, no surrounding quotes (SqlDatasource.interpolateVariable)
    assert interpolate_variables("'events.$event.count' ${event} [[event]]", ctx) == "'events.it''s.count' it''s it''s"
    # multi-value: quoted literals joined by commas, even with one value selected
    assert interpolate_variables("IN ($metric) IN (${one})", ctx) == "IN ('a.b','c''d') IN ('x')"
    assert interpolate_variables("${metric:csv}|${metric:sqlstring}|${event:sqlstring}|[[metric:pipe]]", ctx) == (
        "a.b,c'd|'a.b','c''d'|'it''s'|a.b|c'd"
    )
    assert interpolate_variables("${metric:raw} ${metric:doublequote} ${metric:json}", ctx) == (
        'a.b,c\'d "a.b","c\'d" ["a.b","c\'d"]'
    )
    # unknown names (and Grafana's macros) are left for the back end
    assert interpolate_variables("$unknown $__timeFilter(t) ${__interval} $__from", ctx) == (
        "$unknown $__timeFilter(t) 1h 1523556000000"
    )
