from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text

from app.auth.models import User
from app.availability.models import SpotOpenRange
from app.bookings.models import Booking
from app.db import Database
from app.seed import DEMO_PASSWORD, demo_email, seed_demo
from app.settings import Settings
from app.spots.models import Spot
from bench.common import served
from tests.test_bookings import scene

PARKSHARE = str(Path(sys.executable).with_name("parkshare"))


def _env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": settings.database_url,
        "JWT_SECRET": settings.signing_secret(),
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "WARNING",
    }


def test_help_lists_the_commands() -> None:
    out = subprocess.run([PARKSHARE, "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("serve", "migrate", "seed", "worker"):
        assert command in out


async def test_migrate_is_idempotent(settings: Settings) -> None:
    for _ in range(2):
        proc = await asyncio.create_subprocess_exec(
            PARKSHARE,
            "migrate",
            env=_env(settings),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await proc.communicate()
        assert proc.returncode == 0, err.decode()
        assert b"newest migration" in out


async def test_cli_refuses_invalid_settings() -> None:
    proc = await asyncio.create_subprocess_exec(
        PARKSHARE,
        "migrate",
        env={**os.environ, "ENVIRONMENT": "production", "JWT_SECRET": ""},
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await proc.communicate()
    assert proc.returncode == 2
    assert b"JWT_SECRET" in err


async def test_seed_loads_demo_accounts_once(settings: Settings, committed_db: Database) -> None:
    first = await seed_demo(settings, spots=12, if_empty=True, seed=1)
    assert "loaded" in first
    second = await seed_demo(settings, spots=12, if_empty=True, seed=1)
    assert "already there" in second
    async with committed_db.sessionmaker() as session:
        count = await session.scalar(select(func.count()).select_from(User))
    assert count == 4 + 8
    async with committed_db.sessionmaker() as session:
        spots = await session.scalar(select(func.count()).select_from(Spot))
        ranges = await session.scalar(select(func.count()).select_from(SpotOpenRange))
        bookings = (await session.execute(select(Booking.status))).scalars().all()
    assert spots == 12
    assert bookings
    assert set(bookings) <= {"held", "requested", "confirmed"}
    assert ranges is not None
    assert ranges > 12


async def test_demo_accounts_can_sign_in(settings: Settings, committed_client: httpx.AsyncClient) -> None:
    await seed_demo(settings, spots=3, if_empty=False, seed=1)
    r = await committed_client.post(
        "/v1/auth/login", json={"email": demo_email("driver", 1), "password": DEMO_PASSWORD}
    )
    assert r.status_code == 200, r.text
    vehicles = await committed_client.get(
        "/v1/me/vehicles", headers={"Authorization": f"Bearer {r.json()['access_token']}"}
    )
    assert len(vehicles.json()["items"]) == 1


def test_serve_with_two_workers_answers_and_aggregates_metrics(settings: Settings) -> None:
    with served(settings.database_url, workers=2) as server:
        base = server.url
        for _ in range(20):
            assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
        metrics = httpx.get(f"{base}/metrics", timeout=5).text
    line = next(
        line
        for line in metrics.splitlines()
        if line.startswith('parkshare_http_requests_total{method="GET",route="/healthz",status="200"}')
    )
    # Whichever worker answers /metrics, it counts the requests both workers served.
    assert float(line.rsplit(" ", 1)[1]) == 20.0


@pytest.mark.real_clock
async def test_worker_runs_the_jobs_and_stops_on_sigterm(
    settings: Settings, committed_client: httpx.AsyncClient, committed_db: Database, now: datetime
) -> None:
    held = await (await scene(committed_client, now)).book(0, 1)
    async with committed_db.sessionmaker() as session, session.begin():
        await session.execute(text("update bookings set hold_expires_at = now() - interval '1 second'"))
    proc = await asyncio.create_subprocess_exec(
        PARKSHARE,
        "worker",
        env={**_env(settings), "SWEEP_INTERVAL_SECONDS": "1"},
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        for _ in range(100):
            async with committed_db.sessionmaker() as session:
                status = await session.scalar(
                    text("select status from bookings where id = :id"), {"id": held["id"]}
                )
            if status == "expired":
                break
            await asyncio.sleep(0.1)
        assert status == "expired"
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), timeout=20)
    assert proc.returncode == 0, err.decode()
