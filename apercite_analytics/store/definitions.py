"""The dictionary in the store: sync the definitions and resolve each stored metric to its definition.

`metric_definition` mirrors the YAML files (one row per key, patterns included: Grafana can list
the dictionary). Each `metric` row gets the key of the definition that covers its name
(`definition_key`) and a copy of its `description` and `unit`, so a panel shows them with a plain
join on `metric`, no pattern matching in SQL. A sync writes only what changed: re-running it is a
no-op. A metric that loses its definition gets its key, description and unit cleared.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import SQLAlchemyError

from apercite_analytics.dictionary.definitions import FIELDS, Definition, Dictionary
from apercite_analytics.errors import StoreError, describe_db_error
from apercite_analytics.store import schema as store
from apercite_analytics.store.models import Metric, MetricDefinition


@dataclass
class SyncResult:
    definitions: int = 0  # in the dictionary
    changed: int = 0  # definition rows inserted, updated or deleted
    described: int = 0  # metric rows whose definition, description or unit changed
    uncovered: list[str] = field(default_factory=list)  # stored metric names no definition covers

    def line(self) -> str:
        return (
            f"dictionary: {self.definitions} definitions ({self.changed} changed), "
            f"{self.described} metric{'s' * (self.described != 1)} described"
        )


def _row(definition: Definition, now: datetime) -> dict:
    row = {name: getattr(definition, name) for name in FIELDS}
    return row | {"defined_in": definition.where, "updated_at": now}


def sync(engine: Engine, dictionary: Dictionary) -> SyncResult:
    """Make `metric_definition` equal to the dictionary and point every metric at its definition."""
    table, metric = MetricDefinition.__table__, Metric.__table__
    compared = [*FIELDS, "defined_in"]
    now = datetime.now(UTC)
    result = SyncResult(definitions=len(dictionary))
    try:
        with engine.begin() as connection:
            existing = {row.key: row._mapping for row in connection.execute(select(table))}
            wanted = {d.key: _row(d, now) for d in dictionary}
            changed = [
                row
                for key, row in wanted.items()
                if key not in existing or any(existing[key][c] != row[c] for c in compared)
            ]
            gone = sorted(set(existing) - set(wanted))
            if changed:
                stmt = store.dialect_insert(engine)(table)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["key"], set_={c: stmt.excluded[c] for c in [*compared, "updated_at"] if c != "key"}
                )
                connection.execute(stmt, changed)
            for chunk in store.in_chunks(gone):
                connection.execute(delete(table).where(table.c.key.in_(chunk)))
            result.changed = len(changed) + len(gone)

            updates = []
            for row in connection.execute(
                select(metric.c.id, metric.c.name, metric.c.definition_key, metric.c.description, metric.c.unit)
            ):
                definition = dictionary.match(row.name)
                if definition is None:
                    result.uncovered.append(row.name)
                    if row.definition_key is None:
                        continue  # never ours: leave its description alone
                    target = (None, None, None)
                else:
                    target = (definition.key, definition.description, definition.unit)
                if (row.definition_key, row.description, row.unit) != target:
                    updates.append({"b_id": row.id, "b_key": target[0], "b_text": target[1], "b_unit": target[2]})
            if updates:
                connection.execute(
                    update(metric)
                    .where(metric.c.id == bindparam("b_id"))
                    .values(
                        definition_key=bindparam("b_key"), description=bindparam("b_text"), unit=bindparam("b_unit")
                    ),
                    updates,
                )
            result.described = len(updates)
    except SQLAlchemyError as exc:
        raise StoreError(
            f"{store.describe(engine)}: syncing the metrics dictionary failed: {describe_db_error(exc)}"
        ) from None
    result.uncovered.sort()
    return result


def stored_names(engine: Engine) -> list[str]:
    """Every metric name in the store (none in a store that was never migrated)."""
    if store.current_revision(engine) is None:
        return []
    try:
        with engine.connect() as connection:
            return sorted(connection.execute(select(Metric.name)).scalars())
    except SQLAlchemyError as exc:
        raise StoreError(f"{store.describe(engine)}: {describe_db_error(exc)}") from None
