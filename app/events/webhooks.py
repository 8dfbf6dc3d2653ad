"""A user's webhooks: subscribing, changing, rotating the secret, test events and the deliveries
with their redelivery (docs/api.md, "Webhooks"; docs/events.md). Sending is app/events/delivery.py.

Services take the request's session first and only flush; the route's transaction commits."""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.errors import Conflict, NotFound, ValidationProblem
from app.events import delivery, outbox, urls
from app.events.models import Delivery, Event, Webhook
from app.events.webhook_schemas import WebhookCreate, WebhookPatch
from app.pagination import PageParams, paginate
from app.users.models import User

MAX_WEBHOOKS = 10  # per user
SECRET_BYTES = 32
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
# After a rotation the previous secret signs beside the new one this long, so receivers can switch.
PREVIOUS_SECRET_TTL = timedelta(hours=24)


class TooManyWebhooks(Conflict):
    pass


class WebhookDisabled(Conflict):
    pass


def new_secret() -> str:
    """A signing secret as Standard Webhooks writes it: `whsec_` and the base64 of random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


async def _lock_user_webhooks(session: AsyncSession, user: User) -> None:
    """Two concurrent creations by one user count each other (the limit holds)."""
    await session.execute(select(func.pg_advisory_xact_lock(func.hashtextextended(f"webhooks:{user.id}", 0))))


async def create(
    session: AsyncSession, user: User, data: WebhookCreate, now: datetime, *, allow_private: bool
) -> tuple[Webhook, str]:
    """The new webhook and its secret (the only time the secret is answered besides rotation)."""
    await urls.check(data.url, allow_private=allow_private)
    await _lock_user_webhooks(session, user)
    count = await session.scalar(
        select(func.count()).select_from(Webhook).where(col(Webhook.user_id) == user.id)
    )
    if (count or 0) >= MAX_WEBHOOKS:
        raise TooManyWebhooks(f"an account has at most {MAX_WEBHOOKS} webhooks; delete one first")
    secret = new_secret()
    webhook = Webhook(
        user_id=user.id,
        url=data.url,
        events=list(data.events),
        description=data.description,
        secret=secret,
        created_at=now,
        updated_at=now,
    )
    session.add(webhook)
    await session.flush()
    return webhook, secret


async def list_mine(session: AsyncSession, user: User, page: PageParams) -> tuple[list[Webhook], str | None]:
    return await paginate(session, select(Webhook).where(col(Webhook.user_id) == user.id), Webhook, page)


async def get(
    session: AsyncSession, user: User, webhook_id: uuid.UUID, *, for_update: bool = False
) -> Webhook:
    """The user's webhook, or 404: another user's is not found either."""
    query = select(Webhook).where(col(Webhook.id) == webhook_id, col(Webhook.user_id) == user.id)
    if for_update:
        query = query.with_for_update()
    webhook = await session.scalar(query)
    if webhook is None:
        raise NotFound("no such webhook")
    return webhook


async def update(
    session: AsyncSession,
    user: User,
    webhook_id: uuid.UUID,
    patch: WebhookPatch,
    now: datetime,
    *,
    allow_private: bool,
) -> Webhook:
    changes = patch.model_dump(exclude_unset=True)
    for name in ("url", "events", "enabled"):
        if name in changes and changes[name] is None:
            raise ValidationProblem.field(name, "cannot be null")
    if "url" in changes:
        # Before the row lock: a lock gives the transaction an id, and every reader of the outbox
        # waits for open transactions with ids (docs/decisions/0007); a slow DNS answer must not
        # hold everyone's events back.
        await urls.check(changes["url"], allow_private=allow_private)
    webhook = await get(session, user, webhook_id, for_update=True)
    if "url" in changes and changes["url"] != webhook.url:
        webhook.url = changes["url"]
        webhook.failing_since = None  # the old URL's failures say nothing about the new one
    if "events" in changes:
        webhook.events = list(changes["events"])
    if "description" in changes:
        webhook.description = changes["description"]
    if "enabled" in changes and changes["enabled"] != webhook.enabled:
        webhook.enabled = changes["enabled"]
        # Enabled again: its failures are forgiven. Disabled by hand: since now.
        webhook.failing_since = None if webhook.enabled else webhook.failing_since
        webhook.disabled_at = None if webhook.enabled else now
        if not webhook.enabled:
            await delivery.give_up_pending(session, webhook.id, now, "the webhook was disabled by its owner")
    if changes:
        webhook.updated_at = now
    await session.flush()
    return webhook


async def delete(session: AsyncSession, user: User, webhook_id: uuid.UUID) -> None:
    """With its deliveries and test events (the foreign keys cascade)."""
    webhook = await get(session, user, webhook_id, for_update=True)
    await session.delete(webhook)
    await session.flush()


async def rotate_secret(
    session: AsyncSession, user: User, webhook_id: uuid.UUID, now: datetime
) -> tuple[str, datetime]:
    """A new secret; the one it replaces keeps signing for PREVIOUS_SECRET_TTL. Rotating again
    within that time drops the older one: at most two secrets sign at once."""
    webhook = await get(session, user, webhook_id, for_update=True)
    secret = new_secret()
    webhook.previous_secret = webhook.secret
    webhook.previous_secret_expires_at = now + PREVIOUS_SECRET_TTL
    webhook.secret = secret
    webhook.updated_at = now
    await session.flush()
    return secret, webhook.previous_secret_expires_at


async def send_test(session: AsyncSession, user: User, webhook_id: uuid.UUID, now: datetime) -> uuid.UUID:
    """A `webhook.test` event for this webhook only; the deliverers send it like any other."""
    webhook = await get(session, user, webhook_id)
    if not webhook.enabled:
        raise WebhookDisabled("the webhook is disabled; enable it first")
    data = {"webhook": {"id": str(webhook.id), "url": webhook.url, "description": webhook.description}}
    event = outbox.NewEvent(
        type=outbox.WEBHOOK_TEST,
        created_at=now,
        data=json.dumps(data),
        owner_id=user.id,
        webhook_id=webhook.id,
    )
    await outbox.add(session, [event])
    return event.id


@dataclass(frozen=True)
class DeliveryView:
    delivery: Delivery
    event_id: uuid.UUID
    event_type: str


def _seq_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(json.dumps(["delivery", seq]).encode()).decode().rstrip("=")


def _after_seq(cursor: str) -> int:
    try:
        kind, seq = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if kind != "delivery" or not isinstance(seq, int) or isinstance(seq, bool) or not 0 < seq < 2**63:
            raise ValueError("not ours")
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise ValidationProblem.field(
            "cursor", "not a cursor this service issued", "cursor_invalid", where="query"
        ) from None
    return seq


async def deliveries(
    session: AsyncSession, user: User, webhook_id: uuid.UUID, page: PageParams
) -> tuple[list[DeliveryView], str | None]:
    """The webhook's deliveries, newest first (in the order they were made)."""
    webhook = await get(session, user, webhook_id)
    query = (
        select(Delivery, Event.id, Event.type)  # type: ignore[call-overload]
        .join(Event, col(Event.seq) == col(Delivery.event_seq))
        .where(col(Delivery.webhook_id) == webhook.id)
        .order_by(col(Delivery.seq).desc())
        .limit(page.limit + 1)
    )
    if page.cursor is not None:
        query = query.where(col(Delivery.seq) < _after_seq(page.cursor))
    rows = (await session.execute(query)).all()
    views = [DeliveryView(delivery, event_id, event_type) for delivery, event_id, event_type in rows]
    if len(views) <= page.limit:
        return views, None
    views = views[: page.limit]
    last = views[-1].delivery.seq
    assert last is not None
    return views, _seq_cursor(last)


async def redeliver(
    session: AsyncSession, user: User, webhook_id: uuid.UUID, delivery_id: uuid.UUID, now: datetime
) -> DeliveryView:
    """The same event to the same webhook once more, due now. It has no place in its booking's
    order: it neither waits for nor holds up other deliveries."""
    webhook = await get(session, user, webhook_id)
    row = (
        await session.execute(
            select(Delivery, Event.id, Event.type)  # type: ignore[call-overload]
            .join(Event, col(Event.seq) == col(Delivery.event_seq))
            .where(col(Delivery.id) == delivery_id, col(Delivery.webhook_id) == webhook.id)
        )
    ).first()
    if row is None:
        raise NotFound("no such delivery")
    if not webhook.enabled:
        raise WebhookDisabled("the webhook is disabled; enable it first")
    original, event_id, event_type = row
    again = Delivery(
        event_seq=original.event_seq,
        webhook_id=webhook.id,
        order_key=None,
        status="pending",
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
    )
    session.add(again)
    await session.flush()
    await session.refresh(again)  # its seq, from the identity
    return DeliveryView(again, event_id, event_type)
