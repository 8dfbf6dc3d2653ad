"""Demo data of Dortmund's Kreuzviertel for `parkshare seed` and `make run`."""

from __future__ import annotations

import random

from sqlalchemy import exists, select

from app.auth.models import User
from app.auth.security import PasswordHashing
from app.db import Database
from app.settings import Settings
from app.users.models import Vehicle

DEMO_PASSWORD = "kreuzviertel-demo"
DEMO_DOMAIN = "kreuzviertel.example.org"

_FIRST = [
    "Anna",
    "Ben",
    "Clara",
    "Deniz",
    "Emma",
    "Finn",
    "Greta",
    "Hakan",
    "Ida",
    "Jonas",
    "Lea",
    "Mats",
]
_LAST = [
    "Becker",
    "Schulte",
    "Yilmaz",
    "Hoffmann",
    "Krüger",
    "Wagner",
    "Nowak",
    "Richter",
    "Kaya",
    "Vogel",
]


def demo_email(kind: str, n: int) -> str:
    return f"{kind}{n:02d}@{DEMO_DOMAIN}"


async def seed_demo(settings: Settings, *, spots: int, if_empty: bool, seed: int) -> str:
    rng = random.Random(seed)
    database = Database.from_settings(settings)
    try:
        async with database.sessionmaker() as session, session.begin():
            if if_empty and await session.scalar(
                select(exists().where(User.email == demo_email("owner", 1)))
            ):
                return f"demo data is already there (sign in as {demo_email('driver', 1)} / {DEMO_PASSWORD})"
            password_hash = await PasswordHashing(settings).hash(DEMO_PASSWORD)
            owners = max(1, spots // 3)
            users: list[User] = []
            for kind, count in (("owner", owners), ("driver", 8)):
                for n in range(1, count + 1):
                    user = User(
                        email=demo_email(kind, n),
                        password_hash=password_hash,
                        display_name=f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
                    )
                    session.add(user)
                    users.append(user)
            await session.flush()
            for n, user in enumerate(u for u in users if u.email.startswith("driver")):
                session.add(
                    Vehicle(
                        owner_id=user.id,
                        license_plate=f"DO-{chr(65 + n)}{chr(75 + n % 10)} {rng.randint(100, 9999)}",
                        length_cm=rng.choice([370, 420, 450, 490]),
                        width_cm=rng.choice([175, 180, 190]),
                        height_cm=rng.choice([145, 150, 165, 190]),
                        electric=rng.random() < 0.3,
                    )
                )
            await session.flush()
        return (
            f"loaded {owners} owners and 8 drivers with vehicles; "
            f"sign in as {demo_email('driver', 1)} or {demo_email('owner', 1)} / {DEMO_PASSWORD}"
        )
    finally:
        await database.dispose()
