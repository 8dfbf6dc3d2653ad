"""Requests and answers of the webhook routes (docs/api.md, "Webhooks")."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, Field, field_validator

from app.events import outbox
from app.schemas import RequestModel, ResponseModel, StrictBool, UtcDatetime, text, token

EventType = outbox.EventType
DeliveryStatus = Literal["pending", "succeeded", "failed"]

MAX_EVENT_TYPES = 20

WebhookUrl = Annotated[
    str,
    token(2000),
    Field(
        description="`https`, on a host that resolves to public addresses only; no user name or "
        "password, no fragment.",
        examples=["https://hooks.example.com/parkshare"],
    ),
]
EventTypes = Annotated[
    list[EventType],
    Field(min_length=1, max_length=MAX_EVENT_TYPES, description="Event types to send, each once."),
]
Description = Annotated[str, text(500)]


def _distinct(value: list[str] | None) -> list[str] | None:
    if value is not None and len(set(value)) != len(value):
        raise ValueError("name each event type once")
    return value


class WebhookCreate(RequestModel):
    url: WebhookUrl
    events: EventTypes
    description: Description | None = None

    _distinct_events = field_validator("events")(_distinct)


class WebhookPatch(RequestModel):
    """Only the fields that change; `description: null` removes it, the others cannot be null."""

    url: WebhookUrl | None = None
    events: EventTypes | None = None
    enabled: StrictBool | None = Field(
        default=None, description="`true` re-enables a disabled webhook and forgets its failures."
    )
    description: Description | None = None

    _distinct_events = field_validator("events")(_distinct)


class WebhookOut(ResponseModel):
    id: uuid.UUID
    url: str
    events: list[EventType]
    description: str | None
    enabled: bool
    failing_since: UtcDatetime | None = Field(
        description="Since when every attempt has failed; null after a success. Five days of it "
        "disable the webhook."
    )
    disabled_at: UtcDatetime | None
    created_at: UtcDatetime
    updated_at: UtcDatetime


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="`whsec_` and the base64 of the signing key: shown only now and on rotation."
    )


class WebhookSecret(BaseModel):
    secret: str = Field(description="The new signing secret, `whsec_...`.")
    previous_secret_expires_at: UtcDatetime = Field(
        description="Until then the previous secret signs too (a second signature)."
    )


class AttemptOut(BaseModel):
    at: UtcDatetime
    response_status: int | None = Field(description="The receiver's HTTP status; null if none came.")
    duration_ms: int
    error: str | None = Field(description="Why the attempt failed; null on success.")
    response_body: str | None = Field(description="At most the first 1 KiB of the answer.")


class DeliveryOut(BaseModel):
    id: uuid.UUID
    event_id: uuid.UUID = Field(description="The event's id, sent as `webhook-id`.")
    event_type: str
    status: DeliveryStatus
    attempts: list[AttemptOut]
    next_attempt_at: UtcDatetime | None = Field(description="When the next try is due; null when done.")
    created_at: UtcDatetime


class TestEventOut(BaseModel):
    event_id: uuid.UUID = Field(description="The `webhook.test` event's id, sent as `webhook-id`.")
