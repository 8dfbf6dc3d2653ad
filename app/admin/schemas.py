from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel

from app.schemas import RequestModel, line


class ReasonRequest(RequestModel):
    reason: Annotated[str, line(500)]


class AuditActor(BaseModel):
    """Who acted: an admin, or null for the command line (`parkshare admin grant|revoke`)."""

    id: uuid.UUID
    display_name: str


class AuditTarget(BaseModel):
    type: Literal["user", "spot", "review"]
    id: uuid.UUID


class AuditEntryOut(BaseModel):
    """One admin action. Names no e-mail, token, password or access instructions."""

    id: uuid.UUID
    at: datetime
    actor: AuditActor | None
    action: Literal[
        "user.suspend",
        "user.reinstate",
        "spot.unlist",
        "spot.relist",
        "admin.grant",
        "admin.revoke",
        "review.hide",
    ]
    target: AuditTarget
    reason: str | None


class ModeratedUser(BaseModel):
    """An account after a moderation action: no e-mail, phone or anything else personal."""

    id: uuid.UUID
    display_name: str
    role: str
    suspended_at: datetime | None
    cancelled_bookings: int = 0


class ModeratedSpot(BaseModel):
    id: uuid.UUID
    title: str
    unlisted_at: datetime | None
    cancelled_bookings: int = 0


class ModeratedReview(BaseModel):
    id: uuid.UUID
    hidden_at: datetime
