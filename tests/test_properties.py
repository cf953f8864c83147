"""Property tests: the normalize node and the config loader on generated input (≥ 10,000 cases).

Whatever a reader yields or a user writes, the outcome is either accepted (and then valid) or a
counted, documented rejection / one ConfigError line naming a key — never a crash, and never a
secret in the message. And whatever a URL hides (a password, a credential query parameter,
literal or from `${NAME}`) or a name read from data holds (control characters), neither reaches
stderr, `run_log` or the monitoring textfile raw (≥ 10,000 more cases).
"""

from __future__ import annotations

import io
import json
import logging
import math
import string
import tempfile
import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from apercite_analytics.cli import main as cli
from apercite_analytics.config import load as config
from apercite_analytics.config import secrets as redact
from apercite_analytics.config.load import interpolate
from apercite_analytics.config.secrets import mask_url, scrub
from apercite_analytics.config.urls import display_url
from apercite_analytics.errors import ConfigError, SourceError
from apercite_analytics.readers import json as json_reader
from apercite_analytics.readers import objects, prometheus
from apercite_analytics.record import MAX_NAME_LENGTH, METRIC_NAME, Normalizer
from apercite_analytics.run import selfmetrics
from apercite_analytics.run.result import Reporter, RunResult
from apercite_analytics.store import runlog
from apercite_analytics.store import schema as store_schema
from apercite_analytics.store.models import RunLog
from apercite_analytics.window import Window

NOW = datetime(2026, 11, 20, 15, 30, tzinfo=UTC)
EXAMPLES = 3000  # per test; four tests below: 12,000 generated cases in all

name_parts = st.text(alphabet=string.ascii_lowercase + string.digits + "_", min_size=1, max_size=12)
valid_names = st.lists(name_parts, min_size=1, max_size=4).map(".".join)
any_names = st.one_of(valid_names, st.text(max_size=30), st.integers(), st.none())
values = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=5),
    st.binary(max_size=3),
)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2030, 12, 31))
dims = st.one_of(
    st.fixed_dictionaries({"date": days, "hour": st.integers(min_value=-2, max_value=26)}),
    st.fixed_dictionaries({"date": days}),
    st.fixed_dictionaries({"date": st.datetimes(), "hour": st.integers(0, 23)}),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
    st.none(),
    st.integers(),
)
metrics = st.one_of(st.dictionaries(any_names, values, max_size=6), st.none(), st.lists(st.integers(), max_size=2))


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(dims=dims, metrics=metrics)
def test_normalize_accepts_only_valid_values_and_counts_every_rejection(dims, metrics):
    reasons: list[str] = []
    normalizer = Normalizer(on_reject=reasons.append, clock=lambda: NOW)
    out = list(normalizer(dims, metrics))
    assert normalizer.rejected >= len(reasons)  # a whole-record rejection counts each of its values
    assert all(isinstance(r, str) and r for r in reasons)
    assert len(out) <= 1
    accepted = out[0][1] if out else {}
    if out:
        clean_dims = out[0][0]
        assert set(clean_dims) in ({"date"}, {"date", "hour"})
        assert type(clean_dims["date"]) is date
        if "hour" in clean_dims:
            assert 0 <= clean_dims["hour"] <= 23
            assert (clean_dims["date"], clean_dims["hour"]) <= (NOW.date(), NOW.hour)
        else:
            assert clean_dims["date"] <= NOW.date()
    for name, value in accepted.items():
        assert METRIC_NAME.match(name) and len(name) <= MAX_NAME_LENGTH
        assert type(value) in (int, float) and math.isfinite(value)
        if isinstance(value, int):
            assert abs(value) < 2**53
    if isinstance(metrics, dict):  # every value is either passed on or counted as rejected
        assert len(accepted) + normalizer.rejected >= len(metrics)


@settings(max_examples=EXAMPLES, deadline=None)
@given(
    name=valid_names, value=st.one_of(st.integers(-(2**52), 2**52), st.floats(allow_nan=False, allow_infinity=False))
)
def test_normalize_passes_good_values_unchanged(name, value):
    normalizer = Normalizer(clock=lambda: NOW)
    out = list(normalizer({"date": NOW.date(), "hour": NOW.hour}, {name: value}))
    if len(name) > MAX_NAME_LENGTH:
        assert out == [] and normalizer.rejected == 1
    else:
        assert out == [({"date": NOW.date(), "hour": NOW.hour}, {name: value})]
        assert normalizer.rejected == 0


toml_scalars = st.one_of(
    st.text(max_size=20),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False),
    st.booleans(),
    st.dates(),
    st.datetimes(timezones=st.just(UTC)),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=10), inner, max_size=3)),
    max_leaves=8,
)
known_keys = st.sampled_from(
    ["url", "batch_size", "lock_wait", "source", "tables", "queries", "sql", "metric", "textfile", "store", "retries"]
)
sections = st.dictionaries(st.one_of(known_keys, st.text(max_size=8)), toml_values, max_size=4)
documents = st.fixed_dictionaries(
    {},
    optional={
        "store": sections,
        "monitoring": sections,
        "sources": st.dictionaries(st.sampled_from(["app", "Bad Name", ""]), sections, max_size=2),
        "readers": st.dictionaries(st.sampled_from(["objects", "sql", "nope"]), sections, max_size=2),
        "extra": toml_values,
    },
)


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents)
def test_config_loader_gives_settings_or_one_line_naming_a_key(document):
    secret = "s3cr3t-Pa55word"
    redact.register_secret(secret)
    try:
        settings_ = config.parse(document, environ={"APP_DB_PASSWORD": secret})
    except ConfigError as exc:
        message = str(exc)
        assert message and "\n" not in message and secret not in message
        first = message.split(":", 1)[0]
        assert first.split(".", 1)[0].split("[", 1)[0] in {*document, "config"} or first.startswith("--"), message
    else:
        assert isinstance(settings_, config.Settings)
        assert set(settings_.readers) <= {"objects", "sql"}


identifiers = st.one_of(
    st.text(max_size=70),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,62}(\.[A-Za-z_][A-Za-z0-9_]{0,62})?", fullmatch=True),
)


@settings(max_examples=EXAMPLES, deadline=None)
@given(tables=st.lists(identifiers, min_size=1, max_size=3))
def test_table_names_from_config_are_quoted_names_or_refused(tables):
    document = {
        "sources": {"app": {"url": "sqlite:///x.db"}},
        "readers": {"objects": {"source": "app", "tables": tables}},
    }
    try:
        settings_ = config.parse(document)
    except ConfigError as exc:
        assert str(exc).startswith("readers.objects.tables")
        return
    from sqlalchemy import func, select, table
    from sqlalchemy.dialects import postgresql

    dialect = postgresql.dialect()
    for name, identifier in objects.table_map(settings_.readers["objects"]).items():
        schema, _, table_name = identifier.rpartition(".")
        sql = str(select(func.count()).select_from(table(table_name, schema=schema or None)).compile(dialect=dialect))
        # the identifier reaches SQL only as a name, quoted when it needs quoting (a space, capitals,
        # `--`): nothing else can follow it, and no quote or `;` is accepted in it at all
        quoted = dialect.identifier_preparer.quote(table_name)
        assert sql.rstrip().endswith(quoted)
        assert quoted.replace("%%", "%") in (table_name, f'"{table_name}"')  # psycopg2's paramstyle doubles a %
        assert not {'"', "'", "`", ";"} & set(identifier)
        assert METRIC_NAME.match(f"objects.{name}.count")


def test_decimal_and_huge_values_are_typed_as_documented():
    normalizer = Normalizer(clock=lambda: NOW)
    day = {"date": NOW.date() - timedelta(days=1), "hour": 3}
    out = list(normalizer(day, {"a.b": Decimal("12"), "a.c": Decimal("1.5"), "a.d": 2**60, "a.e": 10**400}))
    assert out == [(day, {"a.b": 12, "a.c": 1.5, "a.d": float(2**60)})]
    assert normalizer.rejected == 1  # 10**400 does not fit a double


# ── no secret and no raw control character in any output (issue 15): 2 × 5,000 generated cases ──

OUTPUT_EXAMPLES = 5000
CREDENTIAL_PARAMETERS = [
    "password",
    "PASSWORD",
    "sslpassword",
    "passwd",
    "pwd",
    "token",
    "access_token",
    "api_token",
    "api_key",
    "apikey",
    "x-api-key",
    "key",
    "secret",
    "client_secret",
    "auth",
    "authorization",
    "session_token",
]
secrets_ = st.text(
    alphabet=string.ascii_letters + string.digits + "-_.~!*'()$,+=@:/?#&% ;", min_size=6, max_size=24
).map(lambda tail: "S3cr" + tail)  # the prefix keeps it apart from the rest of the URL
plain_params = st.lists(
    st.tuples(st.sampled_from(["sslmode", "application_name", "connect_timeout", "options"]), name_parts),
    max_size=2,
)


@st.composite
def urls_with_a_secret(draw) -> tuple[str, str, dict[str, str], str]:
    """(where in the config, the URL as written, its environment, the secret) — the secret in the
    password or in a credential query parameter, written literally or through `${NAME}`."""
    secret = draw(secrets_)
    where = draw(st.sampled_from(["store", "source", "prometheus", "json"]))
    scheme = {"store": "postgresql", "source": draw(st.sampled_from(["postgresql", "mysql"]))}.get(where, "http")
    via_env = draw(st.booleans())
    env_name = draw(st.sampled_from(["APP_DB_PASS", "DBV", "X", "SERVICE_VALUE", "PROM_TOKEN"]))
    placed = f"${{{env_name}}}" if via_env else quote(secret, safe="")
    environ = {env_name: quote(secret, safe="")} if via_env else {}
    before, after = draw(plain_params), draw(plain_params)
    if draw(st.booleans()):
        user, query = f"etl:{placed}", [*before, *after]
        url = f"{scheme}://{user}@127.0.0.1:1/db"
    else:
        query = [*before, (draw(st.sampled_from(CREDENTIAL_PARAMETERS)), placed), *after]
        url = f"{scheme}://etl@127.0.0.1:1/db"
    url += "?" + "&".join(f"{k}={v}" for k, v in query)
    return where, url, environ, secret


def _document(where: str, url: str) -> dict:
    if where == "store":
        return {"store": {"url": url}}
    if where == "source":
        return {"sources": {"app": {"url": url}}}
    if where == "prometheus":
        return {"readers": {"prometheus": {"url": url, "queries": {"up": {"expr": "up", "metric": "up"}}}}}
    return {"readers": {"json": {"documents": {"usage": {"url": url}}}}}


class _Outputs:
    """The three places a run writes text to: stderr (the CLI's log handler, at -v), `run_log`
    (a real SQLite store) and the monitoring textfile."""

    def __init__(self) -> None:
        shm = Path("/dev/shm")  # a folder in memory when there is one: thousands of small files
        self.folder = Path(tempfile.mkdtemp(prefix="apercite-properties-", dir=shm if shm.is_dir() else None))
        self.engine = store_schema.open_engine("sqlite://")  # in memory: the run log's SQL, without fsyncs
        store_schema.upgrade(self.engine)
        self.run_id = runlog.start(self.engine, "apercite-analytics read all --write", ["any"], NOW)
        self.stderr = io.StringIO()

    def capture(self, reporter_run: Callable[[Reporter], None], readers: list[str]) -> tuple[str, str, str, int]:
        cli.setup_logging(1)  # -v: tracebacks of unforeseen errors too
        logging.getLogger("apercite_analytics").handlers[0].setStream(self.stderr)
        self.stderr.seek(0)
        self.stderr.truncate()
        reporter = Reporter()
        reporter_run(reporter)
        result = RunResult(readers=readers, write=True, failures=reporter.failures)
        runlog.finish(
            self.engine,
            self.run_id,
            ok=False,
            hourly_rows=0,
            daily_rows=0,
            rejected=0,
            errors=result.failures,
            nodes=[],
        )
        with self.engine.connect() as connection:
            logged = connection.execute(select(RunLog.errors).where(RunLog.id == self.run_id)).scalar_one() or ""
        content = selfmetrics.textfile(result, NOW, {reader: NOW for reader in readers})
        return self.stderr.getvalue(), logged, content, len(reporter.failures)


_outputs: list[_Outputs] = []


def outputs() -> _Outputs:
    if not _outputs:
        _outputs.append(_Outputs())
    return _outputs[0]


@settings(max_examples=OUTPUT_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=urls_with_a_secret())
def test_no_secret_of_any_url_position_reaches_stderr_run_log_or_textfile(case):
    with redact._lock:  # this example's secrets are forgotten after it: 5,000 would slow every scrub
        known = set(redact._secrets)
    try:
        _check_no_secret_reaches_output(*case)
    finally:
        with redact._lock:
            redact._secrets.intersection_update(known)


def _check_no_secret_reaches_output(where: str, url: str, environ: dict[str, str], secret: str) -> None:
    document = _document(where, url)
    try:
        settings_ = config.parse(document, environ=environ)
    except ConfigError as exc:  # e.g. an `@` left in the password: said, never shown
        assert secret not in str(exc) and quote(secret, safe="") not in str(exc), str(exc)
        return
    resolved = interpolate(url, environ)
    shown = mask_url(resolved)
    messages = [
        f"source 'app' ({shown}): connection refused",  # how sources and the store name themselves
        f"could not connect to {resolved}: timeout",  # a driver quoting the URL it was given
        f"GET {resolved}: HTTP 500",
    ]
    if where in ("store", "source"):
        messages.append(f"store ({display_url(resolved)})")

    def fail(reporter: Reporter) -> None:
        for message in messages:
            reporter.failed("sql.q", SourceError(scrub(message)))
        reporter.failed("json.usage", RuntimeError(messages[1]))  # an unforeseen error quoting the URL

    stderr, logged, textfile, _ = outputs().capture(fail, [f"reader {messages[1]}"])
    encoded = quote(secret, safe="")
    for text_ in (stderr, logged, textfile):
        assert secret not in text_ and encoded not in text_, (url, text_)
    assert settings_ is not None


control_names = st.text(
    alphabet=st.characters(codec="utf-8", categories=["Cc", "L", "N", "P", "Zs"]), min_size=1, max_size=30
).filter(lambda s: any(unicodedata.category(c) == "Cc" for c in s))


@settings(max_examples=OUTPUT_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=control_names, other=control_names)
def test_no_raw_control_character_from_data_reaches_stderr_run_log_or_textfile(name, other):
    folder = outputs().folder
    document = folder / "doc.json"
    document.write_text(json.dumps({"n": 1, name: "skipped", "deep": {other: None}, "x": {name: 1, name.upper(): 2}}))

    def fail(reporter: Reporter) -> None:
        reader = json_reader.ReadDocument("doc", json_reader.Document(path=str(document)), Window.from_args(None, None))
        try:
            list(reader())
        except SourceError as exc:  # two keys that give one name (when name.upper() sanitises alike)
            reporter.failed("json.doc", exc)
        query = prometheus.RunQuery("q", prometheus.Query(expr="up", metric="app.{job}"), _prometheus, _window)
        series = [{"metric": {"job": name}, "values": []}, {"metric": {"job": name + "\x00"}, "values": []}]
        try:
            list(query.records(series, NOW, NOW))
        except SourceError as exc:  # both label values give one metric name
            reporter.failed("prometheus.q", exc)
        reporter.failed("sql.q", RuntimeError(f"{name}\n{other}"))
        reporter.failed("objects", SourceError(f"table {other!s}: gone"))

    stderr, logged, textfile, failures = outputs().capture(fail, [name, other])
    for line in stderr.splitlines():
        assert not any(unicodedata.category(c) == "Cc" for c in line), repr(line)
    assert len(stderr.splitlines()) == stderr.count("\n")  # no \r, \v, \x1c… splitting a line in two
    assert logged.count("\n") == failures - 1  # one line per failure
    assert not any(unicodedata.category(c) == "Cc" for c in logged.replace("\n", ""))
    assert not any(unicodedata.category(c) == "Cc" for c in textfile.replace("\n", ""))
    assert all(line.startswith(("# HELP ", "# TYPE ", "apercite_")) for line in textfile.splitlines())


_prometheus = prometheus.Settings(url="http://127.0.0.1:9")
_window = Window.from_args(None, None)
