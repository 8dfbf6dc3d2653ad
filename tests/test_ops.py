from __future__ import annotations

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db import Database
from app.main import create_app
from app.migrations import head_revision
from app.scheduler import build_scheduler
from app.settings import Settings
from tests.conftest import assert_problem


async def test_healthz(client: AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"status": "ok"}


async def test_readyz_when_the_schema_is_current(client: AsyncClient) -> None:
    r = await client.get("/readyz")
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ready", "schema_revision": head_revision()}


async def test_readyz_is_503_when_the_schema_is_behind(app: FastAPI, client: AsyncClient) -> None:
    app.state.schema_head = "9999"
    body = assert_problem(await client.get("/readyz"), 503, "unavailable")
    assert "parkshare migrate" in body["detail"]
    assert (
        body["detail"]
        == f"the schema is at {head_revision()}, this build needs 9999: run `parkshare migrate`"
    )
    assert (await client.get("/healthz")).status_code == 200  # alive, only not ready


async def test_readyz_is_503_while_the_database_has_not_been_migrated(
    client: AsyncClient, engine: AsyncEngine
) -> None:
    """The database itself one migration behind, as after deploying a build before `migrate`."""
    head = head_revision()
    behind = f"{int(head) - 1:04d}"
    async with engine.begin() as conn:  # committed: /readyz reads on a connection of its own
        await conn.execute(text("update alembic_version set version_num = :v"), {"v": behind})
    try:
        r = await client.get("/readyz")
    finally:
        async with engine.begin() as conn:
            await conn.execute(text("update alembic_version set version_num = :v"), {"v": head})
    body = assert_problem(r, 503, "unavailable")
    assert body == {
        "type": "urn:parkshare:problem:unavailable",
        "title": "Service Unavailable",
        "status": 503,
        "detail": f"the schema is at {behind}, this build needs {head}: run `parkshare migrate`",
        "code": "unavailable",
    }
    assert (await client.get("/readyz")).json() == {"status": "ready", "schema_revision": head}


async def test_readyz_is_503_when_the_database_is_down(settings: Settings) -> None:
    down = settings.model_copy(update={"database_url": "postgresql://nobody@127.0.0.1:1/nothing"})
    database = Database.from_settings(down)
    try:
        app = create_app(settings, database=database)
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as c:
            body = assert_problem(await c.get("/readyz"), 503, "unavailable")
            assert body["detail"] == "the database does not answer or has no schema yet"
            assert (await c.get("/healthz")).status_code == 200
            # A request that needs the database answers 503 too, not a 500.
            r = await c.post("/v1/auth/login", json={"email": "a@example.org", "password": "x"})
            assert_problem(r, 503, "unavailable")
    finally:
        await database.dispose()


async def _requests_counted(client: AsyncClient) -> dict[tuple[str, str, str], float]:
    """parkshare_http_requests_total by (method, route, status), as /metrics says now."""
    r = await client.get("/metrics")
    assert r.status_code == 200
    counts = {}
    for family in text_string_to_metric_families(r.text):
        if family.name == "parkshare_http_requests":
            for sample in family.samples:
                if sample.name == "parkshare_http_requests_total":
                    labels = sample.labels
                    counts[labels["method"], labels["route"], labels["status"]] = sample.value
    return counts


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
    # The counters are the process's: other tests have counted before, so compare differences.
    before = await _requests_counted(client)
    for _ in range(3):
        await client.get("/healthz")
    for vehicle in ("abc", "def"):
        await client.delete(f"/v1/me/vehicles/{vehicle}")
    await client.get("/no/such/route")
    after = await _requests_counted(client)
    changed = {key: after[key] - before.get(key, 0.0) for key in after if after[key] != before.get(key)}
    assert changed == {
        ("GET", "/healthz", "200"): 3,
        ("DELETE", "/v1/me/vehicles/{vehicle_id}", "401"): 2,
        ("GET", "unmatched", "404"): 1,
    }  # /metrics itself is not counted, and ids never become labels
    assert not any("abc" in route or "def" in route for _, route, _ in after)


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
        "send_reminders",
        "watch_spots",
        "purge_old_events",
        "send_mails",
        "purge_old_mails",
        "purge_account_tokens",
    }
    assert jobs["sweep_bookings"].trigger.interval.total_seconds() == 7
    assert jobs["extend_open_ranges"].trigger.interval.total_seconds() == 3600
    assert {name: job.trigger.interval.total_seconds() for name, job in jobs.items()} == {
        "sweep_bookings": 7,
        "extend_open_ranges": 3600,
        "purge_dead_refresh_tokens": 3600,
        "purge_rate_limits": 3600,
        "purge_idempotency_keys": 3600,
        "send_reminders": 7,
        "watch_spots": 7,
        "purge_old_events": 3600,
        "send_mails": 5,
        "purge_old_mails": 3600,
        "purge_account_tokens": 3600,
    }
    # A run that falls behind is not queued twice in one process.
    assert all((job.coalesce, job.max_instances) == (True, 1) for job in jobs.values())
