"""`report --email` into real SMTP servers (aiosmtpd on loopback: a plain one, and one that demands
AUTH over STARTTLS with its own certificate), the MIME parsed back; `--webhook` into a local HTTP
server. A server that is down, refuses or times out is one error line, exit 1, files still written."""

from __future__ import annotations

import email
import json
import re
import subprocess
import threading
import time
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from support import report_seed as seed
from support.ports import free_port
from test_report import report, seed_store, with_config

PASSWORD = "s3cret-smtp-pass"


class Inbox:
    """An aiosmtpd handler keeping what it receives; `refuse` answers every RCPT with 550."""

    def __init__(self, refuse: bool = False) -> None:
        self.messages: list[tuple[str, list[str], bytes, bool]] = []
        self.refuse = refuse

    async def handle_RCPT(self, server, session, envelope, address, options):
        if self.refuse:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.mail_from, envelope.rcpt_tos, envelope.content, bool(session.authenticated)))
        return "250 OK"


def authenticate(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"reporter",
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 on failure


@pytest.fixture(scope="module")
def sqlite_store(tmp_path_factory):
    yield from seed_store(f"sqlite:///{tmp_path_factory.mktemp('store') / 'store.db'}")


@pytest.fixture
def seeded(sqlite_store, tmp_path):
    """The seeded store (SQLite: delivery does not depend on the dialect, test_report covers both)."""
    return with_config(sqlite_store, tmp_path)


@pytest.fixture
def plain_smtp():
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller.port, inbox
    controller.stop()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_smtp(certificate):
    import ssl

    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    inbox = Inbox()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=free_port(),
        tls_context=context,
        require_starttls=True,
        auth_required=True,
        auth_require_tls=True,
        authenticator=authenticate,
    )
    controller.start()
    yield controller.port, inbox
    controller.stop()


def configure(path: Path, engine, **report_settings: str) -> None:
    """Rewrite the config with these [report] settings (TOML values) and the test's addresses."""
    settings = {"mail_from": '"KPI bot <kpi@example.com>"', "mail_to": '["founder@example.com", "sales@example.com"]'}
    url = engine.url.render_as_string(hide_password=False)
    path.write_text(seed.config_text(url, **settings, **report_settings), encoding="utf-8")


def check_message(raw: bytes, engine) -> None:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert message["Subject"] == "KPI report: 23 Nov 2026 – 29 Nov 2026"
    assert message["To"] == "founder@example.com, sales@example.com"
    assert message.get_content_type() == "multipart/alternative"
    text_part = message.get_body(preferencelist=("plain",))
    html_part = message.get_body(preferencelist=("html",))
    text = text_part.get_content()
    html = html_part.get_content()
    assert "Signups" in text and "Job health" in text
    seed.check_cards(html, engine)
    images = {
        part["Content-ID"].strip("<>"): part.get_content()
        for part in message.walk()
        if part.get_content_type() == "image/png"
    }
    cids = re.findall(r'src="cid:([^"]+)"', html)
    assert cids and sorted(cids) == sorted(images), (cids, list(images))
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in images.values())
    assert "data:" not in html and "http" not in html.split("<footer>")[0]


def test_email_through_a_plain_smtp_server(seeded, plain_smtp, tmp_path, capsys):
    path, engine = seeded
    port, inbox = plain_smtp
    configure(path, engine, smtp_host='"127.0.0.1"', smtp_port=str(port), smtp_security='"none"')
    assert report(path, "--email") == 0
    ((sender, recipients, raw, _),) = inbox.messages
    assert sender == "kpi@example.com" and recipients == ["founder@example.com", "sales@example.com"]
    check_message(raw, engine)
    assert f"e-mailed the report to founder@example.com, sales@example.com through SMTP server 127.0.0.1:{port}" in (
        capsys.readouterr().err
    )


def test_email_with_auth_over_starttls(seeded, tls_smtp, certificate, tmp_path, capsys, monkeypatch):
    path, engine = seeded
    port, inbox = tls_smtp
    monkeypatch.setenv("SMTP_PASSWORD", PASSWORD)
    configure(
        path,
        engine,
        smtp_host='"127.0.0.1"',
        smtp_port=str(port),
        smtp_security='"starttls"',
        smtp_cafile=f'"{certificate[0]}"',
        smtp_user='"reporter"',
        smtp_password='"${SMTP_PASSWORD}"',
    )
    assert report(path, "--email") == 0
    ((_, _, raw, authenticated),) = inbox.messages
    assert authenticated
    check_message(raw, engine)
    # a wrong password: one line naming the server and the user, never the password
    monkeypatch.setenv("SMTP_PASSWORD", "wrong-password")
    capsys.readouterr()
    page = tmp_path / "kept.html"
    assert report(path, "--email", "--out", str(page)) == 1
    err = capsys.readouterr().err
    (line,) = [line for line in err.splitlines() if line.startswith("error:")]
    assert line.startswith(f"error: e-mail not sent: SMTP server 127.0.0.1:{port} refused the login of reporter")
    assert "wrong-password" not in err and page.is_file()
    assert len(inbox.messages) == 1


def test_smtp_down_is_one_line_and_files_are_kept(seeded, tmp_path, capsys):
    path, engine = seeded
    port = free_port()  # nothing listens there
    configure(path, engine, smtp_host='"127.0.0.1"', smtp_port=str(port), smtp_security='"none"', smtp_timeout="5")
    page, text = tmp_path / "r.html", tmp_path / "r.txt"
    assert report(path, "--email", "--out", str(page), "--out", str(text)) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors[0].startswith(f"error: e-mail not sent: SMTP server 127.0.0.1:{port}: ")
    assert "Signups" in page.read_text() and "Signups" in text.read_text()


def test_smtp_refusing_the_recipients_is_one_line(seeded, tmp_path, capsys):
    path, engine = seeded
    inbox = Inbox(refuse=True)
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        configure(path, engine, smtp_host='"127.0.0.1"', smtp_port=str(controller.port), smtp_security='"none"')
        page = tmp_path / "r.html"
        assert report(path, "--email", "--out", str(page)) == 1
    finally:
        controller.stop()
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert errors == [
        f"error: e-mail not sent: SMTP server 127.0.0.1:{controller.port} refused every recipient "
        "(founder@example.com, sales@example.com)"
    ]
    assert page.is_file() and inbox.messages == []


class Hook(BaseHTTPRequestHandler):
    status = 200
    delay = 0.0
    bodies: list = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).bodies.append((self.path, self.headers["Content-Type"], body))
        time.sleep(self.delay)
        try:
            self.send_response(self.status)
            self.end_headers()
            self.wfile.write(b"ok")
        except BrokenPipeError:  # the client gave up waiting: what the timeout test wants
            pass

    def log_message(self, *args):
        pass


@pytest.fixture
def hook():
    Hook.bodies, Hook.status, Hook.delay = [], 200, 0.0
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/services/T000/B000/secret-token"
    server.shutdown()
    server.server_close()


def test_webhook_posts_the_text_as_slack_json(seeded, hook, capsys):
    path, engine = seeded
    assert report(path, "--webhook", hook) == 0
    ((where, content_type, body),) = Hook.bodies
    assert where == "/services/T000/B000/secret-token" and content_type == "application/json"
    payload = json.loads(body)
    assert set(payload) == {"text"}
    assert payload["text"].startswith("*KPI report: 23 Nov 2026 – 29 Nov 2026*\n```\n")
    now = seed.expected(engine, seed.CURRENT, seed.AFTER)
    (line,) = [line for line in payload["text"].splitlines() if line.startswith("  Signups ")]
    seed.check_value("signups", re.split(r"\s{2,}", line.strip())[1], now["signups"])
    assert capsys.readouterr().out == ""  # the webhook replaces stdout


@pytest.mark.parametrize(
    ("status", "delay", "message"), [(500, 0.0, "HTTP 500 Internal Server Error"), (200, 3.0, "timed out")]
)
def test_webhook_failure_is_one_line(seeded, hook, capsys, status, delay, message):
    path, _ = seeded
    Hook.status, Hook.delay = status, delay
    with path.open("a") as config:
        config.write("webhook_timeout = 1\n")
    assert report(path, "--webhook", hook) == 1
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    port = hook.split(":")[2].split("/")[0]
    assert errors == [f"error: webhook http://127.0.0.1:{port}/…: {message}"]
    assert "secret-token" not in "\n".join(errors)


def test_email_over_ssl(seeded, certificate, capsys):
    """smtp_security = "ssl": TLS from the first byte (port 465 style), the server's certificate checked."""
    import ssl

    path, engine = seeded
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port(), ssl_context=context)
    controller.start()
    try:
        configure(
            path, engine, smtp_host='"127.0.0.1"', smtp_port=str(controller.port), smtp_security='"ssl"',
            smtp_cafile=f'"{certificate[0]}"',
        )  # fmt: skip
        assert report(path, "--email") == 0
        # without the test CA the certificate is refused: one line, exit 1
        configure(path, engine, smtp_host='"127.0.0.1"', smtp_port=str(controller.port), smtp_security='"ssl"')
        assert report(path, "--email") == 1
    finally:
        controller.stop()
    ((_, _, raw, _),) = inbox.messages
    check_message(raw, engine)
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "CERTIFICATE_VERIFY_FAILED" in errors[0], errors
    assert errors[0].startswith(f"error: e-mail not sent: SMTP server 127.0.0.1:{controller.port}: ")


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"smtp_security": "tls"}, "report.smtp_security: must be one of starttls, ssl, none, got 'tls'"),
        ({"period": "year"}, "report.period: must be one of day, week, month, got 'year'"),
        ({"smtp_user": "me"}, "report.smtp_user: set both smtp_user and smtp_password, or neither"),
        ({"mail_to": ["nobody"]}, "report: 'nobody' is not an e-mail address"),
        ({"smtp_prot": 25}, "report.smtp_prot: unknown key"),
    ],
)
def test_report_settings_errors_name_the_key(section, message):
    from apercite_analytics.config import load as config
    from apercite_analytics.errors import ConfigError

    with pytest.raises(ConfigError) as error:
        config.parse({"report": section})
    assert str(error.value).startswith(message)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--email"], "error: report: --email needs mail_from and mail_to in the [report] section"),
        (["--webhook", "ftp://example.com/hook"], "error: --webhook: expected an http:// or https:// URL"),
        (["--out", "report.doc"], "error: --out report.doc: say the format by the suffix: .html, .pdf or .txt"),
    ],
)
def test_usage_errors_come_before_any_work(seeded, capsys, args, message):
    path, _ = seeded
    assert report(path, *args) == 2
    assert capsys.readouterr().err.splitlines() == [message]  # not even the KPI warnings: nothing was read
