"""Delivering webhooks to a real receiver on loopback (tests/webhook_receiver.py), which verifies
every request with the `standardwebhooks` package: signatures and rotation, order per booking,
retries on the schedule and giving up, redirects, timeouts, kept answers, disabling after five
days, SSRF at delivery, and several deliverers at once.

The deliverers run on the app's fake clock: a retry 5 minutes or 10 hours later is a call to
`run_once` after moving the clock, not a wait. The data is committed (`committed_db`): delivery
reads the outbox in transactions of its own."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import random
import ssl
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text

from app.clock import simulate
from app.db import Database
from app.events import delivery, urls
from app.events.delivery import RETRY_DELAYS, Deliverer, retry_delay
from app.main import create_app
from app.settings import Settings
from bench.common import BENCH_SECRET, PARKSHARE, served
from tests.conftest import FakeClock
from tests.factories import Account, book, make_account, open_spot
from tests.live import EventStream, client_for, open_stream
from tests.webhook_receiver import Answer, Receiver

# -- the world a test delivers in -------------------------------------------------------------------


@dataclass
class World:
    client: AsyncClient
    clock: FakeClock
    receiver: Receiver
    db: Database
    settings: Settings  # WEBHOOK_ALLOW_PRIVATE_URLS=true: the receiver is on loopback

    async def deliver(
        self, settings: Settings | None = None, *, wait_held: bool = True, **kwargs: Any
    ) -> int:
        """A deliverer's runs on the fake clock: dispatch, then send what is due until nothing is.

        The outbox's horizon stands below every transaction still running in the cluster, those of
        the other test worker's databases too: an event committed here can be held back a moment
        by a transaction there. Runs are repeated until no committed event waits past the dispatch
        cursor (up to 10 s), unless `wait_held` is false (a test that holds one back itself)."""
        total = 0
        deadline = asyncio.get_running_loop().time() + 10
        async with Deliverer(self.db, settings or self.settings, clock=self.clock, **kwargs) as deliverer:
            while True:
                total += await deliverer.run_once()
                if not wait_held or not await self._held_back():
                    return total
                if asyncio.get_running_loop().time() > deadline:
                    return total
                await asyncio.sleep(0.05)

    async def _held_back(self) -> bool:
        async with self.db.sessionmaker() as session:
            found = await session.scalar(
                text(
                    "select exists (select 1 from events e join event_cursors c on c.name = 'dispatch'"
                    " where (e.txid, e.seq) > (c.txid, c.seq))"
                )
            )
        return bool(found)

    async def subscribe(self, account: Account, path: str, events: list[str], **extra: Any) -> dict[str, Any]:
        r = await self.client.post(
            "/v1/me/webhooks",
            headers=account.headers,
            json={"url": extra.pop("url", None) or self.receiver.url(path), "events": events, **extra},
        )
        assert r.status_code == 201, r.text
        hook = dict(r.json())
        self.receiver.secrets[path] = [hook["secret"]]
        return hook

    async def deliveries(self, account: Account, hook: dict[str, Any]) -> list[dict[str, Any]]:
        r = await self.client.get(
            f"/v1/me/webhooks/{hook['id']}/deliveries", headers=account.headers, params={"limit": 100}
        )
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    async def webhook(self, account: Account, hook: dict[str, Any]) -> dict[str, Any]:
        r = await self.client.get(f"/v1/me/webhooks/{hook['id']}", headers=account.headers)
        assert r.status_code == 200, r.text
        return dict(r.json())


@pytest.fixture
def hook_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"webhook_allow_private_urls": True})


@pytest.fixture
async def world(hook_settings: Settings, committed_db: Database) -> AsyncIterator[World]:
    app = create_app(hook_settings, database=committed_db)
    clock = FakeClock()
    app.state.clock = clock
    async with (
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
        Receiver() as receiver,
    ):
        yield World(client, clock, receiver, committed_db, hook_settings)


@dataclass
class Parties:
    owner: Account
    driver: Account
    spot: dict[str, Any]


@pytest.fixture
async def parties(world: World) -> Parties:
    owner = await make_account(world.client, "owner")
    driver = await make_account(world.client, "driver")
    return Parties(owner, driver, await open_spot(world.client, owner))


BOOKING_TYPES = ["booking.held", "booking.confirmed", "booking.cancelled"]


async def book_confirm_cancel(world: World, parties: Parties, start: float = 24) -> str:
    r = await book(world.client, parties.driver, parties.spot, start, start + 2)
    assert r.status_code == 201, r.text
    booking_id = str(r.json()["id"])
    for action in ("confirm", "cancel"):
        r = await world.client.post(f"/v1/bookings/{booking_id}/{action}", headers=parties.driver.headers)
        assert r.status_code == 200, r.text
    return booking_id


def z(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def types(received: list[Any]) -> list[str]:
    return [r.event["type"] for r in received]


# -- signed, in order -------------------------------------------------------------------------------


async def test_book_confirm_cancel_arrive_signed_and_in_order(world: World, parties: Parties) -> None:
    driver_hook = await world.subscribe(parties.driver, "driver", BOOKING_TYPES)
    owner_hook = await world.subscribe(parties.owner, "owner", ["booking.confirmed", "booking.cancelled"])
    booking_id = await book_confirm_cancel(world, parties)

    assert await world.deliver() == 5
    driver = world.receiver.to("driver")
    assert types(driver) == BOOKING_TYPES
    assert types(world.receiver.to("owner")) == ["booking.confirmed", "booking.cancelled"]
    for received in world.receiver.requests:
        assert received.verified == [True], received.headers  # standardwebhooks verified it
        assert received.headers["content-type"] == "application/json"
        assert received.headers["user-agent"].startswith("parkshare-webhooks/")
        assert received.headers["webhook-id"] == received.event["id"]
        assert abs(int(received.headers["webhook-timestamp"]) - datetime.now(UTC).timestamp()) < 60
        assert received.headers["webhook-signature"].startswith("v1,")
        assert " " not in received.headers["webhook-signature"]
        assert received.event["data"]["booking"]["id"] == booking_id
        assert received.event["created_at"] == world.clock.at(0)
    # Each party reads the booking as it is shown to them; the owner never sees the e-mail.
    assert [r.event["data"]["booking"]["status"] for r in driver] == ["held", "confirmed", "cancelled"]
    assert parties.driver.email not in b"".join(r.body for r in world.receiver.requests).decode()
    # The same event ids as the live stream would show: one event, two recipients.
    assert world.receiver.to("owner")[0].id == driver[1].id

    listed = await world.deliveries(parties.driver, driver_hook)
    assert [d["event_type"] for d in listed] == BOOKING_TYPES[::-1]
    for d in listed:
        assert d["status"] == "succeeded"
        assert d["next_attempt_at"] is None
        [attempt] = d["attempts"]
        assert attempt["response_status"] == 200
        assert attempt["error"] is None
        assert attempt["response_body"] == "ok"
        assert attempt["at"] == world.clock.at(0)
        assert attempt["duration_ms"] >= 0
    assert {d["event_id"] for d in listed} == {r.id for r in driver}
    assert len(await world.deliveries(parties.owner, owner_hook)) == 2
    # Nothing is sent twice: another run finds nothing to do.
    assert await world.deliver() == 0
    assert len(world.receiver.requests) == 5


async def test_a_receiver_that_fails_three_times_gets_the_events_in_order_after_it_recovers(
    world: World, parties: Parties
) -> None:
    hook = await world.subscribe(parties.driver, "flaky", BOOKING_TYPES)
    world.receiver.answer("flaky", Answer(500, b"down"), Answer(503), Answer(502))
    await book_confirm_cancel(world, parties)

    # The first try fails, and the booking's later events wait for it.
    assert await world.deliver() == 1
    assert types(world.receiver.to("flaky")) == ["booking.held"]
    for failures in (2, 3):
        pending = next(
            d for d in await world.deliveries(parties.driver, hook) if d["event_type"] == "booking.held"
        )
        assert pending["status"] == "pending"
        due = datetime.fromisoformat(pending["next_attempt_at"])
        # Not before it is due.
        world.clock.set(due - timedelta(seconds=1))
        assert await world.deliver() == 0
        world.clock.set(due)
        assert await world.deliver() == 1
        assert types(world.receiver.to("flaky")) == ["booking.held"] * failures
    pending = next(
        d for d in await world.deliveries(parties.driver, hook) if d["event_type"] == "booking.held"
    )
    world.clock.set(datetime.fromisoformat(pending["next_attempt_at"]))
    assert await world.deliver() == 3  # the held event, then the two that waited, one after the other
    received = world.receiver.to("flaky")
    assert [r.answered for r in received] == [500, 503, 502, 200, 200, 200]
    assert types(world.receiver.delivered("flaky")) == BOOKING_TYPES
    assert all(r.verified == [True] for r in received)
    assert len({r.id for r in received[:4]}) == 1  # every try of an event has its id
    held = next(d for d in await world.deliveries(parties.driver, hook) if d["event_type"] == "booking.held")
    assert held["status"] == "succeeded"
    assert [a["response_status"] for a in held["attempts"]] == [500, 503, 502, 200]
    assert [a["error"] for a in held["attempts"]] == ["HTTP 500", "HTTP 503", "HTTP 502", None]
    assert held["attempts"][0]["response_body"] == "down"
    assert (await world.webhook(parties.driver, hook))["failing_since"] is None  # a success forgives


async def test_a_later_event_waits_for_an_earlier_one_of_its_booking_not_yet_dispatched(
    world: World, parties: Parties
) -> None:
    """A transaction that took its id before the booking's lock can commit its event (a later
    seq) below the horizon while an earlier event of the booking (an earlier seq, a later
    transaction id) is still above it: the later one's delivery must wait for the earlier one."""
    await world.subscribe(parties.driver, "ordered", BOOKING_TYPES)
    booking_id = await book_confirm_cancel(world, parties)
    async with world.db.sessionmaker() as session, session.begin():
        # The held event as if its transaction were still running: far above any horizon.
        held = (
            await session.execute(
                text(
                    "update events set txid = 1e15 where booking_id = :b and type = 'booking.held' returning seq"
                ),
                {"b": booking_id},
            )
        ).scalar_one()
    assert await world.deliver(wait_held=False) == 0  # confirmed and cancelled are dispatched, and wait
    async with world.db.sessionmaker() as session:
        waiting = (
            await session.execute(text("select count(*) from deliveries where status = 'pending'"))
        ).scalar_one()
    assert waiting == 2
    async with world.db.sessionmaker() as session, session.begin():
        # Committed now, just past the others' transaction: below the horizon, past the cursor.
        await session.execute(
            text(
                "update events set txid = (select max(txid) + 1 from events where txid < 1e15)"
                " where seq = :seq"
            ),
            {"seq": held},
        )
    assert await world.deliver() == 3
    assert types(world.receiver.delivered("ordered")) == BOOKING_TYPES


async def test_retries_follow_the_schedule_and_stop_after_the_eighth_try(
    world: World, parties: Parties
) -> None:
    hook = await world.subscribe(parties.driver, "down", ["booking.held"])
    world.receiver.answer("down", *[Answer(500)] * 20)
    r = await book(world.client, parties.driver, parties.spot, 400, 402)
    assert r.status_code == 201
    started = world.clock.now
    assert await world.deliver() == 1
    for tries in range(1, 8):
        [d] = await world.deliveries(parties.driver, hook)
        assert d["status"] == "pending"
        assert len(d["attempts"]) == tries
        due = datetime.fromisoformat(d["next_attempt_at"])
        waited = (due - world.clock.now).total_seconds()
        base = RETRY_DELAYS[tries - 1]
        assert base * 0.9 - 1 <= waited <= base * 1.1 + 1, (tries, waited)
        world.clock.set(due)
        assert await world.deliver() == 1
    [d] = await world.deliveries(parties.driver, hook)
    assert d["status"] == "failed"
    assert d["next_attempt_at"] is None
    assert len(d["attempts"]) == 8
    assert len(world.receiver.to("down")) == 8
    assert timedelta(hours=25) < world.clock.now - started < timedelta(hours=31)
    # Given up: no ninth try, however late.
    world.clock.advance(days=3)
    assert await world.deliver() == 0
    assert len(world.receiver.to("down")) == 8


def test_the_retry_schedule_is_the_standard_webhooks_one() -> None:
    rng = random.Random(7)
    expected = [5, 300, 1800, 7200, 18000, 36000, 36000]
    for tries, base in enumerate(expected, start=1):
        for _ in range(50):
            delay = retry_delay(tries, rng)
            assert delay is not None
            assert base * 0.9 <= delay.total_seconds() <= base * 1.1
    assert retry_delay(8, rng) is None
    spread = {retry_delay(1, rng) for _ in range(20)}
    assert len(spread) > 1  # jitter


# -- the secret, test events, redelivery --------------------------------------------------------------


async def test_after_a_rotation_both_secrets_sign_for_a_day(world: World, parties: Parties) -> None:
    hook = await world.subscribe(parties.driver, "rot", BOOKING_TYPES)
    url = f"/v1/me/webhooks/{hook['id']}"
    old = hook["secret"]
    r = await world.client.post(f"{url}/rotate-secret", headers=parties.driver.headers)
    new = r.json()["secret"]
    world.receiver.secrets["rot"] = [old, new]

    assert (await world.client.post(f"{url}/test", headers=parties.driver.headers)).status_code == 202
    world.clock.advance(hours=23, minutes=59)
    r = await book(world.client, parties.driver, parties.spot, 100, 102)
    assert r.status_code == 201
    assert await world.deliver() == 2
    for received in world.receiver.requests:
        assert received.verified == [True, True]  # with the old secret and with the new one
        assert len(received.headers["webhook-signature"].split(" ")) == 2

    world.clock.advance(minutes=1, seconds=1)
    assert (await world.client.post(f"{url}/test", headers=parties.driver.headers)).status_code == 202
    assert await world.deliver() == 1
    last = world.receiver.requests[-1]
    assert last.verified == [False, True]  # only the new secret now
    assert len(last.headers["webhook-signature"].split(" ")) == 1


async def test_a_test_event_goes_to_that_webhook_only(world: World, parties: Parties) -> None:
    tested = await world.subscribe(parties.owner, "tested", BOOKING_TYPES, description="Gate")
    await world.subscribe(parties.owner, "other", BOOKING_TYPES)
    r = await world.client.post(f"/v1/me/webhooks/{tested['id']}/test", headers=parties.owner.headers)
    assert r.status_code == 202
    assert await world.deliver() == 1
    [received] = world.receiver.requests
    assert received.path == "tested"
    assert received.verified == [True]
    assert received.event == {
        "id": r.json()["event_id"],
        "type": "webhook.test",
        "created_at": world.clock.at(0),
        "data": {"webhook": {"id": tested["id"], "url": world.receiver.url("tested"), "description": "Gate"}},
    }
    [listed] = await world.deliveries(parties.owner, tested)
    assert (listed["event_type"], listed["status"]) == ("webhook.test", "succeeded")
    # A test event is for the webhook only: the live stream never shows it.
    async with world.db.sessionmaker() as session:
        row = (
            await session.execute(
                text("select webhook_id from events where id = :id"), {"id": r.json()["event_id"]}
            )
        ).one()
    assert str(row.webhook_id) == tested["id"]


async def test_a_redelivery_sends_the_same_event_again(world: World, parties: Parties) -> None:
    hook = await world.subscribe(parties.driver, "again", BOOKING_TYPES)
    await book_confirm_cancel(world, parties)
    assert await world.deliver() == 3
    held = next(d for d in await world.deliveries(parties.driver, hook) if d["event_type"] == "booking.held")
    world.clock.advance(hours=2)
    r = await world.client.post(
        f"/v1/me/webhooks/{hook['id']}/deliveries/{held['id']}/redeliver", headers=parties.driver.headers
    )
    assert r.status_code == 202, r.text
    assert await world.deliver() == 1
    received = world.receiver.to("again")
    assert types(received) == [*BOOKING_TYPES, "booking.held"]
    assert received[-1].id == received[0].id == held["event_id"]
    assert received[-1].body == received[0].body
    assert received[-1].verified == [True]
    listed = await world.deliveries(parties.driver, hook)
    assert listed[0]["id"] == r.json()["id"]
    assert listed[0]["status"] == "succeeded"
    assert listed[0]["attempts"][0]["at"] == z(world.clock.now)


# -- what counts as failure -------------------------------------------------------------------------


async def test_redirects_are_not_followed(world: World, parties: Parties) -> None:
    hook = await world.subscribe(parties.driver, "moved", ["booking.held"])
    world.receiver.answer("moved", Answer(302, b"", headers={"Location": world.receiver.url("elsewhere")}))
    await book(world.client, parties.driver, parties.spot, 30, 32)
    await world.deliver()
    assert [r.path for r in world.receiver.requests] == ["moved"]
    [d] = await world.deliveries(parties.driver, hook)
    assert d["status"] == "pending"
    assert d["attempts"][0]["response_status"] == 302
    assert d["attempts"][0]["error"] == "redirect not followed"
    assert datetime.fromisoformat(d["next_attempt_at"]) - world.clock.now < timedelta(seconds=6)


async def test_only_a_kibibyte_of_the_answer_is_kept(world: World, parties: Parties) -> None:
    hook = await world.subscribe(parties.driver, "chatty", ["booking.held"])
    world.receiver.answer("chatty", Answer(200, b"a" * 1000 + "ü".encode() * 50_000))
    await book(world.client, parties.driver, parties.spot, 30, 32)
    await world.deliver()
    [d] = await world.deliveries(parties.driver, hook)
    assert d["status"] == "succeeded"
    kept = d["attempts"][0]["response_body"]
    assert kept.startswith("a" * 1000)
    assert len(kept.encode()) <= 1024 + 2  # the cut may halve a character: replaced, never more
    assert kept[1000:1012] == "ü" * 12


async def test_no_answer_within_the_timeout_is_a_failed_attempt(
    world: World, parties: Parties, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "TIMEOUT_SECONDS", 0.3)
    hook = await world.subscribe(parties.driver, "slow", ["booking.held"])
    world.receiver.answer("slow", Answer(200, delay=5))
    await book(world.client, parties.driver, parties.spot, 30, 32)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await world.deliver()
    assert loop.time() - started < 4
    [d] = await world.deliveries(parties.driver, hook)
    assert d["status"] == "pending"
    [attempt] = d["attempts"]
    assert attempt["error"] == "no answer within 0.3 s"
    assert attempt["response_status"] is None
    assert 250 <= attempt["duration_ms"] < 4000


async def test_a_refused_connection_is_a_failed_attempt(world: World, parties: Parties) -> None:
    # A port nobody listens on (the receiver's, after it stopped).
    async with Receiver() as gone:
        url = gone.url("x")
    hook = await world.subscribe(parties.driver, "x", ["booking.held"], url=url)
    await book(world.client, parties.driver, parties.spot, 30, 32)
    await world.deliver()
    [d] = await world.deliveries(parties.driver, hook)
    assert d["status"] == "pending"
    assert d["attempts"][0]["error"].startswith("ConnectError")
    assert (await world.webhook(parties.driver, hook))["failing_since"] == world.clock.at(0)


async def test_a_send_that_ends_during_a_claim_lets_the_next_event_of_its_booking_go(
    world: World, parties: Parties, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The driver's held event is answered only once the next claim has taken its snapshot: it
    records its outcome while that claim runs, which still finds the confirmed event waiting for
    it. The run must claim again rather than end with nothing in flight."""
    await world.subscribe(parties.driver, "driver", BOOKING_TYPES)
    await world.subscribe(parties.owner, "owner", ["booking.confirmed"])
    r = await book(world.client, parties.driver, parties.spot, 24, 26)
    assert r.status_code == 201, r.text
    r = await world.client.post(f"/v1/bookings/{r.json()['id']}/confirm", headers=parties.driver.headers)
    assert r.status_code == 200, r.text
    answer_held = asyncio.Event()
    world.receiver.answer("driver", Answer(200, hold=answer_held))
    # Every event dispatched first: the run below only claims and sends.
    deadline = asyncio.get_running_loop().time() + 10
    while (await delivery.dispatch(world.db, world.clock())).events or await world._held_back():
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.05)

    async with Deliverer(world.db, world.settings, clock=world.clock) as deliverer:
        real_claim = delivery.claim
        overlapped = 0

        async def claim_while_sends_end(*args: Any, **kwargs: Any) -> list[delivery.Claimed]:
            nonlocal overlapped
            claimed = await real_claim(*args, **kwargs)
            if deliverer._in_flight and not answer_held.is_set():
                # The owner's send has ended; the driver's ends after this claim's snapshot,
                # before the claim returns.
                overlapped += 1
                answer_held.set()
                await asyncio.wait(set(deliverer._in_flight))
            return claimed

        monkeypatch.setattr(delivery, "claim", claim_while_sends_end)
        assert await deliverer.run_once() == 3
    assert overlapped == 1
    assert types(world.receiver.delivered("driver")) == ["booking.held", "booking.confirmed"]
    assert types(world.receiver.delivered("owner")) == ["booking.confirmed"]


async def test_a_slow_receiver_does_not_hold_up_the_others(world: World, parties: Parties) -> None:
    await world.subscribe(parties.owner, "slow", ["booking.held"])
    await world.subscribe(parties.driver, "fast", ["booking.held"])
    release = asyncio.Event()
    world.receiver.answer("slow", *[Answer(200, hold=release)] * 3)
    for n in range(3):
        assert (
            await book(world.client, parties.driver, parties.spot, 30 + 3 * n, 31 + 3 * n)
        ).status_code == 201
    async with Deliverer(world.db, world.settings, clock=world.clock, concurrency=4) as deliverer:
        run = asyncio.create_task(deliverer.run_once())
        # The driver's three arrive while the owner's receiver holds its requests, and with them
        # two or three of the four slots (sent in batches, the third would wait for them).
        await world.receiver.wait_until(lambda: len(world.receiver.to("fast")) == 3, within=8)
        assert len(world.receiver.to("fast")) == 3
        assert not run.done()
        release.set()
        assert await run == 6
    assert len(world.receiver.to("slow")) == 3
    assert all(r.verified == [True] for r in world.receiver.requests)


# -- disabling ---------------------------------------------------------------------------------------


async def test_an_endpoint_failing_for_five_days_is_disabled_and_its_owner_told(
    world: World, parties: Parties
) -> None:
    down = await world.subscribe(parties.owner, "down", BOOKING_TYPES)
    told = await world.subscribe(parties.owner, "told", ["webhook.disabled"])
    world.receiver.answer("down", *[Answer(500)] * 30)
    r = await book(world.client, parties.driver, parties.spot, 300, 302)  # 12 days ahead
    booking_id = r.json()["id"]
    assert (
        await world.client.post(f"/v1/bookings/{booking_id}/confirm", headers=parties.driver.headers)
    ).status_code == 200
    failing_since = world.clock.now
    await world.deliver()  # the held event fails; the confirmed one waits behind it
    assert len(world.receiver.to("down")) == 1
    world.clock.advance(days=4, hours=23)
    await world.deliver()  # its retry fails too, but not yet for five days
    hook = await world.webhook(parties.owner, down)
    assert hook["enabled"] is True
    assert hook["failing_since"] == z(failing_since)

    # Five days after the first failure, the next failure disables it.
    world.clock.set(failing_since + timedelta(days=5, minutes=1))
    await world.deliver()
    assert types(world.receiver.to("down")) == ["booking.held"] * 3
    hook = await world.webhook(parties.owner, down)
    assert hook["enabled"] is False
    assert hook["disabled_at"] == world.clock.at(0)
    [notice] = world.receiver.to("told")
    assert notice.verified == [True]
    assert notice.event["type"] == "webhook.disabled"
    assert notice.event["data"]["webhook"]["id"] == down["id"]
    assert notice.event["data"]["webhook"]["enabled"] is False
    assert notice.event["data"]["webhook"]["failing_since"] == z(failing_since)
    # Its pending deliveries (the confirmed event, waiting) are given up with it.
    listed = await world.deliveries(parties.owner, down)
    assert [(d["event_type"], d["status"]) for d in listed] == [
        ("booking.confirmed", "failed"),
        ("booking.held", "failed"),
    ]
    assert listed[0]["attempts"][-1]["error"] == "the webhook was disabled after failing for 5 days"

    # Disabled: nothing more is made for it; enabling it again starts afresh.
    r = await world.client.post(f"/v1/bookings/{booking_id}/cancel", headers=parties.driver.headers)
    assert r.status_code == 200
    await world.deliver()
    assert len(world.receiver.to("down")) == 3
    assert len(await world.deliveries(parties.owner, down)) == 2
    world.receiver.reset("down")
    on = await world.client.patch(
        f"/v1/me/webhooks/{down['id']}", headers=parties.owner.headers, json={"enabled": True}
    )
    assert on.json()["failing_since"] is None
    r = await world.client.post(f"/v1/me/webhooks/{down['id']}/test", headers=parties.owner.headers)
    assert r.status_code == 202
    await world.deliver()
    assert types(world.receiver.delivered("down")) == ["webhook.test"]
    assert len(world.receiver.to("told")) == 1
    assert (await world.webhook(parties.owner, told))["enabled"] is True


async def test_a_webhook_disabled_by_hand_gives_up_its_pending_deliveries(
    world: World, parties: Parties
) -> None:
    hook = await world.subscribe(parties.driver, "paused", BOOKING_TYPES)
    await book_confirm_cancel(world, parties)
    # Dispatched, but not yet sent:
    assert (await delivery.dispatch(world.db, world.clock.now)).deliveries == 3
    r = await world.client.patch(
        f"/v1/me/webhooks/{hook['id']}", headers=parties.driver.headers, json={"enabled": False}
    )
    assert r.json()["enabled"] is False
    # Given up at once, so that enabling it again does not send stale events.
    listed = await world.deliveries(parties.driver, hook)
    assert {d["status"] for d in listed} == {"failed"}
    assert {d["attempts"][0]["error"] for d in listed} == {"the webhook was disabled by its owner"}
    r = await world.client.patch(
        f"/v1/me/webhooks/{hook['id']}", headers=parties.driver.headers, json={"enabled": True}
    )
    assert r.json()["enabled"] is True
    assert await world.deliver() == 0
    assert world.receiver.requests == []
    assert (await world.webhook(parties.driver, hook))["failing_since"] is None  # not the receiver's fault


# -- SSRF at delivery, the pinned address --------------------------------------------------------------


async def test_a_url_is_checked_again_at_delivery(world: World, parties: Parties) -> None:
    hook = await world.subscribe(parties.driver, "inside", ["booking.held"])  # allowed at creation
    await book(world.client, parties.driver, parties.spot, 30, 32)
    strict = world.settings.model_copy(update={"webhook_allow_private_urls": False})
    await world.deliver(strict)
    assert world.receiver.requests == []  # nothing was sent
    [d] = await world.deliveries(parties.driver, hook)
    assert d["status"] == "pending"
    assert d["attempts"][0]["error"].startswith("URL not allowed: ")
    assert d["attempts"][0]["response_status"] is None


async def test_dns_that_changes_to_a_private_address_is_refused_at_delivery(
    world: World, parties: Parties, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = {"hooks.example": "93.184.215.14"}

    async def resolve(host: str, port: int) -> list[urls.IPAddress]:
        return [ipaddress.ip_address(answers[host])]

    monkeypatch.setattr(urls, "resolve", resolve)
    strict = world.settings.model_copy(update={"webhook_allow_private_urls": False})
    # Created under the strict rules, with a public address.
    r = await world.client.post(
        "/v1/me/webhooks",
        headers=parties.driver.headers,
        json={"url": "https://hooks.example/h", "events": ["booking.held"]},
    )
    assert r.status_code == 201, r.text
    answers["hooks.example"] = "127.0.0.1"  # rebinding
    await book(world.client, parties.driver, parties.spot, 30, 32)
    await world.deliver(strict)
    [d] = await world.deliveries(parties.driver, r.json())
    assert d["attempts"][0]["error"].startswith("URL not allowed: ")


async def test_requests_go_to_the_checked_address_with_the_host_name(
    world: World, parties: Parties, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A name no DNS knows: only the checked address (from urls.resolve) can have been used.
    async def resolve(host: str, port: int) -> list[urls.IPAddress]:
        assert host == "hooks.invalid"
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(urls, "resolve", resolve)
    await world.subscribe(
        parties.driver, "named", ["booking.held"], url=world.receiver.url("named", "hooks.invalid")
    )
    await book(world.client, parties.driver, parties.spot, 30, 32)
    await world.deliver()
    [received] = world.receiver.requests
    assert received.host == f"hooks.invalid:{world.receiver.port}"
    assert received.verified == [True]


async def test_the_client_connects_nowhere_without_a_checked_address() -> None:
    async with delivery.make_client() as client:
        with pytest.raises(httpx.ConnectError):
            await client.post("http://127.0.0.1:9/", content=b"{}")


def _certificates(tmp: Any, names: list[str]) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A CA and a certificate for `names` signed by it: (the server's context, the client's)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "parkshare test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=900))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=900))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cadata=ca.public_bytes(serialization.Encoding.PEM).decode())
    return server, client


async def test_tls_connections_are_kept_per_host_name_not_per_address(
    world: World, parties: Parties, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """Two hosts on one address (a CDN): each request goes over a connection whose TLS server
    name is its own host, though the connections are kept alive between deliveries."""

    async def resolve(host: str, port: int) -> list[urls.IPAddress]:
        return [ipaddress.ip_address("127.0.0.1")]

    monkeypatch.setattr(urls, "resolve", resolve)
    server_tls, client_tls = _certificates(tmp_path, ["a.test", "b.test"])
    async with (
        Receiver(server_tls) as tls,
        Deliverer(world.db, world.settings, clock=world.clock, verify=client_tls) as deliverer,
    ):
        hooks = {}
        for name in ("a", "b"):
            hooks[name] = await world.subscribe(
                parties.driver, name, ["booking.held"], url=tls.url(name, f"{name}.test")
            )
            tls.secrets[name] = world.receiver.secrets[name]
        for name in ("a", "b", "a", "b"):
            r = await world.client.post(
                f"/v1/me/webhooks/{hooks[name]['id']}/test", headers=parties.driver.headers
            )
            assert r.status_code == 202
            assert await deliverer.run_once() == 1
    assert [r.path for r in tls.requests] == ["a", "b", "a", "b"]
    for received in tls.requests:
        assert received.verified == [True]
        assert received.host == f"{received.path}.test:{tls.port}"
        assert received.server_name == f"{received.path}.test"


# -- robustness -----------------------------------------------------------------------------------


async def test_events_nobody_subscribed_to_do_not_stop_the_dispatcher(
    world: World, parties: Parties, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(delivery, "DISPATCH_BATCH", 2)
    unsubscribed = await make_account(world.client, "quiet")
    for n in range(5):
        assert (
            await book(world.client, unsubscribed, parties.spot, 30 + 3 * n, 31 + 3 * n)
        ).status_code == 201
    await world.subscribe(parties.driver, "late", ["booking.held"])
    assert (await book(world.client, parties.driver, parties.spot, 60, 61)).status_code == 201
    assert await world.deliver() == 1  # in one run, past three batches of nothing
    assert types(world.receiver.requests) == ["booking.held"]


async def test_a_failure_of_ours_while_sending_is_an_attempt_not_a_stuck_lease(
    world: World, parties: Parties, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook = await world.subscribe(parties.driver, "bug", ["booking.held"])
    await book(world.client, parties.driver, parties.spot, 30, 32)

    async def broken(*_: Any) -> delivery.Attempt:
        raise RuntimeError("a bug")

    monkeypatch.setattr(delivery, "send_webhook", broken)
    assert await world.deliver() == 1
    [d] = await world.deliveries(parties.driver, hook)
    assert d["status"] == "pending"
    assert d["attempts"][0]["error"] == "internal error (RuntimeError)"
    async with world.db.sessionmaker() as session:
        leased = await session.scalar(
            text("select leased_until from deliveries where id = :id"), {"id": d["id"]}
        )
    assert leased is None
    monkeypatch.undo()
    world.clock.set(datetime.fromisoformat(d["next_attempt_at"]))
    assert await world.deliver() == 1
    assert types(world.receiver.delivered("bug")) == ["booking.held"]


async def test_a_delivery_whose_sender_died_is_sent_again_when_its_lease_ends(
    world: World, parties: Parties
) -> None:
    await world.subscribe(parties.driver, "twice", ["booking.held"])
    await book(world.client, parties.driver, parties.spot, 30, 32)
    await delivery.dispatch(world.db, world.clock.now)
    [claimed] = await delivery.claim(world.db, world.clock.now)  # ... and the process dies
    assert await world.deliver() == 0  # leased: nobody else takes it
    world.clock.advance(seconds=61)
    assert await world.deliver() == 1
    assert [r.id for r in world.receiver.requests] == [str(claimed.event_id)]


async def test_a_stop_that_comes_with_a_wake_ends_the_delivery_loop(
    hook_settings: Settings, committed_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SIGTERM to a worker just as new events wake its delivery loop: the loop's cancel must not
    be lost to the wake. (Python 3.11's `asyncio.wait_for` returns the result of a wait that ended
    in the step of the cancel; the loop then ran on, and the worker never exited.)"""
    monkeypatch.setattr(delivery, "POLL_SECONDS", 3600.0)
    deliverer = Deliverer(committed_db, hook_settings)
    ran = asyncio.Event()
    runs = 0

    async def run_once() -> int:
        nonlocal runs
        runs += 1
        if runs > 1:
            # The loop went on after the stop: end it here, or the test would wait for an hour.
            raise asyncio.CancelledError
        ran.set()
        return 0

    monkeypatch.setattr(deliverer, "run_once", run_once)
    await deliverer.start()
    await asyncio.wait_for(ran.wait(), 5)
    for _ in range(3):
        await asyncio.sleep(0)  # the loop is waiting for a wake
    # The wake and the stop's cancel in one step of the event loop, as a signal handler's stop
    # comes while new events wake the loop.
    deliverer.wake()
    await deliverer.stop()
    assert runs == 1
    assert deliverer._task is None


async def test_a_cancel_of_stop_itself_comes_through(
    hook_settings: Settings, committed_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A caller that gives up on `stop()` (a shutdown with a deadline) is cancelled, not left
    waiting with its cancel swallowed."""
    deliverer = Deliverer(committed_db, hook_settings)
    release = asyncio.Event()

    async def stuck() -> int:
        with contextlib.suppress(asyncio.CancelledError):
            await release.wait()  # a loop that does not end when cancelled
        await release.wait()
        return 0

    monkeypatch.setattr(deliverer, "run_once", stuck)
    await deliverer.start()
    await asyncio.sleep(0.05)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.5):
            await deliverer.stop()
    release.set()
    await asyncio.wait_for(deliverer.stop(), 5)
    assert deliverer._task is None


async def test_a_sender_that_stalled_past_most_of_its_lease_leaves_the_delivery_to_the_next_claim(
    world: World, parties: Parties
) -> None:
    await world.subscribe(parties.driver, "stalled", ["booking.held"])
    await book(world.client, parties.driver, parties.spot, 30, 32)
    await delivery.dispatch(world.db, world.clock.now)
    [claimed] = await delivery.claim(world.db, world.clock.now)
    # The claiming process stalls (CPU starved, paused) until too little of the lease is left for
    # a send to end within it: it must not send, or another process claiming it at the end of the
    # lease would send it a second time.
    world.clock.advance(seconds=45)
    async with Deliverer(world.db, world.settings, clock=world.clock) as stalled:
        await stalled._deliver(claimed)
    assert world.receiver.requests == []
    assert await world.deliver() == 0  # still leased
    world.clock.advance(seconds=16)
    assert await world.deliver() == 1
    assert [r.id for r in world.receiver.requests] == [str(claimed.event_id)]


async def test_on_a_clock_ten_times_as_fast_a_lease_lasts_ten_times_as_long(
    world: World, parties: Parties
) -> None:
    # Sends time out in real seconds: a lease of 60 s of a clock ten times as fast (docs/jobs.md)
    # would run out after 6 real seconds, within a slow send, and another process would send again.
    await world.subscribe(parties.driver, "fast", ["booking.held"])
    await book(world.client, parties.driver, parties.spot, 30, 32)
    await delivery.dispatch(world.db, world.clock.now)
    simulate(datetime.now(UTC), 10)
    try:
        [claimed] = await delivery.claim(world.db, world.clock.now)
    finally:
        simulate(None, 1)
    assert claimed.leased_until == world.clock.now + 10 * delivery.LEASE
    async with world.db.sessionmaker() as session:
        leased = await session.scalar(
            text("select leased_until from deliveries where id = :id"), {"id": claimed.id}
        )
    assert leased == claimed.leased_until


async def test_an_outcome_recorded_elsewhere_is_kept(world: World, parties: Parties) -> None:
    hook = await world.subscribe(parties.driver, "kept", ["booking.held"])
    await book(world.client, parties.driver, parties.spot, 30, 32)
    await delivery.dispatch(world.db, world.clock.now)
    [claimed] = await delivery.claim(world.db, world.clock.now)
    now = world.clock.now
    assert not await delivery.record(world.db, claimed, delivery.Attempt(at=now, response_status=200), now)
    # A late sender of the same delivery (its lease had run out) fails: the success stands.
    await delivery.record(
        world.db, claimed, delivery.Attempt(at=now, error="HTTP 500", response_status=500), now
    )
    [d] = await world.deliveries(parties.driver, hook)
    assert d["status"] == "succeeded"
    assert len(d["attempts"]) == 1
    assert (await world.webhook(parties.driver, hook))["failing_since"] is None


async def test_push_deliveries_are_left_to_a_process_that_can_send_them(
    world: World, parties: Parties
) -> None:
    async with world.db.sessionmaker() as session, session.begin():
        await session.execute(
            text(
                "insert into push_subscriptions (id, user_id, endpoint, p256dh, auth)"
                " values (gen_random_uuid(), :u, 'https://push.example/1', 'k', 'a')"
            ),
            {"u": parties.driver.id},
        )
    await world.subscribe(parties.driver, "web", ["booking.held"])
    await book(world.client, parties.driver, parties.spot, 30, 32)
    assert await world.deliver() == 1  # the webhook's
    async with world.db.sessionmaker() as session:
        push = (
            await session.execute(
                text("select status, attempt_count from deliveries where push_subscription_id is not null")
            )
        ).one()
    assert (push.status, push.attempt_count) == ("pending", 0)

    sent: list[str] = []

    async def push_sender(
        _: httpx.AsyncClient, claimed: delivery.Claimed, __: Settings, now: datetime
    ) -> delivery.Attempt:
        sent.append(claimed.endpoint or "")
        return delivery.Attempt(at=now, response_status=201)

    assert await world.deliver(push_sender=push_sender) == 1
    assert sent == ["https://push.example/1"]


async def test_the_order_is_the_events_order_whatever_order_the_deliveries_were_made_in(
    world: World, parties: Parties
) -> None:
    hook = await world.subscribe(parties.driver, "order", ["booking.held"])
    booking = uuid.uuid4()
    async with world.db.sessionmaker() as session, session.begin():
        seqs = [
            await session.scalar(
                text(
                    "insert into events (id, type, created_at, data) values (gen_random_uuid(), :t, :at, '{}')"
                    " returning seq"
                ),
                {"t": t, "at": world.clock.now},
            )
            for t in ("booking.held", "booking.confirmed")
        ]
        for event_seq in reversed(seqs):  # the later event's delivery first
            await session.execute(
                text(
                    "insert into deliveries (id, event_seq, webhook_id, order_key, status, next_attempt_at)"
                    " values (gen_random_uuid(), :e, :w, :b, 'pending', :at)"
                ),
                {"e": event_seq, "w": hook["id"], "b": booking, "at": world.clock.now},
            )
    claimed = await delivery.claim(world.db, world.clock.now)
    assert [c.event_type for c in claimed] == ["booking.held"]


# -- several deliverers at once ----------------------------------------------------------------------


async def test_four_deliverers_at_once_send_each_event_once_and_in_order(
    world: World, parties: Parties, monkeypatch: pytest.MonkeyPatch
) -> None:
    driver_hook = await world.subscribe(parties.driver, "driver", BOOKING_TYPES)
    await world.subscribe(parties.owner, "owner", BOOKING_TYPES)
    spots = [
        parties.spot,
        await open_spot(world.client, parties.owner),
        await open_spot(world.client, parties.owner),
    ]
    bookings = 0
    for n in range(12):
        spot = spots[n % 3]
        r = await book(world.client, parties.driver, spot, 30 + 3 * n, 32 + 3 * n)
        assert r.status_code == 201, r.text
        booking_id = r.json()["id"]
        await world.client.post(f"/v1/bookings/{booking_id}/confirm", headers=parties.driver.headers)
        if n % 2:
            await world.client.post(f"/v1/bookings/{booking_id}/cancel", headers=parties.driver.headers)
        bookings += 1
    expected = 12 * 2 + 6  # held and confirmed each, cancelled for half
    # Receivers that answer at different speeds, so that the deliverers interleave.
    rng = random.Random(3)
    for path in ("driver", "owner"):
        world.receiver.answer(path, *[Answer(200, delay=rng.random() / 50) for _ in range(expected)])

    deliverers = [Deliverer(world.db, world.settings, clock=world.clock, concurrency=3) for _ in range(4)]
    for d in deliverers:
        await d.open()
    try:
        sent = await asyncio.gather(*(d.run_once() for d in deliverers))
    finally:
        for d in deliverers:
            await d.stop()
    assert sum(sent) == 2 * expected
    assert sum(1 for s in sent if s) >= 2  # more than one of them did the work
    for path in ("driver", "owner"):
        received = world.receiver.to(path)
        assert len(received) == expected
        assert len({r.id for r in received}) == expected  # none twice
        assert all(r.verified == [True] for r in received)
        by_booking: dict[str, list[str]] = {}
        for r in received:
            by_booking.setdefault(r.event["data"]["booking"]["id"], []).append(r.event["type"])
        assert len(by_booking) == bookings
        for sequence in by_booking.values():
            assert sequence in (BOOKING_TYPES, BOOKING_TYPES[:2])
    assert {d["status"] for d in await world.deliveries(parties.driver, driver_hook)} == {"succeeded"}


async def test_the_event_horizon_stands_below_every_running_transaction(committed_db: Database) -> None:
    """A running transaction's xid may lie at or above the snapshot's xmax (one past the latest
    *completed* transaction): the horizon must still be just below the oldest running one, not
    2^32 below it."""
    async with committed_db.engine.connect() as first, committed_db.engine.connect() as second:
        await first.begin()
        await second.begin()
        older = (await first.execute(text("select pg_current_xact_id()::text::bigint"))).scalar_one()
        newer = (await second.execute(text("select pg_current_xact_id()::text::bigint"))).scalar_one()
        assert newer > older
        # Neither has completed: the snapshot's xmax is at most `older`, below `newer`.
        horizon = (await second.execute(text("select parkshare_event_horizon()"))).scalar_one()
        # At or just below the older one (the snapshot's xmax may be lower still), never 2^32 below.
        assert older - 1000 < horizon <= older
        await first.rollback()
        # Past the older one (it has ended), not past the newer one, which still runs.
        horizon = (await second.execute(text("select parkshare_event_horizon()"))).scalar_one()
        assert older < horizon <= newer
        await second.rollback()


# -- the real thing: two serving processes and a worker ----------------------------------------------


async def _pending(db: Database) -> int:
    async with db.sessionmaker() as session:
        return int(
            await session.scalar(text("select count(*) from deliveries where status = 'pending'")) or 0
        )


@contextlib.contextmanager
def worker_process(database_url: str, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`parkshare worker` on the test database: the scheduler and event delivery, no HTTP."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "JWT_SECRET": BENCH_SECRET,
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "WARNING",
        "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        "DATABASE_POOL_SIZE": "4",
        "DATABASE_MAX_OVERFLOW": "2",
    }
    with log.open("wb") as out:
        proc = subprocess.Popen([PARKSHARE, "worker"], env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            yield proc
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.real_clock
async def test_two_serving_processes_and_a_worker_deliver_every_event_once_and_in_order(
    settings: Settings, committed_db: Database, now: datetime, tmp_path: Path
) -> None:
    spots_count, slots = 10, 20  # 200 bookings: held and confirmed each, half of them cancelled
    async with Receiver() as receiver:
        with (
            served(
                settings.database_url,
                workers=2,
                SCHEDULER_ENABLED="true",
                WEBHOOK_ALLOW_PRIVATE_URLS="true",
            ) as server,
            worker_process(settings.database_url, tmp_path / "worker.log") as worker,
        ):
            limits = httpx.Limits(max_connections=40, max_keepalive_connections=40)
            async with httpx.AsyncClient(base_url=server.url, timeout=60, limits=limits) as client:
                owner = await make_account(client, "owner")
                drivers = [await make_account(client, f"driver{n}") for n in range(4)]
                for path, account in [("owner", owner), *((f"driver{n}", d) for n, d in enumerate(drivers))]:
                    r = await client.post(
                        "/v1/me/webhooks",
                        headers=account.headers,
                        json={"url": receiver.url(path), "events": BOOKING_TYPES},
                    )
                    assert r.status_code == 201, r.text
                    receiver.secrets[path] = [r.json()["secret"]]
                    if path == "owner":
                        owner_hook = r.json()["id"]
                spots = [await open_spot(client, owner) for _ in range(spots_count)]
                base = now.replace(minute=0, second=0, microsecond=0) + timedelta(days=1)
                semaphore = asyncio.Semaphore(24)
                # Live streams too: two per account, each on a connection of its own, so that both
                # serving processes hold some.
                accounts = {"owner": owner, **{f"driver{n}": d for n, d in enumerate(drivers)}}
                stream_clients = [client_for(server.url) for _ in range(2 * len(accounts))]
                streams: dict[str, list[EventStream]] = {}
                for n, (path, account) in enumerate(sorted(accounts.items()) * 2):
                    response = await open_stream(stream_clients[n], account.headers)
                    assert response.status_code == 200, response.text
                    streams.setdefault(path, []).append(EventStream(response))

                async def changes(n: int) -> int:
                    driver = drivers[n % len(drivers)]
                    spot, slot = spots[n % spots_count], n // spots_count
                    start = base + timedelta(hours=3 * slot)
                    async with semaphore:
                        r = await client.post(
                            "/v1/bookings",
                            headers=driver.headers,
                            json={
                                "spot_id": spot["id"],
                                "start": z(start),
                                "end": z(start + timedelta(hours=2)),
                            },
                        )
                        assert r.status_code == 201, r.text
                        booking_id = r.json()["id"]
                        actions = ("confirm", "cancel") if n % 2 else ("confirm",)
                        for action in actions:
                            r = await client.post(
                                f"/v1/bookings/{booking_id}/{action}", headers=driver.headers
                            )
                            assert r.status_code == 200, r.text
                    return 1 + len(actions)

                loop = asyncio.get_running_loop()
                started = loop.time()
                made = sum(await asyncio.gather(*(changes(n) for n in range(spots_count * slots))))
                changed = loop.time()
                assert made == 500
                # Each change is one event to the owner and one to its driver.
                await receiver.wait_for(2 * made, within=120)
                finished = loop.time()
                # Every stream sees exactly its account's events (those its webhook got), once each.
                for path, own in streams.items():
                    expected = {r.id for r in receiver.to(path)}
                    # Driver n made the bookings n, n + 4, ...: of one parity, 2 or 3 changes each.
                    assert len(expected) == (
                        made if path == "owner" else 50 * (3 if int(path[-1]) % 2 else 2)
                    )
                    for stream in own:
                        for _ in range(200):
                            if len(stream.events_so_far) >= len(expected):
                                break
                            await asyncio.sleep(0.1)
                        got = [m.id for m in stream.events_so_far]
                        assert len(got) == len(set(got)) == len(expected), path
                        assert set(got) == expected, path
                for own in streams.values():
                    for stream in own:
                        await stream.close()
                for stream_client in stream_clients:
                    await stream_client.aclose()
                # Idle now: how soon does one event arrive? (Test events: they are no booking change.)
                idle = []
                for _ in range(5):
                    before, sent_at = len(receiver.requests), loop.time()
                    r = await client.post(f"/v1/me/webhooks/{owner_hook}/test", headers=owner.headers)
                    assert r.status_code == 202, r.text
                    await receiver.wait_until(lambda n=before: len(receiver.requests) > n, within=10)
                    idle.append(loop.time() - sent_at)
                # The senders record each outcome after the answer: let them before stopping them
                # (stopped first, they would send those again after a restart: at least once).
                for _ in range(100):
                    if await _pending(committed_db) == 0:
                        break
                    await asyncio.sleep(0.05)
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()

    tests = [r for r in receiver.requests if r.event["type"] == "webhook.test"]
    assert len(tests) == len(idle) == 5
    received = [r for r in receiver.requests if r.event["type"] != "webhook.test"]
    assert len(received) == 2 * made, f"{len(received)} of {2 * made} arrived"
    assert all(r.answered == 200 for r in received)
    assert all(r.verified == [True] for r in received)
    by_path: dict[str, list[Any]] = {}
    for r in received:
        by_path.setdefault(r.path, []).append(r)
    assert len(by_path["owner"]) == made
    for path, requests in by_path.items():
        assert len({r.id for r in requests}) == len(requests), f"{path} received an event twice"
        sequences: dict[str, list[str]] = {}
        for r in requests:
            sequences.setdefault(r.event["data"]["booking"]["id"], []).append(r.event["type"])
        for sequence in sequences.values():
            assert sequence in (BOOKING_TYPES, BOOKING_TYPES[:2]), f"{path}: {sequence}"
    async with committed_db.sessionmaker() as session:
        outcomes = (
            await session.execute(
                text("select status, attempt_count, count(*) from deliveries group by 1, 2")
            )
        ).all()
    assert [tuple(o) for o in outcomes] == [("succeeded", 1, 2 * made + 5)]  # no retry, nothing sent twice
    # From the change (the event's created_at, the server's clock) to its arrival.
    latencies = sorted(r.at - datetime.fromisoformat(r.event["created_at"]).timestamp() for r in received)
    print(
        f"\n{made} changes through the API in {changed - started:.1f} s; all {2 * made} deliveries "
        f"arrived {finished - changed:.2f} s after the last change ({finished - started:.1f} s in all); "
        f"change to arrival p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, "
        f"p99 {latencies[len(latencies) * 99 // 100] * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms; "
        f"idle, one test event: {', '.join(f'{t * 1000:.0f}' for t in idle)} ms"
    )
