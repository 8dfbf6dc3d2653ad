"""The scheduler's event jobs against committed data: the reminders `booking.starts_soon` and
`booking.ends_soon` (exactly once, however many runs race) and the purge of old events."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from pydantic import ValidationError
from sqlalchemy import text

from app.bookings.tasks import remind
from app.clock import utcnow
from app.db import Database
from app.events import tasks as event_tasks
from app.events.tasks import purge_events
from app.settings import Settings
from tests.conftest import at
from tests.factories import Scene, open_spot, scene

REMINDERS = ("booking.starts_soon", "booking.ends_soon")


async def reminders(database: Database) -> list[tuple[str, str]]:
    """(booking id, type) of every reminder in the outbox, one row per event."""
    async with database.sessionmaker() as session:
        rows = await session.execute(
            text("select booking_id, type from events where type = any(:types) order by booking_id, type"),
            {"types": list(REMINDERS)},
        )
        return [(str(b), t) for b, t in rows.all()]


async def confirmed(world: Scene, start: float, end: float) -> dict[str, Any]:
    booking = await world.book(start, end)
    r = await world.client.post(f"/v1/bookings/{booking['id']}/confirm", headers=world.driver.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


def hours(world: Scene, h: float) -> datetime:
    return world.base + timedelta(hours=h)


async def test_racing_runs_send_each_reminder_once(
    committed_client: AsyncClient, committed_db: Database, now: datetime
) -> None:
    world = await scene(committed_client, now)
    # Five confirmed bookings starting at the same time on five spots, so that the runs below
    # have several batches to compete for.
    bookings = [await confirmed(world, 0, 1)]
    for _ in range(4):
        spot = await open_spot(committed_client, world.owner)
        other = Scene(committed_client, world.owner, world.driver, spot, world.base)
        bookings.append(await confirmed(other, 0, 1))
    held = await world.book(2, 3)  # not confirmed: no reminder

    due = hours(world, 0) - timedelta(minutes=20)
    runs = await asyncio.gather(*(remind(committed_db, due, batch=2) for _ in range(4)))
    assert sum(starts for starts, _ in runs) == 5
    assert sum(ends for _, ends in runs) == 0
    assert await remind(committed_db, due + timedelta(minutes=5)) == (0, 0)
    expected = sorted((b["id"], "booking.starts_soon") for b in bookings)
    assert await reminders(committed_db) == expected
    assert held["id"] not in {b for b, _ in await reminders(committed_db)}

    # 10 minutes before the end, the same race for ends_soon.
    ending = hours(world, 1) - timedelta(minutes=10)
    runs = await asyncio.gather(*(remind(committed_db, ending, batch=2) for _ in range(4)))
    assert [sum(r[i] for r in runs) for i in (0, 1)] == [0, 5]
    assert sorted(await reminders(committed_db)) == sorted(
        expected + [(b["id"], "booking.ends_soon") for b in bookings]
    )


async def test_a_reminder_goes_to_driver_and_owner_with_their_views(
    committed_client: AsyncClient, committed_db: Database, now: datetime
) -> None:
    world = await scene(committed_client, now)
    booking = await confirmed(world, 0, 1)
    assert await remind(committed_db, hours(world, 0) - timedelta(minutes=30)) == (1, 0)
    async with committed_db.sessionmaker() as session:
        row = (
            await session.execute(
                text(
                    "select driver_id, owner_id, created_at, data::text as data from events"
                    " where type = 'booking.starts_soon'"
                )
            )
        ).one()
    assert (str(row.driver_id), str(row.owner_id)) == (world.driver.id, world.owner.id)
    assert row.created_at == hours(world, 0) - timedelta(minutes=30)
    data = json.loads(row.data)["booking"]
    assert (data["id"], data["status"], data["start"]) == (booking["id"], "confirmed", booking["start"])


async def test_no_reminder_for_a_booking_no_longer_active_or_already_started(
    committed_client: AsyncClient, committed_db: Database, now: datetime
) -> None:
    world = await scene(committed_client, now)
    cancelled = await confirmed(world, 0, 1)
    r = await committed_client.post(
        f"/v1/bookings/{cancelled['id']}/cancel", headers=world.driver.headers, json={}
    )
    assert r.status_code == 200, r.text
    assert await remind(committed_db, hours(world, 0) - timedelta(minutes=20)) == (0, 0)
    assert await remind(committed_db, hours(world, 1) - timedelta(minutes=10)) == (0, 0)

    started = await confirmed(world, 2, 5)
    # The first run comes only after the start: too late for starts_soon, and the end is far.
    assert await remind(committed_db, hours(world, 2) + timedelta(minutes=1)) == (0, 0)
    # Exactly at the start is too late as well; 30 minutes before is just in time.
    assert await remind(committed_db, hours(world, 2)) == (0, 0)
    assert await remind(committed_db, hours(world, 2) - timedelta(minutes=31)) == (0, 0)
    assert await reminders(committed_db) == []
    # Past its end a booking gets no ends_soon either.
    assert await remind(committed_db, hours(world, 5)) == (0, 0)
    assert await remind(committed_db, hours(world, 5) - timedelta(minutes=15)) == (0, 1)
    assert await reminders(committed_db) == [(started["id"], "booking.ends_soon")]


async def test_a_hold_gets_its_reminder_once_confirmed_in_the_window(
    committed_client: AsyncClient, committed_db: Database, now: datetime
) -> None:
    world = await scene(committed_client, now)
    held = await world.book(0, 1)
    due = hours(world, 0) - timedelta(minutes=20)
    assert await remind(committed_db, due) == (0, 0)  # not a reservation yet
    r = await committed_client.post(f"/v1/bookings/{held['id']}/confirm", headers=world.driver.headers)
    assert r.status_code == 200, r.text
    assert await remind(committed_db, due + timedelta(minutes=1)) == (1, 0)
    assert await reminders(committed_db) == [(held["id"], "booking.starts_soon")]


async def test_an_extension_earns_a_new_ends_soon(
    committed_client: AsyncClient, committed_db: Database, now: datetime
) -> None:
    world = await scene(committed_client, now)
    booking = await confirmed(world, 0, 2)
    assert await remind(committed_db, hours(world, 2) - timedelta(minutes=15)) == (0, 1)
    r = await committed_client.post(
        f"/v1/bookings/{booking['id']}/extend",
        headers=world.driver.headers,
        json={"end": at(3, world.base)},
    )
    assert r.status_code == 200, r.text
    # Near the old end nothing is due any more: the new end is an hour away.
    assert await remind(committed_db, hours(world, 2) - timedelta(minutes=5)) == (0, 0)
    assert await remind(committed_db, hours(world, 3) - timedelta(minutes=10)) == (0, 1)
    assert await remind(committed_db, hours(world, 3) - timedelta(minutes=5)) == (0, 0)
    assert await reminders(committed_db) == [(booking["id"], "booking.ends_soon")] * 2
    async with committed_db.sessionmaker() as session:
        ends = (
            await session.execute(
                text(
                    "select data->'booking'->>'end' from events where type = 'booking.ends_soon'"
                    " order by txid, seq"
                )
            )
        ).scalars()
        assert list(ends) == [at(2, world.base), at(3, world.base)]


# Retention


async def _age_events(database: Database, ids: list[str], created_at: datetime) -> None:
    async with database.sessionmaker() as session, session.begin():
        await session.execute(
            text("update events set created_at = :t where booking_id = any(:ids)"),
            {"t": created_at, "ids": [uuid.UUID(i) for i in ids]},
        )


async def _count(database: Database, table: str) -> int:
    async with database.sessionmaker() as session:
        return int(await session.scalar(text(f"select count(*) from {table}")) or 0)  # noqa: S608


async def test_old_events_are_purged_in_batches_with_their_deliveries(
    committed_client: AsyncClient, committed_db: Database, now: datetime
) -> None:
    world = await scene(committed_client, now)
    old = [await world.book(h, h + 1) for h in range(5)]  # one booking.held event each
    recent = await world.book(6, 7)
    cutoff = now - timedelta(days=8)
    await _age_events(committed_db, [b["id"] for b in old], cutoff - timedelta(seconds=1))
    await _age_events(committed_db, [recent["id"]], cutoff)
    async with committed_db.sessionmaker() as session, session.begin():
        webhook = uuid.uuid4()
        await session.execute(
            text(
                "insert into webhooks (id, user_id, url, events, secret)"
                " values (:id, :user, 'https://example.org/hook', '{booking.held}', 'whsec_x')"
            ),
            {"id": webhook, "user": uuid.UUID(world.driver.id)},
        )
        await session.execute(
            text(
                "insert into deliveries (id, event_seq, webhook_id, status)"
                " select gen_random_uuid(), seq, :webhook, 'pending' from events"
            ),
            {"webhook": webhook},
        )
    assert await _count(committed_db, "deliveries") == 6

    assert await purge_events(committed_db, cutoff, batch=2) == 5
    assert await purge_events(committed_db, cutoff, batch=2) == 0
    async with committed_db.sessionmaker() as session:
        left = (await session.execute(text("select booking_id from events"))).scalars().all()
    assert [str(b) for b in left] == [recent["id"]]
    assert await _count(committed_db, "deliveries") == 1
    assert await _count(committed_db, "bookings") == 6  # only the outbox is purged


async def test_the_purge_job_keeps_event_retention_days(
    committed_client: AsyncClient, committed_db: Database, settings: Settings, now: datetime
) -> None:
    world = await scene(committed_client, now)
    kept, dropped = await world.book(0, 1), await world.book(2, 3)
    # The job reads the system clock, as the scheduler runs it.
    week = timedelta(days=7)
    await _age_events(committed_db, [kept["id"]], utcnow() - week + timedelta(minutes=5))
    await _age_events(committed_db, [dropped["id"]], utcnow() - week - timedelta(minutes=5))
    [job] = event_tasks.jobs(settings.model_copy(update={"event_retention_days": 7}))
    assert (job.run.__name__, job.every) == ("purge_old_events", timedelta(hours=1))
    assert await job.run(committed_db) == 1
    async with committed_db.sessionmaker() as session:
        left = (await session.execute(text("select booking_id from events"))).scalars().all()
    assert [str(b) for b in left] == [kept["id"]]


def test_events_are_kept_at_least_seven_days() -> None:
    assert Settings(_env_file=None).event_retention_days == 8  # type: ignore[call-arg]
    assert Settings(_env_file=None, event_retention_days=7).event_retention_days == 7  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="greater than or equal to 7"):
        Settings(_env_file=None, event_retention_days=6)  # type: ignore[call-arg]
