"""The settings every part shares: the store, monitoring, source databases, the dictionary, and the
checks readers use on their own sections (names, sources, URLs, retries).

Each reader module owns the dataclass of its `[readers.<name>]` section; `load.py` assembles them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apercite_analytics.errors import ConfigError

DEFAULT_STORE_URL = "sqlite:///analytics.db"
DEFAULT_DEADLINE = 50 * 60.0  # below the hour: an hourly job must end before the next one starts
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class StoreSettings:
    """Where the metric store lives and how writes are batched."""

    url: str = DEFAULT_STORE_URL
    batch_size: int = 5000
    lock_wait: float = 60.0  # seconds a run waits for another run of the same reader to finish

    def check(self, where: str) -> None:
        if not 1 <= self.batch_size <= 1_000_000:
            raise ConfigError(f"{where}.batch_size: must be between 1 and 1000000, got {self.batch_size}")
        check_seconds(self.lock_wait, f"{where}.lock_wait", zero=True, most=86400)
        check_url(self.url, f"{where}.url")


@dataclass(frozen=True)
class RunSettings:
    """`[run]`: the run's own limits."""

    # seconds after which the readers not finished yet are failed, so that what was read is written and
    # the run ends (and releases its locks) before the next hourly run starts
    deadline: float = DEFAULT_DEADLINE

    def check(self, where: str) -> None:
        check_seconds(self.deadline, f"{where}.deadline", most=86400)


@dataclass(frozen=True)
class MonitoringSettings:
    """The job's own metrics (`[monitoring]`): into the store, and as a Prometheus textfile."""

    store: bool = True  # etl.* hourly values in the metric store
    textfile: str | None = None  # e.g. /var/lib/prometheus/node-exporter/apercite.prom

    def check(self, where: str) -> None:
        if self.textfile is not None and not self.textfile.endswith(".prom"):
            raise ConfigError(f"{where}.textfile: node_exporter only reads files ending in .prom")


@dataclass(frozen=True)
class SourceSettings:
    """A database the readers read from, by name (`[sources.<name>]`)."""

    url: str
    connect_timeout: float = 10.0
    query_timeout: float = 300.0
    retries: int = 2  # for transient errors only (connection lost, deadlock, server restarting)
    backoff: float = 1.0  # seconds before the first retry, doubled each time …
    max_backoff: float = 60.0  # … up to this

    def check(self, where: str) -> None:
        check_url(self.url, f"{where}.url")
        for name in ("connect_timeout", "query_timeout"):
            check_seconds(getattr(self, name), f"{where}.{name}")
        check_retries(self.retries, self.backoff, self.max_backoff, where)


@dataclass(frozen=True)
class DictionarySettings:
    """`[dictionary]`: the folder of metric-definition YAML files, relative to the config file's folder."""

    path: str = "metrics"


@dataclass(frozen=True)
class ReportSettings:
    """`[report]`: the KPI report's defaults, and the SMTP server `report --email` sends through."""

    period: str = "week"  # day, week or month: the last complete one (UTC)
    dashboards: list[str] = field(default_factory=list)  # only the KPIs of these dashboards (default: all)
    title: str = "KPI report"
    smtp_host: str = "localhost"
    smtp_port: int = 0  # 0: 465 with ssl, 587 with starttls, 25 with none
    smtp_security: str = "starttls"  # starttls, ssl or none
    smtp_user: str | None = None
    smtp_password: str | None = None  # "${SMTP_PASSWORD}": from the environment, never written here
    smtp_timeout: float = 30.0
    smtp_cafile: str | None = None  # CA certificates to trust (PEM; relative to the config's folder)
    mail_from: str = ""
    mail_to: list[str] = field(default_factory=list)
    webhook_timeout: float = 10.0

    def check(self, where: str) -> None:
        if self.period not in ("day", "week", "month"):
            raise ConfigError(f"{where}.period: must be one of day, week, month, got {self.period!r}")
        if self.smtp_security not in ("starttls", "ssl", "none"):
            raise ConfigError(f"{where}.smtp_security: must be one of starttls, ssl, none, got {self.smtp_security!r}")
        if not 0 <= self.smtp_port <= 65535:
            raise ConfigError(f"{where}.smtp_port: must be between 0 and 65535, got {self.smtp_port}")
        for name in ("smtp_timeout", "webhook_timeout"):
            if not 0 < getattr(self, name) <= 3600:
                raise ConfigError(f"{where}.{name}: must be between 0 and 3600 seconds")
        if (self.smtp_user is None) != (self.smtp_password is None):
            raise ConfigError(f"{where}.smtp_user: set both smtp_user and smtp_password, or neither")
        for address in [self.mail_from, *self.mail_to]:
            if address and "@" not in address:
                raise ConfigError(f"{where}: {address!r} is not an e-mail address")

    @property
    def port(self) -> int:
        return self.smtp_port or {"ssl": 465, "starttls": 587, "none": 25}[self.smtp_security]


@dataclass(frozen=True)
class Settings:
    """The whole configuration; `readers` maps a reader name to its module's settings object."""

    path: Path | None = None
    store: StoreSettings = field(default_factory=StoreSettings)
    monitoring: MonitoringSettings = field(default_factory=MonitoringSettings)
    run: RunSettings = field(default_factory=RunSettings)
    sources: dict[str, SourceSettings] = field(default_factory=dict)
    readers: dict[str, Any] = field(default_factory=dict)
    dictionary: DictionarySettings | None = None  # None: no [dictionary] section
    collector: Any = None  # config.collector.CollectorSettings; None: no [collector] section
    report: ReportSettings = field(default_factory=ReportSettings)


def check_url(url: str, where: str) -> None:
    """Reject what SQLAlchemy cannot parse, naming the key (never echoing the URL: it may hold a password)."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    check_credentials(url, where)
    try:
        make_url(url)
    except (ArgumentError, ValueError):
        raise ConfigError(f"{where}: not a database URL (expected e.g. postgresql://user@host/db)") from None


def check_name(name: str, where: str) -> None:
    """Names of sources, queries and tables become metric-name parts: lowercase, digits, underscore."""
    if not _NAME.match(name):
        raise ConfigError(f"{where}: name {name!r} must be lowercase letters, digits and _ (starting with a letter)")


def check_source(name: str, sources: Mapping[str, SourceSettings], where: str) -> None:
    """A reader's `source` must name a `[sources.<name>]` section."""
    if name not in sources:
        known = ", ".join(sorted(sources)) or "none defined"
        raise ConfigError(f"{where}: unknown source {name!r} (sources: {known})")


def check_retries(retries: int, backoff: float, max_backoff: float, where: str, most: int = 10) -> None:
    """`retries`, `backoff`, `max_backoff`: the same three keys, checked the same way, wherever a
    section retries (sources, prometheus, json, google_analytics)."""
    if not 0 <= retries <= most:
        raise ConfigError(f"{where}.retries: must be between 0 and {most}, got {retries}")
    check_seconds(backoff, f"{where}.backoff", zero=True)
    check_seconds(max_backoff, f"{where}.max_backoff", zero=True)
    if not (0 <= backoff <= max_backoff and math.isfinite(max_backoff)):
        raise ConfigError(f"{where}.backoff: must be 0 or more seconds, and at most max_backoff ({max_backoff:g})")


def check_seconds(value: float, where: str, *, zero: bool = False, most: float = 7 * 86400) -> None:
    """A duration in seconds (every timeout, wait and deadline key): a finite number, at least 1 ms once
    rounded to the milliseconds drivers take (0.0004 would become 0, which means *no limit* to
    PostgreSQL), or exactly 0 where `zero` allows it; at most `most`."""
    if not (math.isfinite(value) and (round(value * 1000) >= 1 or (zero and value == 0)) and 0 <= value <= most):
        what = "0 or more seconds" if zero else "a positive number of seconds, at least 0.001"
        raise ConfigError(f"{where}: must be {what} and at most {most:g} (got {value!r})")


def check_credentials(url: str, where: str) -> None:
    """Refuse a URL whose user:password part holds a raw `@` (or `:` in the user): where the host
    starts is then a guess, and a wrong guess shows part of the password as the host name."""
    authority = url.partition("://")[2]
    for end in "/?#":
        authority = authority.partition(end)[0]
    if authority.count("@") > 1:
        raise ConfigError(
            f"{where}: more than one '@' before the host: percent-encode '@' in the user name or "
            "password as %40 (and ':' as %3A, '/' as %2F)"
        )
