"""Web Push: the public key, subscriptions, and pushes as a push service of our own receives them.

The push service (`PushService`) listens on loopback in the test's event loop. Like a real one it
refuses a request whose VAPID header (RFC 8292) does not verify, and it decrypts each body with the
private key of the subscription it was sent to (RFC 8291), as only the browser could.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

import http_ece
import pytest
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text

from app import openapi
from app.db import Database
from app.events import delivery as delivery_module
from app.events import push
from app.events.delivery import Claimed, Deliverer
from app.main import create_app
from app.settings import Settings
from tests.conftest import START, FakeClock, assert_problem, with_clock
from tests.factories import Account, add_vehicle, book, make_account, open_spot

PLATE = "DO-PS 4711"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unb64(text_: str) -> bytes:
    return base64.urlsafe_b64decode(text_ + "=" * (-len(text_) % 4))


@dataclass
class Browser:
    """One subscribed browser: its ECDH key pair and auth secret, which only it knows."""

    name: str
    endpoint: str
    private_key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    auth: bytes = field(default_factory=lambda: os.urandom(16))

    @property
    def p256dh(self) -> str:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64(point)

    def subscription(self) -> dict[str, Any]:
        return {"endpoint": self.endpoint, "keys": {"p256dh": self.p256dh, "auth": b64(self.auth)}}


@dataclass
class Received:
    browser: str
    status: int  # what the push service answered
    headers: Mapping[str, str]  # case-insensitive
    vapid_key: str  # `k`
    claims: dict[str, Any]
    message: dict[str, Any]  # the decrypted body
    plaintext: bytes


class PushService:
    """A push service on 127.0.0.1: checks VAPID, decrypts, answers 201 or what a test queued."""

    def __init__(self) -> None:
        self.browsers: dict[str, Browser] = {}
        self.answers: dict[str, list[int]] = {}
        self.received: list[Received] = []
        self.refused: list[str] = []
        self.origin = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/push/{name}", self._push)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.origin = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def browser(self, name: str) -> Browser:
        self.browsers[name] = Browser(name, f"{self.origin}/push/{name}")
        return self.browsers[name]

    def of(self, name: str) -> list[Received]:
        return [r for r in self.received if r.browser == name]

    async def _push(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        browser = self.browsers.get(name)
        if browser is None:
            return web.Response(status=404)
        try:
            key, claims = self._verify(request.headers.get("Authorization", ""))
        except (ValueError, KeyError, InvalidSignature) as exc:
            self.refused.append(f"{name}: {exc!r}")
            return web.Response(status=401)
        body = await request.read()
        plaintext = http_ece.decrypt(
            body, private_key=browser.private_key, auth_secret=browser.auth, version="aes128gcm"
        )
        queued = self.answers.get(name) or []
        status = queued.pop(0) if queued else 201
        self.received.append(
            Received(name, status, request.headers.copy(), key, claims, json.loads(plaintext), plaintext)
        )
        return web.Response(status=status)

    def _verify(self, authorization: str) -> tuple[str, dict[str, Any]]:
        """RFC 8292, 3: `vapid t=<JWT>,k=<key>`, an ES256 JWT signed by `k` for this origin."""
        scheme, _, params = authorization.partition(" ")
        if scheme.lower() != "vapid":
            raise ValueError(f"scheme {scheme!r}")
        values = dict(part.strip().split("=", 1) for part in params.split(","))
        token, key = values["t"], values["k"]
        header_b64, claims_b64, signature_b64 = token.split(".")
        if json.loads(unb64(header_b64)) != {"typ": "JWT", "alg": "ES256"}:
            raise ValueError("not an ES256 JWT")
        signature = unb64(signature_b64)
        if len(signature) != 64:
            raise ValueError("not a raw P-256 signature")
        public = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), unb64(key))
        public.verify(
            encode_dss_signature(
                int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
            ),
            f"{header_b64}.{claims_b64}".encode(),
            ec.ECDSA(hashes.SHA256()),
        )
        claims: dict[str, Any] = json.loads(unb64(claims_b64))
        if claims["aud"] != self.origin:
            raise ValueError(f"aud {claims['aud']!r}")
        if not time.time() < claims["exp"] <= time.time() + 86400:
            raise ValueError("exp not within the next 24 hours")
        if not claims["sub"].startswith(("mailto:", "https:")):
            raise ValueError("no sub")
        return key, claims


@pytest.fixture
async def push_service() -> AsyncIterator[PushService]:
    service = PushService()
    await service.start()
    yield service
    await service.stop()


@pytest.fixture
def loopback_settings(settings: Settings) -> Settings:
    """The suite's settings with push endpoints on loopback allowed (the push service's)."""
    return settings.model_copy(update={"webhook_allow_private_urls": True})


def _client(app: FastAPI) -> AsyncClient:
    return AsyncClient(transport=ASGITransport(app=app), base_url="http://test")


@pytest.fixture
async def push_app(loopback_settings: Settings, db: Database, request: pytest.FixtureRequest) -> FastAPI:
    return with_clock(create_app(loopback_settings, database=db), request)


@pytest.fixture
async def push_client(push_app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with _client(push_app) as client:
        yield client


async def subscribe(client: AsyncClient, account: Account, body: dict[str, Any]) -> str:
    r = await client.post("/v1/me/push-subscriptions", json=body, headers=account.headers)
    assert r.status_code == 201, r.text
    assert set(r.json()) == {"id"}
    return str(r.json()["id"])


def subscription(endpoint: str = "http://127.0.0.1:9/push/a") -> dict[str, Any]:
    return Browser("x", endpoint).subscription()


# -- the public key --------------------------------------------------------------------------------


async def test_the_public_key_is_the_settings_key_as_browsers_take_it(
    client: AsyncClient, settings: Settings
) -> None:
    r = await client.get("/v1/push/vapid-public-key")
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"key"}
    key = r.json()["key"]
    assert "=" not in key
    point = unb64(key)
    assert len(point) == 65
    assert point[0] == 4
    expected = settings.vapid_key().public_key().public_numbers()
    assert ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point).public_numbers() == expected
    assert "max-age" in r.headers["cache-control"]


# -- subscriptions ---------------------------------------------------------------------------------


async def test_subscribing_again_keeps_the_id_and_takes_the_new_keys(
    push_client: AsyncClient, db: Database
) -> None:
    alice = await make_account(push_client, "alice")
    first = Browser("a", "http://127.0.0.1:9/push/a")
    sub_id = await subscribe(push_client, alice, first.subscription())
    renewed = Browser("a", first.endpoint)
    # As `toJSON()` gives it, with `expirationTime`.
    assert await subscribe(push_client, alice, {**renewed.subscription(), "expirationTime": None}) == sub_id
    async with db.sessionmaker() as session:
        rows = (await session.execute(text("select id, user_id, p256dh, auth from push_subscriptions"))).all()
    assert [(str(r.id), str(r.user_id), r.p256dh, r.auth) for r in rows] == [
        (sub_id, alice.id, renewed.p256dh, b64(renewed.auth))
    ]


async def test_an_endpoint_subscribed_by_another_account_moves_to_the_caller(
    push_client: AsyncClient, db: Database
) -> None:
    alice = await make_account(push_client, "alice")
    bob = await make_account(push_client, "bob")
    body = subscription()
    alices = await subscribe(push_client, alice, body)
    bobs = await subscribe(push_client, bob, body)
    assert bobs != alices
    async with db.sessionmaker() as session:
        owners = (await session.execute(text("select user_id from push_subscriptions"))).scalars().all()
    assert [str(o) for o in owners] == [bob.id]
    # Alice's id is gone; Bob's is not hers to remove.
    r = await push_client.delete(f"/v1/me/push-subscriptions/{alices}", headers=alice.headers)
    assert_problem(r, 404, "not_found")
    r = await push_client.delete(f"/v1/me/push-subscriptions/{bobs}", headers=alice.headers)
    assert_problem(r, 404, "not_found")
    r = await push_client.delete(f"/v1/me/push-subscriptions/{bobs}", headers=bob.headers)
    assert r.status_code == 204, r.text
    assert r.content == b""
    r = await push_client.delete(f"/v1/me/push-subscriptions/{bobs}", headers=bob.headers)
    assert_problem(r, 404, "not_found")
    r = await push_client.delete("/v1/me/push-subscriptions/not-an-id", headers=bob.headers)
    assert_problem(r, 404, "not_found")


async def test_the_21st_subscription_replaces_the_one_subscribed_longest_ago(
    push_client: AsyncClient, push_app: FastAPI, db: Database
) -> None:
    clock: FakeClock = push_app.state.clock
    alice = await make_account(push_client, "alice")
    bodies = [subscription(f"http://127.0.0.1:9/push/{n}") for n in range(push.MAX_SUBSCRIPTIONS + 2)]
    ids = []
    for body in bodies[: push.MAX_SUBSCRIPTIONS]:
        ids.append(await subscribe(push_client, alice, body))
        clock.advance(minutes=1)
    # The first browser subscribes again (apps do at every start): now the second is the oldest.
    assert await subscribe(push_client, alice, bodies[0]) == ids[0]
    clock.advance(minutes=1)
    ids.append(await subscribe(push_client, alice, bodies[push.MAX_SUBSCRIPTIONS]))
    async with db.sessionmaker() as session:
        kept = (await session.execute(text("select id from push_subscriptions"))).scalars().all()
    assert len(kept) == push.MAX_SUBSCRIPTIONS
    assert {str(k) for k in kept} == set(ids) - {ids[1]}
    r = await push_client.delete(f"/v1/me/push-subscriptions/{ids[1]}", headers=alice.headers)
    assert_problem(r, 404, "not_found")


async def test_the_documented_example_is_accepted(push_client: AsyncClient) -> None:
    # Its endpoint on loopback: the tests resolve no names.
    alice = await make_account(push_client, "alice")
    body = {**openapi.PUSH_SUBSCRIPTION_CREATE, "endpoint": "http://127.0.0.1:9/push/example"}
    await subscribe(push_client, alice, body)


def _off_curve_point() -> str:
    # An uncompressed point's form with coordinates that are not on P-256.
    return b64(b"\x04" + (1).to_bytes(32, "big") + (1).to_bytes(32, "big"))


def _bad_bodies() -> Iterator[tuple[str, dict[str, Any], str]]:
    good = subscription()
    keys = good["keys"]
    yield "short point", {**good, "keys": {**keys, "p256dh": b64(unb64(keys["p256dh"])[:64])}}, "keys.p256dh"
    yield (
        "compressed point",
        {**good, "keys": {**keys, "p256dh": b64(b"\x02" + os.urandom(32))}},
        "keys.p256dh",
    )
    yield "off the curve", {**good, "keys": {**keys, "p256dh": _off_curve_point()}}, "keys.p256dh"
    # Standard base64's alphabet, not the URL-safe one.
    standard = keys["p256dh"][:10] + "+" + keys["p256dh"][11:]
    yield "standard base64", {**good, "keys": {**keys, "p256dh": standard}}, "keys.p256dh"
    yield "auth of 15 bytes", {**good, "keys": {**keys, "auth": b64(os.urandom(15))}}, "keys.auth"
    yield "auth of 17 bytes", {**good, "keys": {**keys, "auth": b64(os.urandom(17))}}, "keys.auth"
    yield "auth not base64", {**good, "keys": {**keys, "auth": "not base64 at all!"}}, "keys.auth"
    yield "no auth", {**good, "keys": {"p256dh": keys["p256dh"]}}, "keys.auth"
    yield "unknown field", {**good, "keys": {**keys, "extra": "x"}}, "keys.extra"
    yield "endpoint too long", {**good, "endpoint": "http://127.0.0.1/" + "a" * 2000}, "endpoint"


@pytest.mark.parametrize(
    ("body", "where"), [(b, w) for _, b, w in _bad_bodies()], ids=[n for n, _, _ in _bad_bodies()]
)
async def test_keys_that_cannot_be_a_browsers_are_refused(
    push_client: AsyncClient, db: Database, body: dict[str, Any], where: str
) -> None:
    alice = await make_account(push_client, "alice")
    r = await push_client.post("/v1/me/push-subscriptions", json=body, headers=alice.headers)
    problem = assert_problem(r, 422, "validation_error")
    assert [e["field"] for e in problem["errors"]] == [where]
    async with db.sessionmaker() as session:
        assert await session.scalar(text("select count(*) from push_subscriptions")) == 0


@pytest.mark.parametrize(
    "endpoint",
    [
        "http://127.0.0.1:9/push/a",  # not https
        "https://127.0.0.1/push/a",  # loopback
        "https://10.1.2.3/push/a",  # private
        "https://[::ffff:192.168.0.1]/push/a",  # private inside IPv6
        "ftp://push.example.net/a",
        "https://user:pass@8.8.8.8/push/a",
    ],
)
async def test_an_endpoint_must_be_a_public_https_url(client: AsyncClient, endpoint: str) -> None:
    # The suite's own settings: private addresses refused, as in production.
    alice = await make_account(client, "alice")
    r = await client.post("/v1/me/push-subscriptions", json=subscription(endpoint), headers=alice.headers)
    assert_problem(r, 422, "webhook_url_not_allowed")


async def test_subscriptions_need_a_token(push_client: AsyncClient) -> None:
    r = await push_client.post("/v1/me/push-subscriptions", json=subscription())
    assert_problem(r, 401, "unauthorized")
    r = await push_client.delete(f"/v1/me/push-subscriptions/{uuid.uuid4()}")
    assert_problem(r, 401, "unauthorized")


# -- the sender on its own -------------------------------------------------------------------------


def claimed(endpoint: str, p256dh: str, auth: str, *, type_: str = "booking.confirmed") -> Claimed:
    return Claimed(
        id=uuid.uuid4(),
        attempt_count=0,
        event_id=uuid.uuid4(),
        event_type=type_,
        body="{}",
        webhook_id=None,
        url=None,
        secrets=(),
        enabled=True,
        push_subscription_id=uuid.uuid4(),
        endpoint=endpoint,
        p256dh=p256dh,
        auth=auth,
        booking_id=str(uuid.uuid4()),
    )


def test_the_payload_holds_the_ids_and_the_type_only() -> None:
    delivery = claimed("https://push.example.net/a", "x", "y")
    assert json.loads(push.payload(delivery)) == {
        "id": str(delivery.event_id),
        "type": "booking.confirmed",
        "booking_id": delivery.booking_id,
    }


@pytest.mark.parametrize(
    ("endpoint", "origin"),
    [
        ("https://fcm.googleapis.com/fcm/send/abc", "https://fcm.googleapis.com"),
        ("https://Push.Example.net:443/a?b=c", "https://push.example.net"),
        ("https://push.example.net:8443/a", "https://push.example.net:8443"),
        ("http://127.0.0.1:8080/push/a", "http://127.0.0.1:8080"),
        ("https://[2001:db8::1]/a", "https://[2001:db8::1]"),
    ],
)
def test_the_vapid_audience_is_the_endpoints_origin(endpoint: str, origin: str) -> None:
    assert push.audience(endpoint) == origin


async def test_a_refused_endpoint_is_a_failed_attempt_not_a_gone_subscription(settings: Settings) -> None:
    browser = Browser("a", "http://127.0.0.1:9/push/a")
    async with AsyncClient() as http:
        attempt = await push.send(
            http, claimed(browser.endpoint, browser.p256dh, b64(browser.auth)), settings, START
        )
    assert attempt.error is not None
    assert attempt.error.startswith("URL not allowed")
    assert attempt.gone is False
    assert attempt.succeeded is False


async def test_keys_that_cannot_encrypt_remove_the_subscription(settings: Settings) -> None:
    delivery = claimed("https://push.example.net/a", _off_curve_point(), b64(os.urandom(16)))
    async with AsyncClient() as http:
        attempt = await push.send(http, delivery, settings, START)
    assert attempt.gone is True
    assert attempt.response_status is None


# -- delivery through a push service ---------------------------------------------------------------


@dataclass
class World:
    client: AsyncClient
    clock: FakeClock
    deliverer: Deliverer
    service: PushService
    database: Database

    async def deliver(self) -> int:
        """Sends what is due once the dispatcher has passed every event written so far: a
        transaction of another backend of the database (autovacuum's) may hold the horizon back
        for a moment (docs/decisions/0007)."""
        sent = 0
        deadline = time.monotonic() + 10
        while True:
            sent += await self.deliverer.run_once()
            if await self._dispatched_all() or time.monotonic() > deadline:
                return sent
            await asyncio.sleep(0.05)

    async def _dispatched_all(self) -> bool:
        last = await self.rows("select txid, seq from events order by txid desc, seq desc limit 1")
        cursor = await self.rows("select txid, seq from event_cursors where name = 'dispatch'")
        return not last or (bool(cursor) and tuple(cursor[0]) >= tuple(last[0]))

    async def rows(self, sql: str) -> list[Any]:
        async with self.database.sessionmaker() as session:
            return list((await session.execute(text(sql))).all())


@pytest.fixture
async def world(
    loopback_settings: Settings,
    committed_db: Database,
    push_service: PushService,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[World]:
    """An app and a deliverer on one fake clock and committed data; the deliverer sends only when
    the test calls `deliver()` (its own loop would wait an hour: nothing wakes it)."""
    clock = FakeClock()
    app = create_app(loopback_settings, database=committed_db)
    app.state.clock = clock
    monkeypatch.setattr(delivery_module, "POLL_SECONDS", 3600.0)
    deliverer = Deliverer(committed_db, loopback_settings, clock=clock, push_sender=push.send)
    await deliverer.start()
    async with _client(app) as client:
        yield World(client, clock, deliverer, push_service, committed_db)
    await deliverer.stop()


async def _book_and_confirm(
    client: AsyncClient, driver: Account, spot: dict[str, Any], vehicle_id: str
) -> str:
    r = await book(client, driver, spot, 2, 4, vehicle_id=vehicle_id)
    assert r.status_code == 201, r.text
    booking_id = str(r.json()["id"])
    r = await client.post(f"/v1/bookings/{booking_id}/confirm", headers=driver.headers)
    assert r.status_code == 200, r.text
    return booking_id


@pytest.mark.slow
async def test_driver_and_owner_receive_encrypted_ids_and_nothing_else(world: World) -> None:
    client, service = world.client, world.service
    owner = await make_account(client, "owner")
    driver = await make_account(client, "driver")
    spot = await open_spot(client, owner)
    vehicle = await add_vehicle(client, driver, PLATE)
    await subscribe(client, driver, service.browser("driver").subscription())
    await subscribe(client, owner, service.browser("owner").subscription())
    booking_id = await _book_and_confirm(client, driver, spot, vehicle["id"])

    assert await world.deliver() == 4
    assert service.refused == []
    public_key = (await client.get("/v1/push/vapid-public-key")).json()["key"]
    events = {str(row.id): row.type for row in await world.rows("select id, type from events")}
    for name in ("driver", "owner"):
        pushes = service.of(name)
        assert [p.message["type"] for p in pushes] == ["booking.held", "booking.confirmed"], name
        for p in pushes:
            assert set(p.message) == {"id", "type", "booking_id"}
            assert p.message["booking_id"] == booking_id
            assert events[p.message["id"]] == p.message["type"]
            assert p.vapid_key == public_key
            assert p.claims["sub"] == "mailto:admin@parkshare.invalid"
            assert p.headers["Content-Encoding"] == "aes128gcm"
            assert p.headers["TTL"] == str(push.TTL_SECONDS)
            assert "Topic" not in p.headers
            for secret in (
                PLATE,
                "Kreuzstraße",
                "Code 4711",
                "Hofeinfahrt",
                driver.email,
                owner.email,
                "Driver",
                "Owner",
            ):
                assert secret.encode() not in p.plaintext, (name, secret)
        assert [p.headers["Urgency"] for p in pushes] == ["high", "normal"]
    # The same event has the same id on both channels.
    assert [p.message["id"] for p in service.of("driver")] == [p.message["id"] for p in service.of("owner")]
    statuses = await world.rows("select status, attempt_count from deliveries")
    assert sorted(tuple(r) for r in statuses) == [("succeeded", 1)] * 4


@pytest.mark.slow
@pytest.mark.parametrize("gone", [404, 410])
async def test_a_subscription_the_push_service_no_longer_knows_is_removed(world: World, gone: int) -> None:
    client, service = world.client, world.service
    owner = await make_account(client, "owner")
    driver = await make_account(client, "driver")
    spot = await open_spot(client, owner)
    vehicle = await add_vehicle(client, driver, PLATE)
    sub_id = await subscribe(client, driver, service.browser("driver").subscription())
    service.answers["driver"] = [gone]
    await _book_and_confirm(client, driver, spot, vehicle["id"])

    await world.deliver()
    # The first push was answered `gone`: the subscription is removed, and with it the push that
    # waited behind it (the confirmation).
    assert [(p.message["type"], p.status) for p in service.of("driver")] == [("booking.held", gone)]
    assert await world.rows("select id from push_subscriptions") == []
    statuses = await world.rows("select status from deliveries where push_subscription_id is not null")
    assert statuses == []
    r = await client.delete(f"/v1/me/push-subscriptions/{sub_id}", headers=driver.headers)
    assert_problem(r, 404, "not_found")
    # Later events are pushed to no one.
    r = await client.post(
        f"/v1/bookings/{(await book(client, driver, spot, 6, 8)).json()['id']}/confirm",
        headers=driver.headers,
    )
    assert r.status_code == 200, r.text
    await world.deliver()
    assert len(service.received) == 1


@pytest.mark.slow
async def test_a_failing_push_service_is_tried_again_and_the_order_kept(world: World) -> None:
    client, service = world.client, world.service
    owner = await make_account(client, "owner")
    driver = await make_account(client, "driver")
    spot = await open_spot(client, owner)
    vehicle = await add_vehicle(client, driver, PLATE)
    await subscribe(client, driver, service.browser("driver").subscription())
    service.answers["driver"] = [500]
    await _book_and_confirm(client, driver, spot, vehicle["id"])

    await world.deliver()
    # The confirmation waits behind the hold that failed.
    assert [(p.message["type"], p.status) for p in service.of("driver")] == [("booking.held", 500)]
    pending = await world.rows("select status, attempt_count, next_attempt_at from deliveries order by seq")
    assert [(r.status, r.attempt_count) for r in pending] == [("pending", 1), ("pending", 0)]
    retry_at = pending[0].next_attempt_at
    assert retry_at > world.clock.now

    await world.deliver()  # not yet due
    assert len(service.received) == 1

    world.clock.now = retry_at.astimezone(UTC)
    await world.deliver()
    assert [(p.message["type"], p.status) for p in service.of("driver")] == [
        ("booking.held", 500),
        ("booking.held", 201),
        ("booking.confirmed", 201),
    ]
    # One event, one id, however often it is tried.
    assert service.received[0].message == service.received[1].message
    done = await world.rows("select status, attempt_count from deliveries order by seq")
    assert [tuple(r) for r in done] == [("succeeded", 2), ("succeeded", 1)]
    assert await world.rows("select id from push_subscriptions") != []
