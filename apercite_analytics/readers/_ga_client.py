"""Talking to the GA4 Data API: service-account credentials, the REST client, one report's pages.

Google's official client (`google-analytics-data`) is an optional dependency (`pip install
'apercite-analytics[ga]'`), imported only when a report is read. It runs on its REST transport
(plain `requests`, no gRPC channel). Quota errors (HTTP 429 / RESOURCE_EXHAUSTED), 5xx answers
and network failures are retried with exponential backoff, then reported in one line; any other
refusal (an unknown metric, no access to the property) is reported at once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from apercite_analytics.errors import SourceError
from apercite_analytics.readers.common.retry import policy, with_retries

SCOPE = "https://www.googleapis.com/auth/analytics.readonly"
INSTALL_HINT = "pip install 'apercite-analytics[ga]'"
MAX_PAGE_SIZE = 250_000  # the API's largest `limit`
_REQUIRED_KEYS = ("client_email", "private_key", "token_uri")


def package_available() -> bool:
    """Whether Google's client is installed (without importing it: it is slow to import)."""
    from importlib.util import find_spec

    try:
        return find_spec("google.analytics.data_v1beta") is not None
    except (ImportError, ValueError):
        return False


def load_credentials(path: str) -> Any:
    """Service-account credentials from a JSON key file; one SourceError naming the file otherwise.

    The file's content (a private key) is never part of a message.
    """
    from google.oauth2 import service_account

    where = f"credentials file {path!r}"
    try:
        text = Path(path).expanduser().read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SourceError(f"{where} not found") from None
    except IsADirectoryError:
        raise SourceError(f"{where} is a directory, not a service-account key file") from None
    except OSError as exc:
        raise SourceError(f"{where} cannot be read: {exc.strerror or type(exc).__name__}") from None
    except UnicodeDecodeError:
        raise SourceError(f"{where} is not a service-account key file (not UTF-8 JSON)") from None
    try:
        info = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SourceError(f"{where} is not a service-account key file (invalid JSON at line {exc.lineno})") from None
    if not isinstance(info, dict) or info.get("type") != "service_account":
        kind = info.get("type") if isinstance(info, dict) else None
        raise SourceError(
            f'{where} is not a service-account key file (its "type" is {kind!r}, expected "service_account": '
            "create a JSON key for a service account that has read access to the property)"
        )
    missing = [key for key in _REQUIRED_KEYS if not isinstance(info.get(key), str) or not info.get(key)]
    if missing:
        raise SourceError(f"{where} is not a usable service-account key file (missing {', '.join(missing)})")
    try:
        return service_account.Credentials.from_service_account_info(info, scopes=[SCOPE])
    except Exception as exc:  # noqa: BLE001 — never echo what the key parser saw
        raise SourceError(f"{where}: its private_key cannot be loaded ({type(exc).__name__})") from None


class Client:
    """One lazily created GA4 client for a reader's reports (shared by their chains)."""

    def __init__(
        self,
        credentials_path: str,
        *,
        timeout: float,
        retries: int,
        backoff: float,
        max_backoff: float,
        sleep: Callable[[float], None] = time.sleep,
    ):
        self.credentials_path = credentials_path
        self.timeout, self.retries = timeout, retries
        self.backoff, self.max_backoff = backoff, max_backoff
        self.sleep = sleep
        self._client: Any = None
        self._lock = threading.Lock()

    def _get(self) -> Any:
        with self._lock:
            if self._client is None:
                if not package_available():
                    raise SourceError(f"Google's GA4 client is not installed: {INSTALL_HINT}")
                from google.analytics.data_v1beta import BetaAnalyticsDataClient

                credentials = load_credentials(self.credentials_path)
                self._client = BetaAnalyticsDataClient(credentials=credentials, transport="rest")
            return self._client

    def pages(self, request: dict[str, Any], page_size: int, what: str) -> Iterator[Any]:
        """Every page of a report (raw protobuf `RunReportResponse`s), following `rowCount`."""
        offset = 0
        while True:
            page = self.run_report({**request, "limit": page_size, "offset": offset}, what)
            yield page
            offset += len(page.rows)
            if offset >= page.row_count:
                return
            if not page.rows:
                raise SourceError(f"{what}: rowCount is {page.row_count} but the page at offset {offset} is empty")

    def run_report(self, request: dict[str, Any], what: str) -> Any:
        """One runReport call, retried on quota, 5xx and network errors with exponential backoff."""
        from google.analytics.data_v1beta import RunReportResponse

        client = self._get()
        try:
            page, _ = with_retries(
                lambda: RunReportResponse.pb(client.run_report(request=request, timeout=self.timeout)),
                **policy(self),
                retryable=lambda exc: _describe(exc, self.credentials_path)[0],
                sleep=self.sleep,
            )
            return page
        except Exception as exc:  # noqa: BLE001 — sorted into bugs (raised as they are) and refusals
            retryable, description = _describe(exc, self.credentials_path)
            if description is None:
                raise
            if not retryable:
                raise SourceError(f"{what}: {description}") from None
            attempts, waited = exc.attempts, exc.waited  # type: ignore[attr-defined]
            tries = f"{attempts} attempt{'s' * (attempts > 1)}"
            raise SourceError(f"{what}: {description} (gave up after {tries} over {round(waited, 1):g} s)") from None


def _describe(exc: BaseException, credentials_path: str) -> tuple[bool, str | None]:
    """(retryable?, one line) for the errors the API and the network give; (False, None) for bugs."""
    import requests
    from google.api_core import exceptions as api
    from google.auth import exceptions as auth

    if isinstance(exc, api.GoogleAPICallError):
        code = exc.code if isinstance(exc.code, int) else None
        status, message = _error_body(exc)
        said = f"HTTP {code}{' ' + status if status else ''}: {message}".rstrip(": ")
        if isinstance(exc, api.TooManyRequests):
            return True, f"Google Analytics quota exhausted ({said})"
        if code is not None and code >= 500 and code != 501:
            return True, f"Google Analytics server error ({said})"
        return False, f"Google Analytics refused the request ({said})"
    if isinstance(exc, auth.RefreshError):
        reason = exc.args[0] if exc.args and isinstance(exc.args[0], str) else type(exc).__name__
        return False, f"cannot get an access token with credentials file {credentials_path!r}: {reason}"
    if isinstance(exc, auth.TransportError | requests.ConnectionError | requests.Timeout):
        return True, f"cannot reach Google ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
    return False, None


def _error_body(exc: Any) -> tuple[str, str]:
    """(status, first line of message) of Google's JSON error body: `{"error": {"code", "message", "status"}}`."""
    try:
        error = exc.response.json()["error"]
        status, message = error.get("status", ""), error.get("message", "")
    except Exception:  # noqa: BLE001 — no body, not JSON, another shape: the client's own text
        status, message = "", exc.message or ""
    message = str(message).strip()
    return (status if isinstance(status, str) else ""), (message.splitlines()[0] if message else "")
