"""What tests build through the API: accounts, spots, availability, vehicles and bookings.

Plain async functions that take the client (any `httpx.AsyncClient`: the in-process app, the
committed one, or a real server) and the accounts involved; each asserts that the API accepted
what it was asked to build, so a test fails at the step that broke. Fixtures, the fake clock
(`START`, `at`, `FakeClock`) and `assert_problem` stay in tests/conftest.py.

    alice = await make_account(client, "alice")
    spot = await open_spot(client, alice, instant_book=False)   # open every day, no buffer
    booking = await booked(client, bob, spot, 2, 4)             # confirmed, START + 2 h to + 4 h
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from httpx import AsyncClient, Response

from tests.conftest import START, at

PASSWORD = "correct horse battery"

# Accounts


class Account:
    def __init__(self, client: AsyncClient, email: str, body: dict[str, Any], tokens: dict[str, Any]) -> None:
        self.client = client
        self.email = email
        self.user = body
        self.tokens = tokens

    @property
    def id(self) -> str:
        return str(self.user["id"])

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens['access_token']}"}


_counter = 0


async def make_account(client: AsyncClient, name: str = "user", **extra: Any) -> Account:
    """A registered and signed-in account, `<name><n>@example.org`, display name `Name`."""
    global _counter
    _counter += 1
    email = f"{name}{_counter}@example.org"
    r = await client.post(
        "/v1/auth/register",
        json={"email": email, "password": PASSWORD, "display_name": name.title(), **extra},
    )
    assert r.status_code == 201, r.text
    login = await client.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return Account(client, email, r.json(), login.json())


# Spots

NEW_SPOT: dict[str, Any] = {
    "title": "Hofeinfahrt Kreuzstraße",
    "description": "Behind the green gate",
    "address": {
        "street": "Kreuzstraße",
        "house_number": "61a",
        "postal_code": "44139",
        "city": "Dortmund",
        "district": "Kreuzviertel",
    },
    "location": {"lat": 51.505123, "lon": 7.447456},
    "features": {"covered": True, "ev_charger": {"connector": "type2", "power_kw": 11}, "lit": True},
    "max_vehicle": {"length_cm": 480, "width_cm": 200, "height_cm": 200},
    "access_instructions": "Code 4711 at the gate",
    "pricing": {"hourly_cents": 250, "daily_cap_cents": 1500},
    "rules": {"buffer_min": 15, "cancellation_policy": "moderate"},
}


def spot_body(**changes: Any) -> dict[str, Any]:
    """A copy of NEW_SPOT with top-level fields replaced (`rules={...}` replaces all the rules)."""
    body = copy.deepcopy(NEW_SPOT)
    body.update(changes)
    return body


async def make_spot(client: AsyncClient, owner: Account, **changes: Any) -> dict[str, Any]:
    """A published spot (the owner's full view), without availability: nothing is bookable yet."""
    r = await client.post("/v1/spots", json=spot_body(**changes), headers=owner.headers)
    assert r.status_code == 201, r.text
    return dict(r.json())


# Availability

EVERY_DAY = {
    "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    "start_time": "00:00",
    "end_time": "24:00",
}


async def add_rule(
    client: AsyncClient, owner: Account, spot: dict[str, Any], rule: dict[str, Any] = EVERY_DAY
) -> dict[str, Any]:
    """A weekly availability rule on the spot, by default open around the clock."""
    r = await client.post(f"/v1/spots/{spot['id']}/availability/rules", headers=owner.headers, json=rule)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def open_spot(client: AsyncClient, owner: Account, **rules: Any) -> dict[str, Any]:
    """A spot open every day around the clock, without a buffer; `rules` change its other rules."""
    spot = await make_spot(client, owner, rules={"buffer_min": 0, **rules})
    await add_rule(client, owner, spot)
    return spot


# Vehicles


async def add_vehicle(
    client: AsyncClient, driver: Account, license_plate: str, **sizes: int
) -> dict[str, Any]:
    """One of the driver's vehicles; `sizes` are length_cm, width_cm and height_cm."""
    r = await client.post(
        "/v1/me/vehicles", headers=driver.headers, json={"license_plate": license_plate, **sizes}
    )
    assert r.status_code == 201, r.text
    return dict(r.json())


# Bookings: times are hours after the fake clock's START unless a test says otherwise.


async def book(
    client: AsyncClient, driver: Account, spot: dict[str, Any], start: float, end: float, **extra: Any
) -> Response:
    """The answer to booking START + `start` h to START + `end` h; `extra` goes into the body
    (`vehicle_id=...`). Not checked: the test asserts what it expects."""
    return await client.post(
        "/v1/bookings",
        headers=driver.headers,
        json={"spot_id": spot["id"], "start": at(start, START), "end": at(end, START), **extra},
    )


async def booked(
    client: AsyncClient,
    driver: Account,
    spot: dict[str, Any],
    start: float,
    end: float,
    *,
    confirm: bool = True,
) -> dict[str, Any]:
    """A booking that was made, and confirmed unless `confirm=False` (then it is held, or requested
    on a spot without instant booking)."""
    r = await book(client, driver, spot, start, end)
    assert r.status_code == 201, r.text
    if confirm:
        r = await client.post(f"/v1/bookings/{r.json()['id']}/confirm", headers=driver.headers)
        assert r.status_code == 200, r.text
    return dict(r.json())


@dataclass
class Scene:
    """An owner with an always-open spot and a driver, booking from `base` on."""

    client: AsyncClient
    owner: Account
    driver: Account
    spot: dict[str, Any]
    base: datetime  # a whole hour, two hours ahead

    async def book(self, start: float, end: float, **headers: str) -> dict[str, Any]:
        r = await self.client.post(
            "/v1/bookings",
            headers={**self.driver.headers, **headers},
            json={"spot_id": self.spot["id"], "start": at(start, self.base), "end": at(end, self.base)},
        )
        assert r.status_code == 201, r.text
        return dict(r.json())


async def scene(client: AsyncClient, now: datetime, **rules: Any) -> Scene:
    """`now` is the clock the app reads (the `now` fixture): for tests on the real clock, whose
    bookings cannot count from START."""
    owner = await make_account(client, "owner")
    driver = await make_account(client, "driver")
    spot = await open_spot(client, owner, **rules)
    base = now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=2)
    return Scene(client, owner, driver, spot, base)
