"""Anonymous reads on a real hot standby (scripts/ensure-replica.sh, port 5433), signed-in reads
on the primary, and the fallback to the primary when the standby lags or is gone.

The suite's test database is made on the primary and reaches the standby by replication. Pausing
replay holds back every database of the standby, so the tests that pause take turns across the
xdist workers (a file lock, which the fixture's run of scripts/ensure-replica.sh takes too, since
that script resumes a paused replay) and always resume replay."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy.engine import make_url

from app.db import Database
from app.main import create_app
from app.replica import READS, Replica
from app.settings import Settings
from tests.conftest import START, FakeClock, at
from tests.factories import make_account, open_spot

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
STANDBY_PORT = 5433
PAUSE_LOCK = "/run/lock/parkshare-replica-tests.lock"
WAIT = 30.0  # the longest a test waits for the standby to catch up: a failing test fails


def dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
async def standby_url(database_url: str) -> str:
    """The test database on the standby, made or repaired by scripts/ensure-replica.sh."""
    primary = make_url(database_url)
    env = {
        **os.environ,
        "DATABASE_URL": primary.set(database="postgres").render_as_string(hide_password=False),
    }
    # Under `make test-future` a standby started from here must still run on the real clock.
    for name in ("LD_PRELOAD", "FAKETIME", "FAKETIME_NO_CACHE"):
        env.pop(name, None)
    # The script resumes a paused replay: not while another worker's test has paused it.
    await asyncio.to_thread(_lock_acquire)
    try:
        result = await asyncio.to_thread(
            subprocess.run,
            [str(ROOT / "scripts/ensure-replica.sh")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        _lock_release()
    assert result.returncode == 0, result.stderr
    url = primary.set(port=STANDBY_PORT).render_as_string(hide_password=False)
    # The database was created on the primary before the script ran; wait for its replay.
    deadline = time.monotonic() + WAIT
    while True:
        try:
            conn = await asyncpg.connect(dsn(url), timeout=5)
        except (OSError, asyncpg.PostgresError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)
        else:
            await conn.close()
            return url


@pytest.fixture
async def standby(standby_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A superuser connection to the standby (the suite's role replicates with its rights)."""
    conn = await asyncpg.connect(dsn(standby_url), timeout=5)
    yield conn
    await conn.close()


@contextlib.asynccontextmanager
async def replay_paused(standby: asyncpg.Connection, primary_url: str) -> AsyncIterator[None]:
    """Replay stopped on the standby once it has everything committed so far; resumed (and caught
    up again) afterwards, whatever happens."""
    await asyncio.to_thread(_lock_acquire)
    try:
        await caught_up(standby, primary_url)
        await standby.execute("select pg_wal_replay_pause()")
        try:
            # The pause is only requested: replay stops at its next record, which a nudge on the
            # primary makes sure comes (the suite's other writes may not).
            primary = await asyncpg.connect(dsn(primary_url), timeout=5)
            try:

                async def paused() -> bool:
                    await primary.execute("select pg_logical_emit_message(false, 'parkshare-test', 'pause')")
                    state = await standby.fetchval("select pg_get_wal_replay_pause_state()")
                    return bool(state == "paused")

                await eventually(paused, "replay paused")
            finally:
                await primary.close()
            yield
        finally:
            await standby.execute("select pg_wal_replay_resume()")
            await caught_up(standby, primary_url)
    finally:
        _lock_release()


_lock_file: Any = None


def _lock_acquire() -> None:
    global _lock_file
    _lock_file = open(PAUSE_LOCK, "w")  # noqa: SIM115 - held until _lock_release
    fcntl.flock(_lock_file, fcntl.LOCK_EX)


def _lock_release() -> None:
    global _lock_file
    fcntl.flock(_lock_file, fcntl.LOCK_UN)
    _lock_file.close()
    _lock_file = None


async def caught_up(standby: asyncpg.Connection, primary_url: str) -> None:
    primary = await asyncpg.connect(dsn(primary_url), timeout=5)
    try:
        target = await primary.fetchval("select pg_current_wal_lsn()")
    finally:
        await primary.close()
    await eventually(
        lambda: standby.fetchval("select pg_last_wal_replay_lsn() >= $1", target), "the standby caught up"
    )


async def eventually(check: Callable[[], Awaitable[Any]], what: str, within: float = WAIT) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, f"not within {within}s: {what}"
        await asyncio.sleep(0.1)


@contextlib.asynccontextmanager
async def serving(
    settings: Settings, db: Database, read_url: str, max_lag: float
) -> AsyncIterator[tuple[FastAPI, AsyncClient]]:
    """The app with its lifespan (the replica's monitor runs in it) on committed transactions."""
    app = create_app(
        settings.model_copy(update={"read_database_url": read_url, "replica_max_lag_seconds": max_lag}),
        database=db,
    )
    app.state.clock = FakeClock()
    async with (
        app.router.lifespan_context(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client,
    ):
        yield app, client


def replica_of(app: FastAPI) -> Replica:
    replica = app.state.replica
    assert isinstance(replica, Replica)
    return replica


def reads(server: str) -> float:
    value = READS.labels(server)._value.get()  # the counter of this process
    assert isinstance(value, float)
    return value


async def search(client: AsyncClient, **headers: str) -> list[str]:
    r = await client.get(
        "/v1/search",
        params={"lat": 51.505, "lon": 7.447, "radius_m": 800, "start": at(2, START), "end": at(5, START)},
        headers=headers,
    )
    assert r.status_code == 200, r.text
    return [item["spot"]["id"] for item in r.json()["items"]]


async def public_reads(client: AsyncClient, spot_id: str, **headers: str) -> tuple[int, int]:
    """The statuses of the spot's view and of its free intervals."""
    view = await client.get(f"/v1/spots/{spot_id}", headers=headers)
    free = await client.get(
        f"/v1/spots/{spot_id}/availability",
        params={"from": at(1, START), "to": at(48, START)},
        headers=headers,
    )
    return view.status_code, free.status_code


async def test_anonymous_reads_come_from_the_standby_and_signed_in_reads_from_the_primary(
    settings: Settings,
    committed_db: Database,
    database_url: str,
    standby_url: str,
    standby: asyncpg.Connection,
) -> None:
    async with serving(settings, committed_db, standby_url, max_lag=600) as (app, client):
        alice = await make_account(client, "alice")
        first = await open_spot(client, alice)
        async with replay_paused(standby, database_url):
            await replica_of(app).poll()
            assert replica_of(app).usable
            second = await open_spot(client, alice)
            before = reads("replica")
            # Anonymous: the standby, which stopped before the second spot.
            assert await search(client) == [first["id"]]
            assert await public_reads(client, first["id"]) == (200, 200)
            assert await public_reads(client, second["id"]) == (404, 404)
            assert reads("replica") == before + 5
            # Signed in: the primary, so the owner sees what she just published.
            assert sorted(await search(client, **alice.headers)) == sorted([first["id"], second["id"]])
            assert await public_reads(client, second["id"], **alice.headers) == (200, 200)
            assert reads("replica") == before + 5
        # Streaming again: the standby has it too.
        assert sorted(await search(client)) == sorted([first["id"], second["id"]])
        assert await public_reads(client, second["id"]) == (200, 200)


async def test_a_failure_of_the_monitor_itself_leaves_reads_to_the_primary_until_it_measures_again(
    settings: Settings,
    committed_db: Database,
    standby_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Not a connection error but a bug of ours (here a RuntimeError): the lag is then unknown, so
    anonymous reads go to the primary, and the monitor's loop goes on to measure again."""
    async with serving(settings, committed_db, standby_url, max_lag=600) as (app, client):
        replica = replica_of(app)
        await replica.poll()
        assert replica.usable
        measure = replica._measure

        async def broken() -> tuple[float | None, str]:
            raise RuntimeError("a bug")

        monkeypatch.setattr(replica, "_measure", broken)
        before = reads("primary")
        await replica.poll()
        assert not replica.usable
        await search(client)
        assert reads("primary") == before + 1
        # The loop survived it: once measuring works again, the standby is used again.
        monkeypatch.setattr(replica, "_measure", measure)
        await eventually(lambda: _usable(replica), "the monitor measured again")
        assert replica._task is not None
        assert not replica._task.done()


async def _usable(replica: Replica) -> bool:
    return replica.usable


async def test_a_standby_further_behind_than_the_limit_leaves_anonymous_reads_to_the_primary(
    settings: Settings,
    committed_db: Database,
    database_url: str,
    standby_url: str,
    standby: asyncpg.Connection,
) -> None:
    max_lag = 1.0
    async with serving(settings, committed_db, standby_url, max_lag=max_lag) as (app, client):
        alice = await make_account(client, "alice")
        replica = replica_of(app)
        async with replay_paused(standby, database_url):
            spot = await open_spot(client, alice)
            # The monitor notices the lag growing although replay stopped silently.
            await eventually(lambda: _lagging(replica, max_lag), "the monitor saw the lag")
            before = reads("primary")
            assert await search(client) == [spot["id"]]
            assert await public_reads(client, spot["id"]) == (200, 200)
            assert reads("primary") == before + 3
        await eventually(lambda: _in_use(replica), "the standby in use again")
        before = reads("replica")
        assert await search(client) == [spot["id"]]
        assert reads("replica") == before + 1


async def _lagging(replica: Replica, max_lag: float) -> bool:
    return replica.lag is not None and replica.lag > max_lag and not replica.usable


async def _in_use(replica: Replica) -> bool:
    return replica.usable


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_reads_answer_from_the_primary_when_the_standby_does_not_answer(
    settings: Settings, committed_db: Database, standby_url: str
) -> None:
    nothing_there = make_url(standby_url).set(port=_free_port()).render_as_string(hide_password=False)
    async with serving(settings, committed_db, nothing_there, max_lag=5) as (app, client):
        assert not replica_of(app).usable
        alice = await make_account(client, "alice")
        spot = await open_spot(client, alice)
        before = reads("primary")
        assert await search(client) == [spot["id"]]
        assert await public_reads(client, spot["id"]) == (200, 200)
        assert reads("primary") == before + 3
        metrics = (await client.get("/metrics")).text
        assert "parkshare_replica_in_use 0.0" in metrics
        assert "parkshare_replica_lag_seconds +Inf" in metrics


class Proxy:
    """A TCP relay to the standby that can be cut, as if the standby died with connections open."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.server: asyncio.Server | None = None
        self.writers: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.writers:
            writer.transport.abort()
        await self.server.wait_closed()


async def test_a_standby_that_goes_away_mid_run_costs_no_failed_read(
    settings: Settings, committed_db: Database, standby_url: str
) -> None:
    proxy = Proxy(STANDBY_PORT)
    await proxy.start()
    via_proxy = make_url(standby_url).set(port=proxy.port).render_as_string(hide_password=False)
    async with serving(settings, committed_db, via_proxy, max_lag=600) as (app, client):
        alice = await make_account(client, "alice")
        spot = await open_spot(client, alice)
        replica = replica_of(app)
        await eventually(lambda: _sees(client, spot["id"]), "the standby has the spot")
        assert replica.usable
        await proxy.cut()
        # The next reads find the pooled connection closed and no new one (or the monitor has
        # looked again in the meantime): either way the primary answers.
        before = reads("primary")
        assert await search(client) == [spot["id"]]
        assert not replica.usable
        assert await public_reads(client, spot["id"]) == (200, 200)
        assert reads("primary") == before + 3


async def _sees(client: AsyncClient, spot_id: str) -> bool:
    before = reads("replica")
    found = spot_id in await search(client)
    return found and reads("replica") == before + 1
