"""The outbox's reader in each process: one listening connection, however many streams.

A process that commits events wakes its own readers at once and the other processes with a
`NOTIFY` that carries nothing, sent after the commit on this connection (never inside the booking
transaction: PostgreSQL serialises the commits of notifying transactions). On a wake, or every
second if none comes, the hub reads the events that are new, in (txid, seq) order and only below
`parkshare_event_horizon()` (docs/decisions/0007), and hands each to the live streams of its
recipients and to the wakers (the delivery loop). When the connection is lost it is made again and
the hub reads on from where it was: nothing is missed, because the outbox, not the notification,
is the truth.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from app.events.outbox import WRITTEN, envelope

logger = logging.getLogger(__name__)

CHANNEL = "parkshare_events"
POLL_SECONDS = 1.0  # a read even without a wake: a lost notification costs at most this
# Reads and NOTIFYs at most this often: under load one read then covers the commits of this long
# instead of one each (three statements per read, in every process), for a delay no app notices.
GAP_SECONDS = 0.025
RECONNECT_SECONDS = (0.1, 0.5, 1.0, 2.0, 5.0)
BATCH = 500
QUEUE_LIMIT = 1000  # a stream that falls this far behind is closed; it resumes from the outbox

Position = tuple[int, int]  # (txid, seq)

_EVENT_COLUMNS = (
    "seq, id, txid, type, created_at, booking_id, driver_id, owner_id, webhook_id, "
    "data::text as data, owner_data::text as owner_data"
)
_NEW = f"""
select {_EVENT_COLUMNS} from events
where (txid, seq) > ($1, $2) and txid < $3
order by txid, seq
limit {BATCH}
"""  # noqa: S608 - the columns are constants
_FOR_USER = f"""
select {_EVENT_COLUMNS} from events
where (driver_id = $1 or owner_id = $1) and webhook_id is null
  and (txid, seq) > ($2, $3) and (txid, seq) <= ($4, $5)
order by txid, seq
limit {BATCH}
"""  # noqa: S608 - the columns are constants
_POSITION_OF = """
select txid, seq from events where id = $1 and (driver_id = $2 or owner_id = $2) and webhook_id is null
"""
HORIZON = "select parkshare_event_horizon()"
_HELD_BACK = "select exists (select 1 from events where txid >= $1)"
RETRY_HELD_SECONDS = GAP_SECONDS  # the first read again of events held back; doubled up to POLL_SECONDS


@dataclass(frozen=True)
class EventRow:
    seq: int
    id: uuid.UUID
    txid: int
    type: str
    created_at: datetime
    booking_id: uuid.UUID | None
    driver_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    webhook_id: uuid.UUID | None
    data: str
    owner_data: str | None

    @classmethod
    def of(cls, row: Any) -> EventRow:
        return cls(**dict(row.items()))

    @property
    def position(self) -> Position:
        return (self.txid, self.seq)

    def recipients(self) -> set[uuid.UUID]:
        """Who sees it in their stream and pushes: nobody for an event meant for one webhook."""
        if self.webhook_id is not None:
            return set()
        return {u for u in (self.driver_id, self.owner_id) if u is not None}

    def message_for(self, user_id: uuid.UUID) -> str:
        """The event JSON as `user_id` receives it: the owner's view when they are the owner."""
        data = self.owner_data if user_id == self.owner_id and self.owner_data is not None else self.data
        return envelope(self.id, self.type, self.created_at, data)


class Subscription:
    """A live stream's inbox: the events of one user, in outbox order, from every read of the hub
    after `since` (where the hub stood when the stream subscribed)."""

    def __init__(self, user_id: uuid.UUID, since: Position) -> None:
        self.user_id = user_id
        self.since = since
        self.queue: asyncio.Queue[EventRow] = asyncio.Queue(QUEUE_LIMIT)
        self.overflowed = asyncio.Event()

    def offer(self, row: EventRow) -> None:
        if self.overflowed.is_set():
            return  # a row after a dropped one would be a gap; the stream resumes from the outbox
        try:
            self.queue.put_nowait(row)
        except asyncio.QueueFull:
            self.overflowed.set()


async def read_horizon(conn: asyncpg.Connection) -> int:
    horizon: int = await conn.fetchval(HORIZON)
    return horizon


async def read_after(conn: asyncpg.Connection, position: Position) -> tuple[list[EventRow], bool]:
    """The next final events after `position`, at most BATCH, in order (a statement for the
    horizon, then the read: its snapshot sees every transaction below it ended), and whether more
    are waiting: a full page, or committed events above the horizon, held back by a transaction
    still open. Such a transaction may write no event (a delivery's record, a claim) and so wake
    nobody when it ends: the caller reads again shortly instead of at the next poll."""
    horizon = await read_horizon(conn)
    rows = [EventRow.of(r) for r in await conn.fetch(_NEW, *position, horizon)]
    if len(rows) >= BATCH:
        return rows, True
    return rows, bool(await conn.fetchval(_HELD_BACK, horizon))


async def page_for_user(
    conn: asyncpg.Connection, user_id: uuid.UUID, after: Position, upto: Position
) -> list[EventRow]:
    """Up to BATCH of a user's events after `after` and up to `upto`, in order: a stream's
    catch-up to where the hub stood when it subscribed. The hub read up to there below a horizon,
    so all of these are final, and no horizon is needed."""
    return [EventRow.of(r) for r in await conn.fetch(_FOR_USER, user_id, *after, *upto)]


async def position_of(conn: asyncpg.Connection, event_id: str, user_id: uuid.UUID) -> Position | None:
    """Where an event of the user's stands, or None for an id that is not theirs or no longer kept."""
    try:
        parsed = uuid.UUID(event_id)
    except ValueError:
        return None
    row = await conn.fetchrow(_POSITION_OF, parsed, user_id)
    return (row["txid"], row["seq"]) if row else None


class Hub:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()  # one statement at a time on the connection
        self._wake = asyncio.Event()
        self._notify = asyncio.Event()
        self._connected = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._subscriptions: dict[uuid.UUID, set[Subscription]] = {}
        self._wakers: list[Callable[[], None]] = []
        self.position: Position | None = None
        self._more = False  # the last read left events behind (a full page, or held back)
        self._held_delay = RETRY_HELD_SECONDS
        self._last_read = self._last_notify = 0.0  # the loop's times of the last read and NOTIFY
        self.reads = 0  # for the tests: how often the hub has read

    # -- life --------------------------------------------------------------------------------

    async def start(self) -> None:
        """Starts listening; a database that is down is retried in the background."""
        try:
            await self._connect()
            await self._read()
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            logger.warning("events hub: cannot reach the database yet (%s)", type(exc).__name__)
        self._tasks = [
            asyncio.create_task(self._read_loop(), name="events-hub-read"),
            asyncio.create_task(self._notify_loop(), name="events-hub-notify"),
        ]
        _HUBS.add(self)

    async def stop(self) -> None:
        _HUBS.discard(self)
        for task in self._tasks:
            task.cancel()
        # A cancel of `stop()` itself still comes through, unlike one suppressed around each await.
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.close(timeout=2)
            self._conn = None

    async def _connect(self) -> None:
        conn = await asyncpg.connect(self._dsn, server_settings={"application_name": "parkshare-events"})
        try:
            await conn.add_listener(CHANNEL, self._on_notification)
        except BaseException:
            conn.terminate()
            raise
        conn.add_termination_listener(self._on_lost)
        self._conn = conn
        self._connected.set()

    def _on_notification(self, *_: object) -> None:
        self._wake.set()

    def _on_lost(self, conn: object) -> None:
        # asyncpg calls this soon after the loss, not at once: by then a replaced connection's
        # call must not mark the new one lost (the NOTIFYs would wait for a reconnect forever).
        if conn is self._conn:
            self._connected.clear()
            self._wake.set()

    async def _reconnect(self) -> None:
        """Returns only when listening again: no failure may end the reader, or every stream of
        the process would go quiet while looking open."""
        self._connected.clear()
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.terminate()
            self._conn = None
        attempt = 0
        while True:
            try:
                await self._connect()
            except Exception as exc:
                delay = RECONNECT_SECONDS[min(attempt, len(RECONNECT_SECONDS) - 1)]
                attempt += 1
                logger.warning(
                    "events hub: cannot reach the database (%s); again in %.1f s", type(exc).__name__, delay
                )
                await asyncio.sleep(delay)
            else:
                logger.info("events hub: listening again")
                return

    # -- wakes ------------------------------------------------------------------------------

    def poke(self) -> None:
        """Events were committed in this process: read now, and tell the other processes."""
        self._wake.set()
        self._notify.set()

    def add_waker(self, waker: Callable[[], None]) -> None:
        """`waker` is called after every read that found events (the delivery loop's wake)."""
        self._wakers.append(waker)

    async def _notify_loop(self) -> None:
        while True:
            await self._notify.wait()
            await _after_gap(self._last_notify)
            self._last_notify = asyncio.get_running_loop().time()
            self._notify.clear()  # pokes during the NOTIFY below make one more, not one each
            await self._connected.wait()
            try:
                async with self._lock:
                    assert self._conn is not None
                    await self._conn.execute(f"notify {CHANNEL}")
            except Exception:
                # The others read within a second anyway; the read loop reconnects.
                self._wake.set()

    # -- reads ------------------------------------------------------------------------------

    async def _read_loop(self) -> None:
        while True:
            # Not asyncio.wait_for: on Python 3.11 it swallows a cancel that comes as the wake does
            # (a NOTIFY during shutdown), and `stop()` would wait for this loop forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_SECONDS):
                    await self._wake.wait()
            await _after_gap(self._last_read)
            self._last_read = asyncio.get_running_loop().time()
            self._wake.clear()
            try:
                if self._conn is None or self._conn.is_closed():
                    await self._reconnect()
                rows = await self._read()
            except Exception as exc:
                logger.warning("events hub: read failed (%s); reconnecting", type(exc).__name__)
                await self._reconnect()
                continue
            if rows:
                self._fan_out(rows)
            if self._more:
                if len(rows) >= BATCH:
                    # A backlog (after a reconnect, a burst) is read page after page, without a gap.
                    self._last_read = -math.inf
                    self._wake.set()
                else:
                    # Held back by an open transaction: again soon, less often the longer it stays.
                    self._held_delay = RETRY_HELD_SECONDS if rows else min(self._held_delay * 2, POLL_SECONDS)
                    asyncio.get_running_loop().call_later(self._held_delay, self._wake.set)

    async def _read(self) -> list[EventRow]:
        async with self._lock:
            assert self._conn is not None
            if self.position is None:
                # Events before this are history; a stream that wants them names its Last-Event-ID.
                self.position = (await read_horizon(self._conn), -1)
                return []
            rows, self._more = await read_after(self._conn, self.position)
            self.reads += 1
        if rows:
            self.position = rows[-1].position
        return rows

    def _fan_out(self, rows: list[EventRow]) -> None:
        for row in rows:
            for user_id in row.recipients():
                for subscription in self._subscriptions.get(user_id, ()):
                    subscription.offer(row)
        for waker in self._wakers:
            waker()

    # -- streams ----------------------------------------------------------------------------

    def subscribe(self, user_id: uuid.UUID) -> Subscription:
        """From here on every event of the user the hub reads is queued; what came before the
        hub's position is the stream's to read from the outbox. Both in one step (no await): an
        event read in between would be neither queued nor after the position."""
        assert self.position is not None, "the hub has not read yet"
        subscription = Subscription(user_id, self.position)
        self._subscriptions.setdefault(user_id, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscriptions = self._subscriptions.get(subscription.user_id)
        if subscriptions is not None:
            subscriptions.discard(subscription)
            if not subscriptions:
                del self._subscriptions[subscription.user_id]

    def subscriptions_of(self, user_id: uuid.UUID) -> set[Subscription]:
        return self._subscriptions.get(user_id, set())

    @property
    def streams(self) -> int:
        return sum(len(s) for s in self._subscriptions.values())


async def _after_gap(last: float) -> None:
    """Returns once GAP_SECONDS have passed since `last` (a time of the running loop)."""
    wait = last + GAP_SECONDS - asyncio.get_running_loop().time()
    if wait > 0:
        await asyncio.sleep(wait)


# The hubs running in this process (one, except in tests that start several apps).
_HUBS: set[Hub] = set()


def _after_commit(session: Session) -> None:
    if session.info.pop(WRITTEN, False):
        for hub in list(_HUBS):
            hub.poke()


def _after_rollback(session: Session) -> None:
    session.info.pop(WRITTEN, None)


def install() -> None:
    """Wakes the hubs after every commit that wrote events (`outbox.mark_written`). Calling it
    again changes nothing."""
    if not sa_event.contains(Session, "after_commit", _after_commit):
        sa_event.listen(Session, "after_commit", _after_commit)
        sa_event.listen(Session, "after_rollback", _after_rollback)
