"""The run log: `run_log` (one row per `read --write`, opened at start and closed with the verdict)
and `run_reader` (each reader's outcome per run, hence its last success)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from apercite_analytics.config.secrets import scrub
from apercite_analytics.errors import StoreError, describe_db_error, escape_control
from apercite_analytics.store.models import RunLog, RunReader
from apercite_analytics.store.schema import describe
from apercite_analytics.window import to_utc


def _shown(text: str) -> str:
    """What the run log may keep of a line: Grafana viewers read it, so no secret, one line each."""
    return escape_control(scrub(text))


def close_abandoned(engine: Engine, readers: list[str]) -> list[int]:
    """Mark as `abandoned` the runs still `running` that share a reader with this one.

    Called while holding the locks of `readers`: a live run holds the locks of all its readers for
    its whole life, so a `running` row sharing one of ours belongs to a run that died (SIGKILL,
    power loss) without closing it.
    """
    ours = set(readers)
    try:
        with engine.begin() as connection:
            rows = connection.execute(select(RunLog.id, RunLog.readers).where(RunLog.status == "running")).all()
            dead = [run_id for run_id, names in rows if ours & set(names.split(","))]
            if dead:
                connection.execute(
                    update(RunLog)
                    .where(RunLog.id.in_(dead), RunLog.status == "running")
                    .values(
                        status="abandoned",
                        finished_at=datetime.now(UTC),
                        errors="the run ended without closing its log (killed?); its committed batches were kept",
                    )
                )
    except SQLAlchemyError as exc:
        raise StoreError(f"{describe(engine)}: cannot read the run log: {describe_db_error(exc)}") from None
    return dead


def start(engine: Engine, command: str, readers: list[str], started_at: datetime) -> int:
    try:
        with engine.begin() as connection:
            result = connection.execute(
                insert(RunLog).values(
                    started_at=started_at,
                    status="running",
                    command=_shown(command)[:2000],
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
    readers: dict[str, tuple[bool, int, int]] | None = None,
) -> None:
    """Close the run's row; `readers` maps each reader to (ok, records, errors) for `run_reader`."""
    try:
        now = datetime.now(UTC)
        with engine.begin() as connection:
            if readers:
                connection.execute(
                    insert(RunReader),
                    [
                        {
                            "run_id": run_id,
                            "reader": reader,
                            "status": "ok" if reader_ok else "failed",
                            "records": records,
                            "errors": errors,
                            "finished_at": now,
                        }
                        for reader, (reader_ok, records, errors) in sorted(readers.items())
                    ],
                )
            connection.execute(
                update(RunLog)
                .where(RunLog.id == run_id)
                .values(
                    finished_at=now,
                    status="ok" if ok else "failed",
                    hourly_rows=hourly_rows,
                    daily_rows=daily_rows,
                    rejected=rejected,
                    errors="\n".join(_shown(e) for e in errors) or None,
                    nodes=nodes,
                )
            )
    except SQLAlchemyError as exc:
        raise StoreError(
            f"{describe(engine)}: cannot record the end of run {run_id}: {describe_db_error(exc)}"
        ) from None


def last_success(engine: Engine) -> dict[str, datetime]:
    """When each reader last finished a run without error (from `run_reader`)."""
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(RunReader.reader, func.max(RunReader.finished_at))
                .where(RunReader.status == "ok")
                .group_by(RunReader.reader)
            ).all()
    except SQLAlchemyError as exc:
        raise StoreError(f"{describe(engine)}: cannot read the run history: {describe_db_error(exc)}") from None
    return {reader: to_utc(moment) for reader, moment in rows}
