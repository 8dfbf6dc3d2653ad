"""What the domains above spots do when a spot changes, without spots importing them.

Spots sit below availability and bookings, yet creating a spot, changing its time zone or horizon,
withdrawing it and choosing its view all concern those domains. Each such moment is a list of async
functions that the domains above fill in. `app/wiring.py` installs them all, in one place, when the
app is built (`create_app`) or a command needs the services (`parkshare seed`); nothing registers
itself on import. Every hook runs in the caller's transaction, with the caller's session: it only
flushes, and a problem it raises rolls back the whole request, the spot's own changes included.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.schemas import Rating
from app.spots.models import Spot
from app.users.models import User

# The spot was created, or its time zone or horizon changed: whatever is derived from its calendar
# must be computed again (availability rewrites the open ranges).
CalendarChanged = Callable[[AsyncSession, Spot, datetime], Awaitable[object]]

# May this signed-in user, who is not the owner, see the spot's full view now? (bookings: while a
# confirmed booking of theirs is in its reveal window.)
FullView = Callable[[AsyncSession, Spot, User, datetime], Awaitable[bool]]

# Has this signed-in user, who is not the owner, a confirmed booking of the spot that has not ended?
# (bookings.) Such a driver still reads a spot an admin unlisted.
Booked = Callable[[AsyncSession, Spot, User, datetime], Awaitable[bool]]

# The ratings of these spots as shown at `now` (reviews: the drivers' shown reviews); a spot with
# none may be missing from the answer. One statement for any number of spots.
Ratings = Callable[[AsyncSession, Sequence[uuid.UUID], datetime], Awaitable[Mapping[uuid.UUID, Rating]]]


class Withdrawing(Protocol):
    """The owner `by` is withdrawing the spot, before it is marked deleted. A hook may refuse with a
    problem (bookings: 409 `spot_has_bookings` unless `cancel_bookings`)."""

    async def __call__(
        self, session: AsyncSession, spot: Spot, by: User, now: datetime, /, *, cancel_bookings: bool
    ) -> object: ...


@dataclass(frozen=True)
class SpotHooks:
    calendar_changed: Sequence[CalendarChanged] = ()
    # In order: the first one that refuses stops the others.
    withdrawing: Sequence[Withdrawing] = ()
    full_view: Sequence[FullView] = ()
    booked: Sequence[Booked] = ()
    # One answer, not a list: a spot has one rating.
    ratings: Ratings | None = None


_installed: SpotHooks | None = None


def install(hooks: SpotHooks) -> None:
    """Replaces the hooks: installing the same ones again (every `create_app`) changes nothing."""
    global _installed
    _installed = hooks


def _hooks() -> SpotHooks:
    # Without them a withdrawn spot would keep its bookings and a new one would have no open
    # ranges: better to fail at once than to write that.
    if _installed is None:
        raise RuntimeError("the spot hooks are not installed: call app.wiring.wire() first")
    return _installed


async def calendar_changed(session: AsyncSession, spot: Spot, now: datetime) -> None:
    for hook in _hooks().calendar_changed:
        await hook(session, spot, now)


async def withdrawing(
    session: AsyncSession, spot: Spot, by: User, now: datetime, *, cancel_bookings: bool
) -> None:
    for hook in _hooks().withdrawing:
        await hook(session, spot, by, now, cancel_bookings=cancel_bookings)


async def full_view(session: AsyncSession, spot: Spot, user: User, now: datetime) -> bool:
    for hook in _hooks().full_view:
        if await hook(session, spot, user, now):
            return True
    return False


async def booked(session: AsyncSession, spot: Spot, user: User, now: datetime) -> bool:
    for hook in _hooks().booked:
        if await hook(session, spot, user, now):
            return True
    return False


async def ratings(
    session: AsyncSession, spot_ids: Sequence[uuid.UUID], now: datetime
) -> dict[uuid.UUID, Rating]:
    """Every spot's rating, `{average: null, count: 0}` for a spot without shown reviews."""
    answer = _hooks().ratings
    found = await answer(session, spot_ids, now) if answer is not None and spot_ids else {}
    return {spot_id: found.get(spot_id) or Rating.none() for spot_id in spot_ids}
