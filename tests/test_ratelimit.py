from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import FastAPI
from httpx import AsyncClient

from app.db import Database
from app.main import create_app
from app.ratelimit import _window
from app.settings import Settings
from tests.conftest import Clock, _client, assert_problem
from tests.factories import PASSWORD

LIMITED = {
    "rate_limit_window_seconds": 900,
    "login_failures_per_email": 3,
    "login_attempts_per_ip": 8,
    "registrations_per_ip": 4,
}


def limited_app(settings: Settings, db: Database) -> FastAPI:
    return create_app(settings.model_copy(update=LIMITED), database=db)


async def test_failed_sign_ins_per_email_are_limited(settings: Settings, db: Database) -> None:
    app = limited_app(settings, db)
    clock = app.state.clock = Clock(datetime(2026, 11, 23, 8, 5, tzinfo=UTC))
    async with _client(app) as client:
        await client.post(
            "/v1/auth/register",
            json={"email": "target@example.org", "password": PASSWORD, "display_name": "T"},
        )
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


async def test_successful_sign_ins_do_not_count_against_the_email(settings: Settings, db: Database) -> None:
    app = limited_app(settings, db)
    app.state.clock = Clock()
    async with _client(app) as client:
        await client.post(
            "/v1/auth/register",
            json={"email": "often@example.org", "password": PASSWORD, "display_name": "O"},
        )
        for _ in range(5):
            r = await client.post("/v1/auth/login", json={"email": "often@example.org", "password": PASSWORD})
            assert r.status_code == 200


async def test_attempts_per_address_and_registrations_are_limited(settings: Settings, db: Database) -> None:
    app = limited_app(settings, db)
    app.state.clock = Clock()
    async with _client(app) as client:
        for n in range(4):
            r = await client.post(
                "/v1/auth/register",
                json={"email": f"u{n}@example.org", "password": PASSWORD, "display_name": "U"},
            )
            assert r.status_code == 201
        assert_problem(
            await client.post(
                "/v1/auth/register",
                json={"email": "u9@example.org", "password": PASSWORD, "display_name": "U"},
            ),
            429,
            "rate_limited",
        )
        statuses = [
            (
                await client.post(
                    "/v1/auth/login", json={"email": f"u{n % 4}@example.org", "password": PASSWORD}
                )
            ).status_code
            for n in range(9)
        ]
        assert statuses == [200] * 8 + [429]


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
