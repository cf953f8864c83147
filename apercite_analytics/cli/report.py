"""The `report` command: the KPI digest of a period, as text, HTML, PDF, e-mail and webhook.

Files are written first; then the e-mail and the webhook, each failure one error line (exit 1)
that leaves the files in place.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

from apercite_analytics.cli.metrics import _existing_store
from apercite_analytics.config import load as config
from apercite_analytics.config.secrets import mask_url
from apercite_analytics.config.settings import Settings
from apercite_analytics.dictionary import definitions, kpis
from apercite_analytics.errors import EXIT_FAILED, AnalyticsError, ConfigError, StoreError
from apercite_analytics.files import write_atomic
from apercite_analytics.report import digest as digests
from apercite_analytics.report import html, mail, text, webhook
from apercite_analytics.report.period import KINDS, Period, between, last_complete
from apercite_analytics.store.handle import Store
from apercite_analytics.window import parse_moment, utcnow

log = logging.getLogger("apercite_analytics")
FORMATS = {".html": "html", ".htm": "html", ".pdf": "pdf", ".txt": "text", ".text": "text"}


def add_parsers(commands, common: argparse.ArgumentParser) -> None:
    report = commands.add_parser(
        "report",
        parents=[common],
        help="the KPI digest of a period: text, HTML, PDF, e-mail, webhook",
        description="The dictionary's KPIs over a UTC period against the previous one. Without --out, "
        "--email or --webhook, the text goes to stdout.",
    )
    report.add_argument(
        "--period", choices=KINDS, help="the last complete day, ISO week or month (default: [report] period)"
    )
    report.add_argument("--since", help="start of a custom period (UTC date or date-time)")
    report.add_argument("--until", help="end of a custom period, exclusive")
    report.add_argument(
        "--out",
        action="append",
        default=[],
        metavar="FILE",
        help="write FILE: .html, .pdf or .txt (- for stdout); repeatable",
    )
    report.add_argument("--email", action="store_true", help="send it through the [report] SMTP settings")
    report.add_argument("--webhook", metavar="URL", help="POST the text to a Slack-compatible incoming webhook")
    report.add_argument(
        "--dashboard",
        action="append",
        default=[],
        help="only the KPIs of this dashboard (default: [report] dashboards)",
    )


def period_of(args: argparse.Namespace, default: str) -> Period:
    if args.since or args.until:
        if args.period or not (args.since and args.until):
            raise ConfigError("--since/--until: give both, and no --period")
        return between(parse_moment(args.since, "--since"), parse_moment(args.until, "--until"))
    return last_complete(args.period or default, utcnow())


def _outputs(args: argparse.Namespace) -> list[tuple[str, Path | None]]:
    outputs = []
    for out in args.out:
        if out == "-":
            outputs.append(("text", None))
            continue
        path = Path(out)
        kind = FORMATS.get(path.suffix.lower())
        if kind is None:
            raise ConfigError(f"--out {out}: say the format by the suffix: .html, .pdf or .txt")
        if not path.parent.is_dir():
            raise ConfigError(f"--out {out}: folder {path.parent} does not exist")
        outputs.append((kind, path))
    if not outputs and not args.email and not args.webhook:
        outputs.append(("text", None))
    return outputs


def run(args: argparse.Namespace) -> int:
    settings = config.load(args.config)
    dictionary = definitions.configured(settings)
    if dictionary is None:
        definitions.require(settings)
    folder = definitions.folder_of(settings)
    chosen = args.dashboard or settings.report.dashboards
    found = [k for k in kpis.configured(folder, dictionary) if not chosen or k.dashboard in chosen]
    if not found:
        raise ConfigError(f"{folder}: no KPI{' of ' + ', '.join(chosen) if chosen else ''} (see docs/kpis.md)")
    outputs = _outputs(args)
    if args.email:
        mail.check_settings(settings.report)
    if args.webhook:
        webhook.check_url(args.webhook)
    period = period_of(args, settings.report.period)
    if _existing_store(settings) is None:
        raise StoreError(f"store ({mask_url(settings.store.url)}) has no metrics yet: run `read all --write` first")
    with Store(settings.store.url) as store:
        for line in kpis.never_stored(found, store.metric_names()):
            log.warning("%s", line)
        digest = digests.compute(settings.report.title, found, period, store.report_reader(), utcnow())
    return deliver(args, settings, digest, outputs)


def deliver(
    args: argparse.Namespace, settings: Settings, digest: digests.Digest, outputs: list[tuple[str, Path | None]]
) -> int:
    """Write the files, then e-mail, then post; each failure one error line. Exit status 1 if any failed."""
    failures = 0
    plain = text.render(digest)
    charts = _charts(digest) if any(k in ("html", "pdf") for k, _ in outputs) or args.email else {}
    for kind, path in outputs:
        try:
            if path is None:
                sys.stdout.write(plain)
            elif kind == "text":
                write_atomic(path, plain)
            elif kind == "html":
                write_atomic(path, html.render(digest, lambda r: _src(charts, r)))
            else:
                from apercite_analytics.report.pdf import write_pdf

                write_pdf(html.render(digest, lambda r: _src(charts, r)), path)
        except OSError as exc:
            log.error("--out %s: cannot write: %s", path, exc.strerror or exc)
            failures += 1
            continue
        except AnalyticsError as exc:
            if isinstance(exc, ConfigError):
                raise
            log.error("%s", exc)
            failures += 1
            continue
        if path is not None:
            log.info("wrote %s", path)
    if args.email:
        report = settings.report
        cids = {r.kpi.key: f"{r.kpi.key}@apercite-analytics" for r in digest.results if r.kpi.key in charts}
        page = html.render(digest, lambda r: f"cid:{cids[r.kpi.key]}" if r.kpi.key in cids else None)
        images = {cids[k]: png for k, png in charts.items()}
        subject = f"{digest.title}: {digest.period.short()}" + ("" if digest.complete else " (partial)")
        message = mail.message(subject, report.mail_from, report.mail_to, plain, page, images)
        base = settings.path.parent if settings.path else None
        failures += _attempt(lambda: mail.send(message, report, base))
    if args.webhook:
        body = webhook.payload(text.headline(digest), plain)
        failures += _attempt(lambda: webhook.post(args.webhook, body, settings.report.webhook_timeout))
    return EXIT_FAILED if failures else 0


def _attempt(action: Callable[[], str]) -> int:
    try:
        log.info("%s", action())
    except ConfigError:
        raise
    except AnalyticsError as exc:
        log.error("%s", exc)
        return 1
    return 0


def _charts(digest: digests.Digest) -> dict[str, bytes]:
    from apercite_analytics.report.charts import Charts

    drawer = Charts()
    return {r.kpi.key: drawer.png(r) for r in digest.results if r.value is not None or r.previous is not None}


def _src(charts: dict[str, bytes], result: digests.KpiResult) -> str | None:
    png = charts.get(result.kpi.key)
    return html.data_uri(png) if png is not None else None
