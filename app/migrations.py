"""Running Alembic from the application: `parkshare migrate`, the readiness check and the tests."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from app.settings import Settings

ALEMBIC_DIR = Path(__file__).resolve().parent.parent / "alembic"


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(ALEMBIC_DIR))
    # ConfigParser interpolation: a literal % in a password must be doubled.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    config.attributes["configure_logger"] = False
    return config


def head_revision() -> str:
    heads = ScriptDirectory(str(ALEMBIC_DIR)).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads, expected one")
    return heads[0]


def upgrade(database_url: str, revision: str = "head") -> None:
    """Blocking; Alembic's env.py runs its own event loop."""
    command.upgrade(alembic_config(database_url), revision)


async def ensure_database(database_url: str) -> bool:
    """Creates the URL's database when it does not exist. Returns whether it created it."""
    url = make_url(database_url)
    name = url.database
    if not name:
        raise ValueError("DATABASE_URL names no database")
    conn = await _connect_maintenance(database_url)
    try:
        if await conn.fetchval("select 1 from pg_database where datname = $1", name):
            return False
        await conn.execute(f'create database "{_ident(name)}"')
        return True
    finally:
        await conn.close()


async def drop_database(database_url: str) -> None:
    conn = await _connect_maintenance(database_url)
    try:
        await conn.execute(
            f'drop database if exists "{_ident(make_url(database_url).database or "")}" with (force)'
        )
    finally:
        await conn.close()


async def _connect_maintenance(database_url: str) -> asyncpg.Connection:
    url = make_url(database_url).set(drivername="postgresql", database="postgres")
    return await asyncpg.connect(url.render_as_string(hide_password=False), timeout=10)


def _ident(name: str) -> str:
    if '"' in name or "\x00" in name:
        raise ValueError(f"unusable database name {name!r}")
    return name


def migrate(settings: Settings) -> None:
    created = asyncio.run(ensure_database(settings.database_url))
    if created:
        print(f"parkshare: created database {make_url(settings.database_url).database}", flush=True)
    upgrade(settings.database_url)
