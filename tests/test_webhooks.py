"""The webhook routes (docs/api.md, "Webhooks"): subscribing, reading, changing, rotating, test
events, the deliveries list and redelivery, and the URLs refused at creation (SSRF). Sending is
tests/test_webhook_delivery.py."""

from __future__ import annotations

import base64
import uuid
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import select, text, update
from standardwebhooks.webhooks import Webhook as Verifier

from app.db import Database
from app.events import urls
from app.events.models import Delivery, Event, Webhook
from app.events.webhook_router import MANUAL_SENDS_PER_HOUR
from app.events.webhooks import MAX_WEBHOOKS
from tests.conftest import FakeClock, assert_problem
from tests.factories import Account, make_account, make_spot

PUBLIC_URL = "https://93.184.215.14/parkshare"  # a public address: no DNS needed
NEW = {"url": PUBLIC_URL, "events": ["booking.confirmed", "booking.cancelled"], "description": "Gate"}


async def subscribe(client: AsyncClient, account: Account, **changes: Any) -> dict[str, Any]:
    r = await client.post("/v1/me/webhooks", headers=account.headers, json={**NEW, **changes})
    assert r.status_code == 201, r.text
    return dict(r.json())


@pytest.fixture
def allow_private(app: FastAPI) -> None:
    """WEBHOOK_ALLOW_PRIVATE_URLS=true for this test's app (the suite's settings say false)."""
    app.state.settings = app.state.settings.model_copy(update={"webhook_allow_private_urls": True})


# -- subscribing and reading ------------------------------------------------------------------------


async def test_a_webhook_is_created_with_a_secret_shown_once(
    client: AsyncClient, alice: Account, clock: FakeClock
) -> None:
    created = await subscribe(client, alice)
    secret = created.pop("secret")
    assert secret.startswith("whsec_")
    key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    assert len(key) == 32
    Verifier(secret)  # the standardwebhooks library takes it as it is
    assert created == {
        "id": created["id"],
        "url": PUBLIC_URL,
        "events": ["booking.confirmed", "booking.cancelled"],
        "description": "Gate",
        "enabled": True,
        "failing_since": None,
        "disabled_at": None,
        "created_at": clock.at(0),
        "updated_at": clock.at(0),
    }
    read = await client.get(f"/v1/me/webhooks/{created['id']}", headers=alice.headers)
    assert read.status_code == 200
    assert read.json() == created
    listed = await client.get("/v1/me/webhooks", headers=alice.headers)
    assert listed.json() == {"items": [created], "next_cursor": None}
    assert "secret" not in read.text
    assert secret not in listed.text
    # Another one gets another secret.
    assert (await subscribe(client, alice))["secret"] != secret


async def test_webhooks_are_private(client: AsyncClient, alice: Account, bob: Account) -> None:
    hook = await subscribe(client, alice)
    url = f"/v1/me/webhooks/{hook['id']}"
    assert (await client.get("/v1/me/webhooks", headers=bob.headers)).json()["items"] == []
    for method, path, body in (
        ("GET", url, None),
        ("PATCH", url, {"enabled": False}),
        ("DELETE", url, None),
        ("POST", f"{url}/rotate-secret", None),
        ("POST", f"{url}/test", None),
        ("GET", f"{url}/deliveries", None),
        ("POST", f"{url}/deliveries/{uuid.uuid4()}/redeliver", None),
    ):
        r = await client.request(method, path, headers=bob.headers, json=body)
        assert_problem(r, 404, "not_found")
    assert_problem(await client.get("/v1/me/webhooks/not-an-id", headers=alice.headers), 404, "not_found")
    assert_problem(await client.get("/v1/me/webhooks"), 401, "unauthorized")
    assert (await client.get(url, headers=alice.headers)).json()["enabled"] is True


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**NEW, "events": []}, "events"),
        ({**NEW, "events": ["booking.paid"]}, "events.0"),
        ({**NEW, "events": ["webhook.test"]}, "events.0"),
        ({**NEW, "events": ["booking.held", "booking.held"]}, "events"),
        ({**NEW, "events": "booking.held"}, "events"),
        ({"events": ["booking.held"]}, "url"),
        ({**NEW, "url": 42}, "url"),
        ({**NEW, "url": "https://93.184.215.14/ho\tok"}, "url"),
        ({**NEW, "url": "x" * 2001}, "url"),
        ({**NEW, "description": "d" * 501}, "description"),
        ({**NEW, "secret": "whsec_mine"}, "secret"),
        ({**NEW, "enabled": False}, "enabled"),
    ],
)
async def test_creation_validates(
    client: AsyncClient, alice: Account, body: dict[str, Any], field: str
) -> None:
    problem = assert_problem(
        await client.post("/v1/me/webhooks", headers=alice.headers, json=body), 422, "validation_error"
    )
    assert problem["errors"][0]["field"] == field, problem
    assert (await client.get("/v1/me/webhooks", headers=alice.headers)).json()["items"] == []


async def test_every_subscribable_type_is_accepted(client: AsyncClient, alice: Account) -> None:
    from app.events.outbox import TYPES

    hook = await subscribe(client, alice, events=list(TYPES), description=None)
    assert hook["events"] == list(TYPES)
    assert hook["description"] is None


async def test_an_account_has_at_most_ten_webhooks(client: AsyncClient, alice: Account, bob: Account) -> None:
    for _ in range(MAX_WEBHOOKS):
        await subscribe(client, alice)
    r = await client.post("/v1/me/webhooks", headers=alice.headers, json=NEW)
    assert_problem(r, 409, "conflict")
    await subscribe(client, bob)  # per account
    page = await client.get("/v1/me/webhooks", headers=alice.headers, params={"limit": 4})
    assert len(page.json()["items"]) == 4
    assert page.json()["next_cursor"] is not None
    rest = await client.get(
        "/v1/me/webhooks", headers=alice.headers, params={"limit": 100, "cursor": page.json()["next_cursor"]}
    )
    assert len(rest.json()["items"]) == MAX_WEBHOOKS - 4
    # Deleting one makes room again.
    await client.delete(f"/v1/me/webhooks/{page.json()['items'][0]['id']}", headers=alice.headers)
    await subscribe(client, alice)


# -- SSRF --------------------------------------------------------------------------------------------

REFUSED = [
    pytest.param("http://93.184.215.14/hook", id="http"),
    pytest.param("https://127.0.0.1/hook", id="loopback"),
    pytest.param("https://127.1/hook", id="loopback-short"),
    pytest.param("https://2130706433/hook", id="loopback-decimal"),
    pytest.param("https://[::1]/hook", id="loopback-v6"),
    pytest.param("https://10.0.0.1/hook", id="private-10"),
    pytest.param("https://172.16.0.1/hook", id="private-172"),
    pytest.param("https://192.168.1.1/hook", id="private-192"),
    pytest.param("https://169.254.169.254/latest/meta-data", id="link-local-metadata"),
    pytest.param("https://[fe80::1]/hook", id="link-local-v6"),
    pytest.param("https://[fc00::1]/hook", id="unique-local-v6"),
    pytest.param("https://100.64.0.1/hook", id="shared-cgnat"),
    pytest.param("https://224.0.0.1/hook", id="multicast"),
    pytest.param("https://[ff02::1]/hook", id="multicast-v6"),
    pytest.param("https://0.0.0.0/hook", id="unspecified"),
    pytest.param("https://[::]/hook", id="unspecified-v6"),
    pytest.param("https://240.0.0.1/hook", id="reserved"),
    pytest.param("https://[::ffff:127.0.0.1]/hook", id="v4-mapped-loopback"),
    pytest.param("https://[::ffff:10.0.0.1]/hook", id="v4-mapped-private"),
    pytest.param("https://[::127.0.0.1]/hook", id="v4-compatible"),
    pytest.param("https://[64:ff9b::a00:1]/hook", id="nat64-private"),
    pytest.param("https://[64:ff9b::7f00:1]/hook", id="nat64-loopback"),
    pytest.param("https://[2002:7f00:1::1]/hook", id="6to4"),
    pytest.param("https://localhost/hook", id="name-resolving-to-loopback"),
    pytest.param("https://user:pass@93.184.215.14/hook", id="userinfo"),
    pytest.param("https://example.com@127.0.0.1/hook", id="userinfo-confusion"),
    pytest.param("https://93.184.215.14:0/hook", id="port-0"),
    pytest.param("https://93.184.215.14/hook#top", id="fragment"),
    pytest.param("https://93.184.215.14\\@127.0.0.1/", id="backslash"),
    pytest.param("ftp://93.184.215.14/hook", id="ftp"),
    pytest.param("/relative/hook", id="relative"),
    pytest.param("https:///hook", id="no-host"),
    pytest.param("https://does-not-exist.invalid/hook", id="no-such-host"),
]


@pytest.mark.parametrize("url", REFUSED)
async def test_urls_that_lead_inside_are_refused(client: AsyncClient, alice: Account, url: str) -> None:
    r = await client.post("/v1/me/webhooks", headers=alice.headers, json={**NEW, "url": url})
    problem = assert_problem(r, 422, "webhook_url_not_allowed")
    assert problem["detail"]
    assert (await client.get("/v1/me/webhooks", headers=alice.headers)).json()["items"] == []


@pytest.mark.parametrize(
    "url",
    [
        "https://93.184.215.14/parkshare?token=abc",
        "https://93.184.215.14:8443/x",
        "https://[2606:4700:4700::1111]/hook",
        "https://[64:ff9b::5db8:d70e]/hook",  # NAT64 of a public address
    ],
)
async def test_public_https_urls_are_accepted(client: AsyncClient, alice: Account, url: str) -> None:
    assert (await subscribe(client, alice, url=url))["url"] == url


async def test_allowing_private_urls_admits_http_and_loopback(
    client: AsyncClient, alice: Account, allow_private: None
) -> None:
    for url in ("http://127.0.0.1:9/hook", "http://localhost:8080/x", "https://10.0.0.1/y"):
        assert (await subscribe(client, alice, url=url))["url"] == url
    # Still refused: what is no URL of a server at all.
    for url in ("ftp://127.0.0.1/x", "http://user@127.0.0.1/", "http://127.0.0.1:0/"):
        r = await client.post("/v1/me/webhooks", headers=alice.headers, json={**NEW, "url": url})
        assert_problem(r, 422, "webhook_url_not_allowed")


async def test_every_address_a_name_resolves_to_must_be_public(
    client: AsyncClient, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ipaddress

    answers = {
        "mixed.example": ["93.184.215.14", "10.1.2.3"],
        "public.example": ["93.184.215.14", "2606:4700:4700::1111"],
    }

    async def resolve(host: str, port: int) -> list[urls.IPAddress]:
        return [ipaddress.ip_address(a) for a in answers[host]]

    monkeypatch.setattr(urls, "resolve", resolve)
    r = await client.post(
        "/v1/me/webhooks", headers=alice.headers, json={**NEW, "url": "https://mixed.example/h"}
    )
    assert_problem(r, 422, "webhook_url_not_allowed")
    await subscribe(client, alice, url="https://public.example/h")


# -- changing, deleting -----------------------------------------------------------------------------


async def test_patch_changes_what_it_names(
    client: AsyncClient, alice: Account, clock: FakeClock, db: Database
) -> None:
    hook = await subscribe(client, alice)
    url = f"/v1/me/webhooks/{hook['id']}"
    clock.advance(minutes=5)
    r = await client.patch(url, headers=alice.headers, json={"events": ["booking.held"], "description": None})
    assert r.status_code == 200, r.text
    assert r.json() == {
        **{k: v for k, v in hook.items() if k != "secret"},
        "events": ["booking.held"],
        "description": None,
        "updated_at": clock.at(5 / 60),
    }
    r = await client.patch(url, headers=alice.headers, json={"url": "https://93.184.215.15/new"})
    assert r.json()["url"] == "https://93.184.215.15/new"
    assert r.json()["events"] == ["booking.held"]

    for body, field in (
        ({"url": None}, "url"),
        ({"events": None}, "events"),
        ({"enabled": None}, "enabled"),
        ({"enabled": "false"}, "enabled"),
        ({"events": ["booking.held", "booking.held"]}, "events"),
        ({"secret": "whsec_x"}, "secret"),
    ):
        problem = assert_problem(
            await client.patch(url, headers=alice.headers, json=body), 422, "validation_error"
        )
        assert problem["errors"][0]["field"] == field
    r = await client.patch(url, headers=alice.headers, json={"url": "https://192.168.0.1/"})
    assert_problem(r, 422, "webhook_url_not_allowed")
    assert (await client.get(url, headers=alice.headers)).json()["url"] == "https://93.184.215.15/new"


async def test_disabling_and_enabling_again_forgets_the_failures(
    client: AsyncClient, alice: Account, clock: FakeClock, db: Database
) -> None:
    hook = await subscribe(client, alice)
    url = f"/v1/me/webhooks/{hook['id']}"
    off = await client.patch(url, headers=alice.headers, json={"enabled": False})
    assert off.json()["enabled"] is False
    assert off.json()["disabled_at"] == clock.at(0)
    assert_problem(await client.post(f"{url}/test", headers=alice.headers), 409, "conflict")
    # As the deliverer leaves one it disabled after five days of failures:
    async with db.sessionmaker() as session, session.begin():
        await session.execute(
            update(Webhook)
            .where(Webhook.id == uuid.UUID(hook["id"]))
            .values(failing_since=clock.now - timedelta(days=5))
        )
    assert (await client.get(url, headers=alice.headers)).json()["failing_since"] is not None
    on = await client.patch(url, headers=alice.headers, json={"enabled": True})
    assert on.json()["enabled"] is True
    assert on.json()["failing_since"] is None
    assert on.json()["disabled_at"] is None
    assert (await client.post(f"{url}/test", headers=alice.headers)).status_code == 202


async def test_delete_removes_it(client: AsyncClient, alice: Account) -> None:
    hook = await subscribe(client, alice)
    url = f"/v1/me/webhooks/{hook['id']}"
    assert (await client.post(f"{url}/test", headers=alice.headers)).status_code == 202
    r = await client.delete(url, headers=alice.headers)
    assert r.status_code == 204
    assert r.content == b""
    assert_problem(await client.get(url, headers=alice.headers), 404, "not_found")
    assert_problem(await client.delete(url, headers=alice.headers), 404, "not_found")


# -- the secret --------------------------------------------------------------------------------------


async def test_rotation_keeps_the_old_secret_for_a_day(
    client: AsyncClient, alice: Account, clock: FakeClock, db: Database
) -> None:
    hook = await subscribe(client, alice)
    url = f"/v1/me/webhooks/{hook['id']}"
    clock.advance(hours=1)
    r = await client.post(f"{url}/rotate-secret", headers=alice.headers)
    assert r.status_code == 200, r.text
    assert r.json()["secret"].startswith("whsec_")
    assert r.json()["secret"] != hook["secret"]
    assert r.json()["previous_secret_expires_at"] == clock.at(25)
    async with db.sessionmaker() as session:
        row = await session.scalar(select(Webhook).where(Webhook.id == uuid.UUID(hook["id"])))
        assert row is not None
        assert (row.secret, row.previous_secret) == (r.json()["secret"], hook["secret"])
        assert row.previous_secret_expires_at == clock.now + timedelta(hours=24)
    # Rotating again retires the first secret at once: two at most.
    again = await client.post(f"{url}/rotate-secret", headers=alice.headers)
    async with db.sessionmaker() as session:
        row = await session.scalar(select(Webhook).where(Webhook.id == uuid.UUID(hook["id"])))
        assert row is not None
        assert (row.secret, row.previous_secret) == (again.json()["secret"], r.json()["secret"])
    assert "secret" not in (await client.get(url, headers=alice.headers)).json()


# -- test events, deliveries and redelivery ---------------------------------------------------------


async def test_a_test_event_is_written_for_that_webhook_only(
    client: AsyncClient, alice: Account, clock: FakeClock, db: Database
) -> None:
    hook = await subscribe(client, alice)
    r = await client.post(f"/v1/me/webhooks/{hook['id']}/test", headers=alice.headers)
    assert r.status_code == 202, r.text
    async with db.sessionmaker() as session:
        event = await session.scalar(select(Event).where(Event.id == uuid.UUID(r.json()["event_id"])))
    assert event is not None
    assert event.type == "webhook.test"
    assert event.webhook_id == uuid.UUID(hook["id"])
    assert event.created_at == clock.now
    assert event.data == {"webhook": {"id": hook["id"], "url": PUBLIC_URL, "description": "Gate"}}


async def test_test_events_and_redeliveries_are_limited_per_hour(
    client: AsyncClient, alice: Account, clock: FakeClock
) -> None:
    hook = await subscribe(client, alice)
    url = f"/v1/me/webhooks/{hook['id']}/test"
    for _ in range(MANUAL_SENDS_PER_HOUR):
        assert (await client.post(url, headers=alice.headers)).status_code == 202
    refused = assert_problem(await client.post(url, headers=alice.headers), 429, "rate_limited")
    assert "test events and redeliveries" in refused["detail"]
    clock.advance(hours=1)
    assert (await client.post(url, headers=alice.headers)).status_code == 202


async def _delivery(
    db: Database, webhook_id: str, event_type: str, booking_id: uuid.UUID | None = None
) -> str:
    """A delivery as the dispatcher makes it, of a new event (the outbox's readers see only
    committed events; this test's are not)."""
    async with db.sessionmaker() as session, session.begin():
        event_seq = await session.scalar(
            text(
                "insert into events (id, type, created_at, data) values (gen_random_uuid(), :t, now(), '{}')"
                " returning seq"
            ),
            {"t": event_type},
        )
        delivery = Delivery(
            event_seq=event_seq,
            webhook_id=uuid.UUID(webhook_id),
            order_key=booking_id,
            status="failed",
            attempts=[
                {
                    "at": "2026-11-23T08:00:00Z",
                    "response_status": 500,
                    "duration_ms": 12,
                    "error": "HTTP 500",
                    "response_body": "oops",
                }
            ],
            attempt_count=1,
        )
        session.add(delivery)
        await session.flush()
        return str(delivery.id)


async def test_deliveries_are_listed_newest_first_and_redelivered(
    client: AsyncClient, alice: Account, bob: Account, clock: FakeClock, db: Database
) -> None:
    hook = await subscribe(client, alice)
    url = f"/v1/me/webhooks/{hook['id']}"
    booking = uuid.uuid4()
    made = [
        await _delivery(db, hook["id"], t, booking)
        for t in ("booking.held", "booking.confirmed", "booking.cancelled")
    ]

    first = await client.get(f"{url}/deliveries", headers=alice.headers, params={"limit": 2})
    assert first.status_code == 200, first.text
    assert [d["id"] for d in first.json()["items"]] == made[:0:-1]
    second = await client.get(
        f"{url}/deliveries", headers=alice.headers, params={"limit": 2, "cursor": first.json()["next_cursor"]}
    )
    assert [d["id"] for d in second.json()["items"]] == [made[0]]
    assert second.json()["next_cursor"] is None
    held = second.json()["items"][0]
    assert held["event_type"] == "booking.held"
    assert held["status"] == "failed"
    assert held["next_attempt_at"] is None
    assert held["attempts"] == [
        {
            "at": "2026-11-23T08:00:00Z",
            "response_status": 500,
            "duration_ms": 12,
            "error": "HTTP 500",
            "response_body": "oops",
        }
    ]

    clock.advance(minutes=3)
    r = await client.post(f"{url}/deliveries/{made[0]}/redeliver", headers=alice.headers)
    assert r.status_code == 202, r.text
    again = r.json()
    assert again["id"] not in made
    assert (again["event_id"], again["event_type"]) == (held["event_id"], "booking.held")
    assert (again["status"], again["attempts"]) == ("pending", [])
    assert again["next_attempt_at"] == again["created_at"] == clock.at(3 / 60)
    newest = (await client.get(f"{url}/deliveries", headers=alice.headers)).json()["items"]
    assert [d["id"] for d in newest] == [again["id"], *made[::-1]]
    async with db.sessionmaker() as session:
        row = await session.scalar(select(Delivery).where(Delivery.id == uuid.UUID(again["id"])))
    assert row is not None
    assert row.order_key is None  # waits for nothing, holds up nothing

    # Only a delivery of this webhook, of this account.
    other = await subscribe(client, alice)
    assert_problem(
        await client.post(
            f"/v1/me/webhooks/{other['id']}/deliveries/{made[0]}/redeliver", headers=alice.headers
        ),
        404,
        "not_found",
    )
    assert_problem(
        await client.post(f"{url}/deliveries/nope/redeliver", headers=alice.headers), 404, "not_found"
    )
    bobs = await subscribe(client, bob)
    assert_problem(
        await client.post(
            f"/v1/me/webhooks/{bobs['id']}/deliveries/{made[0]}/redeliver", headers=bob.headers
        ),
        404,
        "not_found",
    )
    await client.patch(url, headers=alice.headers, json={"enabled": False})
    assert_problem(
        await client.post(f"{url}/deliveries/{made[0]}/redeliver", headers=alice.headers), 409, "conflict"
    )


@pytest.mark.parametrize(
    "cursor", ["garbage", "WyJkZWxpdmVyeSIsIC0xXQ", "WyJkZWxpdmVyeSIsIHRydWVd", "WzEsMl0"]
)
async def test_a_forged_deliveries_cursor_is_a_422(client: AsyncClient, alice: Account, cursor: str) -> None:
    hook = await subscribe(client, alice)
    r = await client.get(
        f"/v1/me/webhooks/{hook['id']}/deliveries", headers=alice.headers, params={"cursor": cursor}
    )
    problem = assert_problem(r, 422, "validation_error")
    assert problem["errors"][0]["type"] == "cursor_invalid"


async def test_owner_and_driver_each_subscribe_their_own(client: AsyncClient) -> None:
    # A spot owner's and a driver's webhooks are independent of each other.
    owner = await make_account(client, "owner")
    driver = await make_account(client, "driver")
    await make_spot(client, owner)
    a = await subscribe(client, owner, events=["booking.held"])
    b = await subscribe(client, driver, events=["booking.held"])
    assert a["id"] != b["id"]
    assert [
        h["id"] for h in (await client.get("/v1/me/webhooks", headers=owner.headers)).json()["items"]
    ] == [a["id"]]


async def test_the_service_accepts_the_webhook_examples(
    client: AsyncClient, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ipaddress

    from app import openapi

    async def resolve(host: str, port: int) -> list[urls.IPAddress]:
        assert host == "hooks.example.com"  # example.com's own address: no DNS in the tests
        return [ipaddress.ip_address("93.184.215.14")]

    monkeypatch.setattr(urls, "resolve", resolve)
    created = await client.post("/v1/me/webhooks", headers=alice.headers, json=openapi.WEBHOOK_CREATE)
    assert created.status_code == 201, created.text
    assert set(created.json()) == set(openapi.WEBHOOK_CREATED)
    patched = await client.patch(
        f"/v1/me/webhooks/{created.json()['id']}", headers=alice.headers, json=openapi.WEBHOOK_PATCH
    )
    assert patched.status_code == 200, patched.text
    assert set(patched.json()) == set(openapi.WEBHOOK)
    assert patched.json()["events"] == openapi.WEBHOOK_PATCH["events"]


@pytest.mark.parametrize(
    "url",
    [
        "https://93.184.215.14/a\tb",
        "https://93.184.215.14/a\nb",
        " https://93.184.215.14/",
        "https://93.184.215.14/\x7f",
        "https://93.184.215.14\\.evil.example/",
    ],
)
def test_urls_the_parser_would_read_otherwise_are_refused(url: str) -> None:
    # The API's schema refuses control characters already; the check refuses them on its own too,
    # for every other caller (push endpoints) and for URLs stored before.
    with pytest.raises(urls.UrlNotAllowed):
        urls.parse(url, allow_private=True)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:4700:4700::1111", True),
        ("::ffff:93.184.215.14", True),
        ("64:ff9b::5db8:d70e", True),
        ("64:ff9b::a00:1", False),
        ("64:ff9b:1::5db8:d70e", False),
        ("2002:5db8:d70e::1", False),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),
        ("::5db8:d70e", False),
        ("100.64.0.1", False),
        ("0.1.2.3", False),
        ("224.0.0.251", False),
        ("ff0e::1", False),
    ],
)
def test_which_addresses_are_public(address: str, public: bool) -> None:
    import ipaddress

    assert urls.is_public(ipaddress.ip_address(address)) is public


async def test_a_new_url_forgets_the_old_ones_failures(
    client: AsyncClient, alice: Account, clock: FakeClock, db: Database
) -> None:
    hook = await subscribe(client, alice)
    url = f"/v1/me/webhooks/{hook['id']}"
    async with db.sessionmaker() as session, session.begin():
        await session.execute(
            update(Webhook).where(Webhook.id == uuid.UUID(hook["id"])).values(failing_since=clock.now)
        )
    same = await client.patch(url, headers=alice.headers, json={"url": PUBLIC_URL, "description": "x"})
    assert same.json()["failing_since"] == clock.at(0)
    moved = await client.patch(url, headers=alice.headers, json={"url": "https://93.184.215.15/"})
    assert moved.json()["failing_since"] is None
