"""The dictionary's commands: `metrics validate|list|show|sync`, `rollup`, `export`.

`cli.py` registers them with `add_parsers` and hands the parsed arguments to `run`.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy.engine import Engine, make_url

from apercite_analytics.config import load as config
from apercite_analytics.dictionary import definitions as dictionary
from apercite_analytics.dictionary import export, kpis
from apercite_analytics.dictionary.definitions import Definition, Dictionary
from apercite_analytics.errors import EXIT_FAILED, EXIT_OK, ConfigError
from apercite_analytics.record import as_exact
from apercite_analytics.store import definitions as store_definitions
from apercite_analytics.store import queries, rollup
from apercite_analytics.store import schema as store
from apercite_analytics.window import floor_day, parse_moment, utcnow

log = logging.getLogger("apercite_analytics")
COMMANDS = ("metrics", "rollup", "export")


def add_parsers(commands, common: argparse.ArgumentParser, parser_class: type) -> None:
    metrics = commands.add_parser("metrics", help="the metrics dictionary: validate, list, show, sync")
    actions = metrics.add_subparsers(dest="metrics_command", required=True, metavar="ACTION", parser_class=parser_class)
    validate = actions.add_parser("validate", parents=[common], help="check every definition file")
    validate.add_argument("--strict", action="store_true", help="also fail on stored metrics no definition covers")
    actions.add_parser("list", parents=[common], help="the definitions and the stored metrics they cover, last values")
    show = actions.add_parser("show", parents=[common], help="one definition or metric, with its last values")
    show.add_argument("key", metavar="KEY", help="a metric name or a definition key (pattern)")
    actions.add_parser("sync", parents=[common], help="write the definitions into the store")

    roll = commands.add_parser(
        "rollup",
        parents=[common],
        help="compute daily values from hourly ones (each metric's aggregation)",
        description="Roll hourly values up to daily ones for the UTC days that [--since, --until) touches.",
    )
    roll.add_argument("--since", metavar="TIME", help="first UTC date/time (default: yesterday 00:00 UTC)")
    roll.add_argument("--until", metavar="TIME", help="end, exclusive (default: now)")

    out = commands.add_parser("export", parents=[common], help="current values of active metrics as nested JSON")
    out.add_argument("--out", metavar="FILE", type=Path, help="write to FILE (default: stdout)")


def run(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    try:
        if args.command == "metrics":
            action = {"validate": _validate, "list": _list, "show": _show, "sync": _sync}[args.metrics_command]
            return action(args, settings)
        if args.command == "rollup":
            return _rollup(args, settings)
        return _export(args, settings)
    except BrokenPipeError:  # `metrics list | head`: stdout's reader left, which is no error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


# ── helpers ──────────────────────────────────────────────────────────────────────────────────


def _existing_store(settings: config.Settings) -> Engine | None:
    """An engine on the store, or None for a SQLite file that does not exist (never create one to read it)."""
    url = make_url(settings.store.url) if "://" in settings.store.url else None
    if url is not None and url.get_backend_name() == "sqlite":
        database = url.database or ""
        if database in ("", ":memory:") or not Path(database).is_file():
            return None
    engine = store.open_engine(settings.store.url)
    if store.current_revision(engine) is None:
        engine.dispose()
        return None
    return engine


def _ready_store(settings: config.Settings, metrics: Dictionary | None) -> Engine:
    """An engine on a writable store (initialised if empty) with the dictionary synced into it."""
    engine = store.open_engine(settings.store.url)
    note = store.ensure_ready(engine)
    if note:
        log.info("%s", note)
    if metrics is not None:
        synced = store_definitions.sync(engine, metrics)
        if synced.changed or synced.described:
            log.info("%s", synced.line())
    return engine


def _fmt(value: float | None) -> str:
    if value is None:
        return ""
    exact = as_exact(value)
    return str(exact) if isinstance(exact, int) else f"{value:.6g}"


def _latest_text(latest: queries.Latest | None) -> tuple[str, str]:
    if latest is None:
        return "", ""
    hourly = daily = ""
    if latest.hourly:
        day, hour, value = latest.hourly
        hourly = f"{_fmt(value)} at {day} {hour:02d}:00"
    if latest.daily:
        day, value, rolled = latest.daily
        daily = f"{_fmt(value)} on {day}{' (rollup)' if rolled else ''}"
    return hourly, daily


# ── commands ─────────────────────────────────────────────────────────────────────────────────


def _validate(args: argparse.Namespace, settings: config.Settings) -> int:
    folder = dictionary.require(settings)
    metrics, errors = dictionary.load(folder)
    for error in errors:
        log.error("%s", error)
    if errors:
        log.error("%s: %d problem%s in %d files", folder, len(errors), "s" * (len(errors) != 1), metrics.files)
        return EXIT_FAILED
    events = f" and {len(metrics.events)} events" if metrics.events else ""
    log.info("%s: %d definitions%s in %d files, ok", folder, len(metrics), events, metrics.files)
    found, kpi_errors = kpis.load(folder, metrics)
    for error in kpi_errors:
        log.error("%s", error)
    if kpi_errors:
        log.error("%s: %d KPI problem%s", folder, len(kpi_errors), "s" * (len(kpi_errors) != 1))
        return EXIT_FAILED
    if found:
        log.info("%s: %d KPIs, ok", folder, len(found))
    if not args.strict:
        return EXIT_OK
    engine = _existing_store(settings)
    names = store_definitions.stored_names(engine) if engine is not None else []
    if engine is not None:
        engine.dispose()
    uncovered = [n for n in names if metrics.match(n) is None]
    if uncovered:
        log.error("store: %s that no definition covers", rollup.names(uncovered, "metric"))
        for name in uncovered:
            print(name)
        return EXIT_FAILED
    log.info("store: every one of its %d metrics has a definition", len(names))
    return EXIT_OK


def _list(args: argparse.Namespace, settings: config.Settings) -> int:
    metrics = dictionary.configured(settings)
    if metrics is None:
        dictionary.require(settings)
    latest: dict[str, queries.Latest] = {}
    engine = _existing_store(settings)
    if engine is not None:
        with engine.connect() as connection:
            latest = queries.latest_values(connection)
        engine.dispose()
    covered: dict[str, list[str]] = {}
    uncovered = []
    for name in latest:
        found = metrics.match(name)
        if found is None:
            uncovered.append(name)
        else:
            covered.setdefault(found.key, []).append(name)
    rows = [("KEY / METRIC", "STATUS", "AGG", "FRAME", "UNIT", "LAST HOURLY", "LAST DAILY")]
    for definition in metrics:
        rows.append(
            (
                definition.key,
                definition.status,
                definition.aggregation,
                definition.time_frame,
                definition.unit,
                "",
                "",
            )
        )
        for name in covered.get(definition.key, []):
            rows.append((f"  {name}", "", "", "", "", *_latest_text(latest[name])))
    if uncovered:
        rows.append(("(no definition)", "", "", "", "", "", ""))
        rows.extend((f"  {name}", "", "", "", "", *_latest_text(latest[name])) for name in uncovered)
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())
    return EXIT_OK


def _show(args: argparse.Namespace, settings: config.Settings) -> int:
    metrics = dictionary.configured(settings)
    if metrics is None:
        dictionary.require(settings)
    engine = _existing_store(settings)
    stored = store_definitions.stored_names(engine) if engine is not None else []
    definition: Definition | None = metrics.get(args.key) or metrics.match(args.key)
    if definition is None and args.key not in stored:
        if engine is not None:
            engine.dispose()
        log.error("%s: no definition covers it and no stored metric has that name", args.key)
        return EXIT_FAILED
    if definition is None:
        print(f"{args.key}: no definition covers it (add one to {dictionary.folder_of(settings)})")
        shown = [args.key]
    else:
        for name in ("key", "description", "unit", "value_type", "aggregation", "time_frame", "status"):
            print(f"{name + ':':<15}{getattr(definition, name)}")
        for name in ("owner", "product_group", "data_source", "introduced", "removed"):
            if getattr(definition, name) is not None:
                print(f"{name + ':':<15}{getattr(definition, name)}")
        print(f"{'defined in:':<15}{definition.where}")
        shown = [args.key] if args.key in stored else [n for n in stored if metrics.match(n) == definition]
        print(f"{'metrics:':<15}{len(shown)} in the store")
    if engine is not None:
        with engine.connect() as connection:
            for name in shown:
                hourly, daily = queries.recent_values(connection, name)
                print(f"\n{name}")
                for day, hour, value in hourly:
                    print(f"  hourly  {day} {hour:02d}:00  {_fmt(value)}")
                for day, value, rolled in daily:
                    print(f"  daily   {day}        {_fmt(value)}{'  (rollup)' if rolled else ''}")
        engine.dispose()
    return EXIT_OK


def _sync(args: argparse.Namespace, settings: config.Settings) -> int:
    folder = dictionary.require(settings)
    metrics = dictionary.configured(settings)
    engine = _ready_store(settings, None)
    try:
        synced = store_definitions.sync(engine, metrics)
    finally:
        engine.dispose()
    state = "" if synced.changed or synced.described else "; the store was already up to date"
    log.info("%s, from %s into %s%s", synced.line(), folder, store.describe(engine), state)
    if synced.uncovered:
        log.info("stored metrics no definition covers: %s", rollup.names(synced.uncovered, "metric"))
    return EXIT_OK


def _rollup(args: argparse.Namespace, settings: config.Settings) -> int:
    now = utcnow()
    since = parse_moment(args.since, "--since") if args.since else floor_day(now) - timedelta(days=1)
    until = parse_moment(args.until, "--until") if args.until else now
    if since >= until:
        raise ConfigError(f"--since ({since:%Y-%m-%d %H:%M}) must be before --until ({until:%Y-%m-%d %H:%M})")
    metrics = dictionary.configured(settings)
    if metrics is None:
        log.warning("no [dictionary] in the config: using the definitions last synced into the store")
    engine = _ready_store(settings, metrics)
    try:
        result = rollup.roll_up(engine, rollup.days_of(since, until))
    finally:
        engine.dispose()
    if not args.quiet:
        print(result.line(), file=sys.stderr)
    return EXIT_OK


def _export(args: argparse.Namespace, settings: config.Settings) -> int:
    dictionary.require(settings)
    engine = _ready_store(settings, dictionary.configured(settings))
    try:
        values, periods, left_out = export.current(engine)
    finally:
        engine.dispose()
    export.write(export.payload(values, periods=periods), args.out)
    where = f" to {args.out}" if args.out else ""
    log.info("exported %d active metric%s%s", len(values), "s" * (len(values) != 1), where)
    if left_out:
        log.info("left out (no active definition): %s", rollup.names(left_out, "metric"))
    return EXIT_OK
