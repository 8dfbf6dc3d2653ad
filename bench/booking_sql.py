"""The SQL of one `POST /v1/bookings`, sent by a bare asyncpg client: the raw-SQL side of the booking
benchmark (`bench.booking_throughput`), the same work as the API's without the API.

The statements are the service's own, imported from where the service sends them, so they cannot
drift apart; `tests/test_bench_booking_sql.py` books once through the API and once here and checks
that PostgreSQL received the same statements in the same order. A booking of a signed-in driver
without an `Idempotency-Key`, as the benchmark sends it:

    BEGIN
    the sign-in lookup (the user, with its sign-in still live)      app.users.service
    the rate-limit upsert of the driver's booking writes            app.ratelimit
    the spot's terms, locked, and its calendar within reach         app.bookings.queries
      (one function, `parkshare_spot_calendar`)
    the booking, its first event and its outbox event, one insert   app.bookings.queries
    COMMIT
    then the outbox's reader (`app.events.hub.Hub`) is woken, reads the new events and NOTIFYs the
    other processes' readers, which read too; under load one read covers many bookings.

Parameters have the API's shapes: the same ids, times, a JSON event of the same size. What the
client leaves out is what the API does in Python: HTTP, validation, the token, the booking engine's
decision, pricing, building the answer."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from app import ratelimit
from app.bookings import queries
from app.events.hub import Hub
from app.settings import Settings
from app.users.service import SIGNED_IN_SQL as SIGNED_IN

RATE_LIMIT = ratelimit._ADD
SPOT_CALENDAR = queries._SPOT_CALENDAR
INSERT = queries._INSERT


@dataclass(frozen=True)
class Driver:
    user_id: uuid.UUID
    session_id: uuid.UUID
    display_name: str


@dataclass(frozen=True)
class Spot:
    id: uuid.UUID
    owner_id: uuid.UUID
    title: str
    lat: float
    lon: float
    buffer: timedelta
    hourly_cents: int


async def drivers(conn: asyncpg.Connection, emails: list[str]) -> list[Driver]:
    """The drivers with their newest live sign-in, in the order of `emails`."""
    rows = await conn.fetch(
        "select distinct on (u.id) u.email, u.id, s.id as session_id, u.display_name"
        " from users u join login_sessions s on s.user_id = u.id and s.revoked_at is null"
        " where u.email = any($1) order by u.id, s.created_at desc",
        emails,
    )
    by_email = {r["email"]: Driver(r["id"], r["session_id"], r["display_name"]) for r in rows}
    return [by_email[e] for e in emails]


async def spots(conn: asyncpg.Connection | PoolConnectionProxy, ids: list[str]) -> dict[str, Spot]:
    rows = await conn.fetch(
        "select id, owner_id, title, lat, lon, buffer_min, hourly_cents from spots where id = any($1)",
        [uuid.UUID(i) for i in ids],
    )
    return {
        str(r["id"]): Spot(
            r["id"],
            r["owner_id"],
            r["title"],
            r["lat"],
            r["lon"],
            timedelta(minutes=r["buffer_min"]),
            r["hourly_cents"],
        )
        for r in rows
    }


def _z(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def event_data(
    booking_id: uuid.UUID,
    spot: Spot,
    driver: Driver,
    start: datetime,
    end: datetime,
    now: datetime,
    hold_until: datetime,
) -> str:
    """The driver's view of the new booking, as the event's `data` (same members, same size)."""
    return json.dumps(
        {
            "booking": {
                "id": str(booking_id),
                "end": _z(end),
                "spot": {
                    "title": spot.title,
                    "district": None,
                    "location": {"lat": spot.lat, "lon": spot.lon},
                },
                "start": _z(start),
                "events": [{"at": _z(now), "by": str(driver.user_id), "status": "held"}],
                "status": "held",
                "spot_id": str(spot.id),
                "currency": "EUR",
                "driver_id": str(driver.user_id),
                "series_id": None,
                "created_at": _z(now),
                "updated_at": _z(now),
                "vehicle_id": None,
                "driver_name": driver.display_name,
                "total_cents": spot.hourly_cents,
                "refund_cents": None,
                "checked_in_at": None,
                "driver_rating": None,
                "license_plate": None,
                "checked_out_at": None,
                "overstay_cents": 0,
                "hold_expires_at": _z(hold_until),
                "spot_occupied_at": None,
                "request_expires_at": None,
            }
        }
    )


async def book(
    conn: asyncpg.Connection | PoolConnectionProxy,
    settings: Settings,
    driver: Driver,
    spot: Spot,
    start: datetime,
    end: datetime,
    now: datetime | None = None,
) -> str:
    """One booking of a one-hour slot the caller knows to be free, statement for statement as the
    API sends it (a held booking on an instant-book spot); the event's `data` it wrote, which is
    the driver's view of the booking."""
    now = now or datetime.now(UTC)
    window = timedelta(seconds=settings.booking_write_window_seconds)
    window_start = datetime.fromtimestamp(
        int(now.timestamp() // window.total_seconds() * window.total_seconds()), UTC
    )
    booking_id = uuid.uuid4()
    hold_until = now + timedelta(seconds=settings.hold_ttl_seconds)
    data = event_data(booking_id, spot, driver, start, end, now, hold_until)
    async with conn.transaction():
        user = await conn.fetchrow(SIGNED_IN, driver.user_id, driver.session_id)
        assert user is not None
        count = await conn.fetchval(RATE_LIMIT, f"booking-writes:{driver.user_id}", window_start)
        assert count <= settings.booking_writes_per_user
        assert await conn.fetch(SPOT_CALENDAR, spot.id, start, end, now)
        await conn.execute(
            INSERT,
            booking_id,
            spot.id,
            driver.user_id,
            None,
            start,
            end,
            "held",
            spot.hourly_cents,
            "EUR",
            hold_until,
            None,
            now,
            "booking.held",
            "driver",
            driver.user_id,
            uuid.uuid4(),
            spot.owner_id,
            data,
            None,
            None,
        )
    return data


class Client:
    """`concurrency` connections of a pool, and `processes` outbox readers, each commit waking one
    in turn, as a booking wakes the reader of the serving process that made it. Open it, warm it
    up with a few bookings, then measure."""

    def __init__(self, dsn: str, settings: Settings, concurrency: int, processes: int = 2) -> None:
        self._dsn = dsn
        self._settings = settings
        self._concurrency = concurrency
        self._hubs = [Hub(dsn) for _ in range(processes)]
        self._turn = itertools.cycle(self._hubs)
        self._pool: asyncpg.Pool | None = None

    async def __aenter__(self) -> Client:
        for hub in self._hubs:
            await hub.start()
        self._pool = await asyncpg.create_pool(
            self._dsn,
            min_size=self._concurrency,
            max_size=self._concurrency,
            # The serving processes' connection settings (app.db.Database).
            server_settings={
                "application_name": "parkshare",
                "statement_timeout": str(self._settings.database_statement_timeout_ms),
                "timezone": "UTC",
            },
        )
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._pool is not None:
            await self._pool.close()
        for hub in self._hubs:
            await hub.stop()

    async def book_all(self, jobs: Iterator[tuple[Driver, Spot, datetime]]) -> list[float]:
        """Books every job, `concurrency` at a time; the latency of each in seconds."""
        pool = self._pool
        assert pool is not None
        latencies: list[float] = []

        async def worker() -> None:
            async with pool.acquire() as conn:
                for driver, spot, start in jobs:
                    t0 = time.perf_counter()
                    await book(conn, self._settings, driver, spot, start, start + timedelta(hours=1))
                    latencies.append(time.perf_counter() - t0)
                    next(self._turn).poke()

        await asyncio.gather(*(worker() for _ in range(self._concurrency)))
        return latencies
