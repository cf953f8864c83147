"""Metrics dictionary (metric_definition, metric.definition_key) and rolled-up daily values.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "metric_definition",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("unit", sa.String(length=50), nullable=False),
        sa.Column("value_type", sa.String(length=16), nullable=False),
        sa.Column("aggregation", sa.String(length=8), nullable=False),
        sa.Column("time_frame", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("owner", sa.String(length=100), nullable=True),
        sa.Column("product_group", sa.String(length=100), nullable=True),
        sa.Column("data_source", sa.String(length=100), nullable=False),
        sa.Column("introduced", sa.Date(), nullable=True),
        sa.Column("removed", sa.Date(), nullable=True),
        sa.Column("defined_in", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_metric_definition"),
    )
    op.add_column("metric", sa.Column("definition_key", sa.String(length=200), nullable=True))
    op.add_column("daily_value", sa.Column("rolled_up", sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    # plain ALTER TABLE … DROP COLUMN (SQLite ≥ 3.35): a batch rebuild of `metric` would cascade-delete values
    op.drop_column("daily_value", "rolled_up")
    op.drop_column("metric", "definition_key")
    op.drop_table("metric_definition")
