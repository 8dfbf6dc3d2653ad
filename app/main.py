"""The FastAPI application: `create_app()` builds it, its lifespan owns the engine and scheduler."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from app import __version__
from app.auth.router import router as auth_router
from app.auth.service import Auth
from app.availability.router import router as availability_router
from app.bookings.router import router as bookings_router
from app.db import Database, utcnow
from app.errors import PROBLEM_MEDIA_TYPE, install_handlers
from app.middleware import BodyLimit, CatchAll
from app.migrations import head_revision
from app.ops import metrics
from app.ops.router import router as ops_router
from app.scheduler import build_scheduler
from app.search.router import router as search_router
from app.settings import Settings, get_settings
from app.spots.router import router as spots_router
from app.users.router import router as users_router

logger = logging.getLogger(__name__)

DESCRIPTION = """
Share private parking spots: owners publish when their spot is free, drivers find and reserve one.

Errors are `application/problem+json` (RFC 9457) with a stable `code`. Times are RFC 3339 with an
offset and answered in UTC. Money is integer cents.
"""


def create_app(settings: Settings | None = None, *, database: Database | None = None) -> FastAPI:
    """Builds the app. Pass `database` to share one (the tests do); otherwise the lifespan makes it."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = database is None
        app.state.db = database or Database.from_settings(settings)
        scheduler = build_scheduler(settings, app.state.db) if settings.scheduler_enabled else None
        if scheduler is not None:
            scheduler.start()
        try:
            yield
        finally:
            if scheduler is not None:
                scheduler.shutdown(wait=False)
            if owned:
                await app.state.db.dispose()

    app = FastAPI(
        title="parkshare",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.clock = utcnow
    app.state.auth = Auth.from_settings(settings)
    app.state.schema_head = head_revision()
    if database is not None:
        app.state.db = database

    install_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(metrics.MetricsMiddleware)
    app.add_middleware(CatchAll)  # outermost, so that every other layer's failure is answered
    app.include_router(ops_router)
    app.include_router(auth_router)
    app.include_router(users_router)
    app.include_router(spots_router)
    app.include_router(availability_router)
    app.include_router(bookings_router)
    app.include_router(search_router)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details. `code` is stable; `errors` lists field problems on 422.",
    "required": ["type", "title", "status", "detail", "code"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "code": {"type": "string", "examples": ["validation_error", "not_found"]},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {"type": "array", "items": {"type": "string"}},
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                    "type": {"type": "string"},
                },
            },
        },
    },
}


def _openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["Problem"] = PROBLEM_SCHEMA
    # FastAPI documents its own 422 body; ours is a problem, so say so everywhere.
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    for path_item in schema.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses", {})
            if "422" in responses:
                responses["422"] = {
                    "description": "Validation error",
                    "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
                }
    app.openapi_schema = schema
    return schema
