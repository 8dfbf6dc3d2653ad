from __future__ import annotations

from httpx import AsyncClient

from tests.conftest import FakeClock, assert_problem, at
from tests.factories import Account, make_account, make_spot


async def test_me_shows_the_signed_in_account(client: AsyncClient, alice: Account) -> None:
    r = await client.get("/v1/me", headers=alice.headers)
    assert r.status_code == 200
    assert r.json() == alice.user


async def test_patch_me_changes_name_and_phone(client: AsyncClient, alice: Account) -> None:
    r = await client.patch(
        "/v1/me",
        headers=alice.headers,
        json={"display_name": "Alice B.", "phone": "+4923112345678"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["display_name"], body["phone"]) == ("Alice B.", "+4923112345678")
    assert body["updated_at"] >= alice.user["updated_at"]
    assert (await client.get("/v1/me", headers=alice.headers)).json()["phone"] == "+4923112345678"

    cleared = await client.patch("/v1/me", headers=alice.headers, json={"phone": None})
    assert cleared.json()["phone"] is None
    assert cleared.json()["display_name"] == "Alice B."


async def test_patch_me_validates(client: AsyncClient, alice: Account) -> None:
    for body, field in (
        ({"phone": "0231 12345"}, "phone"),
        ({"display_name": None}, "display_name"),
        ({"display_name": "   "}, "display_name"),
        ({"email": "new@example.org"}, "email"),
    ):
        r = await client.patch("/v1/me", headers=alice.headers, json=body)
        problem = assert_problem(r, 422, "validation_error")
        assert problem["errors"][0]["field"] == field, problem
    assert (await client.get("/v1/me", headers=alice.headers)).json() == alice.user


async def test_me_needs_sign_in(client: AsyncClient) -> None:
    assert_problem(await client.patch("/v1/me", json={"display_name": "x"}), 401, "unauthorized")
    assert_problem(await client.get("/v1/me/vehicles"), 401, "unauthorized")
    assert_problem(
        await client.post("/v1/me/vehicles", json={"license_plate": "DO X 1"}), 401, "unauthorized"
    )


async def test_vehicles_are_added_listed_and_removed(
    client: AsyncClient, alice: Account, clock: FakeClock
) -> None:
    r = await client.post(
        "/v1/me/vehicles",
        headers=alice.headers,
        json={
            "license_plate": " do-ps  1234 ",
            "length_cm": 450,
            "width_cm": 180,
            "height_cm": 150,
            "electric": True,
        },
    )
    assert r.status_code == 201, r.text
    vehicle = r.json()
    assert vehicle["license_plate"] == "DO-PS 1234"
    assert (
        vehicle["length_cm"],
        vehicle["width_cm"],
        vehicle["height_cm"],
        vehicle["electric"],
    ) == (450, 180, 150, True)

    clock.advance(seconds=1)  # listed in order of registration
    minimal = await client.post("/v1/me/vehicles", headers=alice.headers, json={"license_plate": "B AB 12"})
    assert minimal.status_code == 201
    assert minimal.json()["electric"] is False
    assert minimal.json()["length_cm"] is None

    listed = (await client.get("/v1/me/vehicles", headers=alice.headers)).json()
    assert [v["id"] for v in listed["items"]] == [vehicle["id"], minimal.json()["id"]]
    assert listed["next_cursor"] is None

    assert (await client.delete(f"/v1/me/vehicles/{vehicle['id']}", headers=alice.headers)).status_code == 204
    listed = (await client.get("/v1/me/vehicles", headers=alice.headers)).json()
    assert [v["id"] for v in listed["items"]] == [minimal.json()["id"]]
    assert_problem(
        await client.delete(f"/v1/me/vehicles/{vehicle['id']}", headers=alice.headers),
        404,
        "not_found",
    )

    # A removed plate can be registered again.
    again = await client.post("/v1/me/vehicles", headers=alice.headers, json={"license_plate": "DO-PS 1234"})
    assert again.status_code == 201


async def test_vehicle_list_pages_with_a_cursor(
    client: AsyncClient, alice: Account, clock: FakeClock
) -> None:
    ids = []
    for n in range(5):
        clock.advance(seconds=1)  # pages are in order of registration
        r = await client.post(
            "/v1/me/vehicles", headers=alice.headers, json={"license_plate": f"DO A {n + 1}"}
        )
        ids.append(r.json()["id"])
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/v1/me/vehicles", headers=alice.headers, params=params)).json()
        pages += 1
        seen += [v["id"] for v in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    assert pages == 3


async def test_vehicle_paging_validates(client: AsyncClient, alice: Account) -> None:
    for params in (
        {"limit": 0},
        {"limit": 101},
        {"cursor": "garbage"},
        {"cursor": "WyJ4IiwgInkiXQ"},
    ):
        r = await client.get("/v1/me/vehicles", headers=alice.headers, params=params)
        assert_problem(r, 422, "validation_error")


async def test_vehicles_are_private(client: AsyncClient, alice: Account, bob: Account) -> None:
    r = await client.post("/v1/me/vehicles", headers=alice.headers, json={"license_plate": "DO AL 1"})
    vehicle_id = r.json()["id"]
    assert (await client.get("/v1/me/vehicles", headers=bob.headers)).json()["items"] == []
    assert_problem(
        await client.delete(f"/v1/me/vehicles/{vehicle_id}", headers=bob.headers), 404, "not_found"
    )
    assert_problem(await client.delete("/v1/me/vehicles/not-an-id", headers=bob.headers), 404, "not_found")
    assert len((await client.get("/v1/me/vehicles", headers=alice.headers)).json()["items"]) == 1


async def test_vehicle_validation(client: AsyncClient, alice: Account) -> None:
    await client.post("/v1/me/vehicles", headers=alice.headers, json={"license_plate": "DO AL 1"})
    for body, field in (
        ({"license_plate": "do al 1"}, "license_plate"),  # the same plate, normalised
        ({"license_plate": "DO;AL"}, "license_plate"),
        ({"license_plate": ""}, "license_plate"),
        ({"license_plate": "DO AL 2", "length_cm": 20}, "length_cm"),
        ({"license_plate": "DO AL 2", "height_cm": 9000}, "height_cm"),
        ({"license_plate": "DO AL 2", "width_cm": "wide"}, "width_cm"),
        ({"license_plate": "DO AL 2", "colour": "red"}, "colour"),
    ):
        r = await client.post("/v1/me/vehicles", headers=alice.headers, json=body)
        problem = assert_problem(r, 422, "validation_error")
        assert problem["errors"][0]["field"] == field, problem
    assert len((await client.get("/v1/me/vehicles", headers=alice.headers)).json()["items"]) == 1


async def test_every_timestamp_comes_from_the_app_clock(client: AsyncClient, clock: FakeClock) -> None:
    """The app reads `now` from the request's clock only: what it stamps follows the fake clock,
    not the day the suite runs."""
    alice = await make_account(client, "stamped")
    assert alice.user["created_at"] == alice.user["updated_at"] == at(0, clock.start)
    clock.advance(hours=1)
    me = (await client.patch("/v1/me", headers=alice.headers, json={"display_name": "Later"})).json()
    assert (me["created_at"], me["updated_at"]) == (at(0, clock.start), at(1, clock.start))
    vehicle = (
        await client.post("/v1/me/vehicles", headers=alice.headers, json={"license_plate": "DO T 1"})
    ).json()
    assert vehicle["created_at"] == at(1, clock.start)
    clock.advance(hours=1)
    spot = await make_spot(client, alice)
    assert spot["created_at"] == spot["updated_at"] == at(2, clock.start)
    clock.advance(hours=1)
    rule = (
        await client.post(
            f"/v1/spots/{spot['id']}/availability/rules",
            headers=alice.headers,
            json={"weekdays": ["mon"], "start_time": "08:00", "end_time": "18:00"},
        )
    ).json()
    assert rule["created_at"] == at(3, clock.start)
