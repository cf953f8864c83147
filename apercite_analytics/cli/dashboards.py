"""The `dashboards build|push` commands."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from apercite_analytics.config import load as config
from apercite_analytics.config.settings import Settings, check_seconds
from apercite_analytics.dictionary import definitions
from apercite_analytics.dictionary.kpis import Kpi
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
    for command in (build, push):
        command.add_argument(
            "--dictionary",
            type=Path,
            metavar="FOLDER",
            help="the metrics dictionary with the KPIs (default: the config's [dictionary], else ./metrics)",
        )


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
        return _build(args)
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
    folder = _dictionary_folder(args, config.load(args.config, required=False))
    for line in push(
        args.url,
        credential,
        datasource_uid=args.datasource_uid,
        folder_uid=args.folder_uid,
        timeout=args.timeout,
        dictionary=folder,
    ):
        log.info("%s", line)
    return 0


def _dictionary_folder(args: argparse.Namespace, settings: Settings) -> Path:
    """--dictionary, else the config's [dictionary] path, else ./metrics."""
    folder = args.dictionary or definitions.folder_of(settings) or Path("metrics")
    if not folder.is_dir():
        raise ConfigError(f"{folder}: no metrics dictionary here (add [dictionary] path, or pass --dictionary)")
    return folder


def _build(args: argparse.Namespace) -> int:
    """Build from the dictionary's KPIs; warn (file:line) about KPI metrics the store never had."""
    from apercite_analytics.dashboards.build import build, load_dictionary

    settings = config.load(args.config, required=False)
    folder = _dictionary_folder(args, settings)
    for path, changed in build(folder, args.out):
        log.info("%s %s", "wrote" if changed else "unchanged", path)
    if settings.path is not None:
        warn_unstored_kpis(settings, load_dictionary(folder)[1])
    return 0


def warn_unstored_kpis(settings: Settings, kpis: list[Kpi]) -> None:
    """One warning (file:line) per KPI whose metric the configured store never had: an empty panel
    would otherwise go unnoticed. A store that does not exist yet is not checked (it says so)."""
    from apercite_analytics.cli.metrics import _existing_store
    from apercite_analytics.dictionary.kpis import never_stored
    from apercite_analytics.errors import StoreError
    from apercite_analytics.store.handle import Store

    try:
        if _existing_store(settings) is None:
            log.info("KPI metrics not checked: the store has no metrics yet")
            return
        with Store(settings.store.url) as store:
            names = store.metric_names()
    except StoreError as exc:
        log.warning("KPI metrics not checked against the store: %s", exc)
        return
    for line in never_stored(kpis, names):
        log.warning("%s", line)
