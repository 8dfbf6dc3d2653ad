"""`/v1/me/webhooks`: the signed-in user's webhooks and their deliveries (docs/api.md, "Webhooks")."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from sqlalchemy.ext.asyncio import AsyncSession

from app import openapi, ratelimit
from app.clock import Now
from app.db import DbSession
from app.errors import problem_openapi
from app.events import webhooks
from app.events.models import Webhook
from app.events.webhook_schemas import (
    AttemptOut,
    DeliveryOut,
    TestEventOut,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
    WebhookPatch,
    WebhookSecret,
)
from app.openapi import answer, problems, request_example
from app.pagination import PageParams, page_params
from app.schemas import Page, parse_id
from app.users.dependencies import CurrentUser
from app.users.models import User

router = APIRouter(prefix="/v1/me/webhooks", tags=["events"], responses=problem_openapi(401))


def allow_private(request: Request) -> bool:
    return bool(request.app.state.settings.webhook_allow_private_urls)


AllowPrivate = Annotated[bool, Depends(allow_private)]
Paging = Annotated[PageParams, Depends(page_params)]


def _out(webhook: Webhook) -> WebhookOut:
    return WebhookOut.model_validate(webhook)


def _delivery_out(view: webhooks.DeliveryView) -> DeliveryOut:
    d = view.delivery
    return DeliveryOut(
        id=d.id,
        event_id=view.event_id,
        event_type=view.event_type,
        status=d.status,  # type: ignore[arg-type]  # the table's check constraint
        attempts=[AttemptOut.model_validate(a) for a in d.attempts],
        next_attempt_at=d.next_attempt_at if d.status == "pending" else None,
        created_at=d.created_at,
    )


# Each test event or redelivery makes the service POST to a URL the caller chose: bounded, so that
# nobody can use it to flood someone else's server.
MANUAL_SENDS_PER_HOUR = 60


async def _manual_send(session: AsyncSession, user: User, now: datetime) -> None:
    await ratelimit.hit(
        session,
        f"webhook-sends:{user.id}",
        MANUAL_SENDS_PER_HOUR,
        timedelta(hours=1),
        now,
        "test events and redeliveries",
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    operation_id="createWebhook",
    responses=openapi.merge(
        answer(201, openapi.WEBHOOK_CREATED), problems("webhook_url_not_allowed", "conflict")
    ),
    openapi_extra=request_example(openapi.WEBHOOK_CREATE),
    summary="Subscribe a webhook",
    description="Answers the signing `secret` once (and again only on rotation): keep it. The URL "
    "must be `https` and resolve to public addresses only (422 `webhook_url_not_allowed`). An "
    f"account has at most {webhooks.MAX_WEBHOOKS} webhooks (409 `conflict`).",
)
async def create_webhook(
    body: WebhookCreate, user: CurrentUser, session: DbSession, now: Now, private: AllowPrivate
) -> WebhookCreated:
    webhook, secret = await webhooks.create(session, user, body, now, allow_private=private)
    return WebhookCreated(**_out(webhook).model_dump(), secret=secret)


@router.get(
    "",
    response_model=Page[WebhookOut],
    operation_id="listWebhooks",
    responses=answer(200, {"items": [openapi.WEBHOOK], "next_cursor": None}),
    summary="My webhooks",
)
async def list_webhooks(user: CurrentUser, session: DbSession, page: Paging) -> Page[WebhookOut]:
    found, next_cursor = await webhooks.list_mine(session, user, page)
    return Page[WebhookOut](items=[_out(w) for w in found], next_cursor=next_cursor)


@router.get(
    "/{webhook_id}",
    response_model=WebhookOut,
    operation_id="getWebhook",
    responses=openapi.merge(answer(200, openapi.WEBHOOK), problems("not_found")),
    summary="One of my webhooks",
)
async def get_webhook(webhook_id: str, user: CurrentUser, session: DbSession) -> WebhookOut:
    return _out(await webhooks.get(session, user, parse_id(webhook_id, "webhook")))


@router.patch(
    "/{webhook_id}",
    response_model=WebhookOut,
    operation_id="updateWebhook",
    responses=openapi.merge(answer(200, openapi.WEBHOOK), problems("not_found", "webhook_url_not_allowed")),
    openapi_extra=request_example(openapi.WEBHOOK_PATCH),
    summary="Change a webhook, disable or enable it",
    description="Name only what changes; `description: null` removes it. `enabled: true` re-enables a "
    "webhook that was disabled (by hand or after failing for 5 days) and forgets its failures.",
)
async def update_webhook(
    webhook_id: str,
    body: WebhookPatch,
    user: CurrentUser,
    session: DbSession,
    now: Now,
    private: AllowPrivate,
) -> WebhookOut:
    webhook = await webhooks.update(
        session, user, parse_id(webhook_id, "webhook"), body, now, allow_private=private
    )
    return _out(webhook)


@router.delete(
    "/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    operation_id="deleteWebhook",
    responses=problems("not_found"),
    summary="Delete a webhook",
    description="With its deliveries: nothing more is sent to it.",
)
async def delete_webhook(webhook_id: str, user: CurrentUser, session: DbSession) -> Response:
    await webhooks.delete(session, user, parse_id(webhook_id, "webhook"))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/{webhook_id}/rotate-secret",
    response_model=WebhookSecret,
    operation_id="rotateWebhookSecret",
    responses=openapi.merge(answer(200, openapi.WEBHOOK_SECRET), problems("not_found")),
    summary="Replace the signing secret",
    description="The previous secret keeps signing beside the new one for 24 hours (two signatures "
    "in `webhook-signature`), so the receiver can switch without losing an event.",
)
async def rotate_webhook_secret(
    webhook_id: str, user: CurrentUser, session: DbSession, now: Now
) -> WebhookSecret:
    secret, until = await webhooks.rotate_secret(session, user, parse_id(webhook_id, "webhook"), now)
    return WebhookSecret(secret=secret, previous_secret_expires_at=until)


@router.post(
    "/{webhook_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TestEventOut,
    operation_id="sendWebhookTest",
    responses=openapi.merge(
        answer(202, openapi.WEBHOOK_TEST), problems("not_found", "conflict", "rate_limited")
    ),
    summary="Send a test event",
    description="A `webhook.test` event, to this webhook only, delivered like any other: its "
    "delivery shows in the list. A disabled webhook is 409 `conflict`. Test events and "
    f"redeliveries together: at most {MANUAL_SENDS_PER_HOUR} an hour per account (429 `rate_limited`).",
)
async def send_webhook_test(webhook_id: str, user: CurrentUser, session: DbSession, now: Now) -> TestEventOut:
    await _manual_send(session, user, now)
    event_id = await webhooks.send_test(session, user, parse_id(webhook_id, "webhook"), now)
    return TestEventOut(event_id=event_id)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=Page[DeliveryOut],
    operation_id="listWebhookDeliveries",
    responses=openapi.merge(answer(200, openapi.DELIVERIES), problems("not_found")),
    summary="A webhook's deliveries, newest first",
    description="Each with its attempts: when, the receiver's status, how long it took, why it "
    "failed, and the first 1 KiB of the answer; `next_attempt_at` while it is pending.",
)
async def list_webhook_deliveries(
    webhook_id: str, user: CurrentUser, session: DbSession, page: Paging
) -> Page[DeliveryOut]:
    found, next_cursor = await webhooks.deliveries(session, user, parse_id(webhook_id, "webhook"), page)
    return Page[DeliveryOut](items=[_delivery_out(v) for v in found], next_cursor=next_cursor)


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryOut,
    operation_id="redeliverWebhookDelivery",
    responses=openapi.merge(
        answer(202, openapi.REDELIVERY), problems("not_found", "conflict", "rate_limited")
    ),
    summary="Send a delivery's event again",
    description="A new delivery of the same event (the same `webhook-id`), due now; it neither "
    "waits for nor holds up the booking's other events. A disabled webhook is 409 `conflict`. "
    f"At most {MANUAL_SENDS_PER_HOUR} test events and redeliveries an hour per account.",
)
async def redeliver_webhook_delivery(
    webhook_id: str, delivery_id: str, user: CurrentUser, session: DbSession, now: Now
) -> DeliveryOut:
    await _manual_send(session, user, now)
    view = await webhooks.redeliver(
        session, user, parse_id(webhook_id, "webhook"), parse_id(delivery_id, "delivery"), now
    )
    return _delivery_out(view)
