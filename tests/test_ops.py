from __future__ import annotations

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from app.db import Database
from app.main import create_app
from app.migrations import head_revision
from app.scheduler import build_scheduler
from app.settings import Settings
from tests.conftest import assert_problem


async def test_healthz(client: AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


async def test_readyz_when_the_schema_is_current(client: AsyncClient) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ready", "schema_revision": head_revision()}


async def test_readyz_is_503_when_the_schema_is_behind(app: FastAPI, client: AsyncClient) -> None:
    app.state.schema_head = "9999"
    body = assert_problem(await client.get("/readyz"), 503, "unavailable")
    assert "parkshare migrate" in body["detail"]


async def test_readyz_is_503_when_the_database_is_down(settings: Settings) -> None:
    down = settings.model_copy(update={"database_url": "postgresql://nobody@127.0.0.1:1/nothing"})
    database = Database.from_settings(down)
    try:
        app = create_app(settings, database=database)
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as c:
            assert_problem(await c.get("/readyz"), 503, "unavailable")
            assert (await c.get("/healthz")).status_code == 200
            # A request that needs the database answers 503 too, not a 500.
            r = await c.post("/v1/auth/login", json={"email": "a@example.org", "password": "x"})
            assert_problem(r, 503, "unavailable")
    finally:
        await database.dispose()


async def test_metrics_count_requests_by_route_template(client: AsyncClient) -> None:
    await client.get("/healthz")
    await client.delete("/v1/me/vehicles/abc")
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert 'parkshare_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'route="/v1/me/vehicles/{vehicle_id}",status="401"' in text
    assert "parkshare_http_request_duration_seconds_bucket" in text


async def test_lifespan_builds_and_disposes_its_own_engine(settings: Settings) -> None:
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as c:
            assert (await c.get("/readyz")).status_code == 200
        assert isinstance(app.state.db, Database)


def test_the_scheduler_runs_every_job_on_its_interval(settings: Settings, db: Database) -> None:
    scheduler = build_scheduler(settings.model_copy(update={"sweep_interval_seconds": 7}), db)
    jobs = {job.id: job for job in scheduler.get_jobs()}
    assert set(jobs) == {
        "sweep_bookings",
        "extend_open_ranges",
        "purge_dead_refresh_tokens",
        "purge_rate_limits",
        "purge_idempotency_keys",
    }
    assert jobs["sweep_bookings"].trigger.interval.total_seconds() == 7
    assert jobs["extend_open_ranges"].trigger.interval.total_seconds() == 3600
