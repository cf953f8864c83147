"""The metric store's tables (SQLAlchemy 2). Migrations in `migrations/` create exactly these."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    false,
    func,
)
from sqlalchemy.dialects import mysql
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Metric(Base):
    """A metric name, resolved to a small integer id once per batch by the writers."""

    __tablename__ = "metric"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    description: Mapped[str | None] = mapped_column(Text)
    unit: Mapped[str | None] = mapped_column(String(50))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())
    # The metric_definition.key that covers this name (set by `metrics sync`; description and unit
    # above are copied from it, so a Grafana panel needs no pattern matching). No foreign key: the
    # sync keeps it consistent, and SQLite could not add one without rebuilding this table.
    definition_key: Mapped[str | None] = mapped_column(String(200))


class HourlyValue(Base):
    """The value of a metric for the UTC hour [hour:00, hour+1:00) of `date`."""

    __tablename__ = "hourly_value"
    __table_args__ = (CheckConstraint("hour >= 0 AND hour <= 23", name="hour_range"),)

    metric_id: Mapped[int] = mapped_column(ForeignKey("metric.id", ondelete="CASCADE"), primary_key=True)
    date: Mapped[date] = mapped_column(Date, primary_key=True)
    hour: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    value: Mapped[float] = mapped_column(Double, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class DailyValue(Base):
    """The value of a metric for the UTC day `date`."""

    __tablename__ = "daily_value"

    metric_id: Mapped[int] = mapped_column(ForeignKey("metric.id", ondelete="CASCADE"), primary_key=True)
    date: Mapped[date] = mapped_column(Date, primary_key=True)
    value: Mapped[float] = mapped_column(Double, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # True when `rollup` computed the value from the hours; a reader's daily value (False) is never
    # overwritten by a rollup, and replaces one.
    rolled_up: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default=false())


class MetricDefinition(Base):
    """One entry of the metrics dictionary (`metrics/*.yaml`), as last synced: `key` is a metric
    name or a pattern where `*` stands for exactly one name part."""

    __tablename__ = "metric_definition"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    unit: Mapped[str] = mapped_column(String(50), nullable=False)
    value_type: Mapped[str] = mapped_column(String(16), nullable=False)
    aggregation: Mapped[str] = mapped_column(String(8), nullable=False)
    time_frame: Mapped[str] = mapped_column(String(8), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    owner: Mapped[str | None] = mapped_column(String(100))
    product_group: Mapped[str | None] = mapped_column(String(100))
    data_source: Mapped[str] = mapped_column(String(100), nullable=False)
    introduced: Mapped[date | None] = mapped_column(Date)
    removed: Mapped[date | None] = mapped_column(Date)
    defined_in: Mapped[str] = mapped_column(Text, nullable=False)  # file:line
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class RunLog(Base):
    """One row per `read --write` run: when, what, how it ended and what it wrote."""

    __tablename__ = "run_log"
    __table_args__ = (Index("ix_run_log_status_started_at", "status", "started_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    command: Mapped[str] = mapped_column(Text, nullable=False)
    readers: Mapped[str] = mapped_column(Text, nullable=False)
    hourly_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    daily_rows: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    rejected: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    errors: Mapped[str | None] = mapped_column(Text)
    nodes: Mapped[Any | None] = mapped_column(JSON)


class ReaderState(Base):
    """What a reader has completed: for each of its keys (a query, a table), the end of the last
    hour whose values are committed. Advanced only after the writers committed (see `watermarks.py`)."""

    __tablename__ = "reader_state"

    reader: Mapped[str] = mapped_column(String(100), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    watermark: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class RunReader(Base):
    """Per run and reader: how its chain ended (for 'last successful run per reader')."""

    __tablename__ = "run_reader"
    __table_args__ = (Index("ix_run_reader_reader_status_run_id", "reader", "status", "run_id"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("run_log.id", ondelete="CASCADE"), primary_key=True)
    reader: Mapped[str] = mapped_column(String(100), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    records: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    errors: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    finished_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


# The collector's tables (tracking/). Also created outside the store, in the app's own database
# (`collect --init-table`, PostgreSQL, MariaDB or SQLite): hence the MariaDB variants (microseconds).
ROW_ID = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements an INTEGER PRIMARY KEY only
MOMENT = DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")  # UTC


class Event(Base):
    """One accepted product event, pseudonymized (columns: `tracking/sinks.py`). The `events`
    reader reads it with only `source` configured: its defaults are these columns."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_created_at", "created_at"),)

    id: Mapped[int] = mapped_column(ROW_ID, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    created_at: Mapped[datetime] = mapped_column(MOMENT, nullable=False)
    user_id: Mapped[str | None] = mapped_column(String(64))  # HMAC-SHA256 hex, never the raw id
    duration_ms: Mapped[float | None] = mapped_column(Double)
    properties: Mapped[str] = mapped_column(Text, nullable=False)  # JSON object of the kept properties
    key_id: Mapped[str] = mapped_column(String(32), nullable=False)
    received_at: Mapped[datetime] = mapped_column(MOMENT, nullable=False)


class BadEvent(Base):
    """An event the collector refused, with the reason: kept aside, never silently dropped. Holds
    no raw value: the user id is pseudonymized and properties are reduced to their JSON types."""

    __tablename__ = "bad_event"
    __table_args__ = (Index("ix_bad_event_received_at", "received_at"),)

    id: Mapped[int] = mapped_column(ROW_ID, primary_key=True, autoincrement=True)
    received_at: Mapped[datetime] = mapped_column(MOMENT, nullable=False)
    name: Mapped[str | None] = mapped_column(String(100))  # NULL when what was sent is not an event name
    created_at: Mapped[datetime | None] = mapped_column(MOMENT)
    user_id: Mapped[str | None] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(32), nullable=False)
    reason: Mapped[str] = mapped_column(Text, nullable=False)
    properties: Mapped[str] = mapped_column(Text, nullable=False)  # {"name": "json type"}, never values
