"""At the spot (docs/api.md): check-in and check-out, the grace and the overstay fee, the
scheduler's overstays and the next driver it tells, no-shows, and the jobs run twice or racing.

Times are hours after the fake clock's START; the jobs are run with the time a test gives them."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any

from httpx import ASGITransport, AsyncClient, Response
from sqlalchemy import text

from app.admin.service import set_role
from app.bookings.service import complete_due
from app.bookings.tasks import watch
from app.bookings.visits import Watched
from app.db import Database
from app.main import create_app
from app.settings import Settings
from tests.conftest import START, FakeClock, assert_problem, at
from tests.factories import Account, add_vehicle, book, booked, make_account, open_spot

NOTHING = Watched(0, 0, 0, 0)
PLATE = "DO-AS 2026"


def t(hours: float, minutes: float = 0, seconds: float = 0) -> datetime:
    return START + timedelta(hours=hours, minutes=minutes, seconds=seconds)


async def act(client: AsyncClient, booking: dict[str, Any], action: str, who: Account | None) -> Response:
    headers = who.headers if who is not None else {}
    return await client.post(f"/v1/bookings/{booking['id']}/{action}", headers=headers)


async def current(client: AsyncClient, booking: dict[str, Any], who: Account) -> dict[str, Any]:
    r = await client.get(f"/v1/bookings/{booking['id']}", headers=who.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def events(db: Database, booking: dict[str, Any]) -> list[dict[str, Any]]:
    """The booking's events in the outbox, in order, with both views."""
    async with db.sessionmaker() as session:
        rows = await session.execute(
            text(
                "select type, driver_id::text as driver_id, owner_id::text as owner_id, data::text as data,"
                " owner_data::text as owner_data from events where booking_id = :id order by seq"
            ),
            {"id": booking["id"]},
        )
        return [dict(row._mapping) for row in rows.all()]


async def complete(db: Database, now: datetime) -> int:
    async with db.sessionmaker() as session, session.begin():
        return await complete_due(session, now)


async def checked_in(
    client: AsyncClient, clock: FakeClock, driver: Account, spot: dict[str, Any], start: float, end: float
) -> dict[str, Any]:
    """A confirmed booking START + `start` h to + `end` h whose driver checked in at its start;
    the clock is left there."""
    booking = await booked(client, driver, spot, start, end)
    clock.now = t(start)
    r = await act(client, booking, "check-in", driver)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_check_in_opens_15_minutes_before_the_start_and_is_idempotent(
    client: AsyncClient, db: Database, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    booking = await booked(client, bob, spot, 2, 4)
    assert (booking["checked_in_at"], booking["checked_out_at"], booking["overstay_cents"]) == (None, None, 0)

    clock.now = t(2, -15, -1)
    problem = assert_problem(await act(client, booking, "check-in", bob), 409, "invalid_transition")
    assert at(2 - 0.25, START) in problem["detail"]
    clock.now = t(2, -15)
    r = await act(client, booking, "check-in", bob)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["checked_in_at"]) == ("confirmed", at(2 - 0.25, START))

    # Again, later: the same booking, no second event.
    clock.now = t(2, 5)
    again = await act(client, booking, "check-in", bob)
    assert again.status_code == 200
    assert again.json()["checked_in_at"] == at(2 - 0.25, START)
    assert [e["type"] for e in await events(db, booking)] == [
        "booking.held",
        "booking.confirmed",
        "booking.checked_in",
    ]


async def test_no_check_in_at_or_after_the_end_nor_for_a_hold(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    booking = await booked(client, bob, spot, 2, 4)
    held = await booked(client, bob, spot, 5, 6, confirm=False)
    clock.now = t(4)
    assert_problem(await act(client, booking, "check-in", bob), 409, "invalid_transition")
    clock.now = t(5)
    assert_problem(await act(client, held, "check-in", bob), 409, "invalid_transition")


async def test_only_the_driver_checks_in_and_out(
    client: AsyncClient, db: Database, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    booking = await booked(client, bob, spot, 2, 4)
    stranger = await make_account(client, "carol")
    admin = await make_account(client, "admin")
    async with db.sessionmaker() as session, session.begin():
        await set_role(session, admin.email, "admin", START)
    clock.now = t(2)
    for action in ("check-in", "check-out"):
        assert_problem(await act(client, booking, action, None), 401, "unauthorized")
        assert_problem(await act(client, booking, action, stranger), 404, "not_found")
        assert_problem(await act(client, booking, action, admin), 404, "not_found")  # moderation only
        assert_problem(await act(client, booking, action, alice), 403, "forbidden")
    # Also once checked in: the owner cannot check the driver out.
    assert (await act(client, booking, "check-in", bob)).status_code == 200
    assert_problem(await act(client, booking, "check-out", alice), 403, "forbidden")
    assert_problem(await act(client, booking, "check-in", alice), 403, "forbidden")


async def test_check_out_needs_a_check_in(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    booking = await booked(client, bob, spot, 2, 4)
    clock.now = t(3)
    problem = assert_problem(await act(client, booking, "check-out", bob), 409, "invalid_transition")
    assert "check in" in problem["detail"]


async def test_leaving_within_the_grace_costs_nothing_and_completes(
    client: AsyncClient, db: Database, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    booking = await checked_in(client, clock, bob, spot, 2, 4)
    # Between the end and the end of the grace the sweeper leaves a car checked in alone.
    clock.now = t(4, 10)
    assert await complete(db, clock.now) == 0
    assert await watch(db, clock.now) == NOTHING
    r = await act(client, booking, "check-out", bob)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["status"], out["checked_out_at"], out["overstay_cents"]) == (
        "completed",
        at(4 + 1 / 6, START),
        0,
    )
    again = await act(client, booking, "check-out", bob)
    assert again.json() == out
    types = [e["type"] for e in await events(db, booking)]
    assert types[-3:] == ["booking.checked_in", "booking.checked_out", "booking.completed"]


async def test_checking_out_early_keeps_the_booking_until_its_end(
    client: AsyncClient, db: Database, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    booking = await checked_in(client, clock, bob, spot, 2, 4)
    clock.now = t(3)
    r = await act(client, booking, "check-out", bob)
    assert (r.json()["status"], r.json()["checked_out_at"]) == ("confirmed", at(3, START))
    # Paid until its end: the rest of the interval stays taken.
    assert_problem(
        await book(client, await make_account(client, "carol"), spot, 3, 4), 409, "slot_unavailable"
    )
    assert await complete(db, t(4)) == 1
    done = await current(client, booking, bob)
    assert (done["status"], done["overstay_cents"]) == ("completed", 0)


async def test_an_overstay_is_marked_told_to_both_and_charged_at_check_out(
    client: AsyncClient, db: Database, clock: FakeClock, alice: Account, bob: Account
) -> None:
    """The issue's example: 25 minutes late with a 10-minute grace on a 15-minute granularity pays
    two started units (counted from the end) at 1.5 times 2.50 EUR/h: 30 min at 3.75 = 188 cents."""
    spot = await open_spot(client, alice)
    vehicle = await add_vehicle(client, bob, PLATE)
    r = await book(client, bob, spot, 2, 4, vehicle_id=vehicle["id"])
    assert r.status_code == 201, r.text
    booking = r.json()
    assert (await act(client, booking, "confirm", bob)).status_code == 200
    clock.now = t(2)
    assert (await act(client, booking, "check-in", bob)).status_code == 200

    # Not before the grace is over, and the sweeper does not complete it either.
    assert await watch(db, t(4, 10)) == NOTHING
    assert await complete(db, t(4, 10)) == 0
    assert await watch(db, t(4, 10, 1)) == Watched(1, 0, 0, 0)
    assert await watch(db, t(4, 11)) == NOTHING  # once
    clock.now = t(4, 20)
    seen = await current(client, booking, alice)
    # After the end, outside the reveal window: the owner does not see the plate.
    assert (seen["status"], seen["license_plate"]) == ("overstayed", None)
    overstayed = (await events(db, booking))[-1]
    assert overstayed["type"] == "booking.overstayed"
    assert (overstayed["driver_id"], overstayed["owner_id"]) == (bob.id, alice.id)
    assert json.loads(overstayed["data"])["booking"]["status"] == "overstayed"
    assert overstayed["owner_data"] is not None
    assert PLATE not in overstayed["owner_data"]

    clock.now = t(4, 25)
    r = await act(client, booking, "check-out", bob)
    assert r.status_code == 200, r.text
    out = r.json()
    assert (out["status"], out["overstay_cents"], out["checked_out_at"]) == (
        "completed",
        188,
        at(4 + 25 / 60, START),
    )
    assert (await current(client, booking, alice))["overstay_cents"] == 188
    listed = await client.get("/v1/me/bookings", headers=alice.headers, params={"role": "owner"})
    assert [b["overstay_cents"] for b in listed.json()["items"]] == [188]
    assert [e["type"] for e in await events(db, booking)][-3:] == [
        "booking.overstayed",
        "booking.checked_out",
        "booking.completed",
    ]
    assert [e["status"] for e in out["events"]][-2:] == ["overstayed", "completed"]


async def test_the_fee_is_the_same_whether_or_not_the_scheduler_marked_the_overstay(
    client: AsyncClient, db: Database, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice, granularity_min=15)
    booking = await checked_in(client, clock, bob, spot, 2, 4)
    clock.now = t(4, 25)
    out = (await act(client, booking, "check-out", bob)).json()
    assert (out["status"], out["overstay_cents"]) == ("completed", 188)
    assert await watch(db, t(4, 30)) == NOTHING


async def test_the_owners_overstay_rate_and_grace_apply(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice, grace_min=0, overstay_hourly_cents=600)
    assert (spot["rules"]["grace_min"], spot["rules"]["overstay_hourly_cents"]) == (0, 600)
    booking = await checked_in(client, clock, bob, spot, 2, 4)
    clock.now = t(4, 1)
    assert (await act(client, booking, "check-out", bob)).json()["overstay_cents"] == 150  # 15 min at 6.00


async def test_the_rules_are_those_the_booking_was_confirmed_with(
    client: AsyncClient, db: Database, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice, grace_min=10)
    booking = await booked(client, bob, spot, 2, 4)
    other = await booked(client, bob, spot, 6, 8)
    # The owner raises the overstay rate, drops the grace and requires check-in afterwards.
    r = await client.patch(
        f"/v1/spots/{spot['id']}",
        headers={**alice.headers, "Content-Type": "application/merge-patch+json", "If-Match": "*"},
        content=json.dumps(
            {"rules": {"grace_min": 0, "overstay_hourly_cents": 100_000, "check_in_required": True}}
        ),
    )
    assert r.status_code == 200, r.text
    clock.now = t(2)
    assert (await act(client, booking, "check-in", bob)).status_code == 200
    # Still the grace it was confirmed with: not overstayed 5 minutes after the end.
    assert await watch(db, t(4, 5)) == NOTHING
    clock.now = t(4, 25)
    out = (await act(client, booking, "check-out", bob)).json()
    assert out["overstay_cents"] == 188  # 30 min at 1.5 x 2.50 EUR/h, not at 1000 EUR/h
    # Check-in was not required when the other booking was confirmed: no no-show.
    assert await watch(db, t(6, 45)) == NOTHING
    assert await complete(db, t(8)) == 1
    assert (await current(client, other, bob))["status"] == "completed"
    # A booking confirmed now is bound by the new rules.
    later = await booked(client, bob, spot, 30, 32)
    assert await watch(db, t(30, 30)) == Watched(0, 0, 0, 1)
    clock.now = t(30, 31)
    assert (await current(client, later, bob))["status"] == "no_show"


async def test_a_confirmed_booking_keeps_its_cancellation_policy(
    client: AsyncClient, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice, cancellation_policy="flexible")
    booking = await booked(client, bob, spot, 2, 4)
    r = await client.patch(
        f"/v1/spots/{spot['id']}",
        headers={**alice.headers, "Content-Type": "application/merge-patch+json", "If-Match": "*"},
        content=json.dumps({"rules": {"cancellation_policy": "strict"}}),
    )
    assert r.status_code == 200, r.text
    # Flexible, as when it was confirmed: a full refund until the start.
    r = await client.post(f"/v1/bookings/{booking['id']}/cancel", headers=bob.headers, json={})
    assert r.json()["refund_cents"] == booking["total_cents"]
    # A booking confirmed now follows the new policy (strict: half back more than 24 h ahead).
    later = await booked(client, bob, spot, 48, 50)
    r = await client.post(f"/v1/bookings/{later['id']}/cancel", headers=bob.headers, json={})
    assert r.json()["refund_cents"] == later["total_cents"] // 2


async def test_a_driver_who_checked_in_checks_out_rather_than_cancels(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice, cancellation_policy="flexible")
    booking = await booked(client, bob, spot, 2, 4)
    clock.now = t(1, 50)
    assert (await act(client, booking, "check-in", bob)).status_code == 200
    for who in (bob, alice):
        r = await client.post(f"/v1/bookings/{booking['id']}/cancel", headers=who.headers, json={})
        assert_problem(r, 409, "invalid_transition")
    # The interval stays taken while the car is there.
    carol = await make_account(client, "carol")
    assert_problem(await book(client, carol, spot, 2, 3), 409, "slot_unavailable")
    clock.now = t(2, 30)
    assert (await act(client, booking, "check-out", bob)).status_code == 200
    r = await client.post(f"/v1/bookings/{booking['id']}/cancel", headers=bob.headers, json={})
    assert r.status_code == 200, r.text


async def test_an_overstay_never_checked_out_is_completed_at_the_cap(
    client: AsyncClient, db: Database, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    booking = await checked_in(client, clock, bob, spot, 2, 4)
    assert await watch(db, t(5)) == Watched(1, 0, 0, 0)
    assert await watch(db, t(27, 59)) == NOTHING
    assert await watch(db, t(28)) == Watched(0, 0, 1, 0)
    assert await watch(db, t(29)) == NOTHING
    clock.now = t(29)
    done = await current(client, booking, bob)
    assert (done["status"], done["overstay_cents"], done["checked_out_at"]) == ("completed", 375 * 24, None)
    # Checking out afterwards changes nothing.
    assert_problem(await act(client, booking, "check-out", bob), 409, "invalid_transition")


async def test_a_booking_never_checked_in_completes_as_before(
    client: AsyncClient, db: Database, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    booking = await booked(client, bob, spot, 2, 4)
    assert await watch(db, t(5)) == NOTHING
    assert await complete(db, t(4)) == 1
    clock.now = t(5)
    done = await current(client, booking, bob)
    assert (done["status"], done["overstay_cents"]) == ("completed", 0)


async def test_the_next_driver_is_told_the_spot_is_occupied_and_may_cancel_for_a_full_refund(
    client: AsyncClient, db: Database, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    carol = await make_account(client, "carol")
    dave = await make_account(client, "dave")
    mine = await booked(client, bob, spot, 2, 4)
    nxt = await booked(client, carol, spot, 4, 6)
    later = await booked(client, dave, spot, 7, 8)
    clock.now = t(2)
    assert (await act(client, mine, "check-in", bob)).status_code == 200

    assert await watch(db, t(4, 11)) == Watched(1, 1, 0, 0)
    assert await watch(db, t(4, 12)) == NOTHING  # told once
    told = await events(db, nxt)
    assert told[-1]["type"] == "booking.spot_occupied"
    assert (told[-1]["driver_id"], told[-1]["owner_id"]) == (carol.id, alice.id)
    assert bob.id not in told[-1]["data"]  # nothing of the overstaying driver
    clock.now = t(4, 20)
    seen = await current(client, nxt, carol)
    assert seen["spot_occupied_at"] == at(4 + 11 / 60, START)
    # After the start the flexible policy refunds nothing; told, the driver gets it all back.
    r = await client.post(f"/v1/bookings/{nxt['id']}/cancel", headers=carol.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["refund_cents"]) == ("cancelled", nxt["total_cents"])

    # A booking starting more than 30 minutes ahead is not told yet; once it is that close and the
    # car is still there, it is.
    assert [e["type"] for e in await events(db, later)][-1] == "booking.confirmed"
    assert await watch(db, t(6, 29)) == NOTHING
    assert await watch(db, t(6, 30)) == Watched(0, 1, 0, 0)
    # Once the car has left there is no one more to tell.
    clock.now = t(6, 40)
    assert (await act(client, mine, "check-out", bob)).json()["status"] == "completed"
    assert await watch(db, t(7, 0)) == NOTHING


async def test_a_no_show_frees_the_rest_of_the_interval_and_is_charged(
    client: AsyncClient, db: Database, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice, check_in_required=True, cancellation_policy="moderate")
    plain = await open_spot(client, alice)
    booking = await booked(client, bob, spot, 2, 6)
    elsewhere = await booked(client, bob, plain, 2, 6)
    assert await watch(db, t(2, 29, 59)) == NOTHING
    assert await watch(db, t(2, 30)) == Watched(0, 0, 0, 1)  # only where check-in is required
    assert await watch(db, t(2, 31)) == NOTHING

    clock.now = t(2, 35)
    out = await current(client, booking, bob)
    # A cancellation at the start refunds nothing under any policy: the whole price is charged.
    assert (out["status"], out["refund_cents"]) == ("no_show", 0)
    assert (await current(client, elsewhere, bob))["status"] == "confirmed"
    no_show = (await events(db, booking))[-1]
    assert no_show["type"] == "booking.no_show"
    assert (no_show["driver_id"], no_show["owner_id"]) == (bob.id, alice.id)
    assert_problem(await act(client, booking, "check-in", bob), 409, "invalid_transition")

    carol = await make_account(client, "carol")
    r = await book(client, carol, spot, 3, 5)
    assert r.status_code == 201, r.text
    free = await client.get(
        f"/v1/spots/{spot['id']}/availability", params={"from": at(2.5, START), "to": at(7, START)}
    )
    assert free.json()["free"][-1] == {"start": at(5, START), "end": at(7, START)}


async def test_a_check_in_before_the_no_show_counts_and_is_then_completed_normally(
    client: AsyncClient, db: Database, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice, check_in_required=True, no_show_after_min=15)
    late = await booked(client, bob, spot, 2, 4)
    never = await booked(client, bob, spot, 5, 5.5)
    clock.now = t(2, 14)
    assert (await act(client, late, "check-in", bob)).status_code == 200
    clock.now = t(3)
    assert (await act(client, late, "check-out", bob)).status_code == 200
    assert await watch(db, t(4)) == NOTHING
    assert await complete(db, t(4)) == 1
    # Without a check-in the sweeper leaves it to the no-show job, even past its end.
    assert await complete(db, t(5, 30)) == 0
    assert await watch(db, t(5, 30)) == Watched(0, 0, 0, 1)
    clock.now = t(6)
    assert (await current(client, never, bob))["status"] == "no_show"


async def test_a_retried_check_out_with_its_key_is_replayed(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    booking = await checked_in(client, clock, bob, spot, 2, 4)
    clock.now = t(4, 25)
    headers = {**bob.headers, "Idempotency-Key": "leaving-1"}
    first = await client.post(f"/v1/bookings/{booking['id']}/check-out", headers=headers)
    clock.now = t(5)
    again = await client.post(f"/v1/bookings/{booking['id']}/check-out", headers=headers)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert again.json() == first.json()
    assert first.json()["overstay_cents"] == 188


async def test_webhooks_subscribe_to_the_events_at_the_spot(client: AsyncClient, bob: Account) -> None:
    types = [
        "booking.checked_in",
        "booking.checked_out",
        "booking.overstayed",
        "booking.no_show",
        "booking.spot_occupied",
    ]
    r = await client.post(
        "/v1/me/webhooks",
        headers=bob.headers,
        json={"url": "https://93.184.215.14/parkshare", "events": types},
    )
    assert r.status_code == 201, r.text
    assert r.json()["events"] == types


async def test_the_spot_rules_are_checked(client: AsyncClient, alice: Account) -> None:
    from tests.factories import spot_body

    for rules in (
        {"grace_min": 121},
        {"overstay_hourly_cents": 0},
        {"no_show_after_min": 4},
        {"check_in_required": 1},
    ):
        r = await client.post("/v1/spots", headers=alice.headers, json=spot_body(rules=rules))
        assert_problem(r, 422, "validation_error")
    spot = await open_spot(client, alice, overstay_hourly_cents=500)
    r = await client.patch(
        f"/v1/spots/{spot['id']}",
        headers={**alice.headers, "Content-Type": "application/merge-patch+json"},
        json={"rules": {"overstay_hourly_cents": None}, "pricing": {"hourly_cents": 300}},
    )
    assert r.status_code == 200, r.text
    assert r.json()["rules"]["overstay_hourly_cents"] == 450  # back to 1.5 times the new price


async def test_a_driver_told_the_spot_is_occupied_is_no_no_show(
    client: AsyncClient, db: Database, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice, check_in_required=True)
    carol = await make_account(client, "carol")
    mine = await checked_in(client, clock, bob, spot, 2, 4)
    nxt = await booked(client, carol, spot, 4, 6)
    assert await watch(db, t(4, 15)) == Watched(1, 1, 0, 0)
    assert [e["type"] for e in await events(db, nxt)][-1] == "booking.spot_occupied"
    assert await watch(db, t(4, 40)) == NOTHING
    assert await complete(db, t(6)) == 1
    clock.now = t(6)
    assert (await current(client, nxt, carol))["status"] == "completed"
    assert (await current(client, mine, bob))["status"] == "overstayed"


async def test_racing_runs_change_each_booking_once(settings: Settings, committed_db: Database) -> None:
    app = create_app(settings, database=committed_db)
    clock = app.state.clock = FakeClock()
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        owner = await make_account(client, "owner")
        overstays, no_shows = [], []
        for i in range(3):
            driver = await make_account(client, f"driver{i}")
            plain = await open_spot(client, owner)
            required = await open_spot(client, owner, check_in_required=True)
            clock.now = START
            overstays.append(await checked_in(client, clock, driver, plain, 2, 4))
            clock.now = START
            no_shows.append(await booked(client, driver, required, 2, 4))

    runs = await asyncio.gather(*(watch(committed_db, t(4, 11), batch=1) for _ in range(4)))
    assert [sum(r[i] for r in runs) for i in range(4)] == [3, 0, 0, 3]
    assert await watch(committed_db, t(4, 12)) == NOTHING
    async with committed_db.sessionmaker() as session:
        rows = await session.execute(
            text(
                "select booking_id::text, type from events"
                " where type in ('booking.overstayed', 'booking.no_show') order by type, booking_id"
            )
        )
        told = sorted((b, t_) for b, t_ in rows.all())
    assert told == sorted(
        [(b["id"], "booking.overstayed") for b in overstays]
        + [(b["id"], "booking.no_show") for b in no_shows]
    )
