"""Delivering events to webhooks and push subscriptions: at least once, in order per booking.

Three steps, each safe in any number of processes at once (every serving process with the
scheduler on, and `parkshare worker`):

1. **Dispatch.** One process at a time (the `event_cursors` row, locked) turns the events past the
   cursor, read in outbox order below the horizon (docs/decisions/0007), into one `deliveries` row
   per subscribed webhook and push subscription of their recipients, and moves the cursor, in one
   transaction: no event is dispatched twice or skipped.
2. **Claim.** Due deliveries are taken with `FOR UPDATE SKIP LOCKED` and leased for a minute, so
   two processes never send the same delivery while both live; a process that dies mid-send
   leaves a lease that runs out, and another sends it again (at least once). A delivery waits
   while an earlier one of the same booking to the same target is still pending: in order.
3. **Send and record.** A 2xx within 10 s is success; anything else is retried on the Standard
   Webhooks schedule with jitter, and given up after the last try. A webhook whose attempts have
   failed for 5 days is disabled and its owner gets `webhook.disabled` on their other channels.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
from standardwebhooks.webhooks import Webhook as Signer

from app.db import Database, raw_connection
from app.events import outbox, urls
from app.events.hub import HORIZON, Hub
from app.settings import Settings

logger = logging.getLogger(__name__)

# Seconds to wait before each try after the first (API.md, "Events"; the Standard Webhooks
# schedule): 8 tries in about 28 hours.
RETRY_DELAYS = (5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600)
JITTER = 0.1  # ±10 %, so that a receiver that comes back is not hit by every retry at once
TIMEOUT_SECONDS = 10.0
LEASE = timedelta(seconds=60)  # longer than a send may take
KEEP_BYTES = 1024  # of a response body, for the deliveries list
DISABLE_AFTER = timedelta(days=5)
DISPATCH_BATCH = 1000
CLAIM_BATCH = 32
POLL_SECONDS = 1.0
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
_LOCK_CURSOR = "select txid, seq from event_cursors where name = 'dispatch' for update"
_LAST = """
select txid, seq from events
where (txid, seq) > ($1, $2) and txid < $3
order by txid, seq
offset $4 - 1 limit 1
"""
_ANY_AFTER = "select txid, seq from events where (txid, seq) > ($1, $2) and txid < $3 order by txid desc, seq desc limit 1"
# Every subscribed target of the events in (cursor, last], in outbox order, so that the deliveries'
# own `seq` follows the events' order per target.
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


async def dispatch(database: Database, now: datetime) -> int:
    """Turns the next events into deliveries; the number of deliveries made."""
    async with database.sessionmaker() as session, session.begin():
        conn = await raw_connection(session)
        await conn.execute(_CURSOR)
        cursor = await conn.fetchrow(_LOCK_CURSOR)
        assert cursor is not None
        # The horizon in a statement of its own, after the lock: the reads below see every
        # transaction under it ended.
        horizon: int = await conn.fetchval(HORIZON)
        last = await conn.fetchrow(_LAST, cursor["txid"], cursor["seq"], horizon, DISPATCH_BATCH)
        if last is None:
            last = await conn.fetchrow(_ANY_AFTER, cursor["txid"], cursor["seq"], horizon)
        if last is None:
            return 0
        status = await conn.execute(_FAN_OUT, cursor["txid"], cursor["seq"], last["txid"], last["seq"], now)
        await conn.execute(_MOVE_CURSOR, last["txid"], last["seq"])
    return int(status.split()[-1])


# -- claim -----------------------------------------------------------------------------------------

_CLAIM = """
with due as (
    select d.id from deliveries d
    where d.status = 'pending' and d.next_attempt_at <= $1
      and (d.leased_until is null or d.leased_until <= $1)
      and (d.order_key is null or not exists (
          select 1 from deliveries p
          where p.status = 'pending' and p.order_key = d.order_key and p.seq < d.seq
            and (p.webhook_id = d.webhook_id or p.push_subscription_id = d.push_subscription_id)))
    order by d.next_attempt_at, d.seq
    limit $2
    for update skip locked
)
update deliveries d set leased_until = $1 + $3::interval, updated_at = $1
from due where d.id = due.id
returning d.id, d.event_seq, d.webhook_id, d.push_subscription_id, d.attempt_count
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

    @classmethod
    def of(cls, row: Any, now: datetime) -> Claimed:
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
        booking = json.loads(row["data"]).get("booking") or {}
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
        )


async def claim(database: Database, now: datetime, limit: int = CLAIM_BATCH) -> list[Claimed]:
    async with database.sessionmaker() as session, session.begin():
        conn = await raw_connection(session)
        leased = await conn.fetch(_CLAIM, now, limit, LEASE)
        if not leased:
            return []
        rows = await conn.fetch(_LOAD, [r["id"] for r in leased])
    return [Claimed.of(row, now) for row in rows]


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
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.error is None and self.response_status is not None and 200 <= self.response_status < 300

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
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


async def post(
    client: httpx.AsyncClient,
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool,
    now: datetime,
) -> Attempt:
    """POSTs `body` to the checked address of `url`: a refused URL, a timeout, a connection error
    or a redirect are failed attempts with an `error`; at most KEEP_BYTES of the answer are kept."""
    started = time.perf_counter()
    attempt = Attempt(at=now)
    try:
        target = await urls.check(url, allow_private=allow_private)
        request = client.build_request(
            "POST",
            target.connect_url(),
            content=body,
            headers={**headers, "Host": target.host_header},
            extensions={"sni_hostname": target.host},
        )
        async with asyncio.timeout(TIMEOUT_SECONDS):
            response = await client.send(request, stream=True, follow_redirects=False)
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
        attempt.error = f"no answer within {TIMEOUT_SECONDS:.0f} s"
    except httpx.HTTPError as exc:
        attempt.error = f"{type(exc).__name__}: {exc}"[:300] or type(exc).__name__
    attempt.duration_ms = round((time.perf_counter() - started) * 1000)
    return attempt


async def send_webhook(
    client: httpx.AsyncClient, delivery: Claimed, settings: Settings, now: datetime
) -> Attempt:
    assert delivery.url is not None
    if not delivery.enabled:
        return Attempt(at=now, error="the webhook is disabled")
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

_RECORD = """
update deliveries set
    status = $2, attempts = attempts || $3::jsonb, attempt_count = attempt_count + 1,
    next_attempt_at = $4, leased_until = null, updated_at = $5
where id = $1
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
_FAIL_PENDING = """
update deliveries set status = 'failed', next_attempt_at = null, leased_until = null, updated_at = $2,
       attempts = attempts || $3::jsonb
where webhook_id = $1 and status = 'pending'
"""
_REMOVE_SUBSCRIPTION = "delete from push_subscriptions where id = $1"


async def record(database: Database, delivery: Claimed, attempt: Attempt, now: datetime) -> bool:
    """Writes the attempt's outcome; True when it disabled a webhook (an event was written)."""
    tries = delivery.attempt_count + 1
    if attempt.succeeded:
        status, next_at = "succeeded", None
    else:
        delay = retry_delay(tries)
        status, next_at = ("failed", None) if delay is None or attempt.gone else ("pending", now + delay)
    disabled = False
    async with database.sessionmaker() as session, session.begin():
        conn = await raw_connection(session)
        await conn.execute(_RECORD, delivery.id, status, json.dumps([attempt.as_json()]), next_at, now)
        if delivery.push_subscription_id is not None and attempt.gone:
            await conn.execute(_REMOVE_SUBSCRIPTION, delivery.push_subscription_id)
        if delivery.webhook_id is not None:
            if attempt.succeeded:
                await conn.execute(_WEBHOOK_OK, delivery.webhook_id)
            else:
                disabled = await _after_failure(session, conn, delivery.webhook_id, now)
    return disabled


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
            "failing_since": row["failing_since"].astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "disabled_at": now.astimezone(UTC).isoformat().replace("+00:00", "Z"),
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
    events, else every second."""

    def __init__(
        self,
        database: Database,
        settings: Settings,
        hub: Hub | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        push_sender: PushSender | None = None,
        concurrency: int = CLAIM_BATCH,
    ) -> None:
        self.database = database
        self.settings = settings
        self.hub = hub
        self.clock = clock or (lambda: datetime.now(UTC))
        self.push_sender = push_sender
        self.concurrency = concurrency
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._client: httpx.AsyncClient | None = None
        self.sent = 0

    def wake(self) -> None:
        self._wake.set()

    async def start(self) -> None:
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=TIMEOUT_SECONDS,
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=20),
            trust_env=False,
        )
        if self.hub is not None:
            self.hub.add_waker(self.wake)
        self._task = asyncio.create_task(self._run(), name="events-delivery")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), POLL_SECONDS)
            self._wake.clear()
            try:
                await self.run_once()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                logger.warning("event delivery: %s; trying again shortly", type(exc).__name__)
                await asyncio.sleep(POLL_SECONDS)
            except Exception:
                logger.exception("event delivery failed; trying again shortly")
                await asyncio.sleep(POLL_SECONDS)

    async def run_once(self) -> int:
        """Dispatches what is new and sends what is due, until nothing is; the number sent."""
        assert self._client is not None, "start() first"
        sent = 0
        while True:
            while await dispatch(self.database, self.clock()) > 0:
                pass
            claimed = await claim(self.database, self.clock(), self.concurrency)
            if not claimed:
                return sent
            await asyncio.gather(*(self._deliver(d) for d in claimed))
            sent += len(claimed)
            self.sent += len(claimed)

    async def _deliver(self, delivery: Claimed) -> None:
        assert self._client is not None
        now = self.clock()
        if delivery.webhook_id is not None:
            attempt = await send_webhook(self._client, delivery, self.settings, now)
        elif self.push_sender is not None:
            attempt = await self.push_sender(self._client, delivery, self.settings, now)
        else:
            attempt = Attempt(at=now, error="push is not configured in this process")
        if await record(self.database, delivery, attempt, self.clock()) and self.hub is not None:
            self.hub.poke()
