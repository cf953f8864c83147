"""Views `hourly_series` / `daily_series` for Grafana: metric name and UTC time beside the keys.

They join `metric` by id and compute `time` from (date, hour), while keeping `metric_id`, `date`
(and `hour`) visible, so a query that restricts `metric` and `date` is planned as an index range
scan on the `(metric_id, date, hour)` primary key; `time` is only a filter on those rows.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TIME = {
    "postgresql": {
        "hourly": "(v.date + v.hour * interval '1 hour') AT TIME ZONE 'UTC'",
        "daily": "v.date::timestamp AT TIME ZONE 'UTC'",
    },
    "sqlite": {
        "hourly": "datetime(v.date, '+' || v.hour || ' hours')",
        "daily": "datetime(v.date)",
    },
}


def upgrade() -> None:
    time = TIME[op.get_bind().dialect.name]
    op.execute(
        "CREATE VIEW hourly_series AS "
        f"SELECT m.name AS metric, {time['hourly']} AS time, v.value, v.metric_id, v.date, v.hour "
        "FROM hourly_value v JOIN metric m ON m.id = v.metric_id"
    )
    op.execute(
        "CREATE VIEW daily_series AS "
        f"SELECT m.name AS metric, {time['daily']} AS time, v.value, v.metric_id, v.date "
        "FROM daily_value v JOIN metric m ON m.id = v.metric_id"
    )


def downgrade() -> None:
    op.execute("DROP VIEW daily_series")
    op.execute("DROP VIEW hourly_series")
