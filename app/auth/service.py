"""Accounts and sign-in. Functions take the request's session first and only flush."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, exists, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import LoginSession, RefreshToken, User
from app.auth.security import PasswordHashing, TokenCodec, hash_refresh_token, new_refresh_token
from app.errors import Conflict, ProblemError, Unauthorized
from app.settings import Settings


class EmailTaken(Conflict):
    code = "email_taken"


class InvalidCredentials(ProblemError):
    status = 401
    code = "invalid_credentials"
    # The failed attempt is counted against the email's rate limit: that write must survive.
    keeps_writes = True


class RefreshTokenReused(Unauthorized):
    # The family revocation must survive the 401, or a thief could simply retry.
    keeps_writes = True


@dataclass
class Auth:
    """What sign-in needs besides the session, built once per process."""

    settings: Settings
    passwords: PasswordHashing
    tokens: TokenCodec

    @classmethod
    def from_settings(cls, settings: Settings) -> Auth:
        return cls(settings=settings, passwords=PasswordHashing(settings), tokens=TokenCodec(settings))


@dataclass
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int


async def register(
    session: AsyncSession, auth: Auth, now: datetime, *, email: str, password: str, display_name: str
) -> User:
    email = email.lower()
    if await session.scalar(select(exists().where(User.email == email))):
        raise EmailTaken("an account with this email exists")
    user = User(
        email=email,
        password_hash=await auth.passwords.hash(password),
        display_name=display_name,
        created_at=now,
        updated_at=now,
    )
    session.add(user)
    try:
        # Two registrations racing past the check above meet the unique constraint here.
        await session.flush()
    except IntegrityError as exc:
        raise EmailTaken("an account with this email exists") from exc
    return user


async def login(
    session: AsyncSession, auth: Auth, now: datetime, *, email: str, password: str
) -> IssuedTokens:
    user = await session.scalar(select(User).where(User.email == email.lower()))
    if not await auth.passwords.verify(user.password_hash if user else None, password) or user is None:
        raise InvalidCredentials("wrong email or password")
    if auth.passwords.needs_rehash(user.password_hash):
        user.password_hash = await auth.passwords.hash(password)
    login_session = LoginSession(user_id=user.id, created_at=now)
    session.add(login_session)
    await session.flush()
    return await _issue(session, auth, user.id, login_session.id, now)


async def refresh(session: AsyncSession, auth: Auth, now: datetime, *, refresh_token: str) -> IssuedTokens:
    # The row lock makes two refreshes with one token take turns: the second sees it used.
    row = (
        await session.execute(
            select(RefreshToken, LoginSession)
            .join(LoginSession, LoginSession.id == RefreshToken.session_id)
            .where(RefreshToken.token_hash == hash_refresh_token(refresh_token))
            .with_for_update(of=RefreshToken)
        )
    ).one_or_none()
    if row is None:
        raise Unauthorized("unknown refresh token")
    token, login_session = row
    if login_session.revoked_at is not None:
        raise Unauthorized("this session has ended")
    if token.used_at is not None:
        await _revoke(session, login_session.id, now, "refresh_token_reused")
        raise RefreshTokenReused("refresh token already used; the session has been revoked")
    if token.expires_at <= now:
        raise Unauthorized("refresh token expired")
    token.used_at = now
    return await _issue(session, auth, login_session.user_id, login_session.id, now)


async def logout(session: AsyncSession, now: datetime, *, refresh_token: str) -> None:
    """Ends the sign-in the token belongs to; an unknown or dead token is not an error."""
    session_id = await session.scalar(
        select(RefreshToken.session_id).where(RefreshToken.token_hash == hash_refresh_token(refresh_token))
    )
    if session_id is not None:
        await _revoke(session, session_id, now, "logout")


# Access tokens die with their sign-in: a logout or a detected theft ends them at once. Built once:
# every authenticated request runs it, and building the expression costs more than running it.
_SIGNED_IN_USER = select(User).where(
    User.id == bindparam("user_id"),
    exists().where(
        LoginSession.id == bindparam("session_id"),
        LoginSession.user_id == User.id,
        LoginSession.revoked_at.is_(None),  # type: ignore[union-attr]
    ),
)


async def authenticate(session: AsyncSession, auth: Auth, access_token: str, now: datetime) -> User:
    claims = auth.tokens.decode(access_token, now)
    if claims is None:
        raise Unauthorized("invalid or expired access token")
    user = await session.scalar(_SIGNED_IN_USER, {"user_id": claims.user_id, "session_id": claims.session_id})
    if user is None:
        raise Unauthorized("this session has ended")
    return user


async def _issue(
    session: AsyncSession,
    auth: Auth,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    now: datetime,
) -> IssuedTokens:
    token, token_hash = new_refresh_token()
    session.add(
        RefreshToken(
            session_id=session_id,
            token_hash=token_hash,
            created_at=now,
            expires_at=now + timedelta(seconds=auth.settings.refresh_token_ttl_seconds),
        )
    )
    await session.flush()
    return IssuedTokens(
        access_token=auth.tokens.issue(user_id, session_id, now),
        refresh_token=token,
        expires_in=int(auth.tokens.ttl.total_seconds()),
    )


async def _revoke(session: AsyncSession, session_id: uuid.UUID, now: datetime, reason: str) -> None:
    await session.execute(
        update(LoginSession)
        .where(LoginSession.id == session_id, LoginSession.revoked_at.is_(None))  # type: ignore[union-attr]
        .values(revoked_at=now, revoked_reason=reason)
    )
