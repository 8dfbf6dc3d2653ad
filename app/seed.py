"""Demo data of Dortmund's Kreuzviertel for `parkshare seed` and `make run`.

Built through the same service functions as the API, so the demo spots are exactly what owners
would have made (validated, with their open ranges computed)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from sqlalchemy import exists, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.security import PasswordHashing
from app.availability import service as availability
from app.availability.calendar import load_calendar
from app.availability.models import AvailabilityBlackout, AvailabilityWindow
from app.availability.schemas import BlackoutCreate, RuleCreate, WindowCreate
from app.bookings import service as bookings
from app.bookings.schemas import BookingCreate
from app.clock import utcnow
from app.db import Database
from app.settings import Settings
from app.spots import service as spot_service
from app.spots.models import Spot
from app.spots.schemas import SpotCreate
from app.users.models import User, Vehicle
from app.wiring import wire
from booking import Interval
from booking.states import Action

DEMO_PASSWORD = "kreuzviertel-demo"
DEMO_DOMAIN = "kreuzviertel.example.org"
CENTRE = (51.505, 7.447)  # Kreuzviertel, Dortmund

_FIRST = ["Anna", "Ben", "Clara", "Deniz", "Emma", "Finn", "Greta", "Hakan", "Ida", "Jonas", "Lea", "Mats"]
_LAST = ["Becker", "Schulte", "Yilmaz", "Hoffmann", "Krüger", "Wagner", "Nowak", "Richter", "Kaya", "Vogel"]
_STREETS = [
    "Kreuzstraße",
    "Arneckestraße",
    "Liebigstraße",
    "Große Heimstraße",
    "Kleine Heimstraße",
    "Lindemannstraße",
    "Eintrachtstraße",
    "Sonnenstraße",
    "Plauener Straße",
    "Möllerstraße",
    "Landgrafenstraße",
    "Hohe Straße",
]
_KINDS = ["Hofeinfahrt", "Garage", "Stellplatz", "Carport", "Tiefgaragenplatz"]
# (weekdays, start, end): when owners typically offer their spot.
_PATTERNS = [
    (["mon", "tue", "wed", "thu", "fri"], "08:00", "18:00"),
    (["mon", "tue", "wed", "thu", "fri"], "07:30", "17:30"),
    (["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "00:00", "24:00"),
    (["sat", "sun"], "10:00", "20:00"),
    (["mon", "tue", "wed", "thu", "fri"], "18:00", "07:00"),
    (["mon", "wed", "fri"], "09:00", "15:00"),
]


def demo_email(kind: str, n: int) -> str:
    return f"{kind}{n:02d}@{DEMO_DOMAIN}"


def _spot(rng: random.Random, n: int) -> SpotCreate:
    kind = rng.choice(_KINDS)
    street = rng.choice(_STREETS)
    covered = kind in ("Garage", "Carport", "Tiefgaragenplatz")
    ev = rng.random() < 0.25
    return SpotCreate.model_validate(
        {
            "title": f"{kind} {street}",
            "description": rng.choice(
                [None, "Ruhige Seitenstraße", "Nah an der Kreuzkirche", "Tor bitte schließen"]
            ),
            "address": {
                "street": street,
                "house_number": f"{rng.randint(1, 120)}{rng.choice(['', '', 'a', 'b'])}",
                "postal_code": rng.choice(["44137", "44139"]),
                "city": "Dortmund",
                "district": "Kreuzviertel",
            },
            "location": {
                "lat": round(CENTRE[0] + rng.uniform(-0.0045, 0.0045), 6),
                "lon": round(CENTRE[1] + rng.uniform(-0.0070, 0.0070), 6),
            },
            "features": {
                "covered": covered,
                "ev_charger": {"connector": "type2", "power_kw": rng.choice([3.7, 11, 22])} if ev else None,
                "wheelchair_accessible": rng.random() < 0.15,
                "lit": covered or rng.random() < 0.5,
            },
            "max_vehicle": {"length_cm": 500, "width_cm": 210, "height_cm": 200}
            if kind == "Tiefgaragenplatz"
            else None,
            "access_instructions": f"Code {rng.randint(1000, 9999)} am Tor" if rng.random() < 0.5 else None,
            "pricing": {
                "hourly_cents": rng.choice([150, 200, 250, 300, 350]),
                "daily_cap_cents": rng.choice([None, 1200, 1500, 1800]),
            },
            "rules": {
                "buffer_min": rng.choice([0, 0, 15, 30]),
                "instant_book": rng.random() < 0.75,
                "cancellation_policy": rng.choice(["flexible", "moderate", "strict"]),
                "min_duration_min": rng.choice([30, 60]),
            },
        }
    )


# Bookings point at their driver, spot and vehicle with ON DELETE RESTRICT, so they go first;
# deleting the spots and accounts then cascades to availability, open ranges, vehicles and sign-ins.
_RESET = [
    """delete from bookings b using users u left join spots s on s.owner_id = u.id
       where u.email like :pattern and (b.driver_id = u.id or b.spot_id = s.id)""",
    "delete from spots s using users u where s.owner_id = u.id and u.email like :pattern",
    "delete from users where email like :pattern returning id",
]


async def remove_demo(session: AsyncSession) -> int:
    """Deletes the demo accounts with their spots, vehicles and every booking that touches them
    (also another account's booking of a demo spot); answers how many accounts went."""
    params = {"pattern": f"%@{DEMO_DOMAIN}"}
    for statement in _RESET[:-1]:
        await session.execute(text(statement), params)
    return len((await session.execute(text(_RESET[-1]), params)).all())


async def seed_demo(settings: Settings, *, spots: int, if_empty: bool, seed: int, reset: bool = False) -> str:
    """Loads the demo; with `reset`, first removes the previous demo in the same transaction, so
    the bookings and windows are dated from now again and a failed load leaves the old demo."""
    wire()  # the spot service's hooks, as the app has them
    rng = random.Random(seed)
    database = Database.from_settings(settings)
    now = utcnow()
    removed = 0
    try:
        async with database.sessionmaker() as session, session.begin():
            if reset:
                removed = await remove_demo(session)
            elif if_empty and await session.scalar(
                select(exists().where(col(User.email) == demo_email("owner", 1)))
            ):
                return f"demo data is already there (sign in as {demo_email('driver', 1)} / {DEMO_PASSWORD})"
            password_hash = await PasswordHashing(settings).hash(DEMO_PASSWORD)
            owners = [
                User(
                    email=demo_email("owner", n),
                    password_hash=password_hash,
                    display_name=f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
                    # Demo addresses (example.org) reach no one: they count as confirmed.
                    email_verified_at=now,
                )
                for n in range(1, max(1, spots // 3) + 1)
            ]
            drivers = [
                User(
                    email=demo_email("driver", n),
                    password_hash=password_hash,
                    display_name=f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
                    email_verified_at=now,
                )
                for n in range(1, 9)
            ]
            session.add_all(owners + drivers)
            await session.flush()
            for n, driver in enumerate(drivers):
                session.add(
                    Vehicle(
                        owner_id=driver.id,
                        license_plate=f"DO-{chr(65 + n)}{chr(75 + n % 10)} {rng.randint(100, 9999)}",
                        length_cm=rng.choice([370, 420, 450, 490]),
                        width_cm=rng.choice([175, 180, 190]),
                        height_cm=rng.choice([145, 150, 165, 190]),
                        electric=rng.random() < 0.3,
                    )
                )
            created = []
            for n in range(spots):
                spot = await spot_service.create(session, owners[n % len(owners)], _spot(rng, n), now)
                created.append(spot)
                weekdays, start, end = rng.choice(_PATTERNS)
                rule = RuleCreate(weekdays=weekdays, start_time=start, end_time=end)  # type: ignore[arg-type]
                await availability.add_rule(session, spot, rule, now)
                if rng.random() < 0.3:
                    day = (now + timedelta(days=rng.randint(1, 20))).replace(
                        hour=9, minute=0, second=0, microsecond=0
                    )
                    window = WindowCreate(start=day, end=day + timedelta(hours=rng.choice([4, 8, 12])))
                    await availability.add_span(session, spot, AvailabilityWindow, window, now)
                if rng.random() < 0.2:
                    day = (now + timedelta(days=rng.randint(1, 30))).replace(
                        hour=0, minute=0, second=0, microsecond=0
                    )
                    blackout = BlackoutCreate(
                        start=day, end=day + timedelta(days=rng.randint(1, 3)), reason="Urlaub"
                    )
                    await availability.add_span(session, spot, AvailabilityBlackout, blackout, now)
            booked = 0
            for n, spot in enumerate(created):
                if n % 3:
                    continue
                driver = drivers[n % len(drivers)]
                if await _book_demo(session, settings, spot, driver, now, confirm=n % 2 == 0):
                    booked += 1
        prefix = f"removed the previous demo ({removed} accounts); " if reset else ""
        return prefix + (
            f"loaded {spots} spots of {len(owners)} owners, {booked} bookings and {len(drivers)} drivers with vehicles; "
            f"sign in as {demo_email('driver', 1)} or {demo_email('owner', 1)} / {DEMO_PASSWORD}"
        )
    finally:
        await database.dispose()


async def _book_demo(
    session: AsyncSession, settings: Settings, spot: Spot, driver: User, now: datetime, *, confirm: bool
) -> bool:
    """Two hours in the spot's first free stretch of the coming days, as a driver would book it."""
    week = Interval(now, now + timedelta(days=7))
    calendar = await load_calendar(session, spot, week, now=now)
    for free in calendar.free(week, now):
        if free.length >= timedelta(hours=2):
            start = free.start + timedelta(hours=1) if free.length >= timedelta(hours=3) else free.start
            request = BookingCreate(spot_id=str(spot.id), start=start, end=start + timedelta(hours=2))
            booking = (await bookings.create(session, settings, driver, request, now)).booking
            if confirm:
                action = Action.confirm if booking.status == "held" else Action.approve
                actor = driver if action is Action.confirm else await session.get(User, spot.owner_id)
                assert actor is not None
                await bookings.change(session, actor, str(booking.id), action, now)
            return True
    return False
