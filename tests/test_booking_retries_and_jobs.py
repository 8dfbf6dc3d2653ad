"""Idempotent retries, the sweeper, and real races between transactions (committed, not rolled back)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from httpx import AsyncClient
from sqlalchemy import func, select, text

from app.bookings.models import Booking, BookingEvent
from app.bookings.tasks import purge_idempotency_keys, sweep_bookings
from app.db import Database
from app.settings import Settings
from tests.conftest import START, FakeClock, assert_problem, at
from tests.factories import Account, book, make_account, open_spot, scene


async def test_a_retry_with_the_same_key_returns_the_first_answer(
    client: AsyncClient, app: object, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    body = {"spot_id": spot["id"], "start": at(2, START), "end": at(4, START)}
    headers = {**bob.headers, "Idempotency-Key": "booking-1"}
    first = await client.post("/v1/bookings", headers=headers, json=body)
    again = await client.post("/v1/bookings", headers=headers, json=dict(reversed(body.items())))
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len((await client.get("/v1/me/bookings", headers=bob.headers)).json()["items"]) == 1

    other = await client.post("/v1/bookings", headers=headers, json={**body, "end": at(5, START)})
    assert_problem(other, 422, "idempotency_key_reused")
    # Keys belong to their user: the same key from someone else is a new request.
    carol = await make_account(client, "carol")
    assert_problem(
        await client.post(
            "/v1/bookings", headers={**carol.headers, "Idempotency-Key": "booking-1"}, json=body
        ),
        409,
        "slot_unavailable",
    )


async def test_a_refusal_is_replayed_too(
    client: AsyncClient, app: object, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    carol = await make_account(client, "carol")
    await book(client, carol, spot, 2, 4)
    headers = {**bob.headers, "Idempotency-Key": "try-1"}
    body = {"spot_id": spot["id"], "start": at(2, START), "end": at(4, START)}
    first = assert_problem(
        await client.post("/v1/bookings", headers=headers, json=body), 409, "slot_unavailable"
    )
    replay = await client.post("/v1/bookings", headers=headers, json=body)
    assert replay.status_code == 409
    assert replay.json() == first


async def test_status_changes_are_idempotent(
    client: AsyncClient, app: object, alice: Account, bob: Account
) -> None:
    spot = await open_spot(client, alice)
    held = (await book(client, bob, spot, 2, 4)).json()
    headers = {**bob.headers, "Idempotency-Key": "confirm-1"}
    first = await client.post(f"/v1/bookings/{held['id']}/confirm", headers=headers)
    again = await client.post(f"/v1/bookings/{held['id']}/confirm", headers=headers)
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json() == first.json()
    assert [e["status"] for e in again.json()["events"]] == ["held", "confirmed"]
    cancel = {**bob.headers, "Idempotency-Key": "cancel-1"}
    r1 = await client.post(f"/v1/bookings/{held['id']}/cancel", headers=cancel, json={"reason": "ill"})
    r2 = await client.post(f"/v1/bookings/{held['id']}/cancel", headers=cancel, json={"reason": "ill"})
    assert r1.json() == r2.json()
    assert r1.json()["refund_cents"] == 500
    assert_problem(
        await client.post(
            "/v1/bookings",
            headers={**bob.headers, "Idempotency-Key": "x" * 256},
            json={"spot_id": spot["id"], "start": at(6, START), "end": at(8, START)},
        ),
        422,
        "validation_error",
    )


async def test_a_retry_during_the_first_request_is_409(
    committed_client: AsyncClient, committed_db: Database, now: datetime
) -> None:
    world = await scene(committed_client, now)
    driver = world.driver
    body = {"spot_id": world.spot["id"], "start": at(0, world.base), "end": at(2, world.base)}
    # Another process is working on this key right now: it holds the key's advisory lock.
    async with committed_db.engine.connect() as other:
        await other.begin()
        await other.execute(
            text("select pg_advisory_xact_lock(hashtextextended(:k, 0))"),
            {"k": f"idempotency:{driver.id}:slow-1"},
        )
        r = await committed_client.post(
            "/v1/bookings", headers={**driver.headers, "Idempotency-Key": "slow-1"}, json=body
        )
        assert_problem(r, 409, "idempotency_in_progress")
        await other.rollback()
    r = await committed_client.post(
        "/v1/bookings", headers={**driver.headers, "Idempotency-Key": "slow-1"}, json=body
    )
    assert r.status_code == 201, r.text


async def test_two_transactions_racing_for_one_slot_one_loses(
    committed_client: AsyncClient, committed_db: Database, now: datetime
) -> None:
    owner = await make_account(committed_client, "owner")
    drivers = [await make_account(committed_client, f"driver{n}") for n in range(6)]
    spot = await open_spot(committed_client, owner, buffer_min=15)
    start = now + timedelta(hours=3)
    # Same slot, partly overlapping slots, and a neighbour inside the buffer: one may win.
    wanted = [(0, 2), (0, 2), (1, 3), (-1, 1), (2, 3), (-1, 0)]
    results = await asyncio.gather(
        *(
            committed_client.post(
                "/v1/bookings",
                headers=d.headers,
                json={"spot_id": spot["id"], "start": at(a, start), "end": at(b, start)},
            )
            for d, (a, b) in zip(drivers, wanted, strict=True)
        )
    )
    statuses = sorted(r.status_code for r in results)
    assert statuses.count(201) >= 1
    assert set(statuses) <= {201, 409}
    async with committed_db.sessionmaker() as session:
        overlapping = await session.scalar(
            text(
                "select count(*) from bookings a join bookings b on a.spot_id = b.spot_id and a.id < b.id"
                " where a.status in ('held','requested','confirmed') and b.status in ('held','requested','confirmed')"
                " and tstzrange(a.start_at - interval '15 minutes', a.end_at + interval '15 minutes') && tstzrange(b.start_at, b.end_at)"
            )
        )
    assert overlapping == 0
    # Whichever won, the winners are pairwise apart by the buffer; at most two of these fit
    # ([-1,0) and [2,3) or [0,2) alone and so on), never three.
    assert statuses.count(201) <= 2


@pytest.mark.real_clock
async def test_the_sweeper_expires_and_completes_once(
    committed_client: AsyncClient, committed_db: Database, now: datetime
) -> None:
    world = await scene(committed_client, now)
    held = await world.book(0, 1)
    other = await world.book(2, 3)
    await committed_client.post(f"/v1/bookings/{other['id']}/confirm", headers=world.driver.headers)
    async with committed_db.sessionmaker() as session, session.begin():
        # Time passes: the hold's deadline and the confirmed booking's end lie in the past.
        await session.execute(
            text("update bookings set hold_expires_at = now() - interval '1 second' where id = :id"),
            {"id": held["id"]},
        )
        await session.execute(
            text(
                "update bookings set start_at = now() - interval '2 hours', end_at = now() - interval '1 hour' where id = :id"
            ),
            {"id": other["id"]},
        )
    first, second = await asyncio.gather(sweep_bookings(committed_db), sweep_bookings(committed_db))
    assert (first[0] + second[0], first[1] + second[1]) == (1, 1)
    assert await sweep_bookings(committed_db) == (0, 0)
    async with committed_db.sessionmaker() as session:
        statuses = dict((await session.execute(select(Booking.id, Booking.status))).all())
        events = (
            await session.execute(
                select(BookingEvent.kind, BookingEvent.actor).where(BookingEvent.actor == "system")
            )
        ).all()
    assert {str(k): v for k, v in statuses.items()} == {held["id"]: "expired", other["id"]: "completed"}
    assert sorted(events) == [("booking.completed", "system"), ("booking.expired", "system")]


@pytest.mark.real_clock
async def test_expired_idempotency_keys_are_purged(
    committed_client: AsyncClient, committed_db: Database, now: datetime
) -> None:
    world = await scene(committed_client, now)
    await world.book(0, 1, **{"Idempotency-Key": "old"})
    async with committed_db.sessionmaker() as session, session.begin():
        count = await session.scalar(select(func.count()).select_from(text("idempotency_keys")))
        assert count == 1
        await session.execute(
            text("update idempotency_keys set expires_at = :t"), {"t": datetime(2020, 1, 1, tzinfo=UTC)}
        )
    assert await purge_idempotency_keys(committed_db) == 1
    assert await purge_idempotency_keys(committed_db) == 0


async def test_a_key_past_its_ttl_is_a_new_request(
    client: AsyncClient, clock: FakeClock, settings: Settings, alice: Account, bob: Account
) -> None:
    """An expired key's stored answer is replaced, not replayed: the upsert's conflict branch."""
    spot = await open_spot(client, alice)
    headers = {**bob.headers, "Idempotency-Key": "reused-later"}
    first = await client.post(
        "/v1/bookings",
        headers=headers,
        json={"spot_id": spot["id"], "start": at(60, START), "end": at(62, START)},
    )
    assert first.status_code == 201, first.text
    clock.advance(seconds=settings.idempotency_ttl_seconds)
    body = {"spot_id": spot["id"], "start": at(80, START), "end": at(82, START)}
    second = await client.post("/v1/bookings", headers=headers, json=body)
    assert second.status_code == 201, second.text
    assert second.json()["id"] != first.json()["id"]
    assert "idempotent-replayed" not in second.headers
    # The key now answers for the second request.
    again = await client.post("/v1/bookings", headers=headers, json=body)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == second.json()["id"]
