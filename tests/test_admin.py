"""Moderation (docs/api.md, "Moderation"): the admin role, suspending and reinstating accounts,
unlisting and relisting spots, and the audit log, against the real database."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from httpx import AsyncClient
from sqlalchemy import func, select
from sqlmodel import col

from app.admin.models import AuditEntry
from app.admin.service import set_role
from app.cli import set_admin_role
from app.db import Database
from app.errors import NotFound
from app.events.models import Event
from app.settings import Settings
from app.users.models import User
from tests.conftest import START, FakeClock, assert_problem, at
from tests.factories import PASSWORD, Account, book, booked, make_account, open_spot

REASON = "Reported for harassment by two owners"
ROUTES = [
    ("post", "/v1/admin/users/{user}/suspend", {"reason": REASON}),
    ("post", "/v1/admin/users/{user}/reinstate", None),
    ("post", "/v1/admin/spots/{spot}/unlist", {"reason": REASON}),
    ("post", "/v1/admin/spots/{spot}/relist", None),
    ("post", "/v1/admin/reviews/{review}/hide", {"reason": REASON}),
    ("get", "/v1/admin/audit", None),
]


async def make_admin(client: AsyncClient, db: Database) -> Account:
    account = await make_account(client, "admin")
    async with db.sessionmaker() as session, session.begin():
        await set_role(session, account.email, "admin", START)
    return account


@pytest.fixture
async def admin(client: AsyncClient, db: Database) -> Account:
    return await make_admin(client, db)


async def call(
    client: AsyncClient, method: str, path: str, body: dict[str, Any] | None, who: Account | None
) -> httpx.Response:
    headers = who.headers if who else {}
    if method == "get":
        return await client.get(path, headers=headers)
    return await client.post(path, headers=headers, json=body)


async def search_ids(client: AsyncClient) -> list[str]:
    r = await client.get(
        "/v1/search",
        params={"lat": 51.505, "lon": 7.447, "radius_m": 800, "start": at(30, START), "end": at(32, START)},
    )
    assert r.status_code == 200, r.text
    return [item["spot"]["id"] for item in r.json()["items"]]


async def test_only_admins_may_use_the_admin_routes(
    client: AsyncClient, admin: Account, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    for method, template, body in ROUTES:
        path = template.format(user=bob.id, spot=spot["id"], review=uuid.uuid4())
        assert_problem(await call(client, method, path, body, None), 401, "unauthorized")
        assert_problem(await call(client, method, path, body, bob), 403, "forbidden")
        # The spot's owner is no admin either.
        assert_problem(await call(client, method, path, body, alice), 403, "forbidden")
    # Nothing happened.
    assert (await client.get("/v1/me", headers=bob.headers)).status_code == 200
    assert spot["id"] in await search_ids(client)
    r = await client.get("/v1/admin/audit", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert [i["action"] for i in r.json()["items"]] == ["admin.grant"]


async def test_suspension_ends_sign_ins_refuses_login_and_cancels_holds_and_requests(
    client: AsyncClient, db: Database, admin: Account, alice: Account, bob: Account
) -> None:
    instant = await open_spot(client, alice)
    on_request = await open_spot(client, alice, instant_book=False)
    confirmed = await booked(client, bob, instant, 2, 4)
    held = await booked(client, bob, instant, 6, 8, confirm=False)
    requested = (await book(client, bob, on_request, 6, 8)).json()
    assert (held["status"], requested["status"]) == ("held", "requested")

    r = await client.post(f"/v1/admin/users/{bob.id}/suspend", headers=admin.headers, json={"reason": REASON})
    assert r.status_code == 200, r.text
    out = r.json()
    assert out["id"] == bob.id
    assert out["suspended_at"] == at(0, START)
    assert out["cancelled_bookings"] == 2
    assert "email" not in out
    assert "phone" not in out

    # The access token dies at once, and so does the refresh token.
    assert_problem(await client.get("/v1/me", headers=bob.headers), 401, "unauthorized")
    refresh = await client.post("/v1/auth/refresh", json={"refresh_token": bob.tokens["refresh_token"]})
    assert_problem(refresh, 401, "unauthorized")
    login = await client.post("/v1/auth/login", json={"email": bob.email, "password": PASSWORD})
    assert_problem(login, 401, "account_suspended")
    # A wrong password says nothing about the suspension.
    wrong = await client.post("/v1/auth/login", json={"email": bob.email, "password": "not the password"})
    assert_problem(wrong, 401, "invalid_credentials")

    # The owner sees the holds and requests cancelled by the system, the confirmed one kept.
    for booking, status in ((held, "cancelled"), (requested, "cancelled"), (confirmed, "confirmed")):
        r = await client.get(f"/v1/bookings/{booking['id']}", headers=alice.headers)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == status
        if status == "cancelled":
            assert r.json()["refund_cents"] == 0
            assert r.json()["events"][-1]["by"] == "system"
    async with db.sessionmaker() as session:
        told = await session.scalar(
            select(func.count())
            .select_from(Event)
            .where(
                col(Event.type) == "booking.cancelled",
                col(Event.booking_id).in_([uuid.UUID(held["id"]), uuid.UUID(requested["id"])]),
            )
        )
    assert told == 2

    # Twice is a conflict; so is suspending yourself.
    again = await client.post(
        f"/v1/admin/users/{bob.id}/suspend", headers=admin.headers, json={"reason": REASON}
    )
    assert_problem(again, 409, "conflict")
    myself = await client.post(
        f"/v1/admin/users/{admin.id}/suspend", headers=admin.headers, json={"reason": REASON}
    )
    assert_problem(myself, 409, "conflict")


async def test_a_sign_in_that_raced_with_the_suspension_is_refused(
    client: AsyncClient, db: Database, bob: Account
) -> None:
    assert (await client.get("/v1/me", headers=bob.headers)).status_code == 200
    # As if the sign-in had started after the suspension read the account's sessions.
    async with db.sessionmaker() as session, session.begin():
        user = await session.get(User, uuid.UUID(bob.id))
        assert user is not None
        user.suspended_at = START
    assert_problem(await client.get("/v1/me", headers=bob.headers), 401, "unauthorized")


async def test_a_reinstated_account_signs_in_again(client: AsyncClient, admin: Account, bob: Account) -> None:
    r = await client.post(f"/v1/admin/users/{bob.id}/suspend", headers=admin.headers, json={"reason": REASON})
    assert r.status_code == 200, r.text
    r = await client.post(f"/v1/admin/users/{bob.id}/reinstate", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert r.json()["suspended_at"] is None
    login = await client.post("/v1/auth/login", json={"email": bob.email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {login.json()['access_token']}"})
    assert me.status_code == 200
    # The old sign-in stays ended.
    assert_problem(await client.get("/v1/me", headers=bob.headers), 401, "unauthorized")
    again = await client.post(f"/v1/admin/users/{bob.id}/reinstate", headers=admin.headers)
    assert_problem(again, 409, "conflict")


async def test_moderation_validates_its_input(client: AsyncClient, admin: Account, bob: Account) -> None:
    path = f"/v1/admin/users/{bob.id}/suspend"
    assert_problem(await client.post(path, headers=admin.headers, json={}), 422, "validation_error")
    assert_problem(
        await client.post(path, headers=admin.headers, json={"reason": "  "}), 422, "validation_error"
    )
    assert_problem(
        await client.post(path, headers=admin.headers, json={"reason": "x" * 501}), 422, "validation_error"
    )
    unknown = f"/v1/admin/users/{uuid.uuid4()}/suspend"
    assert_problem(
        await client.post(unknown, headers=admin.headers, json={"reason": REASON}), 404, "not_found"
    )
    spot = f"/v1/admin/spots/{uuid.uuid4()}/unlist"
    assert_problem(await client.post(spot, headers=admin.headers, json={"reason": REASON}), 404, "not_found")
    # Nothing was suspended.
    assert (await client.get("/v1/me", headers=bob.headers)).status_code == 200


async def test_an_unlisted_spot_leaves_search_and_takes_no_new_bookings_but_keeps_confirmed_ones(
    client: AsyncClient, admin: Account, alice: Account, bob: Account, clock: FakeClock
) -> None:
    spot = await open_spot(client, alice)
    confirmed = await booked(client, bob, spot, 2, 4)
    held = await booked(client, bob, spot, 6, 8, confirm=False)
    assert spot["id"] in await search_ids(client)

    r = await client.post(
        f"/v1/admin/spots/{spot['id']}/unlist", headers=admin.headers, json={"reason": REASON}
    )
    assert r.status_code == 200, r.text
    assert r.json()["unlisted_at"] == at(0, START)
    assert r.json()["cancelled_bookings"] == 1
    assert "access_instructions" not in r.json()

    assert spot["id"] not in await search_ids(client)
    assert_problem(await client.get(f"/v1/spots/{spot['id']}"), 404, "not_found")
    carol = await make_account(client, "carol")
    assert_problem(await client.get(f"/v1/spots/{spot['id']}", headers=carol.headers), 404, "not_found")
    # The owner still reads it; an admin reads the public view only.
    owner_view = await client.get(f"/v1/spots/{spot['id']}", headers=alice.headers)
    assert owner_view.status_code == 200
    assert owner_view.json()["view"] == "full"
    admin_view = await client.get(f"/v1/spots/{spot['id']}", headers=admin.headers)
    assert admin_view.status_code == 200
    assert admin_view.json()["view"] == "public"
    assert admin_view.json()["access_instructions"] is None

    # No new bookings or quotes.
    assert_problem(await book(client, carol, spot, 10, 12), 404, "not_found")
    quote = await client.post(
        "/v1/quotes",
        headers=carol.headers,
        json={"spot_id": spot["id"], "start": at(10, START), "end": at(12, START)},
    )
    assert quote.status_code == 404, quote.text

    # The confirmed booking stays, and its driver reads it (and, when due, the spot's full view).
    mine = await client.get(f"/v1/bookings/{confirmed['id']}", headers=bob.headers)
    assert mine.status_code == 200
    assert mine.json()["status"] == "confirmed"
    before = await client.get(f"/v1/spots/{spot['id']}", headers=bob.headers)
    assert before.status_code == 200
    assert before.json()["view"] == "public"
    r = await client.get(f"/v1/bookings/{held['id']}", headers=bob.headers)
    assert r.json()["status"] == "cancelled"
    clock.advance(hours=1.5)
    due = await client.get(f"/v1/spots/{spot['id']}", headers=bob.headers)
    assert due.status_code == 200
    assert due.json()["view"] == "full"

    # Relisted, it is found and bookable again.
    r = await client.post(f"/v1/admin/spots/{spot['id']}/relist", headers=admin.headers)
    assert r.status_code == 200
    assert r.json()["unlisted_at"] is None
    assert (await client.get(f"/v1/spots/{spot['id']}")).status_code == 200
    assert (await book(client, carol, spot, 10, 12)).status_code == 201
    assert_problem(
        await client.post(f"/v1/admin/spots/{spot['id']}/relist", headers=admin.headers), 409, "conflict"
    )


async def test_a_suspended_owners_spots_leave_search_with_the_account_and_come_back_with_it(
    client: AsyncClient, admin: Account, alice: Account, bob: Account
) -> None:
    carol = await make_account(client, "carol")
    listed = await open_spot(client, alice)
    on_request = await open_spot(client, alice, instant_book=False)
    unlisted_before = await open_spot(client, alice)
    r = await client.post(
        f"/v1/admin/spots/{unlisted_before['id']}/unlist", headers=admin.headers, json={"reason": REASON}
    )
    assert r.status_code == 200, r.text
    confirmed = await booked(client, bob, listed, 2, 4)
    requested = (await book(client, bob, on_request, 6, 8)).json()
    assert requested["status"] == "requested"
    assert {listed["id"], on_request["id"]} <= set(await search_ids(client))

    r = await client.post(
        f"/v1/admin/users/{alice.id}/suspend", headers=admin.headers, json={"reason": REASON}
    )
    assert r.status_code == 200, r.text
    assert r.json()["cancelled_bookings"] == 1
    found = set(await search_ids(client))
    assert found.isdisjoint({listed["id"], on_request["id"], unlisted_before["id"]})
    assert_problem(await book(client, carol, listed, 10, 12), 404, "not_found")
    # The request waiting for her answer is cancelled (she cannot sign in to give it); the
    # confirmed booking stays.
    r = await client.get(f"/v1/bookings/{requested['id']}", headers=bob.headers)
    assert r.json()["status"] == "cancelled"
    r = await client.get(f"/v1/bookings/{confirmed['id']}", headers=bob.headers)
    assert r.json()["status"] == "confirmed"

    r = await client.post(f"/v1/admin/users/{alice.id}/reinstate", headers=admin.headers)
    assert r.status_code == 200, r.text
    found = set(await search_ids(client))
    assert {listed["id"], on_request["id"]} <= found
    # The spot an admin unlisted on its own stays unlisted.
    assert unlisted_before["id"] not in found
    assert (await book(client, carol, listed, 10, 12)).status_code == 201
    audit = (await client.get("/v1/admin/audit", headers=admin.headers, params={"limit": 100})).json()[
        "items"
    ]
    by_spot = [(i["action"], i["target"]["id"]) for i in audit if i["target"]["type"] == "spot"]
    assert ("spot.relist", listed["id"]) in by_spot
    assert ("spot.relist", unlisted_before["id"]) not in by_spot
    assert sum(1 for a, _ in by_spot if a == "spot.unlist") == 3


async def test_a_spot_unlisted_with_its_owner_and_then_on_its_own_stays_unlisted(
    client: AsyncClient, admin: Account, alice: Account
) -> None:
    spot = await open_spot(client, alice)
    r = await client.post(
        f"/v1/admin/users/{alice.id}/suspend", headers=admin.headers, json={"reason": REASON}
    )
    assert r.status_code == 200, r.text
    r = await client.post(
        f"/v1/admin/spots/{spot['id']}/unlist", headers=admin.headers, json={"reason": "Fake"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["unlisted_at"] is not None
    r = await client.post(f"/v1/admin/users/{alice.id}/reinstate", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert spot["id"] not in await search_ids(client)
    r = await client.post(f"/v1/admin/spots/{spot['id']}/relist", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert spot["id"] in await search_ids(client)


async def test_the_audit_log_lists_every_action_newest_first_without_personal_data(
    client: AsyncClient, admin: Account, alice: Account, bob: Account, clock: FakeClock
) -> None:
    spot = await open_spot(client, alice)
    steps = [
        (f"/v1/admin/users/{bob.id}/suspend", {"reason": "first"}),
        (f"/v1/admin/users/{bob.id}/reinstate", None),
        (f"/v1/admin/spots/{spot['id']}/unlist", {"reason": "third"}),
        (f"/v1/admin/spots/{spot['id']}/relist", None),
    ]
    for path, body in steps:
        clock.advance(minutes=1)
        r = await client.post(path, headers=admin.headers, json=body)
        assert r.status_code == 200, r.text

    items: list[dict[str, Any]] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        r = await client.get("/v1/admin/audit", headers=admin.headers, params=params)
        assert r.status_code == 200, r.text
        items += r.json()["items"]
        pages += 1
        cursor = r.json()["next_cursor"]
        if cursor is None:
            break
    assert pages == 2
    # The grant that made the test's admin came first, from the command line (no actor).
    assert [i["action"] for i in items] == [
        "spot.relist",
        "spot.unlist",
        "user.reinstate",
        "user.suspend",
        "admin.grant",
    ]
    assert [i["reason"] for i in items] == [None, "third", None, "first", None]
    assert [i["at"] for i in items[:4]] == [
        at(4 / 60, START),
        at(3 / 60, START),
        at(2 / 60, START),
        at(1 / 60, START),
    ]
    assert items[0]["target"] == {"type": "spot", "id": spot["id"]}
    assert items[3]["target"] == {"type": "user", "id": bob.id}
    assert items[0]["actor"] == {"id": admin.id, "display_name": "Admin"}
    assert items[4]["actor"] is None
    assert items[4]["target"] == {"type": "user", "id": admin.id}
    text = r.text + str(items)
    for secret in (bob.email, admin.email, alice.email, "Code 4711", PASSWORD, admin.tokens["access_token"]):
        assert secret not in text


async def test_cli_grants_and_revokes_the_admin_role(
    settings: Settings, committed_db: Database, committed_client: AsyncClient
) -> None:
    account = await make_account(committed_client, "boss")
    assert_problem(await committed_client.get("/v1/admin/audit", headers=account.headers), 403, "forbidden")
    assert await set_admin_role(settings, account.email.upper(), grant=True) == f"{account.email} is an admin"
    r = await committed_client.get("/v1/admin/audit", headers=account.headers)
    assert r.status_code == 200, r.text
    assert [(i["action"], i["actor"]) for i in r.json()["items"]] == [("admin.grant", None)]
    # Granting again changes nothing and writes nothing.
    await set_admin_role(settings, account.email, grant=True)
    assert await set_admin_role(settings, account.email, grant=False) == f"{account.email} is no admin"
    assert_problem(await committed_client.get("/v1/admin/audit", headers=account.headers), 403, "forbidden")
    async with committed_db.sessionmaker() as session:
        role = await session.scalar(select(col(User.role)).where(col(User.email) == account.email))
        actions = list(await session.scalars(select(col(AuditEntry.action)).order_by(col(AuditEntry.at))))
    assert role == "user"
    assert actions == ["admin.grant", "admin.revoke"]
    with pytest.raises(NotFound):
        await set_admin_role(settings, "nobody@example.org", grant=True)
