"""`POST /v1/bookings` answered without FastAPI's dependency solving, when the request is plainly
well-formed.

A booking is the busiest write, and FastAPI's work around it (matching the parameters, solving
about ten dependencies, reading the header and the body into them) cost about a fifth of the
server's CPU per booking (docs/bookings.md, "Throughput"). This route is tried before FastAPI's
and does the same for a request with a JSON body that `BookingCreate` accepts: the same request
session (`app.db.request_session`: committed before the answer is sent), the same token check and
sign-in, the same `@idempotent` route function. Anything else (another content type, a body that
is not JSON or not a valid booking) goes to FastAPI's route with the body it sent, so every
refusal is FastAPI's own, word for word; `tests/test_bookings_direct.py` compares the two.

The OpenAPI document keeps describing FastAPI's route, which this one answers for.
"""

from __future__ import annotations

import contextlib
import inspect
import json
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.datastructures import URLPath
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound, request_response
from starlette.types import Message, Receive, Scope, Send

from app.auth.dependencies import bearer
from app.bookings.idempotency import IDEMPOTENCY_KEY
from app.bookings.router import create_booking
from app.bookings.schemas import BookingCreate
from app.clock import request_now
from app.db import request_session
from app.users.dependencies import access_claims, current_user

PATH = "/v1/bookings"
# Set on a request handed to FastAPI's route, so that matching it again skips this one.
_HANDED_ON = "parkshare.booking_handed_on"
# The validated body of a request this route answers.
_BOOKING = "parkshare.booking"


def _json_content(scope: Scope) -> bool:
    """Only the content type apps send; FastAPI judges every other one itself."""
    for name, value in scope["headers"]:
        if name == b"content-type":
            media_type: bytes = value.split(b";", 1)[0].strip().lower()
            return media_type == b"application/json"
    return False


class DirectBookingRoute(BaseRoute):
    def __init__(self, route: APIRoute) -> None:
        # FastAPI's route: what the metrics, the request log and the error log name (its path).
        self.route = route
        self.path = self.path_format = route.path
        # Starlette's request/response wrapper (the app's exception handlers), built once.
        self._book = request_response(_book)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if (
            scope["type"] == "http"
            and scope["method"] == "POST"
            and scope["path"] == PATH
            # Served under a prefix (`root_path`), the path is FastAPI's to judge.
            and not scope.get("root_path")
            and _HANDED_ON not in scope
            # Overridden dependencies are FastAPI's to apply.
            and not scope["app"].dependency_overrides
            and _json_content(scope)
        ):
            return Match.FULL, {"route": self.route, "endpoint": self.route.endpoint, "path_params": {}}
        return Match.NONE, {}

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        # Named nothing: `url_for` finds FastAPI's route, whose path this is.
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        received: list[Message] = []
        while True:
            message = await receive()
            received.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                break
        booking: BookingCreate | None = None
        if message["type"] == "http.request":
            # Not JSON (a UnicodeDecodeError is a ValueError too; nesting too deep for the parser
            # a RecursionError), or not a booking.
            with contextlib.suppress(ValueError, RecursionError, ValidationError):
                booking = BookingCreate.model_validate(
                    json.loads(b"".join(m.get("body", b"") for m in received))
                )
        if booking is None:
            # FastAPI's route reads what this one read, in the same messages (a disconnect too).
            scope[_HANDED_ON] = True
            await scope["router"].app(scope, _replay(received, receive), send)
            return

        scope[_BOOKING] = booking
        await self._book(scope, receive, send)


async def _book(request: Request) -> Response:
    booking: BookingCreate = request.scope[_BOOKING]
    # As FastAPI would solve `create_booking`'s dependencies: the session first (so a refused
    # token rolls it back as any refusal does), then the time, the token, the user.
    async with request_session(request) as session:
        now = await request_now(request)
        claims = await access_claims(request.app.state.auth, await bearer(request), now)
        user = await current_user(session, claims)
        return await create_booking(
            body=booking,
            user=user,
            session=session,
            settings=request.app.state.settings,
            now=now,
            _request=request,
            _idempotency_key=request.headers.get(IDEMPOTENCY_KEY),
        )


def _replay(received: list[Message], receive: Receive) -> Receive:
    """The messages already received, then what the client sends next."""
    pending = iter(received)

    async def replay() -> Message:
        return next(pending, None) or await receive()

    return replay


def direct_route(router: APIRouter) -> DirectBookingRoute:
    """This route for `router`'s `POST /v1/bookings`, to be tried before every other route."""
    (route,) = (
        r for r in router.routes if isinstance(r, APIRoute) and r.path == PATH and "POST" in (r.methods or ())
    )
    # `handle` passes the route exactly these, as FastAPI would: a parameter or a dependency added
    # to FastAPI's route must be added there too.
    passed = {"body", "user", "session", "settings", "now", "_request", "_idempotency_key"}
    taken = set(inspect.signature(route.endpoint).parameters)
    if taken != passed or route.dependencies or router.dependencies:
        raise RuntimeError(f"POST {PATH} takes {sorted(taken)}; the direct route passes {sorted(passed)}")
    return DirectBookingRoute(route)
