from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from httpx import AsyncClient
from sqlalchemy import text

from app.db import Database
from app.main import create_app
from app.ratelimit import _window
from app.settings import Settings
from tests.conftest import START, FakeClock, _client, assert_problem, at
from tests.factories import PASSWORD, book, make_account, open_spot

LIMITED = {
    "rate_limit_window_seconds": 900,
    "login_failures_per_email": 3,
    "login_attempts_per_ip": 8,
    "registrations_per_ip": 4,
}


def limited_app(settings: Settings, db: Database) -> FastAPI:
    return create_app(settings.model_copy(update=LIMITED), database=db)


async def counters(db: Database) -> dict[str, int]:
    """The rate-limit counters of this window, by key."""
    async with db.sessionmaker() as session:
        return dict((await session.execute(text("select key, count from rate_limits"))).all())


async def signed_in(db: Database, email: str) -> int:
    async with db.sessionmaker() as session:
        found = await session.scalar(
            text("select count(*) from login_sessions s join users u on u.id = s.user_id where u.email = :e"),
            {"e": email},
        )
    return int(found or 0)


async def test_failed_sign_ins_per_email_are_limited(settings: Settings, db: Database) -> None:
    app = limited_app(settings, db)
    clock = app.state.clock = FakeClock(datetime(2026, 11, 23, 8, 5, tzinfo=UTC))
    async with _client(app) as client:
        registered = await client.post(
            "/v1/auth/register",
            json={"email": "target@example.org", "password": PASSWORD, "display_name": "T"},
        )
        assert registered.status_code == 201, registered.text
        for _ in range(3):
            wrong = await client.post(
                "/v1/auth/login", json={"email": "target@example.org", "password": "guess guess"}
            )
            assert_problem(wrong, 401, "invalid_credentials")
        blocked = await client.post(
            "/v1/auth/login", json={"email": "TARGET@example.org", "password": PASSWORD}
        )
        problem = assert_problem(blocked, 429, "rate_limited")
        # The window started at 08:00; it ends at 08:15, ten minutes from now.
        assert blocked.headers["retry-after"] == "600"
        assert "600 s" in problem["detail"]
        assert problem["detail"] == "too many failed sign-ins; try again in 600 s"
        # Refused before the password was checked: no sign-in, and the refusal is not a failure.
        assert await signed_in(db, "target@example.org") == 0
        assert (await counters(db))["login-email:target@example.org"] == 3
        # Another account is not affected.
        await client.post(
            "/v1/auth/register",
            json={"email": "other@example.org", "password": PASSWORD, "display_name": "O"},
        )
        assert (
            await client.post("/v1/auth/login", json={"email": "other@example.org", "password": PASSWORD})
        ).status_code == 200
        clock.advance(minutes=10)
        assert (
            await client.post("/v1/auth/login", json={"email": "target@example.org", "password": PASSWORD})
        ).status_code == 200
        assert await signed_in(db, "target@example.org") == 1


async def test_successful_sign_ins_do_not_count_against_the_email(settings: Settings, db: Database) -> None:
    app = limited_app(settings, db)
    app.state.clock = FakeClock()
    async with _client(app) as client:
        await client.post(
            "/v1/auth/register",
            json={"email": "often@example.org", "password": PASSWORD, "display_name": "O"},
        )
        for _ in range(5):
            r = await client.post("/v1/auth/login", json={"email": "often@example.org", "password": PASSWORD})
            assert r.status_code == 200
    # The address counts every attempt; the email only failures, and there were none.
    assert await counters(db) == {"register:127.0.0.1": 1, "login-ip:127.0.0.1": 5}
    assert await signed_in(db, "often@example.org") == 5


async def test_attempts_per_address_and_registrations_are_limited(settings: Settings, db: Database) -> None:
    app = limited_app(settings, db)
    app.state.clock = FakeClock()
    async with _client(app) as client:
        for n in range(4):
            r = await client.post(
                "/v1/auth/register",
                json={"email": f"u{n}@example.org", "password": PASSWORD, "display_name": "U"},
            )
            assert r.status_code == 201
        refused = await client.post(
            "/v1/auth/register",
            json={"email": "u9@example.org", "password": PASSWORD, "display_name": "U"},
        )
        assert_problem(refused, 429, "rate_limited")
        # The window is 08:00 to 08:15 and the clock stands at 08:00.
        assert refused.headers["retry-after"] == "900"
        assert refused.json()["detail"] == "too many registrations; try again in 900 s"
        async with db.sessionmaker() as session:
            users = (await session.scalars(text("select email from users order by email"))).all()
        assert users == [f"u{n}@example.org" for n in range(4)]  # u9 was not written
        statuses = [
            (
                await client.post(
                    "/v1/auth/login", json={"email": f"u{n % 4}@example.org", "password": PASSWORD}
                )
            ).status_code
            for n in range(9)
        ]
        assert statuses == [200] * 8 + [429]
        blocked = await client.post("/v1/auth/login", json={"email": "u0@example.org", "password": PASSWORD})
        assert_problem(blocked, 429, "rate_limited")
        assert blocked.headers["retry-after"] == "900"
        assert await counters(db) == {"register:127.0.0.1": 5, "login-ip:127.0.0.1": 10}


def test_windows_are_aligned() -> None:
    start, end = _window(datetime(2026, 11, 23, 8, 14, 59, tzinfo=UTC), timedelta(minutes=15))
    assert (start, end) == (
        datetime(2026, 11, 23, 8, 0, tzinfo=UTC),
        datetime(2026, 11, 23, 8, 15, tzinfo=UTC),
    )


async def test_the_default_settings_allow_an_ordinary_user(client: AsyncClient) -> None:
    assert Settings(_env_file=None).login_failures_per_email == 10  # type: ignore[call-arg]
    r = await client.post("/v1/auth/login", json={"email": "nobody@example.org", "password": "x"})
    assert_problem(r, 401, "invalid_credentials")


async def written(db: Database) -> tuple[int, int]:
    """How many bookings and events there are."""
    async with db.sessionmaker() as session:
        bookings = await session.scalar(text("select count(*) from bookings"))
        events = await session.scalar(text("select count(*) from events"))
    return int(bookings or 0), int(events or 0)


async def test_booking_writes_are_limited_per_user(settings: Settings, db: Database) -> None:
    app = create_app(
        settings.model_copy(update={"booking_writes_per_user": 4, "booking_write_window_seconds": 60}),
        database=db,
    )
    clock = app.state.clock = FakeClock()
    async with _client(app) as client:
        owner = await make_account(client, "owner")
        driver = await make_account(client, "driver")
        other = await make_account(client, "other")
        spot = await open_spot(client, owner)
        first = await book(client, driver, spot, 2, 4)
        assert first.status_code == 201, first.text
        keyed = {**driver.headers, "Idempotency-Key": "k-1"}
        body = {"spot_id": spot["id"], "start": at(6, START), "end": at(8, START)}
        made = await client.post("/v1/bookings", headers=keyed, json=body)
        assert made.status_code == 201, made.text
        # A client retrying after a lost answer gets it back, and that costs it nothing.
        replayed = await client.post("/v1/bookings", headers=keyed, json=body)
        assert replayed.status_code == 201
        assert replayed.headers["idempotent-replayed"] == "true"
        confirmed = await client.post(f"/v1/bookings/{first.json()['id']}/confirm", headers=driver.headers)
        assert confirmed.status_code == 200, confirmed.text
        # A refusal rolls its request back, yet the attempt counts: the fourth write of four.
        assert_problem(await book(client, driver, spot, 2, 4), 409, "slot_unavailable")
        assert (await counters(db))[f"booking-writes:{driver.id}"] == 4
        before = await written(db)

        refused = await client.post(
            "/v1/bookings",
            headers={**driver.headers, "Idempotency-Key": "k-2"},
            json={"spot_id": spot["id"], "start": at(10, START), "end": at(12, START)},
        )
        problem = assert_problem(refused, 429, "rate_limited")
        # The clock stands at 08:00:00 and the window is 08:00 to 08:01.
        assert refused.headers["retry-after"] == "60"
        assert problem["detail"] == "too many booking changes; try again in 60 s"
        cancel = await client.post(f"/v1/bookings/{first.json()['id']}/cancel", headers=driver.headers)
        assert_problem(cancel, 429, "rate_limited")
        assert await written(db) == before
        assert (await client.get(f"/v1/bookings/{first.json()['id']}", headers=driver.headers)).json()[
            "status"
        ] == "confirmed"
        # Replays still answer; other users are not affected.
        again = await client.post("/v1/bookings", headers=keyed, json=body)
        assert again.status_code == 201
        assert again.json() == made.json()
        assert (await book(client, other, spot, 10, 12)).status_code == 201

        clock.advance(seconds=60)
        # The 429 was not stored under its key: the same retry after the window is booked.
        later = await client.post(
            "/v1/bookings",
            headers={**driver.headers, "Idempotency-Key": "k-2"},
            json={"spot_id": spot["id"], "start": at(12, START), "end": at(14, START)},
        )
        assert later.status_code == 201, later.text
        assert (await counters(db))[f"booking-writes:{driver.id}"] == 1
        assert (await counters(db))[f"booking-writes:{other.id}"] == 1


def test_the_default_booking_write_limit() -> None:
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    assert (defaults.booking_writes_per_user, defaults.booking_write_window_seconds) == (30, 60)
