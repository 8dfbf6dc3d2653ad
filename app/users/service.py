from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import bindparam, exists, select
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import ratelimit
from app.auth.security import AccessClaims
from app.auth.service import Auth, IssuedTokens, live_session, start_session
from app.db import as_loaded, raw_connection
from app.errors import Conflict, NotFound, ProblemError, Unauthorized, ValidationProblem, Where
from app.pagination import PageParams, paginate
from app.users.models import User, Vehicle
from app.users.schemas import MePatch, VehicleCreate


class EmailTaken(Conflict):
    code = "email_taken"


class InvalidCredentials(ProblemError):
    status = 401
    code = "invalid_credentials"
    # The failed attempt is counted against the email's rate limit: that write must survive.
    keeps_writes = True


class AccountSuspended(ProblemError):
    status = 401
    code = "account_suspended"


async def register(
    session: AsyncSession, auth: Auth, now: datetime, *, email: str, password: str, display_name: str
) -> User:
    email = email.lower()
    if await session.scalar(select(exists().where(col(User.email) == email))):
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


async def check_password(session: AsyncSession, auth: Auth, user: User, password: str, now: datetime) -> None:
    """The signed-in account's password, asked again before what a stolen access token must not do
    alone (a new password or address, erasure). Failures count against the same limit as failed
    sign-ins of the address, so a token is no way around it."""
    window = timedelta(seconds=auth.settings.rate_limit_window_seconds)
    key = f"login-email:{user.email}"
    limit = auth.settings.login_failures_per_email
    await ratelimit.check(session, key, limit, window, now, "failed password checks")
    if not await auth.passwords.verify(user.password_hash, password):
        await ratelimit.add(session, key, window, now)
        raise InvalidCredentials("wrong password")


async def login(
    session: AsyncSession, auth: Auth, now: datetime, *, email: str, password: str
) -> IssuedTokens:
    user = await session.scalar(select(User).where(col(User.email) == email.lower()))
    if not await auth.passwords.verify(user.password_hash if user else None, password) or user is None:
        raise InvalidCredentials("wrong email or password")
    # After the password: the answer tells no stranger that the account exists.
    if user.suspended_at is not None:
        raise AccountSuspended("this account is suspended")
    if auth.passwords.needs_rehash(user.password_hash):
        user.password_hash = await auth.passwords.hash(password)
    return await start_session(session, auth, user.id, now)


# Built once: every authenticated request runs it, and building the expression costs more than
# running it.
# A suspended account is signed out by its suspension (app/admin/); the check here also ends a
# sign-in that raced with it.
_SIGNED_IN_USER = select(User).where(
    col(User.id) == bindparam("user_id"), col(User.suspended_at).is_(None), live_session(col(User.id))
)


# Sent through asyncpg: every signed-in request runs it first, and through SQLAlchemy's ORM it made
# a booking cost 0.29 ms more CPU in process (docs/bookings.md, "Third pass"). Its parameters are
# `user_id`, then `session_id`.
_COMPILED = _SIGNED_IN_USER.compile(dialect=asyncpg_dialect())  # type: ignore[no-untyped-call]
if _COMPILED.positiontup != ["user_id", "session_id"]:
    raise RuntimeError(f"the sign-in lookup's parameters are {_COMPILED.positiontup}")
SIGNED_IN_SQL = str(_COMPILED)


async def signed_in(session: AsyncSession, claims: AccessClaims) -> User:
    """The account of a verified access token, in one statement with the check that its sign-in
    is still live; in the session as if loaded by it."""
    row = await (await raw_connection(session)).fetchrow(SIGNED_IN_SQL, claims.user_id, claims.session_id)
    if row is None:
        raise Unauthorized("this session has ended")
    return as_loaded(session, User, row)


async def update_me(session: AsyncSession, user: User, patch: MePatch, now: datetime) -> User:
    changes = patch.model_dump(exclude_unset=True)
    if changes.get("display_name", "") is None:
        raise ValidationProblem.field("display_name", "cannot be null")
    for name, value in changes.items():
        setattr(user, name, value)
    if changes:
        user.updated_at = now
    await session.flush()
    return user


async def add_vehicle(session: AsyncSession, user: User, data: VehicleCreate, now: datetime) -> Vehicle:
    vehicle = Vehicle(owner_id=user.id, created_at=now, **data.model_dump())
    session.add(vehicle)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        raise ValidationProblem.field("license_plate", "you have registered this vehicle already") from exc
    return vehicle


async def list_vehicles(
    session: AsyncSession, user: User, page: PageParams
) -> tuple[list[Vehicle], str | None]:
    query = select(Vehicle).where(col(Vehicle.owner_id) == user.id, col(Vehicle.deleted_at).is_(None))
    return await paginate(session, query, Vehicle, page)


async def remove_vehicle(session: AsyncSession, user: User, vehicle_id: uuid.UUID, now: datetime) -> None:
    vehicle = await session.scalar(
        select(Vehicle).where(
            col(Vehicle.id) == vehicle_id,
            col(Vehicle.owner_id) == user.id,
            col(Vehicle.deleted_at).is_(None),
        )
    )
    if vehicle is None:
        raise NotFound("no such vehicle")
    # Kept as a row, so bookings made with it still say which car it was.
    vehicle.deleted_at = now
    await session.flush()


async def own_vehicle(
    session: AsyncSession, user: User, vehicle_id: str, *, where: Where = "body"
) -> Vehicle:
    """One of the user's current vehicles named in a request field `vehicle_id` (in the body or,
    for search, the query), else a 422."""
    try:
        parsed = uuid.UUID(vehicle_id)
    except ValueError:
        parsed = None
    vehicle = None
    if parsed is not None:
        vehicle = await session.scalar(
            select(Vehicle).where(
                col(Vehicle.id) == parsed,
                col(Vehicle.owner_id) == user.id,
                col(Vehicle.deleted_at).is_(None),
            )
        )
    if vehicle is None:
        raise ValidationProblem.field("vehicle_id", "not one of your vehicles", where=where)
    return vehicle
