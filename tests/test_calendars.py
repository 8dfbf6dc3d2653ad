"""Calendar feeds (docs/api.md, "Calendar feeds"): secret URLs, what each feed shows and when,
and that calendar programs can read what it answers."""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from httpx import AsyncClient
from icalendar import Calendar
from icalendar.cal import Component
from sqlalchemy import text

from app.calendars import service
from app.db import Database
from booking.states import Status
from tests.conftest import START, FakeClock, assert_problem, at
from tests.factories import (
    Account,
    add_rule,
    add_vehicle,
    book,
    booked,
    make_account,
    make_spot,
    open_spot,
    spot_body,
)

# A house number no id, time or hash can contain ("z" is not a hex digit).
HOUSE_NUMBER = "7z"
ACCESS = "Gate code 4711, then the second door"
EXACT = {"lat": 51.505123, "lon": 7.447456}
ROUNDED = (51.505, 7.447)


# --- helpers ----------------------------------------------------------------------------------


async def spot_feed_url(client: AsyncClient, owner: Account, spot: dict[str, Any]) -> str:
    r = await client.post(f"/v1/spots/{spot['id']}/calendar-token", headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    url: str = r.json()["url"]
    return url


async def driver_feed_url(client: AsyncClient, driver: Account) -> str:
    r = await client.post("/v1/me/calendar-token", headers=driver.headers)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    url: str = r.json()["url"]
    return url


def token_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["token"][0]


def check_lines(body: bytes) -> None:
    """RFC 5545 section 3.1: every line ends with CRLF and is at most 75 octets long, a longer
    one folded with a CRLF and a space."""
    assert body.endswith(b"\r\n")
    lines = body[:-2].split(b"\r\n")
    for line in lines:
        assert b"\r" not in line
        assert b"\n" not in line
        assert len(line) <= 75, line
        line.decode("utf-8")  # folding never splits a character


def unfolded(body: bytes) -> str:
    return body.replace(b"\r\n ", b"").decode()


async def feed(client: AsyncClient, url: str, **headers: str) -> Calendar:
    """The feed as a calendar program reads it, after checking the answer and its lines."""
    r = await client.get(url, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/calendar; charset=utf-8"
    check_lines(r.content)
    calendar = Calendar.from_ical(r.content)
    assert isinstance(calendar, Calendar)
    assert str(calendar["PRODID"]) == "-//parkshare//calendar//EN"
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["CALSCALE"]) == "GREGORIAN"
    assert str(calendar["METHOD"]) == "PUBLISH"
    assert "REFRESH-INTERVAL;VALUE=DURATION:PT15M\r\n" in r.text
    assert "X-PUBLISHED-TTL:PT15M\r\n" in r.text
    return calendar


def events(calendar: Calendar) -> dict[str, Component]:
    """The calendar's events by booking id."""
    found = {str(e["UID"]).removesuffix("@parkshare"): e for e in calendar.walk("VEVENT")}
    assert len(found) == len(calendar.walk("VEVENT"))
    return found


def when(event: Component, name: str) -> datetime:
    value = event.decoded(name)
    assert isinstance(value, datetime)
    assert value.utcoffset() == timedelta(0)
    return value


async def hidden_spot(client: AsyncClient, owner: Account, **rules: Any) -> dict[str, Any]:
    """An always-open spot whose private details are easy to look for."""
    body = spot_body(rules={"buffer_min": 0, **rules}, location=EXACT, access_instructions=ACCESS)
    body["address"]["house_number"] = HOUSE_NUMBER
    r = await client.post("/v1/spots", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    spot = dict(r.json())
    await add_rule(client, owner, spot)
    return spot


# --- issuing and revoking ---------------------------------------------------------------------


async def test_an_owner_gets_an_absolute_secret_url_of_the_spots_feed(
    client: AsyncClient, db: Database, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    booking = await booked(client, bob, spot, 2, 4)
    url = await spot_feed_url(client, alice, spot)
    assert url.startswith(f"http://test/v1/spots/{spot['id']}/calendar.ics?token=")
    token = token_of(url)
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", token)

    calendar = await feed(client, url)
    assert str(calendar["X-WR-CALNAME"]) == spot["title"]
    event = events(calendar)[booking["id"]]
    assert str(event["SUMMARY"]) == "Booked by Bob"
    assert str(event["STATUS"]) == "CONFIRMED"
    assert (when(event, "DTSTART"), when(event, "DTEND")) == (
        START + timedelta(hours=2),
        START + timedelta(hours=4),
    )

    # Only the token's hash is stored.
    async with db.sessionmaker() as session:
        rows = (
            await session.execute(
                text("select user_id, spot_id, token_hash from calendar_tokens where spot_id = :id"),
                {"id": spot["id"]},
            )
        ).all()
    assert [(str(r.user_id), str(r.spot_id), bytes(r.token_hash)) for r in rows] == [
        (alice.id, spot["id"], hashlib.sha256(token.encode()).digest())
    ]


async def test_issuing_a_new_url_revokes_the_old_one(
    client: AsyncClient, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    await booked(client, bob, spot, 2, 4)
    first = await spot_feed_url(client, alice, spot)
    second = await spot_feed_url(client, alice, spot)
    assert token_of(first) != token_of(second)
    assert_problem(await client.get(first), 404, "not_found")
    assert len(events(await feed(client, second))) == 1

    mine = await driver_feed_url(client, bob)
    again = await driver_feed_url(client, bob)
    assert_problem(await client.get(mine), 404, "not_found")
    assert len(events(await feed(client, again))) == 1
    # A driver's new URL leaves the spot's alone, and the other way round.
    assert len(events(await feed(client, second))) == 1
    await spot_feed_url(client, alice, spot)
    assert len(events(await feed(client, again))) == 1


async def test_another_user_cannot_issue_a_url_for_someones_spot(
    client: AsyncClient, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    url = await spot_feed_url(client, alice, spot)
    assert_problem(
        await client.post(f"/v1/spots/{spot['id']}/calendar-token", headers=bob.headers), 403, "forbidden"
    )
    assert_problem(await client.post(f"/v1/spots/{spot['id']}/calendar-token"), 401, "unauthorized")
    assert_problem(await client.post("/v1/me/calendar-token"), 401, "unauthorized")
    assert_problem(
        await client.post(
            "/v1/spots/00000000-0000-4000-8000-000000000000/calendar-token", headers=bob.headers
        ),
        404,
        "not_found",
    )
    # The owner's URL still works: the refused call revoked nothing.
    assert (await client.get(url)).status_code == 200


async def test_a_wrong_malformed_or_foreign_token_is_not_found(
    client: AsyncClient, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    other = await open_spot(client, alice)
    url = await spot_feed_url(client, alice, spot)
    token = token_of(url)
    driver_token = token_of(await driver_feed_url(client, bob))
    wrong = "A" * 43
    for path, params in (
        (f"/v1/spots/{spot['id']}/calendar.ics", {"token": wrong}),
        (f"/v1/spots/{spot['id']}/calendar.ics", {"token": token[:-1]}),
        (f"/v1/spots/{spot['id']}/calendar.ics", {"token": token + "x"}),
        (f"/v1/spots/{spot['id']}/calendar.ics", {"token": ""}),
        (f"/v1/spots/{spot['id']}/calendar.ics", {"token": "!" * 43}),
        (f"/v1/spots/{spot['id']}/calendar.ics", {"token": token * 1000}),
        # A spot's token opens only that spot's feed, and not a driver's.
        (f"/v1/spots/{other['id']}/calendar.ics", {"token": token}),
        ("/v1/me/calendar.ics", {"token": token}),
        # A driver's token opens no spot's feed.
        (f"/v1/spots/{spot['id']}/calendar.ics", {"token": driver_token}),
        ("/v1/me/calendar.ics", {"token": wrong}),
        ("/v1/spots/not-a-spot/calendar.ics", {"token": token}),
    ):
        assert_problem(await client.get(path, params=params), 404, "not_found")
    assert_problem(await client.get(f"/v1/spots/{spot['id']}/calendar.ics"), 422, "validation_error")
    assert (await client.get(url)).status_code == 200
    # Bearer tokens are no credential for a feed.
    r = await client.get(
        f"/v1/spots/{spot['id']}/calendar.ics", params={"token": wrong}, headers=alice.headers
    )
    assert_problem(r, 404, "not_found")


async def test_a_withdrawn_spots_feed_is_gone_and_its_drivers_see_the_cancellation(
    client: AsyncClient, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    booking = await booked(client, bob, spot, 2, 4)
    url = await spot_feed_url(client, alice, spot)
    mine = await driver_feed_url(client, bob)
    r = await client.delete(
        f"/v1/spots/{spot['id']}", params={"cancel_bookings": "true"}, headers=alice.headers
    )
    assert r.status_code == 204, r.text
    assert_problem(await client.get(url), 404, "not_found")
    assert_problem(
        await client.post(f"/v1/spots/{spot['id']}/calendar-token", headers=alice.headers), 404, "not_found"
    )
    event = events(await feed(client, mine))[booking["id"]]
    assert str(event["STATUS"]) == "CANCELLED"
    assert str(event["SUMMARY"]) == f"Parking: {spot['title']} (cancelled)"


# --- the feed's content -----------------------------------------------------------------------


async def test_times_are_utc_whatever_the_spots_time_zone(
    client: AsyncClient, alice: Account, bob: Account
) -> None:
    spot = await make_spot(client, alice, timezone="America/New_York", rules={"buffer_min": 0})
    await add_rule(client, alice, spot)
    booking = await booked(client, bob, spot, 2, 4)
    for url in (await spot_feed_url(client, alice, spot), await driver_feed_url(client, bob)):
        r = await client.get(url)
        assert "TZID" not in r.text
        assert "VTIMEZONE" not in r.text
        lines = r.text.split("\r\n")
        assert "DTSTART:20261123T100000Z" in lines
        assert "DTEND:20261123T120000Z" in lines
        event = events(Calendar.from_ical(r.content))[booking["id"]]
        assert when(event, "DTSTART") == START + timedelta(hours=2)
        assert when(event, "CREATED") == START
        assert when(event, "DTSTAMP") == when(event, "LAST-MODIFIED") == START


async def test_sequence_rises_with_each_change_and_the_uid_stays(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    owner_url = await spot_feed_url(client, alice, spot)
    driver_url = await driver_feed_url(client, bob)
    r = await book(client, bob, spot, 2, 4)
    assert r.status_code == 201, r.text
    booking_id = r.json()["id"]

    async def seen() -> tuple[int, str, datetime, datetime]:
        """(SEQUENCE, STATUS, DTEND, DTSTAMP), the same in the owner's and the driver's feed."""
        out = []
        for url in (owner_url, driver_url):
            event = events(await feed(client, url))[booking_id]
            out.append(
                (int(event["SEQUENCE"]), str(event["STATUS"]), when(event, "DTEND"), when(event, "DTSTAMP"))
            )
        assert out[0] == out[1]
        return out[0]

    end = START + timedelta(hours=4)
    assert await seen() == (0, "TENTATIVE", end, START)
    clock.advance(minutes=1)
    r = await client.post(f"/v1/bookings/{booking_id}/confirm", headers=bob.headers)
    assert r.status_code == 200, r.text
    assert await seen() == (1, "CONFIRMED", end, START + timedelta(minutes=1))
    clock.advance(minutes=1)
    r = await client.post(
        f"/v1/bookings/{booking_id}/extend", headers=bob.headers, json={"end": at(5, START)}
    )
    assert r.status_code == 200, r.text
    later = START + timedelta(hours=5)
    assert await seen() == (2, "CONFIRMED", later, START + timedelta(minutes=2))
    clock.advance(minutes=1)
    r = await client.post(f"/v1/bookings/{booking_id}/cancel", headers=alice.headers)
    assert r.status_code == 200, r.text
    assert await seen() == (3, "CANCELLED", later, START + timedelta(minutes=3))
    event = events(await feed(client, owner_url))[booking_id]
    assert str(event["UID"]) == f"{booking_id}@parkshare"
    assert str(event["SUMMARY"]) == "Booked by Bob (cancelled)"
    assert when(event, "CREATED") == START


async def test_a_hold_past_its_deadline_reads_as_expired(
    client: AsyncClient, db: Database, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    held = (await book(client, bob, spot, 2, 4)).json()
    url = await spot_feed_url(client, alice, spot)
    assert str(events(await feed(client, url))[held["id"]]["STATUS"]) == "TENTATIVE"
    clock.advance(minutes=11)  # holds last 10 minutes; nothing has written the expiry yet
    event = events(await feed(client, url))[held["id"]]
    assert (str(event["STATUS"]), int(event["SEQUENCE"])) == ("CANCELLED", 1)
    assert str(event["SUMMARY"]) == "Booked by Bob (expired)"
    assert when(event, "DTSTAMP") == START + timedelta(minutes=10)
    # Once the expiry is written (a late confirmation writes it), the feed says the same.
    r = await client.post(f"/v1/bookings/{held['id']}/confirm", headers=bob.headers)
    assert_problem(r, 409, "hold_expired")
    async with db.sessionmaker() as session:
        stored = await session.scalar(text("select status from bookings where id = :id"), {"id": held["id"]})
    assert stored == "expired"
    assert events(await feed(client, url))[held["id"]].to_ical() == event.to_ical()


async def test_cancelled_bookings_stay_30_days_and_others_30_days_after_their_end(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    url = await spot_feed_url(client, alice, spot)
    past = await booked(client, bob, spot, 2, 4)
    far = await booked(client, bob, spot, 24 * 20, 24 * 20 + 2)  # in 20 days
    r = await client.post(f"/v1/bookings/{far['id']}/cancel", headers=bob.headers)
    assert r.status_code == 200, r.text
    listed = events(await feed(client, url))
    assert str(listed[far["id"]]["STATUS"]) == "CANCELLED"
    assert str(listed[past["id"]]["STATUS"]) == "CONFIRMED"

    clock.set(START + timedelta(days=30) - timedelta(minutes=1))
    assert set(events(await feed(client, url))) == {past["id"], far["id"]}
    clock.set(START + timedelta(days=30))  # 30 days after the cancellation, before its start
    assert set(events(await feed(client, url))) == {past["id"]}
    clock.set(START + timedelta(hours=4, days=30) - timedelta(minutes=1))
    assert set(events(await feed(client, url))) == {past["id"]}
    clock.set(START + timedelta(hours=4, days=30))  # 30 days after its end
    assert events(await feed(client, url)) == {}


async def test_a_feed_lists_the_bookings_nearest_to_now_up_to_its_cap(
    client: AsyncClient, clock: FakeClock, monkeypatch: pytest.MonkeyPatch, alice: Account, bob: Account
) -> None:
    monkeypatch.setattr(service, "MAX_EVENTS", 2)
    spot = await open_spot(client, alice)
    url = await spot_feed_url(client, alice, spot)
    ids = {}
    for name, hour in (("early", 2), ("soon", 5), ("late", 30)):
        ids[name] = (await booked(client, bob, spot, hour, hour + 1))["id"]
    assert set(events(await feed(client, url))) == {ids["early"], ids["soon"]}
    clock.set(START + timedelta(hours=29))  # 1 h before `late`, 23 h after `soon`, 26 h after `early`
    assert set(events(await feed(client, url))) == {ids["soon"], ids["late"]}


# --- personal data ----------------------------------------------------------------------------


async def test_the_owner_feed_shows_the_driver_by_display_name_only(
    client: AsyncClient, clock: FakeClock, alice: Account
) -> None:
    driver = await make_account(client, "driver", display_name="Ünal, the; driver")
    r = await client.patch("/v1/me", headers=driver.headers, json={"phone": "+4923112345678"})
    assert r.status_code == 200, r.text
    vehicle = await add_vehicle(client, driver, "DO-PS 4711")
    spot = await open_spot(client, alice)
    r = await book(client, driver, spot, 2, 4, vehicle_id=vehicle["id"])
    assert r.status_code == 201, r.text
    booking_id = r.json()["id"]
    assert (
        await client.post(f"/v1/bookings/{booking_id}/confirm", headers=driver.headers)
    ).status_code == 200
    url = await spot_feed_url(client, alice, spot)
    # In the reveal window, where the owner's booking answer shows the plate.
    clock.set(START + timedelta(hours=1, minutes=30))
    shown = (await client.get(f"/v1/bookings/{booking_id}", headers=alice.headers)).json()
    assert shown["license_plate"] == "DO-PS 4711"

    r = await client.get(url)
    body = unfolded(r.content)
    for personal in ("DO-PS 4711", "DO-PS", driver.email, "+4923112345678", "4923112345678", driver.id):
        assert personal not in body, personal
    event = events(Calendar.from_ical(r.content))[booking_id]
    assert str(event["SUMMARY"]) == "Booked by Ünal, the; driver"
    assert "SUMMARY:Booked by Ünal\\, the\\; driver" in body  # escaped as RFC 5545 text
    assert "DESCRIPTION" not in event
    assert "LOCATION" not in event
    assert "ATTENDEE" not in event
    assert "ORGANIZER" not in event


async def test_the_driver_feed_reveals_the_address_only_in_the_window(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await hidden_spot(client, alice)
    booking = await booked(client, bob, spot, 5, 7)
    carol = await make_account(client, "carol")
    theirs = await booked(client, carol, spot, 9, 10)
    url = await driver_feed_url(client, bob)
    start, end = START + timedelta(hours=5), START + timedelta(hours=7)

    async def event_at(moment: datetime) -> tuple[Component, str]:
        clock.set(moment)
        r = await client.get(url)
        listed = events(Calendar.from_ical(r.content))
        assert theirs["id"] not in listed  # only the caller's own bookings
        return listed[booking["id"]], unfolded(r.content)

    for moment in (START, start - timedelta(minutes=61), start - timedelta(minutes=60, seconds=1), end):
        event, body = await event_at(moment)
        assert str(event["SUMMARY"]) == f"Parking: {spot['title']}"
        assert str(event["LOCATION"]) == "Kreuzviertel"
        assert (event["GEO"].latitude, event["GEO"].longitude) == ROUNDED
        for private in (HOUSE_NUMBER, "4711", "Gate code", str(EXACT["lat"]), str(EXACT["lon"])):
            assert private not in body, (moment, private)

    for moment in (start - timedelta(minutes=60), start, end - timedelta(seconds=1)):
        event, body = await event_at(moment)
        assert str(event["LOCATION"]) == f"Kreuzstraße {HOUSE_NUMBER}, 44139 Dortmund"
        assert (event["GEO"].latitude, event["GEO"].longitude) == (EXACT["lat"], EXACT["lon"])
        assert str(event["DESCRIPTION"]) == f"Access: {ACCESS}"


async def test_only_a_confirmed_booking_reveals_in_the_driver_feed(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await hidden_spot(client, alice, instant_book=False)
    requested = (await book(client, bob, spot, 5, 7)).json()
    assert requested["status"] == "requested"
    url = await driver_feed_url(client, bob)
    clock.set(START + timedelta(hours=4, minutes=30))  # in the window, the request still open
    r = await client.get(url)
    event = events(Calendar.from_ical(r.content))[requested["id"]]
    assert str(event["STATUS"]) == "TENTATIVE"
    assert str(event["SUMMARY"]) == f"Parking: {spot['title']} (requested)"
    assert HOUSE_NUMBER not in unfolded(r.content)
    assert "4711" not in unfolded(r.content)


async def test_the_feed_folds_long_lines_and_reads_back_whole(
    client: AsyncClient, alice: Account, bob: Account
) -> None:
    title = "Überdachter Stellplatz, Hinterhof; Einfahrt über die Kreuzstraße \u2013 " * 2
    spot = await make_spot(client, alice, title=title[:120].strip(), rules={"buffer_min": 0})
    await add_rule(client, alice, spot)
    booking = await booked(client, bob, spot, 2, 4)
    for url, summary in (
        (await spot_feed_url(client, alice, spot), "Booked by Bob"),
        (await driver_feed_url(client, bob), f"Parking: {spot['title']}"),
    ):
        r = await client.get(url)
        assert max(len(line) for line in r.content.split(b"\r\n")) > 60  # something was long
        assert b"\r\n " in r.content  # and folded
        calendar = await feed(client, url)
        assert str(events(calendar)[booking["id"]]["SUMMARY"]) == summary
        if "spots" in url:
            assert str(calendar["X-WR-CALNAME"]) == spot["title"]


# --- conditional requests ---------------------------------------------------------------------


async def test_etag_and_if_none_match(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    await booked(client, bob, spot, 2, 4)
    url = await spot_feed_url(client, alice, spot)
    first = await client.get(url)
    tag = first.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{32}"', tag)
    assert first.headers["cache-control"] == "private, max-age=300"
    assert (await client.get(url)).headers["etag"] == tag  # the same feed, the same tag

    for header in (tag, f"W/{tag}", f'"other", {tag}', "*"):
        r = await client.get(url, headers={"If-None-Match": header})
        assert r.status_code == 304, header
        assert r.content == b""
        assert r.headers["etag"] == tag
        assert r.headers["cache-control"] == "private, max-age=300"
    r = await client.get(url, headers={"If-None-Match": '"other"'})
    assert r.status_code == 200
    assert r.content == first.content

    clock.advance(minutes=1)
    await booked(client, bob, spot, 6, 8)
    r = await client.get(url, headers={"If-None-Match": tag})
    assert r.status_code == 200
    assert r.headers["etag"] != tag
    assert len(events(Calendar.from_ical(r.content))) == 2
    # A wrong token is 404 whatever If-None-Match says.
    assert_problem(
        await client.get(url.replace(token_of(url), "B" * 43), headers={"If-None-Match": "*"}),
        404,
        "not_found",
    )


async def test_a_driver_feed_changes_its_etag_when_the_address_is_revealed(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account
) -> None:
    spot = await hidden_spot(client, alice)
    await booked(client, bob, spot, 5, 7)
    url = await driver_feed_url(client, bob)
    clock.set(START + timedelta(hours=4) - timedelta(seconds=1))
    before = (await client.get(url)).headers["etag"]
    clock.set(START + timedelta(hours=4))
    r = await client.get(url, headers={"If-None-Match": before})
    assert r.status_code == 200
    assert HOUSE_NUMBER in unfolded(r.content)


# --- secrets stay out of the logs -------------------------------------------------------------


async def test_the_access_log_hides_the_token(
    client: AsyncClient, caplog: pytest.LogCaptureFixture, alice: Account
) -> None:
    url = await driver_feed_url(client, alice)
    token = token_of(url)
    path = urlsplit(url).path + "?" + urlsplit(url).query
    with caplog.at_level(logging.INFO, logger="uvicorn.access"):
        # As uvicorn writes its access line.
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "203.0.113.9:5000", "GET", path + "&x=1", "1.1", 200
        )
    assert token not in caplog.text
    assert "/v1/me/calendar.ics?token=***&x=1" in caplog.text


def test_every_status_has_an_icalendar_status() -> None:
    assert set(service.ICAL_STATUS) == set(Status)
    assert service.etag(b"x") == service.etag(b"x") != service.etag(b"y")
    assert timedelta(days=30) == service.KEEP
