"""Open data for the city (docs/api.md, "Open data"; docs/decisions/0008-open-data-zones.md): zones
of at least 5 listed spots of at least 3 owners, never a single spot, and nothing in any answer a
spot or a person could be traced by.

The spots lie in one cell of the grid, `250m-N22891-E2127` (public latitudes 51.505 and 51.506,
public longitudes 7.445 to 7.447), on the fake clock (START: Monday 08:00 UTC, 09:00 in Berlin).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from httpx import ASGITransport, AsyncClient, Response

from app.admin.service import set_role
from app.db import Database
from app.main import create_app
from app.settings import Settings
from tests.conftest import START, FakeClock, at
from tests.factories import EVERY_DAY, Account, add_rule, booked, make_account, spot_body

SITES = "/v1/open-data/parking-sites"
REALTIME = "/v1/open-data/parking-sites/realtime"
UID = "parkshare:zone:250m-N22891-E2127"
# The cell's centre: the same whichever spots the zone holds.
CENTRE = (51.505875, 7.44625)
NAMES = ["alma", "bert", "carla", "dora", "emil", "fritz"]


def where(i: int) -> dict[str, float]:
    """The exact location of the i-th spot, with 6 decimals as a phone measures it: all in the
    cell, their public locations differing."""
    return {"lat": round(51.505123 + 0.000211 * (i % 6), 6), "lon": round(7.445234 + 0.000377 * (i % 6), 6)}


async def spot(
    client: AsyncClient, owner: Account, i: int, *, rule: dict[str, Any] | None = EVERY_DAY, **changes: Any
) -> dict[str, Any]:
    """A listed spot with an address of its own, open around the clock unless `rule` says else."""
    name = owner.user["display_name"]
    own: dict[str, Any] = {
        "title": f"Einfahrt {name} Nummer {i}",
        "description": f"Hinter dem Tor von {name} ({i})",
        "address": {
            "street": f"Lindenweg{i}gasse",
            "house_number": f"{70 + i}q",
            "postal_code": f"4{4200 + i}",
            "city": "Dortmund",
            "district": "Kreuzviertel",
        },
        "location": where(i),
        "rules": {"buffer_min": 0},
    }
    body = spot_body(**(own | changes))
    r = await client.post("/v1/spots", json=body, headers=owner.headers)
    assert r.status_code == 201, r.text
    made = dict(r.json())
    if rule is not None:
        await add_rule(client, owner, made, rule)
    return made


async def owners(client: AsyncClient, n: int) -> list[Account]:
    return [await make_account(client, name) for name in NAMES[:n]]


async def zone_of(client: AsyncClient, spread: list[int], **changes: Any) -> list[dict[str, Any]]:
    """Spots of `len(spread)` owners, `spread[k]` of owner k."""
    accounts = await owners(client, len(spread))
    made = []
    for account, count in zip(accounts, spread, strict=True):
        for _ in range(count):
            made.append(await spot(client, account, len(made), **changes))
    return made


async def sites(client: AsyncClient, **headers: str) -> dict[str, Any]:
    r = await client.get(SITES, headers=headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def realtime(client: AsyncClient) -> dict[str, Any]:
    r = await client.get(REALTIME)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def free(client: AsyncClient) -> tuple[int, str]:
    (item,) = (await realtime(client))["items"]
    return item["realtime_free_capacity"], item["realtime_opening_status"]


# --- which zones are published -------------------------------------------------------------------


async def test_a_zone_of_five_spots_of_three_owners_is_published(client: AsyncClient) -> None:
    await zone_of(client, [2, 2, 1])
    answer = await sites(client)
    assert answer["ttl"] == 300
    assert answer["license"] == "dl-de/zero-2.0"
    assert answer["last_updated"] == at(0, START)
    assert answer["items"] == [
        {
            "uid": UID,
            "name": "Kreuzviertel (parkshare zone 250m-N22891-E2127)",
            "type": "ZONE",
            "purpose": "CAR",
            "lat": CENTRE[0],
            "lon": CENTRE[1],
            "capacity": 5,
            "has_charging": True,
            "max_height": 200,
            "has_realtime_data": True,
            "has_fee": True,
        }
    ]
    live = await realtime(client)
    assert live["last_updated"] == at(0, START)
    assert live["items"] == [
        {
            "uid": UID,
            # Five free, rounded down to an even number.
            "realtime_free_capacity": 4,
            "realtime_opening_status": "OPEN",
            "realtime_data_updated_at": at(0, START),
        }
    ]


@pytest.mark.parametrize(
    ("spread", "why"),
    [([1, 1, 1, 1], "four spots, though of four owners"), ([3, 2], "five spots of only two owners")],
)
async def test_a_zone_below_the_thresholds_is_never_published(
    client: AsyncClient, spread: list[int], why: str
) -> None:
    await zone_of(client, spread)
    assert (await sites(client))["items"] == [], why
    assert (await realtime(client))["items"] == [], why


async def test_spots_across_a_cell_border_are_not_pooled(client: AsyncClient) -> None:
    accounts = await owners(client, 3)
    for k in range(4):
        await spot(client, accounts[k % 3], k)
    # 25 m north of the others, but its public latitude 51.507 lies in the next cell.
    await spot(client, accounts[0], 4, location={"lat": 51.50652, "lon": 7.4460})
    assert (await sites(client))["items"] == []
    await spot(client, accounts[1], 5)
    assert [i["capacity"] for i in (await sites(client))["items"]] == [5]


async def test_withdrawn_unlisted_unoffered_and_suspended_spots_do_not_count(
    client: AsyncClient, db: Database
) -> None:
    accounts = await owners(client, 4)
    made = [await spot(client, accounts[k % 3], k) for k in range(5)]
    assert (await sites(client))["items"][0]["capacity"] == 5
    # A spot that is never offered does not count: 5 listed, but only 4 could ever be free.
    await spot(client, accounts[3], 5, rule=None)
    assert (await sites(client))["items"][0]["capacity"] == 5

    r = await client.delete(f"/v1/spots/{made[0]['id']}", headers=accounts[0].headers)
    assert r.status_code == 204, r.text
    assert (await sites(client))["items"] == []
    assert (await realtime(client))["items"] == []

    # Back to five; then an admin unlists one.
    replacement = await spot(client, accounts[3], 6)
    assert (await sites(client))["items"][0]["capacity"] == 5
    admin = await make_account(client, "admin")
    async with db.sessionmaker() as session, session.begin():
        await set_role(session, admin.email, "admin", START)
    r = await client.post(
        f"/v1/admin/spots/{replacement['id']}/unlist", headers=admin.headers, json={"reason": "fake"}
    )
    assert r.status_code == 200, r.text
    assert (await sites(client))["items"] == []
    r = await client.post(f"/v1/admin/spots/{replacement['id']}/relist", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert (await sites(client))["items"][0]["capacity"] == 5

    # Suspending the owner of two of the five leaves three.
    r = await client.post(
        f"/v1/admin/users/{accounts[1].id}/suspend", headers=admin.headers, json={"reason": "fraud"}
    )
    assert r.status_code == 200, r.text
    assert (await sites(client))["items"] == []


async def test_a_zone_whose_spots_close_for_good_is_withdrawn(client: AsyncClient, clock: FakeClock) -> None:
    # Offered only in a one-off window today: listed until it is over.
    accounts = await owners(client, 3)
    for k in range(5):
        made = await spot(client, accounts[k % 3], k, rule=None)
        r = await client.post(
            f"/v1/spots/{made['id']}/availability/windows",
            headers=accounts[k % 3].headers,
            json={"start": at(0, START), "end": at(2, START)},
        )
        assert r.status_code == 201, r.text
    assert (await sites(client))["items"][0]["capacity"] == 5
    clock.advance(hours=2)
    assert (await sites(client))["items"] == []


# --- the zone's features ----------------------------------------------------------------------------


async def test_features_show_only_when_three_spots_share_them(client: AsyncClient) -> None:
    accounts = await owners(client, 3)
    no_ev: dict[str, Any] = {"covered": False, "lit": False}
    ev: dict[str, Any] = {"covered": False, "ev_charger": {"connector": "type2", "power_kw": 11}}
    # Two chargers, heights 250, 230, 210, 190 and one without a limit.
    plan = [
        (ev, {"length_cm": 500, "width_cm": 250, "height_cm": 250}),
        (ev, {"length_cm": 500, "width_cm": 250, "height_cm": 230}),
        (no_ev, {"length_cm": 500, "width_cm": 250, "height_cm": 210}),
        (no_ev, {"length_cm": 500, "width_cm": 250, "height_cm": 190}),
        (no_ev, None),
    ]
    for k, (features, size) in enumerate(plan):
        await spot(client, accounts[k % 3], k, features=features, max_vehicle=size)
    (item,) = (await sites(client))["items"]
    assert item["has_charging"] is False
    # No limit counts highest: then 250 and 230; the third highest is what three spots take.
    assert item["max_height"] == 230

    # A third charger; two more spots without a limit make the bound go away.
    await spot(client, accounts[0], 5, features=ev, max_vehicle=None)
    await spot(client, accounts[1], 6, features=no_ev, max_vehicle=None)
    (item,) = (await sites(client))["items"]
    assert item["has_charging"] is True
    assert "max_height" not in item


async def test_the_district_is_named_only_when_every_spot_shares_it(client: AsyncClient) -> None:
    accounts = await owners(client, 3)
    for k in range(4):
        await spot(client, accounts[k % 3], k)
    other = spot_body()["address"] | {"district": "Hinterhof Meier", "house_number": "9z"}
    await spot(client, accounts[0], 4, address=other)
    (item,) = (await sites(client))["items"]
    assert item["name"] == "parkshare zone 250m-N22891-E2127"


# --- realtime -------------------------------------------------------------------------------------


async def test_free_capacity_counts_the_whole_bucket_and_is_rounded_down(
    client: AsyncClient, clock: FakeClock
) -> None:
    made = await zone_of(client, [2, 2, 2])
    driver = await make_account(client, "driver")
    assert await free(client) == (6, "OPEN")
    # A booking later today does not lower it.
    await booked(client, driver, made[0], 3, 4)
    assert await free(client) == (6, "OPEN")
    # One inside the bucket does: five free are answered as four.
    await booked(client, driver, made[1], 0, 1)
    assert await free(client) == (4, "OPEN")
    await booked(client, driver, made[2], 0, 0.5)
    assert await free(client) == (4, "OPEN")
    await booked(client, driver, made[3], 0, 0.5)
    assert await free(client) == (2, "OPEN")


async def test_the_bucket_ends_at_the_quarter_hour(client: AsyncClient, clock: FakeClock) -> None:
    made = await zone_of(client, [2, 2, 2])
    driver = await make_account(client, "driver")
    clock.set(START + timedelta(minutes=14, seconds=59))
    # From 08:15: not in the bucket of 08:00 to 08:15.
    await booked(client, driver, made[0], 0.25, 1)
    await booked(client, driver, made[1], 0.25, 1)
    first = await realtime(client)
    assert first["items"][0]["realtime_free_capacity"] == 6
    assert first["items"][0]["realtime_data_updated_at"] == "2026-11-23T08:00:00Z"
    clock.set(START + timedelta(minutes=15))
    second = await realtime(client)
    assert second["items"][0]["realtime_free_capacity"] == 4
    assert second["items"][0]["realtime_data_updated_at"] == "2026-11-23T08:15:00Z"
    assert second["last_updated"] == "2026-11-23T08:15:00Z"


async def test_a_booking_blocks_the_bucket_within_its_buffer(client: AsyncClient) -> None:
    made = await zone_of(client, [2, 2, 2], rules={"buffer_min": 15})
    driver = await make_account(client, "driver")
    # 08:15 to 09:00, but 15 minutes of buffer reach back to 08:00.
    await booked(client, driver, made[0], 0.25, 1)
    await booked(client, driver, made[1], 0.25, 1)
    assert await free(client) == (4, "OPEN")


async def test_a_hold_blocks_until_its_deadline(client: AsyncClient, clock: FakeClock) -> None:
    made = await zone_of(client, [2, 2, 2])
    driver = await make_account(client, "driver")
    # Held at 08:00, never confirmed: it blocks for the 10 minutes of the hold, as search and
    # booking say, whether or not the sweeper has marked it expired.
    await booked(client, driver, made[0], 0, 1, confirm=False)
    await booked(client, driver, made[1], 0, 1, confirm=False)
    clock.set(START + timedelta(minutes=9, seconds=59))
    assert await free(client) == (4, "OPEN")
    clock.set(START + timedelta(minutes=10))
    assert await free(client) == (6, "OPEN")


async def test_opening_status_follows_the_spots_rules(client: AsyncClient, clock: FakeClock) -> None:
    # Open from 10:00 to 18:00 in Berlin: 09:00 to 17:00 UTC in November.
    day = {**EVERY_DAY, "start_time": "10:00", "end_time": "18:00"}
    await zone_of(client, [2, 2, 1], rule=day)
    assert await free(client) == (0, "CLOSED")
    clock.set(START + timedelta(minutes=50))
    # The bucket of 09:45 to 10:00 in Berlin: the rule opens when it ends.
    assert await free(client) == (0, "CLOSED")
    clock.set(START + timedelta(hours=1))
    assert await free(client) == (4, "OPEN")


# --- caching ----------------------------------------------------------------------------------------


async def test_answers_within_a_bucket_are_the_same_and_cached(client: AsyncClient, clock: FakeClock) -> None:
    await zone_of(client, [2, 2, 1])
    clock.set(START + timedelta(minutes=7, seconds=30))
    first = await client.get(SITES)
    live = await client.get(REALTIME)
    for r in (first, live):
        assert r.status_code == 200
        assert r.headers["Access-Control-Allow-Origin"] == "*"
        assert r.headers["Last-Modified"] == "Mon, 23 Nov 2026 08:00:00 GMT"
        assert r.headers["ETag"].startswith('"')
    assert first.headers["Cache-Control"] == "public, max-age=300"
    # Until the bucket ends at 08:15.
    assert live.headers["Cache-Control"] == "public, max-age=450"

    clock.set(START + timedelta(minutes=14, seconds=59))
    later = await client.get(SITES, headers={"Authorization": "Bearer whatever"})
    later_live = await client.get(REALTIME)
    assert later.content == first.content
    assert later.headers["ETag"] == first.headers["ETag"]
    # Public data: an Authorization header changes nothing, not even the caching.
    assert later.headers["Cache-Control"] == "public, max-age=300"
    assert later_live.content == live.content
    assert later_live.headers["Cache-Control"] == "public, max-age=1"

    for path, earlier in ((SITES, first), (REALTIME, live)):
        cached = await client.get(path, headers={"If-None-Match": f'"other", {earlier.headers["ETag"]}'})
        assert cached.status_code == 304
        assert cached.content == b""
        assert cached.headers["ETag"] == earlier.headers["ETag"]
        assert cached.headers["Access-Control-Allow-Origin"] == "*"
        stale = await client.get(path, headers={"If-None-Match": '"other"'})
        assert stale.status_code == 200
        assert stale.content == earlier.content

    clock.set(START + timedelta(minutes=15))
    assert (await client.get(REALTIME, headers={"If-None-Match": live.headers["ETag"]})).status_code == 200


async def test_if_none_match_takes_any_header_value(client: AsyncClient) -> None:
    await zone_of(client, [2, 2, 1])
    for path in (SITES, REALTIME):
        assert (await client.get(path, headers={"If-None-Match": "*"})).status_code == 304
        for junk in (b"", b",,,", b'W/"', "\u00e4".encode() * 300):
            r = await client.get(path, headers={"If-None-Match": junk})
            assert r.status_code == 200, junk
            assert r.json()["items"][0]["uid"] == UID


async def test_any_web_page_may_read_them_whatever_cors_origins_says(
    client: AsyncClient, settings: Settings, db: Database
) -> None:
    await zone_of(client, [2, 2, 1])
    configured = "https://app.example.org"
    app = create_app(settings.model_copy(update={"cors_origins": configured}), database=db)
    app.state.clock = FakeClock()
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as other:
        for path in (SITES, REALTIME):
            r = await other.get(path, headers={"Origin": "https://portal.dortmund.example"})
            assert r.status_code == 200
            assert r.headers["Access-Control-Allow-Origin"] == "*"
            assert "etag" in r.headers["Access-Control-Expose-Headers"].lower()
            assert r.json()["items"][0]["uid"] == UID
            # The configured origin is answered as on every route.
            mine = await other.get(path, headers={"Origin": configured})
            assert mine.headers["Access-Control-Allow-Origin"] == configured
        # The other routes keep the list.
        health = await other.get("/healthz", headers={"Origin": "https://portal.dortmund.example"})
        assert "access-control-allow-origin" not in health.headers


async def test_the_uid_and_location_belong_to_the_cell_not_to_its_spots(client: AsyncClient) -> None:
    accounts = await owners(client, 3)
    for k in range(5):
        await spot(client, accounts[k % 3], k)
    before = (await sites(client))["items"][0]
    assert (await sites(client))["items"][0] == before
    # Two more, elsewhere in the cell (public 51.505/7.445 and 51.506/7.447): the same uid and place.
    extra = [{"lat": 51.50480, "lon": 7.44460}, {"lat": 51.50640, "lon": 7.44740}]
    for k, location in enumerate(extra):
        await spot(client, accounts[k], 10 + k, location=location)
    after = (await sites(client))["items"][0]
    assert after["capacity"] == 7
    assert (
        (after["uid"], after["lat"], after["lon"])
        == (before["uid"], before["lat"], before["lon"])
        == (
            UID,
            *CENTRE,
        )
    )
    assert [i["uid"] for i in (await realtime(client))["items"]] == [UID]


# --- nothing to trace a spot by ---------------------------------------------------------------------


def leaves(value: Any) -> list[Any]:
    """Every string and number in an answer, keys included, however deep."""
    if isinstance(value, dict):
        return [*value.keys(), *(x for v in value.values() for x in leaves(v))]
    if isinstance(value, list):
        return [x for v in value for x in leaves(v)]
    return [value]


async def test_no_answer_has_anything_a_single_spot_could_be_traced_by(
    client: AsyncClient, clock: FakeClock
) -> None:
    made = await zone_of(client, [2, 2, 2])
    driver = await make_account(client, "driver")
    booking = await booked(client, driver, made[0], 0, 1)
    accounts = {s["owner_id"] for s in made} | {driver.id}
    secrets: list[str] = [booking["id"], *accounts]
    numbers: set[float] = set()
    for s in made:
        full = (await client.get(f"/v1/spots/{s['id']}")).json()
        public = full["location"]
        secrets += [s["id"], s["title"], s["description"], s["address"]["street"]]
        secrets += [s["address"]["house_number"], s["address"]["postal_code"], s["access_instructions"]]
        numbers |= {s["location"]["lat"], s["location"]["lon"], public["lat"], public["lon"]}
        # The exact coordinates also as text. The public ones only as numbers: with 3 decimals,
        # their text begins every number within 100 m (the cell's centre too) and says nothing.
        secrets += [str(n) for n in (s["location"]["lat"], s["location"]["lon"])]
    # Display names; e-mail addresses (`<name><n>@example.org`) by their shape.
    secrets += [*NAMES[:3], "driver", "@", "example.org"]
    answers: list[Response] = []
    for moment in (0, 7, 15):
        clock.set(START + timedelta(minutes=moment))
        answers += [await client.get(SITES), await client.get(REALTIME)]
    found = [x for r in answers for x in leaves(r.json())]
    assert len(found) > 40
    for value in found:
        if isinstance(value, str):
            assert not [secret for secret in secrets if secret.lower() in value.lower()], value
        else:
            assert value not in numbers, value
    # Nor in the bytes, wherever a field might hide it.
    for r in answers:
        text = r.text.lower()
        assert not [secret for secret in secrets if secret.lower() in text], text
    (item,) = (await sites(client))["items"]
    for s in made:
        public = (await client.get(f"/v1/spots/{s['id']}")).json()["location"]
        assert (item["lat"], item["lon"]) != (public["lat"], public["lon"])
        assert (item["lat"], item["lon"]) != (s["location"]["lat"], s["location"]["lon"])
