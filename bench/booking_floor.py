"""The floor of a booking over HTTP in Python: a bare ASGI function under the same uvicorn (two
workers, uvloop, httptools) that verifies the driver's token with the service's own check, sends
the statements of a booking (`bench.booking_sql.book`, the service's own SQL), wakes its outbox
reader as a serving process does, and answers 201 with the driver's view of the booking that its
event carries.

What it leaves out is what the API does in Python besides HTTP, the token and the SQL: FastAPI's
routing, dependencies and validation, SQLAlchemy's session, the booking engine's decision,
pricing, and building the answer's model. So in `bench.booking_throughput --floor` the gap
between this side and the same SQL is what HTTP and the token cost in Python, and the gap between
the API and this side is what the framework and the service's own Python cost (docs/bookings.md).

A benchmark's peer, not a service: it trusts its input (the benchmark's own requests), reads the
spots and drivers once at startup, and answers anything else 404. /readyz is 200 once a worker has
started; a worker that cannot start stops the server.

    uvicorn bench.booking_floor:app --workers 2 --loop uvloop --http httptools --lifespan on
"""

from __future__ import annotations

import contextlib
import json
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg

from app.auth.service import Auth, verify
from app.events.hub import Hub
from app.settings import Settings, get_settings
from bench import booking_sql
from bench.common import Server, serving

UVICORN = str(Path(sys.executable).with_name("uvicorn"))


class _Floor:
    """What a worker reads once: the settings, the pool, the spots, the drivers' names."""

    def __init__(self) -> None:
        self.settings: Settings = get_settings()
        self.auth = Auth.from_settings(self.settings)
        self.pool: asyncpg.Pool | None = None
        self.hub = Hub(self.settings.plain_database_url)
        self.spots: dict[str, booking_sql.Spot] = {}
        self.names: dict[uuid.UUID, str] = {}

    async def start(self) -> None:
        self.pool = await asyncpg.create_pool(
            self.settings.plain_database_url,
            min_size=self.settings.database_pool_size,
            max_size=self.settings.database_pool_size,
            # The serving processes' connection settings (app.db.Database).
            server_settings={
                "application_name": "parkshare",
                "statement_timeout": str(self.settings.database_statement_timeout_ms),
                "timezone": "UTC",
            },
        )
        async with self.pool.acquire() as conn:
            ids = [str(r["id"]) for r in await conn.fetch("select id from spots")]
            self.spots = await booking_sql.spots(conn, ids)
            self.names = {
                r["id"]: r["display_name"] for r in await conn.fetch("select id, display_name from users")
            }
        await self.hub.start()

    async def stop(self) -> None:
        await self.hub.stop()
        if self.pool is not None:
            await self.pool.close()

    async def book(self, body: bytes, authorization: str) -> bytes:
        pool = self.pool
        assert pool is not None
        data = json.loads(body)
        now = datetime.now(UTC)
        claims = verify(self.auth, authorization.removeprefix("Bearer "), now)
        driver = booking_sql.Driver(claims.user_id, claims.session_id, self.names[claims.user_id])
        spot = self.spots[data["spot_id"]]
        start, end = datetime.fromisoformat(data["start"]), datetime.fromisoformat(data["end"])
        async with pool.acquire() as conn:
            data = await booking_sql.book(conn, self.settings, driver, spot, start, end, now)
        self.hub.poke()
        return data.encode()


# Made at startup, in the worker, from the settings of its environment.
_floor: _Floor | None = None


async def _send(send: Any, status: int, body: bytes) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Any, send: Any) -> None:
    global _floor
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            try:
                floor = _Floor()
                await floor.start()
            except Exception as exc:
                await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                return
            _floor = floor
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if _floor is not None:
                await _floor.stop()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] == "lifespan":
        await _lifespan(receive, send)
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    if scope["method"] == "GET" and scope["path"] == "/readyz":
        await _send(send, 200 if _floor is not None else 503, b"{}")
    elif scope["method"] == "POST" and scope["path"] == "/v1/bookings" and _floor is not None:
        headers = dict(scope["headers"])
        await _send(send, 201, await _floor.book(body, headers[b"authorization"].decode()))
    else:
        await _send(send, 404, b"{}")


@contextlib.contextmanager
def served(database_url: str, workers: int = 2, **settings: str) -> Iterator[Server]:
    """This app under uvicorn as `parkshare serve` runs the service, until stopped."""
    command = [
        UVICORN,
        "bench.booking_floor:app",
        "--workers",
        str(workers),
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--lifespan",
        "on",
        "--no-access-log",
        "--log-level",
        "warning",
        "--port",
    ]
    with serving(command, database_url, settings, cwd=Path(__file__).resolve().parent.parent) as server:
        yield server
