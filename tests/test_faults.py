"""Faults: a database that is starting up, a connection killed mid-request or mid-commit, a
scheduler job that meets an outage, SIGTERM while a request is in flight, and the fault benchmark
in short (bench/faults.py: serving processes killed, PostgreSQL restarted, the worker killed)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import struct
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from httpx import ASGITransport, AsyncClient
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from app.db import Database
from app.errors import database_unavailable
from app.jobs import Job
from app.main import create_app
from app.replica import _standby_trouble
from app.scheduler import surviving_outages
from app.settings import Settings
from bench import faults
from bench.common import PARKSHARE, _free_port, asyncpg_dsn, server_env
from bench.pgcluster import TEST_CLUSTER, ensure_cluster
from tests.conftest import assert_problem, with_clock
from tests.factories import book, make_account, open_spot

STARTING_UP = "the database system is starting up"


def _error_response(code: str, message: str) -> bytes:
    fields = b"".join(
        tag + value.encode() + b"\0"
        for tag, value in ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", code), (b"M", message))
    )
    body = fields + b"\0"
    return b"E" + struct.pack("!i", len(body) + 4) + body


@contextlib.asynccontextmanager
async def starting_up_server() -> AsyncIterator[int]:
    """A server on loopback that answers every connection as PostgreSQL does while it starts
    (after a restart or a crash): FATAL 57P03 at the startup message. Yields its port."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                (length,) = struct.unpack("!i", await reader.readexactly(4))
                payload = await reader.readexactly(length - 4)
                if payload[:4] == struct.pack("!i", 80877103):  # SSLRequest: no TLS here
                    writer.write(b"N")
                    await writer.drain()
                    continue
                writer.write(_error_response("57P03", STARTING_UP))
                await writer.drain()
                break
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        await server.wait_closed()


async def test_a_database_that_is_starting_up_is_answered_503_not_500(settings: Settings) -> None:
    # SQLAlchemy wraps asyncpg's CannotConnectNowError in a bare DBAPIError, once answered 500.
    async with starting_up_server() as port:
        url = f"postgresql://parkshare:parkshare@127.0.0.1:{port}/parkshare"
        database = Database.from_settings(settings.model_copy(update={"database_url": url}))
        try:
            app = create_app(settings, database=database)
            async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as c:
                login = await c.post("/v1/auth/login", json={"email": "a@example.org", "password": "x" * 12})
                ready = await c.get("/readyz")
        finally:
            await database.dispose()
    for r in (login, ready):
        assert_problem(r, 503, "unavailable")
        assert r.headers["retry-after"] == "5"


async def _scene(c: AsyncClient) -> tuple[Any, dict[str, Any]]:
    owner = await make_account(c, "owner")
    driver = await make_account(c, "driver")
    return driver, await open_spot(c, owner)


async def _backend_waiting_on_a_lock(conn: asyncpg.Connection, within: float = 10.0) -> int:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        pid = await conn.fetchval(
            "select pid from pg_stat_activity where datname = current_database() and wait_event_type = 'Lock'"
            " and pid <> pg_backend_pid() limit 1"
        )
        if pid is not None:
            return int(pid)
        await asyncio.sleep(0.02)
    raise AssertionError("the booking never waited for the spot's lock")


async def test_a_connection_terminated_mid_request_is_answered_503_and_writes_nothing(
    settings: Settings, committed_client: AsyncClient, committed_db: Database
) -> None:
    driver, spot = await _scene(committed_client)
    holder = await asyncpg.connect(asyncpg_dsn(settings.database_url))
    try:
        async with holder.transaction():
            await holder.execute("select 1 from spots where id = $1 for update", spot["id"])
            request = asyncio.create_task(book(committed_client, driver, spot, 2, 3))
            pid = await _backend_waiting_on_a_lock(holder)
            # What a fast shutdown or a failover does to the connection under a request.
            assert await holder.fetchval("select pg_terminate_backend($1)", pid)
            r = await asyncio.wait_for(request, 30)
    finally:
        await holder.close()
    assert_problem(r, 503, "unavailable")
    assert r.headers["retry-after"] == "5"
    async with committed_db.sessionmaker() as session:
        assert await session.scalar(text("select count(*) from bookings")) == 0
    # The pool gives the next request a working connection.
    assert (await book(committed_client, driver, spot, 2, 3)).status_code == 201


async def test_a_commit_that_fails_is_answered_503_never_2xx(
    settings: Settings, committed_db: Database, request: pytest.FixtureRequest
) -> None:
    # The request's transaction commits in its session dependency, which FastAPI runs before it
    # sends the answer: a commit that fails must leave no 201 behind it.
    database = Database.from_settings(settings)
    app = with_clock(create_app(settings, database=database), request)

    def lose_the_connection_at_commit(conn: Connection) -> None:
        conn.exec_driver_sql("select pg_terminate_backend(pg_backend_pid())")

    try:
        async with AsyncClient(transport=ASGITransport(app=app), base_url="http://t") as c:
            driver, spot = await _scene(c)
            event.listen(database.engine.sync_engine, "commit", lose_the_connection_at_commit)
            try:
                r = await book(c, driver, spot, 2, 3)
            finally:
                event.remove(database.engine.sync_engine, "commit", lose_the_connection_at_commit)
            assert_problem(r, 503, "unavailable")
            async with committed_db.sessionmaker() as session:
                assert await session.scalar(text("select count(*) from bookings")) == 0
                assert await session.scalar(text("select count(*) from events")) == 0
            assert (await book(c, driver, spot, 2, 3)).status_code == 201
    finally:
        await database.dispose()


async def _cannot_connect_now() -> BaseException:
    """The error asyncpg really raises against a server that is starting up."""
    async with starting_up_server() as port:
        try:
            await asyncpg.connect(f"postgresql://u@127.0.0.1:{port}/d", ssl=False)
        except Exception as exc:
            return exc
    raise AssertionError("the connection was accepted")


async def test_every_error_of_a_database_restart_counts_as_unavailable() -> None:
    starting = await _cannot_connect_now()
    assert isinstance(starting, asyncpg.exceptions.CannotConnectNowError)
    for exc in (
        starting,
        asyncpg.exceptions.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.exceptions.InternalClientError(
            "cannot switch to state 15; another operation (2) is in progress"
        ),
        ConnectionResetError(104, "Connection reset by peer"),
        ConnectionRefusedError(111, "Connection refused"),
    ):
        assert database_unavailable(exc), exc
    assert not database_unavailable(asyncpg.exceptions.UniqueViolationError("duplicate key"))
    assert not database_unavailable(ValueError("a bug"))


def test_a_client_side_bug_of_ours_is_no_outage() -> None:
    """asyncpg raises these on our side of the connection: retrying fails the same way, so they
    stay 500s with a traceback rather than hide as 503s (and never mark the standby down)."""
    for exc in (
        asyncpg.exceptions.DataError("invalid input for query argument $1: 'x' (an int is required)"),
        asyncpg.exceptions.OutdatedSchemaCacheError("cache lookup failed for type 12345"),
        asyncpg.exceptions.ClientConfigurationError("bad sslmode"),
    ):
        assert not database_unavailable(exc), exc
        wrapped = DBAPIError("select 1", None, exc)
        wrapped.__cause__ = exc
        assert not database_unavailable(wrapped), exc
        assert _standby_trouble(exc) is None


async def test_a_job_that_meets_an_outage_runs_again_soon(caplog: pytest.LogCaptureFixture) -> None:
    outage = await _cannot_connect_now()
    calls = 0

    async def sweep(_: Database) -> str:
        nonlocal calls
        calls += 1
        if calls <= 2:
            raise outage
        return "done"

    run = surviving_outages(Job(sweep, every=timedelta(hours=1)), delays=(0.01, 0.01, 0.01))
    assert await run(None) == "done"  # type: ignore[arg-type]
    assert calls == 3
    assert "the database is unavailable" in caplog.text


async def test_a_job_that_fails_otherwise_is_not_run_again() -> None:
    calls = 0

    async def broken(_: Database) -> None:
        nonlocal calls
        calls += 1
        raise ValueError("a bug")

    with pytest.raises(ValueError, match="a bug"):
        await surviving_outages(Job(broken, every=timedelta(hours=1)), delays=(0.01,))(None)  # type: ignore[arg-type]
    assert calls == 1


async def test_a_job_retries_only_within_its_interval() -> None:
    calls = 0
    outage = ConnectionRefusedError(111, "Connection refused")

    async def often(_: Database) -> None:
        nonlocal calls
        calls += 1
        raise outage

    # A job every 30 s waits at most 1 s, 2 s, 5 s and 10 s: the next run comes soon anyway.
    with pytest.raises(ConnectionRefusedError):
        await surviving_outages(Job(often, every=timedelta(milliseconds=25)), delays=(0.01, 0.02, 0.05))(None)  # type: ignore[arg-type]
    assert calls == 3


@pytest.mark.slow
@pytest.mark.real_clock
async def test_sigterm_lets_a_request_in_flight_finish_then_exits_0(
    settings: Settings, committed_db: Database
) -> None:
    port = _free_port()
    server = await asyncio.create_subprocess_exec(
        PARKSHARE,
        "serve",
        "--port",
        str(port),
        "--workers",
        "2",
        "--no-access-log",
        env=server_env(settings.database_url),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=60) as c:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.TransportError):
                    if (await c.get("/readyz")).status_code == 200:
                        break
                assert server.returncode is None, "the server stopped while starting"
                assert time.monotonic() < deadline, "the server did not start"
                await asyncio.sleep(0.2)
            driver, spot = await _scene(c)
            start = (time.time() // 3600 + 3) * 3600
            body = {
                "spot_id": spot["id"],
                "start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
                "end": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + 3600)),
            }
            holder = await asyncpg.connect(asyncpg_dsn(settings.database_url))
            try:
                async with holder.transaction():
                    await holder.execute("select 1 from spots where id = $1 for update", spot["id"])
                    request = asyncio.create_task(
                        c.post(
                            "/v1/bookings", json=body, headers={**driver.headers, "Idempotency-Key": "drain"}
                        )
                    )
                    await _backend_waiting_on_a_lock(holder)
                    server.send_signal(signal.SIGTERM)
                    await asyncio.sleep(1.5)
                    # Draining: the request is still waiting, and the server with it.
                    assert not request.done()
                    assert server.returncode is None
                r = await asyncio.wait_for(request, 30)
            finally:
                await holder.close()
        assert r.status_code == 201, r.text
        assert await asyncio.wait_for(server.wait(), 30) == 0
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
    async with committed_db.sessionmaker() as session:
        assert await session.scalar(text("select count(*) from bookings")) == 1


@pytest.mark.slow
@pytest.mark.real_clock
async def test_faults_under_load_lose_nothing_and_answer_no_500() -> None:
    # A cluster of its own (port 5435): it is stopped and started, which no other test may see.
    cluster = ensure_cluster(*TEST_CLUSTER)
    report = await faults.run(
        cluster,
        duration=float(os.environ.get("FAULTS_TEST_SECONDS", "30")),
        drivers=4,
        kill_every=4.0,
        pg_down=2.0,
        worker_down=2.0,
        settle=60.0,
        database=f"parkshare_test_faults_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}",
    )
    print(report.table())
    assert report.failures() == []
    assert report.lost_acknowledged == 0
    assert report.phantom_writes == 0
    assert report.overlaps == 0
    assert report.lost_hook_events == 0
    assert report.server_errors == 0
    assert report.not_503_while_down == 0
    # The faults happened, and the load met them.
    assert report.faults.kills, "no serving process was killed"
    assert report.faults.pg_up is not None
    assert report.faults.worker_started is not None
    assert report.answers_while_down > 0, "no request was answered while PostgreSQL was down"
    assert report.statuses[201] > 0
    assert report.hook_events > 0
    assert report.faults.ready_after is not None
    assert report.faults.ready_after <= faults.READY_WITHIN
