"""Keep secrets out of logs and error messages: URL passwords, credential-bearing query parameters
(`?password=`, `sslpassword`, `token`, `secret`, `api_key`, …) and the values of `${ENV}` secrets.

Every place that writes text a person or Grafana may read (stderr, the -v log, `run_log`, the
monitoring textfile) passes it through `scrub`; URLs shown on purpose go through `mask_url`.
"""

import contextlib
import re
import threading
from urllib.parse import parse_qsl, unquote

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

# the password runs to the last `@` of the word: `u:p@rt@host` hides `p@rt`, not just `p` (more is
# hidden when a path holds an `@` too: better than less)
_URL_PASSWORD = re.compile(r"""(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^:/@\s]*:)(?P<password>[^\s'"]+)(?=@)""")
_CREDENTIAL_WORDS = "pass|pwd|secret|token|key|credential|auth|signature|session"
CREDENTIAL_NAME = re.compile(_CREDENTIAL_WORDS, re.IGNORECASE)  # a query parameter that carries a credential
_CREDENTIAL_PARAMETER = rf"(?P<head>[?&;][^=&;#\s?]*(?:{_CREDENTIAL_WORDS})[^=&;#\s]*=)"
# in text, the value ends at a separator, a blank, a quote or `)`, or a `:` that ends a clause
_QUERY_CREDENTIAL = re.compile(
    _CREDENTIAL_PARAMETER + r"""(?P<value>[^&;#\s'")]+?)(?=[&;#\s'")]|:\s|:$|$)""", re.IGNORECASE
)
_URL_CREDENTIAL = re.compile(_CREDENTIAL_PARAMETER + r"(?P<value>[^&#]+)", re.IGNORECASE)  # a whole URL
_lock = threading.Lock()
_secrets: set[str] = set()


def mask_url(url: str) -> str:
    """`postgresql://u:secret@h/db?sslpassword=x` -> `postgresql://u:***@h/db?sslpassword=***` (any
    URL, parseable or not)."""
    try:
        shown = make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        shown = url
    return _URL_CREDENTIAL.sub(r"\g<head>***", _URL_PASSWORD.sub(r"\g<head>***", shown))


def register_secret(value: str | None) -> None:
    """Remember a value that must never be printed (shorter than 4 characters is not worth it)."""
    if value and len(value) >= 4:
        with _lock:
            _secrets.add(value)
            if unquote(value) != value:  # shown decoded too (a driver's error may quote it so)
                _secrets.add(unquote(value))


def register_url(url: str) -> None:
    """Remember the password of a URL and the values of its credential-bearing query parameters."""
    with contextlib.suppress(ArgumentError, ValueError):
        register_secret(make_url(url).password)
    match = _URL_PASSWORD.search(url)
    if match:
        register_secret(match.group("password"))
    for name, value in parse_qsl(url.partition("?")[2], keep_blank_values=False):
        if CREDENTIAL_NAME.search(name):
            register_secret(value)


def scrub(text: str) -> str:
    """Replace every remembered secret, every URL password and every credential query value in `text` by ***."""
    text = _QUERY_CREDENTIAL.sub(r"\g<head>***", _URL_PASSWORD.sub(r"\g<head>***", text))
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        text = text.replace(secret, "***")
    return text
