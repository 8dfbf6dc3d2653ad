"""Pure ASGI middleware around the whole app: a size limit on request bodies, a last answer
for errors nothing else handled, and the headers browsers need (security headers, CORS options).
Also the access log's filter that keeps secrets in URLs (a calendar feed's `token`) out of the log
(uvicorn's access log is off under `parkshare serve`: app.logs.RequestLog logs route templates).

Plain ASGI rather than `BaseHTTPMiddleware`, which would read through a task and a memory stream
and cannot stop a body that is still arriving.
"""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.errors import (
    PROBLEM_MEDIA_TYPE,
    RETRY_AFTER_SECONDS,
    UNAVAILABLE_DETAIL,
    database_unavailable,
    describe_for_log,
    log_unavailable,
    problem_body,
)

logger = logging.getLogger(__name__)

# Query parameters whose values are secrets: the calendar feeds' URLs carry their credential.
_SECRET_QUERY = re.compile(r"([?&]token=)[^&\s]*")
ACCESS_LOGGER = "uvicorn.access"


class RedactQuery(logging.Filter):
    """Replaces the value of every `token` query parameter in a log record's arguments (uvicorn's
    access log passes the path with its query string as one) with `***`."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _SECRET_QUERY.sub(r"\1***", arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


def redact_access_log() -> None:
    """Installs `RedactQuery` on uvicorn's access logger, once per process."""
    access = logging.getLogger(ACCESS_LOGGER)
    if not any(isinstance(f, RedactQuery) for f in access.filters):
        access.addFilter(RedactQuery())


async def send_problem(send: Send, status: int, code: str, detail: str, headers: dict[str, str]) -> None:
    body = json.dumps(problem_body(status, code, detail)).encode()
    raw_headers = [
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        *((name.lower().encode(), value.encode()) for name, value in headers.items()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})


class PayloadTooLarge(HTTPException):
    """Raised from `receive` once a body passes the limit; FastAPI passes HTTPExceptions raised
    while it reads a body on to the handlers, which answer it as a problem."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413, f"the request body is larger than {limit} bytes", headers={"Connection": "close"}
        )


class BodyLimit:
    """Refuses bodies over `max_bytes` with 413 `payload_too_large`: at once when Content-Length
    says so, otherwise (chunked) as soon as the bytes received pass the limit, so a large body is
    never read into memory. The connection is closed after such an answer, as the rest of the
    body is not read."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_bytes
        detail = f"the request body is larger than {limit} bytes"
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await send_problem(send, 413, "payload_too_large", detail, {"Connection": "close"})
            return

        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise PayloadTooLarge(limit)
            return message

        tracked = _Tracked(send)
        try:
            await self.app(scope, limited_receive, tracked)
        except PayloadTooLarge:
            # Read by something that does not turn HTTPExceptions into answers.
            if tracked.started:
                raise
            await send_problem(send, 413, "payload_too_large", detail, {"Connection": "close"})


class _Tracked:
    """`send`, remembering whether the answer has begun: once it has, an error can no longer be
    answered, only the connection closed."""

    def __init__(self, send: Send) -> None:
        self.send = send
        self.started = False

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.started = True
        await self.send(message)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class CatchAll:
    """Answers any exception that escaped the app's handlers with a 500 `internal_error`
    problem and swallows it, so the server keeps the (keep-alive) connection open: Starlette's
    ServerErrorMiddleware would re-raise it after answering, and uvicorn then closes the
    connection under the client's next request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        tracked = _Tracked(send)
        try:
            await self.app(scope, receive, tracked)
        except Exception as exc:
            if tracked.started:
                # Half an answer is on the wire; only closing the connection can tell the client.
                raise
            if database_unavailable(exc):
                # Raised outside the handlers' reach (a middleware's own statement).
                log_unavailable(exc)
                await send_problem(
                    send, 503, "unavailable", UNAVAILABLE_DETAIL, {"Retry-After": RETRY_AFTER_SECONDS}
                )
                return
            _log_unexpected(scope, exc)
            await send_problem(send, 500, "internal_error", "an unexpected error occurred", {})


def _log_unexpected(scope: Scope, exc: BaseException) -> None:
    # The route template, never the path or the query: they may hold personal data.
    route: Any = scope.get("route")
    where = getattr(route, "path", "unmatched")
    logger.error("unhandled error in %s %s\n%s", scope.get("method"), where, describe_for_log(exc))


class SecurityHeaders:
    """Headers for browsers on every answer: `X-Content-Type-Options: nosniff`, `Referrer-Policy:
    no-referrer` (the calendar feeds' URLs carry their secret), and `Cache-Control: no-store` on
    answers to requests with an `Authorization` header, unless the route set its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        authorized = any(name == b"authorization" for name, _ in scope["headers"])

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "no-referrer")
                if authorized:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


# What browsers may send and read across origins (`CORS_ORIGINS`).
CORS_METHODS = ["GET", "POST", "PATCH", "DELETE", "OPTIONS"]
CORS_REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "Idempotency-Key",
    "If-Match",
    "If-None-Match",
    "Last-Event-ID",
    "X-Request-ID",
]
CORS_EXPOSED_HEADERS = ["ETag", "X-Request-ID", "Retry-After", "Idempotent-Replayed", "Location"]


def cors_options(origins: list[str]) -> dict[str, Any]:
    """CORSMiddleware's options for `origins`. Bearer tokens, not cookies: no credentials, which
    also keeps `*` from ever being combined with them."""
    return {
        "allow_origins": origins,
        "allow_methods": CORS_METHODS,
        "allow_headers": CORS_REQUEST_HEADERS,
        "expose_headers": CORS_EXPOSED_HEADERS,
        "allow_credentials": False,
        "max_age": 600,
    }
