"""The report's text to a Slack-compatible incoming webhook: `{"text": …}` JSON, POSTed once.

Slack, Mattermost, Rocket.Chat and Discord's `/slack` endpoints accept this shape; the table goes
in a code block so its columns line up. The webhook URL holds its secret in the path: errors name
only its scheme and host.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import urlsplit

from apercite_analytics.errors import AnalyticsError, ConfigError


def payload(headline: str, body: str) -> dict:
    return {"text": f"*{headline}*\n```\n{body.rstrip()}\n```"}


def shown(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{f':{parts.port}' if parts.port else ''}/…"


def check_url(url: str) -> None:
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise ConfigError("--webhook: expected an http:// or https:// URL")


def post(url: str, body: dict, timeout: float) -> str:
    check_url(url)
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json", "User-Agent": "apercite-analytics"},
        method="POST",
    )
    where = f"webhook {shown(url)}"
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 — http(s) only, checked
            status = response.status
    except urllib.error.HTTPError as exc:
        raise AnalyticsError(f"{where}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        text = "timed out" if isinstance(reason, TimeoutError) or "timed out" in str(reason) else str(reason)
        raise AnalyticsError(f"{where}: {text}") from None
    return f"posted the report to {where} (HTTP {status})"
