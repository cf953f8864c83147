"""The small things a newcomer met in the first hour, each fixed and kept fixed: secrets from files,
`db current` on a missing store, the missing-driver hint, `metrics sync` saying what it did."""

from __future__ import annotations

import sys

import pytest

from apercite_analytics.cli import main as cli
from apercite_analytics.config import load as config
from apercite_analytics.config.secrets import scrub
from apercite_analytics.dictionary import definitions
from apercite_analytics.errors import ConfigError


def test_secret_from_a_file_relative_to_the_config_and_masked(tmp_path, monkeypatch, capsys):
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets/db_password").write_text("f1le-s3cret\n")  # as `echo … >` writes it
    monkeypatch.setenv("APP_USER", "app")
    cfg = tmp_path / "analytics.toml"
    cfg.write_text(
        '[store]\nurl = "sqlite:///store.db"\n'
        '[sources.app]\nurl = "postgresql://${APP_USER}:${file:secrets/db_password}@127.0.0.1:1/app"\n'
        "connect_timeout = 1\nretries = 0\n"
        '[readers.objects]\nsource = "app"\ntables = ["users"]\n'
    )
    settings = config.load(str(cfg))
    assert settings.sources["app"].url == "postgresql://app:f1le-s3cret@127.0.0.1:1/app"  # no trailing newline
    assert scrub("said f1le-s3cret") == "said ***"
    monkeypatch.chdir(tmp_path.parent)  # the path is relative to the config file, not the working directory
    assert cli.main(["read", "all", "--write", "-c", str(cfg)]) == 1
    err = capsys.readouterr().err
    assert "f1le-s3cret" not in err and "postgresql://app:***@127.0.0.1:1/app" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "store.url: secret file {path}: cannot read: No such file or directory"),
        ("\n", "store.url: secret file {path} is empty"),
    ],
)
def test_secret_file_errors_name_the_key_and_the_file(tmp_path, content, message):
    path = tmp_path / "pw"
    if content is not None:
        path.write_text(content)
    cfg = tmp_path / "analytics.toml"
    cfg.write_text(f'[store]\nurl = "postgresql://u:${{file:{path}}}@db/x"\n')
    with pytest.raises(ConfigError) as info:
        config.load(str(cfg))
    assert str(info.value) == f"{cfg}: " + message.format(path=path)


def test_db_current_never_creates_a_store(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["db", "current", "--url", "sqlite:///nope.db"]) == 0
    assert capsys.readouterr().out == "no store: nope.db does not exist (`db upgrade` or `read --write` creates it)\n"
    assert list(tmp_path.iterdir()) == []


def test_a_missing_driver_names_the_extra_to_install(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pymysql", None)  # as if the [mysql] extra were not installed
    cfg = tmp_path / "analytics.toml"
    cfg.write_text(
        '[store]\nurl = "sqlite:///store.db"\n[sources.shop]\nurl = "mariadb://reader:pw-123456@127.0.0.1/shop"\n'
        '[readers.objects]\nsource = "shop"\ntables = ["orders"]\n'
    )
    assert cli.main(["read", "objects", "-c", str(cfg)]) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert errors == [
        "error: objects: source 'shop' (mariadb://reader:***@127.0.0.1/shop): the database driver pymysql is not "
        "installed: pip install 'apercite-analytics[mysql]'"
    ]


def test_metrics_sync_says_what_it_did(tmp_path, capsys):
    assert cli.main(["init", str(tmp_path)]) == 0
    cfg = str(tmp_path / "analytics.toml")
    capsys.readouterr()
    assert cli.main(["metrics", "sync", "-c", cfg]) == 0
    first = capsys.readouterr().err
    count = len(definitions.load(tmp_path / "metrics")[0])  # the YAML's keys and the defined events' metrics
    assert f"dictionary: {count} definitions ({count} changed), 0 metrics described, from {tmp_path}/metrics" in first
    assert cli.main(["metrics", "sync", "-c", cfg]) == 0
    again = capsys.readouterr().err
    assert f"dictionary: {count} definitions (0 changed)" in again and "the store was already up to date" in again
