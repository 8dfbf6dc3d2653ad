"""Small gaps between the service and API.md: a quote for a vehicle, the spot summary in a
booking, idempotent retries written with another offset, search cursors tied to their query."""

from __future__ import annotations

import base64
import json
from typing import Any

import asyncpg
import pytest
from httpx import AsyncClient
from sqlalchemy import event

from app.db import Database
from tests.conftest import START, FakeClock, assert_problem, at
from tests.factories import NEW_SPOT, Account, add_vehicle, book, booked, make_account, open_spot


async def quote(client: AsyncClient, who: Account, spot: dict[str, Any], **extra: Any) -> dict[str, Any]:
    r = await client.post(
        "/v1/quotes",
        headers=who.headers,
        json={"spot_id": spot["id"], "start": at(2, START), "end": at(4, START), **extra},
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_a_quote_for_a_vehicle_says_whether_it_fits(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)  # at most 480 x 200 x 200 cm
    vehicles = {}
    for name, height in (("van", 260), ("car", 150)):
        vehicle = await add_vehicle(
            client, bob, f"DO-{name.upper()} 1", length_cm=450, width_cm=180, height_cm=height
        )
        vehicles[name] = vehicle["id"]
    van = await quote(client, bob, spot, vehicle_id=vehicles["van"])
    assert (van["bookable"], van["reason_code"]) == (False, "vehicle_does_not_fit")
    assert van["total_cents"] == 500  # the price is still shown
    car = await quote(client, bob, spot, vehicle_id=vehicles["car"])
    assert (car["bookable"], car["reason_code"]) == (True, None)
    # The quote says what booking would answer.
    r = await book(client, bob, spot, 2, 4, vehicle_id=vehicles["van"])
    assert_problem(r, 422, "vehicle_does_not_fit")
    # Someone else's vehicle is refused as in a booking.
    carol = await make_account(client, "carol")
    r = await client.post(
        "/v1/quotes",
        headers=carol.headers,
        json={
            "spot_id": spot["id"],
            "start": at(2, START),
            "end": at(4, START),
            "vehicle_id": vehicles["car"],
        },
    )
    assert_problem(r, 422, "validation_error")


async def test_own_spot_is_a_quote_reason_before_any_other(
    client: AsyncClient, clock: FakeClock, alice: Account
) -> None:
    spot = await open_spot(client, alice)
    own = await quote(client, alice, spot)
    assert (own["bookable"], own["reason_code"]) == (False, "own_spot")


async def test_a_booking_keeps_a_summary_of_its_spot_after_the_spot_is_withdrawn(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    booking = await booked(client, bob, spot, 2, 4)
    summary = {
        "title": NEW_SPOT["title"],
        "district": NEW_SPOT["address"]["district"],
        "location": {"lat": 51.505, "lon": 7.447},  # rounded, as in the public view
    }
    assert booking["spot"] == summary
    assert booking["driver_name"] == "Bob"
    r = await client.delete(
        f"/v1/spots/{spot['id']}", headers=alice.headers, params={"cancel_bookings": "true"}
    )
    assert r.status_code == 204, r.text
    assert (await client.get(f"/v1/spots/{spot['id']}")).status_code == 404
    for who in (bob, alice):
        r = await client.get(f"/v1/bookings/{booking['id']}", headers=who.headers)
        assert r.status_code == 200, r.text
        assert (r.json()["status"], r.json()["spot"], r.json()["driver_name"]) == (
            "cancelled",
            summary,
            "Bob",
        )
    page = (await client.get("/v1/me/bookings", headers=bob.headers)).json()
    assert [b["spot"] for b in page["items"]] == [summary]
    # Not the house number (as a JSON string: a random id may contain "61a").
    assert '"61a"' not in r.text
    assert "house_number" not in r.text
    assert "4711" not in r.text


async def test_a_page_of_bookings_answers_each_with_its_own_spot(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    first = await open_spot(client, alice)
    second = await open_spot(client, alice)
    r = await client.patch(
        f"/v1/spots/{second['id']}",
        headers=alice.headers,
        json={
            "title": "Garage Lindenhof",
            "address": {"district": None},
            "location": {"lat": 51.5, "lon": 7.44},
        },
    )
    assert r.status_code == 200, r.text
    ids = [(await booked(client, bob, spot, 2 + n, 3 + n))["id"] for n, spot in enumerate((first, second))]
    page = (await client.get("/v1/me/bookings", headers=bob.headers)).json()["items"]
    assert [b["id"] for b in page] == ids
    assert [b["spot"]["title"] for b in page] == [NEW_SPOT["title"], "Garage Lindenhof"]
    assert page[1]["spot"] == {
        "title": "Garage Lindenhof",
        "district": None,
        "location": {"lat": 51.5, "lon": 7.44},
    }


async def test_an_idempotent_retry_may_write_the_same_instants_with_another_offset(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)

    async def post(start: str, end: str, key: str) -> Any:
        return await client.post(
            "/v1/bookings",
            headers={**bob.headers, "Idempotency-Key": key},
            json={"spot_id": spot["id"], "start": start, "end": end},
        )

    first = await post("2026-11-23T10:00:00Z", "2026-11-23T12:00:00Z", "k1")
    assert first.status_code == 201, first.text
    again = await post("2026-11-23T11:00:00+01:00", "2026-11-23T13:00:00+01:00", "k1")
    assert again.status_code == 201, again.text
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    other = await post("2026-11-23T11:00:00Z", "2026-11-23T13:00:00Z", "k1")
    assert_problem(other, 422, "idempotency_key_reused")
    other_offset = await post("2026-11-23T11:00:00+02:00", "2026-11-23T13:00:00+02:00", "k1")
    assert_problem(other_offset, 422, "idempotency_key_reused")  # 09:00Z: other instants
    mine = (await client.get("/v1/me/bookings", headers=bob.headers)).json()["items"]
    assert [b["id"] for b in mine] == [first.json()["id"]]


async def test_a_cancel_without_a_body_and_with_an_empty_one_are_the_same_request(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    booking = await booked(client, bob, spot, 2, 4)
    url = f"/v1/bookings/{booking['id']}/cancel"
    headers = {**bob.headers, "Idempotency-Key": "cancel-1"}
    first = await client.post(url, headers=headers)
    assert first.status_code == 200, first.text
    again = await client.post(url, headers=headers, json={})
    assert again.status_code == 200, again.text
    assert again.headers["Idempotent-Replayed"] == "true"
    assert_problem(
        await client.post(url, headers=headers, json={"reason": "ill"}), 422, "idempotency_key_reused"
    )


# Search cursors

NEAR_CENTRE = {"lat": 51.505, "lon": 7.447, "radius_m": 800, "limit": 1}


async def _first_page(client: AsyncClient, **query: Any) -> str:
    r = await client.get("/v1/search", params=query)
    assert r.status_code == 200, r.text
    cursor: str | None = r.json()["next_cursor"]
    assert cursor is not None
    return cursor


@pytest.mark.parametrize(
    "change",
    [
        {"lat": 51.506},
        {"lon": 7.448},
        {"radius_m": 900},
        {"start": "2026-11-23T10:15:00Z"},
        {"end": "2026-11-23T12:15:00Z"},
        {"ev": "true"},
        {"covered": "true"},
        {"max_total_cents": 100_000},
        {"sort": "price"},
    ],
)
async def test_a_search_cursor_only_continues_its_own_search(
    client: AsyncClient, clock: FakeClock, alice: Account, change: dict[str, Any]
) -> None:
    spots = [await open_spot(client, alice) for _ in range(3)]
    query = {**NEAR_CENTRE, "start": at(2, START), "end": at(4, START)}
    cursor = await _first_page(client, **query)
    # The same search continues, also with its times written in another offset or another page size.
    same = {**query, "start": "2026-11-23T11:00:00+01:00", "end": "2026-11-23T13:00:00+01:00", "limit": 5}
    r = await client.get("/v1/search", params={**same, "cursor": cursor})
    assert r.status_code == 200, r.text
    assert len(r.json()["items"]) == len(spots) - 1
    problem = assert_problem(
        await client.get("/v1/search", params={**query, **change, "cursor": cursor}), 422, "validation_error"
    )
    assert [e["loc"][-1] for e in problem["errors"]] == ["cursor"]


@pytest.mark.parametrize(
    ("sort", "position"),
    [
        ("price", [10**30, 0.0]),  # past PostgreSQL's bigint
        ("price", [-1, 0.0]),
        ("price", ["250", 0.0]),
        ("distance", [float("nan")]),
        ("distance", [float("inf")]),
        ("distance", [True]),
    ],
)
async def test_a_forged_cursor_position_is_refused(
    client: AsyncClient, clock: FakeClock, alice: Account, sort: str, position: list[Any]
) -> None:
    """A cursor is client input: its position is checked before it reaches SQL."""
    for _ in range(3):
        await open_spot(client, alice)
    query = {**NEAR_CENTRE, "start": at(2, START), "end": at(4, START), "sort": sort}
    cursor = await _first_page(client, **query)
    values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    forged = [values[0], *position, values[-1]]
    encoded = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
    problem = assert_problem(
        await client.get("/v1/search", params={**query, "cursor": encoded}), 422, "validation_error"
    )
    assert [(e["loc"], e["type"]) for e in problem["errors"]] == [(["query", "cursor"], "cursor_invalid")]


async def test_a_page_of_bookings_costs_the_same_statements_whatever_its_size(
    client: AsyncClient,
    clock: FakeClock,
    alice: Account,
    bob: Account,
    db: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The spot summary, driver name and plate come in one statement for the page, not one per
    booking."""
    spot = await open_spot(client, alice)
    vehicle = await add_vehicle(client, bob, "DO-X 1")
    statements: list[str] = []

    # SQLAlchemy's statements, and those sent on the raw connection beneath it.
    def listener(*args: Any) -> None:
        statements.append(args[2])

    event.listen(db.engine.sync_engine, "before_cursor_execute", listener)
    for name in ("fetch", "fetchrow", "fetchval", "execute"):
        original = getattr(asyncpg.Connection, name)

        def counted(original: Any) -> Any:
            async def call(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
                statements.append(query)
                return await original(self, query, *args, **kwargs)

            return call

        monkeypatch.setattr(asyncpg.Connection, name, counted(original))

    async def count(role: str, who: Account) -> int:
        statements.clear()
        r = await client.get("/v1/me/bookings", headers=who.headers, params={"role": role})
        assert r.status_code == 200, r.text
        return len(statements)

    try:
        r = await book(client, bob, spot, 2, 3, vehicle_id=vehicle["id"])
        assert r.status_code == 201, r.text
        one = {role: await count(role, who) for role, who in (("driver", bob), ("owner", alice))}
        for n in range(1, 5):
            await booked(client, bob, spot, 2 + n, 3 + n)
        five = {role: await count(role, who) for role, who in (("driver", bob), ("owner", alice))}
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", listener)
    assert five == one
    assert one["driver"] >= 3  # the page, its events, its spots, drivers and vehicles
