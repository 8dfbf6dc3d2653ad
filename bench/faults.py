"""Faults, measured: steady booking load on 4 serving processes and 1 `parkshare worker` while a
serving process is killed with SIGKILL every few seconds, PostgreSQL stops and starts again, and
the worker is killed and started again. Afterwards the database is checked against what the
clients were told.

    .venv/bin/python -m bench.faults [--duration 60] [--drivers 8] [--kill-every 4] [--pg-down 3]

It needs root on Debian: it runs on a PostgreSQL cluster of its own (`bench.pgcluster`, port 5434),
which it stops and starts; the development cluster is never touched.

Each simulated driver holds a booking (`POST /v1/bookings` with an Idempotency-Key) and confirms
it, retrying an answer that did not come, a 503 or a 409 `idempotency_in_progress` with the same
key, as the API asks of clients. The checks:

- every booking answered 201 exists, with its `booking.held` event, and that event's delivery row
  for the webhook; every confirm answered 200 left a `confirmed` booking with its event;
- every booking in the database was answered 201, or its request's answer never arrived (its last
  try was cut off or the driver gave up): counted, not an error; anything else is a phantom write;
- no two active bookings of a spot overlap;
- every event the webhook subscribes to reached a real receiver on loopback once the worker ran
  again (duplicates are allowed, at least once, and counted);
- no 500; every 503 is `unavailable` with `Retry-After`; every answer to a request sent while
  PostgreSQL was down is that 503;
- readiness (`/readyz`) is back within 5 s of PostgreSQL accepting connections.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import subprocess
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench.booking_throughput import EVERY_DAY, _spot
from bench.common import (
    PARKSHARE,
    account,
    asyncpg_dsn,
    fresh_database,
    percentile,
    served,
    server_env,
)
from bench.events import Receiver
from bench.pgcluster import BENCH_CLUSTER, Cluster, ensure_cluster
from booking.sql import active

READY_WITHIN = 5.0  # seconds from PostgreSQL accepting connections to /readyz answering 200
GIVE_UP_AFTER = 30.0  # a driver stops retrying one request after this long
HOOK_TYPES = ["booking.held", "booking.confirmed"]
WORKERS = 4  # serving processes


@dataclass
class Attempt:
    kind: str  # "book" or "confirm"
    sent: float
    answered: float | None = None
    status: int | None = None
    code: str | None = None
    retry_after: str | None = None


@dataclass
class Faults:
    """When each fault happened (monotonic seconds) and what was measured around it."""

    kills: list[tuple[float, int]] = field(default_factory=list)  # (when, pid)
    replaced_after: list[float] = field(default_factory=list)  # kill -> replacement talks to PostgreSQL
    pg_stop: float | None = None  # `stop` begun
    pg_stopped: float | None = None  # `stop` returned: nothing accepts connections
    pg_start: float | None = None  # `start` begun
    pg_up: float | None = None  # PostgreSQL accepts connections again
    ready_after: float | None = None  # pg_up -> first /readyz 200
    first_booking_after: float | None = None  # pg_up -> first 201 sent after it
    worker_killed: float | None = None
    pg_back: asyncio.Event = field(default_factory=asyncio.Event)
    worker_started: float | None = None


@dataclass
class Outcome:
    attempts: list[Attempt] = field(default_factory=list)
    acknowledged: dict[str, str] = field(default_factory=dict)  # booking id -> its key
    confirmed: set[str] = field(default_factory=set)  # booking ids answered 200 to confirm
    unanswered_keys: set[str] = field(default_factory=set)  # booking keys whose answer never came
    unanswered_confirms: set[str] = field(default_factory=set)  # booking ids
    faults: Faults = field(default_factory=Faults)


@dataclass
class Report:
    requests: int
    statuses: Counter[int]
    unanswered_tries: int  # tries cut off without an answer (retried or not)
    unanswered_requests: int  # bookings whose final answer never came
    written_unanswered: int  # rows of those that exist anyway
    lost_acknowledged: int
    phantom_writes: int
    overlaps: int
    hook_events: int
    lost_hook_events: int
    duplicate_deliveries: int
    bad_503: int  # a 503 without code `unavailable` or `Retry-After`
    not_503_while_down: int
    answers_while_down: int
    faults: Faults
    load: str
    duration: float

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status >= 500 and status != 503)

    def failures(self) -> list[str]:
        out = []
        for name, value in (
            ("lost acknowledged writes", self.lost_acknowledged),
            ("phantom writes", self.phantom_writes),
            ("overlaps", self.overlaps),
            ("lost webhook events", self.lost_hook_events),
            ("5xx other than 503", self.server_errors),
            ("503 without code unavailable / Retry-After", self.bad_503),
            ("answers other than 503 while PostgreSQL was down", self.not_503_while_down),
        ):
            if value:
                out.append(f"{name}: {value}")
        ready = self.faults.ready_after
        if ready is None or ready > READY_WITHIN:
            out.append(f"/readyz back after {ready} s (at most {READY_WITHIN} s)")
        return out

    def table(self) -> str:
        f = self.faults
        others = ", ".join(
            f"{status}: {n}" for status, n in sorted(self.statuses.items()) if status not in (200, 201, 503)
        )

        def secs(value: float | None) -> str:
            return "never" if value is None else f"{value:.2f} s"

        replaced = sorted(f.replaced_after)
        rows = [
            ("requests (tries, book + confirm)", f"{self.requests}"),
            ("201 booked", f"{self.statuses.get(201, 0)}"),
            ("200 confirmed", f"{self.statuses.get(200, 0)}"),
            ("503 unavailable", f"{self.statuses.get(503, 0)}"),
            ("other statuses", others or "none"),
            ("tries without an answer", f"{self.unanswered_tries}"),
            ("bookings whose answer never came", f"{self.unanswered_requests}"),
            ("  of which written anyway", f"{self.written_unanswered}"),
            ("lost acknowledged writes (must be 0)", f"{self.lost_acknowledged}"),
            ("phantom writes (must be 0)", f"{self.phantom_writes}"),
            ("overlapping active bookings (must be 0)", f"{self.overlaps}"),
            ("webhook events expected", f"{self.hook_events}"),
            ("lost webhook events (must be 0)", f"{self.lost_hook_events}"),
            ("duplicate webhook deliveries", f"{self.duplicate_deliveries}"),
            ("500s / other 5xx (must be 0)", f"{self.server_errors}"),
            ("bad 503s (must be 0)", f"{self.bad_503}"),
            (
                "answers while PG down / not 503 (must be 0)",
                f"{self.answers_while_down} / {self.not_503_while_down}",
            ),
            ("serving processes killed", f"{len(f.kills)}"),
            (
                "  replacement talks to PG after",
                f"p50 {percentile(replaced, 50):.2f} s, max {max(replaced, default=float('nan')):.2f} s"
                if replaced
                else "n/a",
            ),
            (
                "PostgreSQL down (stop -> accepting)",
                secs(f.pg_up - f.pg_stop if f.pg_up is not None and f.pg_stop is not None else None),
            ),
            ("/readyz 200 after PG is up (max 5 s)", secs(f.ready_after)),
            ("first 201 after PG is up", secs(f.first_booking_after)),
            (
                "worker down (kill -> started again)",
                secs(
                    f.worker_started - f.worker_killed
                    if f.worker_started is not None and f.worker_killed is not None
                    else None
                ),
            ),
        ]
        width = max(len(name) for name, _ in rows)
        lines = [f"faults over {self.duration:.0f} s of load; {self.load}"]
        lines += [f"  {name:<{width}}  {value}" for name, value in rows]
        return "\n".join(lines)


def _uptime() -> str:
    with open("/proc/loadavg") as f:
        one, five, fifteen = f.read().split()[:3]
    return f"load average {one}, {five}, {fifteen} on {os.cpu_count()} cores"


def serving_processes(supervisor: int) -> list[int]:
    """uvicorn's worker processes under its supervisor (not multiprocessing's helpers)."""
    try:
        with open(f"/proc/{supervisor}/task/{supervisor}/children") as f:
            children = [int(pid) for pid in f.read().split()]
    except FileNotFoundError:
        return []
    out = []
    for pid in children:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"spawn_main" in f.read():
                out.append(pid)
    return out


def talks_to(pid: int, port: int) -> bool:
    """Whether process `pid` holds an established TCP connection to 127.0.0.1:`port`."""
    try:
        inodes = {
            os.readlink(f"/proc/{pid}/fd/{fd}")[8:-1]
            for fd in os.listdir(f"/proc/{pid}/fd")
            if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:[")
        }
        with open(f"/proc/{pid}/net/tcp") as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        return False
    for line in lines:
        parts = line.split()
        remote_port = int(parts[2].split(":")[1], 16)
        if remote_port == port and parts[3] == "01" and parts[9] in inodes:
            return True
    return False


class Driver:
    """A simulated app: hold a booking, confirm it, again, retrying with the same key."""

    def __init__(
        self, c: httpx.AsyncClient, headers: dict[str, str], slots: list[tuple[str, datetime]], out: Outcome
    ) -> None:
        self.c = c
        self.headers = headers
        self.slots = slots
        self.out = out
        self.rng = random.Random()

    async def _call(
        self, kind: str, path: str, key: str, body: dict[str, Any] | None
    ) -> httpx.Response | None:
        """The final answer to one request, or None when none came before GIVE_UP_AFTER."""
        deadline = time.monotonic() + GIVE_UP_AFTER
        while True:
            attempt = Attempt(kind, time.monotonic())
            self.out.attempts.append(attempt)
            try:
                r = await self.c.post(path, json=body, headers={**self.headers, "Idempotency-Key": key})
            except httpx.TransportError:
                r = None
            attempt.answered = time.monotonic()
            if r is not None:
                attempt.status = r.status_code
                attempt.retry_after = r.headers.get("retry-after")
                if r.headers.get("content-type", "").startswith("application/problem+json"):
                    attempt.code = r.json().get("code")
                retry = r.status_code == 503 or attempt.code == "idempotency_in_progress"
                if not retry:
                    return r
            else:
                attempt.answered = None
            if time.monotonic() > deadline:
                return None
            # A real app waits Retry-After; the benchmark keeps the pressure on.
            await asyncio.sleep(0.2 + self.rng.random() * 0.3)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            spot_id, start = self.rng.choice(self.slots)
            key = f"book-{uuid.uuid4()}"
            body = {
                "spot_id": spot_id,
                "start": start.isoformat(),
                "end": (start + timedelta(hours=1)).isoformat(),
            }
            r = await self._call("book", "/v1/bookings", key, body)
            if r is None:
                self.out.unanswered_keys.add(key)
                continue
            if r.status_code != 201:
                continue
            booking_id = r.json()["id"]
            self.out.acknowledged[booking_id] = key
            r = await self._call(
                "confirm", f"/v1/bookings/{booking_id}/confirm", f"confirm-{booking_id}", None
            )
            if r is None:
                self.out.unanswered_confirms.add(booking_id)
            elif r.status_code == 200:
                self.out.confirmed.add(booking_id)


async def _watch_readiness(base: str, faults: Faults) -> None:
    """From PostgreSQL accepting connections to the first /readyz 200, asked every 20 ms on a new
    connection (so the kernel spreads the probes over the serving processes)."""
    await faults.pg_back.wait()
    assert faults.pg_up is not None
    while time.monotonic() - faults.pg_up < 60:
        with contextlib.suppress(httpx.TransportError):  # a serving process just killed
            async with httpx.AsyncClient(timeout=2) as c:
                if (await c.get(f"{base}/readyz")).status_code == 200:
                    faults.ready_after = time.monotonic() - faults.pg_up
                    return
        await asyncio.sleep(0.02)


async def _restart_postgres(cluster: Cluster, down: float, faults: Faults) -> None:
    faults.pg_stop = time.monotonic()
    if down <= 0:
        await asyncio.to_thread(cluster.ctl, "restart", "-m", "fast")
        faults.pg_stopped = faults.pg_start = faults.pg_stop
    else:
        await asyncio.to_thread(cluster.ctl, "stop", "-m", "fast")
        faults.pg_stopped = time.monotonic()
        await asyncio.sleep(down)
        faults.pg_start = time.monotonic()
        await asyncio.to_thread(cluster.ctl, "start")
    await asyncio.to_thread(cluster.wait_ready)
    faults.pg_up = time.monotonic()
    faults.pg_back.set()


async def _kill_serving(
    supervisor: int, workers: int, pg_port: int, faults: Faults, rng: random.Random
) -> None:
    before = serving_processes(supervisor)
    # One that serves: a replacement still starting up would not cut any request. At most one
    # is down at a time (on a loaded machine a replacement takes longer than the kill period),
    # and none during PostgreSQL's outage, which is measured alone.
    serving = [pid for pid in before if talks_to(pid, pg_port)]
    if len(serving) < len(before) or len(before) < workers:
        if os.environ.get("FAULTS_DEBUG"):
            print(f"no kill: {before} serving {serving}")
        return
    if faults.pg_stop is not None and (faults.pg_up is None or time.monotonic() < faults.pg_up + 10):
        return
    victim = rng.choice(serving)
    killed = time.monotonic()
    with contextlib.suppress(ProcessLookupError):
        os.kill(victim, signal.SIGKILL)
    faults.kills.append((killed, victim))
    deadline = killed + 60
    while time.monotonic() < deadline:
        new = [pid for pid in serving_processes(supervisor) if pid not in before]
        if new and talks_to(new[0], pg_port):
            faults.replaced_after.append(time.monotonic() - killed)
            return
        await asyncio.sleep(0.05)
    if os.environ.get("FAULTS_DEBUG"):
        print(
            f"killed {victim}: no replacement talks to PostgreSQL: {serving_processes(supervisor)} {before}"
        )


class QuietReceiver(Receiver):
    """bench.events' receiver, whose open connections end quietly when it stops."""

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.CancelledError):
            await super()._serve(reader, writer)


def _start_worker(env: dict[str, str], log: Path | None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [PARKSHARE, "worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(log, "ab") if log is not None else subprocess.DEVNULL,
    )


async def run(
    cluster: Cluster,
    *,
    duration: float = 60.0,
    drivers: int = 8,
    spots: int = 10,
    days: int = 10,
    kill_every: float = 4.0,
    pg_down: float = 3.0,
    worker_down: float = 3.0,
    lease_seconds: int = 30,
    settle: float = 60.0,
    database: str = "parkshare_bench_faults",
    log: Path | None = None,
) -> Report:
    url = cluster.url(database + os.environ.get("BENCH_DATABASE_SUFFIX", ""))
    await fresh_database(url)
    settings = {
        # Only the `parkshare worker` delivers and runs the jobs, so killing it stops delivery.
        "SCHEDULER_ENABLED": "false",
        "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        "DATABASE_POOL_SIZE": "10",
        "DATABASE_MAX_OVERFLOW": "0",
        # A killed worker's claimed deliveries are sent again when their lease runs out.
        "DELIVERY_LEASE_SECONDS": str(lease_seconds),
    }
    receiver = QuietReceiver()
    await receiver.start()
    out = Outcome()
    faults = out.faults
    worker: subprocess.Popen[bytes] | None = None
    worker_env = server_env(url, **settings)
    started = time.monotonic()
    try:
        with served(url, workers=WORKERS, log=log, **settings) as server:
            limits = httpx.Limits(max_connections=drivers + 4, max_keepalive_connections=drivers + 4)
            async with httpx.AsyncClient(base_url=server.url, timeout=30, limits=limits) as c:
                owner = await account(c, "owner@faults.example.org")
                hook = await c.post(
                    "/v1/me/webhooks",
                    headers=owner,
                    json={"url": f"http://127.0.0.1:{receiver.port}/hook", "events": HOOK_TYPES},
                )
                hook.raise_for_status()
                spot_ids = []
                for n in range(spots):
                    r = await c.post("/v1/spots", headers=owner, json=_spot(n))
                    r.raise_for_status()
                    spot_ids.append(r.json()["id"])
                    r = await c.post(
                        f"/v1/spots/{spot_ids[-1]}/availability/rules", headers=owner, json=EVERY_DAY
                    )
                    r.raise_for_status()
                heads = [await account(c, f"driver{n}@faults.example.org") for n in range(drivers)]
                base = (datetime.now(UTC) + timedelta(days=1)).replace(
                    hour=0, minute=0, second=0, microsecond=0
                )
                # Hour slots over `days` days: drivers collide now and then (409), and the buffer
                # between neighbouring hours makes more of them conflict.
                slots = [(s, base + timedelta(hours=h)) for s in spot_ids for h in range(24 * days)]

                worker = _start_worker(worker_env, log)
                stop = asyncio.Event()
                rng = random.Random(16)
                loads = [asyncio.create_task(Driver(c, h, slots, out).run(stop)) for h in heads]
                watcher = asyncio.create_task(_watch_readiness(server.url, faults))
                started = time.monotonic()

                async def killer() -> None:
                    watches = []
                    while not stop.is_set():
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(stop.wait(), kill_every)
                        if not stop.is_set():
                            watches.append(
                                asyncio.create_task(
                                    _kill_serving(server.pid, WORKERS, cluster.port, faults, rng)
                                )
                            )
                    await asyncio.gather(*watches)

                async def plan() -> None:
                    await asyncio.sleep(duration * 0.3)
                    await _restart_postgres(cluster, pg_down, faults)
                    await asyncio.sleep(max(0.0, started + duration * 0.6 - time.monotonic()))
                    assert worker is not None
                    worker.kill()
                    worker.wait()
                    faults.worker_killed = time.monotonic()
                    await asyncio.sleep(worker_down)
                    return

                killing = asyncio.create_task(killer())
                await plan()
                worker = _start_worker(worker_env, log)
                faults.worker_started = time.monotonic()
                await asyncio.sleep(max(0.0, started + duration - time.monotonic()))
                stop.set()
                await asyncio.gather(*loads)
                await asyncio.wait_for(killing, 90)
                elapsed = time.monotonic() - started
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(watcher, 30)

            report = await _check(url, out, receiver, settle)
            report.duration = elapsed
            return report
    finally:
        if worker is not None and worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
        await receiver.stop()


async def _check(url: str, out: Outcome, receiver: Receiver, settle: float) -> Report:
    faults = out.faults
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        expected_hook = {
            str(r["id"])
            for r in await conn.fetch(
                "select e.id from events e where e.type = any($1::text[]) and e.owner_id is not null",
                HOOK_TYPES,
            )
        }
        # Every event reached the receiver once the worker ran again: wait for it (a killed
        # worker's claims come back after their lease).
        deadline = time.monotonic() + settle
        while not expected_hook <= receiver.ids and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            # Events written by requests whose answers came late are in the table too.
            expected_hook = {
                str(r["id"])
                for r in await conn.fetch(
                    "select e.id from events e where e.type = any($1::text[]) and e.owner_id is not null",
                    HOOK_TYPES,
                )
            }
        acked = list(out.acknowledged)
        present = {
            str(r["id"]): r
            for r in await conn.fetch(
                """
                select b.id, b.status::text as status,
                       exists (select 1 from events e where e.booking_id = b.id and e.type = 'booking.held'
                               and exists (select 1 from deliveries d where d.event_seq = e.seq)) as held_told,
                       exists (select 1 from events e where e.booking_id = b.id and e.type = 'booking.confirmed'
                               and exists (select 1 from deliveries d where d.event_seq = e.seq)) as confirmed_told
                from bookings b
                """
            )
        }
        lost = 0
        for booking_id in acked:
            row = present.get(booking_id)
            held_lost = row is None or not row["held_told"]
            confirm_lost = (
                row is not None
                and booking_id in out.confirmed
                and (row["status"] == "held" or not row["confirmed_told"])
            )
            lost += held_lost or confirm_lost
        keys = {
            r["id"]: r["key"]
            for r in await conn.fetch(
                "select response->>'id' as id, key from idempotency_keys where status_code = 201 and key like 'book-%'"
            )
        }
        written_unanswered = phantom = 0
        for booking_id, row in present.items():
            if booking_id in out.acknowledged:
                # Confirmed though no 200 came: only if that confirm's answer never arrived.
                confirmed_unanswered = row["status"] == "confirmed" and booking_id not in out.confirmed
                phantom += confirmed_unanswered and booking_id not in out.unanswered_confirms
                continue
            if keys.get(booking_id) in out.unanswered_keys:
                written_unanswered += 1
            else:
                phantom += 1
        overlaps = await conn.fetchval(
            f"""
            select count(*) from bookings a join bookings b
              on a.spot_id = b.spot_id and a.id < b.id
             and tstzrange(a.start_at, a.end_at, '[)') && tstzrange(b.start_at, b.end_at, '[)')
            where {active("a.")} and {active("b.")}
            """  # noqa: S608 - constants
        )
    finally:
        await conn.close()

    _first_booking_after(out)
    answered = [a for a in out.attempts if a.status is not None]
    statuses = Counter(a.status for a in answered if a.status is not None)
    bad_503 = sum(1 for a in answered if a.status == 503 and (a.code != "unavailable" or not a.retry_after))
    while_down = []
    if faults.pg_stopped is not None and faults.pg_start is not None:
        while_down = [
            a
            for a in answered
            if a.sent >= faults.pg_stopped and a.answered is not None and a.answered <= faults.pg_start
        ]
    return Report(
        requests=len(out.attempts),
        statuses=statuses,
        unanswered_tries=sum(1 for a in out.attempts if a.status is None),
        unanswered_requests=len(out.unanswered_keys),
        written_unanswered=written_unanswered,
        lost_acknowledged=lost,
        phantom_writes=phantom,
        overlaps=int(overlaps),
        hook_events=len(expected_hook),
        lost_hook_events=len(expected_hook - receiver.ids),
        duplicate_deliveries=receiver.duplicates,
        bad_503=bad_503,
        not_503_while_down=sum(1 for a in while_down if a.status != 503),
        answers_while_down=len(while_down),
        faults=faults,
        load=_uptime(),
        duration=0.0,
    )


def _first_booking_after(out: Outcome) -> None:
    f = out.faults
    if f.pg_up is None:
        return
    after = [
        a.answered for a in out.attempts if a.status == 201 and a.answered is not None and a.sent >= f.pg_up
    ]
    if after:
        f.first_booking_after = min(after) - f.pg_up


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    parser.add_argument("--drivers", type=int, default=8, help="concurrent simulated drivers (default 8)")
    parser.add_argument("--spots", type=int, default=10)
    parser.add_argument("--kill-every", type=float, default=4.0, help="SIGKILL a serving process this often")
    parser.add_argument(
        "--pg-down", type=float, default=3.0, help="seconds PostgreSQL stays stopped (0: `restart -m fast`)"
    )
    parser.add_argument("--worker-down", type=float, default=3.0, help="seconds the worker stays killed")
    parser.add_argument("--port", type=int, default=BENCH_CLUSTER[1], help="the private cluster's port")
    parser.add_argument("--log", type=Path, help="append the server's and the worker's logs here")
    args = parser.parse_args()
    cluster = ensure_cluster(BENCH_CLUSTER[0], args.port)
    report = asyncio.run(
        run(
            cluster,
            duration=args.duration,
            drivers=args.drivers,
            spots=args.spots,
            kill_every=args.kill_every,
            pg_down=args.pg_down,
            worker_down=args.worker_down,
            log=args.log,
        )
    )
    print(report.table())
    failures = report.failures()
    for failure in failures:
        print(f"FAILED: {failure}")
    raise SystemExit(1 if failures else 0)


if __name__ == "__main__":
    main()
