"""The metrics dictionary: YAML schema, errors naming file, line and key, patterns and their precedence."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from apercite_analytics.config.load import parse
from apercite_analytics.dictionary import definitions as dictionary
from apercite_analytics.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent

GOOD = """\
key: app.signups
description: New accounts.
unit: users
value_type: integer
aggregation: sum
time_frame: 1h
owner: growth
data_source: sql
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def errors_of(tmp_path: Path, text: str, name: str = "m.yaml") -> list[str]:
    write(tmp_path, name, text)
    _, errors = dictionary.load(tmp_path)
    return errors


def test_the_shipped_dictionary_is_valid_and_covers_the_project_metrics():
    metrics, errors = dictionary.load(ROOT / "metrics")
    assert errors == []
    names = {
        "objects.users.count": "objects.*.count",
        "events.login.count": "events.*.count",
        "events.login.users": "events.*.users",
        "events.login.users.7d": "events.*.users.7d",
        "events.login.users.28d": "events.*.users.28d",
        "events.signup.count": "events.signup.count",  # a defined event (tracked_events.yaml): its own
        "collector.events.accepted": "collector.events.accepted",
        "events.render.duration.p99": "events.*.duration.p99",
        "spider.active": "spider.active",
        "ga.sessions": "ga.sessions",
        "ga.sessions.organic_search": "ga.sessions.*",
        "ga.active_users": "ga.active_users",
        "http.requests.200": "http.requests.*",
        "http.errors.5xx": "http.errors.5xx",
        "http.latency.p90": "http.latency.p90",
        "etl.run.seconds": "etl.run.seconds",
        "etl.reader.sql.ok": "etl.reader.*.ok",
        "app.signups.free": "app.signups.*",
        "app.users.activated": "app.users.activated",
    }
    assert {name: getattr(metrics.match(name), "key", None) for name in names} == names
    assert metrics.match("events.signup.users").aggregation == "none"  # distinct users never add up


def test_file_forms_defaults_and_dates(tmp_path):
    write(tmp_path, "one.yaml", GOOD)
    write(
        tmp_path,
        "group/two.yml",
        """\
defaults: {owner: platform, data_source: objects, unit: rows, value_type: integer, time_frame: all}
metrics:
  - {key: objects.*.count, description: Rows., aggregation: last, introduced: 2026-11-01}
  - {key: old.thing, description: Gone., aggregation: sum, status: removed, removed: "2026-10-01"}
""",
    )
    write(tmp_path, "list.yaml", "- " + GOOD.replace("\n", "\n  ").replace("app.signups", "app.logins"))
    write(tmp_path, "notes.txt", "not yaml: [")
    metrics, errors = dictionary.load(tmp_path)
    assert errors == []
    assert [d.key for d in metrics] == ["app.logins", "app.signups", "objects.*.count", "old.thing"]
    count = metrics.get("objects.*.count")
    assert (count.owner, count.unit, count.introduced, count.status) == (
        "platform",
        "rows",
        date(2026, 11, 1),
        "active",
    )
    assert count.where == f"{tmp_path}/group/two.yml:3"
    assert metrics.get("old.thing").removed == date(2026, 10, 1)
    assert metrics.files == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (GOOD.replace("aggregation: sum", "aggregation: total"), "m.yaml:5: app.signups: aggregation: must be one of"),
        (GOOD.replace("time_frame: 1h", "time_frame: 2h"), "m.yaml:6: app.signups: time_frame: must be one of"),
        (GOOD.replace("value_type: integer", "value_type: text"), "m.yaml:4: app.signups: value_type: must be one of"),
        (GOOD.replace("unit: users", "unit: 5"), "m.yaml:3: app.signups: unit: expected a string, got an integer (5)"),
        (
            GOOD.replace("description: New accounts.\n", ""),
            "m.yaml:1: app.signups: missing required field 'description'",
        ),
        (GOOD.replace("owner: growth\n", ""), "m.yaml:1: app.signups: missing 'owner' or 'product_group'"),
        (GOOD + "colour: blue\n", "m.yaml:9: app.signups: colour: unknown field (known: key, description,"),
        (GOOD + "status: retired\n", "m.yaml:9: app.signups: status: must be one of active, deprecated, removed"),
        (GOOD + "status: removed\n", "m.yaml:9: app.signups: status: a removed metric needs a `removed` date"),
        (GOOD + "removed: 2026-01-01\n", "m.yaml:9: app.signups: removed: set on an active metric"),
        (GOOD + "introduced: 2026-13-01\n", "m.yaml:9: invalid YAML"),  # YAML's own date resolver declines: string
        (GOOD + "introduced: soon\n", "m.yaml:9: app.signups: introduced: 'soon' is not a date (YYYY-MM-DD)"),
        (
            GOOD + "status: deprecated\nintroduced: 2026-05-01\nremoved: 2026-04-01\n",
            "m.yaml:11: app.signups: removed: 2026-04-01 is before introduced (2026-05-01)",
        ),
        (GOOD.replace("key: app.signups", "key: App.Signups"), "m.yaml:1: App.Signups: key: 'App.Signups' is not a"),
        (GOOD.replace("key: app.signups", "key: app.sign*"), "m.yaml:1: app.sign*: key: 'app.sign*' is not a"),
        (GOOD.replace("key: app.signups\n", ""), "m.yaml:1: entry 1: missing required field 'key'"),
        (GOOD + "unit: again\n", "m.yaml:9: invalid YAML: duplicate field 'unit'"),
        ("key: [unclosed\n", "m.yaml:2: invalid YAML"),
        ("just a string\n", "m.yaml: expected a definition, a list of definitions"),
        ("metrics: {key: x}\n", "m.yaml:1: metrics: expected a list of definitions"),
        ("defaults: {key: x}\nmetrics: []\n", "m.yaml:1: defaults: unknown field(s) key"),
    ],
)
def test_schema_errors_name_file_line_key_and_field(tmp_path, text, expected):
    errors = errors_of(tmp_path, text)
    assert len(errors) >= 1, text
    assert errors[0].startswith(f"{tmp_path}/{expected}"), errors


def test_every_problem_is_reported_and_good_definitions_still_load(tmp_path):
    write(
        tmp_path,
        "m.yaml",
        """\
- {key: a.one, description: x, unit: u, value_type: integer, aggregation: avg, time_frame: 1h, owner: o,
    data_source: s}
- {key: a.two, description: x, unit: u, value_type: integer, aggregation: bad, time_frame: 9d, owner: o,
    data_source: s}
""",
    )
    metrics, errors = dictionary.load(tmp_path)
    assert [d.key for d in metrics] == ["a.one"]
    assert errors == [
        f"{tmp_path}/m.yaml:3: a.two: aggregation: must be one of sum, last, max, min, avg, none, got 'bad'",
        f"{tmp_path}/m.yaml:3: a.two: time_frame: must be one of 1h, 1d, 7d, 28d, all, got '9d'",
    ]


def test_duplicate_keys_across_files(tmp_path):
    write(tmp_path, "a.yaml", GOOD)
    write(tmp_path, "b.yaml", "# the same key again\n" + GOOD)
    _, errors = dictionary.load(tmp_path)
    assert errors == [f"{tmp_path}/b.yaml:2: app.signups: key already defined at {tmp_path}/a.yaml:1"]


def test_star_is_exactly_one_part_and_the_most_specific_key_wins():
    define = lambda key: dictionary.Definition(key, "d", "u", "number", "sum", "1h", "s", owner="o")  # noqa: E731
    metrics = dictionary.Dictionary(
        [define(k) for k in ("events.*.count", "events.signup.*", "events.*.*", "events.signup.count.*", "ga.sessions")]
    )
    key = lambda name: getattr(metrics.match(name), "key", None)  # noqa: E731
    assert key("events.login.count") == "events.*.count"
    assert key("events.signup.count") == "events.signup.*"  # a literal part on the left beats `*`
    assert key("events.login.users") == "events.*.*"
    assert key("events.count") is None  # `*` is one part, never zero
    assert key("events.a.b.count") is None  # nor several
    assert key("events.signup.count.p50") == "events.signup.count.*"
    assert key("ga.sessions") == "ga.sessions"
    assert key("ga.sessions.organic") is None


def test_config_section_and_errors(tmp_path):
    config = tmp_path / "conf" / "analytics.toml"
    config.parent.mkdir()
    settings = parse({"dictionary": {"path": "defs"}}, path=config)
    assert dictionary.folder_of(settings) == tmp_path / "conf" / "defs"
    assert parse({}).dictionary is None and dictionary.configured(parse({})) is None
    with pytest.raises(ConfigError, match=r"^dictionary.pth: unknown key \(known: path\)$"):
        parse({"dictionary": {"pth": "x"}})
    with pytest.raises(ConfigError, match="dictionary.path: .*defs is not a folder"):
        dictionary.configured(settings)
    write(tmp_path / "conf" / "defs", "a.yaml", GOOD.replace("sum", "total"))
    write(tmp_path / "conf" / "defs", "b.yaml", GOOD.replace("1h", "2h").replace("app.signups", "b.c"))
    with pytest.raises(ConfigError) as info:
        dictionary.configured(settings)
    assert str(info.value) == (
        f"{tmp_path}/conf/defs/a.yaml:5: app.signups: aggregation: must be one of sum, last, max, min, avg, none, "
        "got 'total' (and 1 more: run `apercite-analytics metrics validate`)"
    )


def test_the_example_config_points_at_the_shipped_dictionary(monkeypatch):
    from apercite_analytics.config import load as config

    for name in ("ANALYTICS_DB_PASSWORD", "APP_DB_PASSWORD"):
        monkeypatch.setenv(name, "example-secret")
    settings = config.load(str(ROOT / "examples" / "analytics.toml"))
    assert [d.key for d in dictionary.configured(settings)] == [d.key for d in dictionary.load(ROOT / "metrics")[0]]
