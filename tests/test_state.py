"""Reader watermarks: committed only after the writers succeed, per healthy reader, never backwards."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select

from apercite_analytics.cli import main as cli
from apercite_analytics.config import load as config
from apercite_analytics.errors import SourceError
from apercite_analytics.run import job as graph
from apercite_analytics.store import schema as store
from apercite_analytics.store.models import ReaderState, RunReader
from apercite_analytics.store.watermarks import Watermarks

T0 = datetime(2026, 11, 20, 10, tzinfo=UTC)
T1 = datetime(2026, 11, 20, 12, tzinfo=UTC)


def marks(engine) -> dict:
    with engine.connect() as connection:
        rows = connection.execute(select(ReaderState.reader, ReaderState.key, ReaderState.watermark)).all()
    return {(r, k): (m if m.tzinfo else m.replace(tzinfo=UTC)) for r, k, m in rows}


def test_commit_keeps_the_latest_and_never_moves_back(store_engine):
    first = Watermarks()
    first.advance("prometheus", "qps", T1)
    first.advance("prometheus", "qps", T0)  # an earlier proposal in the same run does not win
    first.advance("events", "signup", T0)
    assert first.commit(store_engine, lambda reader, key: True) == 2
    assert marks(store_engine) == {("prometheus", "qps"): T1, ("events", "signup"): T0}

    loaded = Watermarks.load(store_engine)
    assert loaded.get("prometheus", "qps") == T1 and loaded.get("prometheus", "other") is None
    loaded.advance("prometheus", "qps", T0)  # a backfill of older hours
    loaded.advance("events", "signup", T1)
    assert loaded.commit(store_engine, lambda reader, key: reader == "prometheus") == 0  # events not allowed
    assert marks(store_engine) == {("prometheus", "qps"): T1, ("events", "signup"): T0}


def _chain(reader: str, key: str, until: datetime, fail: bool = False):
    def node(*, state):
        assert state.get(reader, key) in (None, T0)
        yield {"date": date(2026, 11, 20), "hour": 10}, {f"{reader}.{key}.value": 1}  # one metric per chain
        if fail:
            raise SourceError(f"{reader} broke")
        state.advance(reader, key, until)

    node.__name__ = reader
    return [node]


def test_run_commits_watermarks_of_healthy_readers_only(store_url):
    settings = config.parse({"store": {"url": store_url}})
    cli.setup_logging(-1)
    chains = {"good": _chain("good", "k", T1), "bad": _chain("bad", "k", T1, fail=True)}
    result = graph.run_chains(settings, chains, ["good", "bad"], write=True)
    assert not result.ok and result.watermarks_moved == 1
    engine = store.open_engine(store_url)
    try:
        assert marks(engine) == {("good", "k"): T1}
        with engine.connect() as connection:
            rows = connection.execute(select(RunReader.reader, RunReader.status, RunReader.records, RunReader.errors))
            assert sorted(rows) == [("bad", "failed", 1, 1), ("good", "ok", 1, 0)]
    finally:
        engine.dispose()


def test_dry_run_commits_nothing(store_engine, store_url):
    settings = config.parse({"store": {"url": store_url}})
    cli.setup_logging(-1)
    result = graph.run_chains(settings, {"good": _chain("good", "k", T1)}, ["good"], write=False)
    assert result.ok and result.watermarks_moved == 0
    assert marks(store_engine) == {}


def test_writer_failure_commits_nothing(store_url):
    settings = config.parse({"store": {"url": store_url}})
    cli.setup_logging(-1)
    engine = store.open_engine(store_url)
    store.upgrade(engine)
    with engine.begin() as connection:  # make every value write fail (the tables stay as the models say)
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused by a test trigger'; END $$"
            )
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON hourly_value FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
        else:
            connection.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON hourly_value BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
    try:
        result = graph.run_chains(settings, {"good": _chain("good", "k", T1)}, ["good"], write=True)
        assert not result.ok and result.watermarks_moved == 0
        assert marks(engine) == {}
    finally:
        engine.dispose()


def test_a_failing_query_holds_back_only_its_own_watermark(store_url):
    """Chains named `<reader>.<key>`: one failing query does not hold back the others."""
    settings = config.parse({"store": {"url": store_url}})
    cli.setup_logging(-1)
    chains = {
        "many.good": _chain("many", "good", T1),
        "many.bad": _chain("many", "bad", T1, fail=True),
        "whole": _chain("whole", "table", T1),
        "whole.other": _chain("whole", "other", T1, fail=True),
    }
    for name, nodes in chains.items():
        nodes[0].__name__ = name
    result = graph.run_chains(settings, chains, ["many", "whole"], write=True)
    assert not result.ok
    engine = store.open_engine(store_url)
    try:
        # "whole" has no chain named whole.table: any failing chain of it holds its watermarks back
        assert marks(engine) == {("many", "good"): T1}
    finally:
        engine.dispose()
