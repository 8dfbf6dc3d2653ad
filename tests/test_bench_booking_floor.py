"""The floor of the booking benchmark (`bench.booking_floor`) books for real: a 201 from it is a
booking with its event and its outbox event, written by the service's own statements, so that its
rate stands for that work and nothing less."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from sqlalchemy.engine import make_url

from app.migrations import drop_database
from bench import booking_floor
from bench.booking_throughput import populate
from bench.common import asyncpg_dsn, fresh_database, served

pytestmark = pytest.mark.slow


@pytest.mark.real_clock
async def test_the_floor_answers_201_only_for_a_booking_it_wrote(database_url: str) -> None:
    url = make_url(database_url)
    url = url.set(database=f"{url.database}_floor").render_as_string(hide_password=False)
    await fresh_database(url)
    try:
        with served(url, workers=1) as api:
            [spot_id], _, [headers] = await populate(api, spots=1, drivers=1)
        # The floor checks no rules (only the database's constraints): any free hour will do.
        start = (datetime.now(UTC) + timedelta(days=1)).replace(minute=0, second=0, microsecond=0)
        body = {
            "spot_id": spot_id,
            "start": start.isoformat(),
            "end": (start + timedelta(hours=1)).isoformat(),
        }
        with booking_floor.served(url, workers=1) as floor:
            async with httpx.AsyncClient(base_url=floor.url) as client:
                r = await client.post("/v1/bookings", json=body, headers=headers)
                assert r.status_code == 201, r.text
                assert (await client.get("/v1/spots")).status_code == 404
        booking = r.json()["booking"]
        assert (booking["spot_id"], booking["status"]) == (spot_id, "held")
        conn = await asyncpg.connect(asyncpg_dsn(url))
        try:
            row = await conn.fetchrow(
                "select b.status, b.start_at, count(distinct e.id) as events, count(distinct o.seq) as outbox"
                " from bookings b join booking_events e on e.booking_id = b.id"
                " join events o on o.booking_id = b.id where b.id = $1 group by b.id",
                uuid.UUID(booking["id"]),
            )
        finally:
            await conn.close()
        assert row is not None
        assert (row["status"], row["start_at"], row["events"], row["outbox"]) == ("held", start, 1, 1)
    finally:
        await drop_database(url)
