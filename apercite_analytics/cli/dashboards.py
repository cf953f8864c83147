"""The `dashboards build|push` commands."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from apercite_analytics.config.settings import check_seconds
from apercite_analytics.errors import ConfigError

log = logging.getLogger("apercite_analytics")

TOKEN_ENV, PASSWORD_ENV = "GRAFANA_TOKEN", "GRAFANA_PASSWORD"


def add_parsers(commands, common: argparse.ArgumentParser, parser_class: type) -> None:
    dashboards = commands.add_parser("dashboards", help="Grafana dashboards: build the JSON, push it to Grafana")
    actions = dashboards.add_subparsers(
        dest="dashboards_command", required=True, metavar="ACTION", parser_class=parser_class
    )
    build = actions.add_parser(
        "build", parents=[common], help="write the dashboards' JSON", description="Write every dashboard's JSON file."
    )
    build.add_argument(
        "--out", type=Path, default=Path("grafana/dashboards"), help="folder (default: grafana/dashboards)"
    )
    push = actions.add_parser(
        "push",
        parents=[common],
        help="upload the dashboards through Grafana's HTTP API",
        description=f"Upload every dashboard into a Grafana folder, overwriting earlier versions. Credentials "
        f"from the environment: ${TOKEN_ENV} (a service-account token), or --user with ${PASSWORD_ENV}.",
    )
    push.add_argument("--url", required=True, help="Grafana's URL, e.g. http://localhost:3000")
    push.add_argument("--user", help=f"basic auth user (password from ${PASSWORD_ENV}) instead of ${TOKEN_ENV}")
    push.add_argument("--datasource-uid", help="uid of your PostgreSQL data source (default: apercite-store)")
    push.add_argument("--folder-uid", default="apercite-analytics", help="folder uid (default: apercite-analytics)")
    push.add_argument("--timeout", type=_seconds, default=10.0, help="seconds per request (default: 10)")


def _seconds(text: str) -> float:
    """A --timeout as the config's timeouts are checked (finite, ≥ 1 ms); argparse says which flag."""
    try:
        value = float(text)
        check_seconds(value, "--timeout")
    except (ValueError, ConfigError):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds from 0.001 to 604800") from None
    return value


def run(args: argparse.Namespace) -> int:
    if args.dashboards_command == "build":
        from apercite_analytics.dashboards.build import build

        for path, changed in build(args.out):
            log.info("%s %s", "wrote" if changed else "unchanged", path)
        return 0
    from apercite_analytics.dashboards.push import push

    if args.user:
        password = os.environ.get(PASSWORD_ENV)
        if password is None:
            raise ConfigError(f"--user {args.user}: set the password in ${PASSWORD_ENV}")
        credential: str | tuple[str, str] | None = (args.user, password)
    else:
        credential = os.environ.get(TOKEN_ENV)
        if not credential:
            raise ConfigError(
                f"set ${TOKEN_ENV} to a Grafana service-account token, or use --user with ${PASSWORD_ENV}"
            )
    for line in push(
        args.url, credential, datasource_uid=args.datasource_uid, folder_uid=args.folder_uid, timeout=args.timeout
    ):
        log.info("%s", line)
    return 0
