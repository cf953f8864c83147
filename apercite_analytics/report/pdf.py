"""The report as PDF: the HTML page printed by headless Chromium.

Why Chromium and not a Python library: the PDF is then exactly the page the tests screenshot and
people open (one renderer, one layout, CSS as browsers do it), with nothing to add to the
install; WeasyPrint needs Pango and friends from the system anyway, and ReportLab would be a second
layout to keep in step with the HTML. Debian's `chromium` package; as root it needs --no-sandbox.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from apercite_analytics.errors import AnalyticsError, ConfigError

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = "PDF needs headless Chromium: apt-get install chromium (or write .html / .txt instead)"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-pdf-header-footer",
)


def browser() -> str:
    """The Chromium executable ($APERCITE_CHROMIUM, else the first found on PATH)."""
    named = os.environ.get("APERCITE_CHROMIUM")
    found = shutil.which(named) if named else next((p for b in BROWSERS if (p := shutil.which(b))), None)
    if not found:
        raise ConfigError(INSTALL_HINT)
    return found


def run_chromium(args: list[str], timeout: float = 120.0) -> None:
    """Run headless Chromium with our flags and a throwaway profile; AnalyticsError if it fails."""
    executable = browser()
    with tempfile.TemporaryDirectory(prefix="apercite-chromium-") as profile:
        command = [executable, *FLAGS, f"--user-data-dir={profile}", *args]
        try:
            done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            raise AnalyticsError(f"{executable}: no answer in {timeout:g} s") from None
        except OSError as exc:
            raise AnalyticsError(f"{executable}: {exc}") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise AnalyticsError(f"{executable} failed (exit status {done.returncode}): {last}")


def write_pdf(html: str, out: Path) -> None:
    """Print `html` to `out`, replacing it only once the new PDF is complete."""
    with tempfile.TemporaryDirectory(prefix="apercite-report-") as folder:
        page, pdf = Path(folder) / "report.html", Path(folder) / "report.pdf"
        page.write_text(html, encoding="utf-8")
        run_chromium([f"--print-to-pdf={pdf}", page.as_uri()])
        if not pdf.is_file() or pdf.stat().st_size == 0 or not pdf.read_bytes().startswith(b"%PDF"):
            raise AnalyticsError(f"{out}: Chromium wrote no PDF")
        try:
            temporary = out.parent / f".{out.name}.tmp"
            shutil.copyfile(pdf, temporary)
            os.replace(temporary, out)
        except OSError as exc:
            raise AnalyticsError(f"{out}: cannot write: {exc.strerror or exc}") from None
