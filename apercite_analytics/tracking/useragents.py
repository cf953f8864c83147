"""User agents reduced to a browser family and an operating system: enough for "which browsers do
our users have", too little to tell one browser from another (a full user-agent string, with its
versions and device model, is a fingerprint). The rules are a short ordered list, first match
wins, checked against the tokens browsers send today; anything else is "other".
"""

from __future__ import annotations

import re
from functools import lru_cache

_BROWSERS = [  # order matters: Edge and Opera also say Chrome, Chrome also says Safari
    ("bot", re.compile(r"bot|crawl|spider|slurp|headless|lighthouse", re.I)),
    ("edge", re.compile(r"Edg(e|A|iOS)?/")),
    ("opera", re.compile(r"OPR/|Opera")),
    ("samsung", re.compile(r"SamsungBrowser/")),
    ("firefox", re.compile(r"Firefox/|FxiOS/")),
    ("chrome", re.compile(r"Chrome/|CriOS/|Chromium/")),
    ("safari", re.compile(r"Version/[\d.]+.*Safari/")),
    ("sdk", re.compile(r"apercite-sdk|python-requests|python-urllib|curl/")),
]
_SYSTEMS = [
    ("ios", re.compile(r"iPhone|iPad|iPod")),
    ("android", re.compile(r"Android")),
    ("windows", re.compile(r"Windows")),
    ("macos", re.compile(r"Mac OS X|Macintosh")),
    ("chromeos", re.compile(r"CrOS")),
    ("linux", re.compile(r"Linux|X11")),
]


@lru_cache(maxsize=4096)  # a site sees a few hundred distinct strings a day
def reduce(user_agent: str | None) -> tuple[str, str]:
    """(browser family, operating system), each a short lowercase word or "other"."""
    text = (user_agent or "")[:512]
    browser = next((name for name, pattern in _BROWSERS if pattern.search(text)), "other")
    system = next((name for name, pattern in _SYSTEMS if pattern.search(text)), "other")
    return browser, system
