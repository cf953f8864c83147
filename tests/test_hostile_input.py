"""Hostile or careless input (issue 15, items 4, 10, 14, 15, 19, 20): a Prometheus answering samples
off the hours asked for or malformed series, a dictionary file linked to /etc/shadow, YAML
"billion laughs", deep JSON, a lock folder that cannot be used, absurd durations, a directory as
the config. Each ends in one line naming the culprit (exit 1 at run time, 2 for config), never a
traceback, and nothing wrong is stored. The fake Prometheus is a local HTTP server answering the
documented `/api/v1/query_range` shape."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from support.http_answers import AnsweringServer
from support.storeview import stored

from apercite_analytics.cli import main as cli
from apercite_analytics.dictionary import definitions as dictionary

NOV20 = date(2026, 11, 20)


def at(hour: int, minute: int = 0) -> float:
    return datetime(2026, 11, 20, hour, minute, tzinfo=UTC).timestamp()


def one_error_line(err: str) -> str:
    assert "Traceback" not in err, err
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, err
    return errors[0]


@pytest.fixture
def fake_prometheus() -> Iterator[Callable[[object], str]]:
    """Starts a fake Prometheus answering every range query with the series given (the documented
    success envelope); returns its base URL."""
    servers: list[AnsweringServer] = []

    def start(result: object) -> str:
        servers.append(AnsweringServer())
        envelope = {"status": "success", "data": {"resultType": "matrix", "result": result}}
        return servers[-1].answer("/api/v1/query_range", (200, envelope)).removesuffix("/api/v1/query_range")

    yield start
    for server in servers:
        server.close()


def prometheus_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "analytics.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "store.db"}"\n'
        f'[readers.prometheus]\nurl = "{url}"\nretries = 0\n'
        '[readers.prometheus.queries.up]\nexpr = "up"\nmetric = "app.up.{job}"\n'
    )
    return path


WINDOW = ["--since", "2026-11-20T10:00", "--until", "2026-11-20T13:00"]  # evaluated at 11:00, 12:00, 13:00


def test_prometheus_samples_off_the_hours_asked_for_are_rejected_and_counted(tmp_path, fake_prometheus, capsys):
    """Item 4: timestamps 0 and 315361234.5 were stored at 1969-12-31 23:00 and 1979-12-29 23:00, exit 0."""
    url = fake_prometheus(
        [
            {
                "metric": {"job": "api"},
                "values": [
                    [0, "7"],  # the epoch
                    [at(11), "1"],
                    [315361234.5, "7"],  # 1979, off the hour
                    [at(12), "2"],
                    [at(12, 30), "7"],  # inside the window, not a whole hour
                    [at(13), "3"],
                    [at(13) + 3600, "7"],  # a whole hour after the window
                ],
            }
        ]
    )
    config = prometheus_config(tmp_path, url)
    assert cli.main(["read", "prometheus", "--write", "-c", str(config), *WINDOW]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert line == (
        "error: prometheus.up: query 'up': 4 samples not at the whole hours asked for, rejected "
        '(first: series {job="api"} at 1970-01-01 00:00:00 UTC)'
    )
    assert stored(f"sqlite:///{tmp_path / 'store.db'}") == {
        ("app.up.api", NOV20, 10): 1.0,
        ("app.up.api", NOV20, 11): 2.0,
        ("app.up.api", NOV20, 12): 3.0,
    }


@pytest.mark.parametrize(
    ("result", "message"),
    [
        ([{"metric": "up", "values": [[1, "1"]]}], "series 1: its labels are not a mapping of strings"),
        ([{"metric": {"job": 3}, "values": [[1, "1"]]}], "series 1: its labels are not a mapping of strings"),
        ([{"metric": {}, "values": [[1]]}], "series 1: sample [1] is not a [time, value] pair"),
        ([{"metric": {}, "values": [[1, "1", "2"]]}], "series 1: sample [1, '1', '2'] is not a [time, value] pair"),
        ([{"metric": {}, "values": "1,2"}], "series 1: its values are not a list"),
        ([{"metric": {}, "values": [["soon", "1"]]}], "series 1: sample time 'soon' is not a number of seconds"),
        ([{"metric": {}, "values": [[None, "1"]]}], "series 1: sample time None is not a number of seconds"),
    ],
)
def test_malformed_prometheus_series_are_one_line(tmp_path, fake_prometheus, capsys, result, message):
    """Item 15: malformed series gave `AttributeError` and `ValueError: not enough values to unpack`."""
    for one in result:
        if isinstance(one, dict):
            one["metric"] = one["metric"] if not isinstance(one["metric"], dict) else {"job": "a", **one["metric"]}
    url = fake_prometheus(result)
    config = prometheus_config(tmp_path, url)
    assert cli.main(["read", "prometheus", "--write", "-c", str(config), *WINDOW]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(f"error: prometheus.up: query 'up': {message}"), line
    assert "Error" not in line  # no Python exception name: what is wrong, in the API's terms


def json_config(tmp_path: Path, document: Path) -> Path:
    path = tmp_path / "analytics.toml"
    path.write_text(
        f'[store]\nurl = "sqlite:///{tmp_path / "store.db"}"\n[readers.json.documents.doc]\npath = "{document}"\n'
    )
    return path


@pytest.mark.parametrize("depth", [980, 10_000])
def test_deeply_nested_json_is_one_line_naming_the_file(tmp_path, capsys, depth):
    """Item 15: 10,000 levels gave RecursionError while decoding; 980 levels in flattening, file not named."""
    document = tmp_path / "deep.json"
    document.write_text('{"a": ' * depth + "1" + "}" * depth)
    assert cli.main(["read", "json", "--write", "-c", str(json_config(tmp_path, document))]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(f"error: json.doc: {document}: ") and "nested deeper than 100 levels" in line
    assert "RecursionError" not in line


def test_a_file_where_the_lock_folder_should_be_is_one_line(tmp_path, capsys):
    """Item 15: FileExistsError in lock.py; and an unusable lock file is the same one line."""
    config = json_config(tmp_path, tmp_path / "doc.json")
    (tmp_path / "doc.json").write_text('{"users": 1}')
    (tmp_path / "store.db.locks").write_text("not a folder")
    assert cli.main(["read", "json", "--write", "-c", str(config)]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert f"{tmp_path / 'store.db.locks'} is not a folder: the run locks are kept there" in line

    (tmp_path / "store.db.locks").unlink()
    (tmp_path / "store.db.locks" / "json.lock").mkdir(parents=True)  # a folder where the lock file goes
    assert cli.main(["read", "json", "--write", "-c", str(config)]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert f"cannot take the run lock {tmp_path / 'store.db.locks' / 'json.lock'}: Is a directory" in line


def test_a_lock_folder_the_run_cannot_write_is_one_line(tmp_path):
    """Item 15: PermissionError in lock.py (a lock folder owned by another user)."""
    (tmp_path / "doc.json").write_text('{"users": 1}')
    config = json_config(tmp_path, tmp_path / "doc.json")
    locks = tmp_path / "store.db.locks"
    locks.mkdir()
    locks.chmod(0o555)
    command = [sys.executable, "-m", "apercite_analytics", "read", "json", "--write", "-c", str(config)]
    if os.geteuid() == 0:  # root ignores file modes: run it without the capabilities that let it
        drop = "-dac_override,-dac_read_search"
        command = ["setpriv", f"--inh-caps={drop}", f"--bounding-set={drop}", "--", *command]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    finally:
        locks.chmod(0o755)
    assert result.returncode == 1, result.stderr
    line = one_error_line(result.stderr)
    assert f"cannot take the run lock {locks / 'json.lock'}: Permission denied" in line


@pytest.mark.parametrize("key", ["lookback", "initial_lookback"])
def test_an_absurd_lookback_is_a_config_error(tmp_path, capsys, key):
    """Item 15: `lookback = "99999999999d"` raised OverflowError (exit 1, a traceback)."""
    config = tmp_path / "analytics.toml"
    config.write_text(
        f'[sources.app]\nurl = "sqlite:///{tmp_path / "app.db"}"\n'
        f'[readers.events]\nsource = "app"\n{key} = "99999999999d"\n'
    )
    assert cli.main(["read", "events", "-c", str(config)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line == f"error: {config}: readers.events.{key}: '99999999999d' is longer than 36500 days"


def test_sql_lookback_overflow_is_a_config_error(tmp_path, capsys):
    config = tmp_path / "analytics.toml"
    config.write_text(
        f'[sources.app]\nurl = "sqlite:///{tmp_path / "app.db"}"\n'
        '[readers.sql.queries.q]\nsource = "app"\nsql = "SELECT 1"\nlookback = "99999999999h"\n'
    )
    assert cli.main(["read", "sql", "-c", str(config)]) == 2
    assert "is longer than 36500 days" in one_error_line(capsys.readouterr().err)


@pytest.mark.parametrize("folder", ["/proc/nope", "/etc/hostname"])
def test_demo_in_a_folder_it_cannot_use_is_one_line(capsys, folder):
    """Item 15: `demo --dir /proc/nope` raised sqlite3.OperationalError."""
    assert cli.main(["demo", "--dir", folder]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line.startswith(f"error: --dir {folder}: ")


def test_a_directory_as_the_config_says_so(tmp_path, capsys):
    """Item 19: `-c some_directory` said "config file not found"."""
    assert cli.main(["read", "all", "-c", str(tmp_path)]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert line == f"error: {tmp_path}: is a directory, not a config file (name the .toml file in it)"


def test_a_column_collision_under_the_default_template_names_both_columns(tmp_path, capsys):
    """Item 20: the hint said "use {column} in the metric template", which the default already does."""
    sqlite3.connect(tmp_path / "app.db").close()
    config = tmp_path / "analytics.toml"
    config.write_text(
        f'[sources.app]\nurl = "sqlite:///{tmp_path / "app.db"}"\n'
        '[readers.sql.queries.signups]\nsource = "app"\n'
        'sql = "SELECT \'2026-11-20 10:00:00\' AS time, 1 AS \\"Paid Users\\", 2 AS paid_users"\n'
    )
    assert cli.main(["read", "sql", "-c", str(config), "--since", "2026-11-20", "--until", "2026-11-21"]) == 1
    line = one_error_line(capsys.readouterr().err)
    assert "columns 'Paid Users' and 'paid_users' both give 'signups.paid_users'" in line
    assert "both become 'paid_users': rename one in the query" in line
    assert "use {column} in the metric template" not in line


SHADOW = "root:$6$S3cretHashRoot$abcdefghijklmnop:19000:0:99999:7:::\ndaemon:*:19000:0:99999:7:::\n"
SHADOW_MAPPING = "root: $6$S3cretHashRoot$abcdefghijklmnop\nsecret_field: Hunter2ShadowLine\n"


@pytest.mark.parametrize("content", [SHADOW, SHADOW_MAPPING])
def test_a_dictionary_file_linked_outside_the_folder_is_not_read(tmp_path, content):
    """Item 10: `metrics/x.yaml -> /etc/shadow` printed its lines as "unknown field" errors."""
    outside = tmp_path / "shadow"
    outside.write_text(content)
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "x.yaml").symlink_to(outside)
    (folder / "inside.yaml").write_text(
        "key: a.b\ndescription: d\nunit: u\nvalue_type: integer\naggregation: sum\n"
        "time_frame: 1h\nowner: o\ndata_source: sql\n"
    )
    (folder / "same.yaml").symlink_to(folder / "inside.yaml")  # a link inside the folder is fine (a duplicate key)
    _, errors = dictionary.load(folder)
    assert sorted(errors) == [
        f"{folder / 'same.yaml'}:1: a.b: key already defined at {folder / 'inside.yaml'}:1",
        f"{folder / 'x.yaml'}: a link to a file outside the dictionary folder: not read",
    ]
    assert not any("S3cret" in e or "Hunter2" in e or "daemon" in e for e in errors)


def test_a_pipe_in_the_dictionary_folder_is_refused_without_waiting(tmp_path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    os.mkfifo(folder / "pipe.yaml")  # reading it would wait forever for a writer
    started = time.monotonic()
    _, errors = dictionary.load(folder)
    assert errors == [f"{folder / 'pipe.yaml'}: not a regular file: not read"]
    assert time.monotonic() - started < 5


BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
key: [*i]
"""


def test_yaml_billion_laughs_is_refused_at_once(tmp_path):
    """Item 14: 50 s and 5.5 GB before a config error (MemoryError under a 4 GB limit)."""
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "laughs.yaml").write_text(BILLION_LAUGHS)
    started = time.monotonic()
    _, errors = dictionary.load(folder)
    assert time.monotonic() - started < 5
    assert errors == [
        f"{folder / 'laughs.yaml'}:2: invalid YAML: aliases (*name) are not allowed in dictionary files: "
        "write the fields, or use `defaults:`"
    ]


def test_values_echoed_from_a_dictionary_file_are_short_and_escaped(tmp_path):
    folder = tmp_path / "metrics"
    folder.mkdir()
    long_value = "x" * 5000
    (folder / "m.yaml").write_text(
        f'key: a.b\ndescription: d\nunit: [{", ".join(["1"] * 2000)}]\nvalue_type: "{long_value}"\n'
        f'aggregation: sum\ntime_frame: 1h\nowner: o\ndata_source: sql\n"{"k" * 500}\\x1b[2J": 1\n'
    )
    _, errors = dictionary.load(folder)
    assert len(errors) == 3
    assert all(len(e) < len(str(folder)) + 300 for e in errors), errors
    assert not any("\x1b" in e for e in errors)
