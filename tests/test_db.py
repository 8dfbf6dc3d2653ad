"""The connection pool against a real server that closes connections under it."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.db import Database, raw_connection
from app.errors import describe_for_log
from app.settings import Settings


async def test_a_pooled_connection_the_server_closed_is_replaced(settings: Settings) -> None:
    database = Database.from_settings(settings)
    try:
        async with database.sessionmaker() as session:
            first = await session.scalar(text("select pg_backend_pid()"))
        # As in a server restart or an idle timeout: the backend ends while its connection is
        # idle in the pool.
        admin = await asyncpg.connect(settings.database_url)
        try:
            assert await admin.fetchval("select pg_terminate_backend($1)", first) is True
        finally:
            await admin.close()
        await asyncio.sleep(0.2)  # the event loop reads the server's goodbye on loopback
        async with database.sessionmaker() as session:
            second = await session.scalar(text("select pg_backend_pid()"))
        assert second != first
    finally:
        await database.dispose()


async def test_the_raw_connection_shares_the_session_transaction(settings: Settings) -> None:
    database = Database.from_settings(settings)
    insert = (
        "insert into users (id, email, password_hash, display_name, role, created_at, updated_at)"
        " values ($1, $2, 'x', 'Driver test', 'user', now(), now())"
    )
    user_id, email = uuid.uuid4(), f"driver-{uuid.uuid4().hex}@example.org"
    count = text("select count(*) from users where id = :id")
    try:
        for outcome in ("rollback", "commit"):
            async with database.sessionmaker() as session:
                # The session's first statement: the transaction must begin here, not autocommit.
                conn = await raw_connection(session)
                assert conn.is_in_transaction()
                await conn.execute(insert, user_id, email)
                assert await session.scalar(count, {"id": user_id}) == 1  # one transaction
                await (session.rollback() if outcome == "rollback" else session.commit())
            async with database.sessionmaker() as session:
                assert await session.scalar(count, {"id": user_id}) == (outcome == "commit")
    finally:
        async with database.sessionmaker() as session:
            await session.execute(text("delete from users where id = :id"), {"id": user_id})
            await session.commit()
        await database.dispose()


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
