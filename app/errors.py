"""Problem details (RFC 9457) for every error the service answers.

Domain code raises a `ProblemError` subclass that carries its HTTP status and stable `code`; the
handlers installed by `install_handlers` turn those, FastAPI's own errors and anything unexpected
into `application/problem+json`.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Mapping, Sequence
from http import HTTPStatus
from typing import Any, ClassVar, Literal

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
# A 422 lists at most this many field problems: a body of 100,000 unknown keys is one mistake,
# and its answer should not be megabytes.
MAX_LISTED_ERRORS = 20
# What a 503 `unavailable` tells the client to wait before trying again.
RETRY_AFTER_SECONDS = "5"

# Where in the request a field problem lies: the first part of every `errors[].loc`.
Where = Literal["body", "query", "path", "header"]


class ProblemError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "bad_request"
    # Errors that record a security decision (a revoked token family) keep their writes: the
    # request transaction commits before the problem is answered instead of rolling back. Not a
    # ClassVar: a handler that undid the request's work may set it on the instance to keep what it
    # wrote after (a rate-limit count).
    keeps_writes: bool = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: Sequence[Mapping[str, Any]] | None = None,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        self.detail = detail or HTTPStatus(self.status).phrase
        self.errors = list(errors) if errors is not None else None
        self.headers = dict(headers or {})
        # RFC 9457 extension members (JSON values), answered at the top level of the body.
        self.extra = dict(extra or {})
        super().__init__(self.detail)


class ValidationProblem(ProblemError):
    status = 422
    code = "validation_error"

    @classmethod
    def from_errors(
        cls, errors: Sequence[Mapping[str, Any]], *, where: Sequence[str] = ()
    ) -> ValidationProblem:
        """From pydantic's error list; `where` prefixes locations (FastAPI's already start with
        "body", "query", ...). `field` is the location without that first part. At most
        MAX_LISTED_ERRORS are listed; `detail` says how many more there were."""
        out = []
        for err in errors[:MAX_LISTED_ERRORS]:
            loc = [*where, *(str(part) for part in err.get("loc", ()))]
            field = ".".join(loc[1:]) if len(loc) > 1 else ".".join(loc)
            out.append(
                {"loc": loc, "field": field, "message": err.get("msg", ""), "type": err.get("type", "")}
            )
        detail = "; ".join(f"{e['field'] or 'request'}: {e['message']}" for e in out[:5])
        if len(errors) > MAX_LISTED_ERRORS:
            detail += f" (and {len(errors) - MAX_LISTED_ERRORS} more problems not listed)"
        return cls(detail or "invalid request", errors=out)

    @classmethod
    def field(
        cls, field: str, message: str, type_: str = "value_error", *, where: Where = "body"
    ) -> ValidationProblem:
        """One problem found by a service check, located like pydantic's: `where` in the request
        (a body field, a query or path parameter, a header), then the field's dotted path."""
        loc = [where] if field in ("", where) else [where, *field.split(".")]
        return cls(
            f"{field or where}: {message}",
            errors=[{"loc": loc, "field": field or where, "message": message, "type": type_}],
        )


class NotFound(ProblemError):
    status = 404
    code = "not_found"


class Forbidden(ProblemError):
    status = 403
    code = "forbidden"


class Unauthorized(ProblemError):
    status = 401
    code = "unauthorized"

    def __init__(self, detail: str | None = None) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Conflict(ProblemError):
    status = 409
    code = "conflict"


class PreconditionFailed(ProblemError):
    status = 412
    code = "precondition_failed"


class ServiceUnavailable(ProblemError):
    """Always with `Retry-After` (5 s unless the raiser says otherwise): try again shortly."""

    status = 503
    code = "unavailable"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.headers.setdefault("Retry-After", RETRY_AFTER_SECONDS)


# Codes for the errors FastAPI and Starlette raise themselves, by status.
_CODES_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


def problem_body(
    status: int,
    code: str,
    detail: str,
    *,
    errors: Sequence[Mapping[str, Any]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": f"urn:parkshare:problem:{code}",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors is not None:
        body["errors"] = list(errors)
    for name, value in (extra or {}).items():
        body.setdefault(name, value)  # extension members never replace the standard ones
    return body


def problem_response(
    status: int,
    code: str,
    detail: str,
    *,
    errors: Sequence[Mapping[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body = problem_body(status, code, detail, errors=errors, extra=extra)
    return JSONResponse(body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE)


async def _on_problem(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ProblemError)
    return problem_response(
        exc.status, exc.code, exc.detail, errors=exc.errors, headers=exc.headers, extra=exc.extra
    )


async def _on_validation(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    # A body that is not JSON at all is a malformed request (400), not a field problem.
    if any(err.get("type") == "json_invalid" for err in errors):
        return problem_response(400, "bad_request", "the body is not valid JSON")
    problem = ValidationProblem.from_errors(errors)
    return problem_response(problem.status, problem.code, problem.detail, errors=problem.errors)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _allowed_methods(request: Request) -> str:
    """Every method some route takes on this path: Starlette's own 405 names only those of the
    first route that matched the path, though GET, PATCH and DELETE of a spot are three routes.
    Asked of the routing itself, method by method, as included routers do not list their routes."""
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(route.matches(scope)[0] is Match.FULL for route in request.app.router.routes):
            allowed.append(method)
    return ", ".join(allowed)


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _CODES_BY_STATUS.get(exc.status_code, "error")
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    headers = dict(exc.headers or {})
    if exc.status_code == 405 and (allowed := _allowed_methods(request)):
        headers["Allow"] = allowed
    if exc.status_code == 400 and detail == "There was an error parsing the body":
        detail = "the body is not valid JSON in UTF-8"
    return problem_response(exc.status_code, code, detail, headers=headers)


# The messages of database errors quote the values they choke on: asyncpg's "invalid input for
# query argument $1: 'DO-XY 1234'", PostgreSQL's "Key (email)=(...) already exists". Those values
# are personal data, and logs are not the place for them.
_QUOTING_LIBRARIES = {"sqlalchemy", "asyncpg"}


def describe_for_log(exc: BaseException) -> str:
    """An error and its causes as a log can keep them: the traceback's frames and the exception
    types, with the message of every database error replaced by its SQLSTATE."""
    parts: list[str] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        name = f"{type(current).__module__}.{type(current).__qualname__}"
        if type(current).__module__.partition(".")[0] in _QUOTING_LIBRARIES:
            state = getattr(current, "sqlstate", None) or getattr(
                getattr(current, "orig", None), "sqlstate", None
            )
            message = f"(message withheld; sqlstate {state or 'unknown'})"
        else:
            message = str(current)
        frames = "".join(traceback.format_tb(current.__traceback__))
        parts.append(f"{frames}{name}: {message}")
        current = current.__cause__ or current.__context__
    return "\n\ncaused by:\n".join(parts)


# SQLSTATE classes that say the database cannot serve now, not that the request is wrong: 08
# connection exception, 53 insufficient resources (too many connections), 57 operator
# intervention (shutting down, starting up, a statement cancelled by its timeout).
_UNAVAILABLE_STATES = ("08", "53", "57")
# Raised without a SQLSTATE when the server is out of reach or the connection broke: refused or
# reset at connect or mid-statement (OSError), a connect or pool timeout, asyncpg's own "connection
# is closed" (InterfaceError), and asyncpg's protocol left out of step by a connection that died
# mid-statement (InternalClientError).
_UNAVAILABLE_TYPES = (
    OSError,
    TimeoutError,
    PoolTimeout,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
)


# Raised by asyncpg on the client side for a bug of ours, not an outage: a parameter it cannot
# encode, a bad configuration, a type cache outdated by a migration. Retrying would fail again, so
# these stay 500s with their traceback.
CLIENT_BUGS = (
    asyncpg.exceptions.DataError,
    asyncpg.exceptions.ClientConfigurationError,
    asyncpg.exceptions.UnsupportedClientFeatureError,
    asyncpg.exceptions.UnsupportedServerFeatureError,
    asyncpg.exceptions.OutdatedSchemaCacheError,
)


def database_unavailable(exc: BaseException) -> bool:
    """Whether `exc`, or what it wraps, says the database is out of reach for now: a restart, a
    failover, a lost connection, a full pool. Such requests are answered 503 `unavailable` with
    `Retry-After`, never 500, whichever layer raised: SQLAlchemy wraps asyncpg's errors in its own
    (a server starting up is a bare `DBAPIError`), the hot path's raw asyncpg calls raise them as
    they are, and a connection that breaks during the commit raises there."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, CLIENT_BUGS):
            return False
        if isinstance(current, _UNAVAILABLE_TYPES):
            return True
        if isinstance(current, DBAPIError) and current.connection_invalidated:
            return True
        state = getattr(current, "sqlstate", None)
        if isinstance(state, str) and state[:2] in _UNAVAILABLE_STATES:
            return True
        # SQLAlchemy's error holds the driver's in `orig`, which was raised from asyncpg's.
        wrapped = getattr(current, "orig", None)
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__
    return False


UNAVAILABLE_DETAIL = "the database is unavailable, try again shortly"


def log_unavailable(exc: BaseException) -> None:
    logger.warning("database unavailable: %s", describe_for_log(exc).rsplit("\n", 1)[-1])


async def _on_database_error(request: Request, exc: Exception) -> JSONResponse:
    if not database_unavailable(exc):
        return await _on_unexpected(request, exc)
    log_unavailable(exc)
    return problem_response(
        503, "unavailable", UNAVAILABLE_DETAIL, headers={"Retry-After": RETRY_AFTER_SECONDS}
    )


async def _on_unexpected(_: Request, exc: Exception) -> JSONResponse:
    logger.error("unhandled error\n%s", describe_for_log(exc))
    return problem_response(500, "internal_error", "an unexpected error occurred")


def install_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    # Every error of the database layer is sorted by `database_unavailable`: 503 when the database
    # is out of reach, else 500. asyncpg's errors come unwrapped from the statements the hot path
    # sends on the raw connection (app.db.raw_connection) and when it cannot even connect.
    for database_error in (
        DBAPIError,
        PoolTimeout,
        asyncpg.PostgresError,
        asyncpg.InterfaceError,
        asyncpg.exceptions.InternalClientError,
        OSError,
        TimeoutError,
    ):
        app.add_exception_handler(database_error, _on_database_error)
    # Anything else is answered by `CatchAll` (app.middleware), not by a handler for Exception:
    # Starlette re-raises after such a handler's answer and the server then drops the connection.


def problem_openapi(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for the given statuses, all as problem+json (app.openapi has the
    OpenAPI helpers; prefer its `problems`, which names the codes)."""
    from app.openapi import problem_openapi as entries  # app.openapi imports this module

    return entries(*codes)
