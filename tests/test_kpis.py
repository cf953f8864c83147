"""KPIs in the dictionary: validated like the definitions (`file:line: kpi: field: message`), and the
Business dashboard generated from a user's own KPIs, run as Grafana would on a store filled by a
real run of the job."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from support.grafana_macros import dashboard_context, expand

from apercite_analytics.cli import main as cli
from apercite_analytics.dictionary import definitions, kpis
from apercite_analytics.store import schema as store
from apercite_analytics.window import floor_hour

DEFINITIONS = """\
defaults: {owner: sales, data_source: sql, value_type: integer}
metrics:
  - {key: objects.*.count, description: Rows in a table., unit: rows, aggregation: last, time_frame: all}
  - {key: shop.orders, description: Orders placed in the hour., unit: orders, aggregation: sum, time_frame: 1h}
  - {key: shop.refunds, description: Refunds in the hour., unit: orders, aggregation: sum, time_frame: 1h}
  - {key: shop.visitors.7d, description: Visitors in 7 days., unit: visitors, aggregation: none, time_frame: 7d}
"""


def load(tmp_path: Path, kpi_yaml: str) -> tuple[list, list[str]]:
    folder = tmp_path / "dictionary"
    folder.mkdir(exist_ok=True)
    (folder / "shop.yaml").write_text(DEFINITIONS)
    (folder / "kpis.yaml").write_text(kpi_yaml)
    dictionary, errors = definitions.load(folder)
    assert errors == [] and len(dictionary) == 4  # the definitions' loader leaves the KPI file alone
    return kpis.load(folder, dictionary)


def test_a_valid_kpi_takes_its_unit_and_values_from_the_dictionary(tmp_path):
    found, errors = load(
        tmp_path,
        """kpis:
  - {key: orders, title: Orders, metric: shop.orders, chart: bar, target: {week: 70}}
  - {key: refund_rate, title: Refund rate, ratio: {numerator: shop.refunds, denominator: shop.orders}, good: down}
  - {key: accounts, title: Accounts, metric: objects.*.count, aggregate: last}
  - {key: visitors, title: Visitors, metric: shop.visitors.7d, aggregate: last, section: Traffic}
""",
    )
    assert errors == []
    orders, rate, accounts, visitors = found
    assert (orders.unit, orders.daily, orders.target_for("week"), orders.target_for("day")) == (
        "orders",
        False,
        70,
        None,
    )
    assert (rate.unit, rate.is_ratio, rate.good, rate.aggregate) == ("ratio", True, "down", "sum")
    assert (accounts.unit, accounts.section, accounts.dashboard) == ("rows", "Business", "business")
    assert (visitors.daily, visitors.section) == (True, "Traffic")
    assert orders.where.endswith("kpis.yaml:2")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            "{key: a, title: A, metric: shop.orders, chart: pie}",
            "a: chart: must be one of stat, timeseries, bar, got 'pie'",
        ),
        ("{key: a, title: A, metric: shop.orders, colour: red}", "a: colour: unknown field (known: key, title,"),
        ("{key: a, title: A}", "a: give either `metric` (one metric) or `ratio` (numerator and denominator)"),
        ("{key: a, title: A, metric: shop.nothing}", "a: metric: no dictionary definition covers shop.nothing"),
        ("{key: a, title: A, metric: Shop.Orders}", "a: metric: 'Shop.Orders' is not a metric name or pattern"),
        ("{key: a, title: A, metric: shop.orders, target: lots}", "a: target: expected a number, or a mapping of day"),
        ("{key: a, title: A, metric: shop.orders, target: {year: 3}}", "a: target: expected a number, or a mapping"),
        (
            "{key: a, title: A, ratio: {numerator: shop.refunds, denominator: shop.orders}, aggregate: avg}",
            "a: aggregate: a ratio is aggregated by sum or last, not 'avg'",
        ),
        (
            "{key: a, title: A, ratio: {numerator: shop.orders, denominator: shop.visitors.7d}}",
            "a: ratio: numerator and denominator must both have hourly values or both daily ones",
        ),
        ("{key: A-1, title: A, metric: shop.orders}", "A-1: key: 'A-1': lowercase letters, digits and _"),
    ],  # fmt: skip
)
def test_errors_name_the_file_line_kpi_and_field(tmp_path, entry, message):
    found, errors = load(tmp_path, f"kpis:\n  - {{key: ok, title: Fine, metric: shop.orders}}\n  - {entry}\n")
    assert [k.key for k in found] == ["ok"]
    (error,) = errors
    assert error.startswith(f"{tmp_path / 'dictionary' / 'kpis.yaml'}:3: {message}"), error


def test_a_duplicate_key_names_both_places(tmp_path):
    _, errors = load(
        tmp_path, "kpis:\n  - {key: a, title: A, metric: shop.orders}\n  - {key: a, title: B, metric: shop.orders}\n"
    )
    where = tmp_path / "dictionary" / "kpis.yaml"
    assert errors == [f"{where}:3: a: key already defined at {where}:2"]


# -- a user's own names, through build, Grafana's macros and a real store --------------------------

USER_KPIS = """\
kpis:
  - {key: accounts, title: Accounts, section: Customers, metric: objects.account_user.count, aggregate: last}
  - {key: orders, title: Orders per day, section: Sales, metric: shop.orders, chart: bar}
  - {key: refunds, title: Refunds, section: Sales, metric: shop.refunds, chart: timeseries}
"""


@pytest.fixture
def user_setup(tmp_path, pg_url):
    """A source whose users table is `account_user`, a config and dictionary naming the user's metrics,
    and one real `read all --write` into PostgreSQL."""
    now = datetime.now(UTC)
    source = tmp_path / "shop.db"
    orders = [floor_hour(now) - timedelta(hours=h, minutes=-m) for h in range(1, 40, 3) for m in (5, 25)]
    with sqlite3.connect(source) as db:
        db.execute("CREATE TABLE account_user (id INTEGER PRIMARY KEY, email TEXT)")
        db.executemany("INSERT INTO account_user (email) VALUES (?)", [(f"u{i}@example.com",) for i in range(37)])
        db.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, created_at TEXT)")
        db.executemany(
            "INSERT INTO orders (created_at) VALUES (?)", [(o.strftime("%Y-%m-%d %H:%M:%S"),) for o in orders]
        )
    db.close()
    (tmp_path / "dictionary").mkdir()
    (tmp_path / "dictionary" / "shop.yaml").write_text(DEFINITIONS)
    (tmp_path / "dictionary" / "kpis.yaml").write_text(USER_KPIS)
    config = tmp_path / "analytics.toml"
    config.write_text(
        f"""[store]
url = "{pg_url}"

[dictionary]
path = "dictionary"

[sources.shop]
url = "sqlite:///{source}"

[readers.objects]
source = "shop"
tables = ["account_user"]

[readers.sql.queries.orders]
source = "shop"
sql = \"\"\"
SELECT strftime('%Y-%m-%d %H:00:00', created_at) AS time, count(*) AS orders
FROM orders WHERE created_at >= :since AND created_at < :until GROUP BY 1
\"\"\"
metric = "shop.{{column}}"
lookback = "48h"
"""
    )
    assert cli.main(["read", "all", "--write", "-q", "-c", str(config)]) == 0
    return config, orders, now


def test_the_business_dashboard_reads_the_users_own_metrics(user_setup, tmp_path, pg_url, capsys):
    config, orders, now = user_setup
    out = tmp_path / "built"
    assert cli.main(["dashboards", "build", "-c", str(config), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    # shop.refunds is defined but was never written: a warning naming the KPI file and line
    assert f"warning: {tmp_path / 'dictionary' / 'kpis.yaml'}:4: refunds: the store never had shop.refunds" in err
    business = json.loads((out / "business.json").read_text())
    panels = {p["title"]: p for p in business["panels"]}
    assert list(panels) == ["Accounts", "Orders per day", "Refunds"]
    assert {t: p["fieldConfig"]["defaults"]["unit"] for t, p in panels.items()} == {
        "Accounts": "short", "Orders per day": "short", "Refunds": "short"
    }  # fmt: skip
    ctx = dashboard_context(business, now + timedelta(hours=1))
    engine = store.open_engine(pg_url)
    try:
        with engine.connect() as connection:

            def rows(title: str) -> list[tuple]:
                sql = expand(panels[title]["targets"][0]["rawSql"], ctx).replace(":", "\\:")
                return [tuple(r) for r in connection.execute(text(sql))]

            ((_, accounts),) = rows("Accounts")
            assert accounts == 37  # the rows of account_user, as the run counted them
            per_day: dict[int, int] = {}
            for moment in orders:
                if moment >= now - timedelta(hours=48):
                    day = int(moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())
                    per_day[day] = per_day.get(day, 0) + 1
            assert [(int(t), v) for t, v in rows("Orders per day")] == sorted(per_day.items())
            assert sum(per_day.values()) > 10
            assert rows("Refunds") == []
    finally:
        engine.dispose()


def test_metrics_validate_checks_the_kpis_too(tmp_path, capsys):
    kpi_file = "kpis:\n  - {key: ok, title: Fine, metric: shop.orders}\n  - {key: a, title: A, metric: shop.order}\n"
    load(tmp_path, kpi_file)
    config = tmp_path / "analytics.toml"
    config.write_text(f'[store]\nurl = "sqlite:///{tmp_path / "store.db"}"\n\n[dictionary]\npath = "dictionary"\n')
    assert cli.main(["metrics", "validate", "-c", str(config)]) == 1
    where = tmp_path / "dictionary"
    assert capsys.readouterr().err.splitlines()[1:] == [
        f"error: {where / 'kpis.yaml'}:3: a: metric: no dictionary definition covers shop.order",
        f"error: {where}: 1 KPI problem",
    ]
    (where / "kpis.yaml").write_text("kpis:\n  - {key: ok, title: Fine, metric: shop.orders}\n")
    assert cli.main(["metrics", "validate", "-c", str(config)]) == 0
    assert capsys.readouterr().err.splitlines()[-1] == f"{where}: 1 KPIs, ok"
