"""Reader watermarks (reader_state) and per-reader run outcomes (run_reader).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reader_state",
        sa.Column("reader", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("watermark", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("reader", "key", name="pk_reader_state"),
    )
    op.create_table(
        "run_reader",
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("reader", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("records", sa.Integer(), nullable=False),
        sa.Column("errors", sa.Integer(), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["run_log.id"], name="fk_run_reader_run_id_run_log", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "reader", name="pk_run_reader"),
    )
    op.create_index("ix_run_reader_reader_status_run_id", "run_reader", ["reader", "status", "run_id"])


def downgrade() -> None:
    op.drop_index("ix_run_reader_reader_status_run_id", table_name="run_reader")
    op.drop_table("run_reader")
    op.drop_table("reader_state")
