"""The connection pool against a real server that closes connections under it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import DBAPIError, IntegrityError, PendingRollbackError

from app.bookings.models import Booking
from app.db import _RAW, Database, as_loaded, as_row, raw_connection
from app.errors import describe_for_log
from app.settings import Settings
from app.users.models import User
from booking.states import Status


async def _terminate(settings: Settings, pid: int) -> None:
    """Ends a backend from another connection, as a server restart would."""
    admin = await asyncpg.connect(settings.database_url)
    try:
        assert await admin.fetchval("select pg_terminate_backend($1)", pid) is True
    finally:
        await admin.close()
    await asyncio.sleep(0.2)  # the event loop reads the server's goodbye on loopback


async def test_a_pooled_connection_the_server_closed_is_replaced(settings: Settings) -> None:
    database = Database.from_settings(settings)
    try:
        async with database.sessionmaker() as session:
            first = await session.scalar(text("select pg_backend_pid()"))
        # As in a server restart or an idle timeout: the backend ends while its connection is
        # idle in the pool.
        await _terminate(settings, first)
        async with database.sessionmaker() as session:
            second = await session.scalar(text("select pg_backend_pid()"))
        assert second != first
    finally:
        await database.dispose()


_INSERT_USER = (
    "insert into users (id, email, password_hash, display_name, role, created_at, updated_at)"
    " values ($1, $2, 'x', $3, 'user', now(), now())"
)


def _new_user() -> tuple[uuid.UUID, str]:
    return uuid.uuid4(), f"driver-{uuid.uuid4().hex}@example.org"


async def _delete_user(database: Database, user_id: uuid.UUID) -> None:
    async with database.sessionmaker() as session:
        await session.execute(text("delete from users where id = :id"), {"id": user_id})
        await session.commit()


async def test_the_raw_connection_shares_the_session_transaction(settings: Settings) -> None:
    database = Database.from_settings(settings)
    user_id, email = _new_user()
    count = text("select count(*) from users where id = :id")
    try:
        for outcome in ("rollback", "commit"):
            async with database.sessionmaker() as session:
                # The session's first statement: the transaction must begin here, not autocommit.
                conn = await raw_connection(session)
                assert conn.is_in_transaction()
                await conn.execute(_INSERT_USER, user_id, email, "Driver test")
                assert await session.scalar(count, {"id": user_id}) == 1  # one transaction
                await (session.rollback() if outcome == "rollback" else session.commit())
            async with database.sessionmaker() as session:
                assert await session.scalar(count, {"id": user_id}) == (outcome == "commit")
    finally:
        await _delete_user(database, user_id)
        await database.dispose()


async def test_the_raw_connection_is_kept_for_one_transaction_of_the_session(settings: Settings) -> None:
    """Asked again within a transaction (a savepoint's end included), it is the same connection;
    after a commit or a rollback, a session used again begins a new transaction on the connection
    it then holds, not on the one it gave back to the pool."""
    database = Database.from_settings(settings)
    user_id, email = _new_user()
    pid = "select pg_backend_pid()"
    try:
        async with database.sessionmaker() as session, database.sessionmaker() as other:
            first = await raw_connection(session)
            savepoint = await session.begin_nested()
            assert await raw_connection(session) is first
            await savepoint.rollback()
            # Still kept: the savepoint's end is not the transaction's.
            assert session.info[_RAW] is first
            assert await raw_connection(session) is first
            await first.execute(_INSERT_USER, user_id, email, "Driver test")
            await session.commit()
            assert not first.is_in_transaction()
            # The connection given back now serves another session, in a transaction of its own.
            taken = await raw_connection(other)
            assert taken is first
            again = await raw_connection(session)
            assert again is not first
            assert again.is_in_transaction()
            assert await again.fetchval(pid) != await taken.fetchval(pid)
            await again.execute("delete from users where id = $1", user_id)
            await session.rollback()
            assert (await raw_connection(session)).is_in_transaction()
            # The rollback kept the user: the delete was in `again`'s transaction.
            assert await taken.fetchval("select count(*) from users where id = $1", user_id) == 1
            await other.rollback()
    finally:
        await _delete_user(database, user_id)
        await database.dispose()


@pytest.fixture
async def database(settings: Settings) -> AsyncIterator[Database]:
    database = Database.from_settings(settings)
    yield database
    await database.dispose()


async def test_after_a_failed_flush_the_raw_connection_is_refused_as_the_session_is(
    database: Database,
) -> None:
    """A flush that fails has rolled the transaction back, but the session's own transaction has
    not ended until the session rolls back: until then no statement may run, on the raw connection
    either (it would run outside any transaction and commit on its own). Nothing is left behind:
    the first user was inserted in the transaction rolled back."""
    user_id, email = _new_user()
    async with database.sessionmaker() as session:
        raw = await raw_connection(session)
        await raw.execute(_INSERT_USER, user_id, email, "First")
        now = datetime.now(UTC)
        # The same e-mail: the flush fails on the unique constraint.
        second = User(id=uuid.uuid4(), email=email, password_hash="x", display_name="Second")
        second.created_at = second.updated_at = now
        session.add(second)
        with pytest.raises(IntegrityError):
            await session.flush()
        assert not raw.is_in_transaction()
        with pytest.raises(PendingRollbackError):
            await raw_connection(session)
        await session.rollback()
        assert (await raw_connection(session)).is_in_transaction()
        assert await session.get(User, user_id) is None


async def test_a_failed_statement_keeps_its_parameters_out_of_the_error(settings: Settings) -> None:
    """Unexpected errors are logged with their message: personal data must not be in it."""
    database = Database.from_settings(settings)
    secret = "DO-XY 1234, Kreuzstraße 12"
    try:
        async with database.sessionmaker() as session:
            with pytest.raises(DBAPIError) as caught:
                await session.execute(text("select cast(:value as integer)"), {"value": secret})
        # SQLAlchemy's own part of the message hides the parameters...
        assert "hidden due to hide_parameters" in str(caught.value)
        # ...but asyncpg's quotes the value it could not encode; what is logged withholds it.
        logged = describe_for_log(caught.value)
        assert secret not in logged
        assert "sqlalchemy.exc.DBAPIError: (message withheld; sqlstate" in logged
        assert "test_db.py" in logged  # the frames are kept
    finally:
        await database.dispose()


def _booking_values() -> dict[str, object]:
    at = datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    return {
        "id": uuid.uuid4(),
        "spot_id": uuid.uuid4(),
        "driver_id": uuid.uuid4(),
        "start_at": at,
        "end_at": at + timedelta(hours=1),
        "status": Status.held,
        "total_cents": 250,
        "currency": "EUR",
        "hold_expires_at": at,
        "created_at": at,
        "updated_at": at,
    }


def test_a_row_built_for_its_own_insert_is_what_the_constructor_builds() -> None:
    values = _booking_values()
    row = as_row(Booking, **values)
    made = Booking(**values)
    assert row.model_dump() == made.model_dump()
    assert row.model_fields_set == made.model_fields_set == set(values)
    # The fields not given have their defaults, read through the ORM's attributes as well.
    assert (row.overstay_cents, row.refund_cents, row.vehicle_id) == (0, None, None)
    assert row.status is Status.held
    # In no session and with nothing recorded to flush: the caller's statement writes the row.
    state = inspect(row)
    assert state.transient
    assert not state.attrs.status.history.has_changes()


def test_a_row_refuses_a_field_its_model_does_not_have() -> None:
    with pytest.raises(TypeError, match="Booking has no field colour"):
        as_row(Booking, colour="red", **_booking_values())


async def test_a_row_read_raw_is_in_the_session_as_if_loaded(settings: Settings) -> None:
    database = Database.from_settings(settings)
    user_id, email = _new_user()
    try:
        async with database.sessionmaker() as session:
            conn = await raw_connection(session)
            await conn.execute(_INSERT_USER, user_id, email, "Before")
            row = await conn.fetchrow("select * from users where id = $1", user_id)
            assert row is not None
            user = as_loaded(session, User, row)
            state = inspect(user)
            assert state.persistent
            assert not session.dirty
            # The identity map holds it: loading the same row gives the same instance.
            assert await session.get(User, user_id) is user
            user.display_name = "After"
            assert list(session.dirty) == [user]
            await session.commit()
        async with database.sessionmaker() as session:
            again = await session.get(User, user_id)
            assert again is not None
            assert (again.display_name, again.email) == ("After", email)
    finally:
        await _delete_user(database, user_id)
        await database.dispose()


async def test_a_begin_that_fails_on_a_lost_connection_is_sqlalchemys_error(settings: Settings) -> None:
    """The session's BEGIN sent by the raw path fails as SQLAlchemy's own would: a DBAPIError on an
    invalidated connection (which the app answers 503), not the adapter's exception."""
    database = Database.from_settings(settings)
    try:
        async with database.sessionmaker() as session:
            connection = await session.connection()  # checked out; the BEGIN waits for a statement
            pid = await (await connection.get_raw_connection()).driver_connection.fetchval(
                "select pg_backend_pid()"
            )
            await _terminate(settings, pid)
            with pytest.raises(DBAPIError) as caught:
                await raw_connection(session)
            assert caught.value.connection_invalidated
        # The pool goes on with a fresh connection.
        async with database.sessionmaker() as session:
            assert (await raw_connection(session)).is_in_transaction()
    finally:
        await database.dispose()


async def test_a_row_already_in_the_session_is_returned_as_it_is(settings: Settings) -> None:
    database = Database.from_settings(settings)
    try:
        async with database.sessionmaker() as session:
            conn = await raw_connection(session)
            user_id, email = _new_user()
            await conn.execute(_INSERT_USER, user_id, email, "Loaded")
            loaded = await session.get(User, user_id)
            assert loaded is not None
            row = await conn.fetchrow("select * from users where id = $1", user_id)
            assert row is not None
            assert as_loaded(session, User, row) is loaded
            await session.rollback()
    finally:
        await database.dispose()
