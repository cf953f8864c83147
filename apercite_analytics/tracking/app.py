"""The collector's HTTP face (Starlette, an ASGI app served by uvicorn; see docs/tracking.md for why).

    POST /v1/events   a batch (schema: validation.py) → 202 {"accepted", "bad", "reasons"}
                      400 malformed / 403 origin not allowed / 413 too large / 429 too many requests
                      / 503 queue full — each one JSON line, never a traceback, each counted
    GET  /health      200 {"status": "ok", "queued": n}, or 503 when the queue is nearly full
    GET  /track.js    the browser snippet

Limits come first and cost little: the body is refused by its Content-Length or while it is read,
before any JSON is parsed; the client's address decides its rate limit and (truncated, if so
configured) its network, and then is forgotten: it is never logged or stored.
"""

from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from apercite_analytics.tracking.service import Answer, Collector

log = logging.getLogger("apercite_analytics")
SNIPPET = Path(__file__).with_name("track.js")


def client_address(request: Request, trust_proxy: bool) -> str:
    """The client's address: the socket's peer, or the last X-Forwarded-For hop behind a trusted proxy."""
    if trust_proxy:
        forwarded = request.headers.get("x-forwarded-for", "")
        if forwarded:
            return forwarded.rsplit(",", 1)[-1].strip()
    return request.client.host if request.client else ""


def create_app(collector: Collector) -> Starlette:
    config = collector.config
    origins = set(config.origins)

    def reply(answer: Answer) -> JSONResponse:
        headers = {"Retry-After": "1"} if answer.status in (429, 503) else None
        return JSONResponse(answer.body, answer.status, headers=headers)

    async def read_body(request: Request) -> bytes | None:
        """The body, or None as soon as it is longer than `max_body` (by its header or while read)."""
        length = request.headers.get("content-length")
        if length is not None and (not length.isdigit() or int(length) > config.max_body):
            return None
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > config.max_body:
                return None
            chunks.append(chunk)
        return b"".join(chunks)

    async def events(request: Request) -> Response:
        started = time.monotonic()
        try:
            origin = request.headers.get("origin")
            if origin is not None and origin not in origins:
                return reply(collector.refuse(403, "origin not allowed (collector.origins)"))
            client = client_address(request, config.trust_proxy)
            if not collector.limiter.allow(client):
                return reply(collector.refuse(429, f"more than {config.rate_limit:g} requests per second"))
            body = await read_body(request)
            if body is None:
                return reply(collector.refuse(413, f"body larger than {config.max_body} bytes"))
            return reply(collector.accept(body, client, request.headers.get("user-agent"), started))
        except ClientDisconnect:  # the client left mid-body: nobody to answer, nothing was queued
            return reply(collector.refuse(400, "client disconnected"))
        except Exception as exc:  # noqa: BLE001 — a bug of ours: one line, no traceback, no payload
            log.error("collector: unexpected %s while handling a request", type(exc).__name__)
            return reply(collector.refuse(500, "internal error"))

    async def health(request: Request) -> Response:
        return reply(collector.healthy())

    async def snippet(request: Request) -> Response:
        return Response(
            SNIPPET.read_text(encoding="utf-8"),
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=3600"},
        )

    @asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        collector.close()  # uvicorn stopped accepting and finished the requests in flight: flush

    middleware = [
        Middleware(
            CORSMiddleware,
            allow_origins=sorted(origins),
            allow_methods=["POST"],
            allow_headers=["content-type"],
            max_age=86400,
        )
    ]
    routes = [
        Route("/v1/events", events, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/track.js", snippet, methods=["GET"]),
    ]
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
