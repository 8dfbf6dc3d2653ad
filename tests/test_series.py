"""Commuter series (docs/api.md, "Series") against the real database, on the fake clock: START is
Monday 2026-11-23, 09:00 in Berlin, so "next week" is 30 November to 4 December."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from httpx import AsyncClient
from sqlalchemy import text

from app.admin.service import set_role
from app.db import Database
from tests.conftest import START, FakeClock, assert_problem
from tests.factories import PASSWORD, Account, add_vehicle, make_account, open_spot

BERLIN = ZoneInfo("Europe/Berlin")
WORKDAYS = ["mon", "tue", "wed", "thu", "fri"]
NEXT_MONDAY = date(2026, 11, 30)


def local(day: date, hour: int) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=BERLIN)


def z(instant: datetime) -> str:
    return instant.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def series_body(spot: dict[str, Any], on_conflict: str = "fail", **changes: Any) -> dict[str, Any]:
    """Next week, Monday to Friday, 08:00-18:00 local."""
    return {
        "spot_id": spot["id"],
        "weekdays": WORKDAYS,
        "start_time": "08:00",
        "end_time": "18:00",
        "from": NEXT_MONDAY.isoformat(),
        "until": (NEXT_MONDAY + timedelta(days=4)).isoformat(),
        "on_conflict": on_conflict,
        **changes,
    }


async def book_series(
    client: AsyncClient, driver: Account, body: dict[str, Any], **headers: str
) -> dict[str, Any]:
    r = await client.post("/v1/booking-series", json=body, headers={**driver.headers, **headers})
    assert r.status_code == 201, r.text
    return dict(r.json())


async def take(client: AsyncClient, driver: Account, spot: dict[str, Any], day: date) -> dict[str, Any]:
    """A single confirmed booking of `day` 12:00-13:00 local, inside the series' hours."""
    r = await client.post(
        "/v1/bookings",
        headers=driver.headers,
        json={"spot_id": spot["id"], "start": z(local(day, 12)), "end": z(local(day, 13))},
    )
    assert r.status_code == 201, r.text
    r = await client.post(f"/v1/bookings/{r.json()['id']}/confirm", headers=driver.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def my_bookings(client: AsyncClient, driver: Account) -> list[dict[str, Any]]:
    r = await client.get("/v1/me/bookings", headers=driver.headers, params={"limit": 100})
    assert r.status_code == 200, r.text
    return list(r.json()["items"])


async def test_fail_books_nothing_and_names_the_taken_occurrence(
    client: AsyncClient, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    carol = await make_account(client, "carol")
    wednesday = NEXT_MONDAY + timedelta(days=2)
    await take(client, carol, spot, wednesday)

    r = await client.post("/v1/booking-series", json=series_body(spot), headers=bob.headers)
    problem = assert_problem(r, 409, "series_conflict")
    [error] = problem["errors"]
    assert (error["start"], error["end"]) == (z(local(wednesday, 8)), z(local(wednesday, 18)))
    assert error["reason_code"] == "slot_unavailable"
    assert error["field"] == "occurrences.2"
    assert await my_bookings(client, bob) == []


async def test_skip_books_the_rest_and_lists_the_skipped(
    client: AsyncClient, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    carol = await make_account(client, "carol")
    wednesday = NEXT_MONDAY + timedelta(days=2)
    single = await take(client, carol, spot, wednesday)
    assert single["series_id"] is None

    series = await book_series(client, bob, series_body(spot, "skip"))
    assert series["status"] == "held"
    assert series["driver_id"] == bob.id
    assert (series["from"], series["until"], series["timezone"]) == (
        "2026-11-30",
        "2026-12-04",
        "Europe/Berlin",
    )
    occurrences = series["occurrences"]
    assert [o["start"] for o in occurrences] == [
        z(local(NEXT_MONDAY + timedelta(days=k), 8)) for k in range(5)
    ]
    skipped = [o for o in occurrences if o["booking_id"] is None]
    assert skipped == [
        {
            "start": z(local(wednesday, 8)),
            "end": z(local(wednesday, 18)),
            "booking_id": None,
            "status": None,
            "skipped_reason": "slot_unavailable",
            "reason": None,
            "limit": None,
        }
    ]
    booked = [o for o in occurrences if o["booking_id"] is not None]
    assert {o["status"] for o in booked} == {"held"}
    # 10 hours a day at 2.50 EUR, capped at 15.00 EUR a day.
    assert (series["total_cents"], series["currency"]) == (4 * 1500, "EUR")
    # Each occurrence is an ordinary booking that shows its series.
    mine = await my_bookings(client, bob)
    assert sorted(b["id"] for b in mine) == sorted(o["booking_id"] for o in booked)
    assert {b["series_id"] for b in mine} == {series["id"]}
    assert {b["status"] for b in mine} == {"held"}
    r = await client.get(f"/v1/booking-series/{series['id']}", headers=bob.headers)
    assert r.status_code == 200
    assert r.json() == series


async def test_limits_are_a_clear_422(client: AsyncClient, alice: Account, bob: Account) -> None:
    spot = await open_spot(client, alice)
    first = NEXT_MONDAY

    async def refused(**changes: Any) -> set[str]:
        for route in ("/v1/booking-series", "/v1/quotes/series"):
            r = await client.post(route, json=series_body(spot, **changes), headers=bob.headers)
            problem = assert_problem(r, 422, "validation_error")
        return {e["type"] for e in problem["errors"]}

    every_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    # 93 dates, from and until included.
    assert await refused(until=(first + timedelta(days=92)).isoformat()) == {"series_too_long"}
    # 101 daily occurrences break both limits; both are named.
    assert await refused(weekdays=every_day, until=(first + timedelta(days=100)).isoformat()) == {
        "series_too_long",
        "series_too_many_occurrences",
    }
    assert await refused(until=(first - timedelta(days=1)).isoformat()) == {"until_before_from"}
    assert await refused(weekdays=["sat"], until=(first + timedelta(days=4)).isoformat()) == {"series_empty"}
    # A century is refused as fast as 93 days: the occurrences are counted, not expanded.
    assert await refused(**{"from": "2000-01-01", "until": "2099-12-31"}) == {
        "series_too_long",
        "series_too_many_occurrences",
    }
    for bad in (
        {"start_time": "8:00"},
        {"end_time": "08:00", "start_time": "08:00"},
        {"weekdays": ["mon", "mon"]},
        {"weekdays": []},
        {"on_conflict": "maybe"},
        {"from": "2026-13-01"},
        {"surprise": True},
    ):
        r = await client.post("/v1/booking-series", json=series_body(spot, **bad), headers=bob.headers)
        assert_problem(r, 422, "validation_error")
    assert await my_bookings(client, bob) == []
    # The longest series is accepted: 92 dates, every day.
    longest = series_body(spot, weekdays=every_day, until=(first + timedelta(days=91)).isoformat())
    wide = await open_spot(client, alice, horizon_days=365)
    series = await book_series(client, bob, {**longest, "spot_id": wide["id"]})
    assert len(series["occurrences"]) == 92


@pytest.mark.parametrize(
    ("now", "monday"),
    [
        # Two weeks before and two after the last Sunday of March 2027 (clocks go forward) and of
        # October 2026 (back).
        (datetime(2027, 3, 1, 8, tzinfo=UTC), date(2027, 3, 15)),
        (datetime(2026, 10, 1, 8, tzinfo=UTC), date(2026, 10, 12)),
    ],
)
async def test_office_hours_stay_local_in_the_week_the_clocks_change(
    client: AsyncClient, clock: FakeClock, now: datetime, monday: date
) -> None:
    clock.set(now)
    owner, driver = await make_account(client, "owner"), await make_account(client, "driver")
    spot = await open_spot(client, owner)
    body = series_body(
        spot, **{"from": monday.isoformat(), "until": (monday + timedelta(days=25)).isoformat()}
    )
    series = await book_series(client, driver, body)
    occurrences = series["occurrences"]
    assert len(occurrences) == 20
    assert all(o["booking_id"] for o in occurrences)
    starts = [datetime.fromisoformat(o["start"]).astimezone(BERLIN) for o in occurrences]
    ends = [datetime.fromisoformat(o["end"]).astimezone(BERLIN) for o in occurrences]
    assert {(s.hour, s.minute) for s in starts} == {(8, 0)}
    assert {(e.hour, e.minute) for e in ends} == {(18, 0)}
    assert {s.weekday() for s in starts} == set(range(5))
    # Both offsets occur: the series does cross the change.
    assert {s.utcoffset() for s in starts} == {timedelta(hours=1), timedelta(hours=2)}
    assert len(await my_bookings(client, driver)) == 20


async def test_overnight_and_midnight_follow_the_availability_rules(
    client: AsyncClient, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    body = series_body(spot, weekdays=["mon"], start_time="22:00", end_time="06:00")
    [night] = (await book_series(client, bob, body))["occurrences"]
    assert (night["start"], night["end"]) == (
        z(local(NEXT_MONDAY, 22)),
        z(local(NEXT_MONDAY + timedelta(days=1), 6)),
    )
    body = series_body(spot, weekdays=["tue"], start_time="20:00", end_time="24:00")
    [evening] = (await book_series(client, bob, body))["occurrences"]
    assert evening["end"] == z(local(NEXT_MONDAY + timedelta(days=2), 0))


async def test_a_night_the_clocks_skip(client: AsyncClient, clock: FakeClock) -> None:
    clock.set(datetime(2027, 3, 1, 8, tzinfo=UTC))
    owner, driver = await make_account(client, "owner"), await make_account(client, "driver")
    spot = await open_spot(client, owner)
    sunday = date(2027, 3, 28)  # 02:00 CET jumps to 03:00 CEST
    body = series_body(spot, weekdays=["sun"], **{"from": sunday.isoformat(), "until": sunday.isoformat()})
    # 02:30 does not exist that night: the occurrence ends at the gap's end, 03:00 CEST.
    [night] = (await book_series(client, driver, {**body, "start_time": "01:00", "end_time": "02:30"}))[
        "occurrences"
    ]
    assert (night["start"], night["end"]) == ("2027-03-28T00:00:00Z", "2027-03-28T01:00:00Z")
    # Wholly inside the gap: no occurrence at all.
    r = await client.post(
        "/v1/booking-series",
        json={**body, "start_time": "02:00", "end_time": "02:30"},
        headers=driver.headers,
    )
    assert [e["type"] for e in assert_problem(r, 422, "validation_error")["errors"]] == ["series_empty"]


async def test_the_quote_answers_per_occurrence(client: AsyncClient, alice: Account, bob: Account) -> None:
    spot = await open_spot(client, alice)
    carol = await make_account(client, "carol")
    wednesday = NEXT_MONDAY + timedelta(days=2)
    await take(client, carol, spot, wednesday)
    # From last Monday: the first occurrences lie in the past.
    body = series_body(spot, **{"from": (NEXT_MONDAY - timedelta(days=7)).isoformat()})

    r = await client.post("/v1/quotes/series", json=body, headers=bob.headers)
    assert r.status_code == 200, r.text
    quote = r.json()
    assert quote["bookable"] is False
    reasons = [(o["reason_code"], o["reason"]) for o in quote["occurrences"]]
    # Monday 23 November 08:00 local is before START (09:00 local); the rest of that week is ahead.
    assert reasons[0] == ("invalid_interval", "in_the_past")
    assert reasons[1:7] == [(None, None)] * 6
    assert reasons[7] == ("slot_unavailable", None)
    assert quote["occurrences"][0]["total_cents"] == 0
    assert quote["total_cents"] == 8 * 1500
    assert quote["cancellation_policy"] == "flexible"
    skip = await client.post("/v1/quotes/series", json={**body, "on_conflict": "skip"}, headers=bob.headers)
    assert skip.json()["bookable"] is True
    assert skip.json()["total_cents"] == 8 * 1500
    # A quote books nothing.
    assert await my_bookings(client, bob) == []
    # The owner's own spot: every occurrence says so.
    own = await client.post("/v1/quotes/series", json=series_body(spot), headers=alice.headers)
    assert {o["reason_code"] for o in own.json()["occurrences"]} == {"own_spot"}
    assert_problem(
        await client.post("/v1/booking-series", json=series_body(spot), headers=alice.headers),
        409,
        "own_spot",
    )


async def test_a_vehicle_too_big_refuses_the_series(
    client: AsyncClient, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    van = await add_vehicle(client, bob, "DO-VN 1", height_cm=290)
    body = series_body(spot, vehicle_id=van["id"])
    assert_problem(
        await client.post("/v1/booking-series", json=body, headers=bob.headers), 422, "vehicle_does_not_fit"
    )
    quote = (await client.post("/v1/quotes/series", json=body, headers=bob.headers)).json()
    assert {o["reason_code"] for o in quote["occurrences"]} == {"vehicle_does_not_fit"}


async def test_confirm_confirms_the_held_and_leaves_one_cancelled_alone(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    series = await book_series(client, bob, series_body(spot))
    ids = [o["booking_id"] for o in series["occurrences"]]
    r = await client.post(f"/v1/bookings/{ids[1]}/cancel", headers=bob.headers)
    assert r.status_code == 200, r.text
    assert r.json()["series_id"] == series["id"]

    clock.advance(minutes=5)
    r = await client.post(f"/v1/booking-series/{series['id']}/confirm", headers=bob.headers)
    assert r.status_code == 200, r.text
    confirmed = r.json()
    assert confirmed["status"] == "confirmed"
    assert [o["status"] for o in confirmed["occurrences"]] == [
        "confirmed",
        "cancelled",
        "confirmed",
        "confirmed",
        "confirmed",
    ]
    assert confirmed["total_cents"] == 5 * 1500
    assert (await client.get(f"/v1/bookings/{ids[0]}", headers=alice.headers)).json()["status"] == "confirmed"
    # Nothing left to confirm.
    again = await client.post(f"/v1/booking-series/{series['id']}/confirm", headers=bob.headers)
    assert_problem(again, 409, "invalid_transition")


async def test_confirm_after_the_hold_is_409_hold_expired(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    series = await book_series(client, bob, series_body(spot))
    clock.advance(minutes=10)
    r = await client.post(f"/v1/booking-series/{series['id']}/confirm", headers=bob.headers)
    assert_problem(r, 409, "hold_expired")
    after = (await client.get(f"/v1/booking-series/{series['id']}", headers=bob.headers)).json()
    assert after["status"] == "expired"
    assert {o["status"] for o in after["occurrences"]} == {"expired"}
    # The expiry was written on the way, so the interval is free again for the single booking path.
    carol = await make_account(client, "carol")
    await take(client, carol, spot, NEXT_MONDAY)


async def test_cancel_cancels_only_what_has_not_started(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice, cancellation_policy="moderate")
    series = await book_series(client, bob, series_body(spot))
    r = await client.post(f"/v1/booking-series/{series['id']}/confirm", headers=bob.headers)
    assert r.status_code == 200, r.text
    # Wednesday 10:00 local: Monday and Tuesday are over, Wednesday is under way, Thursday is
    # less than 24 h ahead (half refunded, moderate), Friday more (fully refunded).
    clock.set(local(NEXT_MONDAY + timedelta(days=2), 10).astimezone(UTC))
    r = await client.post(
        f"/v1/booking-series/{series['id']}/cancel", json={"reason": "new job"}, headers=bob.headers
    )
    assert r.status_code == 200, r.text
    cancelled = r.json()
    assert [o["status"] for o in cancelled["occurrences"]] == [
        "confirmed",
        "confirmed",
        "confirmed",
        "cancelled",
        "cancelled",
    ]
    assert cancelled["status"] == "confirmed"  # Wednesday's stay goes on
    assert cancelled["cancelled_at"] == z(clock.now)
    assert cancelled["refund_cents"] == 1500 // 2 + 1500
    thursday = cancelled["occurrences"][3]["booking_id"]
    booking = (await client.get(f"/v1/bookings/{thursday}", headers=bob.headers)).json()
    assert (booking["status"], booking["refund_cents"]) == ("cancelled", 750)
    # Nothing left ahead.
    assert_problem(
        await client.post(f"/v1/booking-series/{series['id']}/cancel", headers=bob.headers),
        409,
        "invalid_transition",
    )


async def test_the_owner_cancels_with_a_full_refund(
    client: AsyncClient, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice, cancellation_policy="strict")
    series = await book_series(client, bob, series_body(spot))
    await client.post(f"/v1/booking-series/{series['id']}/confirm", headers=bob.headers)
    r = await client.post(f"/v1/booking-series/{series['id']}/cancel", headers=alice.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "cancelled"
    assert r.json()["refund_cents"] == 5 * 1500


async def test_an_idempotent_retry_returns_the_same_answer_and_books_nothing_new(
    client: AsyncClient, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    body = series_body(spot, "skip")
    first = await client.post(
        "/v1/booking-series", json=body, headers={**bob.headers, "Idempotency-Key": "k1"}
    )
    assert first.status_code == 201, first.text
    again = await client.post(
        "/v1/booking-series", json=body, headers={**bob.headers, "Idempotency-Key": "k1"}
    )
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(await my_bookings(client, bob)) == 5
    other = await client.post(
        "/v1/booking-series",
        json={**body, "on_conflict": "fail"},
        headers={**bob.headers, "Idempotency-Key": "k1"},
    )
    assert_problem(other, 422, "idempotency_key_reused")
    # A refusal is kept and replayed too.
    refused = await client.post(
        "/v1/booking-series", json=body, headers={**bob.headers, "Idempotency-Key": "k2"}
    )
    assert_problem(refused, 409, "series_conflict")
    replayed = await client.post(
        "/v1/booking-series", json=body, headers={**bob.headers, "Idempotency-Key": "k2"}
    )
    assert replayed.json() == refused.json()
    series_id = first.json()["id"]
    confirm = [
        await client.post(
            f"/v1/booking-series/{series_id}/confirm", headers={**bob.headers, "Idempotency-Key": "c1"}
        )
        for _ in range(2)
    ]
    assert [r.status_code for r in confirm] == [200, 200]
    assert confirm[0].json() == confirm[1].json()


async def test_who_may_see_and_change_a_series(
    client: AsyncClient, db: Database, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    series = await book_series(client, bob, series_body(spot))
    url = f"/v1/booking-series/{series['id']}"
    stranger = await make_account(client, "stranger")
    # The admin role is for moderation only: an admin sees no one else's series.
    admin = await make_account(client, "admin")
    async with db.sessionmaker() as session, session.begin():
        await set_role(session, admin.email, "admin", START)
    for method, path in (("get", url), ("post", f"{url}/confirm"), ("post", f"{url}/cancel")):
        for other in (stranger, admin):
            assert_problem(await client.request(method, path, headers=other.headers), 404, "not_found")
        assert_problem(await client.request(method, path), 401, "unauthorized")
    assert_problem(await client.get("/v1/booking-series/not-an-id", headers=bob.headers), 404, "not_found")
    # The spot's owner reads it like the driver; confirming a held series is the driver's step.
    owner_view = await client.get(url, headers=alice.headers)
    assert owner_view.status_code == 200
    assert owner_view.json()["id"] == series["id"]
    assert_problem(await client.post(f"{url}/confirm", headers=alice.headers), 403, "forbidden")


async def test_request_to_book_spots_answer_requested_and_the_owner_approves(
    client: AsyncClient, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice, instant_book=False)
    series = await book_series(client, bob, series_body(spot))
    assert series["status"] == "requested"
    assert {o["status"] for o in series["occurrences"]} == {"requested"}
    url = f"/v1/booking-series/{series['id']}/confirm"
    assert_problem(await client.post(url, headers=bob.headers), 403, "forbidden")
    r = await client.post(url, headers=alice.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "confirmed"
    assert {o["status"] for o in r.json()["occurrences"]} == {"confirmed"}


async def test_every_occurrence_has_its_events(
    client: AsyncClient, db: Database, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    series = await book_series(client, bob, series_body(spot))
    await client.post(f"/v1/booking-series/{series['id']}/confirm", headers=bob.headers)
    await client.post(f"/v1/booking-series/{series['id']}/cancel", headers=alice.headers)
    async with db.sessionmaker() as session:
        rows = await session.execute(
            text(
                "select e.type, count(distinct e.booking_id), count(*) from events e"
                " join bookings b on b.id = e.booking_id where b.series_id = :s"
                " and e.owner_id = :owner and e.driver_id = :driver group by e.type order by e.type"
            ),
            {"s": series["id"], "owner": alice.id, "driver": bob.id},
        )
        history = await session.scalar(
            text(
                "select count(*) from booking_events h join bookings b on b.id = h.booking_id where b.series_id = :s"
            ),
            {"s": series["id"]},
        )
    assert [tuple(r) for r in rows] == [
        ("booking.cancelled", 5, 5),
        ("booking.confirmed", 5, 5),
        ("booking.held", 5, 5),
    ]
    assert history == 15


async def test_the_export_lists_the_drivers_series(client: AsyncClient, alice: Account, bob: Account) -> None:
    spot = await open_spot(client, alice)
    series = await book_series(client, bob, series_body(spot))
    export = (await client.get("/v1/me/export", headers=bob.headers)).json()
    assert [s["id"] for s in export["booking_series"]] == [series["id"]]
    assert {b["series_id"] for b in export["bookings_as_driver"]} == {series["id"]}
    assert (await client.get("/v1/me/export", headers=alice.headers)).json()["booking_series"] == []


async def test_deleting_the_drivers_account_cancels_the_occurrences_ahead(
    client: AsyncClient, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    series = await book_series(client, bob, series_body(spot))
    await client.post(f"/v1/booking-series/{series['id']}/confirm", headers=bob.headers)
    r = await client.request("DELETE", "/v1/me", json={"password": PASSWORD}, headers=bob.headers)
    assert r.status_code == 204, r.text
    after = (await client.get(f"/v1/booking-series/{series['id']}", headers=alice.headers)).json()
    assert after["status"] == "cancelled"
    assert {o["status"] for o in after["occurrences"]} == {"cancelled"}
    assert after["refund_cents"] == 5 * 1500  # flexible: all of it, a week ahead


# --- the race: real transactions --------------------------------------------------------------------


@pytest.mark.parametrize("on_conflict", ["fail", "skip"])
async def test_a_series_races_single_bookings_of_its_occurrences(
    committed_client: AsyncClient, committed_db: Database, on_conflict: str
) -> None:
    client = committed_client
    owner = await make_account(client, "owner")
    spot = await open_spot(client, owner)
    commuter = await make_account(client, "commuter")
    singles = [await make_account(client, f"single{n}") for n in range(10)]
    # Two weeks of workdays: ten occurrences, and one single booking inside each.
    body = series_body(spot, on_conflict, until=(NEXT_MONDAY + timedelta(days=11)).isoformat())
    days = [NEXT_MONDAY + timedelta(days=k) for k in range(12) if k % 7 < 5]
    barrier = asyncio.Event()

    async def series_attempt() -> tuple[int, dict[str, Any]]:
        await barrier.wait()
        r = await client.post("/v1/booking-series", json=body, headers=commuter.headers)
        if r.status_code != 201:
            assert r.json()["code"] == "series_conflict", r.text
        return r.status_code, r.json()

    async def single_attempt(driver: Account, day: date) -> int:
        await barrier.wait()
        r = await client.post(
            "/v1/bookings",
            headers=driver.headers,
            json={"spot_id": spot["id"], "start": z(local(day, 12)), "end": z(local(day, 13))},
        )
        if r.status_code != 201:
            assert r.json()["code"] == "slot_unavailable", r.text
        return r.status_code

    series_task = asyncio.create_task(series_attempt())
    single_tasks = [asyncio.create_task(single_attempt(d, day)) for d, day in zip(singles, days, strict=True)]
    await asyncio.sleep(0.05)
    barrier.set()
    (series_status, answer), single_statuses = await series_task, await asyncio.gather(*single_tasks)

    won = single_statuses.count(201)
    assert set(single_statuses) <= {201, 409}
    if on_conflict == "fail":
        # The series came first and every single lost, or a single came first and the
        # all-or-nothing series lost: never a mix.
        assert (series_status, won) in ((201, 0), (409, 10))
    elif won == 10:
        assert series_status == 409  # nothing left to book
    else:
        assert series_status == 201
        # Each occurrence went to the series or to the single booking inside it.
        skipped = [o for o in answer["occurrences"] if o["booking_id"] is None]
        assert len(skipped) == won
        assert {o["skipped_reason"] for o in skipped} <= {"slot_unavailable"}
    async with committed_db.sessionmaker() as session:
        clashes = await session.scalar(
            text(
                "select count(*) from bookings a join bookings b on a.spot_id = b.spot_id and a.id < b.id"
                " where a.status in ('held', 'requested', 'confirmed')"
                " and b.status in ('held', 'requested', 'confirmed')"
                " and tstzrange(a.start_at, a.end_at, '[)') && tstzrange(b.start_at, b.end_at, '[)')"
            )
        )
        count = await session.scalar(
            text(
                "select count(*) from bookings where spot_id = :s"
                " and status in ('held', 'requested', 'confirmed')"
            ),
            {"s": spot["id"]},
        )
    assert clashes == 0
    # Every day was booked exactly once, by one side or the other.
    assert count == 10
