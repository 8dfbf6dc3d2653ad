"""Moderation actions. Each one writes an `audit_log` row in the request's transaction; functions
take the request's session first and only flush."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.admin.models import AuditEntry
from app.admin.schemas import (
    AuditActor,
    AuditEntryOut,
    AuditTarget,
    ModeratedReview,
    ModeratedSpot,
    ModeratedUser,
)
from app.auth.models import LoginSession
from app.bookings import service as bookings
from app.errors import Conflict, Forbidden, NotFound
from app.pagination import PageParams, decode_cursor, encode_cursor
from app.reviews import service as reviews
from app.spots import service as spots
from app.spots.models import Spot
from app.users.models import User

ADMIN = "admin"
_WITH_OWNER = "the owner's account was suspended"


def require_admin(user: User) -> User:
    if user.role != ADMIN:
        raise Forbidden("only administrators may do this")
    return user


def record(
    session: AsyncSession,
    actor: User | None,
    action: str,
    target_type: str,
    target_id: uuid.UUID,
    now: datetime,
    *,
    reason: str | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        at=now,
        actor_id=actor.id if actor else None,
        action=action,
        target_type=target_type,
        target_id=target_id,
        reason=reason,
    )
    session.add(entry)
    return entry


async def _user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await session.scalar(select(User).where(col(User.id) == user_id).with_for_update())
    if user is None:
        raise NotFound("no such user")
    return user


def _moderated(user: User, cancelled: int = 0) -> ModeratedUser:
    return ModeratedUser(
        id=user.id,
        display_name=user.display_name,
        role=user.role,
        suspended_at=user.suspended_at,
        cancelled_bookings=cancelled,
    )


async def suspend(
    session: AsyncSession, admin: User, user_id: uuid.UUID, reason: str, now: datetime
) -> ModeratedUser:
    """The account cannot sign in, every sign-in of it ends (its tokens die at once), and its holds
    and requests as driver are cancelled; its confirmed bookings stay. Its listed spots are unlisted
    with it (a suspended owner takes no new bookings), each with its own audit row."""
    user = await _user(session, user_id)
    if user.id == admin.id:
        raise Conflict("you cannot suspend yourself")
    if user.suspended_at is not None:
        raise Conflict("this account is suspended already")
    user.suspended_at = now
    user.updated_at = now
    await session.execute(
        update(LoginSession)
        .where(col(LoginSession.user_id) == user.id, col(LoginSession.revoked_at).is_(None))
        .values(revoked_at=now, revoked_reason="suspended")
    )
    cancelled = await bookings.cancel_pending(
        session, now, reason="the driver's account was suspended", driver_id=user.id
    )
    record(session, admin, "user.suspend", "user", user.id, now, reason=reason)
    listed = await session.scalars(
        select(col(Spot.id)).where(
            col(Spot.owner_id) == user.id, col(Spot.deleted_at).is_(None), col(Spot.unlisted_at).is_(None)
        )
    )
    for spot_id in list(listed):
        spot = await spots.get(session, spot_id, for_update=True)
        spot.unlisted_at = now
        # Reinstating relists these, not the spots an admin unlisted on their own.
        spot.unlisted_with_owner = True
        cancelled += await bookings.cancel_pending(session, now, reason=_WITH_OWNER, spot_id=spot.id)
        record(session, admin, "spot.unlist", "spot", spot.id, now, reason=_WITH_OWNER)
    await session.flush()
    return _moderated(user, cancelled)


async def reinstate(session: AsyncSession, admin: User, user_id: uuid.UUID, now: datetime) -> ModeratedUser:
    user = await _user(session, user_id)
    if user.suspended_at is None:
        raise Conflict("this account is not suspended")
    with_it = await session.scalars(
        select(Spot)
        .where(col(Spot.owner_id) == user.id, col(Spot.unlisted_with_owner))
        .order_by(col(Spot.id))
        .with_for_update()
    )
    for spot in list(with_it):
        spot.unlisted_at = None
        spot.unlisted_with_owner = False
        record(
            session, admin, "spot.relist", "spot", spot.id, now, reason="the owner's account was reinstated"
        )
    user.suspended_at = None
    user.updated_at = now
    record(session, admin, "user.reinstate", "user", user.id, now)
    await session.flush()
    return _moderated(user)


async def unlist(
    session: AsyncSession, admin: User, spot_id: uuid.UUID, reason: str, now: datetime
) -> ModeratedSpot:
    """The spot leaves search and the public view and takes no new bookings; its holds and requests
    are cancelled, its confirmed bookings stay."""
    spot = await spots.get(session, spot_id, for_update=True)
    if spot.unlisted_with_owner:
        # Unlisted with its suspended owner, and now for its own sake: it stays unlisted when the
        # owner is reinstated.
        spot.unlisted_with_owner = False
        record(session, admin, "spot.unlist", "spot", spot.id, now, reason=reason)
        await session.flush()
        return ModeratedSpot(id=spot.id, title=spot.title, unlisted_at=spot.unlisted_at)
    if spot.unlisted_at is not None:
        raise Conflict("this spot is unlisted already")
    spot.unlisted_at = now
    cancelled = await bookings.cancel_pending(session, now, reason="the spot was unlisted", spot_id=spot.id)
    record(session, admin, "spot.unlist", "spot", spot.id, now, reason=reason)
    await session.flush()
    return ModeratedSpot(
        id=spot.id, title=spot.title, unlisted_at=spot.unlisted_at, cancelled_bookings=cancelled
    )


async def relist(session: AsyncSession, admin: User, spot_id: uuid.UUID, now: datetime) -> ModeratedSpot:
    spot = await spots.get(session, spot_id, for_update=True)
    if spot.unlisted_at is None:
        raise Conflict("this spot is not unlisted")
    spot.unlisted_at = None
    spot.unlisted_with_owner = False
    record(session, admin, "spot.relist", "spot", spot.id, now)
    await session.flush()
    return ModeratedSpot(id=spot.id, title=spot.title, unlisted_at=None)


async def hide_review(
    session: AsyncSession, admin: User, review_id: uuid.UUID, reason: str, now: datetime
) -> ModeratedReview:
    """The review leaves the spot's list, the booking's and every average; it is kept (with its
    reply) for the record. Hiding twice is 409."""
    review = await reviews.hide(session, review_id, now)
    record(session, admin, "review.hide", "review", review.id, now, reason=reason)
    await session.flush()
    assert review.hidden_at is not None
    return ModeratedReview(id=review.id, hidden_at=review.hidden_at)


async def set_role(session: AsyncSession, email: str, role: str, now: datetime) -> User:
    """`parkshare admin grant|revoke EMAIL`: audited with no actor (the command line)."""
    user = await session.scalar(select(User).where(col(User.email) == email.lower()).with_for_update())
    if user is None:
        raise NotFound(f"no account with the e-mail {email}")
    if user.role != role:
        user.role = role
        user.updated_at = now
        record(session, None, "admin.grant" if role == ADMIN else "admin.revoke", "user", user.id, now)
        await session.flush()
    return user


async def audit(session: AsyncSession, page: PageParams) -> tuple[list[AuditEntryOut], str | None]:
    """Newest first, with the acting admin's id and display name only."""
    query = select(AuditEntry, User).outerjoin(User, col(User.id) == AuditEntry.actor_id)
    if page.cursor is not None:
        query = query.where(tuple_(col(AuditEntry.at), col(AuditEntry.id)) < decode_cursor(page.cursor))
    query = query.order_by(col(AuditEntry.at).desc(), col(AuditEntry.id).desc()).limit(page.limit + 1)
    rows = [(row[0], row[1]) for row in (await session.execute(query)).all()]
    next_cursor = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        last = rows[-1][0]
        next_cursor = encode_cursor(last.at, last.id)
    return [
        AuditEntryOut(
            id=entry.id,
            at=entry.at,
            actor=AuditActor(id=actor.id, display_name=actor.display_name) if actor else None,
            action=entry.action,  # type: ignore[arg-type]
            target=AuditTarget(type=entry.target_type, id=entry.target_id),  # type: ignore[arg-type]
            reason=entry.reason,
        )
        for entry, actor in rows
    ], next_cursor
