"""Metric names from source-side strings: name parts (table names, label and dimension values),
metric-name templates checked once at config time, and the dims of a period key."""

import re
import string
import unicodedata
from collections.abc import Callable
from functools import lru_cache

from apercite_analytics.errors import ConfigError
from apercite_analytics.record import check_name

_NOT_ALLOWED = re.compile(r"[^a-z0-9_]+")


def name_part(value: object) -> str:
    """A predictable metric-name segment: ASCII-folded, lowercased, every run of other characters
    replaced by `_`, `_` trimmed at both ends; None or nothing left gives `none`.

    `"Paid Plan"` → `paid_plan`, `"Économie"` → `economie`, `"5xx"` → `5xx`, `"a.b"` → `a_b`.
    """
    if value is None:
        return "none"
    return _part(str(value))


@lru_cache(maxsize=65536)  # readers meet the same few label values on every row of a backfill
def _part(value: str) -> str:
    text = unicodedata.normalize("NFKD", value).encode("ascii", "ignore").decode("ascii")
    return _NOT_ALLOWED.sub("_", text.lower()).strip("_") or "none"


def template_fields(template: str, allowed: set[str] | Callable[[str], bool], where: str) -> list[str]:
    """The `{placeholders}` of a metric-name template (in order, once each), all of which must be
    `allowed`, and which must give valid metric names (checked on a sample)."""
    try:
        parsed = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        raise ConfigError(f"{where}: invalid template {template!r}: {exc}") from None
    fields = list(dict.fromkeys(name for name, _, _ in parsed))
    if callable(allowed):
        for name, spec, conv in parsed:
            if not allowed(name) or spec or conv:
                shown = "{" + name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}"
                raise ConfigError(f"{where}: placeholder {shown} is not a label name (like {{status}})")
        unknown: set[str] = set()
    else:
        unknown = set(fields) - allowed
    if unknown or "" in fields:
        raise ConfigError(
            f"{where}: unknown placeholder(s) {', '.join(sorted(f'{{{u}}}' for u in unknown)) or '{}'} "
            f"(allowed: {', '.join(sorted(f'{{{a}}}' for a in allowed))})"
        )
    sample = template.format(**dict.fromkeys(fields, "x"))
    reason = check_name(sample)
    if reason:
        raise ConfigError(f"{where}: template {template!r} gives names like {sample!r}: {reason}")
    return fields


def fill(template: str, **values: str) -> str:
    """`template` with the placeholders named in `values` filled in and every other one kept:
    `fill("{source}.{query}", source="eu")` → `"eu.{query}"` (fixed parts known when the chains are built)."""
    out = []
    for literal, name, spec, conv in string.Formatter().parse(template):
        out.append(literal.replace("{", "{{").replace("}", "}}"))
        if name is None:
            continue
        if name in values:
            out.append(str(values[name]).replace("{", "{{").replace("}", "}}"))
        else:
            out.append("{" + name + (f"!{conv}" if conv else "") + (f":{spec}" if spec else "") + "}")
    return "".join(out)


def period_dims(key: tuple) -> dict:
    """`(date, hour)` → hourly dims, `(date,)` → daily dims: the record contract's two shapes."""
    return {"date": key[0], "hour": key[1]} if len(key) == 2 else {"date": key[0]}
