"""The `events` reader on the columnar stores: a DuckDB database file, day-partitioned Parquet read
through DuckDB, and ClickHouse (chdb, in-process, through clickhouse-connect).

The reference tests of `test_reader_events.py` run here unchanged (imported: same bodies, same
expected values — numpy percentiles, UTC hour boundaries, 7d/28d edges, NULL users), with this
module's `source` fixture giving the columnar stores instead of the row stores.
"""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread

import duckdb
import pytest
import test_reader_events as reference
from support.columnar import ClickHouseTable, DuckDBFile, ParquetFolder
from support.ports import free_port
from support.storeview import stored
from test_reader_events import (  # noqa: F401  (collected here, on this module's `source`)
    NOV20,
    at,
    backfill,
    read,
    split,
    test_allow_list_reads_only_those_names_and_writes_zeros,
    test_daily_values_over_many_days_match_a_reference,
    test_hourly_and_daily_aggregates_match_a_reference,
    test_names_colliding_after_sanitising,
    test_one_day_at_a_time_gives_the_reference_daily_values,
    test_rolling_windows_at_their_edges,
    test_without_duration_column,
)

from apercite_analytics.cli import main as cli
from apercite_analytics.config.load import parse
from apercite_analytics.errors import ConfigError, SourceError
from apercite_analytics.run import job
from apercite_analytics.store import schema as store
from apercite_analytics.window import Window

STORES = ["duckdb", "parquet", "clickhouse"]


@pytest.fixture(scope="session")
def chdb_path(tmp_path_factory) -> Path:
    """One chdb data folder for the session (chdb keeps one engine per process); a database per test."""
    return tmp_path_factory.mktemp("chdb")


def make_store(kind: str, tmp_path: Path, chdb_path: Path, **options):
    if kind == "duckdb":
        return DuckDBFile(tmp_path, **options)
    if kind == "parquet":
        return ParquetFolder(tmp_path)
    return ClickHouseTable(chdb_path)


@pytest.fixture(params=STORES)
def source(request, tmp_path, chdb_path, monkeypatch):
    store = make_store(request.param, tmp_path, chdb_path)
    store.create()
    # the reference tests configure `[readers.events]` through `section`: point it at the store's table
    plain = reference.section
    monkeypatch.setattr(reference, "section", lambda **overrides: plain(**(store.section() | overrides)))
    yield store
    if isinstance(store, ClickHouseTable):
        store.drop()


def hour_10_and_11() -> list[tuple]:
    return [
        ("signup", at("2026-11-20 09:59:59.999"), 1, 1.0),  # before --since
        ("signup", at("2026-11-20 10:00:00"), 1, 2.0),
        ("signup", at("2026-11-20 10:59:59.999"), 2, 3.0),
        ("signup", at("2026-11-20 11:00:00"), 3, 4.0),
        ("signup", at("2026-11-20 11:59:59.999"), 3, 5.0),
        ("signup", at("2026-11-20 12:00:00"), 4, 6.0),  # --until is exclusive
    ]


# percentiles as numpy's to the last bit or two (DuckDB: 2.9000000000000004)
EXPECTED_10_AND_11 = {
    (NOV20, 10): {
        "events.signup.count": 2,
        "events.signup.users": 2,
        "events.signup.duration.p50": pytest.approx(2.5),
        "events.signup.duration.p90": pytest.approx(2.9),
        "events.signup.duration.p99": pytest.approx(2.99),
        "events.signup.duration.max": 3.0,
    },
    (NOV20, 11): {
        "events.signup.count": 2,
        "events.signup.users": 1,
        "events.signup.duration.p50": pytest.approx(4.5),
        "events.signup.duration.p90": pytest.approx(4.9),
        "events.signup.duration.p99": pytest.approx(4.99),
        "events.signup.duration.max": 5.0,
    },
}


def test_hour_boundaries_are_utc_hours(source):
    source.insert(hour_10_and_11())
    hourly, _ = split(read(source.url, backfill("2026-11-20T10:00", "2026-11-20T12:00")))
    assert hourly == EXPECTED_10_AND_11


def test_hour_boundaries_on_a_naive_duckdb_timestamp(tmp_path, chdb_path, monkeypatch):
    store = make_store("duckdb", tmp_path, chdb_path, time_type="TIMESTAMP")
    store.create()
    store.insert(hour_10_and_11())
    hourly, _ = split(read(store.url, backfill("2026-11-20T10:00", "2026-11-20T12:00")))
    assert hourly == EXPECTED_10_AND_11


def test_hour_boundaries_on_a_clickhouse_column_in_another_time_zone(chdb_path):
    store = ClickHouseTable(chdb_path)
    try:  # the column is displayed in Kolkata time (UTC+5:30): hours and days must still be UTC
        store.run(
            f"CREATE TABLE {store.database}.events (name String, created_at DateTime64(3, 'Asia/Kolkata'), "
            "user_id Nullable(Int32), duration_ms Nullable(Float64)) ENGINE = MergeTree ORDER BY created_at"
        )
        values = ", ".join(
            f"('{n}', toDateTime64('{t:%Y-%m-%d %H:%M:%S.%f}', 3, 'UTC'), {u}, {d})" for n, t, u, d in hour_10_and_11()
        )
        store.run(f"INSERT INTO {store.database}.events VALUES {values}")
        hourly, daily = split(read(store.url, backfill("2026-11-20T10:00", "2026-11-20T12:00")))
    finally:
        store.drop()
    assert hourly == EXPECTED_10_AND_11
    assert daily[NOV20]["events.signup.users"] == 4


def test_decimal_durations_are_not_truncated(tmp_path, chdb_path):
    # DuckDB's percentile_cont over DECIMAL(10, 3) answers a DECIMAL(10, 3): 2.99598 would come back as 2.995
    store = make_store("duckdb", tmp_path, chdb_path)
    store.create(duration_type="DECIMAL(10, 3)")
    store.insert([("signup", at("2026-11-20 10:10:00"), 1, Decimal("2.5"))])
    store.insert([("signup", at("2026-11-20 10:20:00"), 2, Decimal("3.001"))])
    hourly, _ = split(read(store.url, backfill("2026-11-20T10:00", "2026-11-20T11:00")))
    metrics = hourly[(NOV20, 10)]
    assert metrics["events.signup.duration.p99"] == pytest.approx(2.5 + 0.501 * 0.99, rel=1e-12)
    assert metrics["events.signup.duration.p50"] == pytest.approx(2.7505, rel=1e-12)
    assert float(metrics["events.signup.duration.max"]) == 3.001  # a Decimal, as PostgreSQL's numeric


# ── bad input: one clear line each ───────────────────────────────────────────────────────────


def read_error(url: str, **overrides) -> str:
    with pytest.raises(SourceError) as info:
        read(url, backfill("2026-11-20T10:00", "2026-11-20T12:00"), **overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_a_parquet_path_needs_a_duckdb_source():
    with pytest.raises(ConfigError) as info:
        reference.configure("postgresql://app@db/app", table="/data/events")
    assert str(info.value) == (
        "readers.events.table: '/data/events' is a path: Parquet files are read through a DuckDB source "
        '(url = "duckdb:///:memory:")'
    )
    settings, _ = reference.configure("duckdb:///:memory:", table="/data/events/*.parquet")
    assert settings.table == "/data/events/*.parquet"


def test_a_missing_parquet_folder(tmp_path):
    message = read_error("duckdb:///:memory:", table=str(tmp_path / "nowhere"))
    assert message.endswith(f"readers.events.table: Parquet folder or file '{tmp_path / 'nowhere'}' does not exist")
    (tmp_path / "empty").mkdir()
    message = read_error("duckdb:///:memory:", table=str(tmp_path / "empty"))
    assert message.endswith(f"readers.events.table: no Parquet files in '{tmp_path / 'empty'}'")


def test_a_partition_with_another_schema_names_its_file(tmp_path, chdb_path):
    store = ParquetFolder(tmp_path)
    store.create()
    store.insert(hour_10_and_11()[:3])
    odd = store.folder / "day=2026-11-20" / "odd.parquet"  # sorts after the sink's files: not the schema's model
    with duckdb.connect() as connection:
        connection.execute(
            "COPY (SELECT 'signup' AS name, TIMESTAMPTZ '2026-11-20 11:00:00+00' AS created_at, '7' AS user_id, "
            f"'slow' AS duration_ms) TO '{odd}' (FORMAT parquet)"
        )
    message = read_error(store.url, table=str(store.folder))
    assert message.startswith("source 'app' (duckdb:///")
    assert "hourly aggregates of" in message and f'"{odd}"' in message and '"duration_ms"' in message


@pytest.mark.parametrize("kind", STORES)
def test_a_non_numeric_duration_column(kind, tmp_path, chdb_path):
    store = make_store(kind, tmp_path, chdb_path)
    try:
        if kind == "duckdb":
            store.create(duration_type="VARCHAR")
            store.insert([("signup", at("2026-11-20 10:10:00"), 1, "12")])  # numeric text: a wrong max, were it read
        elif kind == "parquet":
            store.create()
            with duckdb.connect() as connection:
                (store.folder / "day=2026-11-20").mkdir()
                connection.execute(
                    "COPY (SELECT 'signup' AS name, TIMESTAMPTZ '2026-11-20 10:00:00+00' AS created_at, "
                    f"'7' AS user_id, '12' AS duration_ms) TO '{store.folder}/day=2026-11-20/a.parquet'"
                )
        else:
            store.run(
                f"CREATE TABLE {store.database}.events (name String, created_at DateTime64(3, 'UTC'), "
                "user_id Nullable(String), duration_ms String) ENGINE = MergeTree ORDER BY created_at"
            )
        message = read_error(store.url, **store.section())
    finally:
        if kind == "clickhouse":
            store.drop()
    shown = {"duckdb": "table 'events'", "parquet": f"Parquet '{tmp_path / 'events'}'", "clickhouse": "table 'events'"}
    spelled = {"duckdb": "VARCHAR", "parquet": "VARCHAR", "clickhouse": "String"}
    assert message.endswith(
        f"readers.events.columns.duration: column 'duration_ms' of {shown[kind]} is {spelled[kind]}, not a number"
    )


class RefusingClickHouse(BaseHTTPRequestHandler):
    """Answers every request as a ClickHouse server refusing the user (HTTP 500, the
    `X-ClickHouse-Exception-Code` header, `Code: N. DB::Exception: …` as the body)."""

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.do_GET()

    def do_GET(self):  # noqa: N802
        body = (
            b"Code: 516. DB::Exception: reader: Authentication failed: password is incorrect, or there is no user "
            b"with such name. (AUTHENTICATION_FAILED) (version 26.9.2.1)\n"
        )
        self.send_response(500)
        self.send_header("X-ClickHouse-Exception-Code", "516")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def read_events(url: str, **source) -> str:
    """The one line the reader fails with, reading `url` (no retries)."""
    from apercite_analytics.readers import events
    from apercite_analytics.readers.common.sources import Sources
    from apercite_analytics.store.watermarks import Watermarks

    config = {"url": url, "retries": 0} | source
    settings = parse({"sources": {"app": config}, "readers": {"events": reference.section()}})
    [node] = events.chains(settings.readers["events"], backfill("2026-11-20T10:00"))["events"]
    with Sources(settings.sources) as sources, pytest.raises(SourceError) as info:
        list(node(sources=sources, state=Watermarks()))
    assert "\n" not in str(info.value) and "s3cret" not in str(info.value)
    return str(info.value)


def test_a_clickhouse_server_that_is_down():
    port = free_port()
    message = read_events(f"clickhouse://reader:s3cret@127.0.0.1:{port}/analytics")
    assert message.startswith(f"source 'app' (clickhouse://reader:***@127.0.0.1:{port}/analytics): connecting: ")
    assert "Connection refused" in message


def test_a_clickhouse_server_that_refuses_the_user():
    server = ThreadingHTTPServer(("127.0.0.1", 0), RefusingClickHouse)
    Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        message = read_events(f"clickhouse://reader:s3cret@127.0.0.1:{port}/analytics")
    finally:
        server.shutdown()
    assert message.startswith(f"source 'app' (clickhouse://reader:***@127.0.0.1:{port}/analytics): connecting: ")
    assert "Code: 516" in message and "AUTHENTICATION_FAILED" in message


REFUSED_VIEW = (
    "CREATE VIEW {database}.events AS SELECT 'signup' AS name, toDateTime64('2026-11-20 10:30:00', 3, 'UTC') "
    "AS created_at, '1' AS user_id, toFloat64(throwIf(number = 0, 'quota for user reader exceeded')) AS duration_ms "
    "FROM numbers(1)"
)


def test_a_clickhouse_query_refused_by_the_server(chdb_path):
    store = ClickHouseTable(chdb_path)
    try:  # a view whose reading fails on the server, as a quota or a row policy would
        store.run(REFUSED_VIEW.format(database=store.database))
        message = read_events(store.url)
    finally:
        store.drop()
    assert message.startswith("source 'app' (clickhouse:///")
    assert "hourly aggregates of 'events': " in message and "quota for user reader exceeded" in message


def bad_events_source(case: str, tmp_path: Path, chdb_path: Path) -> tuple[dict, dict]:
    """A `[sources.lake]` and `[readers.events]` that fail in the way `case` says."""
    lake = {"url": "duckdb:///:memory:"}
    if case == "missing folder":
        return lake, {"source": "lake", "table": str(tmp_path / "nowhere")}
    if case == "clickhouse down":
        return {"url": f"clickhouse://reader@127.0.0.1:{free_port()}/analytics", "retries": 0}, {"source": "lake"}
    if case == "clickhouse refuses":
        store = ClickHouseTable(chdb_path)
        store.run(REFUSED_VIEW.format(database=store.database))
        return {"url": store.url}, {"source": "lake", "columns": {"duration": "duration_ms"}}
    store = ParquetFolder(tmp_path)
    store.create()
    store.insert(hour_10_and_11())
    duration = "'12'" if case == "text duration" else "'slow'"
    name = "0.parquet" if case == "text duration" else "z.parquet"  # DuckDB takes the schema from the first file
    with duckdb.connect() as connection:
        connection.execute(
            "COPY (SELECT 'signup' AS name, TIMESTAMPTZ '2026-11-20 10:00:00+00' AS created_at, '7' AS user_id, "
            f"{duration} AS duration_ms) TO '{store.folder}/day=2026-11-20/{name}'"
        )
    return lake, {"source": "lake", "table": str(store.folder), "columns": {"duration": "duration_ms"}}


@pytest.mark.parametrize(
    "case", ["missing folder", "other schema", "text duration", "clickhouse down", "clickhouse refuses"]
)
def test_bad_events_input_fails_that_reader_only(case, tmp_path, sqlite_url, chdb_path):
    lake, section = bad_events_source(case, tmp_path, chdb_path)
    config = parse(
        {
            "store": {"url": sqlite_url},
            "sources": {"lake": lake, "app": {"url": f"sqlite:///{tmp_path / 'app.db'}"}},
            "readers": {
                "events": section,
                "sql": {
                    "queries": {"signups": {"source": "app", "sql": "SELECT '2026-11-20 10:00:00' AS time, 3 AS n"}}
                },
            },
        }
    )
    sqlite3.connect(tmp_path / "app.db").close()  # an empty database: the query needs no table
    result = job.execute(config, ["events", "sql"], Window(now=reference.NOW), write=True)
    assert not result.ok
    [failure] = result.failures
    assert failure.startswith("events: source 'lake' (") and "\n" not in failure
    engine = store.open_engine(sqlite_url)
    try:
        assert stored(engine, daily=False) == {("signups.n", NOV20, 10): 3}
    finally:
        engine.dispose()


# ── moving events: PostgreSQL → Parquet (`events export`) ────────────────────────────────────


def test_exported_parquet_reads_as_the_postgresql_table(request, tmp_path, capsys):
    source = reference.make_source(request, "postgresql", tmp_path)
    source.create()
    rows = reference.random_events(7, at("2026-11-17 00:00:00"), hours=3 * 24 + 15, per_hour=12)
    source.insert(rows)
    out = tmp_path / "lake"
    out.mkdir()
    config = tmp_path / "analytics.toml"
    config.write_text(
        f'[sources.app]\nurl = "{source.url}"\n'
        '[readers.events]\nsource = "app"\ncolumns = { duration = "duration_ms" }\n'
    )
    command = ["events", "export", "-c", str(config), "--since", "2026-11-17", "--until", "2026-11-20T15:00"]
    assert cli.main([*command, "--out", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == [f"day=2026-11-{d}" for d in (17, 18, 19, 20)]  # all the rows
    window = backfill("2026-11-19T00:00", "2026-11-20T15:00")
    from_postgresql = split(read(source.url, window))
    from_parquet = split(read("duckdb:///:memory:", window, table=str(out)))
    assert sum(len(m) for m in from_postgresql[0].values()) > 200
    for parquet, postgresql in zip(from_parquet, from_postgresql, strict=True):
        reference.assert_close(parquet, postgresql)
    # exporting a day twice would count its events twice: refused, naming the folder
    capsys.readouterr()
    assert cli.main([*command, "--out", str(out)]) == 1
    [line] = capsys.readouterr().err.splitlines()
    assert line.endswith(
        f"events export: {out / 'day=2026-11-17'} already holds Parquet files: remove them to export that day again"
    )
