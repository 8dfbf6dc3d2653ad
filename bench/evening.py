"""An evening in the Kreuzviertel: what a few hundred app users do at the evening rush, against a
served API, with the offered rate stepped up until the overall p99 passes 100 ms.

    .venv/bin/python -m bench.evening [--workers 2] [--users 300] [--spots 1500] [--bookings 60000]

Every simulated driver runs journeys in a loop, each ending in a booking: 20 searches (a map
panned around the Kreuzviertel), 5 spot views and 3 free-interval reads of what the searches found,
then 2 quotes, the booking, its confirmation and the list of their bookings; an exponential think
time (mean: users / offered rate) before each request. Owners now and then add a one-off window to
one of their spots or take one away again. Browsing (search, spot views, free intervals) is
anonymous, as an app shows the map before sign-in; the rest is signed in.

The data set is bench.dataset's at a district's size: spots within 3 km of the Kreuzviertel with
weekly rules, windows, blackouts and existing bookings. The printed table gives per route class the
sustained rate and p50 / p99 at the highest step whose overall p99 stayed under 100 ms, the peak
RSS of each serving worker (VmRSS), and PostgreSQL's share of the CPU the run used (its backends of
the bench database, from /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

import asyncpg

from bench import dataset
from bench.common import (
    BENCH_POOL,
    Server,
    account,
    asyncpg_dsn,
    bench_database_url,
    client,
    cpu_seconds,
    fresh_database,
    percentile,
    process_tree,
    served,
)

BERLIN = ZoneInfo("Europe/Berlin")
CLASSES = ("search", "spot view", "free intervals", "quote", "book", "confirm", "my bookings", "owner edit")
# One journey: what the app sends for each booking, in the order a driver does it.
BROWSE = ["search"] * 20 + ["spot view"] * 5 + ["free intervals"] * 3
CHECKOUT = ["quote", "quote", "book", "confirm", "my bookings"]


class Connection:
    """HTTP/1.1 on one keep-alive loopback connection, as lean as bench.common.KeepAlive (the load
    generator shares the cores with what it measures), with every method and empty answers."""

    def __init__(self, base_url: str) -> None:
        host, port = base_url.removeprefix("http://").split(":")
        self._host, self._port = host, int(port)
        self._streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(
        self, method: str, target: str, headers: dict[str, str] | None = None, body: Any = None
    ) -> tuple[int, bytes]:
        data = b"" if body is None else json.dumps(body).encode()
        head = {"host": f"{self._host}:{self._port}", **(headers or {})}
        if body is not None:
            head |= {"content-type": "application/json", "content-length": str(len(data))}
        message = (
            f"{method} {target} HTTP/1.1\r\n".encode()
            + "".join(f"{k}: {v}\r\n" for k, v in head.items()).encode()
            + b"\r\n"
            + data
        )
        # uvicorn closes a connection idle for 5 s (its keep-alive timeout), and a think time may be
        # longer: a connection found closed, or closed before any byte of the answer came, is
        # opened again once, as the HTTP clients of apps do.
        for attempt in (1, 2):
            if self._streams is None or self._streams[0].at_eof():
                await self.close()
                self._streams = await asyncio.open_connection(self._host, self._port)
            reader, writer = self._streams
            try:
                writer.write(message)
                first = await reader.readline()
            except ConnectionError:
                first = b""
            if not first:
                await self.close()
                if attempt == 1:
                    continue
                return 0, b""  # closed again before any answer: counted as status 0
            try:
                status = int(first.split()[1])
                length, close = 0, False
                while (line := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"connection" and value.strip().lower() == b"close":
                        close = True
                answer = await reader.readexactly(length)
            except (IndexError, ValueError, asyncio.IncompleteReadError, ConnectionError):
                await self.close()
                return 0, b""  # the connection broke mid-answer: counted as status 0
            if close:
                await self.close()
            return status, answer
        return 0, b""

    async def close(self) -> None:
        if self._streams is not None:
            writer = self._streams[1]
            self._streams = None
            writer.close()
            with suppress(ConnectionError):
                await writer.wait_closed()


@dataclass
class Step:
    """What one step of the offered rate saw."""

    offered: float
    # The bound on the overall p99: 100 ms unless a busy machine asks for another (--p99-ms).
    p99_limit: float = 0.100
    latencies: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in CLASSES})
    statuses: dict[str, Counter[int]] = field(default_factory=lambda: {c: Counter() for c in CLASSES})
    seconds: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)
    rss_kib: dict[int, int] = field(default_factory=dict)
    anon_kib: dict[int, int] = field(default_factory=dict)
    load: str = ""

    def record(self, kind: str, seconds: float, status: int) -> None:
        self.latencies[kind].append(seconds)
        self.statuses[kind][status] += 1

    @property
    def all_latencies(self) -> list[float]:
        return [v for values in self.latencies.values() for v in values]

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    @property
    def errors(self) -> int:
        """Answers 5xx and broken connections."""
        return sum(n for c in self.statuses.values() for s, n in c.items() if s >= 500 or s == 0)

    @property
    def passed(self) -> bool:
        return self.errors == 0 and percentile(self.all_latencies, 99) < self.p99_limit


@dataclass
class Run:
    """Shared by every simulated user: the mean think time for the rate offered now, and the step
    the answers are recorded in (a fresh one per step; warm-up answers go to a discarded one)."""

    users: int
    rate: float
    step: Step
    owners: int = 1
    p99_limit: float = 0.100
    stopping: bool = False

    def think(self, rng: random.Random) -> float:
        return rng.expovariate(self.rate / self.users)


@dataclass(frozen=True)
class Population:
    drivers: list[dict[str, str]]
    owners: list[tuple[dict[str, str], list[str]]]  # (auth header, their spots)
    bookings: int
    spots: int


def _z(t: datetime) -> str:
    return t.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _evening(rng: random.Random, today: date) -> tuple[datetime, datetime]:
    """Tonight's question asked a few days ahead: from 17:00 to 20:00 for one to three hours."""
    day = today + timedelta(days=rng.randint(1, 7))
    start = datetime(day.year, day.month, day.day, rng.choice([17, 18, 18, 19, 20]), tzinfo=BERLIN)
    return start, start + timedelta(hours=rng.choice([1, 2, 2, 3]))


def _near_kreuzviertel(rng: random.Random) -> tuple[float, float]:
    lat, lon = dataset.CENTRE
    return round(lat + rng.uniform(-0.005, 0.005), 6), round(lon + rng.uniform(-0.008, 0.008), 6)


async def _timed(run: Run, kind: str, call: Any) -> tuple[int, bytes]:
    step = run.step
    t0 = time.perf_counter()
    status, body = await call
    step.record(kind, time.perf_counter() - t0, status)
    return status, body


def _journey(rng: random.Random) -> list[str]:
    browse = BROWSE[1:]
    rng.shuffle(browse)
    return ["search", *browse, *CHECKOUT]


async def driver(run: Run, base_url: str, auth: dict[str, str], seed: int) -> None:
    """One app user booking again and again; starts somewhere inside a journey so that every route
    class is exercised from the first seconds on."""
    rng = random.Random(seed)
    conn = Connection(base_url)
    today = datetime.now(BERLIN).date()
    start, end = _evening(rng, today)
    found: list[dict[str, Any]] = []
    plan = _journey(rng)[rng.randrange(33) :]
    try:
        while not run.stopping:
            if not plan:
                plan = _journey(rng)
                start, end = _evening(rng, today)
            kind = plan.pop(0)
            await asyncio.sleep(run.think(rng))
            if run.stopping:
                break
            if kind in ("spot view", "free intervals", "quote", "book") and not found:
                plan.insert(0, kind)
                kind = "search"  # nothing to look at yet: the driver searches (again)
            if kind == "search":
                if rng.random() < 0.15:
                    start, end = _evening(rng, today)
                lat, lon = _near_kreuzviertel(rng)
                params = {"lat": lat, "lon": lon, "radius_m": 800, "start": _z(start), "end": _z(end)}
                if rng.random() < 0.2:
                    params["sort"] = "price"
                status, body = await _timed(run, kind, conn.request("GET", f"/v1/search?{urlencode(params)}"))
                if status == 200:
                    found = [item["spot"] for item in json.loads(body)["items"]] or found
            elif kind == "spot view":
                spot = rng.choice(found)
                await _timed(run, kind, conn.request("GET", f"/v1/spots/{spot['id']}"))
            elif kind == "free intervals":
                spot = rng.choice(found)
                day = start.replace(hour=0)
                query = f"from={quote(_z(day))}&to={quote(_z(day + timedelta(days=1)))}"
                await _timed(run, kind, conn.request("GET", f"/v1/spots/{spot['id']}/availability?{query}"))
            elif kind == "quote":
                spot = rng.choice(found)
                payload = {"spot_id": spot["id"], "start": _z(start), "end": _z(end)}
                await _timed(run, kind, conn.request("POST", "/v1/quotes", auth, payload))
            elif kind == "book":
                # Instant-book spots are what an evening driver picks (a request may take a day).
                candidates = [s for s in found if s["rules"]["instant_book"]] or found
                spot = rng.choice(candidates)
                payload = {"spot_id": spot["id"], "start": _z(start), "end": _z(end)}
                headers = {**auth, "idempotency-key": str(uuid.uuid4())}
                status, answer = await _timed(
                    run, kind, conn.request("POST", "/v1/bookings", headers, payload)
                )
                booked = json.loads(answer) if status == 201 else None
                if booked is None or booked["status"] != "held":
                    plan = [k for k in plan if k != "confirm"]  # taken meanwhile, or a request
                    found = [s for s in found if s is not spot]
                else:
                    plan[plan.index("confirm")] = f"confirm {booked['id']}"
            elif kind.startswith("confirm "):
                target = f"/v1/bookings/{kind.removeprefix('confirm ')}/confirm"
                await _timed(run, "confirm", conn.request("POST", target, auth))
            elif kind == "confirm":
                pass  # a journey joined after its booking
            elif kind == "my bookings":
                await _timed(run, kind, conn.request("GET", "/v1/me/bookings?limit=20", auth))
    finally:
        await conn.close()


async def owner(
    run: Run, base_url: str, auth: dict[str, str], spots: list[str], edits_per_booking: float, seed: int
) -> None:
    """An owner who now and then opens a spot for an extra evening or takes such a window back."""
    rng = random.Random(seed)
    conn = Connection(base_url)
    opened: list[tuple[str, str]] = []
    today = datetime.now(BERLIN).date()
    try:
        while not run.stopping:
            # The owners together edit `edits_per_booking` times per booking, which is a 33rd of
            # the drivers' requests.
            await asyncio.sleep(
                rng.expovariate(run.rate / len(BROWSE + CHECKOUT) * edits_per_booking / run.owners)
            )
            if run.stopping:
                break
            if opened and (len(opened) > 2 or rng.random() < 0.4):
                spot, window = opened.pop(0)
                target = f"/v1/spots/{spot}/availability/windows/{window}"
                await _timed(run, "owner edit", conn.request("DELETE", target, auth))
            else:
                spot = rng.choice(spots)
                start, end = _evening(rng, today)
                body = {"start": _z(start), "end": _z(end + timedelta(hours=2))}
                target = f"/v1/spots/{spot}/availability/windows"
                status, answer = await _timed(run, "owner edit", conn.request("POST", target, auth, body))
                if status == 201:
                    opened.append((spot, json.loads(answer)["id"]))
    finally:
        await conn.close()


async def populate(
    url: str, spots: int, bookings: int, drivers: int, owners: int, server: Server
) -> Population:
    """App users signed in through the API; the data set's spots handed to owners who can sign in."""
    async with client(server.url, 16) as c:
        semaphore = asyncio.Semaphore(16)

        async def signed_in(email: str) -> dict[str, str]:
            async with semaphore:
                return await account(c, email)

        driver_auth = await asyncio.gather(
            *(signed_in(f"app{n}@evening.example.org") for n in range(drivers))
        )
        owner_auth = await asyncio.gather(*(signed_in(f"host{n}@evening.example.org") for n in range(owners)))
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        spot_ids = [str(r[0]) for r in await conn.fetch("select id from spots order by id")]
        owner_id = {
            r[1]: r[0]
            for r in await conn.fetch(
                "select id, email from users where email like 'host%@evening.example.org'"
            )
        }
        owned = []
        for n, auth in enumerate(owner_auth):
            mine = spot_ids[n::owners]
            await conn.execute(
                "update spots set owner_id = $1 where id = any($2::uuid[])",
                owner_id[f"host{n}@evening.example.org"],
                mine,
            )
            owned.append((auth, mine))
        count = await conn.fetchval("select count(*) from bookings")
    finally:
        await conn.close()
    return Population(drivers=list(driver_auth), owners=owned, bookings=count, spots=len(spot_ids))


def serving_workers(server_pid: int) -> list[int]:
    """uvicorn's worker processes (started by multiprocessing's spawn), without its supervisor and
    multiprocessing's resource tracker."""
    workers = []
    for pid in process_tree(server_pid)[1:]:
        with suppress(OSError), open(f"/proc/{pid}/cmdline", "rb") as f:
            if b"spawn_main" in f.read():
                workers.append(pid)
    return workers


def _memory_kib(pid: int) -> tuple[int, int]:
    """VmRSS (what `ps` shows, shared library pages included) and RssAnon (the process's own)."""
    found = {}
    with suppress(OSError), open(f"/proc/{pid}/status") as f:
        for line in f:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "RssAnon"):
                found[name] = int(value.split()[0])
    return found.get("VmRSS", 0), found.get("RssAnon", 0)


def _busy_ticks() -> tuple[int, int]:
    with open("/proc/stat") as f:
        values = [int(v) for v in f.readline().split()[1:]]
    return sum(values), sum(values) - values[3] - values[4]


def _load() -> str:
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


async def _backends(dsn: str, database: str) -> list[int]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "select pid from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()", database
        )
        return [r[0] for r in rows]
    finally:
        await conn.close()


async def measure_step(
    run: Run, rate: float, server: Server, dsn: str, database: str, warmup: float, seconds: float
) -> Step:
    run.rate = rate
    run.step = Step(offered=rate)  # warm-up: thrown away
    await asyncio.sleep(warmup)
    step = Step(offered=rate, p99_limit=run.p99_limit)
    workers = serving_workers(server.pid)
    backends = await _backends(dsn, database)
    before = {
        "server": cpu_seconds(process_tree(server.pid)),
        "postgres": cpu_seconds(backends),
        "load generator": time.process_time(),
    }
    ticks_before = _busy_ticks()
    run.step = step
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        for pid in workers:
            rss, anon = _memory_kib(pid)
            step.rss_kib[pid] = max(step.rss_kib.get(pid, 0), rss)
            step.anon_kib[pid] = max(step.anon_kib.get(pid, 0), anon)
        await asyncio.sleep(min(0.5, seconds - elapsed))
    step.seconds = time.perf_counter() - started
    run.step = Step(offered=rate)
    backends = sorted(set(backends) | set(await _backends(dsn, database)))
    after = {
        "server": cpu_seconds(process_tree(server.pid)),
        "postgres": cpu_seconds(backends),
        "load generator": time.process_time(),
    }
    total, busy = (a - b for a, b in zip(_busy_ticks(), ticks_before, strict=True))
    step.cpu = {name: after[name] - before[name] for name in before}
    step.cpu["machine busy"] = busy / total if total else float("nan")
    step.load = _load()
    return step


async def evening(
    url: str,
    *,
    workers: int,
    spots: int,
    bookings: int,
    users: int,
    owners: int,
    rates: list[float],
    warmup: float,
    seconds: float,
    edits_per_booking: float,
    p99_limit: float = 0.100,
    stop_on_fail: bool = True,
) -> tuple[Population, list[Step]]:
    """Builds the data set, serves it and steps through `rates` (requests/s offered); every step
    is returned, also the one that failed."""
    await fresh_database(url)
    await dataset.generate(asyncpg_dsn(url), spots, bookings)
    dsn = asyncpg_dsn(url)
    database = dsn.rsplit("/", 1)[1].split("?")[0]
    settings = {**BENCH_POOL, "ACCESS_TOKEN_TTL_SECONDS": "86400"}
    with served(url, workers=workers, **settings) as server:
        population = await populate(url, spots, bookings, users, owners, server)
        run = Run(users=users, rate=rates[0], step=Step(offered=rates[0]), p99_limit=p99_limit)
        run.owners = len(population.owners)
        tasks = [
            asyncio.create_task(driver(run, server.url, auth, seed=n))
            for n, auth in enumerate(population.drivers)
        ] + [
            asyncio.create_task(owner(run, server.url, auth, mine, edits_per_booking, seed=10_000 + n))
            for n, (auth, mine) in enumerate(population.owners)
        ]
        steps: list[Step] = []
        try:
            for rate in rates:
                step = await measure_step(run, rate, server, dsn, database, warmup, seconds)
                steps.append(step)
                print(_step_line(step), flush=True)
                if stop_on_fail and not step.passed:
                    break
        finally:
            run.stopping = True
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    return population, steps


def _ms(values: list[float], p: float) -> str:
    return f"{1000 * percentile(values, p):7.1f}" if values else "      -"


def _step_line(step: Step) -> str:
    lat = step.all_latencies
    return (
        f"  offered {step.offered:6.0f} req/s  sustained {step.requests / step.seconds:6.1f} req/s  "
        f"p50 {_ms(lat, 50)} ms  p99 {_ms(lat, 99)} ms  5xx/broken {step.errors}  "
        f"{'ok' if step.passed else 'errors' if step.errors else f'p99 over {1000 * step.p99_limit:.0f} ms'}"
        f"  (load {step.load})"
    )


def table(step: Step) -> Iterator[str]:
    yield f"  {'route class':<16}{'req/s':>8}{'p50 ms':>9}{'p99 ms':>9}  answers"
    for kind in CLASSES:
        values = step.latencies[kind]
        statuses = ", ".join(f"{s}: {n}" for s, n in sorted(step.statuses[kind].items()))
        yield f"  {kind:<16}{len(values) / step.seconds:8.1f}{_ms(values, 50)}  {_ms(values, 99)}  {statuses}"
    lat = step.all_latencies
    yield f"  {'all':<16}{len(lat) / step.seconds:8.1f}{_ms(lat, 50)}  {_ms(lat, 99)}"


def report(population: Population, steps: list[Step]) -> Iterator[str]:
    passed = [s for s in steps if s.passed]
    best = passed[-1] if passed else steps[0]
    yield ""
    if passed:
        yield (
            f"at {best.offered:.0f} req/s offered, the highest step with p99 under "
            f"{1000 * best.p99_limit:.0f} ms and no 5xx:"
        )
    else:
        yield (
            f"no step kept p99 under {1000 * best.p99_limit:.0f} ms and no 5xx; "
            f"the first ({best.offered:.0f} req/s offered):"
        )
    yield from table(best)
    confirmed = len(best.latencies["confirm"]) / best.seconds
    yield f"  bookings confirmed {confirmed:.1f}/s = {3600 * confirmed:,.0f}/h"
    rss = {pid: max(s.rss_kib.get(pid, 0) for s in steps) for pid in best.rss_kib}
    anon = {pid: max(s.anon_kib.get(pid, 0) for s in steps) for pid in best.anon_kib}
    met = "met" if max(rss.values(), default=0) < 150 * 1024 else "NOT met"
    yield (
        "  serving workers' peak VmRSS over the run: "
        + ", ".join(
            f"pid {pid} {rss[pid] / 1024:.0f} MB (RssAnon {anon[pid] / 1024:.0f} MB)" for pid in sorted(rss)
        )
        + f"; target under 150 MB each: {met}"
    )
    cpu = best.cpu
    used = cpu["server"] + cpu["postgres"] + cpu["load generator"]
    yield (
        f"  CPU s over the step: server {cpu['server']:.1f}, PostgreSQL backends {cpu['postgres']:.1f}, "
        f"load generator {cpu['load generator']:.1f}; PostgreSQL's share {cpu['postgres'] / used:.0%} "
        f"of the CPU the run used; machine {cpu['machine busy']:.0%} busy, load {best.load}"
    )
    if used:
        requests = best.requests
        yield (
            f"  CPU ms per request: server {1000 * cpu['server'] / requests:.2f}, "
            f"PostgreSQL {1000 * cpu['postgres'] / requests:.2f}"
        )


async def main(args: argparse.Namespace) -> None:
    url = bench_database_url("parkshare_bench_evening")
    rates = [args.start_rate * args.factor**n for n in range(args.steps)]
    started = time.perf_counter()
    print(
        f"evening in the Kreuzviertel: {args.spots} spots, {args.users} app users, {args.owners} owners, "
        f"{args.workers} workers, {os.cpu_count()} cores, {args.seconds:.0f} s per step"
    )
    population, steps = await evening(
        url,
        workers=args.workers,
        spots=args.spots,
        bookings=args.bookings,
        users=args.users,
        owners=args.owners,
        rates=rates,
        warmup=args.warmup,
        seconds=args.seconds,
        edits_per_booking=args.edits_per_booking,
        p99_limit=args.p99_ms / 1000,
    )
    for line in report(population, steps):
        print(line)
    print(
        f"  data set {population.spots} spots, {population.bookings:,} bookings before the run; "
        f"{time.perf_counter() - started:.0f} s in all"
    )


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="serving processes (parkshare serve --workers)"
    )
    parser.add_argument("--users", type=int, default=300, help="simulated app users (drivers)")
    parser.add_argument("--owners", type=int, default=30)
    parser.add_argument("--spots", type=int, default=1500)
    parser.add_argument("--bookings", type=int, default=60_000, help="existing bookings in the data set")
    parser.add_argument("--start-rate", type=float, default=60, help="requests/s offered at the first step")
    parser.add_argument("--factor", type=float, default=1.25, help="each step offers this much more")
    parser.add_argument("--steps", type=int, default=10, help="at most this many steps")
    parser.add_argument("--seconds", type=float, default=30, help="measured seconds per step")
    parser.add_argument("--warmup", type=float, default=5, help="seconds after each rate change not measured")
    parser.add_argument(
        "--p99-ms",
        type=float,
        default=100,
        help="the bound on the overall p99 (another one on a busy machine)",
    )
    parser.add_argument("--edits-per-booking", type=float, default=0.2, help="owner edits per booking")
    return parser


if __name__ == "__main__":
    asyncio.run(main(parser().parse_args()))
