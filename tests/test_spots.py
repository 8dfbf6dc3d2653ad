from __future__ import annotations

from typing import Any

from httpx import AsyncClient
from sqlalchemy import func, select, text

from app.db import Database
from app.spots.models import Spot
from tests.conftest import FakeClock, assert_problem
from tests.factories import NEW_SPOT, Account, make_spot, spot_body


async def test_create_spot_answers_the_full_view_with_defaults(client: AsyncClient, alice: Account) -> None:
    r = await client.post("/v1/spots", json=NEW_SPOT, headers=alice.headers)
    assert r.status_code == 201, r.text
    spot = r.json()
    assert r.headers["etag"] == '"1"'
    assert r.headers["location"] == f"/v1/spots/{spot['id']}"
    assert spot["view"] == "full"
    assert spot["owner_id"] == alice.id
    assert spot["address"]["house_number"] == "61a"
    assert spot["location"] == {"lat": 51.505123, "lon": 7.447456}
    assert spot["timezone"] == "Europe/Berlin"
    assert spot["pricing"] == {"hourly_cents": 250, "daily_cap_cents": 1500, "currency": "EUR"}
    assert spot["rules"] == {
        "granularity_min": 15,
        "min_duration_min": 30,
        "max_duration_min": 43200,
        "lead_time_min": 0,
        "horizon_days": 90,
        "buffer_min": 15,
        "instant_book": True,
        "cancellation_policy": "moderate",
        "reveal_before_min": 60,
        "grace_min": 10,
        "overstay_hourly_cents": 375,  # 1.5 times the hourly 250
        "check_in_required": False,
        "no_show_after_min": 30,
    }
    assert spot["features"] == {
        "covered": True,
        "ev_charger": {"connector": "type2", "power_kw": 11.0},
        "wheelchair_accessible": False,
        "lit": True,
    }


async def test_location_is_a_geography_point(client: AsyncClient, alice: Account, db: Database) -> None:
    spot = await make_spot(client, alice)
    async with db.sessionmaker() as session:
        row = (
            await session.execute(
                text(
                    "select st_astext(location), st_distance(location, st_makepoint(7.447456, 51.506123)::geography) from spots where id = :id"
                ),
                {"id": spot["id"]},
            )
        ).one()
    assert row[0] == "POINT(7.447456 51.505123)"
    assert 110 < row[1] < 112  # 0.001 degrees of latitude


async def test_public_view_hides_private_details(client: AsyncClient, alice: Account, bob: Account) -> None:
    spot = await make_spot(client, alice)
    for headers in ({}, bob.headers):
        r = await client.get(f"/v1/spots/{spot['id']}", headers=headers)
        assert r.status_code == 200
        public = r.json()
        assert public["view"] == "public"
        assert public["address"]["house_number"] is None
        assert public["access_instructions"] is None
        assert public["owner_id"] is None
        assert public["location"] == {"lat": 51.505, "lon": 7.447}
        assert "4711" not in r.text
        assert "61a" not in r.text
        assert public["address"]["street"] == "Kreuzstraße"
        assert public["pricing"] == spot["pricing"]
        assert r.headers["etag"] == '"1"'
    owner_view = (await client.get(f"/v1/spots/{spot['id']}", headers=alice.headers)).json()
    assert owner_view == spot


async def test_unknown_and_malformed_spot_ids_are_404(client: AsyncClient) -> None:
    assert_problem(await client.get("/v1/spots/6b1c1f0e-0000-4000-8000-000000000000"), 404, "not_found")
    assert_problem(await client.get("/v1/spots/nope"), 404, "not_found")


async def test_create_needs_sign_in(client: AsyncClient, db: Database) -> None:
    r = await client.post("/v1/spots", json=NEW_SPOT)
    assert_problem(r, 401, "unauthorized")
    assert r.headers["www-authenticate"] == "Bearer"
    async with db.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Spot)) == 0


async def test_create_validates(client: AsyncClient, alice: Account) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        (spot_body(location={"lat": 91, "lon": 7}), "location.lat"),
        (spot_body(location={"lat": 51, "lon": -181}), "location.lon"),
        (spot_body(pricing={"hourly_cents": 0}), "pricing.hourly_cents"),
        (spot_body(pricing={"hourly_cents": 2.5}), "pricing.hourly_cents"),
        (spot_body(pricing={"hourly_cents": 250, "currency": "euro"}), "pricing.currency"),
        (spot_body(pricing={"hourly_cents": 250, "daily_cap_cents": 100}), "pricing"),
        (spot_body(timezone="Europe/Dortmund"), "timezone"),
        (spot_body(rules={"granularity_min": 7}), "rules"),
        (spot_body(rules={"min_duration_min": 60, "max_duration_min": 30}), "rules"),
        (spot_body(rules={"cancellation_policy": "lenient"}), "rules.cancellation_policy"),
        (spot_body(address={**NEW_SPOT["address"], "postal_code": "!"}), "address.postal_code"),
        (spot_body(address={**NEW_SPOT["address"], "house_number": "<script>"}), "address.house_number"),
        (spot_body(title="   "), "title"),
        (
            spot_body(features={"ev_charger": {"connector": "type2", "power_kw": -1}}),
            "features.ev_charger.power_kw",
        ),
        (spot_body(colour="green"), "colour"),
        (spot_body(pricing={"hourly_cents": 250, "tip": 1}), "pricing.tip"),
    ]
    for body, field in cases:
        r = await client.post("/v1/spots", json=body, headers=alice.headers)
        problem = assert_problem(r, 422, "validation_error")
        assert problem["errors"][0]["field"] == field, (field, problem)
    assert (await client.get("/v1/me/spots", headers=alice.headers)).json()["items"] == []


async def test_patch_merges_and_bumps_the_etag(client: AsyncClient, alice: Account) -> None:
    spot = await make_spot(client, alice)
    r = await client.patch(
        f"/v1/spots/{spot['id']}",
        json={"pricing": {"hourly_cents": 300}, "rules": {"buffer_min": 30}, "description": None},
        headers={**alice.headers, "If-Match": '"1"'},
    )
    assert r.status_code == 200, r.text
    patched = r.json()
    assert r.headers["etag"] == '"2"'
    assert patched["pricing"] == {"hourly_cents": 300, "daily_cap_cents": 1500, "currency": "EUR"}
    assert patched["rules"]["buffer_min"] == 30
    assert patched["rules"]["cancellation_policy"] == "moderate"
    assert patched["description"] is None
    assert patched["updated_at"] >= spot["updated_at"]
    fetched = await client.get(f"/v1/spots/{spot['id']}", headers=alice.headers)
    assert fetched.json() == patched
    assert fetched.headers["etag"] == '"2"'


async def test_patch_with_a_stale_etag_is_412_and_changes_nothing(
    client: AsyncClient, alice: Account
) -> None:
    spot = await make_spot(client, alice)
    await client.patch(f"/v1/spots/{spot['id']}", json={"title": "New"}, headers=alice.headers)
    r = await client.patch(
        f"/v1/spots/{spot['id']}", json={"title": "Lost update"}, headers={**alice.headers, "If-Match": '"1"'}
    )
    assert_problem(r, 412, "precondition_failed")
    assert (await client.get(f"/v1/spots/{spot['id']}")).json()["title"] == "New"
    ok = await client.patch(
        f"/v1/spots/{spot['id']}", json={"title": "Fresh"}, headers={**alice.headers, "If-Match": 'W/"2"'}
    )
    assert ok.status_code == 200


async def test_patch_without_changes_keeps_the_etag(
    client: AsyncClient, alice: Account, clock: FakeClock
) -> None:
    spot = await make_spot(client, alice)
    clock.advance(minutes=5)
    r = await client.patch(f"/v1/spots/{spot['id']}", json={"title": spot["title"]}, headers=alice.headers)
    assert r.headers["etag"] == '"1"'
    assert r.status_code == 200, r.text
    assert r.json() == spot  # updated_at too: nothing changed


async def test_patch_validates_the_result(client: AsyncClient, alice: Account) -> None:
    spot = await make_spot(client, alice)
    for body, field in (
        ({"pricing": {"hourly_cents": -5}}, "pricing.hourly_cents"),
        ({"title": None}, "title"),
        ({"owner_id": "x"}, "owner_id"),
        ({"rules": {"min_duration_min": 90000}}, "rules.min_duration_min"),
    ):
        r = await client.patch(f"/v1/spots/{spot['id']}", json=body, headers=alice.headers)
        problem = assert_problem(r, 422, "validation_error")
        assert problem["errors"][0]["field"] == field, problem
    assert_problem(
        await client.patch(f"/v1/spots/{spot['id']}", json=[1], headers=alice.headers),
        422,
        "validation_error",
    )
    assert (await client.get(f"/v1/spots/{spot['id']}", headers=alice.headers)).json() == spot


async def test_only_the_owner_changes_a_spot(client: AsyncClient, alice: Account, bob: Account) -> None:
    spot = await make_spot(client, alice)
    assert_problem(
        await client.patch(f"/v1/spots/{spot['id']}", json={"title": "Mine"}, headers=bob.headers),
        403,
        "forbidden",
    )
    assert_problem(await client.delete(f"/v1/spots/{spot['id']}", headers=bob.headers), 403, "forbidden")
    assert_problem(await client.patch(f"/v1/spots/{spot['id']}", json={"title": "Mine"}), 401, "unauthorized")
    assert (await client.get(f"/v1/spots/{spot['id']}")).json()["title"] == NEW_SPOT["title"]


async def test_delete_withdraws_the_spot(client: AsyncClient, alice: Account, db: Database) -> None:
    spot = await make_spot(client, alice)
    r = await client.delete(f"/v1/spots/{spot['id']}", headers=alice.headers)
    assert r.status_code == 204
    assert_problem(await client.get(f"/v1/spots/{spot['id']}"), 404, "not_found")
    assert_problem(await client.delete(f"/v1/spots/{spot['id']}", headers=alice.headers), 404, "not_found")
    assert (await client.get("/v1/me/spots", headers=alice.headers)).json()["items"] == []
    async with db.sessionmaker() as session:
        row = await session.scalar(select(Spot).where(Spot.id == spot["id"]))
    assert row is not None
    assert row.deleted_at is not None


async def test_my_spots_lists_only_mine_with_paging(
    client: AsyncClient, alice: Account, bob: Account, clock: FakeClock
) -> None:
    mine = []
    for n in range(3):
        clock.advance(seconds=1)  # pages are in order of creation
        mine.append((await make_spot(client, alice, title=f"Spot {n}"))["id"])
    await make_spot(client, bob)
    first = (await client.get("/v1/me/spots", params={"limit": 2}, headers=alice.headers)).json()
    second = (
        await client.get("/v1/me/spots", params={"cursor": first["next_cursor"]}, headers=alice.headers)
    ).json()
    assert [s["id"] for s in first["items"] + second["items"]] == mine
    assert second["next_cursor"] is None
    assert all(s["view"] == "full" for s in first["items"])
    assert_problem(await client.get("/v1/me/spots"), 401, "unauthorized")
