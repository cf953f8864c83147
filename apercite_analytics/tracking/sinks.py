"""The stored-event contract: what a collector hands to a sink, and what a sink must guarantee.

Every sink (SQL table, day-partitioned Parquet, ClickHouse) stores the same columns, so that the
`events` reader reads any of them with the same column names:

    name         text      the event name (validated against its definition)
    created_at   UTC time  when the event happened (timestamptz / TIMESTAMP WITH TIME ZONE / UTC)
    user_id      text      the pseudonym (HMAC-SHA256 hex of the user id), NULL for anonymous
    duration_ms  double    NULL when the event has no duration
    properties   text      JSON object of the kept (allow-listed, possibly pseudonymized) properties
    key_id       text      which pseudonymization key made `user_id` (keys rotate)
    received_at  UTC time  when the collector accepted it

A sink writes one batch atomically (all of it or none of it, never a half batch visible to a
reader) and raises `SinkError` (one line naming the sink) when it cannot.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from apercite_analytics.errors import AnalyticsError

COLUMNS = ("name", "created_at", "user_id", "duration_ms", "properties", "key_id", "received_at")


class SinkError(AnalyticsError):
    """A sink could not store a batch (nothing of it was stored)."""


@dataclass(slots=True)
class StoredEvent:
    """One validated, pseudonymized event, as every sink stores it (times are aware UTC).

    Read-only by convention, not `frozen`: a frozen dataclass costs 0.9 µs to make against 0.4, and
    the collector makes one per event.
    """

    name: str
    created_at: datetime
    user_id: str | None
    duration_ms: float | None
    key_id: str
    received_at: datetime
    properties: dict[str, Any] = field(default_factory=dict)


_json = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode  # ASCII only: no tab or newline inside


def properties_json(properties: Mapping[str, Any]) -> str:
    """The stored `properties` text, the same in every sink: compact JSON, sorted keys, ASCII only."""
    return _json(properties) if properties else "{}"


class EventSink(Protocol):
    """Where the collector puts accepted events."""

    def write(self, events: Sequence[StoredEvent]) -> None:
        """Store one batch atomically, or raise `SinkError` having stored none of it."""

    def close(self) -> None:
        """Release connections and files (pending batches were written or refused already)."""
