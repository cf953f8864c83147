"""`dashboards push`: upload the dashboards through Grafana's HTTP API (`grafana-client`), for users
who do not provision files.

Requests, in order (documented Grafana HTTP API):
  GET  /api/datasources/uid/<uid>   the PostgreSQL data source the panels query must exist
  GET  /api/folders/<uid>           the dashboards' folder; 404 → POST /api/folders {uid, title}
  POST /api/dashboards/db           {dashboard, folderUid, overwrite: true, message} per dashboard
Credentials: a service-account token (`Authorization: Bearer …`) or a user and password (basic).
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

from apercite_analytics.config.secrets import mask_url
from apercite_analytics.dashboards.build import SHIPPED, load_dictionary
from apercite_analytics.dashboards.definitions import all_dashboards
from apercite_analytics.dashboards.panels import DATASOURCE
from apercite_analytics.errors import AnalyticsError, ConfigError

FOLDER_UID = "apercite-analytics"
FOLDER_TITLE = "apercite-analytics"
_ERRNO = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


class GrafanaError(AnalyticsError):
    """Grafana refused or could not be reached (one line naming the URL and what it said)."""

    def __init__(self, message: str, status: int = 0):
        super().__init__(message)
        self.status = status


def with_datasource(dashboard: dict[str, Any], uid: str) -> dict[str, Any]:
    """A copy of `dashboard` whose PostgreSQL data source references point at `uid`."""
    result = copy.deepcopy(dashboard)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == DATASOURCE["type"] and "uid" in node:
                node["uid"] = uid
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(result)
    return result


def _api(url: str, credential: str | tuple[str, str] | None, timeout: float):
    try:
        from grafana_client import GrafanaApi
    except ImportError:
        raise ConfigError("dashboards push needs grafana-client: pip install 'apercite-analytics[grafana]'") from None
    if not url.startswith(("http://", "https://")):
        raise ConfigError(f"--url {mask_url(url)!r}: expected http://host:port or https://…")
    return GrafanaApi.from_url(url, credential=credential, timeout=timeout)


def _call(url: str, what: str, function, *args, **kwargs):
    """Run one API call; Grafana's and the transport's errors become one GrafanaError line."""
    from grafana_client.client import GrafanaException

    try:
        return function(*args, **kwargs)
    except GrafanaException as exc:
        status = f"HTTP {exc.status_code}: " if exc.status_code else ""
        said = exc.response.get("message") if isinstance(exc.response, dict) else None
        hint = " (check GRAFANA_TOKEN, or --user and GRAFANA_PASSWORD)" if exc.status_code in (401, 403) else ""
        message = f"Grafana at {mask_url(url)}: {what}: {status}{said or exc.message}{hint}"
        raise GrafanaError(message, exc.status_code) from None
    except OSError as exc:  # niquests' connection errors are OSErrors
        raise GrafanaError(f"Grafana at {mask_url(url)}: {what}: cannot connect: {connection_problem(exc)}") from None


def connection_problem(exc: OSError) -> str:
    """The reason inside a transport error (`Connection refused`, `timed out`, a DNS failure), not
    the urllib3 wrapper's text (pool, retries, object addresses)."""
    text = str(exc)
    found = _ERRNO.search(text)
    if found:
        return found.group(1).strip()
    for reason in ("timed out", "Name or service not known", "certificate verify failed", "Connection reset"):
        if reason.lower() in text.lower():
            return reason
    return text.splitlines()[0][:200] if text else type(exc).__name__


def push(
    url: str,
    credential: str | tuple[str, str] | None,
    *,
    datasource_uid: str | None = None,
    folder_uid: str = FOLDER_UID,
    timeout: float = 10.0,
    dictionary: Path = SHIPPED,
) -> list[str]:
    """Upload every dashboard (overwriting the previous version); returns one line per dashboard."""
    api = _api(url, credential, timeout)
    uid = datasource_uid or DATASOURCE["uid"]
    try:
        _call(url, f"data source {uid!r}", api.datasource.get_datasource_by_uid, uid)
    except GrafanaError as exc:
        if exc.status != 404:
            raise
        raise GrafanaError(
            f"Grafana at {mask_url(url)} has no data source with uid {uid!r}: provision "
            "grafana/provisioning/datasources/apercite.yaml, or pass --datasource-uid of your PostgreSQL data source",
            404,
        ) from None
    try:
        _call(url, f"folder {folder_uid!r}", api.folder.get_folder, folder_uid)
    except GrafanaError as exc:
        if exc.status != 404:
            raise
        _call(url, f"creating folder {folder_uid!r}", api.folder.create_folder, FOLDER_TITLE, uid=folder_uid)
    lines = []
    for dashboard in all_dashboards(*load_dictionary(dictionary)):
        model = dashboard.to_json()
        if datasource_uid:
            model = with_datasource(model, datasource_uid)
        answer = _call(
            url,
            f"dashboard {dashboard.uid!r}",
            api.dashboard.update_dashboard,
            {
                "dashboard": {**model, "id": None},
                "folderUid": folder_uid,
                "overwrite": True,
                "message": "apercite-analytics dashboards push",
            },
        )
        lines.append(
            f"{dashboard.title}: {answer.get('status', 'ok')}, version {answer.get('version')}, {answer.get('url')}"
        )
    return lines
