"""deploy/: the crontab line and the systemd units, checked by what reads them and run for real.

The cron line runs under /bin/sh with its paths moved into a temporary directory holding the demo
(config, source, store): it writes, logs, and skips (saying so) while another run holds the lock.
The units pass `systemd-analyze verify` (with ExecStart's interpreter pointed at this Python, as
verify wants an executable that exists) and carry the settings the README promises.
"""

from __future__ import annotations

import configparser
import fcntl
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from apercite_analytics.cli import demo

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
CRONTAB = DEPLOY / "cron" / "apercite-analytics"
SERVICE = DEPLOY / "systemd" / "apercite-analytics.service"
TIMER = DEPLOY / "systemd" / "apercite-analytics.timer"
REPORT_CRONTAB = DEPLOY / "cron" / "apercite-analytics-report"
REPORT_SERVICE = DEPLOY / "systemd" / "apercite-analytics-report.service"
REPORT_TIMER = DEPLOY / "systemd" / "apercite-analytics-report.timer"
COLLECTOR_SERVICE = DEPLOY / "systemd" / "apercite-analytics-collector.service"
# The deployment paths the files name, replaced by temporary ones in the tests.
HOME, LOG, VENV_PYTHON = "/srv/apercite-analytics", "/var/log/apercite-analytics/cron.log", ".venv/bin/python"
UNIT_PYTHON = "/opt/apercite-analytics/.venv/bin/python"
_CRON_FIELD = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?(,(\*|\d+(-\d+)?)(/\d+)?)*$")
_ENV_LINE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*=")


def cron_jobs(crontab: Path = CRONTAB) -> list[tuple[list[str], str]]:
    """(five time fields, command) of every job line: comments, blank and NAME=value lines skipped."""
    jobs = []
    for line in crontab.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.lstrip().startswith("#") or _ENV_LINE.match(line):
            continue
        fields = line.split(None, 5)
        assert len(fields) == 6, f"not 5 time fields and a command: {line!r}"
        jobs.append((fields[:5], fields[5]))
    return jobs


def test_the_crontab_line_parses_and_its_minute_is_past_the_hour():
    ((fields, command),) = cron_jobs()
    assert all(_CRON_FIELD.match(f) for f in fields), fields
    minute, *every = fields
    assert every == ["*", "*", "*", "*"] and 0 < int(minute) < 30  # hourly, once the hour is complete
    assert "%" not in command  # cron would turn it into a newline
    assert "flock -n" in command and f">> {LOG} 2>&1" in command
    assert f"cd {HOME} &&" in command


def test_the_documented_cron_line_is_the_shipped_one():
    ((fields, command),) = cron_jobs()
    line = f"{' '.join(fields)}  {command}"
    root = DEPLOY.parent
    blocks = re.findall(r"```cron\n(.*?)```", (root / "docs/scheduling.md").read_text(encoding="utf-8"), re.DOTALL)
    assert [b.strip() for b in blocks] == [line]
    # the README links to it rather than keeping a copy that could drift
    assert "```cron" not in (root / "README.md").read_text(encoding="utf-8")
    assert "docs/scheduling.md" in (root / "README.md").read_text(encoding="utf-8")


@pytest.fixture
def cron_home(tmp_path, monkeypatch) -> Path:
    """The demo (source, config, relative store) in a directory standing for /srv/apercite-analytics."""
    home = tmp_path / "srv"
    home.mkdir()
    monkeypatch.chdir(home)  # demo writes paths relative to the working directory
    demo.create(home)
    return home


def run_cron_command(home: Path, log: Path) -> subprocess.CompletedProcess:
    ((_, command),) = cron_jobs()
    for deployed in (HOME, LOG, VENV_PYTHON):
        assert deployed in command, deployed
    command = command.replace(HOME, shlex.quote(str(home))).replace(LOG, shlex.quote(str(log)))
    command = command.replace(VENV_PYTHON, shlex.quote(sys.executable))
    environment = {k: v for k, v in os.environ.items() if not k.startswith("APERCITE_")}
    return subprocess.run(["/bin/sh", "-c", command], env=environment, capture_output=True, text=True, timeout=300)


def run_log(store: Path) -> list[tuple]:
    with sqlite3.connect(store) as db:
        rows = db.execute("SELECT status, command FROM run_log ORDER BY id").fetchall()
    db.close()
    return rows


def test_the_cron_command_writes_logs_and_skips_while_locked(cron_home, tmp_path):
    assert shutil.which("flock"), "flock (util-linux) is needed by the cron line"
    log = tmp_path / "cron.log"
    result = run_cron_command(cron_home, log)
    assert result.returncode == 0 and result.stdout == result.stderr == "", result
    text = log.read_text(encoding="utf-8")
    assert re.match(r"^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d UTC \d{4}\n", text)  # `date -u` heads each run
    assert "run ok" in text and "error:" not in text
    assert run_log(cron_home / "analytics.db") == [("ok", "apercite-analytics read all --write -c analytics.toml")]

    lock = cron_home / "run.lock"
    assert lock.exists()
    with lock.open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # a previous run still going
        result = run_cron_command(cron_home, log)
    assert result.returncode == 0 and result.stdout == result.stderr == "", result
    assert log.read_text(encoding="utf-8").endswith("skipped: the previous run still holds the lock\n")
    assert len(run_log(cron_home / "analytics.db")) == 1


def unit(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True, delimiters=("=",))
    parser.optionxform = str  # systemd keys are case-sensitive
    parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    return parser


def test_the_systemd_units_carry_the_promised_settings():
    service, timer = unit(SERVICE), unit(TIMER)
    run = service["Service"]
    assert run["Type"] == "oneshot"
    assert run["User"] == "apercite-analytics" and "DynamicUser" not in run
    assert run["EnvironmentFile"].startswith("/etc/apercite-analytics/")
    assert run["ExecStart"] == f"{UNIT_PYTHON} -m apercite_analytics read all --write"
    assert run["TimeoutStartSec"] == "50min" and run["KillSignal"] == "SIGINT"
    assert run["ProtectSystem"] == "strict" and run["NoNewPrivileges"] == "yes"
    # a database client needs TCP (and Unix sockets); nothing may cut the network off
    assert set(run["RestrictAddressFamilies"].split()) >= {"AF_UNIX", "AF_INET", "AF_INET6"}
    assert not {"PrivateNetwork", "IPAddressDeny", "MemoryDenyWriteExecute"} & set(run)
    schedule = timer["Timer"]
    assert schedule["OnCalendar"] == "*-*-* *:05:00 UTC"
    assert schedule["Persistent"] == "true" and schedule["RandomizedDelaySec"] == "2min"
    assert schedule["Unit"] == SERVICE.name
    assert timer["Install"]["WantedBy"] == "timers.target"


def verify(analyze: str, service: Path, timer: Path | None, folder: Path) -> None:
    """`systemd-analyze verify` the units (ExecStart's Python pointed at this one) says nothing."""
    text = service.read_text(encoding="utf-8")
    (folder / service.name).write_text(text.replace(UNIT_PYTHON, sys.executable), encoding="utf-8")
    if timer is not None:
        shutil.copy(timer, folder / timer.name)
    result = subprocess.run(
        [analyze, "verify", service.name, *([timer.name] if timer is not None else [])],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        env=os.environ | {"SYSTEMD_LOG_LEVEL": "notice"},
    )
    # verify exits 0 on unknown keys and bad values too: it only warns, so any output is a finding.
    assert (result.returncode, result.stdout, result.stderr) == (0, "", ""), result


def test_systemd_analyze_verifies_the_units(tmp_path):
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is needed (Debian: apt-get install systemd; .ci/run installs it)"
    text = SERVICE.read_text(encoding="utf-8")
    assert text.count(UNIT_PYTHON) == 1
    verify(analyze, SERVICE, TIMER, tmp_path)
    (tmp_path / "typo.service").write_text(text.replace("Type=oneshot", "Tpye=oneshot"), encoding="utf-8")
    typo = subprocess.run(
        [analyze, "verify", "typo.service"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert "Unknown key 'Tpye' in section [Service]" in typo.stderr  # it does read what it is given
    calendar = subprocess.run(
        [analyze, "calendar", unit(TIMER)["Timer"]["OnCalendar"]], capture_output=True, text=True, timeout=60
    )
    assert calendar.returncode == 0 and "Normalized form: *-*-* *:05:00 UTC" in calendar.stdout, calendar


# -- the weekly report -------------------------------------------------------------------------------


def test_the_report_crontab_line_runs_weekly_and_writes_the_report(cron_home, tmp_path):
    ((fields, command),) = cron_jobs(REPORT_CRONTAB)
    assert all(_CRON_FIELD.match(f) for f in fields) and "%" not in command
    assert fields == ["30", "6", "*", "*", "1"]  # Mondays 06:30, once Sunday's last hour is written
    assert "report --period week --email --out report.html" in command
    shutil.copytree(DEPLOY.parent / "metrics", cron_home / "metrics", dirs_exist_ok=True)  # with its KPIs
    config_file = cron_home / "analytics.toml"
    if "[dictionary]" not in config_file.read_text(encoding="utf-8"):  # the demo's project may have it already
        with config_file.open("a", encoding="utf-8") as config:
            config.write('\n[dictionary]\npath = "metrics"\n')
    assert run_cron_command(cron_home, tmp_path / "cron.log").returncode == 0  # the hourly job fills the store
    log = tmp_path / "report.log"
    # no SMTP server here: the same line, printing the text instead of mailing it
    command = command.replace(HOME, shlex.quote(str(cron_home))).replace(
        "/var/log/apercite-analytics/report.log", shlex.quote(str(log))
    )
    command = command.replace(VENV_PYTHON, shlex.quote(sys.executable)).replace("--email", "--out -")
    environment = {k: v for k, v in os.environ.items() if not k.startswith("APERCITE_")}
    result = subprocess.run(["/bin/sh", "-c", command], env=environment, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and result.stdout == result.stderr == "", result
    text = log.read_text(encoding="utf-8")
    assert "\nKPI report: week " in text and "Job health: last successful run" in text and "error:" not in text
    assert "<!DOCTYPE html>" in (cron_home / "report.html").read_text(encoding="utf-8")


def test_the_report_units_verify_and_run_on_mondays(tmp_path):
    service, timer = unit(REPORT_SERVICE), unit(REPORT_TIMER)
    run = service["Service"]
    assert run["Type"] == "oneshot" and run["User"] == "apercite-analytics"
    assert run["ExecStart"] == f"{UNIT_PYTHON} -m apercite_analytics report --period week --email --out report.html"
    assert run["EnvironmentFile"] == unit(SERVICE)["Service"]["EnvironmentFile"]  # the same secrets file
    assert timer["Timer"]["OnCalendar"] == "Mon *-*-* 06:30:00 UTC" and timer["Timer"]["Unit"] == REPORT_SERVICE.name
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is needed (Debian: apt-get install systemd; .ci/run installs it)"
    verify(analyze, REPORT_SERVICE, REPORT_TIMER, tmp_path)
    calendar = subprocess.run(
        [analyze, "calendar", "Mon *-*-* 06:30:00 UTC"], capture_output=True, text=True, timeout=60
    )
    assert "Normalized form: Mon *-*-* 06:30:00 UTC" in calendar.stdout, calendar


# -- the collector ----------------------------------------------------------------------------------


def test_the_collector_unit_verifies_and_is_restarted_when_it_fails(tmp_path):
    run = unit(COLLECTOR_SERVICE)["Service"]
    assert run["ExecStart"] == f"{UNIT_PYTHON} -m apercite_analytics collect"
    assert run["User"] == "apercite-analytics" and run["EnvironmentFile"] == unit(SERVICE)["Service"]["EnvironmentFile"]
    # a dead worker makes the collector exit 1 (tracking/workers.py); SIGTERM writes the queue first
    assert run["Restart"] == "on-failure" and run["KillSignal"] == "SIGTERM" and run["TimeoutStopSec"] == "90s"
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is needed (Debian: apt-get install systemd; .ci/run installs it)"
    verify(analyze, COLLECTOR_SERVICE, None, tmp_path)
