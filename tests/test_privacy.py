"""What drivers, owners and strangers learn about a spot and a booking, and when (API.md: the
public view, the reveal window, search from the rounded location, the plate in a booking)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text

from app.db import Database
from app.spots.service import public_coordinate
from tests.conftest import START, FakeClock, assert_problem, at
from tests.factories import (
    NEW_SPOT,
    Account,
    add_vehicle,
    book,
    booked,
    make_account,
    make_spot,
    open_spot,
    spot_body,
)

PLATE = "DO-PS 4711"


async def view(client: AsyncClient, spot: dict[str, Any], who: Account) -> dict[str, Any]:
    r = await client.get(f"/v1/spots/{spot['id']}", headers=who.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    if body["view"] == "public":
        assert body["access_instructions"] is None
        assert body["address"]["house_number"] is None
    return body


async def test_a_driver_sees_access_details_only_from_an_hour_before_until_the_end(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    await booked(client, bob, spot, 5, 7)  # confirmed, 13:00-15:00 in Berlin
    start = START + timedelta(hours=5)
    assert (await view(client, spot, bob))["view"] == "public"  # booked, but hours ahead
    clock.set(start - timedelta(minutes=61))
    assert (await view(client, spot, bob))["view"] == "public"
    clock.set(start - timedelta(minutes=60))
    full = await view(client, spot, bob)
    assert full["view"] == "full"
    assert full["access_instructions"] == NEW_SPOT["access_instructions"]
    assert full["address"]["house_number"] == NEW_SPOT["address"]["house_number"]
    assert full["location"] == NEW_SPOT["location"]
    clock.set(start + timedelta(hours=2) - timedelta(seconds=1))
    assert (await view(client, spot, bob))["view"] == "full"
    clock.set(start + timedelta(hours=2))  # the end: half-open
    assert (await view(client, spot, bob))["view"] == "public"
    # The owner always sees everything; a stranger never does.
    assert (await view(client, spot, alice))["view"] == "full"
    carol = await make_account(client, "carol")
    clock.set(start)
    assert (await view(client, spot, carol))["view"] == "public"


async def test_only_a_confirmed_booking_reveals(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    held = await booked(client, bob, spot, 0.5, 2, confirm=False)
    assert held["status"] == "held"
    assert (await view(client, spot, bob))["view"] == "public"  # within the hour, but not paid
    r = await client.post(f"/v1/bookings/{held['id']}/cancel", headers=bob.headers)
    assert r.status_code == 200, r.text
    assert (await view(client, spot, bob))["view"] == "public"
    await booked(client, bob, spot, 0.5, 2)
    assert (await view(client, spot, bob))["view"] == "full"


async def test_reveal_before_min_is_a_spot_rule(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice, reveal_before_min=0)
    assert spot["rules"]["reveal_before_min"] == 0
    await booked(client, bob, spot, 1, 3)
    clock.advance(minutes=59)
    assert (await view(client, spot, bob))["view"] == "public"
    clock.advance(minutes=1)
    assert (await view(client, spot, bob))["view"] == "full"

    r = await client.patch(
        f"/v1/spots/{spot['id']}", headers=alice.headers, json={"rules": {"reveal_before_min": 1440}}
    )
    assert r.status_code == 200, r.text
    assert r.json()["rules"]["reveal_before_min"] == 1440
    for bad in (-1, 1441):
        problem = assert_problem(
            await client.post(
                "/v1/spots", headers=alice.headers, json=spot_body(rules={"reveal_before_min": bad})
            ),
            422,
            "validation_error",
        )
        assert any("reveal_before_min" in ".".join(map(str, e["loc"])) for e in problem["errors"]), problem


async def test_the_owner_sees_the_plate_only_in_the_reveal_window_and_never_contact_details(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    r = await client.patch("/v1/me", headers=bob.headers, json={"phone": "+4923112345678"})
    assert r.status_code == 200, r.text
    vehicle = await add_vehicle(client, bob, PLATE)
    spot = await open_spot(client, alice)
    r = await book(client, bob, spot, 3, 5, vehicle_id=vehicle["id"])
    assert r.status_code == 201, r.text
    held = r.json()
    assert (held["driver_name"], held["license_plate"]) == ("Bob", PLATE)  # the driver's own

    async def as_owner() -> dict[str, Any]:
        one = await client.get(f"/v1/bookings/{held['id']}", headers=alice.headers)
        page = await client.get("/v1/me/bookings", headers=alice.headers, params={"role": "owner"})
        for answer in (one, page):
            assert answer.status_code == 200, answer.text
            assert bob.email not in answer.text
            assert "12345678" not in answer.text
        [listed] = page.json()["items"]
        assert listed == one.json()
        return dict(one.json())

    assert (await as_owner())["license_plate"] is None  # held
    r = await client.post(f"/v1/bookings/{held['id']}/confirm", headers=bob.headers)
    assert r.status_code == 200, r.text
    assert r.json()["license_plate"] == PLATE
    assert (await as_owner())["license_plate"] is None  # confirmed, but three hours ahead
    clock.advance(hours=2)  # an hour before the start
    owner_view = await as_owner()
    assert (owner_view["driver_name"], owner_view["license_plate"]) == ("Bob", PLATE)
    clock.advance(hours=3)  # the end
    assert (await as_owner())["license_plate"] is None
    mine = await client.get(f"/v1/bookings/{held['id']}", headers=bob.headers)
    assert mine.json()["license_plate"] == PLATE


async def test_the_public_location_is_rounded_like_the_database(
    client: AsyncClient, alice: Account, db: Database
) -> None:
    # Ties at the fourth decimal: the binary float of 51.5055 lies just below the tie, so Python's
    # round() says 51.505 while PostgreSQL's numeric rounding says 51.506. Search measures from
    # the database's point, so the public view must show the same.
    for lat, lon in ((51.5055, 7.4475), (-33.8565, -151.2095), (0.0005, 0.0015)):
        spot = await make_spot(client, alice, location={"lat": lat, "lon": lon})
        public = (await client.get(f"/v1/spots/{spot['id']}")).json()["location"]
        async with db.sessionmaker() as session:
            row = (
                await session.execute(
                    text(
                        "select st_y(public_location::geometry), st_x(public_location::geometry)"
                        " from spots where id = :id"
                    ),
                    {"id": spot["id"]},
                )
            ).one()
        assert public == {"lat": row[0], "lon": row[1]}
        assert public == {"lat": public_coordinate(lat), "lon": public_coordinate(lon)}
    assert public_coordinate(51.5055) == 51.506
    assert public_coordinate(-33.8565) == -33.857


# Search

CENTRE = (51.505, 7.447)
# Two exact locations 30 to 50 m apart that both round to CENTRE.
TWINS = ({"lat": 51.5051, "lon": 7.4471}, {"lat": 51.5054, "lon": 7.4474})
PROBES = ((51.515, 7.447), (51.505, 7.47), (51.49, 7.43))


async def search(client: AsyncClient, lat: float, lon: float, radius_m: float) -> dict[str, Any]:
    r = await client.get(
        "/v1/search",
        params={"lat": lat, "lon": lon, "radius_m": radius_m, "start": at(2, START), "end": at(4, START)},
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def _anonymous(item: dict[str, Any]) -> dict[str, Any]:
    """A search item without what differs between any two spots anyway: id and timestamps."""
    spot = {k: v for k, v in item["spot"].items() if k not in ("id", "created_at", "updated_at")}
    return {**item, "spot": spot}


async def test_search_cannot_tell_two_spots_apart_that_share_their_public_location(
    client: AsyncClient, clock: FakeClock, alice: Account
) -> None:
    for location in TWINS:
        spot = await open_spot(client, alice)
        r = await client.patch(f"/v1/spots/{spot['id']}", headers=alice.headers, json={"location": location})
        assert r.status_code == 200, r.text
    for lat, lon in PROBES:  # three probes would trilaterate an exact position
        items = (await search(client, lat, lon, 5000))["items"]
        assert len(items) == 2
        assert _anonymous(items[0]) == _anonymous(items[1])
        assert items[0]["spot"]["location"] == {"lat": CENTRE[0], "lon": CENTRE[1]}
        for item in items:
            assert item["distance_m"] > 0
            assert item["distance_m"] % 10 == 0, item["distance_m"]
        # Equal distances: the order is by id, the same on every page.
        assert [i["spot"]["id"] for i in items] == sorted(i["spot"]["id"] for i in items)


@pytest.mark.parametrize("probe", PROBES)
async def test_a_radius_bisection_finds_the_public_point_not_the_spot(
    client: AsyncClient, clock: FakeClock, alice: Account, db: Database, probe: tuple[float, float]
) -> None:
    spot = await open_spot(client, alice)
    exact = TWINS[1]
    await client.patch(f"/v1/spots/{spot['id']}", headers=alice.headers, json={"location": exact})
    low, high = 1.0, 10_000.0
    while high - low > 0.5:
        middle = (low + high) / 2
        if (await search(client, *probe, middle))["items"]:
            high = middle
        else:
            low = middle
    async with db.sessionmaker() as session:
        to_public, to_exact = (
            await session.execute(
                text(
                    "select st_distance(public_location, p), st_distance(location, p)"
                    " from spots, (select st_setsrid(st_makepoint(:lon, :lat), 4326)::geography) q(p)"
                    " where id = :id"
                ),
                {"lat": probe[0], "lon": probe[1], "id": spot["id"]},
            )
        ).one()
    assert abs(high - to_public) <= 0.5
    assert abs(high - to_exact) > 20  # the exact spot lies tens of metres off
