"""Keep secrets out of logs and error messages: URL passwords and secret environment values."""

import re
import threading

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<password>[^@\s]+)(?=@)")
_lock = threading.Lock()
_secrets: set[str] = set()


def mask_url(url: str) -> str:
    """`postgresql://u:secret@h/db` -> `postgresql://u:***@h/db` (any URL, parseable or not)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return _URL_PASSWORD.sub(r"\g<head>***", url)


def register_secret(value: str | None) -> None:
    """Remember a value that must never be printed (shorter than 4 characters is not worth it)."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)


def register_url(url: str) -> None:
    """Remember the password of a database URL."""
    try:
        register_secret(make_url(url).password)
    except (ArgumentError, ValueError):
        match = _URL_PASSWORD.search(url)
        if match:
            register_secret(match.group("password"))


def scrub(text: str) -> str:
    """Replace every remembered secret and every URL password in `text` by ***."""
    text = _URL_PASSWORD.sub(r"\g<head>***", text)
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
