"""A hostile HTTP server on a loopback port: it answers every GET one byte at a time, `interval`
seconds apart, so that every socket read succeeds in time and only a deadline on the whole request
can end it. `headers=True` drips the status line and headers too; otherwise they come at once and
the body (a JSON object, `size` bytes long) drips."""

from __future__ import annotations

import socketserver
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class DripServer:
    def __init__(self, interval: float = 0.2, size: int = 2000, headers: bool = False) -> None:
        self.stopping = threading.Event()
        self.requests = 0
        server = self
        body = b'{"n": 1, "pad": "' + b"x" * max(0, size - 19) + b'"}'

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 — http.server's name
                server.requests += 1
                head = (
                    f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
                ).encode()
                if not headers:
                    self.wfile.write(head)
                    self.wfile.flush()
                for byte in (head if headers else b"") + body:
                    if server.stopping.wait(interval):
                        return
                    try:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                    except OSError:  # the client gave up: what a deadline is for
                        return

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request, client_address):  # a client hanging up is expected here
                pass

        self.httpd: socketserver.TCPServer = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.started = time.monotonic()

    def close(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> DripServer:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
