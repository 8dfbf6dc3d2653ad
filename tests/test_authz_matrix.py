"""Who may call what: every route of the OpenAPI schema against every kind of caller, with the
status and problem `code` docs/api.md requires, and no other user's private data in any answer.

The callers (`ACTORS`): nobody signed in; a stranger (an account unrelated to anything in the
scene); the driver, who holds bookings of the owner's spots; the spot's owner; an admin. Each
route gets a request a legitimate caller would send (a valid body, the scene's ids), so the status
shows the authorization, not validation.

Adding a route: add its row to MATRIX (a success status, or the problem code the actor must get)
and, when it takes a body, query or special ids, its entry in `request_for`. The test fails,
naming the routes, while the schema and MATRIX disagree.

The clock stands far before the bookings' reveal windows (docs/api.md, "Spots"); one test looks
inside a window. The live stream's content per caller is tested against a real server in
tests/test_events_stream.py; here its status is read without reading the stream.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.admin.service import set_role
from app.db import Database, make_sessionmaker
from app.errors import PROBLEM_MEDIA_TYPE
from app.events.hub import Hub
from app.main import create_app
from app.openapi import CODE_STATUS
from app.settings import Settings
from tests.conftest import START, FakeClock, _client, at, http_scope
from tests.factories import (
    EVERY_DAY,
    PASSWORD,
    Account,
    add_rule,
    add_vehicle,
    booked,
    make_account,
    spot_body,
)

T = TypeVar("T")
Actor = Literal["anonymous", "stranger", "driver", "owner", "admin"]
ACTORS: tuple[Actor, ...] = ("anonymous", "stranger", "driver", "owner", "admin")

# An expected answer: a success status, or the problem code (its status is CODE_STATUS's).
Expected = int | str
U, F, N = "unauthorized", "forbidden", "not_found"


def row(
    anonymous: Expected, stranger: Expected, driver: Expected, owner: Expected, admin: Expected
) -> dict[Actor, Expected]:
    return {"anonymous": anonymous, "stranger": stranger, "driver": driver, "owner": owner, "admin": admin}


# fmt: off
MATRIX: dict[tuple[str, str], dict[Actor, Expected]] = {
    #                                                              anonymous stranger driver owner admin
    # Operations and the public key: anyone.
    ("GET", "/healthz"):                                          row(200, 200, 200, 200, 200),
    ("GET", "/readyz"):                                           row(200, 200, 200, 200, 200),
    ("GET", "/metrics"):                                          row(200, 200, 200, 200, 200),
    ("GET", "/v1/push/vapid-public-key"):                         row(200, 200, 200, 200, 200),
    # Accounts: public, each with its own credentials (nobody signed in uses a fifth account's).
    ("POST", "/v1/auth/register"):                                row(201, 201, 201, 201, 201),
    ("POST", "/v1/auth/login"):                                   row(200, 200, 200, 200, 200),
    ("POST", "/v1/auth/refresh"):                                 row(200, 200, 200, 200, 200),
    ("POST", "/v1/auth/logout"):                                  row(204, 204, 204, 204, 204),
    # Links from mails: the token is the credential (each caller uses one mailed to itself).
    ("POST", "/v1/auth/verify-email"):                            row(204, 204, 204, 204, 204),
    ("POST", "/v1/auth/password-reset"):                          row(202, 202, 202, 202, 202),
    ("POST", "/v1/auth/password-reset/confirm"):                  row(204, 204, 204, 204, 204),
    # The caller's own account: everyone signed in, each about themselves.
    ("GET", "/v1/me"):                                            row(U, 200, 200, 200, 200),
    ("PATCH", "/v1/me"):                                          row(U, 200, 200, 200, 200),
    ("DELETE", "/v1/me"):                                         row(U, 204, 204, 204, 204),
    ("POST", "/v1/me/verify-email"):                              row(U, 202, 202, 202, 202),
    ("POST", "/v1/me/password"):                                  row(U, 204, 204, 204, 204),
    ("POST", "/v1/me/email"):                                     row(U, 202, 202, 202, 202),
    ("GET", "/v1/me/earnings"):                                   row(U, 200, 200, 200, 200),
    ("GET", "/v1/me/export"):                                     row(U, 200, 200, 200, 200),
    ("GET", "/v1/me/bookings"):                                   row(U, 200, 200, 200, 200),
    ("GET", "/v1/me/spots"):                                      row(U, 200, 200, 200, 200),
    ("GET", "/v1/me/vehicles"):                                   row(U, 200, 200, 200, 200),
    ("POST", "/v1/me/vehicles"):                                  row(U, 201, 201, 201, 201),
    ("POST", "/v1/me/calendar-token"):                            row(U, 200, 200, 200, 200),
    ("GET", "/v1/me/webhooks"):                                   row(U, 200, 200, 200, 200),
    ("POST", "/v1/me/webhooks"):                                  row(U, 201, 201, 201, 201),
    ("POST", "/v1/me/push-subscriptions"):                        row(U, 201, 201, 201, 201),
    # Signed in, the stream opens (200); see `stream_status`.
    ("GET", "/v1/me/events"):                                     row(U, 200, 200, 200, 200),
    # The driver's vehicle, webhook, delivery and push subscription: another's is not found.
    ("DELETE", "/v1/me/vehicles/{vehicle_id}"):                   row(U, N, 204, N, N),
    ("GET", "/v1/me/webhooks/{webhook_id}"):                      row(U, N, 200, N, N),
    ("PATCH", "/v1/me/webhooks/{webhook_id}"):                    row(U, N, 200, N, N),
    ("DELETE", "/v1/me/webhooks/{webhook_id}"):                   row(U, N, 204, N, N),
    ("GET", "/v1/me/webhooks/{webhook_id}/deliveries"):           row(U, N, 200, N, N),
    ("POST", "/v1/me/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"): row(U, N, 202, N, N),
    ("POST", "/v1/me/webhooks/{webhook_id}/rotate-secret"):       row(U, N, 200, N, N),
    ("POST", "/v1/me/webhooks/{webhook_id}/test"):                row(U, N, 202, N, N),
    ("DELETE", "/v1/me/push-subscriptions/{subscription_id}"):    row(U, N, 204, N, N),
    # Calendar feeds: the token in the URL is the credential. Its holder (the driver for the own
    # feed, the owner for the spot's) reads it; everyone else, holding none, tries a guessed one.
    ("GET", "/v1/me/calendar.ics"):                               row(N, N, 200, N, N),
    ("GET", "/v1/spots/{spot_id}/calendar.ics"):                  row(N, N, N, 200, N),
    # Search, the public spot view and availability need no sign-in.
    ("GET", "/v1/search"):                                        row(200, 200, 200, 200, 200),
    ("GET", "/v1/spots/{spot_id}"):                               row(200, 200, 200, 200, 200),
    ("GET", "/v1/spots/{spot_id}/availability"):                  row(200, 200, 200, 200, 200),
    # Open data for the city: zones, never a spot; anyone.
    ("GET", "/v1/open-data/parking-sites"):                       row(200, 200, 200, 200, 200),
    ("GET", "/v1/open-data/parking-sites/realtime"):              row(200, 200, 200, 200, 200),
    # Anyone signed in may list a spot; only its owner changes it.
    ("POST", "/v1/spots"):                                        row(U, 201, 201, 201, 201),
    ("PATCH", "/v1/spots/{spot_id}"):                             row(U, F, F, 200, F),
    ("DELETE", "/v1/spots/{spot_id}"):                            row(U, F, F, 204, F),
    ("POST", "/v1/spots/{spot_id}/calendar-token"):               row(U, F, F, 200, F),
    ("GET", "/v1/spots/{spot_id}/availability/rules"):            row(U, F, F, 200, F),
    ("POST", "/v1/spots/{spot_id}/availability/rules"):           row(U, F, F, 201, F),
    ("DELETE", "/v1/spots/{spot_id}/availability/rules/{item_id}"): row(U, F, F, 204, F),
    ("GET", "/v1/spots/{spot_id}/availability/windows"):          row(U, F, F, 200, F),
    ("POST", "/v1/spots/{spot_id}/availability/windows"):         row(U, F, F, 201, F),
    ("DELETE", "/v1/spots/{spot_id}/availability/windows/{item_id}"): row(U, F, F, 204, F),
    ("GET", "/v1/spots/{spot_id}/availability/blackouts"):        row(U, F, F, 200, F),
    ("POST", "/v1/spots/{spot_id}/availability/blackouts"):       row(U, F, F, 201, F),
    ("DELETE", "/v1/spots/{spot_id}/availability/blackouts/{item_id}"): row(U, F, F, 204, F),
    # Booking: anyone signed in but the spot's owner (409 own_spot).
    ("POST", "/v1/quotes"):                                       row(U, 200, 200, 200, 200),
    ("POST", "/v1/bookings"):                                     row(U, 201, 201, "own_spot", 201),
    # A booking: its driver and the spot's owner; anyone else gets 404. Confirm and extend are
    # the driver's, approve and decline the owner's (403 for the other party).
    ("GET", "/v1/bookings/{booking_id}"):                         row(U, N, 200, 200, N),
    ("POST", "/v1/bookings/{booking_id}/confirm"):                row(U, N, 200, F, N),
    ("POST", "/v1/bookings/{booking_id}/extend"):                 row(U, N, 200, F, N),
    ("POST", "/v1/bookings/{booking_id}/cancel"):                 row(U, N, 200, 200, N),
    ("POST", "/v1/bookings/{booking_id}/approve"):                row(U, N, F, 200, N),
    ("POST", "/v1/bookings/{booking_id}/decline"):                row(U, N, F, 200, N),
    # Series: like bookings; the scene's series is the driver's, held, on the owner's spot.
    ("POST", "/v1/quotes/series"):                                row(U, 200, 200, 200, 200),
    ("POST", "/v1/booking-series"):                               row(U, 201, 201, "own_spot", 201),
    ("GET", "/v1/booking-series/{series_id}"):                    row(U, N, 200, 200, N),
    ("POST", "/v1/booking-series/{series_id}/confirm"):           row(U, N, 200, F, N),
    ("POST", "/v1/booking-series/{series_id}/cancel"):            row(U, N, 200, 200, N),
    # Reviews. The scene's bookings lie ahead, so the parties get past the authorization to the
    # booking's state; tests/test_reviews.py reviews and replies for real. No review exists here:
    # a reply or a hide names an unknown one.
    ("POST", "/v1/bookings/{booking_id}/review"):                 row(U, N, "invalid_transition", "invalid_transition", N),
    ("GET", "/v1/bookings/{booking_id}/reviews"):                 row(U, N, 200, 200, N),
    ("GET", "/v1/spots/{spot_id}/reviews"):                       row(200, 200, 200, 200, 200),
    ("POST", "/v1/reviews/{review_id}/reply"):                    row(U, N, N, N, N),
    ("POST", "/v1/admin/reviews/{review_id}/hide"):               row(U, F, F, F, N),
    # At the spot: the driver's (the scene's bookings lie days ahead: too early to check in).
    ("POST", "/v1/bookings/{booking_id}/check-in"):               row(U, N, "invalid_transition", F, N),
    ("POST", "/v1/bookings/{booking_id}/check-out"):              row(U, N, "invalid_transition", F, N),
    # Moderation: admins only.
    ("POST", "/v1/admin/users/{user_id}/suspend"):                row(U, F, F, F, 200),
    ("POST", "/v1/admin/users/{user_id}/reinstate"):              row(U, F, F, F, 200),
    ("POST", "/v1/admin/spots/{spot_id}/unlist"):                 row(U, F, F, F, 200),
    ("POST", "/v1/admin/spots/{spot_id}/relist"):                 row(U, F, F, F, 200),
    ("GET", "/v1/admin/audit"):                                   row(U, F, F, F, 200),
}
# fmt: on

# Where the private values are: distinctive enough that finding one in an answer is no accident.
OWNER_PHONE = "+4917055501170"
DRIVER_PHONE = "+4917055502280"
WALKER_PHONE = "+4917055503390"
PLATE = "DO-QX 4217"
HOUSE_NUMBER = "9173 q / 4"
ACCESS = "Keybox QZ-93817 behind the blue bin"
LAT, LON = 51.5071234, 7.4523456
HOOK_URL = "https://93.184.215.14/hooks/{who}-private-receiver"
PUSH_URL = "https://93.184.215.14/push/{who}-private-endpoint"
# A stored password hash, in any answer, would start so.
HASH_PREFIX = "$argon2"
# The bookings lie two days ahead: far outside their reveal windows (60 min before start).
AHEAD = 48


@dataclass
class World:
    """The scene every case starts from, built through the API."""

    client: AsyncClient
    db: Database
    app: FastAPI
    accounts: dict[Actor, Account]
    # Whose credentials the anonymous caller signs in with, and whom the admin routes moderate
    # (suspending a caller would end its session).
    walker: Account
    spot: dict[str, Any]
    request_spot: dict[str, Any]  # the owner's request-to-book spot
    confirmed: dict[str, Any]
    held: dict[str, Any]
    requested: dict[str, Any]
    vehicle_id: str
    webhook_id: str
    delivery_id: str
    subscription_id: str
    items: dict[str, str]  # rules, windows, blackouts -> an item's id
    spot_token: str
    driver_token: str
    series_id: str
    # The values only that account may see; what only the spot's owner may see outside a reveal
    # window; the walker's personal data, which no caller may see (moderation shows none).
    private: dict[Actor, set[str]] = field(default_factory=dict)
    spot_private: set[str] = field(default_factory=set)
    walker_private: set[str] = field(default_factory=set)


def push_subscription(endpoint: str) -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    return {"endpoint": endpoint, "keys": {"p256dh": b64(point), "auth": b64(os.urandom(16))}}


def token_of(url: str) -> str:
    found = re.search(r"token=([^&]+)", url)
    assert found, url
    return found.group(1)


async def ok(response: Awaitable[httpx.Response], status: int = 200) -> dict[str, Any]:
    r = await response
    assert r.status_code == status, r.text
    return dict(r.json()) if r.content else {}


async def failed_delivery(db: Database, webhook_id: str) -> str:
    """A failed delivery as the dispatcher leaves one (it reads only committed events)."""
    async with db.sessionmaker() as session, session.begin():
        seq = await session.scalar(
            text(
                "insert into events (id, type, created_at, data)"
                " values (gen_random_uuid(), 'booking.confirmed', now(), '{}') returning seq"
            )
        )
        found = await session.scalar(
            text(
                "insert into deliveries (id, event_seq, webhook_id, status, attempts, attempt_count)"
                " values (gen_random_uuid(), :seq, :hook, 'failed', '[]', 1) returning id"
            ),
            {"seq": seq, "hook": uuid.UUID(webhook_id)},
        )
    return str(found)


async def build_world(client: AsyncClient, db: Database, app: FastAPI) -> World:
    owner = await make_account(client, "owner")
    driver = await make_account(client, "driver")
    stranger = await make_account(client, "stranger")
    admin = await make_account(client, "admin")
    walker = await make_account(client, "walker")
    async with db.sessionmaker() as session, session.begin():
        await set_role(session, admin.email, "admin", START)
    accounts: dict[Actor, Account] = {"owner": owner, "driver": driver, "stranger": stranger, "admin": admin}
    await ok(client.patch("/v1/me", headers=owner.headers, json={"phone": OWNER_PHONE}))
    await ok(client.patch("/v1/me", headers=driver.headers, json={"phone": DRIVER_PHONE}))

    private_spot = {
        "address": {**spot_body()["address"], "house_number": HOUSE_NUMBER},
        "location": {"lat": LAT, "lon": LON},
        "access_instructions": ACCESS,
    }
    spot = await ok(
        client.post(
            "/v1/spots", headers=owner.headers, json=spot_body(rules={"buffer_min": 0}, **private_spot)
        ),
        201,
    )
    assert spot["location"] == {"lat": LAT, "lon": LON}, spot
    await add_rule(client, owner, spot)
    request_spot = await ok(
        client.post(
            "/v1/spots",
            headers=owner.headers,
            json=spot_body(rules={"buffer_min": 0, "instant_book": False}, **private_spot),
        ),
        201,
    )
    await add_rule(client, owner, request_spot)
    vehicle = await add_vehicle(client, driver, PLATE)
    confirmed = await booked(client, driver, spot, AHEAD, AHEAD + 2)
    held = await booked(client, driver, spot, AHEAD + 4, AHEAD + 6, confirm=False)
    requested = await booked(client, driver, request_spot, AHEAD, AHEAD + 2, confirm=False)
    assert (held["status"], requested["status"]) == ("held", "requested")
    # A confirmed booking with the vehicle: the owner would see its plate inside the window.
    plated = await ok(
        client.post(
            "/v1/bookings",
            headers=driver.headers,
            json={
                "spot_id": spot["id"],
                "start": at(AHEAD + 8, START),
                "end": at(AHEAD + 9, START),
                "vehicle_id": vehicle["id"],
            },
        ),
        201,
    )
    await ok(client.post(f"/v1/bookings/{plated['id']}/confirm", headers=driver.headers))
    await ok(client.patch("/v1/me", headers=walker.headers, json={"phone": WALKER_PHONE}))

    items = {
        "rules": (await ok(client.get(f"/v1/spots/{spot['id']}/availability/rules", headers=owner.headers)))[
            "items"
        ][0]["id"]
    }
    window = {"start": at(AHEAD + 100, START), "end": at(AHEAD + 102, START)}
    items["windows"] = (
        await ok(
            client.post(f"/v1/spots/{spot['id']}/availability/windows", headers=owner.headers, json=window),
            201,
        )
    )["id"]
    items["blackouts"] = (
        await ok(
            client.post(
                f"/v1/spots/{spot['id']}/availability/blackouts",
                headers=owner.headers,
                json={**window, "reason": "Painting"},
            ),
            201,
        )
    )["id"]

    private: dict[Actor, set[str]] = {}
    for actor, account in accounts.items():
        hook = await ok(
            client.post(
                "/v1/me/webhooks",
                headers=account.headers,
                json={"url": HOOK_URL.format(who=actor), "events": ["booking.confirmed"]},
            ),
            201,
        )
        sub = await ok(
            client.post(
                "/v1/me/push-subscriptions",
                headers=account.headers,
                json=push_subscription(PUSH_URL.format(who=actor)),
            ),
            201,
        )
        feed = await ok(client.post("/v1/me/calendar-token", headers=account.headers))
        private[actor] = {
            account.email,
            account.tokens["access_token"],
            account.tokens["refresh_token"],
            hook["secret"],
            HOOK_URL.format(who=actor),
            PUSH_URL.format(who=actor),
            token_of(feed["url"]),
        }
        if actor == "driver":
            webhook_id, subscription_id, driver_token = hook["id"], sub["id"], token_of(feed["url"])
    private["owner"].add(OWNER_PHONE)
    private["driver"] |= {DRIVER_PHONE, PLATE}
    series = await ok(
        client.post(
            "/v1/booking-series",
            headers=driver.headers,
            json={
                "spot_id": spot["id"],
                "weekdays": EVERY_DAY["weekdays"],
                "start_time": "10:00",
                "end_time": "12:00",
                "from": "2026-11-29",
                "until": "2026-11-30",
                "on_conflict": "fail",
            },
        ),
        201,
    )
    assert series["status"] == "held", series
    spot_feed = await ok(client.post(f"/v1/spots/{spot['id']}/calendar-token", headers=owner.headers))
    private["owner"].add(token_of(spot_feed["url"]))
    return World(
        client=client,
        db=db,
        app=app,
        accounts=accounts,
        walker=walker,
        spot=spot,
        request_spot=request_spot,
        confirmed=confirmed,
        held=held,
        requested=requested,
        vehicle_id=vehicle["id"],
        webhook_id=webhook_id,
        delivery_id=await failed_delivery(db, webhook_id),
        subscription_id=subscription_id,
        items=items,
        spot_token=token_of(spot_feed["url"]),
        driver_token=driver_token,
        series_id=series["id"],
        private=private,
        spot_private={HOUSE_NUMBER, ACCESS, str(LAT), str(LON)},
        walker_private={walker.email, WALKER_PHONE},
    )


@dataclass
class Call:
    url: str
    params: dict[str, Any] = field(default_factory=dict)
    json: Any = None


GUESSED_TOKEN = "x" * 43
FREE = {"start": at(AHEAD + 24, START), "end": at(AHEAD + 26, START)}


async def request_for(w: World, actor: Actor, method: str, template: str) -> Call:
    """The request a legitimate caller would send: the scene's ids in the path, a valid body.
    May prepare the scene for it (a suspended account to reinstate)."""
    booking = {"confirm": w.held, "approve": w.requested, "decline": w.requested}.get(
        template.rsplit("/", 1)[-1], w.confirmed
    )
    collection = template.split("/availability/")[-1].split("/")[0] if "/availability/" in template else ""
    url = template.format(
        spot_id=w.spot["id"],
        booking_id=booking["id"],
        vehicle_id=w.vehicle_id,
        webhook_id=w.webhook_id,
        delivery_id=w.delivery_id,
        subscription_id=w.subscription_id,
        item_id=w.items.get(collection, ""),
        user_id=w.walker.id,
        series_id=w.series_id,
        review_id=uuid.uuid4(),
    )
    own = w.accounts[actor] if actor != "anonymous" else w.walker
    key = (method, template)
    # What is reinstated or relisted was suspended or unlisted first.
    if key == ("POST", "/v1/admin/users/{user_id}/reinstate"):
        await moderate(w, f"/v1/admin/users/{w.walker.id}/suspend")
    if key == ("POST", "/v1/admin/spots/{spot_id}/relist"):
        await moderate(w, f"/v1/admin/spots/{w.spot['id']}/unlist")
    mailed = ""
    if key == ("POST", "/v1/auth/verify-email"):
        mailed = await mailed_token(w, own, "verify_email")
    if key == ("POST", "/v1/auth/password-reset/confirm"):
        r = await w.client.post("/v1/auth/password-reset", json={"email": own.email})
        assert r.status_code == 202, r.text
        mailed = await mailed_token(w, own, "password_reset")
    bodies: dict[tuple[str, str], Any] = {
        ("POST", "/v1/auth/register"): {
            "email": f"new-{uuid.uuid4().hex[:8]}@example.org",
            "password": PASSWORD,
            "display_name": "New",
        },
        ("POST", "/v1/auth/login"): {"email": own.email, "password": PASSWORD},
        ("POST", "/v1/auth/refresh"): {"refresh_token": own.tokens["refresh_token"]},
        ("POST", "/v1/auth/logout"): {"refresh_token": own.tokens["refresh_token"]},
        ("POST", "/v1/auth/verify-email"): {"token": mailed},
        ("POST", "/v1/auth/password-reset"): {"email": own.email},
        ("POST", "/v1/auth/password-reset/confirm"): {"token": mailed, "password": "a new long password"},
        ("POST", "/v1/me/password"): {"password": PASSWORD, "new_password": "a new long password"},
        ("POST", "/v1/me/email"): {
            "email": f"moved-{uuid.uuid4().hex[:8]}@example.org",
            "password": PASSWORD,
        },
        ("PATCH", "/v1/me"): {"display_name": "Renamed"},
        ("DELETE", "/v1/me"): {"password": PASSWORD},
        ("POST", "/v1/me/vehicles"): {"license_plate": "B-NW 1"},
        ("POST", "/v1/me/webhooks"): {"url": "https://93.184.215.14/new", "events": ["booking.held"]},
        ("PATCH", "/v1/me/webhooks/{webhook_id}"): {"description": "Gate"},
        ("POST", "/v1/me/push-subscriptions"): push_subscription("https://93.184.215.14/push/new"),
        ("POST", "/v1/spots"): spot_body(),
        ("PATCH", "/v1/spots/{spot_id}"): {"title": "Renamed spot"},
        ("POST", "/v1/spots/{spot_id}/availability/rules"): EVERY_DAY,
        ("POST", "/v1/spots/{spot_id}/availability/windows"): FREE,
        ("POST", "/v1/spots/{spot_id}/availability/blackouts"): FREE,
        ("POST", "/v1/quotes"): {"spot_id": w.spot["id"], **FREE},
        ("POST", "/v1/quotes/series"): series_body(w, "2026-12-01", "2026-12-02"),
        ("POST", "/v1/booking-series"): series_body(w, "2026-12-01", "2026-12-02"),
        ("POST", "/v1/bookings"): {"spot_id": w.spot["id"], **FREE},
        ("POST", "/v1/bookings/{booking_id}/extend"): {"end": at(AHEAD + 3, START)},
        ("POST", "/v1/bookings/{booking_id}/cancel"): {"reason": "Plans changed"},
        ("POST", "/v1/admin/users/{user_id}/suspend"): {"reason": "Reported for harassment"},
        ("POST", "/v1/bookings/{booking_id}/review"): {"rating": 5, "comment": "Easy to find"},
        ("POST", "/v1/reviews/{review_id}/reply"): {"comment": "Thank you"},
        ("POST", "/v1/admin/reviews/{review_id}/hide"): {"reason": "Insulting"},
        ("POST", "/v1/admin/spots/{spot_id}/unlist"): {"reason": "Reported as fake"},
    }
    params: dict[tuple[str, str], dict[str, Any]] = {
        ("GET", "/v1/search"): {"lat": 51.507, "lon": 7.452, "radius_m": 2000, **FREE},
        ("GET", "/v1/spots/{spot_id}/availability"): {
            "from": at(AHEAD - 2, START),
            "to": at(AHEAD + 30, START),
        },
        ("DELETE", "/v1/spots/{spot_id}"): {"cancel_bookings": "true"},
        ("GET", "/v1/me/calendar.ics"): {"token": w.driver_token if actor == "driver" else GUESSED_TOKEN},
        ("GET", "/v1/spots/{spot_id}/calendar.ics"): {
            "token": w.spot_token if actor == "owner" else GUESSED_TOKEN
        },
        ("GET", "/v1/me/bookings"): {"role": "owner" if actor == "owner" else "driver"},
    }
    return Call(url, params.get(key, {}), bodies.get(key))


def series_body(w: World, first: str, last: str) -> dict[str, Any]:
    """Every day from `first` to `last`, 10:00-12:00 Berlin time: clear of the scene's bookings."""
    return {
        "spot_id": w.spot["id"],
        "weekdays": EVERY_DAY["weekdays"],
        "start_time": "10:00",
        "end_time": "12:00",
        "from": first,
        "until": last,
        "on_conflict": "fail",
    }


async def mailed_token(w: World, account: Account, kind: str) -> str:
    """The token of the newest mail of `kind` to the account, as the outbox holds it before it is sent."""
    async with w.db.sessionmaker() as session:
        body = await session.scalar(
            text(
                "select body from mails where to_address = :to and kind = :kind"
                " order by created_at desc, id desc limit 1"
            ),
            {"to": account.email, "kind": kind},
        )
    found = re.search(r"\?token=([A-Za-z0-9_-]+)", body or "")
    assert found, (kind, body)
    return found.group(1)


async def moderate(w: World, path: str) -> None:
    r = await w.client.post(path, headers=w.accounts["admin"].headers, json={"reason": "Reported as fake"})
    assert r.status_code == 200, r.text


async def stream_status(app: FastAPI, url: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """The status of GET /v1/me/events, and the body if it is a problem, without reading the
    stream: the app runs until it starts its answer, then the client goes away. The stream needs
    a hub, which no in-process test app starts; one that has read nothing yet serves."""
    app.state.hub = hub = Hub("unused")
    hub.position = (0, -1)
    started = asyncio.Event()
    answer: dict[str, Any] = {"body": b""}

    async def receive() -> dict[str, Any]:
        await started.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            if answer["status"] == 200:
                started.set()
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")
            if not message.get("more_body"):
                started.set()

    scope = http_scope("GET", url, [(k.lower().encode(), v.encode()) for k, v in headers.items()])
    task = asyncio.ensure_future(app(scope, receive, send))  # type: ignore[arg-type]
    await asyncio.wait_for(started.wait(), 10)
    task.cancel()
    # The stream was cut off on purpose; however it ends is not what this reads.
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await task
    return answer["status"], answer["body"]


def forbidden_values(w: World, actor: Actor) -> set[str]:
    """What must not appear in an answer to `actor`: every other account's private values, the
    spot's hidden fields unless it is the owner, and password hashes."""
    values = {HASH_PREFIX, *w.walker_private}
    for other, secret in w.private.items():
        if other != actor:
            values |= secret
    if actor != "owner":
        values |= w.spot_private
    return values


async def answer(w: World, actor: Actor, method: str, template: str) -> tuple[int, str | None, str]:
    call = await request_for(w, actor, method, template)
    headers = w.accounts[actor].headers if actor != "anonymous" else {}
    if template == "/v1/me/events":
        status, raw = await stream_status(w.app, call.url, headers)
        body, media_type = raw.decode(), PROBLEM_MEDIA_TYPE
    else:
        r = await w.client.request(method, call.url, params=call.params, json=call.json, headers=headers)
        status, body, media_type = r.status_code, r.text, r.headers.get("content-type", "")
    # A refusal that is no problem document has no code, and matches no expected one.
    code = (
        json.loads(body).get("code") if status >= 400 and media_type.startswith(PROBLEM_MEDIA_TYPE) else None
    )
    return status, code, body


def unmatched(app: FastAPI) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """The routes of the app's schema without a row in MATRIX, and the rows naming no route."""
    schema = {(method.upper(), path) for path, ops in app.openapi()["paths"].items() for method in ops}
    return sorted(schema - MATRIX.keys()), sorted(MATRIX.keys() - schema)


def test_every_route_of_the_schema_is_in_the_matrix(app: FastAPI) -> None:
    missing, unknown = unmatched(app)
    assert not missing, f"routes without a row in MATRIX: {missing}"
    assert not unknown, f"rows of MATRIX for routes the schema does not have: {unknown}"


def test_a_new_route_is_named_until_it_has_a_row(app: FastAPI) -> None:
    @app.post("/v1/me/novelty")
    async def novelty() -> None:
        return None

    app.openapi_schema = None  # built again with the new route
    assert unmatched(app) == ([("POST", "/v1/me/novelty")], [])


def matches(expected: Expected, status: int, code: str | None) -> bool:
    if isinstance(expected, int):
        return status == expected
    return (status, code) == (CODE_STATUS[expected], expected)


@dataclass
class Stage:
    """The scene, built once per module on one connection whose state the tests set back: each
    test runs in a savepoint, and each caller's request in one more, both rolled back afterwards.
    So every caller meets the same scene, and one's success (a cancellation) changes no other
    answer."""

    app: FastAPI
    connection: AsyncConnection
    world: World


@pytest.fixture(scope="module")
async def stage(settings: Settings, engine: AsyncEngine) -> AsyncIterator[Stage]:
    async with engine.connect() as connection:
        outer = await connection.begin()
        db = Database(
            engine=engine,
            sessionmaker=make_sessionmaker(connection, join_transaction_mode="create_savepoint"),
        )
        app = create_app(settings, database=db)
        app.state.clock = FakeClock()
        async with _client(app) as client:
            yield Stage(app, connection, await build_world(client, db, app))
        await outer.rollback()


@pytest.fixture
async def world(stage: Stage) -> AsyncIterator[World]:
    savepoint = await stage.connection.begin_nested()
    stage.app.state.clock = FakeClock()
    yield stage.world
    await savepoint.rollback()


async def in_savepoint(stage: Stage, call: Awaitable[T]) -> T:
    savepoint = await stage.connection.begin_nested()
    try:
        return await call
    finally:
        await savepoint.rollback()


@pytest.mark.parametrize(("method", "template"), sorted(MATRIX), ids=[f"{m} {p}" for m, p in sorted(MATRIX)])
async def test_each_caller_gets_what_the_contract_says_and_nothing_private(
    stage: Stage, world: World, method: str, template: str
) -> None:
    expected = MATRIX[(method, template)]
    w = world
    wrong: list[str] = []
    leaks: list[str] = []
    for actor in ACTORS:
        status, code, body = await in_savepoint(stage, answer(w, actor, method, template))
        if not matches(expected[actor], status, code):
            wrong.append(f"{actor}: expected {expected[actor]}, got {status} {code} {body[:300]}")
        leaks += [f"{actor} sees {value!r}" for value in forbidden_values(w, actor) if value in body]
    assert not wrong, f"{method} {template}:\n" + "\n".join(wrong)
    assert not leaks, f"{method} {template}:\n" + "\n".join(leaks)


async def test_the_private_values_are_answered_as_searched_for(world: World) -> None:
    """The leak check looks for the strings the owners of the data see: a check for a spelling
    the API never writes would pass for nothing."""
    w = world
    client, driver, owner = w.client, w.accounts["driver"], w.accounts["owner"]
    spot = (await client.get(f"/v1/spots/{w.spot['id']}", headers=owner.headers)).text
    assert all(value in spot for value in w.spot_private), spot
    public = (await client.get(f"/v1/spots/{w.spot['id']}")).text
    assert not any(value in public for value in w.spot_private), public
    assert OWNER_PHONE in (await client.get("/v1/me", headers=owner.headers)).text
    export = (await client.get("/v1/me/export", headers=driver.headers)).text
    assert all(
        value in export for value in (DRIVER_PHONE, PLATE, driver.email, HOOK_URL.format(who="driver"))
    )
    assert w.private["stranger"] <= forbidden_values(w, "driver")
    assert not w.private["driver"] & forbidden_values(w, "driver")
    assert w.private["driver"] <= forbidden_values(w, "owner")


async def test_inside_the_reveal_window_the_driver_sees_the_access_and_the_owner_the_plate(
    world: World,
) -> None:
    w = world
    client, clock = w.client, w.app.state.clock
    assert isinstance(clock, FakeClock)
    driver, owner, stranger, admin = (w.accounts[a] for a in ("driver", "owner", "stranger", "admin"))
    mine = await ok(client.get("/v1/me/bookings", headers=driver.headers, params={"status": "confirmed"}))
    plated = next(b for b in mine["items"] if b["vehicle_id"] == w.vehicle_id)
    # Outside the window the owner sees no plate.
    early = await client.get(f"/v1/bookings/{plated['id']}", headers=owner.headers)
    assert early.status_code == 200, early.text
    assert PLATE not in early.text, early.text
    # Half an hour before the confirmed booking on the spot and the requested one on the other
    # spot: only a confirmed booking opens the window.
    clock.advance(hours=AHEAD - 0.5)
    view = await client.get(f"/v1/spots/{w.spot['id']}", headers=driver.headers)
    assert ACCESS in view.text, view.text
    requested = await client.get(f"/v1/spots/{w.request_spot['id']}", headers=driver.headers)
    assert requested.status_code == 200, requested.text
    assert not [value for value in w.spot_private if value in requested.text], requested.text
    # Half an hour before the held booking: not confirmed, no window.
    clock.advance(hours=4)
    held = await client.get(f"/v1/spots/{w.spot['id']}", headers=driver.headers)
    assert not [value for value in w.spot_private if value in held.text], held.text
    clock.advance(hours=4)  # half an hour before the plated booking starts

    view = await client.get(f"/v1/spots/{w.spot['id']}", headers=driver.headers)
    assert view.status_code == 200, view.text
    assert ACCESS in view.text, view.text
    assert HOUSE_NUMBER in view.text, view.text
    for who in (stranger, admin, None):
        other = await client.get(f"/v1/spots/{w.spot['id']}", headers=who.headers if who else {})
        assert other.status_code == 200
        assert not [value for value in w.spot_private if value in other.text], other.text

    seen = await client.get(f"/v1/bookings/{plated['id']}", headers=owner.headers)
    assert seen.status_code == 200, seen.text
    assert PLATE in seen.text, seen.text
    listed = await client.get("/v1/me/bookings", headers=owner.headers, params={"role": "owner"})
    # Only the booking whose window is open shows the plate; the e-mail and phone never.
    assert [b["id"] for b in listed.json()["items"] if PLATE in str(b)] == [plated["id"]]
    for answer_ in (seen, listed):
        assert DRIVER_PHONE not in answer_.text
        assert driver.email not in answer_.text
    # Inside the window still nothing for anyone else.
    for who in (stranger, admin):
        r = await client.get(f"/v1/bookings/{plated['id']}", headers=who.headers)
        assert r.status_code == 404
        assert PLATE not in r.text

    clock.advance(hours=1.5)  # past the end: the window is closed again
    after = await client.get(f"/v1/spots/{w.spot['id']}", headers=driver.headers)
    assert ACCESS not in after.text, after.text
    assert HOUSE_NUMBER not in after.text, after.text
    late = await client.get(f"/v1/bookings/{plated['id']}", headers=owner.headers)
    assert PLATE not in late.text, late.text


async def test_another_users_ids_in_ones_own_requests_are_not_found(world: World) -> None:
    """Ids of the driver's and the owner's things, sent by a stranger inside the stranger's own
    paths and bodies (where the matrix's requests carry the caller's own): answered as an id that
    does not exist. A vehicle is a field of the request, hence 422 at that field."""
    w = world
    client, stranger = w.client, w.accounts["stranger"]
    own_spot = await ok(client.post("/v1/spots", headers=stranger.headers, json=spot_body()), 201)
    await add_rule(client, stranger, own_spot)
    own_hook = await ok(
        client.post(
            "/v1/me/webhooks",
            headers=stranger.headers,
            json={"url": "https://93.184.215.14/mine", "events": ["booking.held"]},
        ),
        201,
    )
    answers: dict[str, httpx.Response] = {}
    for collection, item_id in w.items.items():
        path = f"/v1/spots/{own_spot['id']}/availability/{collection}/{item_id}"
        answers[f"another spot's {collection} item"] = await client.delete(path, headers=stranger.headers)
    redeliver = f"/v1/me/webhooks/{own_hook['id']}/deliveries/{w.delivery_id}/redeliver"
    answers["another's delivery"] = await client.post(redeliver, headers=stranger.headers)
    answers["a driver's feed token for the spot's feed"] = await client.get(
        f"/v1/spots/{w.spot['id']}/calendar.ics", params={"token": w.driver_token}
    )
    answers["a spot's feed token for the own feed"] = await client.get(
        "/v1/me/calendar.ics", params={"token": w.spot_token}
    )
    for what, r in answers.items():
        assert (r.status_code, r.json()["code"]) == (404, "not_found"), (what, r.text)

    search: dict[str, Any] = {"lat": 51.507, "lon": 7.452, "radius_m": 2000, **FREE}
    for vehicle_id in (w.vehicle_id, str(uuid.uuid4())):
        body = {"vehicle_id": vehicle_id, "spot_id": w.spot["id"], **FREE}
        refused = [
            await client.post("/v1/quotes", headers=stranger.headers, json=body),
            await client.post("/v1/bookings", headers=stranger.headers, json=body),
            await client.get(
                "/v1/search", headers=stranger.headers, params={**search, "vehicle_id": vehicle_id}
            ),
        ]
        for r in refused:
            assert (r.status_code, r.json()["code"]) == (422, "validation_error"), r.text
            assert r.json()["errors"][0]["message"] == "not one of your vehicles"
        answers.update({f"{vehicle_id} {r.request.url.path}": r for r in refused})
    for what, r in answers.items():
        assert not [value for value in forbidden_values(w, "stranger") if value in r.text], (what, r.text)
