"""Panel units from the metrics dictionary: one source of truth, so a panel never says `s` for `ms`.

The dictionary's units are words people write (`ms`, `seconds`, `users`); Grafana wants its own
unit ids. Time and size units map to Grafana's (which then scale: 90 000 ms shows as 1.5 min);
counts of things (`users`, `requests`, `rows`) are Grafana's plain `short` numbers; a ratio of two
metrics of one unit is `percentunit` (0.25 shows as 25%).
"""

from __future__ import annotations

from apercite_analytics.dictionary.definitions import Dictionary

GRAFANA = {
    "ms": "ms",
    "milliseconds": "ms",
    "s": "s",
    "seconds": "s",
    "minutes": "m",
    "hours": "h",
    "days": "d",
    "bytes": "bytes",
    "percent": "percent",
    "ratio": "percentunit",
    "1/0": "bool",
}
COUNT = "short"


def grafana_unit(unit: str) -> str:
    """Grafana's unit id for a dictionary unit (a count of things: `short`)."""
    return GRAFANA.get(unit, COUNT)


class Units:
    """Grafana units of metric names and ratios, looked up in the dictionary (None: not defined)."""

    def __init__(self, dictionary: Dictionary | None) -> None:
        self.dictionary = dictionary

    def unit(self, name: str) -> str | None:
        """The dictionary unit of `name` (a metric name or a pattern), or None."""
        definition = self.dictionary.match(name) if self.dictionary is not None else None
        return definition.unit if definition is not None else None

    def of(self, *names: str) -> str | None:
        """The Grafana unit of a panel showing `names`: None if they disagree or one is not defined."""
        found = {self.unit(n) for n in names}
        if None in found:
            return None
        grafana = {grafana_unit(u) for u in found}
        return grafana.pop() if len(grafana) == 1 else None

    def ratio(self, numerator: str, denominator: str) -> str | None:
        """A ratio of two metrics of one unit is a fraction (`percentunit`)."""
        a, b = self.unit(numerator), self.unit(denominator)
        return grafana_unit("ratio") if a is not None and a == b else None
