"""The metric store: metric, hourly_value, daily_value and run_log.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("unit", sa.String(length=50), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_metric"),
        sa.UniqueConstraint("name", name="uq_metric_name"),
    )
    for table, keys in (("hourly_value", ("date", "hour")), ("daily_value", ("date",))):
        columns = [
            sa.Column("metric_id", sa.Integer(), nullable=False),
            sa.Column("date", sa.Date(), nullable=False),
        ]
        constraints = []
        if "hour" in keys:
            columns.append(sa.Column("hour", sa.SmallInteger(), nullable=False))
            constraints.append(sa.CheckConstraint("hour >= 0 AND hour <= 23", name="ck_hourly_value_hour_range"))
        op.create_table(
            table,
            *columns,
            sa.Column("value", sa.Double(), nullable=False),
            sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
            sa.ForeignKeyConstraint(
                ["metric_id"], ["metric.id"], name=f"fk_{table}_metric_id_metric", ondelete="CASCADE"
            ),
            sa.PrimaryKeyConstraint("metric_id", *keys, name=f"pk_{table}"),
            *constraints,
        )
    op.create_table(
        "run_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("command", sa.Text(), nullable=False),
        sa.Column("readers", sa.Text(), nullable=False),
        sa.Column("hourly_rows", sa.Integer(), nullable=False),
        sa.Column("daily_rows", sa.Integer(), nullable=False),
        sa.Column("rejected", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Text(), nullable=True),
        sa.Column("nodes", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_run_log"),
    )
    op.create_index("ix_run_log_status_started_at", "run_log", ["status", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_run_log_status_started_at", table_name="run_log")
    op.drop_table("run_log")
    op.drop_table("daily_value")
    op.drop_table("hourly_value")
    op.drop_table("metric")
