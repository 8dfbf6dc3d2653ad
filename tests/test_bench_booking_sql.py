"""The raw-SQL side of the booking benchmark (`bench.booking_sql`) sends PostgreSQL the very
statements a booking through the API sends, in the same order and with parameters of the same
types: otherwise the benchmark's ratio compares different work."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from httpx import AsyncClient
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db import Database, make_sessionmaker
from app.main import create_app
from app.settings import Settings
from bench import booking_sql
from tests.conftest import START, _client, with_clock
from tests.factories import book, make_account, open_spot


def _kind(value: Any) -> type:
    # asyncpg hands back its own UUID subclass for ids read from the database.
    return uuid.UUID if isinstance(value, uuid.UUID) else type(value)


class Recorder:
    """What a connection sent, through SQLAlchemy (which asyncpg's query loggers do not see: it
    runs prepared statements) and through asyncpg directly: each statement's text and its
    parameters' types, without the savepoints that stand for BEGIN and COMMIT inside the test's
    transaction."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, tuple[type, ...]]] = []

    def _add(self, query: str, args: Any) -> None:
        if not query.lower().lstrip().startswith(("savepoint", "release savepoint", "rollback to")):
            self.sent.append((query, tuple(_kind(a) for a in args or ())))

    def asyncpg(self, record: Any) -> None:
        self._add(record.query, record.args)

    def sqlalchemy(self, _conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        self._add(statement, parameters)

    def take(self) -> list[tuple[str, tuple[type, ...]]]:
        sent, self.sent = self.sent, []
        return sent


@pytest.fixture
async def connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """The `db` fixture's connection, kept at hand: everything is rolled back afterwards."""
    async with engine.connect() as conn:
        outer = await conn.begin()
        yield conn
        await outer.rollback()


async def test_the_raw_client_sends_the_statements_of_a_booking(
    settings: Settings, connection: AsyncConnection, request: pytest.FixtureRequest
) -> None:
    db = Database(
        engine=connection.engine,
        sessionmaker=make_sessionmaker(connection, join_transaction_mode="create_savepoint"),
    )
    raw = (await connection.get_raw_connection()).driver_connection
    assert isinstance(raw, asyncpg.Connection)
    client: AsyncClient
    async with _client(with_clock(create_app(settings, database=db), request)) as client:
        owner = await make_account(client, "owner")
        driver = await make_account(client, "driver")
        spot = await open_spot(client, owner, buffer_min=15)
        # A first booking prepares what a warm server has prepared.
        assert (await book(client, driver, spot, 2, 3)).status_code == 201
        recorder = Recorder()
        raw.add_query_logger(recorder.asyncpg)
        event.listen(connection.sync_connection, "before_cursor_execute", recorder.sqlalchemy)
        r = await book(client, driver, spot, 6, 7)
        assert r.status_code == 201, r.text
        through_api = recorder.take()
        raw.remove_query_logger(recorder.asyncpg)

        [bench_driver] = await booking_sql.drivers(raw, [driver.email])
        bench_spot = (await booking_sql.spots(raw, [spot["id"]]))[spot["id"]]
        raw.add_query_logger(recorder.asyncpg)
        await booking_sql.book(
            raw, settings, bench_driver, bench_spot, START.replace(hour=20), START.replace(hour=21), now=START
        )
        raw.remove_query_logger(recorder.asyncpg)
        through_bench = recorder.take()

    # The sign-in lookup, the rate-limit upsert, the spot locked with its calendar, the insert.
    assert len(through_api) == 4, through_api
    assert through_bench == through_api
