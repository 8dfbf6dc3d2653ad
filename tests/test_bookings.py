from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from app.db import Database
from booking import Calendar
from booking.states import Status
from tests.conftest import START, FakeClock, assert_problem, at
from tests.factories import Account, add_rule, add_vehicle, book, booked, make_account, make_spot, open_spot

GRID_15 = "start and end must lie on this spot's 15-minute grid: start at :00, :15, :30 or :45 (local time)"


def assert_invalid(response: Any, reason: str, limit: int | str, detail: str) -> dict[str, Any]:
    """A 422 invalid_interval naming the rule broken and its limit, in words too."""
    problem = assert_problem(response, 422, "invalid_interval")
    assert (problem["reason"], problem["limit"], problem["detail"]) == (reason, limit, detail)
    return problem


async def test_instant_book_holds_then_confirms(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    r = await book(client, bob, spot, 2, 4)
    assert r.status_code == 201, r.text
    held = r.json()
    assert held["status"] == "held"
    assert held["hold_expires_at"] == at(10 / 60, START)
    assert held["request_expires_at"] is None
    assert (held["start"], held["end"]) == (at(2, START), at(4, START))
    assert (held["total_cents"], held["currency"], held["refund_cents"]) == (500, "EUR", None)
    assert held["driver_id"] == bob.id
    assert held["events"] == [{"at": at(0, START), "status": "held", "by": bob.id}]

    clock.advance(minutes=5)
    r = await client.post(f"/v1/bookings/{held['id']}/confirm", headers=bob.headers)
    assert r.status_code == 200, r.text
    confirmed = r.json()
    assert confirmed["status"] == "confirmed"
    assert [e["status"] for e in confirmed["events"]] == ["held", "confirmed"]
    assert confirmed["events"][1]["at"] == at(5 / 60, START)
    assert (await client.get(f"/v1/bookings/{held['id']}", headers=alice.headers)).json() == confirmed


async def test_request_to_book_waits_for_the_owner(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice, instant_book=False)
    far = (await book(client, bob, spot, 48, 50)).json()
    assert far["status"] == "requested"
    assert far["request_expires_at"] == at(24, START)
    near = (await book(client, bob, spot, 3, 5)).json()
    assert near["request_expires_at"] == at(3, START)  # never after the start
    assert_problem(
        await client.post(f"/v1/bookings/{far['id']}/approve", headers=bob.headers), 403, "forbidden"
    )
    approved = await client.post(f"/v1/bookings/{far['id']}/approve", headers=alice.headers)
    assert approved.json()["status"] == "confirmed"
    assert approved.json()["events"][-1]["by"] == alice.id
    declined = await client.post(f"/v1/bookings/{near['id']}/decline", headers=alice.headers)
    assert declined.json()["status"] == "declined"
    # A declined request no longer blocks its interval.
    assert (await book(client, bob, spot, 3, 5)).status_code == 201


async def test_a_held_or_requested_booking_blocks_others(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    carol = await make_account(client, "carol")
    await book(client, bob, spot, 2, 4)
    problem = assert_problem(await book(client, carol, spot, 3, 5), 409, "slot_unavailable")
    assert "taken" in problem["detail"]
    # Half-open: ending where the other starts is fine.
    assert (await book(client, carol, spot, 4, 5)).status_code == 201
    assert (await book(client, carol, spot, 1, 2)).status_code == 201


async def test_the_buffer_keeps_bookings_apart(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice, buffer_min=30)
    await booked(client, bob, spot, 2, 4)
    assert_problem(await book(client, bob, spot, 4, 5), 409, "slot_unavailable")
    assert_problem(await book(client, bob, spot, 1, 1.75), 409, "slot_unavailable")
    assert (await book(client, bob, spot, 4.5, 5)).status_code == 201
    free = (
        await client.get(
            f"/v1/spots/{spot['id']}/availability", params={"from": at(0, START), "to": at(8, START)}
        )
    ).json()["free"]
    assert free == [
        {"start": at(0, START), "end": at(1.5, START)},
        {"start": at(5.5, START), "end": at(8, START)},
    ]


async def test_refusals(client: AsyncClient, clock: FakeClock, alice: Account, bob: Account) -> None:
    spot = await open_spot(client, alice, lead_time_min=60, horizon_days=30, max_duration_min=600)
    limited = await make_spot(
        client, alice, max_vehicle={"length_cm": 400, "width_cm": 200, "height_cm": 180}, rules={}
    )
    await add_rule(client, alice, limited)
    van = await add_vehicle(client, bob, "DO V 1", length_cm=520, height_cm=250)
    small = await add_vehicle(client, bob, "DO S 1", length_cm=360)
    for (start, end), reason, limit, detail in (
        ((6, 4), "end_before_start", at(6, START), f"the end must be after {at(6, START)}"),
        ((2.1, 4), "not_on_granularity", 15, GRID_15),
        ((2, 2.25), "too_short", 30, "a booking of this spot lasts at least 30 minutes"),
        ((2, 13), "too_long", 600, "a booking of this spot lasts at most 10 hours"),
        ((-1, 2), "in_the_past", at(0, START), f"the interval starts in the past (now is {at(0, START)})"),
        ((0.5, 2), "inside_lead_time", 60, "a booking of this spot must start at least 1 hour ahead"),
        (
            (24 * 31, 24 * 31 + 2),
            "beyond_horizon",
            at(24 * 30, START),
            f"a booking of this spot must end by {at(24 * 30, START)}",
        ),
    ):
        assert_invalid(await book(client, bob, spot, start, end), reason, limit, detail)
    # A retry with the same Idempotency-Key answers the same refusal, reason and limit included.
    for _ in range(2):
        r = await client.post(
            "/v1/bookings",
            headers={**bob.headers, "Idempotency-Key": "too-long"},
            json={"spot_id": spot["id"], "start": at(2, START), "end": at(13, START)},
        )
        assert_invalid(r, "too_long", 600, "a booking of this spot lasts at most 10 hours")
    blackout = {"start": at(24, START), "end": at(30, START)}
    await client.post(f"/v1/spots/{spot['id']}/availability/blackouts", headers=alice.headers, json=blackout)
    assert_problem(await book(client, bob, spot, 25, 27), 422, "outside_availability")
    problem = assert_problem(
        await book(client, bob, limited, 2, 4, vehicle_id=van["id"]), 422, "vehicle_does_not_fit"
    )
    assert "length" in problem["detail"]
    assert "height" in problem["detail"]
    assert (await book(client, bob, limited, 2, 4, vehicle_id=small["id"])).json()["vehicle_id"] == small[
        "id"
    ]
    assert_problem(await book(client, bob, limited, 5, 6, vehicle_id="nope"), 422, "validation_error")
    alices_car = await add_vehicle(client, alice, "DO A 1")
    assert_problem(
        await book(client, bob, limited, 5, 6, vehicle_id=alices_car["id"]), 422, "validation_error"
    )
    assert_problem(await book(client, alice, spot, 2, 4), 409, "own_spot")
    assert_problem(
        await client.post(
            "/v1/bookings",
            headers=bob.headers,
            json={"spot_id": "nope", "start": at(2, START), "end": at(4, START)},
        ),
        404,
        "not_found",
    )
    naive = {"spot_id": spot["id"], "start": "2026-11-23T12:00:00", "end": at(6, START)}
    assert_problem(
        await client.post("/v1/bookings", headers=bob.headers, json=naive), 422, "validation_error"
    )
    assert_problem(
        await client.post(
            "/v1/bookings", json={"spot_id": spot["id"], "start": at(2, START), "end": at(4, START)}
        ),
        401,
        "unauthorized",
    )
    listed = (await client.get("/v1/me/bookings", headers=bob.headers)).json()["items"]
    assert len(listed) == 1


async def test_an_expired_hold_frees_its_slot_at_once(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    carol = await make_account(client, "carol")
    held = (await book(client, bob, spot, 2, 4)).json()
    clock.advance(minutes=9, seconds=59)
    assert_problem(await book(client, carol, spot, 2, 4), 409, "slot_unavailable")
    clock.advance(seconds=1)
    # The deadline has passed; no sweeper has run, and yet the slot is free.
    r = await book(client, carol, spot, 2, 4)
    assert r.status_code == 201, r.text
    stale = (await client.get(f"/v1/bookings/{held['id']}", headers=bob.headers)).json()
    assert stale["status"] == "expired"
    assert stale["events"][-1] == {"at": at(10 / 60, START), "status": "expired", "by": "system"}
    # Another request expired it: confirming is still the hold's own answer, not a bare 409.
    assert_problem(
        await client.post(f"/v1/bookings/{held['id']}/confirm", headers=bob.headers), 409, "hold_expired"
    )


async def test_a_stale_hold_within_the_buffer_neither_blocks_nor_stays(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice, buffer_min=15)
    carol = await make_account(client, "carol")
    held = (await book(client, carol, spot, 4, 5)).json()
    assert_problem(await book(client, bob, spot, 5, 6), 409, "slot_unavailable")  # inside the buffer
    clock.advance(minutes=10)
    r = await book(client, bob, spot, 5, 6)
    assert r.status_code == 201, r.text
    # Within the new booking's reach, so it was marked expired on the way, with its event.
    stale = (await client.get(f"/v1/bookings/{held['id']}", headers=carol.headers)).json()
    assert (stale["status"], stale["events"][-1]["by"]) == ("expired", "system")


async def test_an_extension_over_a_stale_hold_expires_it(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    carol = await make_account(client, "carol")
    confirmed = await booked(client, bob, spot, 2, 4)
    held = (await book(client, carol, spot, 4, 5)).json()
    clock.advance(minutes=10)
    # The exclusion constraint still counts the stale hold until it is marked expired.
    r = await client.post(
        f"/v1/bookings/{confirmed['id']}/extend", headers=bob.headers, json={"end": at(5, START)}
    )
    assert r.status_code == 200, r.text
    assert r.json()["end"] == at(5, START)
    stale = (await client.get(f"/v1/bookings/{held['id']}", headers=carol.headers)).json()
    assert stale["status"] == "expired"


async def test_confirming_too_late_is_hold_expired_and_expires_it(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    held = (await book(client, bob, spot, 2, 4)).json()
    clock.advance(minutes=11)
    free = (
        await client.get(
            f"/v1/spots/{spot['id']}/availability", params={"from": at(0, START), "to": at(6, START)}
        )
    ).json()["free"]
    assert free == [
        {"start": at(0.25, START), "end": at(6, START)}
    ]  # the stale hold no longer shows as taken
    assert_problem(
        await client.post(f"/v1/bookings/{held['id']}/confirm", headers=bob.headers), 409, "hold_expired"
    )
    assert (await client.get(f"/v1/bookings/{held['id']}", headers=bob.headers)).json()["status"] == "expired"


async def test_approving_an_expired_request_fails(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice, instant_book=False)
    requested = (await book(client, bob, spot, 2, 4)).json()
    clock.advance(hours=2)
    assert_problem(
        await client.post(f"/v1/bookings/{requested['id']}/approve", headers=alice.headers),
        409,
        "invalid_transition",
    )
    assert (await client.get(f"/v1/bookings/{requested['id']}", headers=alice.headers)).json()[
        "status"
    ] == "expired"


@pytest.mark.parametrize(
    ("policy", "hours_before", "refund"),
    [
        ("flexible", 1, 500),
        ("moderate", 25, 500),
        ("moderate", 23, 250),
        ("strict", 25, 250),
        ("strict", 23, 0),
    ],
)
async def test_cancellation_refunds_follow_the_policy(
    client: AsyncClient,
    clock: FakeClock,
    alice: Account,
    bob: Account,
    policy: str,
    hours_before: float,
    refund: int,
) -> None:
    spot = await open_spot(client, alice, cancellation_policy=policy)
    confirmed = await booked(client, bob, spot, 48, 50)
    clock.now = START + timedelta(hours=48 - hours_before)
    r = await client.post(
        f"/v1/bookings/{confirmed['id']}/cancel", headers=bob.headers, json={"reason": "plans changed"}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["refund_cents"]) == ("cancelled", refund)
    assert_problem(
        await client.post(f"/v1/bookings/{confirmed['id']}/cancel", headers=bob.headers),
        409,
        "invalid_transition",
    )
    # The cancelled booking no longer holds its interval.
    assert (await book(client, bob, spot, 48, 50)).status_code == 201


async def test_owner_cancellation_refunds_in_full_and_unpaid_ones_refund_nothing(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice, cancellation_policy="strict")
    confirmed = await booked(client, bob, spot, 2, 4)
    r = await client.post(f"/v1/bookings/{confirmed['id']}/cancel", headers=alice.headers)
    assert (r.json()["refund_cents"], r.json()["events"][-1]["by"]) == (500, alice.id)
    held = (await book(client, bob, spot, 6, 8)).json()
    r = await client.post(f"/v1/bookings/{held['id']}/cancel", headers=bob.headers)
    assert (r.json()["status"], r.json()["refund_cents"]) == ("cancelled", 0)


async def test_extend_a_confirmed_booking(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice, buffer_min=15)
    carol = await make_account(client, "carol")
    confirmed = await booked(client, bob, spot, 2, 4)
    await booked(client, carol, spot, 7, 8)
    r = await client.post(
        f"/v1/bookings/{confirmed['id']}/extend", headers=bob.headers, json={"end": at(5, START)}
    )
    assert r.status_code == 200, r.text
    assert (r.json()["end"], r.json()["total_cents"], r.json()["status"]) == (at(5, START), 750, "confirmed")
    assert [e["status"] for e in r.json()["events"]] == ["held", "confirmed", "confirmed"]
    assert_problem(
        await client.post(
            f"/v1/bookings/{confirmed['id']}/extend", headers=bob.headers, json={"end": at(7, START)}
        ),
        409,
        "slot_unavailable",
    )
    extend = lambda end: client.post(  # noqa: E731
        f"/v1/bookings/{confirmed['id']}/extend", headers=bob.headers, json={"end": at(end, START)}
    )
    assert_invalid(await extend(4), "end_before_start", at(5, START), f"the end must be after {at(5, START)}")
    assert_invalid(await extend(5.1), "not_on_granularity", 15, GRID_15)
    assert_invalid(await extend(24 * 31), "too_long", 43_200, "a booking of this spot lasts at most 30 days")
    far = await booked(client, bob, spot, 24 * 89, 24 * 89 + 2)
    assert_invalid(
        await client.post(
            f"/v1/bookings/{far['id']}/extend", headers=bob.headers, json={"end": at(24 * 91, START)}
        ),
        "beyond_horizon",
        at(24 * 90, START),
        f"a booking of this spot must end by {at(24 * 90, START)}",
    )
    assert_problem(
        await client.post(
            f"/v1/bookings/{confirmed['id']}/extend", headers=alice.headers, json={"end": at(6, START)}
        ),
        403,
        "forbidden",
    )
    await client.post(
        f"/v1/spots/{spot['id']}/availability/blackouts",
        headers=alice.headers,
        json={"start": at(5.5, START), "end": at(6, START)},
    )
    assert_problem(
        await client.post(
            f"/v1/bookings/{confirmed['id']}/extend", headers=bob.headers, json={"end": at(6, START)}
        ),
        422,
        "outside_availability",
    )
    held = (await book(client, bob, spot, 10, 11)).json()
    assert_problem(
        await client.post(
            f"/v1/bookings/{held['id']}/extend", headers=bob.headers, json={"end": at(12, START)}
        ),
        409,
        "invalid_transition",
    )
    clock.advance(hours=6)
    assert_problem(
        await client.post(
            f"/v1/bookings/{confirmed['id']}/extend", headers=bob.headers, json={"end": at(6.5, START)}
        ),
        409,
        "invalid_transition",
    )


async def test_bookings_are_visible_to_driver_and_owner_only(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    carol = await make_account(client, "carol")
    held = (await book(client, bob, spot, 2, 4)).json()
    assert (await client.get(f"/v1/bookings/{held['id']}", headers=bob.headers)).status_code == 200
    assert (await client.get(f"/v1/bookings/{held['id']}", headers=alice.headers)).status_code == 200
    assert_problem(await client.get(f"/v1/bookings/{held['id']}", headers=carol.headers), 404, "not_found")
    assert_problem(
        await client.post(f"/v1/bookings/{held['id']}/confirm", headers=carol.headers), 404, "not_found"
    )
    assert_problem(
        await client.post(f"/v1/bookings/{held['id']}/confirm", headers=alice.headers), 403, "forbidden"
    )
    assert_problem(await client.get("/v1/bookings/not-an-id", headers=bob.headers), 404, "not_found")


async def test_the_public_view_opens_up_for_a_confirmed_driver(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    held = (await book(client, bob, spot, 2, 4)).json()
    assert (await client.get(f"/v1/spots/{spot['id']}", headers=bob.headers)).json()["view"] == "public"
    await client.post(f"/v1/bookings/{held['id']}/confirm", headers=bob.headers)
    clock.advance(hours=1)  # from reveal_before_min (60) before the start: tests/test_privacy.py
    full = (await client.get(f"/v1/spots/{spot['id']}", headers=bob.headers)).json()
    assert full["view"] == "full"
    assert full["access_instructions"] == "Code 4711 at the gate"


async def test_my_bookings_by_role_status_and_time(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    first = await booked(client, bob, spot, 2, 4)
    second = (await book(client, bob, spot, 26, 28)).json()
    third = await booked(client, bob, spot, 50, 52)
    ids = lambda page: [b["id"] for b in page["items"]]  # noqa: E731
    mine = (await client.get("/v1/me/bookings", headers=bob.headers)).json()
    assert ids(mine) == [first["id"], second["id"], third["id"]]
    assert ids(
        (await client.get("/v1/me/bookings", headers=alice.headers, params={"role": "owner"})).json()
    ) == ids(mine)
    assert (await client.get("/v1/me/bookings", headers=alice.headers)).json()["items"] == []
    confirmed = (
        await client.get("/v1/me/bookings", headers=bob.headers, params={"status": "confirmed"})
    ).json()
    assert ids(confirmed) == [first["id"], third["id"]]
    both = (await client.get("/v1/me/bookings?status=held,confirmed", headers=bob.headers)).json()
    assert len(both["items"]) == 3
    window = (
        await client.get(
            "/v1/me/bookings", headers=bob.headers, params={"from": at(3, START), "to": at(27, START)}
        )
    ).json()
    assert ids(window) == [first["id"], second["id"]]
    page1 = (await client.get("/v1/me/bookings", headers=bob.headers, params={"limit": 2})).json()
    page2 = (
        await client.get(
            "/v1/me/bookings", headers=bob.headers, params={"limit": 2, "cursor": page1["next_cursor"]}
        )
    ).json()
    assert ids(page1) + ids(page2) == ids(mine)
    assert_problem(
        await client.get("/v1/me/bookings", headers=bob.headers, params={"status": "paid"}),
        422,
        "validation_error",
    )
    assert_problem(
        await client.get("/v1/me/bookings", headers=bob.headers, params={"role": "admin"}),
        422,
        "validation_error",
    )


async def test_quote_prices_and_explains(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice, cancellation_policy="moderate")
    r = await client.post(
        "/v1/quotes",
        headers=bob.headers,
        json={"spot_id": spot["id"], "start": at(48, START), "end": at(50.5, START)},
    )
    assert r.status_code == 200, r.text
    quote = r.json()
    assert quote["bookable"] is True
    assert quote["reason_code"] is None
    assert (quote["total_cents"], quote["currency"]) == (625, "EUR")
    assert sum(line["amount_cents"] for line in quote["breakdown"]) == 625
    assert quote["cancellation"] == {
        "policy": "moderate",
        "refunds": [
            {"until": at(24, START), "refund_cents": 625},
            {"until": at(48, START), "refund_cents": 312},
        ],
    }
    # The day cap: 30 hours cost two capped days.
    long = (
        await client.post(
            "/v1/quotes",
            headers=bob.headers,
            json={"spot_id": spot["id"], "start": "2026-11-24T23:00:00Z", "end": "2026-11-26T05:00:00Z"},
        )
    ).json()
    assert long["total_cents"] == 1500 + 1500
    await booked(client, bob, spot, 2, 4)
    taken = (
        await client.post(
            "/v1/quotes",
            headers=bob.headers,
            json={"spot_id": spot["id"], "start": at(3, START), "end": at(5, START)},
        )
    ).json()
    assert (taken["bookable"], taken["reason_code"], taken["reason"], taken["limit"]) == (
        False,
        "slot_unavailable",
        None,
        None,
    )
    assert taken["total_cents"] == 500  # a valid interval is priced, bookable or not
    own = (
        await client.post(
            "/v1/quotes",
            headers=alice.headers,
            json={"spot_id": spot["id"], "start": at(6, START), "end": at(8, START)},
        )
    ).json()
    assert own["reason_code"] == "own_spot"
    assert_problem(
        await client.post(
            "/v1/quotes", json={"spot_id": spot["id"], "start": at(6, START), "end": at(8, START)}
        ),
        401,
        "unauthorized",
    )


async def test_a_quote_refuses_what_booking_refuses_before_pricing_it(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice, cancellation_policy="moderate", lead_time_min=60)

    async def quote(start: str, end: str, who: Account = bob) -> dict[str, Any]:
        r = await client.post(
            "/v1/quotes", headers=who.headers, json={"spot_id": spot["id"], "start": start, "end": end}
        )
        assert r.status_code == 200, r.text
        return dict(r.json())

    refused = {
        "bookable": False,
        "reason_code": "invalid_interval",
        "total_cents": 0,
        "currency": "EUR",
        "breakdown": [],
    }
    nothing = {"policy": "moderate", "refunds": []}
    for (start, end), reason, limit in (
        ((at(8, START), at(6, START)), "end_before_start", at(8, START)),
        ((at(3.1, START), at(5, START)), "not_on_granularity", 15),
        ((at(3, START), at(3.25, START)), "too_short", 30),
        # Fifty years were priced day by day before (1.1 MiB of breakdown, 0.3 s); now refused at once.
        ((at(2, START), "2076-11-23T08:00:00Z"), "too_long", 43_200),
        ((at(-2, START), at(2, START)), "in_the_past", at(0, START)),
        ((at(0.5, START), at(2, START)), "inside_lead_time", 60),
        (("2090-01-01T10:00:00Z", "2090-01-01T12:00:00Z"), "beyond_horizon", at(24 * 90, START)),
    ):
        answer = await quote(start, end)
        assert answer == {**refused, "reason": reason, "limit": limit, "cancellation": nothing}, answer
    # The owner's own spot: own_spot, as booking answers first; still not priced when invalid.
    own = await quote(at(2, START), "2076-11-23T08:00:00Z", alice)
    assert (own["reason_code"], own["reason"], own["total_cents"], own["breakdown"]) == (
        "own_spot",
        "too_long",
        0,
        [],
    )
    assert (await quote(at(2, START), at(4, START), alice))["total_cents"] == 500


async def test_withdrawing_a_spot_with_bookings(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    confirmed = await booked(client, bob, spot, 2, 4)
    held = (await book(client, bob, spot, 6, 8)).json()
    assert_problem(
        await client.delete(f"/v1/spots/{spot['id']}", headers=alice.headers), 409, "spot_has_bookings"
    )
    assert (await client.get(f"/v1/bookings/{held['id']}", headers=bob.headers)).json()["status"] == "held"
    r = await client.delete(
        f"/v1/spots/{spot['id']}", headers=alice.headers, params={"cancel_bookings": "true"}
    )
    assert r.status_code == 204
    after = (await client.get(f"/v1/bookings/{confirmed['id']}", headers=bob.headers)).json()
    assert (after["status"], after["refund_cents"]) == ("cancelled", 500)
    assert (await client.get(f"/v1/bookings/{held['id']}", headers=bob.headers)).json()[
        "status"
    ] == "cancelled"


async def test_withdrawing_cancels_unconfirmed_bookings_without_asking(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    held = (await book(client, bob, spot, 6, 8)).json()
    assert (await client.delete(f"/v1/spots/{spot['id']}", headers=alice.headers)).status_code == 204
    assert (await client.get(f"/v1/bookings/{held['id']}", headers=bob.headers)).json()[
        "status"
    ] == "cancelled"


async def test_the_database_refuses_overlapping_active_bookings(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account, db: Database
) -> None:
    spot = await open_spot(client, alice)
    first = await booked(client, bob, spot, 2, 4)
    insert = text(
        "insert into bookings (id, spot_id, driver_id, start_at, end_at, status, total_cents, currency, created_at, updated_at)"
        " values (gen_random_uuid(), :spot, :driver, :start, :end, :status, 0, 'EUR', now(), now())"
    )
    params = {
        "spot": spot["id"],
        "driver": bob.id,
        "start": START + timedelta(hours=3),
        "end": START + timedelta(hours=5),
    }
    async with db.sessionmaker() as session:
        # An inactive booking may overlap; an active one may not, whatever the service does.
        await session.execute(insert, {**params, "status": "cancelled"})
        with pytest.raises(IntegrityError, match="ex_bookings_spot_id_during"):
            async with session.begin_nested():
                await session.execute(insert, {**params, "status": "confirmed"})
        await session.execute(insert, {**params, "start": START + timedelta(hours=4), "status": "confirmed"})
    assert first["status"] == "confirmed"


async def test_an_overlap_past_the_check_is_still_slot_unavailable(
    client: AsyncClient, alice: Account, bob: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.bookings import service

    spot = await open_spot(client, alice)
    first = await booked(client, bob, spot, 2, 4)
    read = service.read_calendar

    async def blind(*args: Any, **kwargs: Any) -> tuple[Calendar, bool]:
        calendar, stale = await read(*args, **kwargs)
        return replace(calendar, bookings=()), stale

    # As if the check had missed the first booking: the exclusion constraint has the last word,
    # and its refusal is the same answer, never a 500.
    monkeypatch.setattr(service, "read_calendar", blind)
    assert_problem(await book(client, bob, spot, 3, 5), 409, "slot_unavailable")
    monkeypatch.undo()
    mine = (await client.get("/v1/me/bookings", headers=bob.headers)).json()["items"]
    assert [b["id"] for b in mine] == [first["id"]]


async def test_a_hold_past_its_deadline_reads_as_expired_before_the_sweeper(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account, db: Database
) -> None:
    from app.bookings.service import expire_due

    spot = await open_spot(client, alice)
    requests = await open_spot(client, alice, instant_book=False)
    held = (await book(client, bob, spot, 2, 4)).json()
    requested = (await book(client, bob, requests, 1, 3)).json()  # its deadline is its start, at 1 h
    kept = (await book(client, bob, spot, 6, 8)).json()
    clock.advance(minutes=9)
    kept = (await client.post(f"/v1/bookings/{kept['id']}/confirm", headers=bob.headers)).json()
    clock.advance(hours=1)

    async def read(booking: dict[str, Any]) -> dict[str, Any]:
        return dict((await client.get(f"/v1/bookings/{booking['id']}", headers=bob.headers)).json())

    async def listed(**params: str) -> list[tuple[str, str]]:
        r = await client.get("/v1/me/bookings", headers=bob.headers, params=params)
        assert r.status_code == 200, r.text
        return [(b["id"], b["status"]) for b in r.json()["items"]]

    before = [await read(b) for b in (held, requested)]
    expired_hold = {"at": at(10 / 60, START), "status": "expired", "by": "system"}
    expired_request = {"at": at(1, START), "status": "expired", "by": "system"}
    assert (before[0]["status"], before[0]["updated_at"], before[0]["events"][-1]) == (
        "expired",
        at(10 / 60, START),
        expired_hold,
    )
    assert (before[1]["status"], before[1]["events"][-1]) == ("expired", expired_request)
    assert await listed() == [
        (requested["id"], "expired"),
        (held["id"], "expired"),
        (kept["id"], "confirmed"),
    ]
    assert await listed(status="expired") == [(requested["id"], "expired"), (held["id"], "expired")]
    assert await listed(status="held,requested") == []
    assert await listed(status="confirmed") == [(kept["id"], "confirmed")]
    # Reading wrote nothing: the rows still say what was stored.
    async with db.sessionmaker() as session:
        stored = await session.execute(
            text("select status from bookings where id in (:a, :b)"), {"a": held["id"], "b": requested["id"]}
        )
        assert sorted(stored.scalars()) == ["held", "requested"]
        # The sweeper writes what the reads already showed, dated at the deadlines.
        assert await expire_due(session, clock.now) == 2
        await session.commit()
    assert [await read(b) for b in (held, requested)] == before
    assert await listed(status="expired") == [(requested["id"], "expired"), (held["id"], "expired")]


async def test_confirming_after_the_sweeper_expired_the_hold_is_hold_expired(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account, db: Database
) -> None:
    from app.bookings.service import expire_due

    spot = await open_spot(client, alice, instant_book=False)
    hold_spot = await open_spot(client, alice)
    held = (await book(client, bob, hold_spot, 2, 4)).json()
    requested = (await book(client, bob, spot, 2, 4)).json()
    clock.advance(hours=3)
    async with db.sessionmaker() as session:
        assert await expire_due(session, clock.now) == 2
        await session.commit()
    problem = assert_problem(
        await client.post(f"/v1/bookings/{held['id']}/confirm", headers=bob.headers), 409, "hold_expired"
    )
    assert problem["detail"] == "the hold expired before it was confirmed; book again"
    # A request that expired is no hold: approving it is an ordinary invalid transition.
    assert_problem(
        await client.post(f"/v1/bookings/{requested['id']}/approve", headers=alice.headers),
        409,
        "invalid_transition",
    )
    cancelled = (await book(client, bob, hold_spot, 6, 8)).json()
    await client.post(f"/v1/bookings/{cancelled['id']}/cancel", headers=bob.headers)
    assert_problem(
        await client.post(f"/v1/bookings/{cancelled['id']}/confirm", headers=bob.headers),
        409,
        "invalid_transition",
    )


async def test_confirmation_clears_the_deadline(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    requests = await open_spot(client, alice, instant_book=False)
    held = (await book(client, bob, spot, 2, 4)).json()
    requested = (await book(client, bob, requests, 2, 4)).json()
    assert (held["hold_expires_at"], requested["request_expires_at"]) == (at(10 / 60, START), at(2, START))
    confirmed = (await client.post(f"/v1/bookings/{held['id']}/confirm", headers=bob.headers)).json()
    approved = (await client.post(f"/v1/bookings/{requested['id']}/approve", headers=alice.headers)).json()
    for booking in (confirmed, approved):
        assert (booking["status"], booking["hold_expires_at"], booking["request_expires_at"]) == (
            "confirmed",
            None,
            None,
        )
    # Long past the old deadlines, a confirmed booking stays confirmed.
    clock.advance(hours=1)
    again = (await client.get(f"/v1/bookings/{held['id']}", headers=bob.headers)).json()
    assert (again["status"], again["hold_expires_at"]) == ("confirmed", None)


async def test_the_status_filter_is_bounded(client: AsyncClient, clock: FakeClock, bob: Account) -> None:
    problem = assert_problem(
        await client.get(
            "/v1/me/bookings", headers=bob.headers, params={"status": ",".join(["held"] * (len(Status) + 1))}
        ),
        422,
        "validation_error",
    )
    assert problem["errors"][0]["field"] == "status"
    ok = await client.get(
        "/v1/me/bookings", headers=bob.headers, params={"status": ",".join(["held"] * len(Status))}
    )
    assert ok.status_code == 200
