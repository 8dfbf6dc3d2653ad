from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from app.db import DbSession
from app.replica import ReadSession
from app.schemas import parse_id
from app.spots import service
from app.spots.models import Spot
from app.users.dependencies import CurrentUser


async def valid_spot(spot_id: str, session: DbSession) -> Spot:
    return await service.get(session, parse_id(spot_id, "spot"))


async def public_spot(spot_id: str, session: ReadSession) -> Spot:
    """The spot for routes anyone may read, from the read replica when the request may use it."""
    return await service.get(session, parse_id(spot_id, "spot"))


async def owned_spot(spot_id: str, session: DbSession, user: CurrentUser) -> Spot:
    spot = await service.get(session, parse_id(spot_id, "spot"))
    service.require_owner(spot, user)
    return spot


async def locked_owned_spot(spot_id: str, session: DbSession, user: CurrentUser) -> Spot:
    """The owner's spot, locked until the request's transaction ends: changes to a spot and its
    availability take turns, so the derived open ranges always match what was committed last."""
    spot = await service.get(session, parse_id(spot_id, "spot"), for_update=True)
    service.require_owner(spot, user)
    return spot


ValidSpot = Annotated[Spot, Depends(valid_spot)]
PublicSpot = Annotated[Spot, Depends(public_spot)]
OwnedSpot = Annotated[Spot, Depends(owned_spot)]
LockedOwnedSpot = Annotated[Spot, Depends(locked_owned_spot)]
