"""track.js in a real headless Chromium: a page on one loopback origin loads the snippet from the
collector on another, and its page view and custom event arrive through navigator.sendBeacon
(text/plain, no preflight), pseudonymized, with the user agent reduced to a family and an OS."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import subprocess
import threading
import time
from pathlib import Path

from sqlalchemy import create_engine, select
from support.collector import KEY, CollectorProcess
from support.ports import free_port

from apercite_analytics.store.models import Event
from apercite_analytics.tracking.pseudonymize import Pseudonymizer

PAGE = """<!doctype html>
<html><head><title>pricing</title>
<script>
  window.apercite = window.apercite || [];
  apercite.push(["identify", "browser-user@example.com"]);
  apercite.push(["track", "signup", {plan: "pro", email: "browser-user@example.com"}]);
</script>
<script src="COLLECTOR/track.js" defer></script>
<script src="flush.js" defer></script>
</head><body>pricing</body></html>
"""


def test_track_js_sends_page_views_and_events_with_send_beacon(tmp_path: Path):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "chromium is not installed (.ci/run installs it)"
    site = tmp_path / "site"
    site.mkdir()
    page_port = free_port()
    url = f"sqlite:///{tmp_path / 'store.db'}"
    process = CollectorProcess(tmp_path, url, url, origins=[f"http://127.0.0.1:{page_port}"])
    assert process.cli("db", "upgrade").returncode == 0
    (site / "pricing.html").write_text(PAGE.replace("COLLECTOR", process.url))
    (site / "flush.js").write_text("apercite.flush();\n")  # deferred after track.js: send now, not in 5 s
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", page_port), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with process:
            command = [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                f"--user-data-dir={tmp_path / 'profile'}",
                "--virtual-time-budget=3000",
                "--dump-dom",
                f"http://127.0.0.1:{page_port}/pricing.html",
            ]
            shown = subprocess.run(command, capture_output=True, text=True, timeout=120)
            assert "pricing" in shown.stdout, shown.stderr[-2000:]
            engine = create_engine(url)
            deadline, found = time.monotonic() + 20, []
            while len(found) < 2 and time.monotonic() < deadline:
                time.sleep(0.2)
                with engine.connect() as connection:
                    found = connection.execute(select(Event.name, Event.user_id, Event.properties)).all()
            engine.dispose()
    finally:
        server.shutdown()
    user = Pseudonymizer(KEY.encode(), "k1")("browser-user@example.com")
    events = {name: (user_id, json.loads(properties)) for name, user_id, properties in found}
    assert events["signup"] == (user, {"plan": "pro"})  # the e-mail property is not in the definition
    assert events["page_view"][0] == user
    assert events["page_view"][1]["path"] == "/pricing.html"
    assert events["page_view"][1]["os"] == "linux" and events["page_view"][1]["browser"] == "bot"  # HeadlessChrome
