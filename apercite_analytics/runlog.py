"""The `run_log` table: one row per `read --write`, opened at start and closed with the verdict."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import insert, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from apercite_analytics.errors import StoreError, describe_db_error
from apercite_analytics.models import RunLog
from apercite_analytics.store import describe


def start(engine: Engine, command: str, readers: list[str], started_at: datetime) -> int:
    try:
        with engine.begin() as connection:
            result = connection.execute(
                insert(RunLog).values(
                    started_at=started_at,
                    status="running",
                    command=command[:2000],
                    readers=",".join(readers),
                    hourly_rows=0,
                    daily_rows=0,
                    rejected=0,
                )
            )
            return result.inserted_primary_key[0]
    except SQLAlchemyError as exc:
        raise StoreError(f"{describe(engine)}: cannot record the run: {describe_db_error(exc)}") from None


def finish(
    engine: Engine,
    run_id: int,
    *,
    ok: bool,
    hourly_rows: int,
    daily_rows: int,
    rejected: int,
    errors: list[str],
    nodes: list[dict[str, Any]],
) -> None:
    try:
        with engine.begin() as connection:
            connection.execute(
                update(RunLog)
                .where(RunLog.id == run_id)
                .values(
                    finished_at=datetime.now(UTC),
                    status="ok" if ok else "failed",
                    hourly_rows=hourly_rows,
                    daily_rows=daily_rows,
                    rejected=rejected,
                    errors="\n".join(errors) or None,
                    nodes=nodes,
                )
            )
    except SQLAlchemyError as exc:
        raise StoreError(
            f"{describe(engine)}: cannot record the end of run {run_id}: {describe_db_error(exc)}"
        ) from None
