from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlalchemy import text

from app.db import Database
from app.errors import ServiceUnavailable
from app.openapi import problems
from app.ops import metrics

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str


class Readiness(BaseModel):
    status: str
    schema_revision: str


@router.get("/healthz", response_model=Health, operation_id="getHealth", summary="The process is up")
async def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Readiness,
    operation_id="getReadiness",
    responses=problems("unavailable"),
    summary="The database answers and its schema is at the newest migration",
)
async def readyz(request: Request) -> Readiness:
    database: Database = request.app.state.db
    expected: str = request.app.state.schema_head
    try:
        async with database.engine.connect() as conn:
            current = await conn.scalar(text("select version_num from alembic_version"))
    except Exception as exc:  # any failure to read the revision means "not ready"
        raise ServiceUnavailable("the database does not answer or has no schema yet") from exc
    if current != expected:
        raise ServiceUnavailable(
            f"the schema is at {current}, this build needs {expected}: run `parkshare migrate`"
        )
    return Readiness(status="ready", schema_revision=expected)


@router.get(
    "/metrics",
    response_class=Response,
    operation_id="getMetrics",
    summary="Prometheus metrics",
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    include_in_schema=True,
)
async def prometheus_metrics() -> Response:
    return metrics.render()
