"""The ClickHouse sink: stored events inserted in batches into a MergeTree table, read by the
`events` reader on a `clickhouse://` source.

One `write()` is one INSERT (clickhouse-connect's native format over HTTP). ClickHouse makes an
INSERT atomic when its rows fit one block (`max_insert_block_size`, 1,048,576 rows by default) and
one partition: the table is partitioned by month, so a batch is all or nothing unless it crosses a
month boundary (then each month's part lands on its own). Insert batches of thousands of rows, not
single events: every INSERT makes a part that ClickHouse merges later.

The table the sink creates when missing (the reader only needs the first four columns):

    name LowCardinality(String), created_at DateTime64(3, 'UTC'), user_id Nullable(String),
    duration_ms Nullable(Float64), properties String, key_id LowCardinality(String),
    received_at DateTime64(3, 'UTC')
    ENGINE = MergeTree PARTITION BY toYYYYMM(created_at) ORDER BY (toStartOfHour(created_at), name)

The sort key starts with the hour, so the reader's time range reads only the granules it needs.
clickhouse-connect is the `clickhouse` extra; ClickHouse 25.3 LTS or later (docs/scaling.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import make_url

from apercite_analytics.config.secrets import mask_url, scrub
from apercite_analytics.tracking.parquet_sink import columns
from apercite_analytics.tracking.sinks import COLUMNS, SinkError, StoredEvent

DDL = """CREATE TABLE IF NOT EXISTS {table} (
    name LowCardinality(String),
    created_at DateTime64(3, 'UTC'),
    user_id Nullable(String),
    duration_ms Nullable(Float64),
    properties String,
    key_id LowCardinality(String),
    received_at DateTime64(3, 'UTC')
) ENGINE = MergeTree PARTITION BY toYYYYMM(created_at) ORDER BY (toStartOfHour(created_at), name)"""


def client_for(url: str, connect_timeout: float = 10.0) -> Any:
    """A clickhouse-connect client for `clickhouse://user:password@host:8123/database` (add
    `?interface=https` for TLS; `?interface=chdb&path=<folder>` for an in-process chdb)."""
    import clickhouse_connect

    parsed = make_url(url)
    options = dict(parsed.query)
    if options.get("interface") == "chdb":
        return clickhouse_connect.get_client(interface="chdb", path=options.get("path"), database=parsed.database)
    return clickhouse_connect.get_client(
        host=parsed.host or "localhost",
        port=parsed.port,
        username=parsed.username or "default",
        password=parsed.password or "",
        database=parsed.database or "default",
        interface=options.get("interface", "http"),
        connect_timeout=int(connect_timeout),
    )


class ClickHouseSink:
    """Batches of stored events into one ClickHouse table (created if missing)."""

    def __init__(self, url: str, table: str = "events", *, create: bool = True):
        self.where = f"clickhouse sink {mask_url(url)} table {table!r}"
        try:
            self.client = client_for(url)
            self.table = ".".join(f"`{part}`" for part in table.split("."))
            if create:
                self.client.command(DDL.format(table=self.table))
        except Exception as exc:  # clickhouse-connect raises its own and the HTTP stack's errors
            raise SinkError(scrub(f"{self.where}: {_first_line(exc)}")) from None

    def write(self, events: Sequence[StoredEvent]) -> None:
        """One INSERT of the whole batch."""
        if not events:
            return
        data = columns(events)
        try:
            self.client.insert(self.table, list(data.values()), column_names=list(COLUMNS), column_oriented=True)
        except Exception as exc:
            message = f"{self.where}: batch of {len(events)} events not stored: {_first_line(exc)}"
            raise SinkError(scrub(message)) from None

    def close(self) -> None:
        self.client.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
