"""Password hashes (argon2) and access tokens (JWT, HS256 pinned)."""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from jose import JWTError, jwt

from app.settings import Settings

ALGORITHM = "HS256"


class PasswordHashing:
    def __init__(self, settings: Settings) -> None:
        self._hasher = PasswordHasher(
            time_cost=settings.argon2_time_cost,
            memory_cost=settings.argon2_memory_kib,
            parallelism=1,
        )
        # Verified against when the email is unknown, so both failures take the same time.
        self._dummy = self._hasher.hash(secrets.token_urlsafe(16))

    async def hash(self, password: str) -> str:
        # argon2 is deliberately slow: keep it off the event loop.
        return await asyncio.to_thread(self._hasher.hash, password)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        def check() -> bool:
            try:
                return (
                    self._hasher.verify(password_hash or self._dummy, password) and password_hash is not None
                )
            except (VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(check)

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


@dataclass(frozen=True)
class AccessClaims:
    user_id: uuid.UUID
    session_id: uuid.UUID
    # `exp`: what lives as long as the token (a live stream) ends then.
    expires_at: datetime


# Verified access tokens a process remembers (a few MB at most).
VERIFIED_KEPT = 10_000


class TokenCodec:
    def __init__(self, settings: Settings) -> None:
        self._secret = settings.signing_secret()
        self._issuer = settings.jwt_issuer
        self._audience = settings.jwt_audience
        self.ttl = timedelta(seconds=settings.access_token_ttl_seconds)
        # Tokens whose signature and claims were verified, with their claims: a client sends the
        # same token with every request until it expires, and verifying it again (python-jose:
        # header, base64, JSON, HMAC, claim checks) costs about as much as a statement. Only
        # expiry depends on the time, and it is judged again at every use.
        self._verified: dict[str, AccessClaims] = {}

    def issue(self, user_id: uuid.UUID, session_id: uuid.UUID, now: datetime) -> str:
        claims: dict[str, Any] = {
            "sub": str(user_id),
            "sid": str(session_id),
            "iat": int(now.timestamp()),
            "exp": int((now + self.ttl).timestamp()),
            "jti": uuid.uuid4().hex,
            "iss": self._issuer,
            "aud": self._audience,
        }
        return jwt.encode(claims, self._secret, algorithm=ALGORITHM)

    def decode(self, token: str, now: datetime) -> AccessClaims | None:
        """The claims of a valid token, or None for anything else (expired, tampered, wrong alg).

        Expiry is judged against `now`, the request's clock, not the library's reading of the
        system clock: a token is issued and checked on the same clock."""
        known = self._verified.get(token)
        if known is not None:
            return known if known.expires_at.timestamp() > now.timestamp() else None
        try:
            # The library checks the algorithm too; checking the header first refuses `none` and
            # public-key algorithms before any key handling happens.
            if jwt.get_unverified_header(token).get("alg") != ALGORITHM:
                return None
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=self._audience,
                issuer=self._issuer,
                # `exp` is required and checked below: python-jose's `require_exp` would switch its
                # own check against the system clock back on.
                options={
                    "require_iat": True,
                    "require_sub": True,
                    "require_jti": True,
                    "require_iss": True,
                    "require_aud": True,
                    "verify_exp": False,
                },
            )
            expires = int(claims["exp"])
            if expires <= now.timestamp():
                return None
            verified = AccessClaims(
                user_id=uuid.UUID(claims["sub"]),
                session_id=uuid.UUID(claims["sid"]),
                expires_at=datetime.fromtimestamp(expires, UTC),
            )
        except (JWTError, KeyError, ValueError, TypeError, AttributeError, OverflowError, OSError):
            return None
        if len(self._verified) >= VERIFIED_KEPT:
            del self._verified[next(iter(self._verified))]  # the oldest
        self._verified[token] = verified
        return verified


def new_refresh_token() -> tuple[str, bytes]:
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
