"""Everything stored about an account, exported (GDPR Art. 15/20) or erased (Art. 17).

Both touch every domain, so this package stands at the top beside search and calendars. `EXPORTED`,
`NOT_EXPORTED` and `ERASURE` name every table that refers to an account (directly, or through one
of its spots, bookings, sign-ins or webhooks); tests/test_privacy.py fails when a new table is in
none of them.

Erasure, in the request's one transaction: the account's spots are withdrawn (their future
bookings cancelled with a full refund, through the spots' withdrawal hooks), its active bookings
as driver are cancelled under the spot's policy (`bookings.service.change`), and only then is the
personal data erased, so the other party's events are written as usual. The account row stays, with
a placeholder e-mail and name, so that bookings keep their driver and the other party's history is
intact. Events in the outbox of the account's bookings keep their place in the other party's
stream, but their copy of the driver's name and plate is replaced (`_scrub_events`)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.models import LoginSession, RefreshToken
from app.auth.service import Auth
from app.availability.models import AvailabilityBlackout, AvailabilityRule, AvailabilityWindow
from app.availability.router import rule_out, span_out
from app.availability.schemas import BlackoutOut, WindowOut
from app.bookings import series, views
from app.bookings import service as bookings
from app.bookings.models import Booking, IdempotencyKey
from app.bookings.schemas import BookingOut
from app.calendars.models import CalendarToken
from app.events.models import Event, PushSubscription, Webhook
from app.events.webhook_schemas import WebhookOut
from app.mail.models import Mail
from app.privacy.schemas import (
    AccountExport,
    ExportedCalendarFeed,
    ExportedConsent,
    ExportedEvent,
    ExportedMail,
    ExportedPushSubscription,
    ExportedRefreshToken,
    ExportedReview,
    ExportedSession,
    ExportedSpot,
    ExportedVehicle,
)
from app.reviews import service as reviews
from app.spots import hooks as spot_hooks
from app.spots import service as spots
from app.spots.models import Spot
from app.users.models import AccountToken, User, Vehicle
from app.users.schemas import UserOut
from app.users.service import check_password
from booking.states import ACTIVE, Action, Status

# Table -> where the export shows it.
EXPORTED: dict[str, str] = {
    "users": "profile",
    "vehicles": "vehicles",
    "spots": "spots",
    "availability_rules": "spots[].rules",
    "availability_windows": "spots[].windows",
    "availability_blackouts": "spots[].blackouts",
    "bookings": "bookings_as_driver, bookings_as_owner",
    "booking_events": "bookings_as_driver[].events, bookings_as_owner[].events",
    "booking_series": "booking_series (the driver's series with their occurrences; each occurrence is "
    "also in bookings_as_driver, with its series_id)",
    "webhooks": "webhooks (without their secrets)",
    "push_subscriptions": "push_subscriptions (without their keys)",
    "login_sessions": "sign_in_sessions",
    "refresh_tokens": "sign_in_sessions[].refresh_tokens (times only, never the hash)",
    "calendar_tokens": "calendar_feeds (that one exists and since when, never the hash)",
    "events": "events (the outbox's events addressed to the account, kept at least 7 days)",
    "mails": "emails (to whom, what and when; never the links, whose tokens are erased once sent)",
    "reviews": "reviews_written (all), reviews_received (once shown)",
}
# Table -> why it is not part of the export; the export names these in `not_exported`.
NOT_EXPORTED: dict[str, str] = {
    "idempotency_keys": "internal: the first answer to a retried POST, replayed for 24 hours; "
    "that answer is in the export as the booking itself",
    "deliveries": "internal: the attempts to send the events to a webhook or push subscription, "
    "answered by GET /v1/me/webhooks/{id}/deliveries",
    "spot_open_ranges": "derived: a spot's rules, windows and blackouts, expanded for search",
    "rate_limits": "internal: counters of sign-in attempts per address and e-mail, kept for one window",
    "audit_log": "internal: the record of admins' moderation actions (an account's suspension, an "
    "admin's own actions); the account's present state is in the profile",
    "account_tokens": "internal: hashes of the single-use links mailed to the account (valid for hours); "
    "the mails themselves are in `emails`",
}
# Table -> what erasure does to its rows of the account.
ERASURE: dict[str, str] = {
    "users": "kept as a pseudonymous row: placeholder e-mail and name, no phone, an unusable password",
    "vehicles": "kept for old bookings, removed, the plate replaced",
    "spots": "withdrawn; address, exact location (rounded), description and access instructions erased",
    "availability_rules": "kept with the withdrawn spot (no personal data)",
    "availability_windows": "kept with the withdrawn spot (no personal data)",
    "availability_blackouts": "kept with the withdrawn spot; the free-text reason erased",
    "spot_open_ranges": "cleared by the spot's withdrawal",
    "bookings": "active ones cancelled; the rows stay for the other party and for bookkeeping",
    "booking_events": "kept (times, statuses and account ids only)",
    "booking_series": "kept (the weekly pattern, dates and account ids only; no personal data): its "
    "future occurrences are cancelled with the driver's other active bookings, or by the withdrawal "
    "of the owner's spot; the row stays because the occurrences' bookings point to it",
    "webhooks": "deleted (with their deliveries)",
    "deliveries": "deleted with the webhooks and push subscriptions",
    "push_subscriptions": "deleted",
    "login_sessions": "deleted: every access and refresh token stops working at once",
    "refresh_tokens": "deleted with their sign-ins",
    "calendar_tokens": "deleted: the feeds stop answering",
    "events": "events of no booking deleted; booking events keep their place in the other party's "
    "stream with the driver's name and plate replaced",
    "idempotency_keys": "deleted (the replayed answers carry the name and plate)",
    "rate_limits": "the failed sign-in counter of the e-mail deleted",
    "audit_log": "kept: account ids, actions, times and reasons only, the record of moderation",
    "mails": "deleted (addresses and texts)",
    "account_tokens": "deleted: no link mailed before works",
    "reviews": "kept with their ratings (the other party's average counts them); the comments the "
    "account wrote and its replies erased; its name in them is the placeholder",
}

DELETED_NAME = "Deleted user"
DELETED_PLATE = "DELETED"
ERASED = "-"
# Not a hash the password hasher accepts: no password verifies against it.
UNUSABLE_HASH = "!erased"


# --- Export -----------------------------------------------------------------------------------


async def export(session: AsyncSession, user: User, now: datetime) -> AccountExport:
    written, received = await reviews.exported(session, user, now)
    return AccountExport(
        exported_at=now,
        profile=UserOut.model_validate(user),
        vehicles=await _vehicles(session, user),
        spots=await _spots(session, user, now),
        bookings_as_driver=await _bookings(session, user, now, as_owner=False),
        bookings_as_owner=await _bookings(session, user, now, as_owner=True),
        booking_series=await series.series_of_driver(session, user, now),
        reviews_written=[_review(out, hidden_at) for out, hidden_at in written],
        reviews_received=[_review(out, hidden_at) for out, hidden_at in received],
        webhooks=[
            WebhookOut.model_validate(w)
            for w in await session.scalars(
                select(Webhook).where(col(Webhook.user_id) == user.id).order_by(col(Webhook.created_at))
            )
        ],
        push_subscriptions=[
            ExportedPushSubscription(id=p.id, endpoint=p.endpoint, created_at=p.created_at)
            for p in await session.scalars(
                select(PushSubscription)
                .where(col(PushSubscription.user_id) == user.id)
                .order_by(col(PushSubscription.created_at))
            )
        ],
        sign_in_sessions=await _sessions(session, user),
        calendar_feeds=[
            ExportedCalendarFeed(spot_id=t.spot_id, created_at=t.created_at)
            for t in await session.scalars(
                select(CalendarToken)
                .where(col(CalendarToken.user_id) == user.id)
                .order_by(col(CalendarToken.created_at))
            )
        ],
        events=await _events(session, user),
        emails=[
            ExportedMail(
                kind=m.kind,
                to=m.to_address,
                subject=m.subject,
                created_at=m.created_at,
                sent_at=m.sent_at,
                failed_at=m.failed_at,
            )
            for m in await session.scalars(
                select(Mail).where(col(Mail.user_id) == user.id).order_by(col(Mail.created_at), col(Mail.id))
            )
        ],
        consents=await _consents(session, user),
        not_exported=dict(NOT_EXPORTED),
    )


def _review(out: Any, hidden_at: datetime | None) -> ExportedReview:
    return ExportedReview.model_validate({**out.model_dump(), "hidden_at": hidden_at})


async def _consents(session: AsyncSession, user: User) -> list[ExportedConsent]:
    given: list[ExportedConsent] = []
    for p in await session.scalars(select(PushSubscription).where(col(PushSubscription.user_id) == user.id)):
        given.append(
            ExportedConsent(
                purpose="push_notifications",
                given_at=p.created_at,
                withdrawn_by=f"DELETE /v1/me/push-subscriptions/{p.id}",
            )
        )
    for w in await session.scalars(select(Webhook).where(col(Webhook.user_id) == user.id)):
        given.append(
            ExportedConsent(
                purpose="webhook", given_at=w.created_at, withdrawn_by=f"DELETE /v1/me/webhooks/{w.id}"
            )
        )
    for t in await session.scalars(select(CalendarToken).where(col(CalendarToken.user_id) == user.id)):
        route = f"/v1/spots/{t.spot_id}/calendar-token" if t.spot_id else "/v1/me/calendar-token"
        given.append(
            ExportedConsent(
                purpose="calendar_feed",
                given_at=t.created_at,
                withdrawn_by=f"POST {route} (a new link ends the old one)",
            )
        )
    return sorted(given, key=lambda c: c.given_at)


async def _vehicles(session: AsyncSession, user: User) -> list[ExportedVehicle]:
    rows = await session.scalars(
        select(Vehicle).where(col(Vehicle.owner_id) == user.id).order_by(col(Vehicle.created_at))
    )
    return [
        ExportedVehicle(
            id=v.id,
            license_plate=v.license_plate,
            length_cm=v.length_cm,
            width_cm=v.width_cm,
            height_cm=v.height_cm,
            electric=v.electric,
            created_at=v.created_at,
            removed_at=v.deleted_at,
        )
        for v in rows
    ]


async def _spots(session: AsyncSession, user: User, now: datetime) -> list[ExportedSpot]:
    owned = list(
        await session.scalars(
            select(Spot).where(col(Spot.owner_id) == user.id).order_by(col(Spot.created_at), col(Spot.id))
        )
    )
    ids = [s.id for s in owned]
    rules: dict[uuid.UUID, list[Any]] = {i: [] for i in ids}
    windows: dict[uuid.UUID, list[Any]] = {i: [] for i in ids}
    blackouts: dict[uuid.UUID, list[Any]] = {i: [] for i in ids}
    kinds: list[tuple[Any, dict[uuid.UUID, list[Any]]]] = [
        (AvailabilityRule, rules),
        (AvailabilityWindow, windows),
        (AvailabilityBlackout, blackouts),
    ]
    for model, target in kinds:
        for row in await session.scalars(
            select(model).where(col(model.spot_id).in_(ids)).order_by(col(model.created_at), col(model.id))
        ):
            target[row.spot_id].append(row)
    ratings = await spot_hooks.ratings(session, ids, now)
    return [
        ExportedSpot(
            spot=spots.to_out(s, full=True, rating=ratings[s.id]),
            withdrawn_at=s.deleted_at,
            rules=[rule_out(r) for r in rules[s.id]],
            windows=[WindowOut.model_validate(span_out(w)) for w in windows[s.id]],
            blackouts=[BlackoutOut.model_validate(span_out(b)) for b in blackouts[s.id]],
        )
        for s in owned
    ]


async def _bookings(session: AsyncSession, user: User, now: datetime, *, as_owner: bool) -> list[BookingOut]:
    query = select(Booking)
    if as_owner:
        query = query.join(Spot, col(Spot.id) == Booking.spot_id).where(col(Spot.owner_id) == user.id)
    else:
        query = query.where(col(Booking.driver_id) == user.id)
    rows = list(await session.scalars(query.order_by(col(Booking.start_at), col(Booking.id))))
    return [bookings.as_of(out, now) for out in await views.booking_outs(session, rows, user, now)]


async def _sessions(session: AsyncSession, user: User) -> list[ExportedSession]:
    signed_in = list(
        await session.scalars(
            select(LoginSession)
            .where(col(LoginSession.user_id) == user.id)
            .order_by(col(LoginSession.created_at), col(LoginSession.id))
        )
    )
    tokens: dict[uuid.UUID, list[ExportedRefreshToken]] = {s.id: [] for s in signed_in}
    for token in await session.scalars(
        select(RefreshToken)
        .where(col(RefreshToken.session_id).in_(list(tokens)))
        .order_by(col(RefreshToken.created_at), col(RefreshToken.id))
    ):
        tokens[token.session_id].append(
            ExportedRefreshToken(
                created_at=token.created_at, expires_at=token.expires_at, used_at=token.used_at
            )
        )
    return [
        ExportedSession(
            id=s.id,
            created_at=s.created_at,
            revoked_at=s.revoked_at,
            revoked_reason=s.revoked_reason,
            refresh_tokens=tokens[s.id],
        )
        for s in signed_in
    ]


async def _events(session: AsyncSession, user: User) -> list[ExportedEvent]:
    rows = await session.scalars(
        select(Event)
        .where(or_(col(Event.driver_id) == user.id, col(Event.owner_id) == user.id))
        .order_by(col(Event.seq))
    )
    out = []
    for e in rows:
        # The owner's view when the event has one and the account is the spot's owner.
        data = e.owner_data if e.owner_id == user.id and e.owner_data is not None else e.data
        out.append(
            ExportedEvent(
                id=e.id,
                type=e.type,
                created_at=e.created_at,
                booking_id=e.booking_id,
                data=json.loads(data) if isinstance(data, str) else data,
            )
        )
    return out


# --- Erasure ----------------------------------------------------------------------------------


async def erase(session: AsyncSession, auth: Auth, user: User, password: str, now: datetime) -> None:
    """Cancels, withdraws and erases, as the module's docstring says; only flushes."""
    await check_password(session, auth, user, password, now)
    # One erasure at a time per account, and none beside its other writes.
    await session.execute(select(col(User.id)).where(col(User.id) == user.id).with_for_update())
    await _withdraw_spots(session, user, now)
    await _cancel_driven(session, user, now)
    await _erase_personal_data(session, user, now)
    await session.flush()


async def _withdraw_spots(session: AsyncSession, user: User, now: datetime) -> None:
    owned = await session.scalars(
        select(col(Spot.id)).where(col(Spot.owner_id) == user.id, col(Spot.deleted_at).is_(None))
    )
    for spot_id in list(owned):
        spot = await spots.get(session, spot_id, for_update=True)
        # Future bookings cancelled by the owner with a full refund; their drivers get the events.
        await spots.withdraw(session, spot, user, now, cancel_bookings=True)


async def _cancel_driven(session: AsyncSession, user: User, now: datetime) -> None:
    def active() -> Any:
        return select(Booking).where(
            col(Booking.driver_id) == user.id,
            # An overstayed booking is over: it completes at check-out or at the overstay cap.
            col(Booking.status).in_([s for s in ACTIVE if s is not Status.overstayed]),
            col(Booking.end_at) > now,
        )

    spot_ids = {b.spot_id for b in await session.scalars(active())}
    # Holds and requests past their deadline are expired first, as the sweeper would.
    for spot_id in sorted(spot_ids):
        await bookings.expire_due(session, now, spot_id=spot_id)
    driven = list(await session.scalars(active().order_by(col(Booking.start_at))))
    for booking in driven:
        await bookings.change(
            session,
            user,
            str(booking.id),
            Action.cancel,
            now,
            reason="the driver deleted their account",
            erasing=True,
        )


async def _erase_personal_data(session: AsyncSession, user: User, now: datetime) -> None:
    old_email = user.email
    await session.flush()
    await _scrub_events(session, user)
    await reviews.erase_texts(session, user)
    await session.execute(delete(Webhook).where(col(Webhook.user_id) == user.id))
    await session.execute(delete(PushSubscription).where(col(PushSubscription.user_id) == user.id))
    await session.execute(delete(CalendarToken).where(col(CalendarToken.user_id) == user.id))
    await session.execute(delete(LoginSession).where(col(LoginSession.user_id) == user.id))
    await session.execute(delete(IdempotencyKey).where(col(IdempotencyKey.user_id) == user.id))
    await session.execute(delete(Mail).where(col(Mail.user_id) == user.id))
    await session.execute(delete(AccountToken).where(col(AccountToken.user_id) == user.id))
    await session.execute(
        text("delete from rate_limits where key = :key"), {"key": f"login-email:{old_email}"}
    )
    await session.execute(
        update(Vehicle)
        .where(col(Vehicle.owner_id) == user.id)
        .values(license_plate=DELETED_PLATE, deleted_at=_coalesce_now(now))
    )
    owned = list(await session.scalars(select(Spot).where(col(Spot.owner_id) == user.id)))
    for spot in owned:
        spot.street = spot.house_number = spot.postal_code = ERASED
        spot.lat = spots.public_coordinate(spot.lat)
        spot.lon = spots.public_coordinate(spot.lon)
        spot.access_instructions = None
        spot.description = None
        spot.updated_at = now
    await session.execute(
        update(AvailabilityBlackout)
        .where(col(AvailabilityBlackout.spot_id).in_([s.id for s in owned]))
        .values(reason=None)
    )
    user.email = f"deleted-{uuid.uuid4()}@deleted.invalid"
    user.display_name = DELETED_NAME
    user.phone = None
    user.email_verified_at = None
    user.password_hash = UNUSABLE_HASH
    user.updated_at = now
    await session.flush()


def _coalesce_now(now: datetime) -> Any:
    return func.coalesce(col(Vehicle.deleted_at), now)


async def _scrub_events(session: AsyncSession, user: User) -> None:
    """The outbox keeps events at least 7 days for streams, webhooks and push to catch up. Those
    of no booking (webhook notices) were the account's alone: deleted. Booking events stay, since
    the other party reads them too, with the driver's name and plate replaced where the account
    is the driver (the owner's name is in no event)."""
    await session.execute(
        delete(Event).where(
            col(Event.booking_id).is_(None),
            or_(col(Event.driver_id) == user.id, col(Event.owner_id) == user.id),
        )
    )
    await session.execute(
        _SCRUB_EVENTS,
        {"name": DELETED_NAME, "user_id": user.id},
    )


_SCRUB_EVENTS = text(
    "update events set"
    " data = case when data ? 'booking' then "
    "jsonb_set(jsonb_set(data, '{booking,driver_name}', to_jsonb(cast(:name as text))),"
    " '{booking,license_plate}', 'null'::jsonb) else data end,"
    " owner_data = case when owner_data ? 'booking' then "
    "jsonb_set(jsonb_set(owner_data, '{booking,driver_name}', to_jsonb(cast(:name as text))),"
    " '{booking,license_plate}', 'null'::jsonb) else owner_data end"
    " where driver_id = :user_id"
)
