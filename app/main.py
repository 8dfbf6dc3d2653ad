"""The FastAPI application: `create_app()` builds it, its lifespan owns the engine and scheduler."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, get_args

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from pydantic import SecretStr

from app import __version__, openapi
from app.admin.router import router as admin_router
from app.auth.router import router as auth_router
from app.auth.service import Auth
from app.availability.router import router as availability_router
from app.availability.schemas import Weekday
from app.bookings.direct import direct_route
from app.bookings.router import router as bookings_router
from app.bookings.schemas import ReasonName, StatusName
from app.bookings.series_router import router as series_router
from app.bookings.series_schemas import OnConflict
from app.calendars.router import router as calendars_router
from app.clock import simulate, utcnow
from app.db import Database
from app.earnings.router import router as earnings_router
from app.errors import install_handlers
from app.events import push
from app.events.delivery import Deliverer
from app.events.hub import Hub
from app.events.models import DELIVERY_STATUSES
from app.events.outbox import TYPES as EVENT_TYPES
from app.events.push_router import router as push_router
from app.events.stream import router as events_router
from app.events.webhook_router import router as webhooks_router
from app.logs import RequestLog
from app.middleware import BodyLimit, CatchAll, SecurityHeaders, cors_options, redact_access_log
from app.migrations import head_revision
from app.opendata.router import router as opendata_router
from app.ops import metrics
from app.ops.router import router as ops_router
from app.privacy.router import router as privacy_router
from app.replica import Replica
from app.reviews.router import router as reviews_router
from app.scheduler import build_scheduler
from app.search.router import router as search_router
from app.settings import Settings, get_settings
from app.spots.router import router as spots_router
from app.spots.schemas import Connector
from app.users.models import ROLES
from app.users.router import router as users_router
from app.users.router import sign_in_router
from app.web.router import install_web
from app.wiring import wire
from booking.pricing import CancellationPolicy

logger = logging.getLogger(__name__)

DESCRIPTION = """
Share private parking spots: owners publish when their spot is free, drivers find and reserve one.

Errors are `application/problem+json` (RFC 9457) with a stable `code`; each operation lists the codes
it can answer per status (`x-problem-codes`, and in each response's description). Times are RFC 3339
with an offset and answered in UTC (`Z`). Money is integer cents with an ISO 4217 `currency`. Ids are
opaque strings.

Send `Authorization: Bearer <access token>` from `login`; search, the public spot view and free
intervals work without it. Enums may gain values: generate clients with an unknown-value fallback
(openapi-generator: `enumUnknownDefaultCase=true`).
"""


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> FastAPI:
    """Builds the app. Pass `database` to share one (the tests do); otherwise the lifespan makes it."""
    settings = settings or get_settings()
    wire()
    simulate(settings.simulated_clock_origin, settings.simulated_clock_speed)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = database is None
        app.state.db = database or Database.from_settings(settings)
        app.state.replica = Replica(settings) if settings.read_database_url else None
        if app.state.replica is not None:
            await app.state.replica.start()
        # Every serving process reads the outbox for its live streams.
        app.state.hub = Hub(settings.plain_database_url)
        await app.state.hub.start()
        scheduler = build_scheduler(settings, app.state.db) if settings.scheduler_enabled else None
        deliverer = (
            # On the app's clock, like the requests that set redeliveries and rotations.
            Deliverer(
                app.state.db, settings, app.state.hub, push_sender=push.send, clock=lambda: app.state.clock()
            )
            if settings.scheduler_enabled
            else None
        )
        if scheduler is not None:
            scheduler.start()
        if deliverer is not None:
            await deliverer.start()
        try:
            yield
        finally:
            if deliverer is not None:
                await deliverer.stop()
            if scheduler is not None:
                scheduler.shutdown(wait=False)
            await app.state.hub.stop()
            if app.state.replica is not None:
                await app.state.replica.stop()
            if owned:
                await app.state.db.dispose()

    app = FastAPI(
        title="parkshare",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        # /docs is app.openapi.install_docs: Swagger UI without a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.clock = utcnow
    app.state.auth = Auth.from_settings(settings)
    app.state.schema_head = head_revision()
    if database is not None:
        app.state.db = database

    install_handlers(app)
    # The calendar feeds' URLs carry their secret: the access log shows `token=***`.
    redact_access_log()
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(metrics.MetricsMiddleware)
    app.add_middleware(CatchAll)  # outermost, so that every other layer's failure is answered
    # Around it, in this order from the outside: the request log (sees every answer, 413s and 500s
    # included), the security headers (on every answer, CORS preflights too), CORS.
    if settings.cors_origin_list:
        app.add_middleware(CORSMiddleware, **cors_options(settings.cors_origin_list))
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestLog)
    # A request is matched against the routes in this order, at about 5 µs of CPU per route tried:
    # the probes first, then what apps send most (search, bookings and quotes, spot views, free
    # intervals). A search was matched after 53 routes (248 µs), a booking after 34 (206 µs); now
    # after 3 and 5. No request fits two routes (tests/test_openapi.py), so the order changes
    # nothing else (the OpenAPI document's keys are sorted, its tags ordered by openapi.TAGS).
    app.include_router(ops_router)
    app.include_router(search_router)
    app.include_router(bookings_router)
    app.include_router(spots_router)
    app.include_router(availability_router)
    app.include_router(sign_in_router)
    app.include_router(auth_router)
    app.include_router(users_router)
    app.include_router(series_router)
    app.include_router(reviews_router)
    app.include_router(opendata_router)
    app.include_router(events_router)
    app.include_router(calendars_router)
    app.include_router(earnings_router)
    app.include_router(push_router)
    app.include_router(webhooks_router)
    app.include_router(privacy_router)
    app.include_router(admin_router)
    # Before them all: a well-formed booking without FastAPI's dependency solving, anything else
    # handed on to FastAPI's route (app.bookings.direct).
    app.router.routes.insert(0, direct_route(bookings_router))
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    openapi.install_docs(app)
    install_web(app)
    return app


def _openapi(app: FastAPI) -> dict[str, Any]:
    # Built once per app; app.openapi has the rules that apply to every route.
    if not app.openapi_schema:
        app.openapi_schema = openapi.build(app, named_enums())
    return app.openapi_schema


def named_enums() -> dict[str, list[str]]:
    """Enums a generator should turn into one named type each, with their values from the code that
    decides them (here, since app/openapi.py imports no domain)."""
    return {
        "BookingStatus": list(get_args(StatusName)),
        "QuoteReasonCode": list(get_args(ReasonName)),
        "SeriesOnConflict": list(get_args(OnConflict)),
        "CancellationPolicy": [p.value for p in CancellationPolicy],
        "Connector": [c.value for c in Connector],
        "Weekday": list(get_args(Weekday)),
        # The users table's check constraint (app/users/models.py).
        "Role": list(ROLES),
        "EventType": list(EVENT_TYPES),
        "DeliveryStatus": list(DELIVERY_STATUSES),
        "ProblemCode": list(openapi.CODE_STATUS),
    }


def served_schema() -> dict[str, Any]:
    """The document as the app serves it, for `parkshare openapi` (the committed snapshot)."""
    # A fixed secret: building the app must not create the development secret file.
    settings = Settings(jwt_secret=SecretStr("openapi-snapshot-" + "x" * 32), scheduler_enabled=False)
    return create_app(settings).openapi()
