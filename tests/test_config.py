"""The config loader: TOML, ${ENV} interpolation, typed sections, errors that name file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from apercite_analytics.config import load as config
from apercite_analytics.config.secrets import scrub
from apercite_analytics.config.settings import SourceSettings, StoreSettings
from apercite_analytics.errors import ConfigError
from apercite_analytics.readers import available

EXAMPLES = Path(__file__).parent.parent / "examples"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "analytics.toml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(tmp_path: Path, text: str, env: dict | None = None, monkeypatch=None) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        config.load(str(path))
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message[len(f"{path}: ") :]


def test_full_config_with_interpolation(tmp_path, monkeypatch):
    monkeypatch.setenv("PG_PASSWORD", "hunter22")
    monkeypatch.setenv("PG_HOST", "db.internal")
    path = write(
        tmp_path,
        """
[store]
url = "postgresql://etl:${PG_PASSWORD}@${PG_HOST}/metrics"
batch_size = 1000

[sources.website]
url = "sqlite:///site.db"
connect_timeout = 3

[readers.objects]
source = "website"
tables = ["users", "crm.accounts"]
""",
    )
    settings = config.load(str(path))
    assert settings.store == StoreSettings(url="postgresql://etl:hunter22@db.internal/metrics", batch_size=1000)
    # a relative SQLite file is relative to the config file's folder, like every file setting
    assert settings.sources == {"website": SourceSettings(url=f"sqlite:///{tmp_path}/site.db", connect_timeout=3.0)}
    assert settings.readers["objects"].tables == ["users", "crm.accounts"]
    assert settings.path == path
    # the password is now a secret: scrubbed from anything we print
    assert scrub("failed: hunter22 was refused") == "failed: *** was refused"


def test_defaults_and_env_default_syntax(tmp_path, monkeypatch):
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    path = write(
        tmp_path, '[store]\nurl = "${NOT_SET_ANYWHERE:-sqlite:///x.db}"\n[sources.a]\nurl = "sqlite:///$$a.db"\n'
    )
    settings = config.load(str(path))
    assert settings.store.url == f"sqlite:///{tmp_path}/x.db"
    assert settings.store.batch_size == 5000
    assert settings.sources["a"].url == f"sqlite:///{tmp_path}/$a.db"
    assert settings.readers == {}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[store]\nurl = "${MISSING_VAR_X}"\n', "store.url: environment variable MISSING_VAR_X is not set"),
        (
            "[stor]\n",
            "stor: unknown section (known: collector, dictionary, monitoring, readers, report, run, sources, store)",
        ),
        (
            '[store]\nurl = "sqlite://"\nbatchsize = 3\n',
            "store.batchsize: unknown key (known: batch_size, lock_wait, url)",
        ),
        ('[store]\nbatch_size = "big"\n', "store.batch_size: expected an integer, got a string ('big')"),
        ("[store]\nbatch_size = true\n", "store.batch_size: expected an integer, got a boolean (True)"),
        ("[store]\nbatch_size = 0\n", "store.batch_size: must be between 1 and 1000000, got 0"),
        ('[store]\nurl = "not a url"\n', "store.url: not a database URL"),
        ("[sources.web]\nconnect_timeout = 2\n", "sources.web.url: missing required key"),
        ('[sources.Web]\nurl = "sqlite://"\n', "sources.Web: name 'Web' must be lowercase"),
        ('[sources.web]\nurl = "sqlite://"\nconnect_timeout = -1\n', "sources.web.connect_timeout: must be a positive"),
        ('sources = "x"\n', "sources: expected a table, got a string ('x')"),
        ("[readers.nope]\n", f"readers.nope: unknown reader (known: {', '.join(sorted(available()))})"),
        ('[readers.objects]\ntables = ["users"]\n', "readers.objects.source: missing required key"),
        (
            '[readers.objects]\nsource = "web"\ntables = ["users"]\n',
            "readers.objects.source: unknown source 'web' (sources: none defined)",
        ),
        (
            '[sources.web]\nurl = "sqlite://"\n[readers.objects]\nsource = "web"\ntables = "users"\n',
            "readers.objects.tables: expected a list, got a string ('users')",
        ),
        (
            '[sources.web]\nurl = "sqlite://"\n[readers.objects]\nsource = "web"\ntables = [1]\n',
            "readers.objects.tables[0]: expected a string, got an integer (1)",
        ),
        (
            '[sources.web]\nurl = "sqlite://"\n[readers.objects]\nsource = "web"\ntables = ["a.b.c"]\n',
            "readers.objects.tables[0]: 'a.b.c' is not a table name",
        ),
        (
            '[sources.web]\nurl = "sqlite://"\n[readers.objects]\nsource = "web"\ntables = []\n',
            "readers.objects.tables: list at least one table",
        ),
        (
            '[sources.web]\nurl = "sqlite://"\n[readers.objects]\nsource = "web"\n'
            '[readers.objects.tables]\n"Bad Name" = "users"\n',
            "readers.objects.tables.Bad Name: name 'Bad Name' must be lowercase",
        ),
        (
            '[sources.web]\nurl = "sqlite://"\n[readers.objects]\nsource = "web"\ntables = ["a.users", "b.users"]\n',
            "readers.objects.tables: two tables give the same metric name",
        ),
        ("[store\n", "invalid TOML: "),
    ],
)
def test_errors_name_the_key(tmp_path, monkeypatch, text, expected):
    monkeypatch.delenv("MISSING_VAR_X", raising=False)
    assert expected in error_of(tmp_path, text)


def test_missing_files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("APERCITE_CONFIG", raising=False)
    with pytest.raises(ConfigError, match=r"^analytics.toml: config file not found \(pass --config"):
        config.load(None)
    assert config.load(None, required=False) == config.Settings()
    monkeypatch.setenv("APERCITE_CONFIG", str(tmp_path / "elsewhere.toml"))
    with pytest.raises(ConfigError, match="elsewhere.toml: config file not found$"):
        config.load(None, required=False)


def test_env_var_names_the_config_file(tmp_path, monkeypatch):
    path = write(tmp_path, '[store]\nurl = "sqlite:///from-env.db"\n')
    monkeypatch.setenv("APERCITE_CONFIG", str(path))
    assert config.load(None).store.url == f"sqlite:///{tmp_path}/from-env.db"
    # --config wins over the environment
    other = tmp_path / "other.toml"
    other.write_text('[store]\nurl = "sqlite:///from-cli.db"\n')
    assert config.load(str(other)).store.url == f"sqlite:///{tmp_path}/from-cli.db"


def test_example_config_is_valid(monkeypatch):
    for name in ("ANALYTICS_DB_PASSWORD", "APP_DB_PASSWORD"):
        monkeypatch.setenv(name, "example-secret")
    settings = config.load(str(EXAMPLES / "analytics.toml"))
    assert set(settings.readers) == {"objects", "sql", "google_analytics", "prometheus", "json", "events", "spiders"}
    assert settings.dictionary.path == str(EXAMPLES / "../metrics")  # the shipped dictionary, relative to examples/
    assert settings.store.url.startswith("postgresql://")
    assert settings.collector.key_file == "/etc/apercite/events.key" and settings.collector.port == 8787
    assert settings.report.smtp_host == "smtp.example.com" and settings.report.port == 587


SOURCE = '[sources.web]\nurl = "sqlite://"\n'
PROMETHEUS = (
    '[readers.prometheus]\nurl = "http://p:9090"\n{}\n[readers.prometheus.queries.q]\nexpr = "up"\nmetric = "up"\n'
)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (SOURCE + "query_timeout = nan\n", "sources.web.query_timeout"),
        (SOURCE + "query_timeout = inf\n", "sources.web.query_timeout"),
        (SOURCE + "query_timeout = 0.0004\n", "sources.web.query_timeout"),  # 0 ms: "no limit" to PostgreSQL
        (SOURCE + "connect_timeout = -inf\n", "sources.web.connect_timeout"),
        (SOURCE + "backoff = nan\n", "sources.web.backoff"),
        (SOURCE + "max_backoff = inf\n", "sources.web.max_backoff"),
        ("[store]\nlock_wait = nan\n", "store.lock_wait"),
        ("[run]\ndeadline = 0\n", "run.deadline"),
        ("[run]\ndeadline = inf\n", "run.deadline"),
        ('[readers.json.documents.d]\nurl = "http://x/"\ntimeout = nan\n', "readers.json.documents.d.timeout"),
        (PROMETHEUS.format("timeout = nan"), "readers.prometheus.timeout"),
        (PROMETHEUS.format("connect_timeout = 0.0004"), "readers.prometheus.connect_timeout"),
    ],
)
def test_timeouts_must_be_finite_and_at_least_a_millisecond(tmp_path, text, key):
    message = error_of(tmp_path, text)
    assert message.startswith(f"{key}: must be ") and "at most" in message, message


def test_timeouts_of_a_millisecond_and_zero_waits_are_accepted(tmp_path):
    settings = config.load(str(write(tmp_path, SOURCE + "query_timeout = 0.001\n[store]\nlock_wait = 0\n")))
    assert settings.sources["web"].query_timeout == 0.001 and settings.store.lock_wait == 0
    assert settings.run.deadline == 3000  # the default: below the hour
