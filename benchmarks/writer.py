"""Benchmark 1: writer throughput into PostgreSQL (values/s), fresh, update and unchanged re-run.

* ours — `UpsertWriter` + `MetricStore` exactly as the graph uses them (each record claimed for
  its chain first, batches of 5,000, metric ids resolved per batch, COPY into a staging table +
  INSERT … SELECT … ON CONFLICT per batch).
* per-row — the classic InsertOrUpdate pattern (what bonobo-sqlalchemy does): for each value one
  SELECT of the stored value, then an INSERT, or an UPDATE if it differs, through SQLAlchemy Core;
  one commit per 5,000 values. Measured on a sample (PER_ROW_VALUES) and reported as values/s.
* multi-row VALUES — the previous writer: SQLAlchemy's `insert().on_conflict_do_update()` executed
  with 5,000 parameter sets per batch (insertmanyvalues), also on the sample.
* ceiling — one COPY of every value (ids known, the text buffer built before the clock starts)
  into a TEMP table and one INSERT … SELECT … ON CONFLICT, one transaction: the fastest practical way.

Same scratch database, same server, same run; each method's table emptied before its fresh pass.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select, text, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Engine

from apercite_analytics.store import schema as store
from apercite_analytics.store.models import HourlyValue, Metric
from apercite_analytics.store.values import MetricStore
from apercite_analytics.writers.claims import Claims
from apercite_analytics.writers.upsert import UpsertWriter
from benchmarks.common import log, median, scratch_database, spread, table, timed

VALUES = 200_000
PER_ROW_VALUES = 20_000
METRICS = 100  # values per record
BATCH = 5_000
START = date(2024, 1, 1)
SCENARIOS = ("fresh", "update", "unchanged")
HOURLY = HourlyValue.__table__
TARGETS = {"ours / per-row": 40.0, "ours / ceiling": 1 / 3}


def records(values: int, shift: float = 0.0) -> list[tuple[dict, dict]]:
    """`values` hourly values as records of METRICS metrics each, one record per hour."""
    out = []
    for k in range(values // METRICS):
        dims = {"date": START + timedelta(days=k // 24), "hour": k % 24}
        out.append((dims, {f"bench.m{i:03d}": k * 0.5 + i + shift for i in range(METRICS)}))
    return out


def ours(engine: Engine, data: list[tuple[dict, dict]]) -> None:
    """As a run does it: each record claimed for its chain (`Claims`, collision detection), then buffered."""
    metric_store = MetricStore(engine)
    claims = Claims()
    writer = UpsertWriter("hourly", BATCH, claims)
    for dims, metrics in data:
        writer(dims, claims.claim("bench", dims, metrics), store=metric_store)
    writer.close(metric_store)


def per_row(engine: Engine, data: list[tuple[dict, dict]]) -> None:
    """SELECT, then INSERT or UPDATE, one value at a time (metric ids cached after their first lookup)."""
    ids: dict[str, int] = {}
    now = datetime.now(UTC)
    c = HOURLY.c
    with engine.connect() as connection:
        pending = 0
        for dims, metrics in data:
            day, hour = dims["date"], dims["hour"]
            for name, value in metrics.items():
                metric_id = ids.get(name)
                if metric_id is None:
                    metric_id = connection.execute(select(Metric.id).where(Metric.name == name)).scalar()
                    if metric_id is None:
                        metric_id = connection.execute(insert(Metric).values(name=name).returning(Metric.id)).scalar()
                    ids[name] = metric_id
                key = (c.metric_id == metric_id) & (c.date == day) & (c.hour == hour)
                stored = connection.execute(select(c.value).where(key)).first()
                if stored is None:
                    row = {"metric_id": metric_id, "date": day, "hour": hour, "value": value, "updated_at": now}
                    connection.execute(insert(HOURLY).values(**row))
                elif stored[0] != value:
                    connection.execute(update(HOURLY).where(key).values(value=value, updated_at=now))
                pending += 1
                if pending >= BATCH:
                    connection.commit()
                    pending = 0
        connection.commit()


def multirow_values(engine: Engine, data: list[tuple[dict, dict]]) -> None:
    """The previous writer: SQLAlchemy's insert … on_conflict_do_update with a list of parameter sets."""
    metric_store = MetricStore(engine)
    buffer: dict = {}

    def flush() -> None:
        ids = metric_store.metric_ids({n for n, _, _ in buffer})
        now = datetime.now(UTC)
        rows = [
            {"metric_id": ids[n], "date": d, "hour": h, "value": v, "updated_at": now}
            for (n, d, h), v in buffer.items()
        ]
        stmt = postgresql.insert(HOURLY)
        stmt = stmt.on_conflict_do_update(
            index_elements=["metric_id", "date", "hour"],
            set_={"value": stmt.excluded.value, "updated_at": stmt.excluded.updated_at},
            where=HOURLY.c.value.is_distinct_from(stmt.excluded.value),
        )
        with engine.begin() as connection:
            connection.execute(stmt, rows)
        buffer.clear()

    for dims, metrics in data:
        for name, value in metrics.items():
            buffer[(name, dims["date"], dims["hour"])] = value
        if len(buffer) >= BATCH:
            flush()
    if buffer:
        flush()


def copy_buffer(engine: Engine, data: list[tuple[dict, dict]]) -> bytes:
    """The ceiling's input, prepared before timing: COPY text lines with the metric ids resolved."""
    ids = MetricStore(engine).metric_ids({name for _, metrics in data for name in metrics})
    lines = [
        f"{ids[name]}\t{dims['date'].isoformat()}\t{dims['hour']}\t{value!r}\n"
        for dims, metrics in data
        for name, value in metrics.items()
    ]
    return "".join(lines).encode()


def ceiling(engine: Engine, buffer: bytes) -> None:
    """One COPY into a TEMP table and one INSERT … SELECT … ON CONFLICT, in one transaction."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        cursor.execute(
            "CREATE TEMP TABLE stage (metric_id integer, date date, hour smallint, value double precision) "
            "ON COMMIT DROP"
        )
        cursor.copy_expert("COPY stage FROM STDIN", io.BytesIO(buffer))
        cursor.execute(
            "INSERT INTO hourly_value (metric_id, date, hour, value, updated_at) "
            "SELECT metric_id, date, hour, value, %s FROM stage "
            "ON CONFLICT (metric_id, date, hour) DO UPDATE "
            "SET value = excluded.value, updated_at = excluded.updated_at "
            "WHERE hourly_value.value IS DISTINCT FROM excluded.value",
            (datetime.now(UTC),),
        )
        raw.commit()
    finally:
        raw.close()


def _empty(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            text("DELETE FROM hourly_value" if engine.dialect.name == "sqlite" else "TRUNCATE hourly_value")
        )


def _passes(engine: Engine, write: Callable, first, second) -> dict[str, float]:
    """fresh (empty table), update (every value changed), unchanged (the same again): seconds each."""
    _empty(engine)
    seconds = {"fresh": timed(lambda: write(engine, first))}
    seconds["update"] = timed(lambda: write(engine, second))
    seconds["unchanged"] = timed(lambda: write(engine, second))
    return seconds


def run(runs: int, values: int = VALUES, sample: int = PER_ROW_VALUES, log=print) -> tuple[str, dict]:
    """Measure every method `runs` times (interleaved); the table and the medians (values/s)."""
    sample = min(sample, values)
    full, full_changed = records(values), records(values, shift=1.0)
    part, part_changed = full[: sample // METRICS], full_changed[: sample // METRICS]
    samples: dict[str, dict[str, list[float]]] = {}
    counts = {
        "ours (COPY + staging, batches of 5,000)": values,
        "ceiling (one COPY + one INSERT … SELECT)": values,
        "multi-row VALUES (previous writer)": sample,
        "per-row SELECT + INSERT/UPDATE": sample,
        "ours on SQLite": values,
        "per-row on SQLite": sample,
    }

    def add(method: str, seconds: dict[str, float]) -> None:
        for scenario, s in seconds.items():
            samples.setdefault(method, {}).setdefault(scenario, []).append(counts[method] / s)

    with scratch_database() as url, tempfile.TemporaryDirectory() as folder:
        engine = store.open_engine(url)
        store.upgrade(engine)
        lite = store.open_engine(f"sqlite:///{Path(folder) / 'store.db'}")
        store.upgrade(lite)
        buffers = copy_buffer(engine, full), copy_buffer(engine, full_changed)
        try:
            for n in range(runs):
                log(f"writer: run {n + 1}/{runs}")
                add("ours (COPY + staging, batches of 5,000)", _passes(engine, ours, full, full_changed))
                add("ceiling (one COPY + one INSERT … SELECT)", _passes(engine, ceiling, *buffers))
                add("multi-row VALUES (previous writer)", _passes(engine, multirow_values, part, part_changed))
                add("per-row SELECT + INSERT/UPDATE", _passes(engine, per_row, part, part_changed))
                add("ours on SQLite", _passes(lite, ours, full, full_changed))
                add("per-row on SQLite", _passes(lite, per_row, part, part_changed))
        finally:
            engine.dispose()
            lite.dispose()
    medians = {m: {s: median(v) for s, v in by.items()} for m, by in samples.items()}
    rows = [
        [method, f"{counts[method]:,}", *(f"{medians[method][s]:,.0f} {spread(samples[method][s])}" for s in SCENARIOS)]
        for method in counts
    ]
    mine, mine_lite = "ours (COPY + staging, batches of 5,000)", "ours on SQLite"
    pairs = [
        ("ours / per-row", mine, "per-row SELECT + INSERT/UPDATE"),
        ("ours / ceiling", mine, "ceiling (one COPY + one INSERT … SELECT)"),
        ("ours / multi-row VALUES", mine, "multi-row VALUES (previous writer)"),
        ("ours on SQLite / per-row on SQLite", mine_lite, "per-row on SQLite"),
    ]
    for label, a, b in pairs:  # each run's pair was measured minutes apart at most: the median of the ratios
        ratios = {s: median([x / y for x, y in zip(samples[a][s], samples[b][s], strict=True)]) for s in SCENARIOS}
        medians[label] = ratios
        rows.append([label, "", *(f"{ratios[s]:.2f}×" for s in SCENARIOS)])
    headers = ["writer (values/s, median of runs ± half the spread)", "values", *SCENARIOS]
    return table(headers, rows), medians


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.writer", description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per figure (default 3; medians are shown)")
    parser.add_argument("--quick", action="store_true", help="10,000 values (1,000 for the baselines), 1 run")
    args = parser.parse_args(argv)
    sizes = {"values": 10_000, "sample": 1_000} if args.quick else {}
    text, medians = run(1 if args.quick else args.runs, log=log, **sizes)
    print(text + "\n")
    for label, target in TARGETS.items():
        worst = min(medians[label].values())
        print(f"{label}: {worst:.2f}× at worst (target ≥ {target:.2f}×): {'met' if worst >= target else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
