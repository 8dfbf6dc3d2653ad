from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User
from app.errors import NotFound, ValidationProblem, Where
from app.pagination import PageParams, paginate
from app.users.models import Vehicle
from app.users.schemas import MePatch, VehicleCreate


async def update_me(session: AsyncSession, user: User, patch: MePatch, now: datetime) -> User:
    changes = patch.model_dump(exclude_unset=True)
    if changes.get("display_name", "") is None:
        raise ValidationProblem.field("display_name", "cannot be null")
    for name, value in changes.items():
        setattr(user, name, value)
    if changes:
        user.updated_at = now
    await session.flush()
    return user


async def add_vehicle(session: AsyncSession, user: User, data: VehicleCreate, now: datetime) -> Vehicle:
    vehicle = Vehicle(owner_id=user.id, created_at=now, **data.model_dump())
    session.add(vehicle)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise ValidationProblem.field("license_plate", "you have registered this vehicle already") from exc
    return vehicle


async def list_vehicles(
    session: AsyncSession, user: User, page: PageParams
) -> tuple[list[Vehicle], str | None]:
    query = select(Vehicle).where(Vehicle.owner_id == user.id, Vehicle.deleted_at.is_(None))  # type: ignore[union-attr]
    return await paginate(session, query, Vehicle, page)


async def remove_vehicle(session: AsyncSession, user: User, vehicle_id: uuid.UUID, now: datetime) -> None:
    vehicle = await session.scalar(
        select(Vehicle).where(
            Vehicle.id == vehicle_id,
            Vehicle.owner_id == user.id,
            Vehicle.deleted_at.is_(None),  # type: ignore[union-attr]
        )
    )
    if vehicle is None:
        raise NotFound("no such vehicle")
    # Kept as a row, so bookings made with it still say which car it was.
    vehicle.deleted_at = now
    await session.flush()


async def own_vehicle(
    session: AsyncSession, user: User, vehicle_id: str, *, where: Where = "body"
) -> Vehicle:
    """One of the user's current vehicles named in a request field `vehicle_id` (in the body or,
    for search, the query), else a 422."""
    try:
        parsed = uuid.UUID(vehicle_id)
    except ValueError:
        parsed = None
    vehicle = None
    if parsed is not None:
        vehicle = await session.scalar(
            select(Vehicle).where(
                Vehicle.id == parsed,
                Vehicle.owner_id == user.id,
                Vehicle.deleted_at.is_(None),  # type: ignore[union-attr]
            )
        )
    if vehicle is None:
        raise ValidationProblem.field("vehicle_id", "not one of your vehicles", where=where)
    return vehicle
