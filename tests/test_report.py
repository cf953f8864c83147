"""`report` on a store written by real runs: every number it shows equals plain SQL on the store,
in the text, and in the HTML as headless Chromium renders it (screenshot not blank, DOM read back);
PDF; empty and partial periods; the job's health in the footer."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import PG_URL, _scratch_database
from sqlalchemy import update
from support import report_seed as seed

from apercite_analytics.cli import main as cli
from apercite_analytics.config import load as config
from apercite_analytics.errors import SourceError
from apercite_analytics.run import job as graph
from apercite_analytics.store import schema as store
from apercite_analytics.store.models import RunLog

FAILED_AT = datetime(2026, 11, 25, 10, 15, tzinfo=UTC)
NOT_SHOWN = ["new_visitors", "activated_accounts", "projects"]  # their metrics were never stored


def broken():
    raise SourceError("broken: the source is down")
    yield  # pragma: no cover


def seed_store(store_url: str):
    """An engine on the seed, written by one ok run, and one failed run dated inside week 48.
    The report only reads: one store serves every test of a module (each writes its own config)."""
    settings = config.parse({"store": {"url": store_url}, "monitoring": {"store": False}})
    cli.setup_logging(-1)
    assert graph.run_chains(settings, {"app": [seed.records]}, ["app"], write=True).ok
    assert not graph.run_chains(settings, {"broken": [broken]}, ["broken"], write=True).ok
    engine = store.open_engine(store_url)
    with engine.begin() as connection:
        connection.execute(update(RunLog).where(RunLog.status == "failed").values(started_at=FAILED_AT))
    yield engine
    engine.dispose()


def with_config(engine, tmp_path: Path) -> tuple[Path, object]:
    """(a config file naming the store and the shipped dictionary, the engine)."""
    path = tmp_path / "analytics.toml"
    path.write_text(seed.config_text(engine.url.render_as_string(hide_password=False)), encoding="utf-8")
    return path, engine


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory):
    yield from seed_store(f"sqlite:///{tmp_path_factory.mktemp('store') / 'store.db'}")


@pytest.fixture(scope="module")
def pg_store():
    for url in _scratch_database(PG_URL, "AUTOCOMMIT"):
        yield from seed_store(url)


@pytest.fixture(params=["sqlite", "postgresql"])
def seeded(request, tmp_path):
    """The seeded store on each dialect (the text report)."""
    return with_config(
        request.getfixturevalue(f"{'pg' if request.param == 'postgresql' else 'sqlite'}_store"), tmp_path
    )


@pytest.fixture
def seeded_pg(pg_store, tmp_path):
    """The seeded store on PostgreSQL, the production store (the Chromium tests, which are slower)."""
    return with_config(pg_store, tmp_path)


def report(path: Path, *args: str) -> int:
    return cli.main(["report", "-c", str(path), "--since", seed.SINCE, "--until", seed.UNTIL, *args])


def test_text_numbers_equal_the_store(seeded, capsys):
    path, engine = seeded
    assert report(path) == 0
    out, err = capsys.readouterr()
    now = seed.expected(engine, seed.CURRENT, seed.AFTER)
    before = seed.expected(engine, seed.PREVIOUS, seed.CURRENT)
    titles = {
        "signups": "Signups",
        "new_accounts": "New accounts",
        "sessions": "Sessions",
        "activations": "Activations",
        "activation_rate": "Activation rate",
        "users": "Users",
        "wau": "Weekly active users",
        "mau": "Monthly active users",
        "stickiness": "WAU / MAU",
    }
    for kpi, title in titles.items():
        (line,) = [line for line in out.splitlines() if re.match(rf"^  {re.escape(title)}\s{{2,}}", line)]
        columns = re.split(r"\s{2,}", line.strip())
        seed.check_value(kpi, columns[1], now[kpi])
        seed.check_change(kpi, columns[2], now[kpi], before[kpi])
    assert f"Not shown (metrics never stored): {', '.join(NOT_SHOWN)}" in out
    assert "1 failed run of 2 in the period" not in out  # the ok run is not in week 48 …
    assert (
        f"{seed.failed_runs(engine, seed.at(seed.CURRENT), seed.at(seed.AFTER))} failed run of 1 in the period" in out
    )
    assert "Signups" in out and "75% of target" not in out  # a weekly target only applies to --period week
    for kpi in NOT_SHOWN:  # one warning naming the KPI file and line each
        assert re.search(rf"warning: .*metrics/kpis\.yaml:\d+: {kpi}: the store never had ", err), err


def chromium(*args: str) -> subprocess.CompletedProcess:
    browser = shutil.which("chromium")
    assert browser, "Debian's chromium is needed (.ci/run installs it)"
    with tempfile.TemporaryDirectory() as profile:
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", f"--user-data-dir={profile}"]  # fmt: skip
        return subprocess.run([browser, *flags, *args], capture_output=True, text=True, timeout=120)


def test_html_in_chromium_shows_the_store_numbers(seeded_pg, tmp_path):
    path, engine = seeded_pg
    page = tmp_path / "report.html"
    assert report(path, "--out", str(page)) == 0
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html and "url(" not in html
    assert all(src.startswith("data:image/png;base64,") for src in re.findall(r'src="([^"]+)"', html))
    assert not re.findall(r'href="', html)  # nothing to fetch: readable offline
    assert 'name="viewport"' in html

    shot = tmp_path / "shot.png"
    done = chromium("--window-size=400,1200", "--hide-scrollbars", f"--screenshot={shot}", page.as_uri())
    assert done.returncode == 0 and shot.is_file(), done.stderr
    from PIL import Image

    image = Image.open(shot).convert("RGB")
    colours = image.getcolors(maxcolors=1 << 20)
    background = max(colours)[0] / (image.width * image.height)
    assert len(colours) > 50 and background < 0.95, "the screenshot is blank"

    dom = chromium("--dump-dom", page.as_uri()).stdout
    seed.check_cards(dom, engine)
    footer = re.search(r"<footer>(.*?)</footer>", dom, re.S).group(1)
    failed = seed.failed_runs(engine, seed.at(seed.CURRENT), seed.at(seed.AFTER))
    assert f"{failed} failed run of 1 in the period" in footer and failed == 1


def test_pdf(seeded_pg, tmp_path):
    path, _ = seeded_pg
    pdf, text = tmp_path / "report.pdf", tmp_path / "report.txt"
    assert report(path, "--out", str(pdf), "--out", str(text)) == 0
    assert pdf.read_bytes().startswith(b"%PDF") and pdf.stat().st_size > 5000
    assert "Signups" in text.read_text(encoding="utf-8")


def test_pdf_without_chromium_is_one_line(seeded_pg, tmp_path, capsys, monkeypatch):
    path, _ = seeded_pg
    monkeypatch.setenv("APERCITE_CHROMIUM", str(tmp_path / "no-such-browser"))
    assert report(path, "--out", str(tmp_path / "r.pdf")) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == "error: PDF needs headless Chromium: apt-get install chromium (or write .html / .txt instead)"


def test_empty_and_partial_periods(seeded_pg, capsys, tmp_path):
    path, _ = seeded_pg
    assert cli.main(["report", "-c", str(path), "--since", "2026-10-01", "--until", "2026-10-08"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("  ")]
    assert lines and all(line.split()[-2:] == ["no", "data"] for line in lines), out
    assert not re.search(r"\b0(\.0+)?\b", "\n".join(lines))
    # a period that is not over yet: partial, never a final-looking number
    today = datetime.now(UTC).date()
    until = max(today + timedelta(days=1), seed.AFTER + timedelta(days=1)).isoformat()  # after now, after the seed
    assert (
        cli.main(
            ["report", "-c", str(path), "--since", "2026-11-29", "--until", until, "--out", str(tmp_path / "p.html")]
        )
        == 0
    )
    html = (tmp_path / "p.html").read_text()
    assert "partial: the period is not complete yet" in html and '<span class="partial">partial</span>' in html


def test_without_matplotlib_charts_say_how_to_install_and_text_still_works(seeded_pg, tmp_path, capsys, monkeypatch):
    import sys

    path, _ = seeded_pg
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if the [report] extra were not installed
    assert report(path, "--out", str(tmp_path / "r.html")) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: charts need matplotlib: pip install 'apercite-analytics[report]'"
    )
    assert not (tmp_path / "r.html").exists()
    assert report(path) == 0 and "Signups" in capsys.readouterr().out
