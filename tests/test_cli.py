from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, text

from app.availability.models import AvailabilityRule, AvailabilityWindow, SpotOpenRange
from app.bookings.models import Booking
from app.db import Database
from app.seed import DEMO_PASSWORD, demo_email, seed_demo
from app.settings import Settings
from app.spots.models import Spot
from app.users.models import User, Vehicle
from bench.common import served
from tests.factories import make_account, scene

PARKSHARE = str(Path(sys.executable).with_name("parkshare"))

# Subprocesses of the CLI, servers and the demo data: `make test-fast` leaves them out.
pytestmark = pytest.mark.slow


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
    for command in ("serve", "migrate", "seed", "worker", "admin"):
        assert command in out


def test_admin_grant_of_an_unknown_email_fails_in_one_line(settings: Settings) -> None:
    done = subprocess.run(
        [PARKSHARE, "admin", "grant", "nobody@example.org"],
        capture_output=True,
        text=True,
        env=_env(settings),
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.strip() == "parkshare: no account with the e-mail nobody@example.org"


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


async def _counts(database: Database) -> dict[str, int]:
    async with database.sessionmaker() as session:
        return {
            model.__tablename__: int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (User, Vehicle, Spot, AvailabilityRule, AvailabilityWindow, Booking)
        }


async def _seed_reset(settings: Settings) -> str:
    proc = await asyncio.create_subprocess_exec(
        PARKSHARE,
        "seed",
        "--reset",
        "--spots",
        "9",
        "--seed",
        "1",
        env=_env(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()
    return out.decode()


@pytest.mark.real_clock
async def test_seed_reset_dates_a_stale_demo_from_now_and_keeps_other_accounts(
    settings: Settings, committed_db: Database, committed_client: httpx.AsyncClient, now: datetime
) -> None:
    await seed_demo(settings, spots=9, if_empty=False, seed=1)
    someone = await make_account(committed_client, "someone")
    # A demo loaded long ago: everything it booked and offered once lies two months back.
    async with committed_db.sessionmaker() as session, session.begin():
        await session.execute(
            text(
                "update bookings set start_at = start_at - interval '60 days',"
                " end_at = end_at - interval '60 days'"
            )
        )
        await session.execute(
            text(
                "update availability_windows set during = tstzrange("
                "lower(during) - interval '60 days', upper(during) - interval '60 days', '[)')"
            )
        )
    before = now

    out = await _seed_reset(settings)

    assert "removed the previous demo (11 accounts)" in out
    counts = await _counts(committed_db)
    # 3 owners and 8 demo drivers, plus the account that is not part of the demo.
    assert counts["users"] == 3 + 8 + 1
    assert counts["spots"] == 9
    assert counts["bookings"] > 0
    async with committed_db.sessionmaker() as session:
        starts = (await session.execute(select(Booking.start_at))).scalars().all()
        window_ends = (
            (await session.execute(text("select upper(during) from availability_windows"))).scalars().all()
        )
        kept = await session.scalar(select(User.id).where(User.email == someone.email))
    assert min(starts) >= before
    assert all(end > before for end in window_ends)
    assert str(kept) == someone.id

    await _seed_reset(settings)
    assert await _counts(committed_db) == counts


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def _assert_one_line_about(port: int, stderr: str) -> None:
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line.startswith("parkshare:")]
    assert lines == [
        f"parkshare: port {port} on 127.0.0.1 is already in use; choose another with --port P (or make run PORT=P)"
    ]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_on_a_taken_port_says_so_in_one_line(settings: Settings, taken_port: int, workers: str) -> None:
    proc = subprocess.run(
        [PARKSHARE, "serve", "--port", str(taken_port), "--workers", workers],
        env=_env(settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    assert proc.stdout == ""
    _assert_one_line_about(taken_port, proc.stderr)
    assert proc.stderr.count("\n") == 1


# The port is free at the check and taken when uvicorn binds it, as when another server wins the race.
LATE_BIND = """
import sys
import app.cli as cli
real = cli._bind_error
calls = []
def free_at_first(host, port):
    calls.append(port)
    return None if len(calls) == 1 else real(host, port)
cli._bind_error = free_at_first
cli.main(sys.argv[1:])
"""


@pytest.mark.parametrize("workers", ["1", "2"])
def test_serve_explains_a_port_taken_after_the_check(
    settings: Settings, taken_port: int, workers: str
) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", LATE_BIND, "serve", "--port", str(taken_port), "--workers", workers],
        env={**_env(settings), "SCHEDULER_ENABLED": "false"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode != 0
    _assert_one_line_about(taken_port, proc.stderr)
    assert proc.stderr.rstrip("\n").splitlines()[-1].startswith(f"parkshare: port {taken_port}")


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
