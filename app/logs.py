"""Logs without personal data: one line per request (`RequestLog`), JSON or text lines (`LOG_FORMAT`)
with the request id of the request they belong to, and a last line of defence that masks e-mail
addresses, bearer tokens, JWTs, webhook secrets and token-like strings in every line.

The first rule is that nothing logs personal data at all: the request line has the route template
(`/v1/bookings/{booking_id}`), never the path or the query, and no body is ever logged. The masking
only catches what slips through.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, Literal, TextIO

from starlette.types import ASGIApp, Message, Receive, Scope, Send

LogFormat = Literal["json", "text"]

REQUEST_LOGGER = "parkshare.request"
REQUEST_ID_HEADER = "X-Request-ID"

# A record attribute printed unmasked after the masked line: only the mail sender sets it, for
# development without SMTP_URL, where the log is the mailbox and its links must work
# (app/mail/sender.py; never in production).
VERBATIM = "_verbatim"

# The id of the request being served in this task; logs written while serving it carry it.
request_id: ContextVar[str | None] = ContextVar("parkshare_request_id", default=None)

# --- masking ------------------------------------------------------------------------------------

_MASKS: list[tuple[re.Pattern[str], str]] = [
    # JWTs (access tokens) before the rest: their parts would otherwise be masked one by one.
    (re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), "[jwt]"),
    (re.compile(r"(?i)\bbearer\s+[^\s\"',]+"), "Bearer [token]"),
    (re.compile(r"whsec_[A-Za-z0-9_+/=-]+"), "whsec_[secret]"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"), "[email]"),
    # Secrets in query strings (the calendar feeds' URLs carry theirs).
    (re.compile(r"(?i)([?&](?:token|access_token|refresh_token|key|secret)=)[^&\s\"']*"), r"\1***"),
]
# `secrets.token_urlsafe(32)` and the like: 32+ characters of the URL-safe alphabet mixing upper
# and lower case and digits. Ids (UUIDs, hex digests) are lower case and stay readable.
_TOKEN_LIKE = re.compile(r"(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{32,}(?![A-Za-z0-9_-])")


def _token_like(match: re.Match[str]) -> str:
    word = match.group(0)
    if re.search(r"[A-Z]", word) and re.search(r"[a-z]", word) and re.search(r"[0-9]", word):
        return "[token]"
    return word


def redact(text: str) -> str:
    """`text` with e-mail addresses, bearer tokens, JWTs, `whsec_` secrets, secret query values
    and token-like strings masked."""
    for pattern, replacement in _MASKS:
        text = pattern.sub(replacement, text)
    return _TOKEN_LIKE.sub(_token_like, text)


# --- records and formats ------------------------------------------------------------------------

# Attributes every LogRecord has; anything else on a record came from `extra=`.
# (uvicorn's `color_message` is its message with terminal colours.)
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "color_message",
}


class RequestContext(logging.Filter):
    """Gives every record the id of the request it was written for (`request_id`, None outside
    requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, the record's `extra`
    fields, and the exception; every string masked with `redact`."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value if isinstance(value, int | float | bool | None) else str(value)
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        masked = {k: redact(v) if isinstance(v, str) else v for k, v in line.items()}
        verbatim = getattr(record, VERBATIM, None)
        if isinstance(verbatim, str):
            masked["mail"] = verbatim
        return json.dumps(masked, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`time level logger [request id]: message`, masked with `redact`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = None
        line = redact(super().format(record))
        verbatim = getattr(record, VERBATIM, None)
        return f"{line}\n{verbatim}" if isinstance(verbatim, str) else line


def formatter(log_format: LogFormat) -> logging.Formatter:
    return JsonFormatter() if log_format == "json" else TextFormatter()


def handler(log_format: LogFormat, stream: TextIO) -> logging.Handler:
    """A handler writing to `stream` as the servers do (the tests capture logs with it)."""
    h = logging.StreamHandler(stream)
    h.setFormatter(formatter(log_format))
    h.addFilter(RequestContext())
    return h


# Loggers kept quieter than LOG_LEVEL: httpx logs every outgoing request's URL at INFO (webhook URLs
# are personal data), SQLAlchemy its statements with their parameters; Alembic lists its plugins at
# INFO on every run.
LOGGER_LEVELS = {
    "httpx": "WARNING",
    "httpcore": "WARNING",
    "sqlalchemy": "WARNING",
    "alembic.runtime.plugins": "WARNING",
    # Two lines per job run ("Running job", "executed successfully"), every few seconds for the
    # mail outbox: noise. Jobs log what they did themselves; failures are warnings.
    "apscheduler.executors": "WARNING",
}


def logging_config(level: str, log_format: LogFormat, *, request_log: bool = True) -> dict[str, Any]:
    """A `logging.config.dictConfig` for the CLI and for uvicorn (`log_config`, which every worker
    process applies): everything, uvicorn's loggers too, goes through one handler on stderr.
    uvicorn's own access log stays off; `RequestLog` writes the line per request instead."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": RequestContext}},
        "formatters": {"main": {"()": formatter, "log_format": log_format}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "main",
                "filters": ["context"],
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            "uvicorn": {"handlers": [], "propagate": True},
            "uvicorn.error": {"handlers": [], "propagate": True},
            "uvicorn.access": {"handlers": [], "propagate": False, "level": "CRITICAL"},
            REQUEST_LOGGER: {"level": level if request_log else "WARNING"},
            **{name: {"level": quieter} for name, quieter in LOGGER_LEVELS.items()},
        },
    }


# --- the line per request -----------------------------------------------------------------------

_SAFE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_request_logger = logging.getLogger(REQUEST_LOGGER)


def _incoming_id(scope: Scope) -> str | None:
    """The client's `X-Request-ID` when it is a short token of safe characters that does not look
    like a secret; else None."""
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            try:
                text: str = bytes(value).decode("ascii")
            except UnicodeDecodeError:
                return None
            if _SAFE_ID.fullmatch(text) and redact(text) == text:
                return text
            return None
    return None


class RequestLog:
    """Gives each request an id (the client's `X-Request-ID` if it is safe, else a new one),
    answers it in `X-Request-ID`, and logs one line when the answer is done: request_id, method,
    route (the template), status and duration_ms. Outermost, so it sees every answer (413s and
    500s included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_id(scope) or uuid.uuid4().hex
        reset = request_id.set(rid)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                message = {**message, "headers": [*headers, (b"x-request-id", rid.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = str(getattr(scope.get("route"), "path", "unmatched"))
            duration_ms = round((time.perf_counter() - started) * 1000, 1)
            method = scope.get("method", "")
            _request_logger.info(
                "%s %s %d %.1fms",
                method,
                route,
                status,
                duration_ms,
                extra={
                    "request_id": rid,
                    "method": method,
                    "route": route,
                    "status": status,
                    "duration_ms": duration_ms,
                },
            )
            request_id.reset(reset)
