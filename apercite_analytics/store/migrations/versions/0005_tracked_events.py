"""The collector's tables: events (accepted, pseudonymized) and bad_event (refused, with the reason).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MOMENT = sa.DateTime(timezone=True).with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", MOMENT, nullable=False),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("duration_ms", sa.Double(), nullable=True),
        sa.Column("properties", sa.Text(), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("received_at", MOMENT, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_created_at", "events", ["created_at"])
    op.create_table(
        "bad_event",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("received_at", MOMENT, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=True),
        sa.Column("created_at", MOMENT, nullable=True),
        sa.Column("user_id", sa.String(length=64), nullable=True),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("properties", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_bad_event"),
    )
    op.create_index("ix_bad_event_received_at", "bad_event", ["received_at"])


def downgrade() -> None:
    op.drop_index("ix_bad_event_received_at", table_name="bad_event")
    op.drop_table("bad_event")
    op.drop_index("ix_events_created_at", table_name="events")
    op.drop_table("events")
