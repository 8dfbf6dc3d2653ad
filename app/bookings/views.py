"""A booking as its answer shows it, to whom (API.md, "Bookings").

Besides the row and its events, an answer carries a summary of the spot (title, district, the
rounded public location), so a driver's history still says where they parked after the spot is
withdrawn (spots are only soft-deleted), the driver's display name, and the vehicle's plate: for
the driver always, for the spot's owner only while the booking is confirmed and due, in the same
window in which the driver sees the spot's access details. Never the driver's e-mail or phone.

The extra columns of a whole page come in one statement by primary keys; a new booking, on the
booking hot path, needs only its spot's row.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

from sqlalchemy.ext.asyncio import AsyncSession

from app.bookings import hooks, queries
from app.bookings.models import Booking, BookingEvent
from app.bookings.queries import NewBooking
from app.bookings.schemas import BookingOut
from app.db import Row, raw_connection
from app.schemas import Rating
from app.spots.service import public_coordinate, reveals
from app.users.models import User, Vehicle
from booking.states import Status

_FACTS = """
select b.id, s.title, s.district, s.lat, s.lon, s.owner_id, s.reveal_before_min,
       u.display_name, v.license_plate
from bookings b
join spots s on s.id = b.spot_id
join users u on u.id = b.driver_id
left join vehicles v on v.id = b.vehicle_id
where b.id = any($1::uuid[])
"""


async def _facts(session: AsyncSession, bookings: list[Booking]) -> dict[uuid.UUID, Row]:
    if not bookings:
        return {}
    conn = await raw_connection(session)
    rows = await conn.fetch(_FACTS, [b.id for b in bookings])
    return {row["id"]: row for row in rows}


def _plate(b: Booking, facts: Row, viewer_id: uuid.UUID, now: datetime) -> str | None:
    plate: str | None = facts["license_plate"]
    if viewer_id == b.driver_id:
        return plate
    due = b.status == Status.confirmed and reveals(
        start=b.start_at, end=b.end_at, reveal_before_min=facts["reveal_before_min"], now=now
    )
    # Only in the reveal window, as docs/api.md promises; not while a car overstays (after the end).
    return plate if due else None


def _out(
    b: Booking,
    events: list[BookingEvent],
    facts: Row,
    viewer_id: uuid.UUID,
    now: datetime,
    driver_rating: Rating | None = None,
) -> BookingOut:
    return BookingOut.model_validate(
        {
            "id": b.id,
            "spot_id": b.spot_id,
            "spot": {
                "title": facts["title"],
                "district": facts["district"],
                "location": {"lat": public_coordinate(facts["lat"]), "lon": public_coordinate(facts["lon"])},
            },
            "driver_id": b.driver_id,
            "driver_name": facts["display_name"],
            "vehicle_id": b.vehicle_id,
            "series_id": b.series_id,
            "license_plate": _plate(b, facts, viewer_id, now),
            "start": b.start_at,
            "end": b.end_at,
            "status": b.status,
            "total_cents": b.total_cents,
            "currency": b.currency,
            "refund_cents": b.refund_cents,
            "hold_expires_at": b.hold_expires_at,
            "request_expires_at": b.request_expires_at,
            "checked_in_at": b.checked_in_at,
            "checked_out_at": b.checked_out_at,
            "overstay_cents": b.overstay_cents,
            "spot_occupied_at": b.spot_occupied_at,
            "created_at": b.created_at,
            "updated_at": b.updated_at,
            "events": [
                {"at": e.at, "status": e.to_status, "by": str(e.by_user_id) if e.by_user_id else "system"}
                for e in events
            ],
            "driver_rating": driver_rating,
        }
    )


def _awaits_owner(b: Booking, facts: Row, viewer_id: uuid.UUID, now: datetime) -> bool:
    """A request the viewer, the spot's owner, has still to approve or decline: then, and only then,
    they see the driver's rating (a request past its deadline reads as expired)."""
    return (
        b.status == Status.requested
        and facts["owner_id"] == viewer_id
        and b.request_expires_at is not None
        and now < b.request_expires_at
    )


async def booking_outs(
    session: AsyncSession, bookings: list[Booking], viewer: User, now: datetime
) -> list[BookingOut]:
    """A page of bookings as `viewer` (their driver or their spot's owner) sees them: two
    statements whatever the page size (three when requests wait for the owner: their drivers'
    ratings)."""
    events = await queries.events_of(session, bookings)
    facts = await _facts(session, bookings)
    waiting = [b.driver_id for b in bookings if _awaits_owner(b, facts[b.id], viewer.id, now)]
    # A third statement only for an owner with requests waiting.
    ratings = await hooks.driver_ratings(session, waiting, now)
    return [
        _out(
            b,
            events[b.id],
            facts[b.id],
            viewer.id,
            now,
            ratings[b.driver_id] if _awaits_owner(b, facts[b.id], viewer.id, now) else None,
        )
        for b in bookings
    ]


async def booking_out(session: AsyncSession, booking: Booking, viewer: User, now: datetime) -> BookingOut:
    return (await booking_outs(session, [booking], viewer, now))[0]


async def new_booking_out(session: AsyncSession, new: NewBooking, driver: User, now: datetime) -> BookingOut:
    """A booking its driver has just made, on the booking hot path, with no statement of its own:
    it has exactly the event written with it, the spot's summary was read with its terms, the
    driver is at hand, and the vehicle is in the session (loaded to check its size)."""
    booking = new.booking
    vehicle = await session.get(Vehicle, booking.vehicle_id) if booking.vehicle_id else None
    facts = {
        **new.spot.summary,
        "display_name": driver.display_name,
        "license_plate": vehicle.license_plate if vehicle else None,
    }
    return _out(booking, [new.event], facts, driver.id, now)


def event_data(out: BookingOut) -> str:
    """An event's `data` for a booking as its recipient reads it."""
    return '{"booking":' + out.model_dump_json() + "}"


def new_booking_event_views(out: BookingOut) -> tuple[str, str | None]:
    """A new booking's event `data` for its driver and its spot's owner, from the driver's answer:
    a new booking is held or requested, so the owner does not see the plate yet."""
    if out.license_plate is None:
        return event_data(out), None
    return event_data(out), event_data(out.model_copy(update={"license_plate": None}))


class EventViews(NamedTuple):
    driver_data: str
    owner_data: str | None  # None: the same as the driver's
    owner_id: uuid.UUID


async def event_views(
    session: AsyncSession, bookings: list[Booking], now: datetime
) -> dict[uuid.UUID, EventViews]:
    """Each booking's event `data` for its driver and, when it differs, for its spot's owner, as
    each would read it at `now`: two statements whatever the number."""
    events = await queries.events_of(session, bookings)
    facts = await _facts(session, bookings)
    out: dict[uuid.UUID, EventViews] = {}
    for b in bookings:
        f = facts[b.id]
        driver = _out(b, events[b.id], f, b.driver_id, now)
        # Never the plate for the owner, even inside the reveal window: an event is read again
        # later (a stream resumed days on, a webhook's retries and redeliveries), when the window
        # may be over. The owner reads the plate with GET while it is revealed.
        owner = _out(b, events[b.id], f, b.driver_id, now).model_copy(update={"license_plate": None})
        out[b.id] = EventViews(
            event_data(driver), None if owner == driver else event_data(owner), f["owner_id"]
        )
    return out
