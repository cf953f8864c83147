"""Grafana's query interpolation for the PostgreSQL data source, reproduced to test panel SQL.

Grafana turns a panel's `rawSql` into the SQL it sends to PostgreSQL in three steps, in this order:

1. the front end replaces template variables (`$var`, `${var}`, `${var:format}`, `[[var]]`,
   `[[var:format]]`, and built-ins such as `$__interval`) — `templateSrv.replace` with the SQL data
   sources' `interpolateVariable`: a single-valued variable is inserted with `'` doubled and no
   quotes, a multi-valued or include-all one as a comma-separated list of quoted literals; an unknown
   name is left as written;
2. the back end's global substitutions (`sqleng.Interpolate`): `$__interval_ms`, `$__interval`,
   `$__unixEpochFrom()`, `$__unixEpochTo()`;
3. the PostgreSQL macro engine (`pkg/tsdb/grafana-postgresql-datasource/macros.go`): every
   `$__name(args)`; an unknown macro is an error.

Times are formatted as Go formats them (RFC 3339 with trailing fractional zeros dropped, `Z`), and
interval seconds as Go's `%v` prints a float64 (`3600`, `0.02`, `1.2096e+06`): the text must be what
Grafana would send, not merely equivalent. This module is what the tests and the benchmark use to
run the dashboards' SQL exactly as Grafana would.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal


class MacroError(ValueError):
    """A macro Grafana would refuse (unknown name, missing argument, bad interval)."""


@dataclass(frozen=True)
class Variable:
    """A dashboard template variable's current value, as the front end holds it."""

    value: str | list[str]
    multi: bool = False
    include_all: bool = False


@dataclass(frozen=True)
class QueryContext:
    """What Grafana knows when it runs a panel query: the time range, `$__interval`, the variables."""

    time_from: datetime
    time_to: datetime
    interval: timedelta = timedelta(hours=1)
    variables: Mapping[str, Variable] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for moment in (self.time_from, self.time_to):
            if moment.tzinfo is None:
                raise ValueError(f"{moment!r}: Grafana's time range is absolute; give an aware datetime")


# -- Go formatting ---------------------------------------------------------------------------------


def go_float(value: float) -> str:
    """A float64 as Go's `fmt.Sprintf("%v", value)` prints it: the shortest digits that round-trip,
    in exponent form (`1.2096e+06`) when the decimal exponent is below -4 or at least 6."""
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    _, digit_tuple, exponent = Decimal(repr(abs(float(value)))).normalize().as_tuple()
    digits = "".join(map(str, digit_tuple))
    exp10 = len(digits) - 1 + exponent  # decimal exponent of the first significant digit
    if exp10 < -4 or exp10 >= 6:
        tail = digits[1:]
        return f"{sign}{digits[0]}{'.' + tail if tail else ''}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if exp10 < 0:
        return f"{sign}0.{'0' * (-exp10 - 1)}{digits}"
    if len(digits) <= exp10 + 1:
        return f"{sign}{digits}{'0' * (exp10 + 1 - len(digits))}"
    return f"{sign}{digits[: exp10 + 1]}.{digits[exp10 + 1 :]}"


def rfc3339nano(moment: datetime) -> str:
    """Go's `t.UTC().Format(time.RFC3339Nano)`: fractional seconds without trailing zeros, `Z`."""
    moment = moment.astimezone(UTC)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if moment.microsecond:
        text += "." + f"{moment.microsecond:06d}".rstrip("0")
    return text + "Z"


def unix_seconds(moment: datetime) -> int:
    """Go's `t.Unix()`: whole seconds, rounded towards minus infinity."""
    return math.floor(moment.timestamp())


def unix_nanos(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1_000


_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800}
_INTERVAL = re.compile(r"^(\d+)(ms|s|m|h|d|w)$")
_GO_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h))+$")


def parse_interval(text: str) -> timedelta:
    """gtime.ParseInterval for the units panels use: `30s`, `5m`, `1h`, `1d`, `1w`, `20ms`, and Go
    durations such as `1h30m`. Months and years (calendar-dependent in Grafana) are refused."""
    match = _INTERVAL.match(text)
    if match:
        return timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])
    if _GO_DURATION.match(text):
        seconds = 0.0
        scale = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600}
        for number, unit in re.findall(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)", text):
            seconds += float(number) * scale[unit]
        return timedelta(seconds=seconds)
    raise MacroError(f"error parsing interval {text}")


def format_interval(interval: timedelta) -> str:
    """gtime.FormatInterval: the largest unit that divides nothing away (`1h`, `5m`, `1d`, `500ms`)."""
    ms = round(interval.total_seconds() * 1000)
    for unit, size in (("y", 31_536_000_000), ("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000)):
        if ms >= size and ms % size == 0:
            return f"{ms // size}{unit}"
    if ms >= 60_000 and ms % 60_000 == 0:
        return f"{ms // 60_000}m"
    if ms >= 1_000 and ms % 1_000 == 0:
        return f"{ms // 1_000}s"
    return f"{ms}ms"


# -- step 1: template variables (front end) -------------------------------------------------------

# templateSrv's variableRegex, with JavaScript's ASCII-only \w
_VARIABLE = re.compile(
    r"\$(\w+)|\[\[(\w+?)(?::(\w+))?\]\]|\$\{(\w+)(?:\.([^:^\}]+))?(?::([^\}]+))?\}",
    re.ASCII,
)


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _format(value: str | list[str], fmt: str) -> str:
    values = value if isinstance(value, list) else None
    if fmt == "raw":
        return ",".join(values) if values is not None else value
    if fmt == "csv":
        return ",".join(values) if values is not None else value
    if fmt == "pipe":
        return "|".join(values) if values is not None else value
    if fmt == "sqlstring":
        return ",".join(_quote_literal(v) for v in (values if values is not None else [value]))
    if fmt == "singlequote":
        return ",".join("'" + v.replace("'", "\\'") + "'" for v in (values if values is not None else [value]))
    if fmt == "doublequote":
        return ",".join('"' + v.replace('"', '\\"') + '"' for v in (values if values is not None else [value]))
    if fmt == "json":
        return json.dumps(value, separators=(",", ":"))
    raise MacroError(f"unsupported variable format {fmt!r} (raw, csv, pipe, sqlstring, singlequote, doublequote, json)")


def _sql_default(value: str | list[str] | int, variable: Variable | None) -> str:
    """SqlDatasource.interpolateVariable: how a variable without an explicit format is inserted."""
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return ",".join(_quote_literal(v) for v in value)
    if variable is not None and (variable.multi or variable.include_all):
        return _quote_literal(value)
    return value.replace("'", "''")


def _builtins(ctx: QueryContext) -> dict[str, str | int]:
    span = ctx.time_to - ctx.time_from
    return {
        "__interval": format_interval(ctx.interval),
        "__interval_ms": round(ctx.interval.total_seconds() * 1000),
        "__from": math.floor(ctx.time_from.timestamp() * 1000),
        "__to": math.floor(ctx.time_to.timestamp() * 1000),
        "__range_s": round(span.total_seconds()),
        "__range_ms": round(span.total_seconds() * 1000),
        "__range": format_interval(span),
    }


def interpolate_variables(sql: str, ctx: QueryContext) -> str:
    """Step 1, the front end's `templateSrv.replace(rawSql, scopedVars, interpolateVariable)`."""
    builtins = _builtins(ctx)

    def replace(match: re.Match) -> str:
        name = match.group(1) or match.group(2) or match.group(4)
        fmt = match.group(3) or match.group(6)
        if name in ctx.variables:
            variable: Variable | None = ctx.variables[name]
            value: str | list[str] | int = variable.value
        elif name in builtins:
            variable, value = None, builtins[name]
        else:
            return match.group(0)  # not a variable: left for the back end's macros
        if fmt:
            return _format(value if not isinstance(value, int) else str(value), fmt)
        return _sql_default(value, variable)

    return _VARIABLE.sub(replace, sql)


# -- step 2: global substitutions (back end, sqleng.Interpolate) ----------------------------------


def interpolate_globals(sql: str, ctx: QueryContext) -> str:
    sql = sql.replace("$__interval_ms", str(round(ctx.interval.total_seconds() * 1000)))
    sql = sql.replace("$__interval", format_interval(ctx.interval))
    sql = sql.replace("$__unixEpochFrom()", str(unix_seconds(ctx.time_from)))
    return sql.replace("$__unixEpochTo()", str(unix_seconds(ctx.time_to)))


# -- step 3: the PostgreSQL macro engine ----------------------------------------------------------

_MACRO = re.compile(r"\$([_a-zA-Z0-9]+)\(([^\)]*)\)")
_FILL = re.compile(r"^(NULL|previous|-?\d+(\.\d+)?)$", re.IGNORECASE)


def _group(name: str, args: list[str], epoch: bool) -> str:
    if len(args) < 2:
        raise MacroError(f"macro {name} needs time column and interval and optional fill value")
    interval = parse_interval(args[1].strip("'"))
    if len(args) == 3 and not _FILL.match(args[2]):
        raise MacroError(f"error parsing fill value {args[2]}")
    seconds = go_float(interval.total_seconds())
    if epoch:
        return f"floor(({args[0]})/{seconds})*{seconds}"
    return f"floor(extract(epoch from {args[0]})/{seconds})*{seconds}"


def _evaluate(name: str, args: list[str], ctx: QueryContext) -> str:
    time_from, time_to = ctx.time_from, ctx.time_to
    if name == "__time":
        return f'{args[0]} AS "time"'
    if name == "__timeEpoch":
        return f'extract(epoch from {args[0]}) as "time"'
    if name == "__timeFilter":
        return f"{args[0]} BETWEEN '{rfc3339nano(time_from)}' AND '{rfc3339nano(time_to)}'"
    if name == "__timeFrom":
        return f"'{rfc3339nano(time_from)}'"
    if name == "__timeTo":
        return f"'{rfc3339nano(time_to)}'"
    if name == "__timeGroup":
        return _group(name, args, epoch=False)
    if name == "__timeGroupAlias":
        return _group("__timeGroup", args, epoch=False) + ' AS "time"'
    if name == "__unixEpochFilter":
        return f"{args[0]} >= {unix_seconds(time_from)} AND {args[0]} <= {unix_seconds(time_to)}"
    if name == "__unixEpochNanoFilter":
        return f"{args[0]} >= {unix_nanos(time_from)} AND {args[0]} <= {unix_nanos(time_to)}"
    if name == "__unixEpochNanoFrom":
        return str(unix_nanos(time_from))
    if name == "__unixEpochNanoTo":
        return str(unix_nanos(time_to))
    if name == "__unixEpochGroup":
        return _group(name, args, epoch=True)
    if name == "__unixEpochGroupAlias":
        return _group("__unixEpochGroup", args, epoch=True) + ' AS "time"'
    raise MacroError(f'unknown macro "{name}"')


def interpolate_macros(sql: str, ctx: QueryContext) -> str:
    """Step 3. Like Grafana, `$__timeGroup(…)` directly followed by `,` (looked up at the macro
    text's first occurrence in the query) gets `AS "time"`, for pre-5.3 dashboards."""
    original = sql

    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name == "__timeGroup":
            index = original.find(match.group(0))
            end = index + len(match.group(0))
            if index >= 0 and end < len(original) and original[end] == ",":
                name = "__timeGroupAlias"
        args = [arg.strip(" ") for arg in match.group(2).split(",")]
        return _evaluate(name, args, ctx)

    return _MACRO.sub(replace, sql)


def expand(sql: str, ctx: QueryContext) -> str:
    """The SQL Grafana sends to PostgreSQL for a panel's `rawSql`."""
    return interpolate_macros(interpolate_globals(interpolate_variables(sql, ctx), ctx), ctx)


# -- a dashboard's own defaults -------------------------------------------------------------------

_RELATIVE = re.compile(r"^now(?:-(\d+)([smhdw]))?$")


def relative_time(text: str, now: datetime) -> datetime:
    """`now` or `now-7d` (the forms the dashboards use) at `now`."""
    match = _RELATIVE.match(text)
    if not match:
        raise MacroError(f"time {text!r}: only now and now-<n><s|m|h|d|w> are understood here")
    if not match.group(1):
        return now
    return now - timedelta(seconds=int(match.group(1)) * _UNITS[match.group(2)])


def dashboard_context(
    dashboard: Mapping, now: datetime, *, interval: timedelta = timedelta(hours=1), **values: str | list[str]
) -> QueryContext:
    """The context Grafana would use when the dashboard opens at `now`: its default time range and
    its variables' default selections, `values` filling in or replacing them."""
    variables = {}
    for variable in dashboard.get("templating", {}).get("list", []):
        value = values.get(variable["name"], variable.get("current", {}).get("value"))
        if value is None:
            raise MacroError(f"variable {variable['name']!r} has no default: give its value")
        multi = bool(variable.get("multi"))
        if multi and isinstance(value, str):
            value = [value]
        variables[variable["name"]] = Variable(value, multi, bool(variable.get("includeAll")))
    span = dashboard["time"]
    return QueryContext(relative_time(span["from"], now), relative_time(span["to"], now), interval, variables)
