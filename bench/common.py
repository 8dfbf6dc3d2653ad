"""What the benchmarks share: a scratch database, a served API with two workers, a lean HTTP client
for load, CPU accounting per process group, and statistics."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from sqlalchemy.engine import make_url

from app.migrations import drop_database, ensure_database, upgrade
from app.settings import Settings

PARKSHARE = str(Path(sys.executable).with_name("parkshare"))
BENCH_SECRET = "bench-secret-that-is-long-enough-0123456789abcdef"
# Connections per serving process under load.
BENCH_POOL = {"DATABASE_POOL_SIZE": "20", "DATABASE_MAX_OVERFLOW": "0"}


def bench_database_url(name: str) -> str:
    """The benchmark's own database on the server of BENCH_DATABASE_URL (else DATABASE_URL);
    BENCH_DATABASE_SUFFIX keeps benchmarks of two checkouts on one server apart."""
    base = os.environ.get("BENCH_DATABASE_URL") or Settings().database_url
    name += os.environ.get("BENCH_DATABASE_SUFFIX", "")
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


@dataclass(frozen=True)
class Server:
    url: str
    pid: int


def server_env(database_url: str, **settings: str) -> dict[str, str]:
    """The environment of the benchmarks' `parkshare serve` and `parkshare worker`: extra keyword
    arguments are settings (`LOG_LEVEL="DEBUG"`)."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "JWT_SECRET": BENCH_SECRET,
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "WARNING",
        "SCHEDULER_ENABLED": "false",
        "ARGON2_TIME_COST": "1",
        "ARGON2_MEMORY_KIB": "1024",
        # Small by default: the tests start such servers, two at a time under xdist, beside others
        # on one PostgreSQL (max_connections 100). The benchmarks ask for BENCH_POOL.
        "DATABASE_POOL_SIZE": "6",
        "DATABASE_MAX_OVERFLOW": "2",
        # Every simulated driver comes from 127.0.0.1.
        "LOGIN_ATTEMPTS_PER_IP": "1000000",
        "REGISTRATIONS_PER_IP": "1000000",
        # Simulated owners publish spots right after signing up, with no mailbox to confirm from.
        "REQUIRE_EMAIL_VERIFICATION": "false",
        # A simulated driver books far faster than a person.
        "BOOKING_WRITES_PER_USER": "1000000",
        **settings,
    }


@contextlib.contextmanager
def served(
    database_url: str, workers: int = 2, *, log: Path | str | None = None, **settings: str
) -> Iterator[Server]:
    """`parkshare serve --workers N` on a free loopback port until /readyz answers; stopped
    afterwards. Extra keyword arguments are settings (`LOG_LEVEL="DEBUG"`); `log` keeps the
    server's stderr. The tests use it too."""
    command = [PARKSHARE, "serve", "--workers", str(workers), "--no-access-log", "--port"]
    with serving(command, database_url, settings, log=log) as server:
        yield server


@contextlib.contextmanager
def serving(
    command: list[str],
    database_url: str,
    settings: dict[str, str],
    *,
    log: Path | str | None = None,
    cwd: Path | None = None,
) -> Iterator[Server]:
    """`command` followed by a free loopback port, in the benchmarks' environment with `settings`,
    until its /readyz answers 200 (within 60 s); terminated afterwards. `log` keeps its stderr."""
    port = _free_port()
    log_file = open(log, "ab") if log is not None else None  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [*command, str(port)],
        env=server_env(database_url, **settings),
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=log_file or subprocess.DEVNULL,
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
        yield Server(url=base, pid=proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        if log_file is not None:
            log_file.close()


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


class KeepAlive:
    """HTTP/1.1 on one keep-alive loopback connection, just enough for a load phase.

    The load generator shares the machine with the server it measures. httpx spends about 1 ms of
    CPU per request: the same server booked 207/s under httpx and 560/s under this client, which
    spends about 0.1 ms per request, like the asyncpg client of the raw-SQL baselines."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, host: str) -> None:
        self._reader = reader
        self._writer = writer
        self._host = host

    @classmethod
    async def open(cls, base_url: str) -> KeepAlive:
        host, port = base_url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer, f"{host}:{port}")

    async def get(self, path: str, params: Mapping[str, Any]) -> tuple[int, bytes]:
        return await self._request("GET", f"{path}?{urlencode(params)}", {}, b"")

    async def post_json(self, path: str, body: Any, headers: Mapping[str, str]) -> tuple[int, bytes]:
        data = json.dumps(body).encode()
        return await self._request(
            "POST",
            path,
            {"content-type": "application/json", "content-length": str(len(data)), **headers},
            data,
        )

    async def _request(
        self, method: str, target: str, headers: Mapping[str, str], data: bytes
    ) -> tuple[int, bytes]:
        head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        self._writer.write(f"{method} {target} HTTP/1.1\r\nhost: {self._host}\r\n{head}\r\n".encode() + data)
        status = int((await self._reader.readline()).split()[1])
        length = None
        while (line := await self._reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length is None:
            raise RuntimeError("the answer has no content-length")
        return status, await self._reader.readexactly(length)

    async def close(self) -> None:
        self._writer.close()
        await self._writer.wait_closed()


def _proc_stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            # The command name may hold spaces; the fields after it do not.
            return f.read().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return None


def _all_pids() -> list[int]:
    return [int(name) for name in os.listdir("/proc") if name.isdigit()]


def process_tree(root: int) -> list[int]:
    parents = {pid: int(stat[1]) for pid in _all_pids() if (stat := _proc_stat(pid)) is not None}
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def postgres_pids(database: str | None = None) -> list[int]:
    """PostgreSQL's processes; with `database`, only the backends connected to it (their title
    reads `postgres: <cluster>: <user> <database> <client> <state>`), so that the work of other
    databases on a shared server is not counted."""
    pids = []
    for pid in _all_pids():
        with contextlib.suppress(OSError), open(f"/proc/{pid}/comm") as f:
            if f.read().strip() != "postgres":
                continue
            if database is not None:
                with open(f"/proc/{pid}/cmdline", "rb") as c:
                    if f" {database} ".encode() not in c.read():
                        continue
            pids.append(pid)
    return pids


def cpu_seconds(pids: list[int]) -> float:
    ticks = 0
    for pid in pids:
        if (stat := _proc_stat(pid)) is not None:
            ticks += int(stat[11]) + int(stat[12])  # utime + stime
    return ticks / os.sysconf("SC_CLK_TCK")


def _machine_ticks() -> tuple[int, int]:
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return sum(values), values[3] + values[4]  # all, idle + iowait


@dataclass
class CpuMeter:
    """CPU seconds spent by the server's processes (if any), PostgreSQL's and this one over a
    measured span, and how busy the whole machine was (Linux /proc)."""

    server_pid: int | None = None
    # Count only this database's backends (see `postgres_pids`); else all of PostgreSQL.
    database: str | None = None
    # Backends counted apart, as "postgres outbox": the outbox readers' (`app.events.hub`).
    outbox: list[int] = field(default_factory=list)
    spent: dict[str, float] = field(default_factory=dict)
    busy: float = 0.0

    def _sample(self) -> dict[str, float]:
        server = {} if self.server_pid is None else {"server": cpu_seconds(process_tree(self.server_pid))}
        postgres = cpu_seconds(postgres_pids(self.database))
        outbox = {"postgres outbox": cpu_seconds(self.outbox)} if self.outbox else {}
        return {
            **server,
            "postgres": postgres - sum(outbox.values()),
            **outbox,
            "load generator": time.process_time(),
        }

    @contextlib.contextmanager
    def measure(self) -> Iterator[None]:
        before, machine_before = self._sample(), _machine_ticks()
        yield
        after, machine_after = self._sample(), _machine_ticks()
        self.spent = {name: after[name] - before[name] for name in before}
        total, idle = (a - b for a, b in zip(machine_after, machine_before, strict=True))
        self.busy = 1 - idle / total if total else float("nan")

    def per(self, count: int) -> str:
        parts = [f"{name} {1000 * s / count:5.2f}" for name, s in self.spent.items()]
        return "  ".join([*parts, f"total {1000 * sum(self.spent.values()) / count:5.2f}"])


NO_CONTENT = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"


async def read_webhook(reader: asyncio.StreamReader) -> tuple[str, bytes]:
    """One request of a webhook sender on a kept-alive connection, for the benchmarks' receivers:
    its `webhook-id` ("" without one) and its body. IncompleteReadError when the sender closed."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    webhook_id = ""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        key = name.strip().lower()
        if key == b"content-length":
            length = int(value)
        elif key == b"webhook-id":
            webhook_id = value.strip().decode()
    return webhook_id, await reader.readexactly(length)
