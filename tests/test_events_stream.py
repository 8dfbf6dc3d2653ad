"""The live stream and the events hub.

`GET /v1/me/events` against real servers (marked slow): the app under uvicorn in this event loop
(tests/live.py) on the committed database, whose commits the hub reads over its own connection, and
for the fan-out across processes two `parkshare serve` processes on one database. Then, in process,
what a server passes too quickly to hit on purpose (the app called as ASGI), the hub on its own, and
the horizon it reads below."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import statistics
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from jose import jwt
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from app.auth.security import TokenCodec
from app.clock import utcnow
from app.db import Database
from app.events import hub as hub_module
from app.events import outbox
from app.events import stream as stream_module
from app.events.hub import GAP_SECONDS, POLL_SECONDS, EventRow, Hub, Position
from app.events.stream import STREAMS_PER_USER
from app.main import create_app
from app.settings import Settings
from bench.common import served
from tests.conftest import assert_problem, at
from tests.factories import PASSWORD, Account, Scene, add_vehicle, make_account, scene
from tests.live import EventStream, Message, client_for, event_stream, live_server, open_stream

PLATE = "DO PS 1234"


@pytest.fixture
async def live(settings: Settings, committed_db: Database) -> AsyncIterator[str]:
    async with live_server(create_app(settings, database=committed_db)) as url:
        yield url


@pytest.fixture
async def http(live: str) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(live) as client:
        yield client


@dataclasses.dataclass
class World:
    scene: Scene
    vehicle_id: str

    @property
    def driver(self) -> Account:
        return self.scene.driver

    @property
    def owner(self) -> Account:
        return self.scene.owner

    async def book(self, start: float, end: float) -> dict[str, Any]:
        r = await self.scene.client.post(
            "/v1/bookings",
            headers=self.driver.headers,
            json={
                "spot_id": self.scene.spot["id"],
                "start": at(start, self.scene.base),
                "end": at(end, self.scene.base),
                "vehicle_id": self.vehicle_id,
            },
        )
        assert r.status_code == 201, r.text
        return dict(r.json())

    async def act(self, booking: dict[str, Any], action: str, **body: Any) -> dict[str, Any]:
        r = await self.scene.client.post(
            f"/v1/bookings/{booking['id']}/{action}", headers=self.driver.headers, json=body or None
        )
        assert r.status_code == 200, r.text
        return dict(r.json())


async def world(client: httpx.AsyncClient, now: datetime) -> World:
    """An owner's spot and a driver with a vehicle, booking from tomorrow on: far outside the
    window in which the owner sees the plate, on whatever day the suite runs."""
    base = await scene(client, now)
    vehicle = await add_vehicle(client, base.driver, PLATE)
    return World(dataclasses.replace(base, base=base.base + timedelta(days=1)), str(vehicle["id"]))


def booking_of(message: Message) -> dict[str, Any]:
    body = message.json()
    # The message's id and type are the event's own.
    assert (message.id, message.event) == (body["id"], body["type"]), message
    assert set(body) == {"id", "type", "created_at", "data"}
    booking: dict[str, Any] = body["data"]["booking"]
    return booking


async def outbox_after(database: Database, user_id: str, event_id: str) -> list[str]:
    """The ids of the user's events after `event_id`, in the outbox's order."""
    async with database.sessionmaker() as session:
        rows = await session.execute(
            text(
                "select id from events where (driver_id = :u or owner_id = :u)"
                " and (txid, seq) > (select txid, seq from events where id = :e) order by txid, seq"
            ),
            {"u": uuid.UUID(user_id), "e": uuid.UUID(event_id)},
        )
        return [str(i) for i in rows.scalars()]


@pytest.mark.slow
@pytest.mark.real_clock
async def test_driver_and_owner_each_see_their_view_and_nobody_else_sees_anything(
    http: httpx.AsyncClient, now: datetime
) -> None:
    w = await world(http, now)
    carol = await make_account(http, "carol")
    async with (
        event_stream(http, w.driver.headers) as driver,
        event_stream(http, w.owner.headers) as owner,
        event_stream(http, carol.headers) as third,
    ):
        booking = await w.book(0, 2)
        await w.act(booking, "confirm")
        await w.act(booking, "cancel", reason="plans changed")
        driver_got, owner_got = await driver.events(3), await owner.events(3)
        # Carol's stream stays silent while the hub reads on (it reads at least every second).
        assert await third.quiet_for(1.5) == []
        assert await driver.quiet_for(0.1) == []
        assert await owner.quiet_for(0.1) == []

    types = ["booking.held", "booking.confirmed", "booking.cancelled"]
    assert [m.event for m in driver_got] == [m.event for m in owner_got] == types
    # One event, two views: the same ids on both streams.
    assert [m.id for m in driver_got] == [m.id for m in owner_got]
    assert len({m.id for m in driver_got}) == 3
    for message, status in zip(driver_got, ["held", "confirmed", "cancelled"], strict=True):
        seen = booking_of(message)
        assert (seen["id"], seen["status"], seen["license_plate"]) == (booking["id"], status, PLATE)
    for message, status in zip(owner_got, ["held", "confirmed", "cancelled"], strict=True):
        seen = booking_of(message)
        # Tomorrow's booking is outside the reveal window: the owner sees no plate yet.
        assert (seen["id"], seen["status"], seen["license_plate"]) == (booking["id"], status, None)
        assert not {"email", "phone"} & set(seen)
    assert booking_of(driver_got[2])["refund_cents"] == booking_of(owner_got[2])["refund_cents"]


@pytest.mark.slow
@pytest.mark.real_clock
async def test_a_stream_resumed_with_last_event_id_loses_nothing(
    http: httpx.AsyncClient, committed_db: Database, now: datetime
) -> None:
    w = await world(http, now)
    async with event_stream(http, w.driver.headers) as first:
        booking = await w.book(0, 1)
        held = await first.next_event()
    assert held.event == "booking.held"

    # While the driver is away: their own changes, and the owner's.
    await w.act(booking, "confirm")
    await w.act(booking, "extend", end=at(2, w.scene.base))
    other = await w.book(3, 4)
    r = await http.post(f"/v1/bookings/{other['id']}/cancel", headers=w.owner.headers, json={})
    assert r.status_code == 200, r.text

    async def burst() -> None:
        # Bookings committed in any order while the stream reconnects, catches up and goes live.
        await asyncio.gather(*(w.book(5 + h, 5.5 + h) for h in range(12)))

    racing = asyncio.create_task(burst())
    async with event_stream(http, w.driver.headers, last_event_id=held.id) as resumed:
        await racing
        expected = await outbox_after(committed_db, w.driver.id, held.id)
        assert len(expected) == 4 + 12
        got = await resumed.events(len(expected))
        # Every event once, in the outbox's order, and nothing after them.
        assert [m.id for m in got] == expected
        assert await resumed.quiet_for(1.5) == []
    assert [m.event for m in got[:4]] == [
        "booking.confirmed",
        "booking.extended",
        "booking.held",
        "booking.cancelled",
    ]
    assert booking_of(got[1])["end"] == at(2, w.scene.base)


@pytest.mark.slow
@pytest.mark.real_clock
async def test_an_unknown_last_event_id_starts_now(http: httpx.AsyncClient, now: datetime) -> None:
    w = await world(http, now)
    carol = await make_account(http, "carol")
    async with event_stream(http, w.driver.headers) as first:
        booking = await w.book(0, 1)
        held = await first.next_event()

    async with (
        event_stream(http, w.driver.headers, last_event_id=str(uuid.uuid4())) as unknown,
        event_stream(http, w.driver.headers, last_event_id="not-an-event-id") as malformed,
        # The driver's event is nobody else's position: Carol starts now too.
        event_stream(http, carol.headers, last_event_id=held.id) as theirs,
    ):
        await w.act(booking, "confirm")
        assert await theirs.quiet_for(1.2) == []
        # No backlog (the held event is not sent again); what happened since is.
        for stream in (unknown, malformed):
            assert [m.event for m in stream.events_so_far] == ["booking.confirmed"]
    assert_problem(await open_stream(http, w.driver.headers, last_event_id="x" * 65), 422, "validation_error")


@pytest.mark.slow
@pytest.mark.real_clock
async def test_the_sixth_stream_of_an_account_is_refused(http: httpx.AsyncClient) -> None:
    alice = await make_account(http, "alice")
    bob = await make_account(http, "bob")
    async with contextlib.AsyncExitStack() as stack:
        streams = [await stack.enter_async_context(event_stream(http, alice.headers)) for _ in range(5)]
        refused = await open_stream(http, alice.headers)
        assert_problem(refused, 429, "rate_limited")
        assert refused.headers["retry-after"] == "30"
        # Per account: Bob still gets his.
        await stack.enter_async_context(event_stream(http, bob.headers))
        # A closed stream gives its place back as soon as the server notices the disconnect.
        await streams[0].close()
        deadline = time.monotonic() + 5
        while (again := await open_stream(http, alice.headers)).status_code == 429:
            assert time.monotonic() < deadline, "the closed stream still counts"
            await asyncio.sleep(0.1)
        assert again.status_code == 200
        stack.push_async_callback(EventStream(again).close)


@pytest.mark.slow
@pytest.mark.real_clock
async def test_streams_opened_at_once_are_counted_as_they_open(http: httpx.AsyncClient) -> None:
    alice = await make_account(http, "alice")
    # With a Last-Event-ID each request reads the outbox before it subscribes: eight of them at once
    # must still not get past the limit together.
    opened = await asyncio.gather(
        *(open_stream(http, alice.headers, last_event_id=str(uuid.uuid4())) for _ in range(8))
    )
    try:
        assert sorted(r.status_code for r in opened) == [200] * 5 + [429] * 3
    finally:
        for response in opened:
            await response.aclose()


@pytest.mark.slow
@pytest.mark.real_clock
async def test_a_keepalive_comment_comes_while_nothing_happens(
    http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(stream_module, "KEEPALIVE_SECONDS", 0.3)
    alice = await make_account(http, "alice")
    async with event_stream(http, alice.headers) as stream:
        first = await stream.next(within=3)
        second = await stream.next(within=3)
    assert (first.comment or "").startswith("ping")
    assert second.comment is not None
    assert 0.15 < second.received_at - first.received_at < 2


@pytest.mark.slow
@pytest.mark.real_clock
async def test_the_stream_ends_when_the_access_token_does(
    http: httpx.AsyncClient, settings: Settings, now: datetime
) -> None:
    w = await world(http, now)
    # A token of the driver's sign-in that lives five seconds (whole seconds: four to five are
    # left), long enough to open the stream and book on a loaded machine.
    sid = jwt.get_unverified_claims(w.driver.tokens["access_token"])["sid"]
    short = TokenCodec(settings.model_copy(update={"access_token_ttl_seconds": 5}))
    token = short.issue(uuid.UUID(w.driver.id), uuid.UUID(sid), utcnow())
    expires = jwt.get_unverified_claims(token)["exp"]
    async with event_stream(http, {"Authorization": f"Bearer {token}"}) as stream:
        booking = await w.book(0, 1)
        held = await stream.next_event()
        assert held.event == "booking.held"
        await asyncio.wait_for(stream.ended.wait(), 7)
        ended = time.time()
    assert expires - 0.5 <= ended < expires + 1.5
    # The client reconnects with a fresh token and the last id, and misses nothing.
    await w.act(booking, "confirm")
    async with event_stream(http, w.driver.headers, last_event_id=held.id) as again:
        [confirmed] = await again.events(1)
    assert confirmed.event == "booking.confirmed"


@pytest.mark.slow
@pytest.mark.real_clock
async def test_the_hub_listens_again_after_its_connection_is_killed(
    http: httpx.AsyncClient, committed_db: Database, now: datetime
) -> None:
    w = await world(http, now)

    async def listeners() -> list[int]:
        async with committed_db.engine.connect() as conn:
            rows = await conn.execute(
                text(
                    "select pid from pg_stat_activity"
                    " where application_name = 'parkshare-events' and datname = current_database()"
                )
            )
            return list(rows.scalars())

    async with event_stream(http, w.driver.headers) as stream:
        booking = await w.book(0, 1)
        assert (await stream.next_event()).event == "booking.held"
        [before] = await listeners()
        async with committed_db.engine.connect() as conn:
            killed = await conn.scalar(text("select pg_terminate_backend(:pid)"), {"pid": before})
        assert killed is True
        # Committed while the hub has no connection: the outbox keeps it for the hub's next read.
        await w.act(booking, "confirm")
        assert (await stream.next_event()).event == "booking.confirmed"
        deadline = time.monotonic() + 5
        while (after := await listeners()) in ([], [before]):
            assert time.monotonic() < deadline, "the hub did not connect again"
            await asyncio.sleep(0.1)
        assert len(after) == 1
        await w.act(booking, "cancel")
        assert (await stream.next_event()).event == "booking.cancelled"
        assert await stream.quiet_for(1.2) == []


# Across processes: two servers, one database.


@pytest.fixture
def two_servers(settings: Settings, committed_db: Database) -> Iterator[tuple[str, str]]:
    with served(settings.database_url, workers=1) as one, served(settings.database_url, workers=1) as two:
        yield one.url, two.url


@pytest.mark.slow
@pytest.mark.real_clock
async def test_a_stream_sees_an_event_committed_by_another_process_within_a_second(
    two_servers: tuple[str, str], now: datetime
) -> None:
    watching, writing = two_servers
    async with client_for(watching) as reader, client_for(writing) as writer:
        w = await world(writer, now)
        # The owner signs in on the other server; accounts are in the shared database.
        login = await reader.post("/v1/auth/login", json={"email": w.owner.email, "password": PASSWORD})
        assert login.status_code == 200, login.text
        owner_headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
        latencies = []
        async with event_stream(reader, owner_headers) as stream:
            for h in range(5):
                sent = time.monotonic()
                booking = await w.book(2 * h, 2 * h + 1)
                message = await stream.next_event()
                latencies.append(message.received_at - sent)
                assert booking_of(message)["id"] == booking["id"]
    print(f"cross-process latency: {[round(s * 1000) for s in latencies]} ms")
    assert max(latencies) < 1.0, latencies
    # The hubs also read once a second without a notification; a median well below that shows the
    # NOTIFY path carried them.
    assert statistics.median(latencies) < 0.5, latencies


# In process, the app called as ASGI: the moments between the answer's start and its first byte,
# which a real server passes too quickly to hit on purpose.


def _stream_scope(account: Account) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/v1/me/events",
        "raw_path": b"/v1/me/events",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test"), (b"authorization", account.headers["Authorization"].encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("test", 80),
        "state": {},
    }


def _hub_at(app: FastAPI, settings: Settings, position: Position) -> Hub:
    """A hub that has read up to `position` and reads no further by itself (no connection)."""
    hub = Hub(settings.plain_database_url)
    hub.position = position
    app.state.hub = hub
    return hub


def _held_event_of(account: Account, after: Position) -> EventRow:
    return EventRow(
        seq=after[1] + 1,
        id=uuid.uuid4(),
        txid=after[0],
        type="booking.held",
        created_at=utcnow(),
        booking_id=None,
        driver_id=uuid.UUID(account.id),
        owner_id=None,
        webhook_id=None,
        data='{"booking":null}',
        owner_data=None,
    )


async def test_an_event_read_while_the_stream_starts_is_sent(
    app: FastAPI, settings: Settings, alice: Account
) -> None:
    hub = _hub_at(app, settings, (1, 0))
    event = _held_event_of(alice, (1, 0))
    body = b""
    sent = asyncio.Event()
    received = 0

    async def receive() -> dict[str, Any]:
        nonlocal received
        received += 1
        if received == 1:
            return {"type": "http.request", "body": b"", "more_body": False}
        await sent.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        nonlocal body
        if message["type"] == "http.response.start":
            assert message["status"] == 200
            assert hub.streams == 1
            # The hub reads an event of Alice's after she subscribed, before her stream's first
            # byte: it is queued for her, and must not count as already sent.
            hub.position = event.position
            hub._fan_out([event])
            await asyncio.sleep(0)
        elif message["type"] == "http.response.body":
            body += message.get("body", b"")
            if str(event.id).encode() in body:
                sent.set()

    call = asyncio.create_task(app(_stream_scope(alice), receive, send))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(sent.wait(), 3)
    sent.set()
    await asyncio.wait_for(call, 5)
    assert f"id: {event.id}".encode() in body
    assert hub.streams == 0


async def test_a_client_gone_before_the_first_byte_frees_its_place(
    app: FastAPI, settings: Settings, alice: Account
) -> None:
    hub = _hub_at(app, settings, (1, 0))
    requests = 0

    async def receive() -> dict[str, Any]:
        nonlocal requests
        requests += 1
        if requests == 1:
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            await asyncio.sleep(0.05)  # a slow socket: the disconnect is noticed meanwhile

    for _ in range(STREAMS_PER_USER + 1):
        await asyncio.wait_for(app(_stream_scope(alice), receive, send), 5)
        requests = 0
    assert hub.streams == 0


async def test_the_hub_outlives_any_failure_to_reconnect(
    committed_client: httpx.AsyncClient,
    committed_db: Database,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    alice = await make_account(committed_client, "alice")
    hub = Hub(settings.plain_database_url)
    await hub.start()
    try:
        subscription = hub.subscribe(uuid.UUID(alice.id))
        connect = hub._connect
        failures = 0

        async def flaky() -> None:
            # A connection the server drops right after the handshake fails in LISTEN with an
            # error of the client library, neither an OSError nor a PostgresError.
            nonlocal failures
            if failures < 3:
                failures += 1
                raise asyncpg.InterfaceError("cannot call Connection.add_listener(): connection is closed")
            await connect()

        monkeypatch.setattr(hub, "_connect", flaky)
        monkeypatch.setattr(hub_module, "RECONNECT_SECONDS", (0.01, 0.02))
        async with committed_db.engine.connect() as conn:
            killed = await conn.scalar(
                text(
                    "select bool_and(pg_terminate_backend(pid)) from pg_stat_activity"
                    " where application_name = 'parkshare-events' and datname = current_database()"
                )
            )
        assert killed is True
        async with committed_db.sessionmaker() as session, session.begin():
            event = outbox.NewEvent(
                type="booking.held", created_at=utcnow(), data="{}", driver_id=uuid.UUID(alice.id)
            )
            await outbox.add(session, [event])
        row = await asyncio.wait_for(subscription.queue.get(), 5)
        assert (row.id, failures) == (event.id, 3)
    finally:
        await asyncio.wait_for(hub.stop(), 5)


async def test_the_hub_stops_though_a_wake_comes_with_the_stop(settings: Settings) -> None:
    hub = Hub(settings.plain_database_url)
    await hub.start()
    tasks = list(hub._tasks)
    await asyncio.sleep(0.05)  # the reader waits for its next wake
    # A notification at the moment of shutdown: the reader's wait ends and is cancelled at once.
    hub._wake.set()
    await asyncio.wait_for(hub.stop(), 5)
    assert all(task.done() for task in tasks)


async def test_the_hub_reads_once_for_the_commits_of_a_gap(
    committed_client: httpx.AsyncClient, committed_db: Database, settings: Settings
) -> None:
    """Under load one read covers every commit of GAP_SECONDS (each read is three statements on
    every process's connection), and a commit that comes during a gap is still read at its end,
    not at the next poll a second later."""
    alice = await make_account(committed_client, "alice")
    hub = Hub(settings.plain_database_url)
    await hub.start()
    try:
        subscription = hub.subscribe(uuid.UUID(alice.id))
        loop = asyncio.get_running_loop()
        await asyncio.sleep(2 * GAP_SECONDS)
        before = hub.reads
        started = loop.time()
        for _ in range(200):  # a commit every 2 ms or so, as two busy workers make them
            hub.poke()
            await asyncio.sleep(0.002)
        # The commit pokes the hub (after_commit) while it waits out the gap after the last poke's read.
        async with committed_db.sessionmaker() as session, session.begin():
            event = outbox.NewEvent(
                type="booking.held", created_at=utcnow(), data="{}", driver_id=uuid.UUID(alice.id)
            )
            await outbox.add(session, [event])
        committed = loop.time()
        row = await asyncio.wait_for(subscription.queue.get(), 5)
        assert row.id == event.id
        assert loop.time() - committed < POLL_SECONDS / 2
        spent = loop.time() - started
        reads = hub.reads - before
        assert reads <= spent / GAP_SECONDS + 2, (reads, spent)
        assert reads < 100, reads  # not one per commit
    finally:
        await asyncio.wait_for(hub.stop(), 5)


async def test_the_horizon_stops_at_the_oldest_open_writer(engine: AsyncEngine) -> None:
    async with engine.connect() as first, engine.connect() as second, engine.connect() as reader:
        # Two open transactions that have written (hold an xid), the older one first.
        oldest = await first.scalar(text("select pg_current_xact_id()::text::bigint"))
        newer = await second.scalar(text("select pg_current_xact_id()::text::bigint"))
        assert oldest < newer
        for _ in range(5):
            horizon = await reader.scalar(text("select parkshare_event_horizon()"))
            await reader.rollback()
            # At or below the oldest writer (events from it are not final yet), and not far below:
            # the newer writer holds an xid past the snapshot's xmax, which must not wrap around.
            assert oldest - 1000 < horizon <= oldest, (horizon, oldest, newer)
        await first.rollback()
        horizon = await reader.scalar(text("select parkshare_event_horizon()"))
        assert oldest < horizon <= newer
        await second.rollback()
