"""The hourly and daily writer nodes: thin buffers in front of the store's `MetricStore`.

Each keeps the values of its kind keyed by (metric, date[, hour]) — a later value for the same
key replaces the earlier one: within a run only the chain that gave a key may give it again, since
two chains giving one key is a collision (`claims.py`), whose key the writer drops when it hands a
full batch (and the rest at the end) to the store.
"""

from __future__ import annotations

from apercite_analytics.store.bulk import Kind, Values
from apercite_analytics.store.values import MetricStore
from apercite_analytics.writers.claims import Claims


class UpsertWriter:
    """The hourly or daily writer node: keeps the records of its kind, flushes every `batch_size`
    values and at the end (`close`)."""

    def __init__(self, kind: Kind, batch_size: int = 5000, claims: Claims | None = None):
        self.__name__ = f"{kind} writer"
        self.kind = kind
        self.batch_size = batch_size
        self.claims = claims
        self.buffer: Values = {}

    def __call__(self, dims: dict, metrics: dict, *, store: MetricStore) -> None:
        if ("hour" in dims) != (self.kind == "hourly"):
            return
        day, hour = dims["date"], dims.get("hour")
        for name, value in metrics.items():
            self.buffer[(name, day, hour)] = value
        if len(self.buffer) >= self.batch_size:
            self.flush(store)

    def flush(self, store: MetricStore) -> None:
        values, self.buffer = self.buffer, {}
        if self.claims is not None and self.claims.collided:
            for key in self.claims.keys(self.kind == "hourly"):
                values.pop(key, None)
        store.upsert(self.kind, values)

    close = flush
