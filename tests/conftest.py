"""Tests run against a real PostgreSQL: one database per test run, one rolled-back transaction
per test. Tests that need real commits (races between transactions) use `committed_db`."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import asyncpg
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.clock import utcnow
from app.db import Database, make_sessionmaker, metadata
from app.main import create_app
from app.migrations import drop_database, ensure_database, upgrade
from app.settings import Environment, Settings

if TYPE_CHECKING:
    from tests.factories import Account

TEST_DB_PREFIX = "parkshare_test_"


def _base_url() -> str:
    """The server to make the test database on: TEST_DATABASE_URL, else the app's DATABASE_URL."""
    return os.environ.get("TEST_DATABASE_URL") or Settings().database_url


async def _drop_stale_test_databases(base_url: str) -> None:
    """Databases of earlier runs that were killed before they could clean up."""
    url = make_url(base_url).set(drivername="postgresql", database="postgres")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False), timeout=10)
    try:
        names = await conn.fetch(
            "select datname from pg_database where datname like $1", TEST_DB_PREFIX + "%"
        )
        for (name,) in names:
            pid = name.removeprefix(TEST_DB_PREFIX).split("_")[0]
            if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                await conn.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
async def database_url() -> AsyncIterator[str]:
    base = _base_url()
    await _drop_stale_test_databases(base)
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    url = (
        make_url(base)
        .set(database=f"{TEST_DB_PREFIX}{os.getpid()}_{worker}")
        .render_as_string(hide_password=False)
    )
    await drop_database(url)
    await ensure_database(url)
    await asyncio.to_thread(upgrade, url)
    yield url
    await drop_database(url)


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        environment=Environment.test,
        database_url=database_url,
        jwt_secret="test-secret-that-is-long-enough-for-hs256-0123456789",
        # A fixed Web Push key, so that no test writes the development key file.
        vapid_private_key="S5w2eWJsmSJ7ZXWV7Vr_9glQNVnt8HcWXcNMQo5J6bE",
        argon2_time_cost=1,
        argon2_memory_kib=1024,
        scheduler_enabled=False,
        log_level="WARNING",
        # The suite signs up hundreds of accounts from one address; tests/test_ratelimit.py sets
        # the real limits.
        login_attempts_per_ip=100_000,
        registrations_per_ip=100_000,
        # Accounts made by tests/factories.py publish spots at once; tests/test_mail.py keeps the
        # real rule.
        require_email_verification=False,
        booking_writes_per_user=100_000,
    )
    # Tokens are judged on the fake clock, which tests move by days and months; a year's token
    # outlives those moves (past the setting's production bound, hence no validation).
    return settings.model_copy(update={"access_token_ttl_seconds": 400 * 86400})


@pytest.fixture(scope="session")
async def engine(settings: Settings) -> AsyncIterator[AsyncEngine]:
    engine = create_async_engine(settings.async_database_url, pool_size=5, max_overflow=5)
    yield engine
    await engine.dispose()


@pytest.fixture
async def db(engine: AsyncEngine) -> AsyncIterator[Database]:
    """Everything the test writes, through the app or directly, is rolled back afterwards.

    Request transactions become savepoints inside the test's transaction, so commit and rollback
    in the app behave as usual within the test."""
    async with engine.connect() as conn:
        outer = await conn.begin()
        yield Database(
            engine=engine,
            sessionmaker=make_sessionmaker(conn, join_transaction_mode="create_savepoint"),
        )
        await outer.rollback()


@pytest.fixture
async def committed_db(engine: AsyncEngine) -> AsyncIterator[Database]:
    """Real commits on a pool of connections, for tests that race transactions; emptied afterwards."""
    yield Database(engine=engine, sessionmaker=make_sessionmaker(engine))
    tables = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables if t.name != "spatial_ref_sys")
    async with engine.begin() as conn:
        await conn.execute(text(f"truncate {tables} cascade"))


def _client(app: FastAPI) -> AsyncClient:
    return AsyncClient(transport=ASGITransport(app=app), base_url="http://test")


@pytest.fixture
async def app(settings: Settings, db: Database, request: pytest.FixtureRequest) -> FastAPI:
    return with_clock(create_app(settings, database=db), request)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with _client(app) as client:
        yield client


@pytest.fixture
async def committed_client(
    settings: Settings, committed_db: Database, request: pytest.FixtureRequest
) -> AsyncIterator[AsyncClient]:
    async with _client(with_clock(create_app(settings, database=committed_db), request)) as client:
        yield client


@pytest.fixture
async def alice(client: AsyncClient) -> Account:
    # Imported here: tests/factories.py counts its times from START and `at` below.
    from tests.factories import make_account

    return await make_account(client, "alice")


@pytest.fixture
async def bob(client: AsyncClient) -> Account:
    from tests.factories import make_account

    return await make_account(client, "bob")


def http_scope(method: str, path: str, headers: list[tuple[bytes, bytes]]) -> dict[str, Any]:
    """The ASGI scope of a request from loopback, for tests that drive the app message by message."""
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"test"), *headers],
        "client": ("127.0.0.1", 1234),
        "server": ("test", 80),
        "state": {},
    }


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    body: dict[str, Any] = response.json()
    assert body["code"] == code, body
    assert body["status"] == status
    assert {"type", "title", "detail"} <= body.keys()
    return body


# Where the fake clock starts: a Monday, 09:00 in Berlin. API tests run on the fake clock, so what
# they book is always ahead of the app's "now", whatever day the suite runs on.
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def at(hours: float, base: datetime) -> str:
    """`base` plus `hours`, written as the API writes times."""
    return (base + timedelta(hours=hours)).isoformat().replace("+00:00", "Z")


class FakeClock:
    """The app's clock in API tests: it stands still until a test moves it."""

    def __init__(self, start: datetime = START) -> None:
        self.start = start
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **kwargs: float) -> None:
        self.now += timedelta(**kwargs)

    def set(self, when: datetime) -> None:
        """Starts again at `when`; `at()` counts from there."""
        self.start = self.now = when

    def at(self, hours: float) -> str:
        """The clock's start plus `hours`, as the API writes times."""
        return at(hours, self.start)


def real_clock(request: pytest.FixtureRequest) -> bool:
    """A test marked `real_clock` talks to something that reads the system clock itself (a
    subprocess, the scheduler's jobs), so its app must read it too."""
    return request.node.get_closest_marker("real_clock") is not None


def with_clock(app: FastAPI, request: pytest.FixtureRequest) -> FastAPI:
    if not real_clock(request):
        app.state.clock = FakeClock()
    return app


@pytest.fixture
def clock(app: FastAPI) -> FakeClock:
    fake = app.state.clock
    assert isinstance(fake, FakeClock), "a test marked real_clock has no fake clock"
    return fake


@pytest.fixture
def now(request: pytest.FixtureRequest) -> datetime:
    """The instant a test's times count from: the fake clock's start, or the real time for a test
    marked `real_clock`."""
    return utcnow() if real_clock(request) else START
