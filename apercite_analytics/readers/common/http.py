"""HTTP for readers of HTTP APIs: one GET with a total deadline, and URLs with credentials
(retries: `retry.py`)."""

from __future__ import annotations

import base64
import contextlib
import http.client
import socket
import threading
import time
from collections.abc import Mapping
from email.message import Message
from typing import Any, NamedTuple
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import requests
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers

MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)


def split_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """`http://u:p@host/x` → (`http://host/x`, ("u", "p")): the URL to request, and basic auth."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url, None
    host = parts.netloc.rpartition("@")[2]
    bare = urlunsplit(parts._replace(netloc=host))
    return bare, (unquote(parts.username or ""), unquote(parts.password or ""))


def mask_credentials(url: str) -> str:
    """`http://u:secret@host/x` → `http://u:***@host/x` (a user alone is kept, a password never)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{parts.username}:***@{host}"))


class ConnectTimeout(TimeoutError):
    """No connection within the connect timeout."""


class Answer(NamedTuple):
    status: int
    reason: str
    headers: Message
    body: bytes


def get(
    url: str,
    *,
    timeout: float,
    max_bytes: int,
    headers: Mapping[str, str] | None = None,
    connect_timeout: float | None = None,
    auth: tuple[str, str] | None = None,
) -> Answer:
    """GET `url` (following up to MAX_REDIRECTS redirects) in at most `timeout` seconds in all.

    A socket timeout bounds one read only: a server dripping its answer a byte a second would pass
    it forever. Here a watchdog shuts the connection down when the deadline passes, whatever the
    request is doing (connecting, sending, waiting for headers, reading the body), and the call
    raises `TimeoutError`. Connection errors raise `OSError`, a broken answer
    `http.client.HTTPException`; an HTTP error status is returned (the caller decides about it).
    The body is read up to `max_bytes + 1` bytes (so the caller can tell it was too large).
    Environment proxy settings are not used.
    """
    end = time.monotonic() + timeout
    request_headers = dict(headers or {})
    if auth is not None:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
        request_headers["Authorization"] = f"Basic {token}"
    for _ in range(MAX_REDIRECTS + 1):
        answer = _get_once(url, request_headers, end, timeout, connect_timeout, max_bytes)
        location = answer.headers.get("Location")
        if answer.status not in _REDIRECTS or not location:
            return answer
        target = urljoin(url, location)
        if urlsplit(target).netloc != urlsplit(url).netloc:
            request_headers.pop("Authorization", None)  # credentials stay with their host
        url = target
    raise http.client.HTTPException(f"more than {MAX_REDIRECTS} redirects")


def _get_once(
    url: str, headers: dict[str, str], end: float, timeout: float, connect_timeout: float | None, max_bytes: int
) -> Answer:
    parts = urlsplit(url)
    remaining = end - time.monotonic()
    if remaining <= 0:
        raise TimeoutError(f"no complete answer within {timeout:g} s")
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    connection = kind(parts.hostname or "", parts.port, timeout=min(connect_timeout or remaining, remaining))
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        sock = connection.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes up a read blocked in another thread

    watchdog = threading.Timer(remaining, expire)
    watchdog.daemon = True
    watchdog.start()
    try:
        try:
            connection.connect()
        except TimeoutError:
            if expired.is_set():
                raise
            raise ConnectTimeout(f"no connection within {connect_timeout or timeout:g} s") from None
        if connection.sock is not None:
            connection.sock.settimeout(max(0.001, end - time.monotonic()))
        connection.request("GET", urlunsplit(("", "", parts.path or "/", parts.query, "")), headers=headers)
        response = connection.getresponse()
        body = response.read(max_bytes + 1)
        if expired.is_set():  # a body cut short by the watchdog may look complete
            raise TimeoutError
        return Answer(response.status, response.reason, response.headers, body)
    except ConnectTimeout:
        raise
    except (OSError, http.client.HTTPException) as exc:
        if expired.is_set() or isinstance(exc, TimeoutError):
            raise TimeoutError(f"no complete answer within {timeout:g} s") from None
        raise
    finally:
        watchdog.cancel()
        connection.close()


class DeadlineAdapter(requests.adapters.BaseAdapter):
    """A `requests` transport whose every request ends within `timeout` seconds in all (`get`), for
    clients that take a `requests.Session` (prometheus-api-client). GET only."""

    def __init__(self, timeout: float, connect_timeout: float, max_bytes: int):
        super().__init__()
        self.timeout, self.connect_timeout, self.max_bytes = timeout, connect_timeout, max_bytes

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if request.method != "GET":
            raise requests.exceptions.InvalidSchema(f"{request.method}: only GET is supported here")
        try:
            answer = get(
                request.url or "",
                timeout=self.timeout,
                connect_timeout=self.connect_timeout,
                max_bytes=self.max_bytes,
                # the body is returned as read: no compressed answer
                headers={
                    **{k: v for k, v in request.headers.items() if isinstance(v, str)},
                    "Accept-Encoding": "identity",
                },
            )
        except ConnectTimeout as exc:
            raise requests.ConnectTimeout(str(exc), request=request) from None
        except TimeoutError as exc:
            raise requests.ReadTimeout(str(exc), request=request) from None
        except (OSError, http.client.HTTPException) as exc:
            raise requests.ConnectionError(exc, request=request) from None
        if len(answer.body) > self.max_bytes:
            raise ValueError(f"answer larger than {self.max_bytes // 1024 // 1024} MiB")
        response = requests.Response()
        response.status_code, response.reason = answer.status, answer.reason
        response.headers = CaseInsensitiveDict(answer.headers.items())
        response._content = answer.body
        response.encoding = get_encoding_from_headers(response.headers)
        response.url, response.request, response.connection = request.url or "", request, self
        return response

    def close(self) -> None:
        pass
