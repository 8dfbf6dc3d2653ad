"""The schema comes only from the migrations: they must go up, down and up again, and match the
models exactly."""

from __future__ import annotations

import asyncio
import os

import pytest
from alembic import command
from sqlalchemy.engine import make_url

from app.migrations import alembic_config, drop_database, ensure_database, upgrade
from app.settings import Settings

# A database of its own, migrated up, down and up again.
pytestmark = pytest.mark.slow


async def test_migrations_round_trip_and_match_the_models(settings: Settings) -> None:
    url = (
        make_url(settings.database_url)
        .set(database=f"parkshare_test_{os.getpid()}_migrations")
        .render_as_string(hide_password=False)
    )
    await drop_database(url)
    await ensure_database(url)
    try:
        config = alembic_config(url)
        await asyncio.to_thread(upgrade, url)
        await asyncio.to_thread(command.downgrade, config, "base")
        await asyncio.to_thread(upgrade, url)
        # Raises when autogenerate would find a difference between the models and the schema.
        await asyncio.to_thread(command.check, config)
    finally:
        await drop_database(url)
