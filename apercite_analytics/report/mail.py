"""The report by e-mail: multipart/alternative (the text, and the HTML with its PNG charts attached
inline and referenced by `cid:`), through SMTP with STARTTLS or SSL, credentials from `[report]`
(whose `smtp_password` comes from the environment: `"${SMTP_PASSWORD}"`).

Mail clients render neither scripts nor SVG nor (for many) data: URIs: hence PNG parts by cid.
"""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path

from apercite_analytics.config.settings import ReportSettings
from apercite_analytics.errors import AnalyticsError, ConfigError


def message(subject: str, sender: str, to: list[str], text: str, html: str, images: dict[str, bytes]) -> EmailMessage:
    """The message; `html` refers to each image as `cid:<key>`, `images` maps those keys to PNGs."""
    mail = EmailMessage()
    mail["Subject"] = subject
    mail["From"] = sender
    mail["To"] = ", ".join(to)
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = make_msgid(domain=sender.rpartition("@")[2] or None)
    mail.set_content(text)
    mail.add_alternative(html, subtype="html")
    html_part = mail.get_payload()[1]
    for cid, png in images.items():
        html_part.add_related(png, "image", "png", cid=f"<{cid}>", filename=f"{cid.partition('@')[0]}.png")
    return mail


def _context(settings: ReportSettings, base: Path | None) -> ssl.SSLContext:
    cafile = settings.smtp_cafile
    if cafile and base is not None and not Path(cafile).is_absolute():
        cafile = str(base / cafile)
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(f"report.smtp_cafile: cannot read {cafile}: {exc}") from None


def check_settings(settings: ReportSettings) -> None:
    if not settings.mail_from or not settings.mail_to:
        raise ConfigError("report: --email needs mail_from and mail_to in the [report] section")


def send(mail: EmailMessage, settings: ReportSettings, base: Path | None = None) -> str:
    """Send through the configured server; returns a line to show. AnalyticsError naming the server."""
    check_settings(settings)
    host, port = settings.smtp_host, settings.port
    server = f"SMTP server {host}:{port}"
    context = _context(settings, base) if settings.smtp_security != "none" else None
    try:
        if settings.smtp_security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(host, port, timeout=settings.smtp_timeout, context=context)
        else:
            client = smtplib.SMTP(host, port, timeout=settings.smtp_timeout)
        with client:
            if settings.smtp_security == "starttls":
                client.starttls(context=context)
            if settings.smtp_user is not None:
                client.login(settings.smtp_user, settings.smtp_password or "")
            refused = client.send_message(mail)
    except smtplib.SMTPAuthenticationError as exc:
        raise AnalyticsError(
            f"e-mail not sent: {server} refused the login of {settings.smtp_user}: {_said(exc)}"
        ) from None
    except smtplib.SMTPRecipientsRefused as exc:
        raise AnalyticsError(
            f"e-mail not sent: {server} refused every recipient ({', '.join(exc.recipients)})"
        ) from None
    except smtplib.SMTPResponseException as exc:
        raise AnalyticsError(f"e-mail not sent: {server} answered {exc.smtp_code} {_said(exc)}") from None
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        reason = "timed out" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
        raise AnalyticsError(f"e-mail not sent: {server}: {reason}") from None
    sent = [a for a in settings.mail_to if a not in refused]
    if refused:
        return f"e-mailed the report to {', '.join(sent)} ({server} refused {', '.join(refused)})"
    return f"e-mailed the report to {', '.join(sent)} through {server}"


def _said(exc: smtplib.SMTPResponseException) -> str:
    text = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
    return text.splitlines()[0] if text else ""
