"""Reviews: writing one after a booking, the reply, what is shown to whom, and hiding one.

Driver and owner review each other once per booking, from its end until 14 days later
(`booking.reviews`). Each review is hidden until the other party has written theirs or the window
is over: `visible_at` holds that instant (set to the window's close when the first review is
written, moved to now for both when the second is), so every read is `visible_at <= now` on the
request's clock and nothing has to run when the 14 days are over.

Who sees what: the drivers' reviews of a spot are public (`GET /v1/spots/{id}/reviews`, the spot's
`rating`); the owners' reviews of a driver count only in the driver's rating, which the owner of a
request-to-book spot sees while a request of that driver waits; their texts are shown to the
booking's two parties only. Authors are named by display name, never by e-mail or id.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Select, or_, select, tuple_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.bookings import service as bookings
from app.bookings.errors import InvalidTransition
from app.errors import Conflict, Forbidden, NotFound
from app.pagination import PageParams, decode_cursor, encode_cursor
from app.reviews.models import Review
from app.reviews.schemas import ReplyCreate, ReviewCreate, ReviewOut
from app.schemas import parse_id
from app.spots.models import Spot
from app.users.models import User
from booking.reviews import ReviewRefusal, closes_at, review_refusal, visible_at
from booking.states import Actor


class ReviewWindowClosed(Conflict):
    code = "review_window_closed"


async def create(
    session: AsyncSession, user: User, booking_id: str, data: ReviewCreate, now: datetime
) -> ReviewOut:
    # A stranger finds no such booking (404), as with GET /v1/bookings/{id}. The lock makes the
    # two parties' reviews of one booking take turns, so the second always sees the first and
    # shows both at once.
    booking, actor = await bookings.get(session, user, booking_id, for_update=True)
    unsettled = bookings.parked(booking) or (
        bool(booking.check_in_required) and booking.checked_in_at is None and booking.spot_occupied_at is None
    )
    refusal = review_refusal(booking.status, booking.end_at, now, settled=not unsettled)
    if refusal is ReviewRefusal.not_over:
        raise InvalidTransition(f"a {booking.status} booking cannot be reviewed before it is completed")
    if refusal is ReviewRefusal.window_closed:
        raise ReviewWindowClosed(
            f"reviews of this booking closed at {closes_at(booking.end_at).isoformat()} (14 days after its end)"
        )
    written = {
        role: review_id
        for role, review_id in await session.execute(
            select(col(Review.author_role), col(Review.id)).where(col(Review.booking_id) == booking.id)
        )
    }
    if actor.value in written:
        raise Conflict("you have reviewed this booking already")
    other = Actor.owner if actor is Actor.driver else Actor.driver
    owner_id = await session.scalar(select(col(Spot.owner_id)).where(col(Spot.id) == booking.spot_id))
    assert owner_id is not None  # a booking's spot row is never removed
    review = Review(
        booking_id=booking.id,
        spot_id=booking.spot_id,
        author_id=user.id,
        subject_id=booking.driver_id if actor is Actor.owner else owner_id,
        author_role=actor.value,
        rating=data.rating,
        comment=data.comment,
        created_at=now,
        visible_at=visible_at(booking.end_at, now, other_written=other.value in written),
    )
    session.add(review)
    try:
        await session.flush()
    except IntegrityError as exc:
        # The unique constraint: another request of the same author got there first.
        if "uq_reviews_booking_id_author_role" in str(exc.orig):
            raise Conflict("you have reviewed this booking already") from exc
        raise
    if other.value in written:
        # The second review: both are shown from now on.
        await session.execute(
            update(Review)
            .where(col(Review.id) == written[other.value], col(Review.visible_at) > now)
            .values(visible_at=now)
        )
    return _out(review, user.display_name)


def _out(review: Review, author_name: str) -> ReviewOut:
    return ReviewOut.model_validate(
        {
            "id": review.id,
            "booking_id": review.booking_id,
            "spot_id": review.spot_id,
            "author_role": review.author_role,
            "author": {"display_name": author_name},
            "rating": review.rating,
            "comment": review.comment,
            "created_at": review.created_at,
            "visible_at": review.visible_at,
            "reply": (
                {"comment": review.reply_comment, "created_at": review.replied_at}
                if review.replied_at is not None
                else None
            ),
        }
    )


def _with_author() -> Select[Review, str]:
    return select(Review, col(User.display_name)).join(User, col(User.id) == Review.author_id)


async def list_for_spot(
    session: AsyncSession, spot: Spot, page: PageParams, now: datetime
) -> tuple[list[ReviewOut], str | None]:
    """The drivers' shown reviews of the spot, the most recently shown first."""
    query = _with_author().where(
        col(Review.spot_id) == spot.id,
        col(Review.author_role) == Actor.driver.value,
        col(Review.hidden_at).is_(None),
        col(Review.visible_at) <= now,
    )
    if page.cursor is not None:
        query = query.where(tuple_(col(Review.visible_at), col(Review.id)) < decode_cursor(page.cursor))
    query = query.order_by(col(Review.visible_at).desc(), col(Review.id).desc()).limit(page.limit + 1)
    rows = [(row[0], row[1]) for row in (await session.execute(query)).all()]
    next_cursor = None
    if len(rows) > page.limit:
        rows = rows[: page.limit]
        last = rows[-1][0]
        next_cursor = encode_cursor(last.visible_at, last.id)
    return [_out(review, name) for review, name in rows], next_cursor


async def of_booking(session: AsyncSession, user: User, booking_id: str, now: datetime) -> list[ReviewOut]:
    """A booking's reviews as one of its parties sees them: their own always, the other's once it
    is shown; hidden ones not."""
    booking, _ = await bookings.get(session, user, booking_id)
    rows = await session.execute(
        _with_author()
        .where(col(Review.booking_id) == booking.id, col(Review.hidden_at).is_(None))
        .order_by(col(Review.created_at), col(Review.id))
    )
    return [
        _out(review, name) for review, name in rows if review.author_id == user.id or review.visible_at <= now
    ]


async def reply(
    session: AsyncSession, user: User, review_id: str, data: ReplyCreate, now: datetime
) -> ReviewOut:
    """The reviewed party answers a shown review, once."""
    row = (
        await session.execute(
            _with_author()
            .where(col(Review.id) == parse_id(review_id, "review"), col(Review.hidden_at).is_(None))
            .with_for_update(of=Review)
        )
    ).first()
    review, name = (row[0], row[1]) if row is not None else (None, "")
    if review is None or not _sees(review, user, now):
        raise NotFound("no such review")
    if review.subject_id != user.id:
        raise Forbidden("only the reviewed party may answer a review")
    if review.replied_at is not None:
        raise Conflict("you have answered this review already")
    review.reply_comment = data.comment
    review.replied_at = now
    await session.flush()
    return _out(review, name)


def _sees(review: Review, user: User, now: datetime) -> bool:
    """Whether `user` may know of the review: its author always; a driver's review of a spot, once
    shown, everyone; an owner's review of a driver, once shown, the driver."""
    if review.author_id == user.id:
        return True
    if review.visible_at > now:
        return False
    return review.author_role == Actor.driver.value or review.subject_id == user.id


async def hide(session: AsyncSession, review_id: uuid.UUID, now: datetime) -> Review:
    """An admin takes the review out of every list and average; app/admin/ writes the audit row."""
    review = await session.scalar(select(Review).where(col(Review.id) == review_id).with_for_update())
    if review is None:
        raise NotFound("no such review")
    if review.hidden_at is not None:
        raise Conflict("this review is hidden already")
    review.hidden_at = now
    await session.flush()
    return review


class Exported(NamedTuple):
    written: list[tuple[ReviewOut, datetime | None]]
    received: list[tuple[ReviewOut, datetime | None]]


async def exported(session: AsyncSession, user: User, now: datetime) -> Exported:
    """The reviews the account wrote (all) and those of it that are shown (with the time an admin
    hid one): a review of it still waiting for its own is not shown to it before the other party
    would see it, or it could answer it."""
    rows = await session.execute(
        _with_author()
        .where(or_(col(Review.author_id) == user.id, col(Review.subject_id) == user.id))
        .order_by(col(Review.created_at), col(Review.id))
    )
    written: list[tuple[ReviewOut, datetime | None]] = []
    received: list[tuple[ReviewOut, datetime | None]] = []
    for review, name in rows:
        if review.author_id == user.id:
            written.append((_out(review, name), review.hidden_at))
        elif review.visible_at <= now:
            received.append((_out(review, name), review.hidden_at))
    return Exported(written, received)


async def erase_texts(session: AsyncSession, user: User) -> None:
    """The account's words go, its ratings stay: the other party's average is theirs too. Its
    reviews lose their comment, its replies (to reviews of it) their text but not their date, so
    that "once" still holds."""
    await session.execute(update(Review).where(col(Review.author_id) == user.id).values(comment=None))
    await session.execute(update(Review).where(col(Review.subject_id) == user.id).values(reply_comment=None))
