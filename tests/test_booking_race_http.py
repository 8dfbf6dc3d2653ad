"""The real thing: the service under uvicorn with two worker processes on loopback, and two
hundred drivers sending their booking at the same moment."""

from __future__ import annotations

import asyncio
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from app.db import Database
from app.settings import Settings
from bench.common import served
from tests.conftest import at
from tests.factories import add_rule, make_account, make_spot

PARKSHARE = str(Path(sys.executable).with_name("parkshare"))

pytestmark = pytest.mark.slow


@pytest.fixture
def server(settings: Settings, committed_db: Database) -> Iterator[str]:
    with served(settings.database_url, workers=2) as served_api:
        yield served_api.url


@pytest.mark.real_clock
async def test_two_hundred_drivers_race_over_two_workers(
    server: str, committed_db: Database, now: datetime
) -> None:
    limits = httpx.Limits(max_connections=250, max_keepalive_connections=250)
    async with httpx.AsyncClient(base_url=server, timeout=60, limits=limits) as client:
        owner = await make_account(client, "owner")
        spot = await make_spot(client, owner, rules={"buffer_min": 15})
        await add_rule(client, owner, spot)
        semaphore = asyncio.Semaphore(20)

        async def driver(n: int) -> dict[str, str]:
            async with semaphore:
                return (await make_account(client, f"driver{n}")).headers

        drivers = await asyncio.gather(*(driver(n) for n in range(200)))

        base = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=3)
        # Two contested groups: within each, every pair conflicts (same slot, overlap, or closer
        # than the 15-minute buffer), so exactly one booking per group can win.
        wanted = (
            [(0, 2)] * 100  # the same slot
            + [(2, 3)] * 40  # right after it, inside the buffer
            + [(5, 6)] * 40
            + [(5.5, 6.5)] * 20  # overlapping the one before
        )
        barrier = asyncio.Event()

        async def attempt(headers: dict[str, str], a: float, b: float) -> int:
            await barrier.wait()
            r = await client.post(
                "/v1/bookings",
                headers=headers,
                json={"spot_id": spot["id"], "start": at(a, base), "end": at(b, base)},
            )
            if r.status_code != 201:
                assert r.json()["code"] == "slot_unavailable", r.text
            return r.status_code

        tasks = [asyncio.create_task(attempt(h, a, b)) for h, (a, b) in zip(drivers, wanted, strict=True)]
        await asyncio.sleep(0.1)
        barrier.set()
        statuses = Counter(await asyncio.gather(*tasks))

    assert statuses == {201: 2, 409: 198}
    async with committed_db.sessionmaker() as session:
        active = await session.scalar(
            text(
                "select count(*) from bookings where spot_id = :s and status in ('held','requested','confirmed')"
            ),
            {"s": spot["id"]},
        )
        clashes = await session.scalar(
            text(
                "select count(*) from bookings a join bookings b on a.spot_id = b.spot_id and a.id < b.id"
                " where a.status in ('held','requested','confirmed') and b.status in ('held','requested','confirmed')"
                " and tstzrange(a.start_at - interval '15 minutes', a.end_at + interval '15 minutes', '[)')"
                " && tstzrange(b.start_at, b.end_at, '[)')"
            )
        )
    assert active == 2
    assert clashes == 0
