"""Which chain gave each (metric, hour) of a run, so that two chains giving one key is an error
naming both, never a silent last-one-wins in the writers' buffer.

The run tags every record with its chain as it leaves the chain (`claim`, in the chain's own
thread) and the writers drop the keys that collided (`collided`). A key flushed before the second
chain gave it is removed from the store after the graph ended (`run/job.py`): a colliding key is
not left written by the run, whatever the order the chains gave it in.

Compact: per metric name, the periods each chain gave are kept as sorted runs of consecutive
periods (a backfill of a year of one metric is one run, not 8,760 keys), and a name given by one
chain only costs one dict look-up and, in time order, one integer increment per value.
"""

from __future__ import annotations

import threading
from bisect import bisect_right
from dataclasses import dataclass, field
from datetime import date

Key = tuple[str, date, int | None]  # (metric, date, hour or None): the writers' key


class Periods:
    """A set of integers (hours or days since year 1) kept as sorted, disjoint runs [start, end)."""

    __slots__ = ("ends", "starts")

    def __init__(self, first: int | None = None) -> None:
        self.starts: list[int] = [] if first is None else [first]
        self.ends: list[int] = [] if first is None else [first + 1]

    def add(self, n: int) -> None:
        starts, ends = self.starts, self.ends
        if ends and ends[-1] == n:  # the next period in time order: the common case
            ends[-1] = n + 1
            return
        i = bisect_right(starts, n)
        if i and ends[i - 1] > n:
            return
        left = i > 0 and ends[i - 1] == n
        right = i < len(starts) and starts[i] == n + 1
        if left and right:
            ends[i - 1] = ends[i]
            del starts[i], ends[i]
        elif left:
            ends[i - 1] = n + 1
        elif right:
            starts[i] = n
        else:
            starts.insert(i, n)
            ends.insert(i, n + 1)

    def __contains__(self, n: int) -> bool:
        i = bisect_right(self.starts, n)
        return i > 0 and self.ends[i - 1] > n

    def __len__(self) -> int:
        return sum(e - s for s, e in zip(self.starts, self.ends, strict=True))


@dataclass
class Collision:
    """One metric given by two chains: the keys they both gave."""

    metric: str
    first: str
    second: str
    keys: list[Key] = field(default_factory=list)

    def line(self) -> str:
        _, day, hour = self.keys[0]
        at = f"{day} {hour:02d}:00 UTC" if hour is not None else f"{day}"
        more = len(self.keys) - 1
        also = f" and {more} more {'hour' if hour is not None else 'day'}{'s' * (more != 1)}" if more else ""
        return (
            f"metric {self.metric!r} at {at}{also}: given by both {self.first} and {self.second}; "
            "not written (two chains may not write the same metric and hour: rename one)"
        )


class Claims:
    """The run-wide map of which chain gave which key (thread-safe: chains claim from their threads)."""

    def __init__(self) -> None:
        # per kind (hourly, daily): metric → {chain: the periods it gave}
        self._owners: dict[bool, dict[str, dict[str, Periods]]] = {True: {}, False: {}}
        self.collided: dict[Key, tuple[str, str]] = {}
        self.collisions: dict[tuple[str, str, str], Collision] = {}
        self._lock = threading.Lock()

    def claim(self, chain: str, dims: dict, metrics: dict) -> dict:
        """`metrics` without the names another chain already gave for this period (each recorded
        as a collision)."""
        hour = dims.get("hour")
        day: date = dims["date"]
        period = day.toordinal() * 24 + hour if hour is not None else day.toordinal()
        owners_of = self._owners[hour is not None]
        dropped: list[str] = []
        with self._lock:
            for name in metrics:
                owners = owners_of.get(name)
                if owners is None:
                    owners_of[name] = {chain: Periods(period)}
                    continue
                mine = owners.get(chain)
                if mine is not None and len(owners) == 1:  # one chain gives this metric: the hot path
                    ends = mine.ends
                    if ends[-1] == period:
                        ends[-1] = period + 1
                    else:
                        mine.add(period)
                    continue
                other = next((c for c, periods in owners.items() if c != chain and period in periods), None)
                if mine is None:
                    owners[chain] = Periods(period)
                else:
                    mine.add(period)
                if other is not None:
                    self._collide(name, (name, day, hour), other, chain)
                    dropped.append(name)
        if not dropped:
            return metrics
        return {n: v for n, v in metrics.items() if n not in dropped}

    def _collide(self, name: str, key: Key, first: str, second: str) -> None:
        if key in self.collided:
            return
        self.collided[key] = (first, second)
        group = self.collisions.setdefault((name, *sorted((first, second))), Collision(name, first, second))
        group.keys.append(key)

    def keys(self, hourly: bool) -> list[Key]:
        """The keys that collided, of one kind."""
        return [key for key in self.collided if (key[2] is not None) == hourly]
