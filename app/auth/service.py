"""Sign-in sessions and tokens: starting a sign-in for an account, refreshing, logging out,
revoking, and checking an access token. The accounts are users' (app/users/); auth knows them only
by id. Functions take the request's session first and only flush."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, SQLColumnExpression, bindparam, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.auth.models import LoginSession, RefreshToken
from app.auth.security import (
    AccessClaims,
    PasswordHashing,
    TokenCodec,
    hash_refresh_token,
    new_refresh_token,
)
from app.errors import Unauthorized
from app.settings import Settings


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


async def start_session(session: AsyncSession, auth: Auth, user_id: uuid.UUID, now: datetime) -> IssuedTokens:
    """Signs the account in: a new sign-in session and its first pair of tokens. The caller has
    checked who it is (users checks the password)."""
    login_session = LoginSession(user_id=user_id, created_at=now)
    session.add(login_session)
    await session.flush()
    return await _issue(session, auth, user_id, login_session.id, now)


async def refresh(session: AsyncSession, auth: Auth, now: datetime, *, refresh_token: str) -> IssuedTokens:
    # The row lock makes two refreshes with one token take turns: the second sees it used.
    row = (
        await session.execute(
            select(RefreshToken, LoginSession)
            .join(LoginSession, col(LoginSession.id) == RefreshToken.session_id)
            .where(col(RefreshToken.token_hash) == hash_refresh_token(refresh_token))
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
        select(col(RefreshToken.session_id)).where(
            col(RefreshToken.token_hash) == hash_refresh_token(refresh_token)
        )
    )
    if session_id is not None:
        await _revoke(session, session_id, now, "logout")


def verify(auth: Auth, access_token: str, now: datetime) -> AccessClaims:
    """The access token's account and sign-in, if it is genuine and unexpired at `now`. Whether the
    sign-in is still live is for the database to say: see `live_session`."""
    claims = auth.tokens.decode(access_token, now)
    if claims is None:
        raise Unauthorized("invalid or expired access token")
    return claims


def live_session(user_id: SQLColumnExpression[uuid.UUID]) -> ColumnElement[bool]:
    """True while the sign-in named by the bind parameter `session_id` belongs to `user_id` and has
    not ended: access tokens die with their sign-in, so a logout or a detected theft ends them at
    once. A clause, not a query, so that users loads the account in the same statement."""
    return exists().where(
        col(LoginSession.id) == bindparam("session_id"),
        col(LoginSession.user_id) == user_id,
        col(LoginSession.revoked_at).is_(None),
    )


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


async def end_sessions(
    session: AsyncSession, user_id: uuid.UUID, now: datetime, reason: str, *, keep: uuid.UUID | None = None
) -> None:
    """Signs the account out everywhere (but in the sign-in `keep`): its access tokens die with
    their sign-ins at once, and its refresh tokens with them."""
    query = update(LoginSession).where(
        col(LoginSession.user_id) == user_id, col(LoginSession.revoked_at).is_(None)
    )
    if keep is not None:
        query = query.where(col(LoginSession.id) != keep)
    await session.execute(query.values(revoked_at=now, revoked_reason=reason))


async def _revoke(session: AsyncSession, session_id: uuid.UUID, now: datetime, reason: str) -> None:
    await session.execute(
        update(LoginSession)
        .where(col(LoginSession.id) == session_id, col(LoginSession.revoked_at).is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
