"""Property tests: the normalize node and the config loader on generated input (≥ 10,000 cases).

Whatever a reader yields or a user writes, the outcome is either accepted (and then valid) or a
counted, documented rejection / one ConfigError line naming a key — never a crash, and never a
secret in the message.
"""

from __future__ import annotations

import math
import string
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apercite_analytics.config import load as config
from apercite_analytics.config import secrets as redact
from apercite_analytics.errors import ConfigError
from apercite_analytics.readers import objects
from apercite_analytics.record import MAX_NAME_LENGTH, METRIC_NAME, Normalizer

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
