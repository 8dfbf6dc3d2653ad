"""The connection pool against a real server that closes connections under it."""

from __future__ import annotations

import asyncio

import asyncpg
from sqlalchemy import text

from app.db import Database
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
