"""Links sent by mail: verifying the account's address (after registration, or a new address it
changes to), resetting a forgotten password; and the notices when the password or address
changed. Tokens are single use and stored as SHA-256 hashes; every mail goes through the outbox
in the request's transaction (app/mail/)."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy import exists, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import ratelimit
from app.auth.service import Auth, end_sessions
from app.errors import Conflict, ProblemError, ValidationProblem
from app.mail import outbox, texts
from app.settings import Settings
from app.users.models import AccountToken, User
from app.users.service import EmailTaken, check_password

VERIFY_VALID = timedelta(hours=48)
RESET_VALID = timedelta(hours=1)
# Mails one account can be sent on request per hour (new verification links, resets): enough for
# a lost mail or two, too few to flood a mailbox through the service.
MAILS_PER_HOUR = 5
_HOUR = timedelta(hours=1)


class InvalidToken(ProblemError):
    status = 422
    code = "invalid_token"


class EmailNotVerified(ProblemError):
    status = 403
    code = "email_not_verified"


class AlreadyVerified(Conflict):
    pass


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def _issue(
    session: AsyncSession, user: User, purpose: str, email: str, valid: timedelta, now: datetime
) -> str:
    token = secrets.token_urlsafe(32)
    session.add(
        AccountToken(
            user_id=user.id,
            purpose=purpose,
            token_hash=_hash(token),
            email=email,
            created_at=now,
            expires_at=now + valid,
        )
    )
    await session.flush()
    return token


async def _redeem(
    session: AsyncSession, token: str, purpose: str, now: datetime
) -> tuple[AccountToken, User]:
    """The live token and its account, both locked: a token is used once even by two racing requests."""
    found = (
        await session.execute(
            select(AccountToken, User)
            .join(User, col(User.id) == AccountToken.user_id)
            .where(col(AccountToken.token_hash) == _hash(token), col(AccountToken.purpose) == purpose)
            .with_for_update()
        )
    ).one_or_none()
    if found is None:
        raise InvalidToken("this link is not valid")
    row, user = found
    if row.used_at is not None:
        raise InvalidToken("this link has been used already")
    if row.expires_at <= now:
        raise InvalidToken("this link has expired")
    row.used_at = now
    return row, user


async def _use_up(
    session: AsyncSession, user_id: uuid.UUID, purpose: str, now: datetime, *, email: str | None = None
) -> None:
    """Older links of the same kind die with the one used."""
    query = update(AccountToken).where(
        col(AccountToken.user_id) == user_id,
        col(AccountToken.purpose) == purpose,
        col(AccountToken.used_at).is_(None),
    )
    if email is not None:
        query = query.where(col(AccountToken.email) == email)
    await session.execute(query.values(used_at=now))


# --- verification ---------------------------------------------------------------------------


async def send_verification(session: AsyncSession, settings: Settings, user: User, now: datetime) -> None:
    token = await _issue(session, user, "verify_email", user.email, VERIFY_VALID, now)
    message = texts.verify_email(settings.public_url, user.display_name, token, VERIFY_VALID)
    await outbox.add(session, user_id=user.id, to=user.email, message=message, now=now)


async def resend_verification(session: AsyncSession, settings: Settings, user: User, now: datetime) -> None:
    if user.email_verified_at is not None:
        raise AlreadyVerified("your e-mail address is verified already")
    await ratelimit.hit(session, f"mail:{user.id}", MAILS_PER_HOUR, _HOUR, now, "mails")
    await send_verification(session, settings, user, now)


async def request_email_change(
    session: AsyncSession, auth: Auth, user: User, *, password: str, email: str, now: datetime
) -> None:
    """Sends a link to the new address; the account changes to it when the link is used."""
    await check_password(session, auth, user, password, now)
    email = email.lower()
    if email == user.email:
        raise ValidationProblem.field("email", "this is your address already")
    if await session.scalar(select(exists().where(col(User.email) == email))):
        raise EmailTaken("an account with this email exists")
    await ratelimit.hit(session, f"mail:{user.id}", MAILS_PER_HOUR, _HOUR, now, "mails")
    token = await _issue(session, user, "verify_email", email, VERIFY_VALID, now)
    message = texts.confirm_new_email(auth.settings.public_url, user.display_name, token, VERIFY_VALID)
    await outbox.add(session, user_id=user.id, to=email, message=message, now=now)


async def verify_email(session: AsyncSession, settings: Settings, token: str, now: datetime) -> User:
    row, user = await _redeem(session, token, "verify_email", now)
    if row.email == user.email:
        await _use_up(session, user.id, "verify_email", now, email=row.email)
    else:
        old = user.email
        user.email = row.email
        try:
            # Another account may have taken the address since the link was sent.
            async with session.begin_nested():
                await session.flush()
        except IntegrityError as exc:
            raise EmailTaken("an account with this email exists") from exc
        # Every other pending link (to the old address, or to other new ones) dies with the change.
        await _use_up(session, user.id, "verify_email", now)
        await _use_up(session, user.id, "password_reset", now)
        message = texts.email_changed(settings.public_url, user.display_name, now)
        await outbox.add(session, user_id=user.id, to=old, message=message, now=now)
    user.email_verified_at = now
    user.updated_at = now
    await session.flush()
    return user


def require_verified(settings: Settings, user: User) -> None:
    if settings.require_email_verification and user.email_verified_at is None:
        raise EmailNotVerified("confirm your e-mail address first: use the link we sent you")


# --- passwords ------------------------------------------------------------------------------


async def request_password_reset(
    session: AsyncSession, settings: Settings, email: str, now: datetime
) -> None:
    """Sends a reset link if the address has an account that may sign in; says nothing either way."""
    user = await session.scalar(select(User).where(col(User.email) == email.lower()))
    if user is None or user.suspended_at is not None:
        return
    if await ratelimit.add(session, f"mail:{user.id}", _HOUR, now) > MAILS_PER_HOUR:
        return
    token = await _issue(session, user, "password_reset", user.email, RESET_VALID, now)
    message = texts.password_reset(settings.public_url, user.display_name, token, RESET_VALID)
    await outbox.add(session, user_id=user.id, to=user.email, message=message, now=now)


async def confirm_password_reset(
    session: AsyncSession, auth: Auth, *, token: str, password: str, now: datetime
) -> None:
    row, user = await _redeem(session, token, "password_reset", now)
    if row.email != user.email:
        raise InvalidToken("this link was sent to an address the account no longer uses")
    await _use_up(session, user.id, "password_reset", now)
    # Whoever reads the mail reads the address: it is verified too.
    if user.email_verified_at is None:
        user.email_verified_at = now
    await _set_password(session, auth, user, password, now, reason="password_reset")
    # The failed sign-ins that may have led here no longer lock the owner out.
    await session.execute(
        text("delete from rate_limits where key = :key"), {"key": f"login-email:{user.email}"}
    )


async def change_password(
    session: AsyncSession,
    auth: Auth,
    user: User,
    *,
    password: str,
    new_password: str,
    keep_session: uuid.UUID,
    now: datetime,
) -> None:
    await check_password(session, auth, user, password, now)
    await _set_password(session, auth, user, new_password, now, reason="password_changed", keep=keep_session)


async def _set_password(
    session: AsyncSession,
    auth: Auth,
    user: User,
    password: str,
    now: datetime,
    *,
    reason: str,
    keep: uuid.UUID | None = None,
) -> None:
    user.password_hash = await auth.passwords.hash(password)
    user.updated_at = now
    await end_sessions(session, user.id, now, reason, keep=keep)
    message = texts.password_changed(auth.settings.public_url, user.display_name, now)
    await outbox.add(session, user_id=user.id, to=user.email, message=message, now=now)
    await session.flush()
