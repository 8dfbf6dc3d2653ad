"""Delivering events to webhooks and push subscriptions: at least once, in order per booking.

Three steps, each safe in any number of processes at once (every serving process with the
scheduler on, and `parkshare worker`):

1. **Dispatch.** One process at a time (the `event_cursors` row, locked) turns the events past the
   cursor, read in outbox order below the horizon (app/events/hub.py), into one `deliveries` row
   per subscribed webhook and push subscription of their recipients, and moves the cursor, in one
   transaction: no event is dispatched twice or skipped.
2. **Claim.** Due deliveries are taken with `FOR UPDATE SKIP LOCKED` and leased for a minute, so
   two processes never send the same delivery while both live; a process that dies mid-send
   leaves a lease that runs out, and another sends it again (at least once). A delivery waits
   while an earlier event of the same booking to the same target is still pending: in order.
3. **Send and record.** A 2xx within 10 s is success; anything else is retried on the Standard
   Webhooks schedule with jitter, and given up after the last try. A webhook whose attempts have
   failed for 5 days is disabled and its owner gets `webhook.disabled` on their other channels.

Requests go only to the address `app.events.urls.check` found for the URL just before: the HTTP
client's connections are made by `PinnedBackend`, which connects to that address and nowhere else
(DNS rebinding), and they are pooled by host name, so that a kept-alive TLS connection to one
host is never used for another that shares its address. docs/events.md tells the whole story.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import random
import ssl
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import asyncpg
import httpcore
import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks.webhooks import Webhook as Signer

from app.clock import speed, utcnow
from app.db import Database, raw_connection
from app.events import outbox, urls
from app.events.hub import HORIZON, Hub
from app.schemas import as_utc_z
from app.settings import Settings

logger = logging.getLogger(__name__)

# Seconds to wait before each try after the first (API.md, "Events"; the Standard Webhooks
# schedule): 8 tries in about 28 hours.
RETRY_DELAYS = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
JITTER = 0.1  # ±10 %, so that a receiver that comes back is not hit by every retry at once
TIMEOUT_SECONDS = 10.0  # for the whole attempt: the URL's check, connecting, sending, the answer
LEASE = timedelta(seconds=60)  # longer than a send may take; DELIVERY_LEASE_SECONDS sets it
# A send starts only while this much of its lease is left: it then ends (TIMEOUT_SECONDS) within it.
# DELIVERY_LEASE_SECONDS is at least 30, so a claim leaves at least 10 s to start its sends.
SEND_WITHIN_LEASE = timedelta(seconds=2 * TIMEOUT_SECONDS)
KEEP_BYTES = 1024  # of a response body, for the deliveries list
DISABLE_AFTER = timedelta(days=5)
DISPATCH_BATCH = 1000
CLAIM_BATCH = 32
POLL_SECONDS = 1.0
# A process dispatches at most this often: under load each dispatch then takes the events of a few
# commits instead of one (fewer statements per event) for a few milliseconds of latency.
GATHER_SECONDS = 0.025
USER_AGENT = "parkshare-webhooks/1"


def retry_delay(failed_tries: int, rng: random.Random | None = None) -> timedelta | None:
    """How long after the `failed_tries`-th failed try the next one comes, or None: given up."""
    if failed_tries > len(RETRY_DELAYS):
        return None
    base = RETRY_DELAYS[failed_tries - 1]
    spread = (rng or random).uniform(-JITTER, JITTER)
    return timedelta(seconds=base * (1 + spread))


# -- dispatch --------------------------------------------------------------------------------------

_CURSOR = """
insert into event_cursors (name, txid, seq) values ('dispatch', 0, 0) on conflict (name) do nothing;
"""
# Skip locked: while one process dispatches, the others need not wait to find nothing left. Every
# process is woken by every new event, so the one holding the lock runs again for what came later.
_LOCK_CURSOR = "select txid, seq from event_cursors where name = 'dispatch' for update skip locked"
# The last of the next (at most $4) final events, and how many they are.
_BATCH_END = """
select txid, seq, count(*) over () as events from (
    select txid, seq from events
    where (txid, seq) > ($1, $2) and txid < $3
    order by txid, seq
    limit $4
) as batch
order by txid desc, seq desc
limit 1
"""
# Every subscribed target of the events in (cursor, last], in outbox order.
_FAN_OUT = """
with batch as (
    select seq, txid, type, booking_id, driver_id, owner_id, webhook_id from events
    where (txid, seq) > ($1, $2) and (txid, seq) <= ($3, $4)
), targets as (
    select b.txid, b.seq as event_seq, b.booking_id, w.id as webhook_id, null::uuid as push_subscription_id
    from batch b join webhooks w
      on w.enabled
     and ((b.webhook_id is null and w.user_id in (b.driver_id, b.owner_id) and b.type = any(w.events))
          or w.id = b.webhook_id)
    union all
    select b.txid, b.seq, b.booking_id, null, p.id
    from batch b join push_subscriptions p
      on b.webhook_id is null and p.user_id in (b.driver_id, b.owner_id)
)
insert into deliveries (id, event_seq, webhook_id, push_subscription_id, order_key, status,
                        next_attempt_at, created_at, updated_at)
select gen_random_uuid(), event_seq, webhook_id, push_subscription_id, booking_id, 'pending', $5, $5, $5
from targets
order by txid, event_seq
"""
_MOVE_CURSOR = "update event_cursors set txid = $1, seq = $2 where name = 'dispatch'"


class Dispatched(NamedTuple):
    events: int  # passed by the cursor; 0 when there was nothing new
    deliveries: int  # made of them (events nobody subscribed to make none)


async def dispatch(database: Database, now: datetime) -> Dispatched:
    """Turns the next events (up to DISPATCH_BATCH) into deliveries."""
    async with database.sessionmaker() as session, session.begin():
        conn = await raw_connection(session)
        cursor = await conn.fetchrow(_LOCK_CURSOR)
        if cursor is None:
            # The first dispatch ever, or another process is dispatching.
            await conn.execute(_CURSOR)
            cursor = await conn.fetchrow(_LOCK_CURSOR)
            if cursor is None:
                return Dispatched(0, 0)
        # The horizon in a statement of its own, after the lock: the reads below see every
        # transaction under it ended.
        horizon: int = await conn.fetchval(HORIZON)
        last = await conn.fetchrow(_BATCH_END, cursor["txid"], cursor["seq"], horizon, DISPATCH_BATCH)
        if last is None:
            return Dispatched(0, 0)
        status = await conn.execute(_FAN_OUT, cursor["txid"], cursor["seq"], last["txid"], last["seq"], now)
        await conn.execute(_MOVE_CURSOR, last["txid"], last["seq"])
    return Dispatched(int(last["events"]), int(status.split()[-1]))


# -- claim -----------------------------------------------------------------------------------------

# In order per booking and target: a delivery waits while one of an earlier event (by the events'
# own `seq`, which follows the order in which the booking's changes took its lock) of the same
# booking to the same target is pending. One `not exists` per kind of target, each on its index.
_CLAIM = """
with due as (
    select d.id from deliveries d
    where d.status = 'pending' and d.next_attempt_at <= $1
      and (d.leased_until is null or d.leased_until <= $1)
      and (d.webhook_id is not null or $4::boolean)
      and not exists (
          select 1 from deliveries p
          where p.status = 'pending' and p.webhook_id = d.webhook_id and p.order_key = d.order_key
            and p.event_seq < d.event_seq)
      and not exists (
          select 1 from deliveries p
          where p.status = 'pending' and p.push_subscription_id = d.push_subscription_id
            and p.order_key = d.order_key and p.event_seq < d.event_seq)
      -- An earlier event of the booking may lie past the dispatch cursor, still without its
      -- deliveries: a transaction that took its id before the booking's lock commits its event
      -- (a later seq) below the horizon before an event that took the lock first.
      and (d.order_key is null or not exists (
          select 1 from events e join event_cursors c on c.name = 'dispatch'
          where e.booking_id = d.order_key and e.seq < d.event_seq and (e.txid, e.seq) > (c.txid, c.seq)))
    order by d.next_attempt_at, d.seq
    limit $2
    for update skip locked
)
update deliveries d set leased_until = $1 + $3::interval, updated_at = $1
from due where d.id = due.id
returning d.id
"""

_LOAD = """
select d.id, d.attempt_count, d.webhook_id, d.push_subscription_id,
       e.id as event_id, e.type, e.created_at, e.owner_id, e.data::text as data,
       e.owner_data::text as owner_data,
       w.user_id as webhook_user_id, w.url, w.secret, w.previous_secret, w.previous_secret_expires_at,
       w.enabled,
       p.user_id as push_user_id, p.endpoint, p.p256dh, p.auth
from deliveries d
join events e on e.seq = d.event_seq
left join webhooks w on w.id = d.webhook_id
left join push_subscriptions p on p.id = d.push_subscription_id
where d.id = any($1::uuid[])
order by d.seq
"""


@dataclass(frozen=True)
class Claimed:
    """A delivery leased to this process, with what sending it needs."""

    id: uuid.UUID
    attempt_count: int
    event_id: uuid.UUID
    event_type: str
    body: str  # the event JSON as its recipient reads it
    webhook_id: uuid.UUID | None
    url: str | None
    secrets: tuple[str, ...]
    enabled: bool
    push_subscription_id: uuid.UUID | None
    endpoint: str | None
    p256dh: str | None
    auth: str | None
    booking_id: str | None = None
    # Until when this process holds it (the claim's `now` + LEASE); None: not leased by a claim.
    leased_until: datetime | None = None

    @classmethod
    def of(cls, row: Any, now: datetime, lease: timedelta) -> Claimed:
        recipient = row["webhook_user_id"] or row["push_user_id"]
        own = (
            row["owner_data"]
            if recipient == row["owner_id"] and row["owner_data"] is not None
            else row["data"]
        )
        secrets: tuple[str, ...] = ()
        if row["secret"] is not None:
            keep_old = row["previous_secret"] is not None and (
                row["previous_secret_expires_at"] is not None and row["previous_secret_expires_at"] > now
            )
            secrets = (row["secret"], row["previous_secret"]) if keep_old else (row["secret"],)
        data = json.loads(row["data"])
        booking = (data.get("booking") if isinstance(data, dict) else None) or {}
        return cls(
            id=row["id"],
            attempt_count=row["attempt_count"],
            event_id=row["event_id"],
            event_type=row["type"],
            body=outbox.envelope(row["event_id"], row["type"], row["created_at"], own),
            webhook_id=row["webhook_id"],
            url=row["url"],
            secrets=secrets,
            enabled=bool(row["enabled"]) if row["webhook_id"] else True,
            push_subscription_id=row["push_subscription_id"],
            endpoint=row["endpoint"],
            p256dh=row["p256dh"],
            auth=row["auth"],
            booking_id=booking.get("id"),
            leased_until=now + lease,
        )


async def claim(
    database: Database,
    now: datetime,
    limit: int = CLAIM_BATCH,
    *,
    push: bool = True,
    lease: timedelta = LEASE,
) -> list[Claimed]:
    """Leases up to `limit` due deliveries for `lease`; `push=False` leaves push deliveries to
    processes that can send them."""
    if limit <= 0:
        return []
    async with database.sessionmaker() as session, session.begin():
        conn = await raw_connection(session)
        # Leases bound sends timed in real seconds: as long in real time on a simulated clock.
        lease = lease * speed()
        leased = await conn.fetch(_CLAIM, now, limit, lease, push)
        if not leased:
            return []
        rows = await conn.fetch(_LOAD, [r["id"] for r in leased])
    return [Claimed.of(row, now, lease) for row in rows]


# -- send ------------------------------------------------------------------------------------------


@dataclass
class Attempt:
    at: datetime
    response_status: int | None = None
    duration_ms: int = 0
    error: str | None = None
    response_body: str | None = None
    # For push: the subscription is gone (404/410) and is removed.
    gone: bool = False
    # No use trying again (the webhook is disabled, the subscription gone): the delivery fails now,
    # and it does not count as the receiver's failure.
    give_up: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.response_status is not None and 200 <= self.response_status < 300

    def as_json(self) -> dict[str, Any]:
        return {
            "at": as_utc_z(self.at),
            "response_status": self.response_status,
            "duration_ms": self.duration_ms,
            "error": self.error,
            "response_body": self.response_body,
        }


def signature(secrets: tuple[str, ...], msg_id: str, timestamp: datetime, body: str) -> str:
    """`webhook-signature`: one `v1,<base64>` per valid secret, separated by spaces."""
    # standardwebhooks 1.1.0 replaces the time zone instead of converting: give it UTC.
    utc = timestamp.astimezone(UTC)
    return " ".join(Signer(secret).sign(msg_id, utc, body) for secret in secrets)


@dataclass(frozen=True)
class _Pin:
    host: str  # as the HTTP client writes it (lower case, IDNA)
    port: int
    address: urls.IPAddress


# The checked address of the request this task is sending; read by PinnedBackend.
_PINNED: contextvars.ContextVar[_Pin | None] = contextvars.ContextVar("parkshare_pinned", default=None)


class PinnedBackend(httpcore.AsyncNetworkBackend):
    """Opens a connection only to the address checked for the request being sent (`_PINNED`):
    never a DNS lookup of its own, never to another host. httpcore connects in the task that
    sends the request, so the context variable is that request's."""

    def __init__(self) -> None:
        self._backend = httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        pin = _PINNED.get()
        if pin is None or pin.host != host or pin.port != port:
            raise httpcore.ConnectError("no checked address for this host")
        return await self._backend.connect_tcp(
            str(pin.address),
            port,
            timeout=timeout,
            local_address=local_address,
            socket_options=socket_options,
        )

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 - httpcore's interface
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise httpcore.ConnectError("no unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._backend.sleep(seconds)


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport on a connection pool whose connections PinnedBackend makes (httpx itself
    takes no network backend)."""

    def __init__(self, *, verify: ssl.SSLContext | bool = True, limits: httpx.Limits) -> None:
        super().__init__(verify=verify, limits=limits, trust_env=False)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=PinnedBackend(),
        )


def make_client(verify: ssl.SSLContext | bool = True) -> httpx.AsyncClient:
    """The client deliveries are sent with; `verify` is for tests with their own CA."""
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=5.0)
    return httpx.AsyncClient(
        transport=PinnedTransport(verify=verify, limits=limits),
        follow_redirects=False,
        timeout=TIMEOUT_SECONDS,
        trust_env=False,
    )


async def post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool,
    now: datetime,
) -> Attempt:
    """POSTs `body` to the checked address of `url` (with a client from `make_client`): a refused
    URL, a timeout, a connection error or a redirect are failed attempts with an `error`; at most
    KEEP_BYTES of the answer are kept."""
    started = time.perf_counter()
    attempt = Attempt(at=now)
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            target = await urls.check(url, allow_private=allow_private)
            request = client.build_request(
                "POST", url, content=body, headers={**headers, "accept-encoding": "identity"}
            )
            # The client must read the URL as the check did: else it is no URL we checked.
            if request.url.host != target.host or (request.url.port or target.default_port) != target.port:
                raise urls.UrlNotAllowed("the URL is ambiguous")
            pin = _Pin(request.url.raw_host.decode("ascii"), target.port, target.address)
            token = _PINNED.set(pin)
            try:
                response = await client.send(request, stream=True, follow_redirects=False)
            finally:
                _PINNED.reset(token)
            try:
                attempt.response_status = response.status_code
                kept = bytearray()
                async for chunk in response.aiter_raw():
                    kept.extend(chunk)
                    if len(kept) >= KEEP_BYTES:
                        break
                attempt.response_body = bytes(kept[:KEEP_BYTES]).decode("utf-8", "replace")
            finally:
                await response.aclose()
        if 300 <= response.status_code < 400:
            attempt.error = "redirect not followed"
        elif not 200 <= response.status_code < 300:
            attempt.error = f"HTTP {response.status_code}"
    except urls.UrlNotAllowed as exc:
        attempt.error = f"URL not allowed: {exc.detail}"
    except TimeoutError:
        attempt.error = f"no answer within {TIMEOUT_SECONDS:g} s"
    except (httpx.HTTPError, httpx.InvalidURL, OSError, ssl.SSLError) as exc:
        # The exception's type and message, never the request (its URL may carry a token).
        attempt.error = f"{type(exc).__name__}: {exc}"[:300]
    attempt.duration_ms = round((time.perf_counter() - started) * 1000)
    return attempt


async def send_webhook(
    client: httpx.AsyncClient, delivery: Claimed, settings: Settings, now: datetime
) -> Attempt:
    assert delivery.url is not None
    if not delivery.enabled:
        return Attempt(at=now, error="the webhook is disabled", give_up=True)
    # The signature's timestamp is the wall clock: receivers compare it with theirs to refuse replays.
    stamp = datetime.now(UTC)
    msg_id = str(delivery.event_id)
    headers = {
        "content-type": "application/json",
        "user-agent": USER_AGENT,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(stamp.timestamp())),
        "webhook-signature": signature(delivery.secrets, msg_id, stamp, delivery.body),
    }
    return await post(
        client,
        delivery.url,
        delivery.body.encode(),
        headers,
        allow_private=settings.webhook_allow_private_urls,
        now=now,
    )


# -- record ----------------------------------------------------------------------------------------

# Only a delivery that is still pending: one finished meanwhile (its lease ran out and another
# process sent it, or the webhook was disabled) keeps its outcome.
_RECORD = """
update deliveries set
    status = $2, attempts = attempts || $3::jsonb, attempt_count = attempt_count + 1,
    next_attempt_at = $4, leased_until = null, updated_at = $5
where id = $1 and status = 'pending'
"""
_WEBHOOK_OK = "update webhooks set failing_since = null where id = $1 and failing_since is not null"
_WEBHOOK_FAILED = """
update webhooks set failing_since = coalesce(failing_since, $2)
where id = $1
returning failing_since, enabled, user_id, url, description
"""
_DISABLE = """
update webhooks set enabled = false, disabled_at = $2, updated_at = $2 where id = $1 and enabled
"""
# The webhook's other pending deliveries, but not those in flight (their senders record them; the
# next try then finds the webhook disabled).
_FAIL_PENDING = """
update deliveries set status = 'failed', next_attempt_at = null, leased_until = null, updated_at = $2,
       attempts = attempts || $3::jsonb
where webhook_id = $1 and status = 'pending' and (leased_until is null or leased_until <= $2)
"""
_REMOVE_SUBSCRIPTION = "delete from push_subscriptions where id = $1"


async def record(database: Database, delivery: Claimed, attempt: Attempt, now: datetime) -> bool:
    """Writes the attempt's outcome; True when it disabled a webhook (an event was written)."""
    tries = delivery.attempt_count + 1
    if attempt.succeeded:
        status, next_at = "succeeded", None
    else:
        delay = None if attempt.gone or attempt.give_up else retry_delay(tries)
        status, next_at = ("failed", None) if delay is None else ("pending", now + delay)
    disabled = False
    async with database.sessionmaker() as session, session.begin():
        conn = await raw_connection(session)
        written = await conn.execute(
            _RECORD, delivery.id, status, json.dumps([attempt.as_json()]), next_at, now
        )
        if delivery.push_subscription_id is not None and attempt.gone:
            await conn.execute(_REMOVE_SUBSCRIPTION, delivery.push_subscription_id)
        if written != "UPDATE 1" or attempt.give_up:
            return False
        if delivery.webhook_id is not None:
            if attempt.succeeded:
                await conn.execute(_WEBHOOK_OK, delivery.webhook_id)
            else:
                disabled = await _after_failure(session, conn, delivery.webhook_id, now)
    return disabled


async def give_up_pending(session: AsyncSession, webhook_id: uuid.UUID, now: datetime, why: str) -> None:
    """Ends a webhook's pending deliveries as failed (it was disabled): re-enabling it later must
    not send stale events; each can still be redelivered by hand."""
    conn = await raw_connection(session)
    await conn.execute(_FAIL_PENDING, webhook_id, now, json.dumps([Attempt(at=now, error=why).as_json()]))


async def _after_failure(
    session: Any, conn: asyncpg.Connection, webhook_id: uuid.UUID, now: datetime
) -> bool:
    row = await conn.fetchrow(_WEBHOOK_FAILED, webhook_id, now)
    if row is None or not row["enabled"] or row["failing_since"] > now - DISABLE_AFTER:
        return False
    if await conn.execute(_DISABLE, webhook_id, now) != "UPDATE 1":
        return False
    note = Attempt(at=now, error="the webhook was disabled after failing for 5 days")
    await conn.execute(_FAIL_PENDING, webhook_id, now, json.dumps([note.as_json()]))
    data = {
        "webhook": {
            "id": str(webhook_id),
            "url": row["url"],
            "description": row["description"],
            "enabled": False,
            "failing_since": as_utc_z(row["failing_since"]),
            "disabled_at": as_utc_z(now),
        }
    }
    await outbox.add(
        session,
        [
            outbox.NewEvent(
                type=outbox.WEBHOOK_DISABLED, created_at=now, data=json.dumps(data), owner_id=row["user_id"]
            )
        ],
    )
    logger.warning("webhook %s disabled after failing since %s", webhook_id, row["failing_since"])
    return True


# -- the loop --------------------------------------------------------------------------------------

PushSender = Callable[[httpx.AsyncClient, Claimed, Settings, datetime], Awaitable[Attempt]]


class Deliverer:
    """Dispatches and sends in this process until stopped; woken by the hub after it reads new
    events, else every second. Up to `concurrency` sends are in flight at once, and a slot that
    frees is filled at once: a slow receiver holds up one slot, not the others."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        hub: Hub | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        push_sender: PushSender | None = None,
        concurrency: int = CLAIM_BATCH,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.database = database
        self.settings = settings
        self.hub = hub
        self.clock = clock or utcnow
        self.push_sender = push_sender
        self.concurrency = concurrency
        self.verify = verify
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self._in_flight: set[asyncio.Task[None]] = set()
        self.sent = 0

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        """Opens the HTTP client and runs the loop (tests call `run_once` instead)."""
        await self.open()
        if self.hub is not None:
            self.hub.add_waker(self.wake)
        self._task = asyncio.create_task(self._run(), name="events-delivery")

    async def open(self) -> None:
        if self._client is None:
            self._client = make_client(self.verify)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            # The loop's end, whatever it was; a cancel of `stop()` itself still comes through,
            # unlike one suppressed around the await.
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        # Sends cut short here are sent again when their lease runs out: at least once.
        for task in list(self._in_flight):
            task.cancel()
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def __aenter__(self) -> Deliverer:
        await self.open()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                logger.warning("event delivery: %s; trying again shortly", type(exc).__name__)
            except Exception:
                logger.exception("event delivery failed; trying again shortly")
            # Not `asyncio.wait_for`: on Python 3.11 it returns the wait's result when the wake
            # and a cancel come in one step, and the stop would be lost.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_SECONDS):
                    await self._wake.wait()
            self._wake.clear()

    async def run_once(self) -> int:
        """Dispatches what is new and sends what is due, until nothing is due and nothing is in
        flight; the number of attempts made."""
        await self.open()
        before = self.sent
        loop = asyncio.get_running_loop()
        dispatched_at: float | None = None
        while True:
            # Dispatch when woken (new events) or a poll interval on, not after every send: all
            # processes take turns on the cursor's lock.
            if self._wake.is_set() or dispatched_at is None or loop.time() - dispatched_at >= POLL_SECONDS:
                if dispatched_at is not None and (wait := dispatched_at + GATHER_SECONDS - loop.time()) > 0:
                    await asyncio.sleep(wait)
                self._wake.clear()
                dispatched_at = loop.time()
                while (await dispatch(self.database, self.clock())).events > 0:
                    pass
            free = self.concurrency - len(self._in_flight)
            recorded = self.sent
            claimed = await claim(
                self.database,
                self.clock(),
                free,
                push=self.push_sender is not None,
                lease=timedelta(seconds=self.settings.delivery_lease_seconds),
            )
            for delivery in claimed:
                task = asyncio.create_task(self._deliver(delivery), name=f"delivery-{delivery.id}")
                self._in_flight.add(task)
                task.add_done_callback(self._sent)
            if self.sent != recorded:
                # A send recorded its outcome while the claim ran, perhaps after the claim's
                # snapshot: the next event of its booking to the same target, which waited for it,
                # may be due now. Without another claim it would wait for another send to end or
                # for the next poll.
                continue
            if not self._in_flight:
                return self.sent - before
            # Wait for a send to end (its slot, or the next event of its booking, may be due now),
            # a wake (new events) or the poll interval (retries that came due).
            woken = asyncio.ensure_future(self._wake.wait())
            try:
                await asyncio.wait(
                    {*self._in_flight, woken}, timeout=POLL_SECONDS, return_when=asyncio.FIRST_COMPLETED
                )
            finally:
                woken.cancel()

    def _sent(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("recording a delivery failed: %s", type(task.exception()).__name__)

    async def _deliver(self, delivery: Claimed) -> None:
        assert self._client is not None
        now = self.clock()
        if delivery.leased_until is not None and now > delivery.leased_until - SEND_WITHIN_LEASE * speed():
            # This process stalled since the claim: a send begun now could outlast the lease, and
            # another process that claims it then would send it a second time. Left to the next
            # claim once the lease runs out (perhaps this process's own).
            logger.warning("delivery %s not sent: too little of its lease was left", delivery.id)
            return
        try:
            if delivery.webhook_id is not None:
                attempt = await send_webhook(self._client, delivery, self.settings, now)
            elif self.push_sender is not None:
                attempt = await self.push_sender(self._client, delivery, self.settings, now)
            else:
                attempt = Attempt(at=now, error="push is not configured in this process")
        except Exception as exc:
            # A failure of ours, not the receiver's: still an attempt, so that the delivery is
            # retried on the schedule and given up in the end instead of leased again forever.
            logger.exception("sending delivery %s failed", delivery.id)
            attempt = Attempt(at=now, error=f"internal error ({type(exc).__name__})")
        disabled = await record(self.database, delivery, attempt, self.clock())
        self.sent += 1
        if disabled:  # a `webhook.disabled` event was written: dispatch it
            self.wake()
            if self.hub is not None:
                self.hub.poke()
