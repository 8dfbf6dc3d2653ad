"""Web Push (RFC 8030, payloads encrypted per RFC 8291, signed with VAPID per RFC 8292): the
browser subscriptions of an account, and the sender that the deliverer (`app.events.delivery`)
calls for each event to a subscription.

A push passes through the browser maker's push service, so it carries only `{id, type,
booking_id}`: the app fetches the rest with its token. The push service is a URL the client
gives us, so it is checked like a webhook's (`app.events.urls`) when subscribed and before every
send. A subscription the push service answers 404 or 410 to has expired or was revoked and is
removed; other failures are retried on the webhooks' schedule (docs/events.md, "Web Push").
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from urllib.parse import urlsplit

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import raw_connection
from app.errors import Conflict, NotFound
from app.events import urls
from app.events.delivery import Attempt, Claimed, post
from app.settings import Settings
from app.users.models import User

# Per account; a new subscription beyond it replaces the one subscribed longest ago. Browsers
# replace their subscriptions without telling the app, so the oldest is the likeliest dead one.
MAX_SUBSCRIPTIONS = 20
# How long a push service keeps a push for a device that is offline (RFC 8030, 5.2). A reminder a
# day late is of no use; the app fetches what happened meanwhile when it next opens.
TTL_SECONDS = 86_400
# What a device should wake for at once (RFC 8030, 5.3): what needs the driver's action soon.
URGENT = frozenset(
    {
        "booking.held",
        "booking.starts_soon",
        "booking.ends_soon",
        "booking.overstayed",
        "booking.spot_occupied",
    }
)
# RFC 8292 allows at most 24 hours; a shorter one leaves room for the push service's clock.
VAPID_LIFETIME_SECONDS = 12 * 3600
USER_AGENT = "parkshare-push/1"
P256_POINT_BYTES = 65
AUTH_SECRET_BYTES = 16


# -- keys ------------------------------------------------------------------------------------------


_B64URL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    """URL-safe base64 with or without its padding, as browsers' `PushSubscription.toJSON()` writes
    it; ValueError for anything else (standard base64's `+` and `/` too)."""
    bare = text.rstrip("=")
    if not bare or len(text) - len(bare) > 2 or not set(bare) <= _B64URL or len(bare) % 4 == 1:
        raise ValueError("must be URL-safe base64")
    return base64.urlsafe_b64decode(bare + "=" * (-len(bare) % 4))


def browser_public_key(text: str) -> str:
    """A subscription's `p256dh`, unpadded: the browser's P-256 public key as an uncompressed point
    (65 bytes); ValueError for anything that is not one (also a point off the curve)."""
    raw = b64url_decode(text)
    if len(raw) != P256_POINT_BYTES or raw[0] != 4:
        raise ValueError("must be the URL-safe base64 of an uncompressed P-256 point (65 bytes)")
    try:
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
    except ValueError:
        raise ValueError("is not a point on the P-256 curve") from None
    return b64url(raw)


def auth_secret(text: str) -> str:
    """A subscription's `auth`, unpadded: 16 random bytes from the browser."""
    if len(b64url_decode(text)) != AUTH_SECRET_BYTES:
        raise ValueError(f"must be the URL-safe base64 of {AUTH_SECRET_BYTES} bytes")
    return text.rstrip("=")


@dataclass(frozen=True)
class ServerKey:
    private_key: ec.EllipticCurvePrivateKey
    # What browsers take as `applicationServerKey` and push services see as `k`: the uncompressed
    # point, URL-safe base64 without padding.
    public_key: str


@lru_cache(maxsize=4)
def _server_key(pem: bytes) -> ServerKey:
    key = serialization.load_pem_private_key(pem, password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return ServerKey(key, b64url(point))


def server_key(settings: Settings) -> ServerKey:
    """The VAPID key pair of these settings (generated once in development)."""
    pem = settings.vapid_key().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return _server_key(pem)


# -- subscriptions ---------------------------------------------------------------------------------

# The endpoint is the browser's: one that another account subscribed is this account's now (the
# browser was signed in again). Its old row goes, with whatever was still to be pushed to it for
# the other account, and a new one with a new id takes its place.
_LOCK_USER = "select 1 from users where id = $1 for no key update"
_DROP_OTHERS = "delete from push_subscriptions where endpoint = $1 and user_id <> $2"
# The same account subscribing again (apps do at every start) keeps the id and counts as recent.
_UPSERT = """
insert into push_subscriptions (id, user_id, endpoint, p256dh, auth, created_at)
values ($1, $2, $3, $4, $5, $6)
on conflict (endpoint) do update
    set p256dh = excluded.p256dh, auth = excluded.auth, created_at = excluded.created_at
    where push_subscriptions.user_id = excluded.user_id
returning id
"""
_TRIM = """
delete from push_subscriptions where id in (
    select id from push_subscriptions where user_id = $1
    order by created_at desc, id desc offset $2
)
"""
_REMOVE = "delete from push_subscriptions where id = $1 and user_id = $2"


async def subscribe(
    session: AsyncSession,
    user: User,
    now: datetime,
    *,
    endpoint: str,
    p256dh: str,
    auth: str,
    allow_private: bool,
) -> uuid.UUID:
    """Subscribes the browser at `endpoint` (checked like a webhook URL: 422
    `webhook_url_not_allowed`) for the user's events; its id."""
    await urls.check(endpoint, allow_private=allow_private)
    conn = await raw_connection(session)
    # One subscribe at a time per account, so that the limit holds.
    await conn.execute(_LOCK_USER, user.id)
    for _ in range(3):
        await conn.execute(_DROP_OTHERS, endpoint, user.id)
        found = await conn.fetchval(_UPSERT, uuid.uuid4(), user.id, endpoint, p256dh, auth, now)
        if found is not None:
            await conn.execute(_TRIM, user.id, MAX_SUBSCRIPTIONS)
            return uuid.UUID(str(found))
        # Another account subscribed the same endpoint between the two statements: again.
    raise Conflict("this push endpoint is being subscribed by another request; try again")


async def unsubscribe(session: AsyncSession, user: User, subscription_id: uuid.UUID) -> None:
    conn = await raw_connection(session)
    if await conn.execute(_REMOVE, subscription_id, user.id) != "DELETE 1":
        raise NotFound("no such push subscription")


# -- sending ---------------------------------------------------------------------------------------


def payload(delivery: Claimed) -> bytes:
    """All a push says: which event, of which kind, about which booking. Never the booking itself
    (an address, an access code, a plate): the push service could read nothing else, but it
    stores and forwards what it is given."""
    return json.dumps(
        {"id": str(delivery.event_id), "type": delivery.event_type, "booking_id": delivery.booking_id},
        separators=(",", ":"),
    ).encode()


def audience(endpoint: str) -> str:
    """RFC 8292's `aud`: the push resource's origin."""
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").lower()
    host = f"[{host}]" if ":" in host else host
    default = {"https": 443, "http": 80}.get(parts.scheme)
    port = "" if parts.port in (None, default) else f":{parts.port}"
    return f"{parts.scheme}://{host}{port}"


def vapid_header(settings: Settings, endpoint: str) -> str:
    """`Authorization: vapid t=<ES256 JWT>,k=<public key>` (RFC 8292, 3)."""
    claims = {
        "aud": audience(endpoint),
        # The wall clock, not the app's: the push service compares `exp` with its own clock.
        "exp": int(time.time()) + VAPID_LIFETIME_SECONDS,
        "sub": settings.vapid_subject,
    }
    # Imported here, not at the top: py_vapid and pywebpush (with the HTTP stacks they bring) take
    # about 23 MB in each process, and only a process that sends pushes needs them (serving
    # processes with SCHEDULER_ENABLED=false never do; docs/scaling.md, worker memory).
    from py_vapid import jwt as vapid_jwt

    key = server_key(settings)
    # py_vapid's signer without `Vapid.sign`'s checks, which refuse an IPv6 origin; `sub` is
    # checked with the settings.
    token: str = vapid_jwt.sign(claims, key.private_key)
    return f"vapid t={token},k={key.public_key}"


async def send(client: httpx.AsyncClient, delivery: Claimed, settings: Settings, now: datetime) -> Attempt:
    """Encrypts the event's ids for the subscription and POSTs them to its push service (through
    `delivery.post`: the endpoint is checked and its checked address used). 201 is success; 404
    and 410 mean the subscription is gone."""
    from pywebpush import WebPusher, WebPushException  # see vapid_header

    endpoint, p256dh, auth = delivery.endpoint, delivery.p256dh, delivery.auth
    if endpoint is None or p256dh is None or auth is None:  # pragma: no cover - the deliverer's join
        return Attempt(at=now, error="not a push delivery")
    try:
        pusher = WebPusher({"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}})
        body: bytes = pusher.encode(payload(delivery), content_encoding="aes128gcm")["body"]
    except (WebPushException, ValueError, TypeError):
        # The keys were checked when subscribed; keys that cannot encrypt never will.
        return Attempt(at=now, error="the subscription's keys cannot encrypt a push", gone=True)
    headers = {
        "authorization": vapid_header(settings, endpoint),
        "content-encoding": "aes128gcm",
        "content-type": "application/octet-stream",
        "ttl": str(TTL_SECONDS),
        "urgency": "high" if delivery.event_type in URGENT else "normal",
        "user-agent": USER_AGENT,
        # No `Topic`: a push with the topic of one still undelivered replaces it, and every event
        # is to arrive.
    }
    attempt = await post(
        client,
        endpoint,
        body,
        headers,
        allow_private=settings.webhook_allow_private_urls,
        now=now,
    )
    attempt.gone = attempt.response_status in (404, 410)
    return attempt
