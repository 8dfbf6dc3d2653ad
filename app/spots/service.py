"""Spots: create, read in the right view, change with optimistic concurrency, delete."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Row, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.errors import Forbidden, NotFound, PreconditionFailed, ValidationProblem
from app.pagination import PageParams, paginate
from app.schemas import Rating
from app.spots import hooks
from app.spots.models import Spot
from app.spots.schemas import SpotCreate, SpotOut
from app.users.models import User
from booking.visits import overstay_hourly_cents


def etag(spot: Spot) -> str:
    return f'"{spot.version}"'


def matches(if_match: str, spot: Spot) -> bool:
    """RFC 9110 If-Match: `*` or a list of entity tags, weak ones compared by their value."""
    if if_match.strip() == "*":
        return True
    current = etag(spot)
    return any(tag.strip().removeprefix("W/") == current for tag in if_match.split(","))


async def get(session: AsyncSession, spot_id: uuid.UUID, *, for_update: bool = False) -> Spot:
    query = select(Spot).where(col(Spot.id) == spot_id, col(Spot.deleted_at).is_(None))
    if for_update:
        query = query.with_for_update()
    spot = await session.scalar(query)
    if spot is None:
        raise NotFound("no such spot")
    return spot


def require_owner(spot: Spot, user: User) -> None:
    if spot.owner_id != user.id:
        raise Forbidden("only the spot's owner may do this")


def public_coordinate(value: float) -> float:
    """A coordinate as the public view shows it: 3 decimals (about 100 m), rounded exactly as the
    database rounds the `public_location` that search measures from (float to numeric with 15
    significant digits, then half away from zero), so the two never disagree on a tie."""
    return float(Decimal(f"{value:.15g}").quantize(_PUBLIC_STEP, rounding=ROUND_HALF_UP))


_PUBLIC_STEP = Decimal("0.001")


def public_location(spot: Spot | Row[Any]) -> dict[str, float]:
    return {"lat": public_coordinate(spot.lat), "lon": public_coordinate(spot.lon)}


def reveals(*, start: datetime, end: datetime, reveal_before_min: int, now: datetime) -> bool:
    """Whether a confirmed booking shows its driver the spot's private details now: from
    `reveal_before_min` before its start until its end (an old or far-off booking is no reason to
    know the gate code)."""
    return start - timedelta(minutes=reveal_before_min) <= now < end


async def sees_everything(session: AsyncSession, spot: Spot, user: User | None, now: datetime) -> bool:
    """The owner sees the full view, and so does a driver while a confirmed booking of theirs
    is due (they need the house number and the gate code then, and only then): bookings answers
    that through `hooks.full_view`."""
    if user is None:
        return False
    if user.id == spot.owner_id:
        return True
    return await hooks.full_view(session, spot, user, now)


async def rating(session: AsyncSession, spot: Spot, now: datetime) -> Rating:
    """The spot's rating as its views show it: from the reviews, through `hooks.ratings`."""
    return (await hooks.ratings(session, [spot.id], now))[spot.id]


def to_out(spot: Spot | Row[Any], *, full: bool, rating: Rating) -> SpotOut:
    doc = document(spot)
    # The rate in force, not the owner's null: a driver sees what an overstay costs.
    doc["rules"]["overstay_hourly_cents"] = overstay_hourly_cents(
        spot.hourly_cents, spot.overstay_hourly_cents
    )
    if not full:
        doc["address"]["house_number"] = None
        doc["access_instructions"] = None
        doc["location"] = public_location(spot)
    return SpotOut.model_validate(
        {
            **doc,
            "id": spot.id,
            "view": "full" if full else "public",
            "rating": rating,
            "owner_id": spot.owner_id if full else None,
            "created_at": spot.created_at,
            "updated_at": spot.updated_at,
        }
    )


def document(spot: Spot | Row[Any]) -> dict[str, Any]:
    """The spot in the shape of a create request: what a merge patch applies to."""
    return {
        "title": spot.title,
        "description": spot.description,
        "address": {
            "street": spot.street,
            "house_number": spot.house_number,
            "postal_code": spot.postal_code,
            "city": spot.city,
            "district": spot.district,
        },
        "location": {"lat": spot.lat, "lon": spot.lon},
        "timezone": spot.timezone,
        "features": {
            "covered": spot.covered,
            "ev_charger": (
                {"connector": spot.ev_connector, "power_kw": spot.ev_power_kw} if spot.ev_connector else None
            ),
            "wheelchair_accessible": spot.wheelchair_accessible,
            "lit": spot.lit,
        },
        "max_vehicle": (
            {"length_cm": spot.max_length_cm, "width_cm": spot.max_width_cm, "height_cm": spot.max_height_cm}
            if spot.max_length_cm is not None
            else None
        ),
        "access_instructions": spot.access_instructions,
        "pricing": {
            "hourly_cents": spot.hourly_cents,
            "daily_cap_cents": spot.daily_cap_cents,
            "currency": spot.currency,
        },
        "rules": {
            "granularity_min": spot.granularity_min,
            "min_duration_min": spot.min_duration_min,
            "max_duration_min": spot.max_duration_min,
            "lead_time_min": spot.lead_time_min,
            "horizon_days": spot.horizon_days,
            "buffer_min": spot.buffer_min,
            "instant_book": spot.instant_book,
            "cancellation_policy": spot.cancellation_policy,
            "reveal_before_min": spot.reveal_before_min,
            "grace_min": spot.grace_min,
            "overstay_hourly_cents": spot.overstay_hourly_cents,
            "check_in_required": spot.check_in_required,
            "no_show_after_min": spot.no_show_after_min,
        },
    }


def _apply(spot: Spot, data: SpotCreate) -> None:
    spot.title = data.title
    spot.description = data.description
    spot.street = data.address.street
    spot.house_number = data.address.house_number
    spot.postal_code = data.address.postal_code
    spot.city = data.address.city
    spot.district = data.address.district
    spot.lat = data.location.lat
    spot.lon = data.location.lon
    spot.timezone = data.timezone
    spot.covered = data.features.covered
    charger = data.features.ev_charger
    spot.ev_connector = charger.connector.value if charger else None
    spot.ev_power_kw = charger.power_kw if charger else None
    spot.wheelchair_accessible = data.features.wheelchair_accessible
    spot.lit = data.features.lit
    vehicle = data.max_vehicle
    spot.max_length_cm = vehicle.length_cm if vehicle else None
    spot.max_width_cm = vehicle.width_cm if vehicle else None
    spot.max_height_cm = vehicle.height_cm if vehicle else None
    spot.access_instructions = data.access_instructions
    spot.hourly_cents = data.pricing.hourly_cents
    spot.daily_cap_cents = data.pricing.daily_cap_cents
    spot.currency = data.pricing.currency
    for name, value in data.rules.model_dump(mode="json").items():
        setattr(spot, name, value)


async def create(session: AsyncSession, owner: User, data: SpotCreate, now: datetime) -> Spot:
    spot = Spot(
        owner_id=owner.id,
        title=data.title,
        street=data.address.street,
        house_number=data.address.house_number,
        postal_code=data.address.postal_code,
        city=data.address.city,
        hourly_cents=data.pricing.hourly_cents,
        lat=data.location.lat,
        lon=data.location.lon,
        created_at=now,
        updated_at=now,
    )
    _apply(spot, data)
    session.add(spot)
    await session.flush()
    # The generated `location` column is the database's; load it so the object is complete.
    await session.refresh(spot)
    await hooks.calendar_changed(session, spot, now)
    return spot


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396 JSON merge patch: objects merge key by key, null removes, anything else replaces."""
    if not isinstance(patch, Mapping):
        return patch
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result[key] = None  # a required field set to null is refused by validation below
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


async def patch(
    session: AsyncSession, spot: Spot, patch_body: Any, if_match: str | None, now: datetime
) -> Spot:
    if if_match is not None and not matches(if_match, spot):
        raise PreconditionFailed(f"the spot has changed (it is at {etag(spot)}); fetch it again")
    if not isinstance(patch_body, Mapping):
        raise ValidationProblem.field("body", "a JSON object is expected", "model_type")
    before = document(spot)
    try:
        data = SpotCreate.model_validate(merge_patch(before, patch_body))
    except ValidationError as exc:
        raise ValidationProblem.from_errors(exc.errors(), where=["body"]) from None
    _apply(spot, data)
    after = document(spot)
    if after != before:
        spot.version += 1
        spot.updated_at = now
        await session.flush()
        await session.refresh(spot)
        if _availability_inputs(before) != _availability_inputs(after):
            await hooks.calendar_changed(session, spot, now)
    return spot


def _availability_inputs(doc: Mapping[str, Any]) -> tuple[Any, ...]:
    return doc["timezone"], doc["rules"]["horizon_days"]


async def withdraw(
    session: AsyncSession, spot: Spot, owner: User, now: datetime, *, cancel_bookings: bool
) -> None:
    """Deletes the spot after the domains above have let go of it (`hooks.withdrawing`: bookings
    cancels its future bookings or refuses, availability clears its open ranges)."""
    await hooks.withdrawing(session, spot, owner, now, cancel_bookings=cancel_bookings)
    # Soft: bookings and their history keep pointing at the row.
    spot.deleted_at = now
    await session.flush()


async def list_owned(session: AsyncSession, owner: User, page: PageParams) -> tuple[list[Spot], str | None]:
    query = select(Spot).where(col(Spot.owner_id) == owner.id, col(Spot.deleted_at).is_(None))
    return await paginate(session, query, Spot, page)
