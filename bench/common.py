"""What the benchmarks share: a scratch database, a served API with two workers, and statistics."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
from sqlalchemy.engine import make_url

from app.migrations import drop_database, ensure_database, upgrade
from app.settings import Settings

PARKSHARE = str(Path(sys.executable).with_name("parkshare"))
BENCH_SECRET = "bench-secret-that-is-long-enough-0123456789abcdef"


def bench_database_url(name: str) -> str:
    base = os.environ.get("BENCH_DATABASE_URL") or Settings().database_url
    return make_url(base).set(database=name).render_as_string(hide_password=False)


async def fresh_database(url: str) -> None:
    await drop_database(url)
    await ensure_database(url)
    await asyncio.to_thread(upgrade, url)


def asyncpg_dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def served(database_url: str, workers: int = 2, **settings: str) -> Iterator[str]:
    """`parkshare serve --workers N` on a free loopback port until /readyz answers; stopped
    afterwards. Extra keyword arguments are settings (`LOG_LEVEL="DEBUG"`). The tests use it too."""
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "JWT_SECRET": BENCH_SECRET,
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "WARNING",
        "SCHEDULER_ENABLED": "false",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "1024",
        "DATABASE_POOL_SIZE": "20",
        "DATABASE_MAX_OVERFLOW": "0",
        # Every simulated driver comes from 127.0.0.1.
        "LOGIN_ATTEMPTS_PER_IP": "1000000",
        "REGISTRATIONS_PER_IP": "1000000",
        **settings,
    }
    proc = subprocess.Popen(
        [PARKSHARE, "serve", "--port", str(port), "--workers", str(workers), "--no-access-log"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextlib.asynccontextmanager
async def client(base: str, connections: int) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as c:
        yield c


async def account(c: httpx.AsyncClient, email: str) -> dict[str, str]:
    password = "bench-password-1"
    await c.post("/v1/auth/register", json={"email": email, "password": password, "display_name": "Bench"})
    r = await c.post("/v1/auth/login", json={"email": email, "password": password})
    r.raise_for_status()
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


def summary(latencies_s: list[float]) -> str:
    ms = [v * 1000 for v in latencies_s]
    return (
        f"p50 {percentile(ms, 50):7.2f} ms  p99 {percentile(ms, 99):7.2f} ms  "
        f"mean {statistics.fmean(ms) if ms else float('nan'):7.2f} ms"
    )
