"""Reviews (docs/api.md, "Reviews"): after a completed booking, driver and owner review each other
once within 14 days; hidden until both have or the 14 days are over; the owner's reply; an admin
hides one; ratings in the spot's views, in search (`sort=rating`) and in the owner's view of a
request. Against the real database, on the fake clock."""

from __future__ import annotations

import asyncio
import json
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import func, select, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import col

from app.admin.models import AuditEntry
from app.db import Database
from app.reviews.models import Review
from tests.conftest import START, FakeClock, assert_problem, at
from tests.factories import Account, book, booked, make_account, open_spot
from tests.test_admin import make_admin

DAY = timedelta(days=1)
WINDOW = timedelta(days=14)


@dataclass
class Done:
    """A booking of `driver` at `owner`'s spot of two hours from the next whole hour (after START)
    plus one, over: the clock stands at its end plus an hour."""

    owner: Account
    driver: Account
    spot: dict[str, Any]
    booking: dict[str, Any]
    end: datetime


async def done(client: AsyncClient, clock: FakeClock, **rules: Any) -> Done:
    owner = await make_account(client, "owner")
    driver = await make_account(client, "driver")
    spot = await open_spot(client, owner, **rules)
    hours = math.ceil((clock.now - START) / timedelta(hours=1))
    booking = await booked(client, driver, spot, hours + 2, hours + 4)
    end = START + timedelta(hours=hours + 4)
    clock.now = end + timedelta(hours=1)
    return Done(owner, driver, spot, booking, end)


async def review(
    client: AsyncClient, who: Account, booking: dict[str, Any], rating: int = 5, comment: str | None = None
) -> Any:
    body: dict[str, Any] = {"rating": rating}
    if comment is not None:
        body["comment"] = comment
    return await client.post(f"/v1/bookings/{booking['id']}/review", headers=who.headers, json=body)


async def reviewed(
    client: AsyncClient, who: Account, booking: dict[str, Any], rating: int = 5, comment: str | None = None
) -> dict[str, Any]:
    r = await review(client, who, booking, rating, comment)
    assert r.status_code == 201, r.text
    return dict(r.json())


async def listed(client: AsyncClient, spot: dict[str, Any], **params: Any) -> dict[str, Any]:
    r = await client.get(f"/v1/spots/{spot['id']}/reviews", params=params)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def rating_of(client: AsyncClient, spot: dict[str, Any]) -> dict[str, Any]:
    r = await client.get(f"/v1/spots/{spot['id']}")
    assert r.status_code == 200, r.text
    return dict(r.json()["rating"])


def z(when: datetime) -> str:
    return at(0, when)


# --- writing, and when a review is shown -------------------------------------------------------


async def test_both_review_and_both_are_shown_with_the_second(client: AsyncClient, clock: FakeClock) -> None:
    s = await done(client, clock)
    assert await rating_of(client, s.spot) == {"average": None, "count": 0}
    mine = await reviewed(client, s.driver, s.booking, 4, "Easy to find")
    assert mine["author_role"] == "driver"
    assert mine["author"] == {"display_name": "Driver"}
    assert (mine["rating"], mine["comment"], mine["reply"]) == (4, "Easy to find", None)
    # Alone, it waits for the owner's review or the end of the window.
    assert mine["visible_at"] == z(s.end + WINDOW)
    assert (await listed(client, s.spot))["items"] == []
    assert await rating_of(client, s.spot) == {"average": None, "count": 0}
    # Neither can the owner read it before writing their own.
    r = await client.get(f"/v1/bookings/{s.booking['id']}/reviews", headers=s.owner.headers)
    assert r.json()["items"] == []

    clock.advance(hours=2)
    theirs = await reviewed(client, s.owner, s.booking, 5, "On time")
    assert theirs["author_role"] == "owner"
    assert theirs["visible_at"] == z(clock.now)
    [shown] = (await listed(client, s.spot))["items"]
    assert shown["id"] == mine["id"]
    assert shown["visible_at"] == z(clock.now)
    assert await rating_of(client, s.spot) == {"average": 4.0, "count": 1}
    # Both parties now read both; the owner's review of the driver is not on the spot.
    for who in (s.driver, s.owner):
        r = await client.get(f"/v1/bookings/{s.booking['id']}/reviews", headers=who.headers)
        assert [i["author_role"] for i in r.json()["items"]] == ["driver", "owner"]


async def test_a_lone_review_is_shown_when_the_window_closes(client: AsyncClient, clock: FakeClock) -> None:
    s = await done(client, clock)
    await reviewed(client, s.owner, s.booking, 2)
    mine = await reviewed(client, s.driver, s.booking, 3)
    # The second review shows both at once (the owner's was first).
    assert mine["visible_at"] == z(clock.now)

    other = await done(client, clock)
    await reviewed(client, other.driver, other.booking, 5)
    clock.now = other.end + WINDOW - timedelta(seconds=1)
    assert (await listed(client, other.spot))["items"] == []
    assert await rating_of(client, other.spot) == {"average": None, "count": 0}
    clock.now = other.end + WINDOW
    assert [i["rating"] for i in (await listed(client, other.spot))["items"]] == [5]
    assert await rating_of(client, other.spot) == {"average": 5.0, "count": 1}
    # Too late now for the owner to answer with a review of their own.
    assert_problem(await review(client, other.owner, other.booking), 409, "review_window_closed")


async def test_once_each(client: AsyncClient, clock: FakeClock) -> None:
    s = await done(client, clock)
    await reviewed(client, s.driver, s.booking)
    assert_problem(await review(client, s.driver, s.booking, 1), 409, "conflict")
    await reviewed(client, s.owner, s.booking)
    assert_problem(await review(client, s.owner, s.booking, 1), 409, "conflict")
    r = await client.get(f"/v1/bookings/{s.booking['id']}/reviews", headers=s.driver.headers)
    assert [i["rating"] for i in r.json()["items"]] == [5, 5]


async def test_the_database_refuses_a_second_review_of_one_party(
    client: AsyncClient, clock: FakeClock, db: Database
) -> None:
    s = await done(client, clock)
    await reviewed(client, s.driver, s.booking)
    async with db.sessionmaker() as session:
        with pytest.raises(IntegrityError, match="uq_reviews_booking_id_author_role"):
            await session.execute(
                text(
                    "insert into reviews (id, booking_id, spot_id, author_id, subject_id, author_role,"
                    " rating, visible_at) select gen_random_uuid(), booking_id, spot_id, author_id,"
                    " subject_id, author_role, 1, visible_at from reviews where booking_id = :id"
                ),
                {"id": s.booking["id"]},
            )


async def test_not_before_the_booking_is_over(client: AsyncClient, clock: FakeClock) -> None:
    owner = await make_account(client, "owner")
    driver = await make_account(client, "driver")
    spot = await open_spot(client, owner)
    held = await booked(client, driver, spot, 2, 4, confirm=False)
    confirmed = await booked(client, driver, spot, 5, 6)
    cancelled = await booked(client, driver, spot, 7, 8)
    r = await client.post(f"/v1/bookings/{cancelled['id']}/cancel", headers=driver.headers)
    assert r.status_code == 200, r.text
    for b in (held, confirmed, cancelled):
        for who in (driver, owner):
            assert_problem(await review(client, who, b), 409, "invalid_transition")
    # Past its end a confirmed booking counts as completed, whether or not the sweeper has run.
    clock.now = START + timedelta(hours=6)
    assert (await client.get(f"/v1/bookings/{confirmed['id']}", headers=driver.headers)).json()[
        "status"
    ] == "confirmed"
    await reviewed(client, driver, confirmed)
    # The hold expired unconfirmed: nothing to review.
    assert_problem(await review(client, driver, held), 409, "invalid_transition")


async def test_not_while_the_at_the_spot_rules_still_decide(client: AsyncClient, clock: FakeClock) -> None:
    owner = await make_account(client, "owner")
    driver = await make_account(client, "driver")
    spot = await open_spot(client, owner)
    required = await open_spot(client, owner, check_in_required=True)
    parked = await booked(client, driver, spot, 2, 4)
    missed = await booked(client, driver, required, 2, 4)
    clock.now = START + timedelta(hours=2)
    r = await client.post(f"/v1/bookings/{parked['id']}/check-in", headers=driver.headers)
    assert r.status_code == 200, r.text
    # Past the end: the car is still there (it will overstay), and the other was never checked in
    # where that is required (it will be a no-show). Neither is over yet.
    clock.now = START + timedelta(hours=4, minutes=5)
    for b in (parked, missed):
        assert_problem(await review(client, driver, b), 409, "invalid_transition")
    r = await client.post(f"/v1/bookings/{parked['id']}/check-out", headers=driver.headers)
    assert r.status_code == 200, r.text
    await reviewed(client, driver, parked)


async def test_not_after_fourteen_days(client: AsyncClient, clock: FakeClock) -> None:
    s = await done(client, clock)
    clock.now = s.end + WINDOW
    body = assert_problem(await review(client, s.driver, s.booking), 409, "review_window_closed")
    assert z(s.end + WINDOW).removesuffix("Z") in body["detail"]
    clock.now = s.end + WINDOW - timedelta(seconds=1)
    await reviewed(client, s.driver, s.booking)


async def test_strangers_find_no_booking_to_review(client: AsyncClient, clock: FakeClock) -> None:
    s = await done(client, clock)
    stranger = await make_account(client, "stranger")
    assert_problem(await review(client, stranger, s.booking), 404, "not_found")
    r = await client.get(f"/v1/bookings/{s.booking['id']}/reviews", headers=stranger.headers)
    assert_problem(r, 404, "not_found")
    assert_problem(await review(client, s.driver, {"id": "not-an-id"}), 404, "not_found")
    r = await client.post(f"/v1/bookings/{s.booking['id']}/review", json={"rating": 5})
    assert_problem(r, 401, "unauthorized")
    # What a stranger tried left nothing behind.
    await reviewed(client, s.driver, s.booking)


@pytest.mark.parametrize(
    "body",
    [
        {"rating": 0},
        {"rating": 6},
        {"rating": "5"},
        {"rating": 4.5},
        {},
        {"rating": 5, "comment": "x" * 1001},
        {"rating": 5, "stars": 5},
    ],
)
async def test_bad_reviews_are_422(client: AsyncClient, clock: FakeClock, body: dict[str, Any]) -> None:
    s = await done(client, clock)
    r = await client.post(f"/v1/bookings/{s.booking['id']}/review", headers=s.driver.headers, json=body)
    assert_problem(r, 422, "validation_error")


async def test_a_comment_of_a_thousand_characters_is_kept(client: AsyncClient, clock: FakeClock) -> None:
    s = await done(client, clock)
    text_ = "Gut.\n" + "x" * 995
    assert (await reviewed(client, s.driver, s.booking, 4, text_))["comment"] == text_


async def test_two_reviews_of_one_author_at_once_leave_one(committed_client: AsyncClient) -> None:
    transport = committed_client._transport
    assert isinstance(transport, ASGITransport)
    clock = transport.app.state.clock  # type: ignore[attr-defined]
    assert isinstance(clock, FakeClock)
    s = await done(committed_client, clock)
    answers = await asyncio.gather(
        *(review(committed_client, s.driver, s.booking, rating) for rating in (1, 2, 3, 4))
    )
    assert sorted(r.status_code for r in answers) == [201, 409, 409, 409]
    for r in answers:
        if r.status_code == 409:
            assert r.json()["code"] == "conflict"
    # The owner's, written at the same time as the driver's, shows both.
    owner, driver = await asyncio.gather(
        review(committed_client, s.owner, s.booking), review(committed_client, s.driver, s.booking)
    )
    assert owner.status_code == 201, owner.text
    assert driver.status_code == 409
    [shown] = (await listed(committed_client, s.spot))["items"]
    assert shown["rating"] == next(r.json()["rating"] for r in answers if r.status_code == 201)


# --- replies --------------------------------------------------------------------------------------


async def test_the_reviewed_party_replies_once(client: AsyncClient, clock: FakeClock) -> None:
    s = await done(client, clock)
    stranger = await make_account(client, "stranger")
    of_spot = await reviewed(client, s.driver, s.booking, 4, "Tight corner")
    reply = {"comment": "Thanks, I marked the corner"}
    # Not shown yet: the owner cannot know of it.
    r = await client.post(f"/v1/reviews/{of_spot['id']}/reply", headers=s.owner.headers, json=reply)
    assert_problem(r, 404, "not_found")
    of_driver = await reviewed(client, s.owner, s.booking, 3, "Late by ten minutes")

    r = await client.post(f"/v1/reviews/{of_spot['id']}/reply", headers=s.owner.headers, json=reply)
    assert r.status_code == 200, r.text
    assert r.json()["reply"] == {"comment": reply["comment"], "created_at": z(clock.now)}
    assert (await listed(client, s.spot))["items"][0]["reply"]["comment"] == reply["comment"]
    r = await client.post(f"/v1/reviews/{of_spot['id']}/reply", headers=s.owner.headers, json=reply)
    assert_problem(r, 409, "conflict")
    # Its author and a reader of the public review may not answer it.
    for who in (s.driver, stranger):
        r = await client.post(f"/v1/reviews/{of_spot['id']}/reply", headers=who.headers, json=reply)
        assert_problem(r, 403, "forbidden")

    # The driver answers the owner's review of them; strangers never see that one.
    r = await client.post(f"/v1/reviews/{of_driver['id']}/reply", headers=stranger.headers, json=reply)
    assert_problem(r, 404, "not_found")
    r = await client.post(f"/v1/reviews/{of_driver['id']}/reply", headers=s.owner.headers, json=reply)
    assert_problem(r, 403, "forbidden")
    r = await client.post(
        f"/v1/reviews/{of_driver['id']}/reply", headers=s.driver.headers, json={"comment": "Traffic"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["reply"]["comment"] == "Traffic"
    r = await client.post(f"/v1/reviews/{of_driver['id']}/reply", headers=s.driver.headers, json=reply)
    assert_problem(r, 409, "conflict")
    assert_problem(
        await client.post("/v1/reviews/nope/reply", headers=s.owner.headers, json=reply), 404, "not_found"
    )
    assert_problem(await client.post(f"/v1/reviews/{of_spot['id']}/reply", json=reply), 401, "unauthorized")
    r = await client.post(f"/v1/reviews/{of_driver['id']}/reply", headers=s.driver.headers, json={})
    assert_problem(r, 422, "validation_error")


# --- moderation -----------------------------------------------------------------------------------


async def test_an_admin_hides_a_review(client: AsyncClient, clock: FakeClock, db: Database) -> None:
    admin = await make_admin(client, db)
    s = await done(client, clock)
    mine = await reviewed(client, s.driver, s.booking, 1, "Rude words")
    await reviewed(client, s.owner, s.booking, 5)
    again = await booked(client, s.driver, s.spot, 30, 31)
    clock.now = START + timedelta(hours=32)
    await reviewed(client, s.driver, again, 5)
    await reviewed(client, s.owner, again, 5)
    assert await rating_of(client, s.spot) == {"average": 3.0, "count": 2}

    path = f"/v1/admin/reviews/{mine['id']}/hide"
    reason = {"reason": "Insults the owner"}
    for who in (s.owner, s.driver):
        assert_problem(await client.post(path, headers=who.headers, json=reason), 403, "forbidden")
    assert_problem(await client.post(path, json=reason), 401, "unauthorized")
    assert_problem(await client.post(path, headers=admin.headers, json={}), 422, "validation_error")
    r = await client.post(path, headers=admin.headers, json=reason)
    assert r.status_code == 200, r.text
    assert r.json() == {"id": mine["id"], "hidden_at": z(clock.now)}
    assert_problem(await client.post(path, headers=admin.headers, json=reason), 409, "conflict")
    r = await client.post("/v1/admin/reviews/nope/hide", headers=admin.headers, json=reason)
    assert_problem(r, 404, "not_found")

    # Out of the list, the average and the booking's reviews; the other review stays.
    assert [i["rating"] for i in (await listed(client, s.spot))["items"]] == [5]
    assert await rating_of(client, s.spot) == {"average": 5.0, "count": 1}
    r = await client.get(f"/v1/bookings/{s.booking['id']}/reviews", headers=s.owner.headers)
    assert [i["author_role"] for i in r.json()["items"]] == ["owner"]
    # Audited, with the reason.
    audit = (await client.get("/v1/admin/audit", headers=admin.headers)).json()["items"]
    assert audit[0]["action"] == "review.hide"
    assert audit[0]["target"] == {"type": "review", "id": mine["id"]}
    assert audit[0]["reason"] == reason["reason"]
    assert audit[0]["actor"]["id"] == admin.id
    async with db.sessionmaker() as session:
        count = await session.scalar(
            select(func.count()).select_from(AuditEntry).where(col(AuditEntry.action) == "review.hide")
        )
    assert count == 1


# --- ratings --------------------------------------------------------------------------------------


async def test_the_average_is_rounded_to_one_decimal(client: AsyncClient, clock: FakeClock) -> None:
    owner = await make_account(client, "owner")
    driver = await make_account(client, "driver")
    spot = await open_spot(client, owner)
    bookings = [await booked(client, driver, spot, 2 + i, 3 + i) for i in range(3)]
    clock.now = START + timedelta(hours=6)
    for b, rating in zip(bookings, (5, 4, 4), strict=True):
        await reviewed(client, driver, b, rating)
    clock.now = START + timedelta(hours=6) + WINDOW
    # 13 / 3 = 4.333...
    assert await rating_of(client, spot) == {"average": 4.3, "count": 3}
    r = await client.get(f"/v1/spots/{spot['id']}", headers=owner.headers)
    assert r.json()["view"] == "full"
    assert r.json()["rating"] == {"average": 4.3, "count": 3}
    mine = (await client.get("/v1/me/spots", headers=owner.headers)).json()["items"]
    assert [s["rating"] for s in mine] == [{"average": 4.3, "count": 3}]
    # Paged, newest shown first; all three were shown at the same instant, so by id.
    first = await listed(client, spot, limit=2)
    rest = await listed(client, spot, limit=2, cursor=first["next_cursor"])
    assert len(first["items"]) == 2
    assert rest["next_cursor"] is None
    assert len({i["id"] for i in first["items"] + rest["items"]}) == 3


async def test_search_shows_and_sorts_by_rating(client: AsyncClient, clock: FakeClock) -> None:
    owner = await make_account(client, "owner")
    driver = await make_account(client, "driver")

    async def rated(lat: float, ratings: list[int]) -> dict[str, Any]:
        spot = await open_spot(client, owner)
        r = await client.patch(
            f"/v1/spots/{spot['id']}",
            headers=owner.headers,
            json={"location": {"lat": lat, "lon": 7.447}},
        )
        assert r.status_code == 200, r.text
        spot["bookings"] = [await booked(client, driver, spot, 2 + i, 3 + i) for i in range(len(ratings))]
        spot["ratings"] = ratings
        return spot

    # A thousandth of a degree apart: the public location, which search measures, is rounded so.
    unrated = await rated(51.505, [])
    near_4_5 = await rated(51.506, [5, 4])
    far_4_5 = await rated(51.507, [4, 5])
    many_4_5 = await rated(51.508, [5, 4, 5, 4])
    best = await rated(51.509, [5])
    clock.now = START + timedelta(hours=8)
    for spot in (near_4_5, far_4_5, many_4_5, best):
        for b, rating in zip(spot["bookings"], spot["ratings"], strict=True):
            await reviewed(client, driver, b, rating)
    clock.now += WINDOW
    expected = [best, many_4_5, near_4_5, far_4_5, unrated]
    params = {
        "lat": 51.505,
        "lon": 7.447,
        "radius_m": 800,
        "start": at(2, clock.now),
        "end": at(4, clock.now),
    }
    r = await client.get("/v1/search", params={**params, "sort": "rating"})
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert [i["spot"]["id"] for i in items] == [s["id"] for s in expected]
    assert [i["spot"]["rating"] for i in items] == [
        {"average": 5.0, "count": 1},
        {"average": 4.5, "count": 4},
        {"average": 4.5, "count": 2},
        {"average": 4.5, "count": 2},
        {"average": None, "count": 0},
    ]
    # The default order carries the ratings too.
    r = await client.get("/v1/search", params=params)
    by_distance = {i["spot"]["id"]: i["spot"]["rating"] for i in r.json()["items"]}
    assert by_distance[best["id"]] == {"average": 5.0, "count": 1}
    assert r.json()["items"][0]["spot"]["id"] == unrated["id"]
    # Page by page, the same order.
    seen: list[str] = []
    cursor = None
    for _ in range(6):
        page = {**params, "sort": "rating", "limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/v1/search", params=page)
        assert r.status_code == 200, r.text
        seen += [i["spot"]["id"] for i in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert seen == [s["id"] for s in expected]
    # A cursor of another sort does not continue this one.
    r = await client.get("/v1/search", params={**params, "sort": "price", "limit": 2})
    r = await client.get("/v1/search", params={**params, "sort": "rating", "cursor": r.json()["next_cursor"]})
    assert_problem(r, 422, "validation_error")


async def test_the_owner_of_a_request_sees_the_drivers_rating(client: AsyncClient, clock: FakeClock) -> None:
    s = await done(client, clock)
    await reviewed(client, s.owner, s.booking, 2, "Blocked the gate")
    await reviewed(client, s.driver, s.booking, 5)
    other_owner = await make_account(client, "other")
    asked = await open_spot(client, other_owner, instant_book=False)
    r = await book(client, s.driver, asked, 30, 31)
    assert r.status_code == 201, r.text
    request = r.json()
    assert request["status"] == "requested"
    assert request["driver_rating"] is None  # the driver's own view

    r = await client.get(f"/v1/bookings/{request['id']}", headers=other_owner.headers)
    assert r.json()["driver_rating"] == {"average": 2.0, "count": 1}
    r = await client.get("/v1/me/bookings", params={"role": "owner"}, headers=other_owner.headers)
    assert [b["driver_rating"] for b in r.json()["items"]] == [{"average": 2.0, "count": 1}]
    r = await client.get(f"/v1/bookings/{request['id']}", headers=s.driver.headers)
    assert r.json()["driver_rating"] is None
    # Only the aggregate: the owner's words about the driver stay between the two parties.
    assert "Blocked the gate" not in json.dumps(r.json())
    r = await client.get(f"/v1/bookings/{s.booking['id']}/reviews", headers=other_owner.headers)
    assert_problem(r, 404, "not_found")
    # Once decided, it waits no more.
    r = await client.post(f"/v1/bookings/{request['id']}/approve", headers=other_owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["driver_rating"] is None
    r = await client.get(f"/v1/bookings/{request['id']}", headers=other_owner.headers)
    assert r.json()["driver_rating"] is None


async def test_a_driver_without_reviews_shows_no_rating_yet(client: AsyncClient, clock: FakeClock) -> None:
    owner = await make_account(client, "owner")
    driver = await make_account(client, "driver")
    spot = await open_spot(client, owner, instant_book=False)
    request = await booked(client, driver, spot, 2, 3, confirm=False)
    r = await client.get(f"/v1/bookings/{request['id']}", headers=owner.headers)
    assert r.json()["driver_rating"] == {"average": None, "count": 0}
    # Past its deadline the request is expired: nothing waits for the owner.
    clock.now = START + timedelta(hours=2)
    r = await client.get(f"/v1/bookings/{request['id']}", headers=owner.headers)
    assert r.json()["status"] == "expired"
    assert r.json()["driver_rating"] is None


async def test_the_public_list_shows_no_private_data(client: AsyncClient, clock: FakeClock) -> None:
    s = await done(client, clock)
    await reviewed(client, s.driver, s.booking, 5, "Fine")
    await reviewed(client, s.owner, s.booking, 4, "Polite")
    body = json.dumps(await listed(client, s.spot))
    for private in (s.driver.email, s.owner.email, s.driver.id, s.owner.id, "Polite"):
        assert private not in body
    [item] = json.loads(body)["items"]
    assert set(item) == {
        "id",
        "booking_id",
        "spot_id",
        "author_role",
        "author",
        "rating",
        "comment",
        "created_at",
        "visible_at",
        "reply",
    }
    assert item["author"] == {"display_name": "Driver"}
    assert_problem(await client.get("/v1/spots/nope/reviews"), 404, "not_found")
    for bad in ({"cursor": "junk"}, {"limit": 0}, {"limit": 101}):
        r = await client.get(f"/v1/spots/{s.spot['id']}/reviews", params=bad)
        assert_problem(r, 422, "validation_error")


async def test_an_unlisted_spots_reviews_are_404_for_the_public(
    client: AsyncClient, clock: FakeClock, db: Database
) -> None:
    admin = await make_admin(client, db)
    s = await done(client, clock)
    r = await client.post(
        f"/v1/admin/spots/{s.spot['id']}/unlist", headers=admin.headers, json={"reason": "Fake"}
    )
    assert r.status_code == 200, r.text
    assert_problem(await client.get(f"/v1/spots/{s.spot['id']}/reviews"), 404, "not_found")
    r = await client.get(f"/v1/spots/{s.spot['id']}/reviews", headers=s.driver.headers)
    assert_problem(r, 404, "not_found")
    for who in (s.owner, admin):
        r = await client.get(f"/v1/spots/{s.spot['id']}/reviews", headers=who.headers)
        assert r.status_code == 200, r.text


# --- privacy --------------------------------------------------------------------------------------


async def test_export_and_erasure(client: AsyncClient, clock: FakeClock, db: Database) -> None:
    s = await done(client, clock)
    await reviewed(client, s.driver, s.booking, 2, "Muddy")
    # Not shown yet: the owner's export does not unseal it.
    r = await client.get("/v1/me/export", headers=s.owner.headers)
    assert r.json()["reviews_received"] == []
    clock.advance(minutes=5)
    await reviewed(client, s.owner, s.booking, 4, "Friendly")
    r = await client.post(
        f"/v1/reviews/{(await listed(client, s.spot))['items'][0]['id']}/reply",
        headers=s.owner.headers,
        json={"comment": "We laid gravel"},
    )
    assert r.status_code == 200, r.text

    doc = (await client.get("/v1/me/export", headers=s.driver.headers)).json()
    assert [(x["rating"], x["comment"], x["hidden_at"]) for x in doc["reviews_written"]] == [
        (2, "Muddy", None)
    ]
    assert [(x["rating"], x["comment"]) for x in doc["reviews_received"]] == [(4, "Friendly")]

    # The owner leaves: their words go, their ratings stay in the driver's average.
    r = await client.request(
        "DELETE", "/v1/me", headers=s.owner.headers, json={"password": "correct horse battery"}
    )
    assert r.status_code == 204, r.text
    async with db.sessionmaker() as session:
        rows = list(await session.scalars(select(Review).order_by(col(Review.author_role))))
    assert [(x.author_role, x.rating, x.comment, x.reply_comment) for x in rows] == [
        ("driver", 2, "Muddy", None),
        ("owner", 4, None, None),
    ]
    assert rows[0].replied_at is not None
    r = await client.get(f"/v1/bookings/{s.booking['id']}/reviews", headers=s.driver.headers)
    assert [(i["author"]["display_name"], i["comment"]) for i in r.json()["items"]] == [
        ("Driver", "Muddy"),
        ("Deleted user", None),
    ]


async def test_a_retried_review_is_answered_again(client: AsyncClient, clock: FakeClock) -> None:
    s = await done(client, clock)
    path = f"/v1/bookings/{s.booking['id']}/review"
    headers = {**s.driver.headers, "Idempotency-Key": "review-1"}
    first = await client.post(path, headers=headers, json={"rating": 4})
    assert first.status_code == 201, first.text
    again = await client.post(path, headers=headers, json={"rating": 4})
    assert again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    r = await client.post(path, headers=headers, json={"rating": 5})
    assert_problem(r, 422, "idempotency_key_reused")
    # Without the key, a second review is refused as usual.
    assert_problem(await review(client, s.driver, s.booking, 4), 409, "conflict")
