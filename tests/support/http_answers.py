"""A local HTTP server answering canned JSON: a document URL, an API's documented answers (the
json reader's tests; a fake Prometheus answering bad series)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class AnsweringServer:
    """A real HTTP server on a free loopback port; each path (its query string aside) answers a queue
    of (status, body): the last answer of a queue is repeated."""

    def __init__(self) -> None:
        self.answers: dict[str, list[tuple[int, bytes]]] = {}
        self.requests: list[tuple[str, dict]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 — http.server's name
                server.requests.append((self.path, dict(self.headers)))
                queue = server.answers.get(self.path.split("?", 1)[0]) or [(404, b"not found")]
                status, body = queue.pop(0) if len(queue) > 1 else queue[0]
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def answer(self, path: str, *answers: tuple[int, object]) -> str:
        self.answers[path] = [(s, b if isinstance(b, bytes) else json.dumps(b).encode()) for s, b in answers]
        return self.url + path

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
