"""How the domains answer each other where the lower one may not import the higher: the hooks of
app/spots/hooks.py, filled in here, in one place, and nowhere by import side effects."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.availability import materialize
from app.bookings import hooks as booking_hooks
from app.bookings import service as bookings
from app.events import hub
from app.reviews import queries as reviews
from app.spots import hooks as spot_hooks
from app.spots.models import Spot
from app.users.models import User


async def _clear_open_ranges(
    session: AsyncSession, spot: Spot, by: User, now: datetime, *, cancel_bookings: bool
) -> None:
    await materialize.clear_open_ranges(session, spot)


def wire() -> None:
    """Installs every hook; `create_app` calls it, and so does any command that uses the services
    without the app. Calling it again changes nothing."""
    spot_hooks.install(
        spot_hooks.SpotHooks(
            calendar_changed=[materialize.refresh_open_ranges],
            # Bookings first: it may refuse (409 spot_has_bookings), and then nothing else happens.
            withdrawing=[bookings.release_spot, _clear_open_ranges],
            full_view=[booking_hooks.in_reveal_window],
            booked=[booking_hooks.has_confirmed],
            # Reviews: the drivers' shown reviews of the spot, aggregated in SQL on each read (a
            # review is shown from a time on, so a stored counter would need a job to stay true).
            ratings=reviews.spot_ratings,
        )
    )
    booking_hooks.install(driver_ratings=reviews.driver_ratings)
    hub.install()
