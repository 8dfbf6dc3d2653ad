"""Web Push routes: the server's public key, and the signed-in account's browser subscriptions
(docs/api.md, "Web Push"; the sending is `app.events.push.send`, run by the deliverer)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request, Response, status
from pydantic import AfterValidator, BaseModel, Field

from app import openapi
from app.clock import Now
from app.db import DbSession
from app.events import push
from app.openapi import answer, problems, request_example
from app.schemas import RequestModel, StrictInt, parse_id, token
from app.settings import Settings
from app.users.dependencies import CurrentUser

router = APIRouter(tags=["events"])

_B64URL = r"^[A-Za-z0-9_-]+={0,2}$"


class PushKeys(RequestModel):
    p256dh: Annotated[str, token(100), AfterValidator(push.browser_public_key)] = Field(
        pattern=_B64URL,
        description="The browser's P-256 public key: an uncompressed point (65 bytes), URL-safe base64",
    )
    auth: Annotated[str, token(40), AfterValidator(push.auth_secret)] = Field(
        pattern=_B64URL, description="The browser's authentication secret: 16 bytes, URL-safe base64"
    )


class PushSubscriptionCreate(RequestModel):
    """What the browser's `PushSubscription.toJSON()` gives."""

    endpoint: Annotated[str, token(2000)] = Field(
        description="The push service's URL for this browser: https, and on a public address"
    )
    keys: PushKeys
    # `toJSON()` has it too, so that its result can be sent as it is; the push service's 404 or
    # 410 after the expiry removes the subscription anyway.
    expiration_time: StrictInt | None = Field(
        default=None,
        alias="expirationTime",
        description="Ignored: accepted so that `toJSON()`'s result can be sent unchanged",
    )


class PushSubscriptionOut(BaseModel):
    id: str


class VapidPublicKeyOut(BaseModel):
    key: str = Field(
        description="The server's P-256 public key, uncompressed (65 bytes), URL-safe base64 without "
        "padding: `applicationServerKey` of `pushManager.subscribe()`"
    )


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.get(
    "/v1/push/vapid-public-key",
    response_model=VapidPublicKeyOut,
    operation_id="getVapidPublicKey",
    responses=answer(200, openapi.VAPID_PUBLIC_KEY),
    summary="The key to subscribe to Web Push with",
    description="Pass `key` as `applicationServerKey` to `pushManager.subscribe()` (decoded to "
    "bytes, or as the string where the browser takes one), then send the subscription to "
    "`subscribePush`. No sign-in needed. Subscriptions made with an earlier key stop working when "
    "the key changes: subscribe again when it differs from the one you subscribed with.",
)
async def get_vapid_public_key(request: Request, response: Response) -> VapidPublicKeyOut:
    response.headers["Cache-Control"] = "public, max-age=3600"
    return VapidPublicKeyOut(key=push.server_key(_settings(request)).public_key)


@router.post(
    "/v1/me/push-subscriptions",
    status_code=status.HTTP_201_CREATED,
    response_model=PushSubscriptionOut,
    operation_id="subscribePush",
    responses=openapi.merge(
        answer(201, openapi.PUSH_SUBSCRIPTION),
        problems("webhook_url_not_allowed", "conflict"),
        openapi.PUSH_ENDPOINT_REFUSED,
    ),
    openapi_extra=request_example(openapi.PUSH_SUBSCRIPTION_CREATE),
    summary="Receive your events as Web Push",
    description="Every event of your bookings is pushed to this browser as `{id, type, booking_id}` "
    "(encrypted, RFC 8291); fetch the rest with your token. Subscribing an endpoint again updates its "
    "keys and answers the same `id`; an endpoint another account subscribed becomes yours (with a "
    "new `id`). At most 20 per account: a 21st replaces the one subscribed longest ago. An endpoint "
    "that is not https or resolves to a non-public address is 422 `webhook_url_not_allowed`; keys "
    "that are not a P-256 point and a 16-byte secret are 422 `validation_error`.",
)
async def subscribe_push(
    body: PushSubscriptionCreate, request: Request, user: CurrentUser, session: DbSession, now: Now
) -> PushSubscriptionOut:
    subscription_id = await push.subscribe(
        session,
        user,
        now,
        endpoint=body.endpoint,
        p256dh=body.keys.p256dh,
        auth=body.keys.auth,
        allow_private=_settings(request).webhook_allow_private_urls,
    )
    return PushSubscriptionOut(id=str(subscription_id))


@router.delete(
    "/v1/me/push-subscriptions/{subscription_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    operation_id="unsubscribePush",
    responses=problems("not_found"),
    summary="Stop Web Push to a browser",
    description="Nothing more is pushed to it, also of events not yet sent. Another account's "
    "subscription is 404 `not_found`.",
)
async def unsubscribe_push(subscription_id: str, user: CurrentUser, session: DbSession) -> Response:
    await push.unsubscribe(session, user, parse_id(subscription_id, "push subscription"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
