"""What an event shows to whom: the owner's view of a booking in the outbox never carries the
licence plate, even when GET shows it to them (the reveal window), because an event is read again
later (a resumed stream, a retried or redelivered webhook), when the window may be over."""

from __future__ import annotations

import json
import uuid

from httpx import AsyncClient
from sqlalchemy import text

from app.bookings import service as bookings
from app.db import Database
from app.users.models import User
from booking.states import Action
from tests.conftest import START, FakeClock, at
from tests.factories import add_vehicle, scene

PLATE = "DO-PS 1234"


async def test_the_owners_event_has_no_plate_even_inside_the_reveal_window(
    client: AsyncClient, db: Database, clock: FakeClock
) -> None:
    world = await scene(client, START)
    vehicle = await add_vehicle(client, world.driver, PLATE)
    r = await client.post(
        "/v1/bookings",
        headers=world.driver.headers,
        json={
            "spot_id": world.spot["id"],
            "start": at(0, world.base),
            "end": at(1, world.base),
            "vehicle_id": vehicle["id"],
        },
    )
    assert r.status_code == 201, r.text
    booking = r.json()
    r = await client.post(f"/v1/bookings/{booking['id']}/confirm", headers=world.driver.headers)
    assert r.status_code == 200, r.text
    # 30 minutes before the start: inside the spot's 60-minute reveal window.
    clock.advance(hours=1.5)
    r = await client.get(f"/v1/bookings/{booking['id']}", headers=world.owner.headers)
    assert r.json()["license_plate"] == PLATE
    r = await client.post(
        f"/v1/bookings/{booking['id']}/extend", headers=world.driver.headers, json={"end": at(2, world.base)}
    )
    assert r.status_code == 200, r.text

    async with db.sessionmaker() as session:
        rows = (
            await session.execute(
                text(
                    "select type, data::text as data, owner_data::text as owner_data from events"
                    " where booking_id = :id order by seq"
                ),
                {"id": booking["id"]},
            )
        ).all()
    assert [row.type for row in rows] == ["booking.held", "booking.confirmed", "booking.extended"]
    for row in rows:
        assert json.loads(row.data)["booking"]["license_plate"] == PLATE
        assert row.owner_data is not None, row.type
        owner_view = json.loads(row.owner_data)["booking"]
        assert owner_view["license_plate"] is None
        assert PLATE not in row.owner_data
    extended = json.loads(rows[-1].owner_data)["booking"]
    assert (extended["status"], extended["end"]) == ("confirmed", at(2, world.base))


async def test_a_change_rolled_back_leaves_no_event(client: AsyncClient, db: Database) -> None:
    """The event is written in the transaction of its change: if that transaction rolls back, no
    reader ever sees the event."""
    world = await scene(client, START)
    booking = await world.book(0, 1)
    async with db.sessionmaker() as session:
        driver = await session.get(User, uuid.UUID(world.driver.id))
        assert driver is not None
        await bookings.change(session, driver, booking["id"], Action.confirm, START)
        inside = await session.scalar(
            text("select count(*) from events where booking_id = :b and type = 'booking.confirmed'"),
            {"b": booking["id"]},
        )
        assert inside == 1  # written with the change...
        await session.rollback()
    async with db.sessionmaker() as session:
        types = (
            await session.scalars(
                text("select type from events where booking_id = :b order by seq"), {"b": booking["id"]}
            )
        ).all()
        status = await session.scalar(
            text("select status::text from bookings where id = :b"), {"b": booking["id"]}
        )
    assert list(types) == ["booking.held"]  # ...and gone with it
    assert status == "held"
