"""Turning source-side strings (table names, label and dimension values) into metric-name parts."""

import re
import string
import unicodedata
from functools import lru_cache

from apercite_analytics.errors import ConfigError

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


def template_fields(template: str, allowed: set[str], where: str) -> set[str]:
    """The `{placeholders}` of a metric-name template, all of which must be in `allowed`."""
    try:
        fields = {name for _, name, spec, conv in string.Formatter().parse(template) if name is not None}
    except ValueError as exc:
        raise ConfigError(f"{where}: invalid template {template!r}: {exc}") from None
    unknown = fields - allowed
    if unknown or "" in fields:
        raise ConfigError(
            f"{where}: unknown placeholder(s) {', '.join(sorted(f'{{{u}}}' for u in unknown)) or '{}'} "
            f"(allowed: {', '.join(sorted(f'{{{a}}}' for a in allowed))})"
        )
    return fields
