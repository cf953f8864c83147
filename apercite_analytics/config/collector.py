"""`[collector]`: how `apercite-analytics collect` listens, whom it accepts, where events go and with
which pseudonymization key. Checked at load like every section; the key itself is read when the
collector starts (`tracking/pseudonymize.py`), never printed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from apercite_analytics.config.secrets import register_secret
from apercite_analytics.config.settings import check_url
from apercite_analytics.errors import ConfigError
from apercite_analytics.window import parse_duration

_KEY_ID = re.compile(r"^[A-Za-z0-9_.-]{1,32}$")
_ORIGIN = re.compile(r"^https?://[^/\s]+$")
MIN_KEY_LENGTH = 16


@dataclass(frozen=True)
class CollectorSettings:
    """`[collector]`."""

    url: str | None = None  # the database of the events table; default: the store's URL
    listen: str = "127.0.0.1:8787"  # host:port
    origins: list[str] = field(default_factory=list)  # browser origins allowed (CORS); none: server SDKs only
    key: str | None = None  # the pseudonymization key: "${APERCITE_EVENTS_KEY}" …
    key_file: str | None = None  # … or a file holding it (one line)
    key_id: str = "k1"  # stored with each row; change it with the key (docs/privacy.md)
    ip: Literal["drop", "truncate"] = "drop"  # truncate: keep the /24 (IPv4) or /48 (IPv6) as `network`
    trust_proxy: bool = False  # take the client address from X-Forwarded-For (behind your own proxy only)
    max_body: int = 512 * 1024  # bytes per request (413 above)
    max_events: int = 1000  # events per request (413 above)
    rate_limit: float = 20.0  # requests per second per client address (429 above) …
    burst: int = 200  # … after this many at once
    max_past: str = "7d"  # events older than this go to bad_event …
    max_future: str = "1h"  # … and events further ahead than this (a skewed clock)
    batch_size: int = 1000  # events per write (one transaction)
    flush_every: float = 1.0  # seconds: a smaller batch is written after this long
    queue_size: int = 100_000  # validated events waiting for the database; beyond that they are dropped (503)
    workers: int = 1  # processes sharing the port (tracking/workers.py): about one per core

    def check(self, where: str) -> None:
        if self.url is not None:
            check_url(self.url, f"{where}.url")
        host, _, port = self.listen.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError(f"{where}.listen: expected host:port, got {self.listen!r}")
        for i, origin in enumerate(self.origins):
            if not _ORIGIN.match(origin):
                raise ConfigError(f"{where}.origins[{i}]: expected scheme://host[:port] with no path, got {origin!r}")
        if (self.key is None) == (self.key_file is None):
            raise ConfigError(f'{where}: set exactly one of key (e.g. "${{APERCITE_EVENTS_KEY}}") and key_file')
        if self.key is not None:
            register_secret(self.key)
            if len(self.key) < MIN_KEY_LENGTH:
                raise ConfigError(f"{where}.key: at least {MIN_KEY_LENGTH} characters (e.g. `openssl rand -hex 32`)")
        if not _KEY_ID.match(self.key_id):
            raise ConfigError(f"{where}.key_id: 1 to 32 letters, digits, '_', '.', '-', got {self.key_id!r}")
        for name, low, high in (
            ("max_body", 1024, 64 * 1024 * 1024),
            ("max_events", 1, 100_000),
            ("burst", 1, 1_000_000),
            ("batch_size", 1, 100_000),
            ("queue_size", 1, 10_000_000),
            ("workers", 1, 64),
        ):
            if not low <= getattr(self, name) <= high:
                raise ConfigError(f"{where}.{name}: must be between {low} and {high}, got {getattr(self, name)}")
        for name in ("rate_limit", "flush_every"):
            if not 0 < getattr(self, name) <= 1_000_000:
                raise ConfigError(f"{where}.{name}: must be a positive number, got {getattr(self, name)}")
        parse_duration(self.max_past, f"{where}.max_past", "mhd")
        parse_duration(self.max_future, f"{where}.max_future", "mhd")

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])
