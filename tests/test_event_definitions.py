"""Event definitions in the dictionary: the file form, problems as `file:line: name: field: message`,
`metrics validate` covering them, and the events reader's metrics of a defined event described by it."""

from __future__ import annotations

from pathlib import Path

import pytest

from apercite_analytics.cli import main as cli
from apercite_analytics.dictionary import definitions as dictionary
from apercite_analytics.dictionary.events import Property

ROOT = Path(__file__).resolve().parent.parent
PATTERNS = (ROOT / "metrics" / "events.yaml").read_text()


def folder_with(tmp_path: Path, text: str) -> Path:
    folder = tmp_path / "metrics"
    folder.mkdir(exist_ok=True)
    (folder / "events.yaml").write_text(PATTERNS)
    (folder / "tracked.yaml").write_text(text)
    return folder


GOOD = """\
defaults:
  owner: growth
events:
  - name: signup
    description: A new account was created.
    properties:
      plan: {type: string, keep: true}
      referrer: string
      seats: {type: integer}
      ratio: number
      trial: {type: boolean}
  - name: render
    description: A page was rendered
    owner: platform
    duration: true
"""


def test_events_load_with_their_properties_and_privacy_defaults(tmp_path):
    metrics, errors = dictionary.load(folder_with(tmp_path, GOOD))
    assert errors == []
    signup, render = metrics.events["signup"], metrics.events["render"]
    assert signup.owner == "growth" and not signup.duration and signup.where.endswith("tracked.yaml:4")
    assert dict(signup.properties) == {
        "plan": Property("string", keep=True),
        "referrer": Property("string", keep=False),  # text is pseudonymized unless kept
        "seats": Property("integer", keep=False),
        "ratio": Property("number", keep=True),  # a hash of a number would mean nothing
        "trial": Property("boolean", keep=True),
    }
    assert render.owner == "platform" and render.duration and render.properties == {}


def test_a_defined_events_reader_metrics_get_their_definitions_from_it(tmp_path):
    metrics, _ = dictionary.load(folder_with(tmp_path, GOOD))
    count = metrics.match("events.signup.count")
    assert count.key == "events.signup.count" and count.owner == "growth" and count.aggregation == "sum"
    assert count.description.startswith("A new account was created. — Events of this name")
    assert count.where.endswith("tracked.yaml:4")
    assert metrics.match("events.signup.users.28d").key == "events.signup.users.28d"
    assert metrics.match("events.render.duration.p99").description.startswith("A page was rendered. — 99th")
    assert metrics.match("events.signup.duration.p99").key == "events.*.duration.p99"  # signup has no duration
    assert metrics.match("events.other.count").key == "events.*.count"  # not defined: the pattern


def test_an_explicit_metric_definition_wins_over_the_derived_one(tmp_path):
    folder = folder_with(tmp_path, GOOD)
    (folder / "own.yaml").write_text(
        "key: events.signup.count\ndescription: Ours.\nunit: signups\nvalue_type: integer\naggregation: sum\n"
        "time_frame: 1h\ndata_source: events\nowner: sales\n"
    )
    metrics, errors = dictionary.load(folder)
    assert errors == [] and metrics.match("events.signup.count").description == "Ours."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "events:\n  - name: Sign Up\n    description: x\n    owner: a\n",
            "tracked.yaml:2: Sign Up: name: 'Sign Up' is not an event name",
        ),
        ("events:\n  - name: a\n    owner: b\n", "tracked.yaml:2: a: missing required field 'description'"),
        ("events:\n  - name: a\n    description: x\n", "tracked.yaml:2: a: missing required field 'owner'"),
        (
            "events:\n  - name: a\n    description: x\n    owner: b\n    colour: red\n",
            "tracked.yaml:5: a: colour: unknown field",
        ),
        (
            "events:\n  - name: a\n    description: x\n    owner: b\n    duration: yes please\n",
            "tracked.yaml:5: a: duration: expected true or false",
        ),
        (
            "events:\n  - name: a\n    description: x\n    owner: b\n    properties:\n      plan: {type: text}\n",
            "tracked.yaml:6: a: properties: plan: type must be one of string, integer, number, boolean, got 'text'",
        ),
        (
            "events:\n  - name: a\n    description: x\n    owner: b\n    properties:\n"
            "      n: {type: number, keep: false}\n",
            "tracked.yaml:6: a: properties: n: a number cannot be pseudonymized",
        ),
        (
            "events:\n  - name: a\n    description: x\n    owner: b\n    properties:\n      Plan: string\n",
            "tracked.yaml:6: a: properties: Plan: a property name is a-z",
        ),
        ("events: {name: a}\n", "tracked.yaml:1: events: expected a list of event definitions"),
        ("defaults: {colour: red}\nevents: []\n", "tracked.yaml:1: defaults: a mapping of owner, duration only"),
        (
            "events: []\nmetrics: []\n",
            "tracked.yaml:1: an events file holds `defaults:` and `events:` only (found metrics)",
        ),
        (
            "events:\n  - {name: a, description: x, owner: b}\n  - {name: a, description: y, owner: b}\n",
            "tracked.yaml:3: a: event already defined at",
        ),
    ],
)
def test_problems_name_file_line_event_and_field(tmp_path, text, expected):
    _, errors = dictionary.load(folder_with(tmp_path, text))
    assert len(errors) == 1 and errors[0].split("metrics/", 1)[1].startswith(expected), errors


def test_metrics_validate_covers_event_definitions(tmp_path, capsys):
    folder = folder_with(tmp_path, GOOD)
    config = tmp_path / "analytics.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "s.db"}"\n[dictionary]\npath = "{folder}"\n')
    assert cli.main(["metrics", "validate", "-c", str(config)]) == 0
    assert "and 2 events in 2 files, ok" in capsys.readouterr().err
    (folder / "tracked.yaml").write_text(GOOD.replace("trial: {type: boolean}", "trial: {type: boolean, keep: false}"))
    assert cli.main(["metrics", "validate", "-c", str(config)]) == 1
    err = capsys.readouterr().err
    assert "tracked.yaml:11: signup: properties: trial: a boolean cannot be pseudonymized" in err
