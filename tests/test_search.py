from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text

from app.availability import service as availability
from app.availability.calendar import load_calendar
from app.availability.models import AvailabilityBlackout, AvailabilityWindow
from app.availability.schemas import BlackoutCreate, RuleCreate, WindowCreate
from app.bookings.models import Booking
from app.db import Database
from app.spots import service as spots
from app.spots.models import Spot
from app.spots.schemas import SpotCreate
from app.users.models import User
from booking import Interval
from booking.pricing import price
from tests.conftest import START, FakeClock, assert_problem, at
from tests.factories import EVERY_DAY, Account, add_rule, booked, make_spot, open_spot, spot_body

CENTRE = (51.505, 7.447)


async def search(client: AsyncClient, start: str, end: str, **params: Any) -> dict[str, Any]:
    query = {"lat": CENTRE[0], "lon": CENTRE[1], "radius_m": 800, "start": start, "end": end, **params}
    r = await client.get("/v1/search", params=query)
    assert r.status_code == 200, r.text
    return dict(r.json())


def ids(page: dict[str, Any]) -> list[str]:
    return [item["spot"]["id"] for item in page["items"]]


async def test_search_returns_free_spots_with_public_view_distance_and_price(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    r = await search(client, at(2, START), at(5, START))
    assert ids(r) == [spot["id"]]
    item = r["items"][0]
    assert item["spot"]["view"] == "public"
    assert item["spot"]["address"]["house_number"] is None
    assert item["spot"]["access_instructions"] is None
    assert 0 <= item["distance_m"] < 50  # the spot lies 34 m from the centre
    assert item["quote"] == {"total_cents": 750, "currency": "EUR"}
    assert r["next_cursor"] is None
    await booked(client, bob, spot, 3, 4)
    assert ids(await search(client, at(2, START), at(5, START))) == []
    assert ids(await search(client, at(4, START), at(6, START))) == [
        spot["id"]
    ]  # ends exactly where it starts


async def test_buffer_blackout_rules_and_expired_holds(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(
        client, alice, buffer_min=30, lead_time_min=60, min_duration_min=60, horizon_days=7
    )
    await booked(client, bob, spot, 3, 4)
    assert ids(await search(client, at(4, START), at(6, START))) == []  # inside the buffer
    assert ids(await search(client, at(4.5, START), at(6, START))) == [spot["id"]]
    assert ids(await search(client, at(0.5, START), at(2, START))) == []  # lead time
    assert ids(await search(client, at(6, START), at(6.5, START))) == []  # too short
    assert ids(await search(client, at(6 + 1 / 12, START), at(7.5, START))) == []  # off its 15-minute grid
    assert ids(await search(client, at(24 * 7, START), at(24 * 7 + 2, START))) == []  # past the horizon
    await client.post(
        f"/v1/spots/{spot['id']}/availability/blackouts",
        headers=alice.headers,
        json={"start": at(10, START), "end": at(11, START)},
    )
    assert ids(await search(client, at(9, START), at(12, START))) == []
    held = await client.post(
        "/v1/bookings",
        headers=bob.headers,
        json={"spot_id": spot["id"], "start": at(20, START), "end": at(22, START)},
    )
    assert ids(await search(client, at(20, START), at(22, START))) == []
    clock.advance(minutes=10)
    # The hold has expired: the spot shows up again at once.
    assert held.status_code == 201
    assert ids(await search(client, at(20, START), at(22, START))) == [spot["id"]]


async def test_filters_and_sorting(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    async def spot_at(dlat: float, hourly: int, **changes: Any) -> str:
        spot = await make_spot(
            client,
            alice,
            location={"lat": CENTRE[0] + dlat, "lon": CENTRE[1]},
            pricing={"hourly_cents": hourly},
            **changes,
        )
        await add_rule(client, alice, spot)
        return str(spot["id"])

    near = await spot_at(0.001, 400, features={"covered": False}, max_vehicle=None)
    middle = await spot_at(
        0.002,
        100,
        features={"covered": True, "ev_charger": {"connector": "ccs", "power_kw": 50}},
        max_vehicle=None,
    )
    far = await spot_at(
        0.003,
        250,
        features={"covered": True},
        max_vehicle={"length_cm": 400, "width_cm": 200, "height_cm": 180},
    )
    await spot_at(0.02, 100)  # 2.2 km away
    window = (at(2, START), at(4, START))
    assert ids(await search(client, *window)) == [near, middle, far]
    assert ids(await search(client, *window, sort="price")) == [middle, far, near]
    assert ids(await search(client, *window, ev="true")) == [middle]
    assert ids(await search(client, *window, covered="true")) == [middle, far]
    assert ids(await search(client, *window, max_total_cents=500)) == [middle, far]
    van = (
        await client.post(
            "/v1/me/vehicles", headers=bob.headers, json={"license_plate": "DO V 2", "length_cm": 520}
        )
    ).json()
    r = await client.get(
        "/v1/search",
        headers=bob.headers,
        params={
            "lat": CENTRE[0],
            "lon": CENTRE[1],
            "radius_m": 800,
            "start": window[0],
            "end": window[1],
            "vehicle_id": van["id"],
        },
    )
    assert ids(r.json()) == [near, middle]
    first = await search(client, *window, sort="price", limit=2)
    second = await search(client, *window, sort="price", limit=2, cursor=first["next_cursor"])
    assert ids(first) + ids(second) == [middle, far, near]
    assert second["next_cursor"] is None
    by_distance = await search(client, *window, limit=1)
    rest = await search(client, *window, limit=5, cursor=by_distance["next_cursor"])
    assert ids(by_distance) + ids(rest) == [near, middle, far]


async def test_spots_equally_far_page_in_id_order(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    """Spots at one public point are equally far, so nearest first orders them by id. The index
    walks them in an order of its own: a page must still be the smallest ids, not the first the
    walk found (the service's NEAREST_SQL looks again at every spot as far as the last it took)."""
    same = [await open_spot(client, alice) for _ in range(8)]  # all at spot_body's location
    farther = await make_spot(client, alice, location={"lat": CENTRE[0] + 0.003, "lon": CENTRE[1]})
    await add_rule(client, alice, farther)
    await booked(client, bob, same[3], 2, 3)
    free = sorted(str(spot["id"]) for spot in same if spot is not same[3])
    for size in (1, 3):
        paged: list[str] = []
        cursor: dict[str, str] = {}
        while True:
            page = await search(client, at(2, START), at(4, START), limit=size, **cursor)
            paged += ids(page)
            if page["next_cursor"] is None:
                break
            cursor = {"cursor": page["next_cursor"]}
        assert paged == [*free, farther["id"]]


async def test_radius_boundary(client: AsyncClient, clock: FakeClock, alice: Account, db: Database) -> None:
    inside = await open_spot(client, alice, buffer_min=0)
    await client.patch(
        f"/v1/spots/{inside['id']}",
        headers=alice.headers,
        json={"location": {"lat": CENTRE[0] + 0.0071, "lon": CENTRE[1]}},
    )
    async with db.sessionmaker() as session:
        distance = await session.scalar(
            text(
                "select st_distance(public_location, st_setsrid(st_makepoint(:lon, :lat), 4326)::geography) from spots where id = :id"
            ),
            {"lat": CENTRE[0], "lon": CENTRE[1], "id": inside["id"]},
        )
    assert distance is not None
    assert 770 < distance < 800  # the public location: 0.007 degrees north
    assert ids(await search(client, at(2, START), at(4, START), radius_m=round(distance + 1))) == [
        inside["id"]
    ]
    assert ids(await search(client, at(2, START), at(4, START), radius_m=int(distance) - 1)) == []


async def test_the_dst_night(app: FastAPI, client: AsyncClient, alice: Account) -> None:
    app.state.clock.set(datetime(2027, 10, 20, tzinfo=UTC))
    spot = await make_night_spot(client, alice)
    # Saturday 22:00 to Sunday 06:00 on the night the clocks go back is nine real hours.
    night = ("2027-10-30T20:00:00Z", "2027-10-31T05:00:00Z")
    r = await search(client, *night)
    assert ids(r) == [spot]
    assert r["items"][0]["quote"]["total_cents"] == 9 * 250
    assert ids(await search(client, "2027-10-30T20:00:00Z", "2027-10-31T05:15:00Z")) == []


async def make_night_spot(client: AsyncClient, owner: Account) -> str:
    spot = await make_spot(client, owner, rules={"horizon_days": 30}, pricing={"hourly_cents": 250})
    await add_rule(client, owner, spot, {"weekdays": ["sat"], "start_time": "22:00", "end_time": "06:00"})
    return str(spot["id"])


async def test_bad_input(client: AsyncClient, clock: FakeClock, bob: Account) -> None:
    base = {"lat": CENTRE[0], "lon": CENTRE[1], "radius_m": 800, "start": at(2, START), "end": at(4, START)}
    for change, field in (
        ({"radius_m": 10001}, "radius_m"),
        ({"radius_m": 0}, "radius_m"),
        ({"lat": 91}, "lat"),
        ({"start": "2026-11-23T10:00:00"}, "start"),
        ({"sort": "stars"}, "sort"),
        ({"max_total_cents": -1}, "max_total_cents"),
        ({"cursor": "junk"}, "cursor"),
        ({"limit": 101}, "limit"),
    ):
        r = await client.get("/v1/search", params={**base, **change})
        problem = assert_problem(r, 422, "validation_error")
        assert problem["errors"][0]["field"] == field, problem
    assert_problem(
        await client.get("/v1/search", params={**base, "vehicle_id": str(uuid.uuid4())}), 401, "unauthorized"
    )
    assert_problem(
        await client.get("/v1/search", params={**base, "vehicle_id": "x"}, headers=bob.headers),
        422,
        "validation_error",
    )
    price_cursor = (await client.get("/v1/search", params={**base, "sort": "price"})).json()["next_cursor"]
    assert price_cursor is None


async def test_an_interval_no_spot_allows_is_invalid_interval(client: AsyncClient, clock: FakeClock) -> None:
    """Not an empty page, which the app cannot tell from "nothing free here": the same answer as
    booking, with the loosest rules any spot may have."""
    base = {"lat": CENTRE[0], "lon": CENTRE[1], "radius_m": 800, "start": at(2, START), "end": at(4, START)}
    grid = "start and end must lie on any spot's 5-minute grid: start at :00, :05, :10, :15, :20, :25, :30, :35, :40, :45, :50 or :55 (local time)"
    for change, reason, limit, detail in (
        ({"end": at(1, START)}, "end_before_start", at(2, START), f"the end must be after {at(2, START)}"),
        ({"end": at(2, START)}, "end_before_start", at(2, START), f"the end must be after {at(2, START)}"),
        (
            {"start": at(-1, START)},
            "in_the_past",
            at(0, START),
            f"the interval starts in the past (now is {at(0, START)})",
        ),
        ({"start": "2026-11-23T10:00:30Z"}, "not_on_granularity", 5, grid),
        ({"end": "2026-11-23T12:07:00Z"}, "not_on_granularity", 5, grid),
        (
            {"end": at(2 + 24 * 30 + 1 / 12, START)},
            "too_long",
            43_200,
            "a booking of any spot lasts at most 30 days",
        ),
        (
            {"start": at(24 * 365, START), "end": at(24 * 365 + 2, START)},
            "beyond_horizon",
            at(24 * 365, START),
            f"a booking of any spot must end by {at(24 * 365, START)}",
        ),
    ):
        problem = assert_problem(
            await client.get("/v1/search", params={**base, **change}), 422, "invalid_interval"
        )
        assert (problem["reason"], problem["limit"], problem["detail"]) == (reason, limit, detail), change
    # The loosest rules themselves are fine: 5-minute steps, 30 days, ending a year ahead.
    for change in (
        {"start": "2026-11-23T10:05:00Z", "end": "2026-11-23T10:10:00Z"},
        {"end": at(2 + 24 * 30, START)},
        {"start": at(24 * 365 - 2, START), "end": at(24 * 365, START)},
    ):
        assert (await search(client, **{**base, **change}))["items"] == []


# Random data, checked against the pure engine spot by spot.


async def _random_world(db: Database, rng: random.Random, now: datetime) -> list[Spot]:
    async with db.sessionmaker() as session:
        owner = User(email=f"owner{rng.random()}@example.org", password_hash="x", display_name="Owner")
        driver = User(email=f"driver{rng.random()}@example.org", password_hash="x", display_name="Driver")
        session.add_all([owner, driver])
        await session.flush()
        made: list[Spot] = []
        for _ in range(30):
            granularity = rng.choice([15, 30, 60])
            data = SpotCreate.model_validate(
                spot_body(
                    location={
                        "lat": CENTRE[0] + rng.uniform(-0.009, 0.009),
                        "lon": CENTRE[1] + rng.uniform(-0.014, 0.014),
                    },
                    pricing={
                        "hourly_cents": rng.randint(50, 500),
                        "daily_cap_cents": rng.choice([None, 900, 2000]),
                    },
                    rules={
                        "granularity_min": granularity,
                        "min_duration_min": granularity * rng.choice([1, 2]),
                        "max_duration_min": rng.choice([240, 600, 43200]),
                        "lead_time_min": rng.choice([0, 60]),
                        "horizon_days": rng.choice([2, 14]),
                        "buffer_min": rng.choice([0, 15, 30]),
                    },
                    timezone=rng.choice(["Europe/Berlin", "Europe/Berlin", "Europe/London"]),
                    features={"covered": rng.random() < 0.5},
                )
            )
            spot = await spots.create(session, owner, data, now)
            pattern = rng.choice(
                [
                    EVERY_DAY,
                    {
                        "weekdays": ["mon", "tue", "wed", "thu", "fri"],
                        "start_time": "08:00",
                        "end_time": "18:00",
                    },
                    {"weekdays": ["sat", "sun", "mon"], "start_time": "20:00", "end_time": "07:30"},
                ]
            )
            await availability.add_rule(session, spot, RuleCreate.model_validate(pattern), now)
            for _ in range(rng.randint(0, 2)):
                start = now + timedelta(hours=rng.randint(0, 72))
                await availability.add_span(
                    session,
                    spot,
                    AvailabilityWindow,
                    WindowCreate(start=start, end=start + timedelta(hours=rng.randint(1, 8))),
                    now,
                )
            for _ in range(rng.randint(0, 2)):
                start = now + timedelta(hours=rng.randint(0, 72))
                await availability.add_span(
                    session,
                    spot,
                    AvailabilityBlackout,
                    BlackoutCreate(start=start, end=start + timedelta(hours=rng.randint(1, 8))),
                    now,
                )
            cursor = now + timedelta(hours=rng.randint(0, 6))
            for _ in range(rng.randint(0, 4)):
                start = cursor + timedelta(minutes=15 * rng.randint(0, 24))
                end = start + timedelta(minutes=15 * rng.randint(2, 16))
                status = rng.choice(["confirmed", "held", "requested", "cancelled"])
                session.add(
                    Booking(
                        spot_id=spot.id,
                        driver_id=driver.id,
                        start_at=start,
                        end_at=end,
                        status=status,
                        total_cents=0,
                        currency="EUR",
                        hold_expires_at=now + timedelta(minutes=rng.choice([-5, 5]))
                        if status == "held"
                        else None,
                        request_expires_at=now + timedelta(minutes=rng.choice([-5, 5]))
                        if status == "requested"
                        else None,
                    )
                )
                cursor = end
            made.append(spot)
        await session.commit()
        return made


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_search_agrees_with_the_engine_on_random_data(
    app: FastAPI, client: AsyncClient, db: Database, seed: int
) -> None:
    rng = random.Random(seed)
    world = await _random_world(db, rng, START)
    checked = returned = 0
    for _ in range(25):
        start = START + timedelta(minutes=15 * rng.randint(-2, 4 * 60))
        end = start + timedelta(minutes=15 * rng.randint(1, 40))
        radius = rng.choice([300, 800, 1500])
        sort = rng.choice(["distance", "price"])
        probe = {
            "lat": CENTRE[0],
            "lon": CENTRE[1],
            "radius_m": radius,
            "start": at(0, start),
            "end": at(0, end),
            "sort": sort,
        }
        r = await client.get("/v1/search", params={**probe, "limit": 100})
        assert r.status_code == 200, r.text
        got = {item["spot"]["id"]: item for item in r.json()["items"]}
        wanted = Interval(start, end)
        async with db.sessionmaker() as session:
            distances = dict(
                (
                    await session.execute(
                        text(
                            "select id::text, st_distance(public_location, st_setsrid(st_makepoint(:lon, :lat), 4326)::geography) from spots"
                        ),
                        {"lat": CENTRE[0], "lon": CENTRE[1]},
                    )
                ).all()
            )
            for spot in world:
                calendar = await load_calendar(session, spot, wanted, now=START)
                bookable = calendar.check(wanted, START) is None and distances[str(spot.id)] <= radius
                assert (str(spot.id) in got) == bookable, (spot.id, wanted, calendar.check(wanted, START))
                checked += 1
                if bookable:
                    returned += 1
                    expected = price(wanted, spots_tariff(spot)).total_cents
                    assert got[str(spot.id)]["quote"]["total_cents"] == expected
        keys = [
            (i["distance_m"],) if sort == "distance" else (i["quote"]["total_cents"], i["distance_m"])
            for i in r.json()["items"]
        ]
        assert keys == sorted(keys)
        # Small pages, cursor after cursor, give the same items in the same order. Nearest first, a
        # full page is found among the first spots that qualify and a ring around them (the
        # service's NEAREST_SQL): pages of 1 to 4 take that way, the page of 100 the other.
        paged: list[Any] = []
        cursor = None
        size = rng.randint(1, 4)
        while True:
            page = await client.get(
                "/v1/search", params={**probe, "limit": size, **({"cursor": cursor} if cursor else {})}
            )
            assert page.status_code == 200, page.text
            paged += page.json()["items"]
            cursor = page.json()["next_cursor"]
            if cursor is None:
                break
        assert paged == r.json()["items"]
    assert checked == 25 * len(world)
    assert returned > 0


def spots_tariff(spot: Spot) -> Any:
    from app.bookings.queries import SpotTerms

    return SpotTerms.of(spot.model_dump()).tariff
