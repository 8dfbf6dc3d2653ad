"""Anonymous reads on a hot standby (READ_DATABASE_URL; docs/replica.md).

`ReadSession` is the session of the routes anyone may read without signing in (search, the public
spot view, free intervals): a session on the standby for a request without an `Authorization`
header while the standby is up and at most REPLICA_MAX_LAG_SECONDS behind, the request's primary
session otherwise. A signed-in user therefore always reads what they have just written.

Each process measures the lag itself (`Replica`, started in the app's lifespan), so that no request
pays for it: every POLL_SECONDS it reads the primary's WAL position, notes when it first saw each
new one, and reads how far the standby has replayed. The lag is the age of the oldest position the
standby has not replayed yet, so an idle primary shows no lag, and a standby whose replay stopped
shows a lag that grows with time, whether or not anything is written meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator
from typing import Annotated, Any

import asyncpg
from fastapi import Depends, Request
from prometheus_client import Counter, Gauge
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database, DbSession
from app.errors import CLIENT_BUGS, ServiceUnavailable
from app.settings import Settings

logger = logging.getLogger(__name__)

POLL_SECONDS = 0.5
# A standby or primary that takes longer than this to connect or to answer the monitor counts as
# down; a request then reads from the primary rather than wait for it.
CONNECT_TIMEOUT_SECONDS = 2.0
# WAL positions remembered while the standby has not replayed them: at POLL_SECONDS, over half an
# hour, far more than REPLICA_MAX_LAG_SECONDS may be. Past that the oldest are forgotten and the
# lag shown is at least that long.
MAX_SAMPLES = 4096

# With several processes, the newest measurement of any of them: every live process measures every
# POLL_SECONDS, while a dead one's last value would otherwise stay in the sum of files forever.
LAG = Gauge(
    "parkshare_replica_lag_seconds",
    "How far the read replica is behind the primary, as last measured (+Inf: unreachable)",
    multiprocess_mode="mostrecent",
)
IN_USE = Gauge(
    "parkshare_replica_in_use",
    "1 while anonymous reads go to the read replica, 0 while they go to the primary",
    multiprocess_mode="mostrecent",
)
READS = Counter(
    "parkshare_anonymous_reads_total",
    "Anonymous reads (search, public spot view, free intervals) by the server that answered them",
    ["server"],
)

_CONNECTION_ERRORS = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, SQLAlchemyError)


class Replica:
    """The standby's engine and this process's view of its lag."""

    def __init__(self, settings: Settings) -> None:
        read_url = settings.read_database_url
        assert read_url, "no READ_DATABASE_URL"
        standby_settings = settings.model_copy(update={"database_url": read_url})
        # A standby that stops answering must not hold an anonymous read for the pool's default
        # 30 s: past this the read goes to the primary.
        self.database = Database.from_settings(standby_settings, pool_timeout=CONNECT_TIMEOUT_SECONDS)
        event.listen(self.database.engine.sync_engine, "do_connect", _connect_timeout)
        self.max_lag = settings.replica_max_lag_seconds
        self._primary_dsn = settings.plain_database_url
        self._standby_dsn = standby_settings.plain_database_url
        # (monotonic time first seen, WAL position) of positions the standby had not replayed.
        self._unreplayed: deque[tuple[float, int]] = deque(maxlen=MAX_SAMPLES)
        self._primary: asyncpg.Connection | None = None
        self._standby: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        # One measurement at a time on the two monitor connections (asyncpg runs one operation per
        # connection): the task's and one asked for from outside (the tests) may meet.
        self._polling = asyncio.Lock()
        # None: not measured, or the last measurement failed.
        self.lag: float | None = None
        self._reported: str | None = None
        LAG.set(float("inf"))
        IN_USE.set(0)

    @property
    def usable(self) -> bool:
        return self.lag is not None and self.lag <= self.max_lag

    async def start(self) -> None:
        await self.poll()
        self._task = asyncio.create_task(self._run(), name="replica-lag-monitor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            # A cancel of `stop()` itself still comes through, unlike one suppressed around it.
            [ended] = await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
            if isinstance(ended, Exception):
                logger.error("the replica's lag monitor had failed: %s", type(ended).__name__)
        self._forget_connections()
        await self.database.dispose()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(POLL_SECONDS)
            await self.poll()

    async def poll(self) -> None:
        """One measurement; any failure means "down" until a later one succeeds."""
        async with self._polling:
            await self._poll()

    async def _poll(self) -> None:
        try:
            # Not `asyncio.wait_for`: on Python 3.11 it loses a cancel (the app's stop) that
            # comes in the step in which the measurement ends, and the loop would run on.
            async with asyncio.timeout(CONNECT_TIMEOUT_SECONDS * 2):
                lag, state = await self._measure()
        except (*_CONNECTION_ERRORS, ConnectionError) as exc:
            self._forget_connections()
            self._set(None, f"unreachable ({type(exc).__name__})")
            return
        except Exception as exc:
            # A failure of ours: the monitor must go on, and until a measurement succeeds the
            # lag is unknown, so reads go to the primary (not by the last lag measured).
            logger.exception("measuring the read replica's lag failed")
            self._forget_connections()
            self._set(None, f"not measured ({type(exc).__name__})")
            return
        self._set(lag, state)

    async def _measure(self) -> tuple[float | None, str]:
        if self._primary is None or self._primary.is_closed():
            self._primary = await _monitor_connection(self._primary_dsn)
        if self._standby is None or self._standby.is_closed():
            self._standby = await _monitor_connection(self._standby_dsn)
        # The primary first: whatever it had written by now, the standby must have replayed.
        seen_at = time.monotonic()
        written = await self._primary.fetchval("select (pg_current_wal_lsn() - '0/0')::bigint")
        if not self._unreplayed or written > self._unreplayed[-1][1]:
            self._unreplayed.append((seen_at, written))
        row = await self._standby.fetchrow(
            "select pg_is_in_recovery() as recovery, (pg_last_wal_replay_lsn() - '0/0')::bigint as replayed"
        )
        assert row is not None
        if not row["recovery"] or row["replayed"] is None:
            # A promoted standby takes writes of its own; it no longer shows the primary's data.
            self._unreplayed.clear()
            return None, "not a standby"
        while self._unreplayed and self._unreplayed[0][1] <= row["replayed"]:
            self._unreplayed.popleft()
        lag = time.monotonic() - self._unreplayed[0][0] if self._unreplayed else 0.0
        return lag, "in use" if lag <= self.max_lag else f"more than {self.max_lag:g}s behind"

    def _forget_connections(self) -> None:
        for conn in (self._primary, self._standby):
            if conn is not None:
                conn.terminate()
        self._primary = self._standby = None

    def _set(self, lag: float | None, state: str) -> None:
        self.lag = lag
        LAG.set(float("inf") if lag is None else lag)
        IN_USE.set(1 if self.usable else 0)
        if state != self._reported:
            # Once per change, not every half second.
            log = logger.info if self.usable else logger.warning
            log(
                "read replica %s: anonymous reads go to the %s",
                state,
                "replica" if self.usable else "primary",
            )
            self._reported = state

    def failed(self, exc: BaseException) -> None:
        """A request could not use the standby: the next ones go to the primary until a
        measurement succeeds again."""
        self._set(None, f"unreachable from a request ({type(exc).__name__})")


def _connect_timeout(_dialect: Any, _conn_rec: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
    # asyncpg waits 60 s by default; a request falls back to the primary instead.
    cparams.setdefault("timeout", CONNECT_TIMEOUT_SECONDS)


async def _monitor_connection(dsn: str) -> asyncpg.Connection:
    return await asyncpg.connect(
        dsn,
        timeout=CONNECT_TIMEOUT_SECONDS,
        server_settings={"application_name": "parkshare-replica-monitor"},
    )


async def _read_session(request: Request, primary: DbSession) -> AsyncIterator[AsyncSession]:
    """The standby's session for an anonymous request while it is usable, else the primary's.

    The primary's session costs nothing when unused: it connects at its first statement."""
    replica: Replica | None = getattr(request.app.state, "replica", None)
    if replica is None:
        yield primary
        return
    if "authorization" in request.headers or not replica.usable:
        if "authorization" not in request.headers:
            READS.labels("primary").inc()
        yield primary
        return
    session = replica.database.sessionmaker()
    try:
        connection = await session.connection()
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        # A pooled connection whose standby died may not know it yet: a statement of nothing (one
        # round trip, no rows) finds out now, and the request reads from the primary
        # instead of failing halfway; one that stopped answering, within the connect timeout.
        await raw.execute("select", timeout=CONNECT_TIMEOUT_SECONDS)
    except _CONNECTION_ERRORS as exc:
        replica.failed(exc)
        with contextlib.suppress(*_CONNECTION_ERRORS):
            await session.invalidate()
        READS.labels("primary").inc()
        yield primary
        return
    READS.labels("replica").inc()
    try:
        yield session
    except _CONNECTION_ERRORS as exc:
        trouble = _standby_trouble(exc)
        if trouble is None:
            raise
        if trouble == "gone":
            replica.failed(exc)
        # The standby went away after the check above, or cancelled the query to replay a change
        # that conflicts with it: the client may simply ask again.
        raise ServiceUnavailable("the read replica failed this read, try again") from exc
    finally:
        with contextlib.suppress(*_CONNECTION_ERRORS):
            await session.close()


def _standby_trouble(exc: BaseException) -> str | None:
    """ "gone" for a lost connection, "conflict" for a query cancelled by recovery, None for
    anything else (a bug is not the standby's fault)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, CLIENT_BUGS):
            return None
        if isinstance(current, OSError | asyncpg.InterfaceError):
            return "gone"
        state = getattr(current, "sqlstate", None)
        if isinstance(state, str):
            # 08: connection exceptions; 57P: the server shutting down or starting.
            if state.startswith(("08", "57P")):
                return "gone"
            # On a standby, reads at read committed fail with this only when replay cancels them.
            if state == "40001":
                return "conflict"
        current = current.__cause__ or current.__context__
    return None


ReadSession = Annotated[AsyncSession, Depends(_read_session, scope="function")]
"""For routes anyone may read: the standby for anonymous requests when it is usable, else the
request's `DbSession` (shared with `CurrentUser`/`OptionalUser` and the route's other
dependencies)."""
