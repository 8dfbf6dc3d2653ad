"""GDPR: the export of everything stored about an account (`GET /v1/me/export`, Art. 15/20) and
its erasure (`DELETE /v1/me`, Art. 17), against the real database."""

from __future__ import annotations

import json
from typing import Any

import pytest
from httpx import URL, AsyncClient
from sqlalchemy import Table, text

from app.db import Database, metadata
from app.events.models import PushSubscription
from app.privacy import service
from tests.conftest import START, assert_problem, at
from tests.factories import (
    PASSWORD,
    Account,
    add_vehicle,
    booked,
    make_account,
    open_spot,
)

NAME = "Zelda Quarkenbusch"
PHONE = "+4915112345678"
PLATE = "DO-ZQ 815"
STREET = "Quarkenbuschweg"
INSTRUCTIONS = "Knock twice at the blue Quarkenbusch door"
WEBHOOK_URL = "https://93.184.215.14/zelda-hook"
PUSH_ENDPOINT = "https://push.example.net/push/zelda-endpoint"
PUSH_P256DH = "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4"
PUSH_AUTH = "BTBZMqHH6r4Tts7J_aSIgg"


# --- The tables that refer to an account ---------------------------------------------------------


def _refers_to(table: Table, targets: set[str]) -> bool:
    return any(fk.column.table.name in targets for fk in table.foreign_keys)


def tables_of_an_account() -> set[str]:
    """Every table with a foreign key to `users`, and every table with one to those (a spot's
    availability, a booking's history, a sign-in's tokens, a webhook's deliveries)."""
    tables = metadata.tables.values()
    direct = {t.name for t in tables if _refers_to(t, {"users"})}
    through = {t.name for t in tables if _refers_to(t, direct)}
    return {"users"} | direct | through


def test_every_table_that_refers_to_an_account_is_exported_or_said_why_not() -> None:
    found = tables_of_an_account()
    # The walk itself finds what it must (so that it cannot pass by finding nothing).
    assert {
        "vehicles",
        "spots",
        "bookings",
        "availability_rules",
        "booking_events",
        "refresh_tokens",
    } <= found
    exported, internal = set(service.EXPORTED), set(service.NOT_EXPORTED)
    assert exported.isdisjoint(internal)
    missing = found - exported - internal
    assert missing == set(), f"add these tables to the export or to NOT_EXPORTED with a reason: {missing}"
    assert all(reason.strip() for reason in service.NOT_EXPORTED.values())


def test_every_table_that_refers_to_an_account_has_an_erasure_rule() -> None:
    missing = tables_of_an_account() - set(service.ERASURE)
    assert missing == set(), f"say in ERASURE what deleting an account does to: {missing}"


# --- A scene with every kind of data ------------------------------------------------------------


async def zelda(client: AsyncClient) -> Account:
    account = await make_account(client, "zelda")
    r = await client.patch("/v1/me", headers=account.headers, json={"display_name": NAME, "phone": PHONE})
    assert r.status_code == 200, r.text
    return account


async def add_push_subscription(db: Database, account: Account) -> None:
    async with db.sessionmaker() as session, session.begin():
        session.add(
            PushSubscription(
                user_id=account.id,
                endpoint=PUSH_ENDPOINT,
                p256dh=PUSH_P256DH,
                auth=PUSH_AUTH,
                created_at=START,
            )
        )


async def everything(client: AsyncClient, db: Database) -> dict[str, Any]:
    """Zelda owns a spot (rule, window, blackout) that Bob has booked, and has booked Carol's spot;
    she has a vehicle, a webhook, a push subscription and both kinds of calendar feed."""
    owner = await zelda(client)
    bob = await make_account(client, "bob")
    carol = await make_account(client, "carol")
    vehicle = await add_vehicle(client, owner, PLATE)
    spot = await open_spot(client, owner, cancellation_policy="moderate")
    r = await client.patch(
        f"/v1/spots/{spot['id']}",
        headers={**owner.headers, "Content-Type": "application/merge-patch+json"},
        content=json.dumps({"address": {"street": STREET}, "access_instructions": INSTRUCTIONS}),
    )
    assert r.status_code == 200, r.text
    for kind, extra in (("windows", {}), ("blackouts", {"reason": "Zelda's birthday party"})):
        r = await client.post(
            f"/v1/spots/{spot['id']}/availability/{kind}",
            headers=owner.headers,
            json={"start": at(200, START), "end": at(210, START), **extra},
        )
        assert r.status_code == 201, r.text
    bobs = await booked(client, bob, spot, 24, 26)
    carols_spot = await open_spot(client, carol, cancellation_policy="strict")
    r = await client.post(
        "/v1/bookings",
        headers=owner.headers,
        json={
            "spot_id": carols_spot["id"],
            "start": at(48, START),
            "end": at(50, START),
            "vehicle_id": vehicle["id"],
        },
    )
    assert r.status_code == 201, r.text
    r = await client.post(f"/v1/bookings/{r.json()['id']}/confirm", headers=owner.headers)
    assert r.status_code == 200, r.text
    zeldas = r.json()
    r = await client.post(
        "/v1/me/webhooks",
        headers=owner.headers,
        json={"url": WEBHOOK_URL, "events": ["booking.cancelled"], "description": "Zelda's garage"},
    )
    assert r.status_code == 201, r.text
    webhook_secret = r.json()["secret"]
    await add_push_subscription(db, owner)
    feeds = []
    for path in (f"/v1/spots/{spot['id']}/calendar-token", "/v1/me/calendar-token"):
        r = await client.post(path, headers=owner.headers)
        assert r.status_code == 200, r.text
        feeds.append(r.json()["url"])
    return {
        "owner": owner,
        "bob": bob,
        "carol": carol,
        "spot": spot,
        "carols_spot": carols_spot,
        "bobs": bobs,
        "zeldas": zeldas,
        "vehicle": vehicle,
        "webhook_secret": webhook_secret,
        "feeds": feeds,
    }


async def test_the_export_holds_every_kind_of_data(client: AsyncClient, db: Database) -> None:
    s = await everything(client, db)
    owner: Account = s["owner"]
    r = await client.get("/v1/me/export", headers=owner.headers)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["profile"]["email"] == owner.email
    assert doc["profile"]["display_name"] == NAME
    assert doc["profile"]["phone"] == PHONE
    assert [v["license_plate"] for v in doc["vehicles"]] == [PLATE]
    [spot] = doc["spots"]
    assert spot["spot"]["id"] == s["spot"]["id"]
    assert spot["withdrawn_at"] is None
    assert spot["spot"]["address"]["street"] == STREET
    assert spot["spot"]["access_instructions"] == INSTRUCTIONS
    assert len(spot["rules"]) == 1
    assert len(spot["windows"]) == 1
    assert [b["reason"] for b in spot["blackouts"]] == ["Zelda's birthday party"]
    [as_driver] = doc["bookings_as_driver"]
    assert as_driver["id"] == s["zeldas"]["id"]
    assert as_driver["license_plate"] == PLATE
    assert [e["status"] for e in as_driver["events"]] == ["held", "confirmed"]
    [as_owner] = doc["bookings_as_owner"]
    assert as_owner["id"] == s["bobs"]["id"]
    assert as_owner["status"] == "confirmed"
    [webhook] = doc["webhooks"]
    assert webhook["url"] == WEBHOOK_URL
    assert "secret" not in webhook
    assert doc["push_subscriptions"] == [
        {"id": doc["push_subscriptions"][0]["id"], "endpoint": PUSH_ENDPOINT, "created_at": at(0, START)}
    ]
    [signed_in] = doc["sign_in_sessions"]
    assert signed_in["revoked_at"] is None
    assert len(signed_in["refresh_tokens"]) == 1
    assert sorted(f["spot_id"] or "" for f in doc["calendar_feeds"]) == sorted(["", s["spot"]["id"]])
    # The events addressed to her: her own booking's, and those of Bob's booking of her spot.
    assert {(e["type"], e["booking_id"]) for e in doc["events"]} >= {
        ("booking.confirmed", s["zeldas"]["id"]),
        ("booking.confirmed", s["bobs"]["id"]),
    }
    # Bob's plate never in the owner's copy of an event.
    assert all(e["data"]["booking"].get("license_plate") in (None, PLATE) for e in doc["events"])
    # The verification mail sent after registration (not yet sent: no sender runs here).
    assert [(m["kind"], m["to"], m["sent_at"]) for m in doc["emails"]] == [
        ("verify_email", owner.email, None)
    ]
    assert sorted(c["purpose"] for c in doc["consents"]) == [
        "calendar_feed",
        "calendar_feed",
        "push_notifications",
        "webhook",
    ]
    assert {c["withdrawn_by"] for c in doc["consents"]} >= {f"DELETE /v1/me/webhooks/{webhook['id']}"}
    assert set(doc["not_exported"]) == set(service.NOT_EXPORTED)
    assert "idempotency_keys" in doc["not_exported"]


async def test_the_export_holds_no_secret(client: AsyncClient, db: Database) -> None:
    s = await everything(client, db)
    owner: Account = s["owner"]
    r = await client.get("/v1/me/export", headers=owner.headers)
    assert r.status_code == 200, r.text
    raw = r.text
    async with db.sessionmaker() as session:
        hashes = (
            await session.execute(
                text(
                    "select u.password_hash, (select array_agg(encode(token_hash, 'hex')) from refresh_tokens t"
                    " join login_sessions l on l.id = t.session_id where l.user_id = u.id),"
                    " (select array_agg(encode(token_hash, 'hex')) from calendar_tokens c where c.user_id = u.id)"
                    " from users u where u.id = :id"
                ),
                {"id": owner.id},
            )
        ).one()
    password_hash, refresh_hashes, feed_hashes = hashes
    secrets = [
        password_hash,
        *refresh_hashes,
        *feed_hashes,
        s["webhook_secret"],
        PUSH_P256DH,
        PUSH_AUTH,
        owner.tokens["access_token"],
        owner.tokens["refresh_token"],
        *(url.split("token=")[1] for url in s["feeds"]),
        PASSWORD,
    ]
    assert len(secrets) == 12
    for secret in secrets:
        assert secret not in raw
    assert "token_hash" not in raw
    assert "password" not in raw


async def test_the_export_is_only_the_callers(client: AsyncClient, db: Database) -> None:
    s = await everything(client, db)
    bob: Account = s["bob"]
    r = await client.get("/v1/me/export", headers=bob.headers)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["profile"]["id"] == bob.id
    assert doc["spots"] == []
    assert doc["webhooks"] == []
    assert doc["vehicles"] == []
    assert [b["id"] for b in doc["bookings_as_driver"]] == [s["bobs"]["id"]]
    assert NAME not in r.text or all(b["driver_id"] == bob.id for b in doc["bookings_as_driver"])
    assert PHONE not in r.text
    assert STREET not in r.text
    assert INSTRUCTIONS not in r.text
    assert_problem(await client.get("/v1/me/export"), 401, "unauthorized")


# --- Erasure ------------------------------------------------------------------------------------


async def delete_me(client: AsyncClient, account: Account, password: str = PASSWORD) -> Any:
    return await client.request("DELETE", "/v1/me", headers=account.headers, json={"password": password})


async def test_a_wrong_password_erases_nothing(client: AsyncClient, db: Database) -> None:
    s = await everything(client, db)
    owner: Account = s["owner"]
    before = (await client.get("/v1/me/export", headers=owner.headers)).json()
    assert_problem(await delete_me(client, owner, "not the password"), 401, "invalid_credentials")
    after = (await client.get("/v1/me/export", headers=owner.headers)).json()
    assert after == before
    r = await client.post("/v1/auth/login", json={"email": owner.email, "password": PASSWORD})
    assert r.status_code == 200, r.text


_SCAN = (
    "select v from unnest(cast(:values as text[])) v"
    " where exists (select from \"{table}\" t where t::text ilike '%' || v || '%')"
)


async def tables_holding(db: Database, values: list[str]) -> set[tuple[str, str]]:
    """(table, value) for every table with a row whose text (every column, JSON included) holds
    one of `values`."""
    found = set()
    async with db.sessionmaker() as session:
        for table in metadata.sorted_tables:
            # Names from the metadata, not from input.
            query = text(_SCAN.format(table=table.name))
            for value in await session.scalars(query, {"values": values}):
                found.add((table.name, value))
    return found


async def test_erasure_cancels_withdraws_and_erases(client: AsyncClient, db: Database) -> None:
    s = await everything(client, db)
    owner: Account = s["owner"]
    bob: Account = s["bob"]
    carol: Account = s["carol"]
    personal = [owner.email, NAME, PHONE, PLATE, STREET, INSTRUCTIONS, WEBHOOK_URL, PUSH_ENDPOINT]
    # The scan finds them before, so that finding none after means something.
    assert {value for _, value in await tables_holding(db, personal)} == set(personal)

    r = await delete_me(client, owner)
    assert r.status_code == 204, r.text

    assert await tables_holding(db, personal) == set()

    # Bob's booking of her spot: cancelled by the owner with a full refund, and he was told.
    r = await client.get(f"/v1/bookings/{s['bobs']['id']}", headers=bob.headers)
    assert r.status_code == 200, r.text
    bobs = r.json()
    assert bobs["status"] == "cancelled"
    assert bobs["refund_cents"] == bobs["total_cents"] > 0
    assert [e["status"] for e in bobs["events"]] == ["held", "confirmed", "cancelled"]
    async with db.sessionmaker() as session:
        told = (
            await session.execute(
                text(
                    "select driver_id::text, data from events where booking_id = :id and type = 'booking.cancelled'"
                ),
                {"id": s["bobs"]["id"]},
            )
        ).all()
    assert [(driver, data["booking"]["status"]) for driver, data in told] == [(bob.id, "cancelled")]

    # Her booking of Carol's spot: cancelled by the driver under the spot's policy; Carol's history
    # of it stays whole, tied to a deleted user.
    r = await client.get(f"/v1/bookings/{s['zeldas']['id']}", headers=carol.headers)
    assert r.status_code == 200, r.text
    hers = r.json()
    assert hers["status"] == "cancelled"
    assert hers["driver_name"] == service.DELETED_NAME
    assert hers["driver_id"] == owner.id
    assert hers["total_cents"] == s["zeldas"]["total_cents"]
    assert hers["start"] == s["zeldas"]["start"]
    assert hers["end"] == s["zeldas"]["end"]
    assert [(e["status"], e["by"]) for e in hers["events"]] == [
        ("held", owner.id),
        ("confirmed", owner.id),
        ("cancelled", owner.id),
    ]
    # Strict: two days ahead, a driver's own cancellation refunds half (an owner's would be full).
    assert hers["refund_cents"] == hers["total_cents"] // 2 > 0
    async with db.sessionmaker() as session:
        owners_told = await session.scalar(
            text("select owner_id::text from events where booking_id = :id and type = 'booking.cancelled'"),
            {"id": s["zeldas"]["id"]},
        )
    assert owners_told == carol.id
    r = await client.get("/v1/me/bookings", headers=carol.headers, params={"role": "owner"})
    assert r.status_code == 200, r.text
    assert [b["id"] for b in r.json()["items"]] == [s["zeldas"]["id"]]

    # Her spot is gone from everyone's view.
    assert_problem(await client.get(f"/v1/spots/{s['spot']['id']}", headers=bob.headers), 404, "not_found")

    # Every token stops working at once; the password no longer signs in.
    assert_problem(await client.get("/v1/me", headers=owner.headers), 401, "unauthorized")
    r = await client.post("/v1/auth/refresh", json={"refresh_token": owner.tokens["refresh_token"]})
    assert r.status_code == 401, r.text
    for feed in s["feeds"]:
        url = URL(feed)
        r = await client.get(url.path, params=dict(url.params))
        assert r.status_code == 404, (feed, r.status_code)
    assert_problem(
        await client.post("/v1/auth/login", json={"email": owner.email, "password": PASSWORD}),
        401,
        "invalid_credentials",
    )
    # The address can register again, as a new account.
    r = await client.post(
        "/v1/auth/register", json={"email": owner.email, "password": PASSWORD, "display_name": "Zelda again"}
    )
    assert r.status_code == 201, r.text
    assert r.json()["id"] != owner.id


async def test_erasure_is_one_transaction(
    client: AsyncClient, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = await everything(client, db)
    owner: Account = s["owner"]

    async def fail(*args: Any) -> None:
        raise RuntimeError("injected failure after the cancellations")

    monkeypatch.setattr(service, "_erase_personal_data", fail)
    before = (await client.get("/v1/me/export", headers=owner.headers)).json()
    r = await delete_me(client, owner)
    assert r.status_code == 500, r.text
    after = (await client.get("/v1/me/export", headers=owner.headers)).json()
    assert after == before
    assert after["bookings_as_owner"][0]["status"] == "confirmed"
    async with db.sessionmaker() as session:
        cancelled = await session.scalar(text("select count(*) from events where type = 'booking.cancelled'"))
    assert cancelled == 0


async def test_erasure_of_an_account_without_data(client: AsyncClient) -> None:
    account = await make_account(client, "plain")
    assert (await delete_me(client, account)).status_code == 204
    assert_problem(await client.get("/v1/me/export", headers=account.headers), 401, "unauthorized")


async def test_erasure_needs_the_password_field(client: AsyncClient) -> None:
    account = await make_account(client, "plain")
    r = await client.request("DELETE", "/v1/me", headers=account.headers, json={})
    assert_problem(r, 422, "validation_error")
    assert (await client.get("/v1/me", headers=account.headers)).status_code == 200
