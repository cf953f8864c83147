"""The `db` commands: the store's schema (`upgrade`, `current`) and Grafana's read-only role."""

from __future__ import annotations

import argparse
import logging
import os
import sys

from apercite_analytics.config import load as config
from apercite_analytics.errors import EXIT_OK

log = logging.getLogger("apercite_analytics")
DB_PASSWORD_ENV = "APERCITE_GRAFANA_DB_PASSWORD"


def add_parsers(commands, common: argparse.ArgumentParser, parser_class: type) -> None:
    db = commands.add_parser("db", help="manage the metric store's schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION", parser_class=parser_class)
    for name, text in (
        ("upgrade", "migrate the store to the newest schema"),
        ("current", "print the store's schema revision"),
    ):
        action = db_commands.add_parser(name, parents=[common], help=text, description=text)
        action.add_argument("--url", help="store URL (default: store.url from the config, else sqlite:///analytics.db)")
    text = "create the read-only PostgreSQL role Grafana connects with"
    grant = db_commands.add_parser("grant-readonly", parents=[common], help=text, description=text + ".")
    grant.add_argument("--url", help="store URL (default: store.url from the config); a user allowed to create roles")
    grant.add_argument("--role", default="grafana_reader", help="role name (default: grafana_reader)")
    grant.add_argument(
        "--password-env",
        default=DB_PASSWORD_ENV,
        metavar="NAME",
        help=f"environment variable with the role's password (default: {DB_PASSWORD_ENV}; unset: password unchanged)",
    )
    grant.add_argument("--print", action="store_true", help="print the SQL instead of running it")


def run(args: argparse.Namespace) -> int:
    if args.db_command == "grant-readonly":
        return _grant_readonly(args)
    return _schema(args)


def _schema(args: argparse.Namespace) -> int:
    from apercite_analytics.store import schema as store

    url = args.url or config.load(args.config, required=False).store.url
    if args.db_command == "current":
        missing = store.missing_sqlite_file(url)
        if missing is not None:  # never create a store to say it is empty
            print(f"no store: {missing} does not exist (`db upgrade` or `read --write` creates it)")
            return EXIT_OK
    engine = store.open_engine(url)
    try:
        if args.db_command == "current":
            current = store.current_revision(engine)
            head = store.head_revision()
            problems = store.live_schema_problems(engine) if current == head else []
            if store.is_newer(current):
                state = f"newer than this version of apercite-analytics (it knows up to {head}): upgrade the program"
            elif problems:
                state = f"up to date, but its tables differ: {'; '.join(problems)}"
            else:
                state = "up to date" if current == head else f"behind (newest is {head})"
            print(f"{current or 'empty (never migrated)'}: {state}")
            return EXIT_OK
        before, after = store.upgrade(engine)
        if before == after:
            log.info("%s is up to date (revision %s)", store.describe(engine), after)
        else:
            log.info("upgraded %s from %s to %s", store.describe(engine), before or "empty", after)
        return EXIT_OK
    finally:
        engine.dispose()


def _grant_readonly(args: argparse.Namespace) -> int:
    from apercite_analytics.store import readonly
    from apercite_analytics.store import schema as store

    readonly.check_role(args.role)
    url = args.url or config.load(args.config, required=False).store.url
    readonly.check_dialect(url)
    engine = store.open_engine(url)
    try:
        if args.print:
            database = engine.url.database or "analytics"
            print(readonly.script(args.role, database))
            sys.stdout.flush()
            return 0
        for line in readonly.grant(engine, args.role, os.environ.get(args.password_env)):
            log.info("%s", line)
        return 0
    finally:
        engine.dispose()
