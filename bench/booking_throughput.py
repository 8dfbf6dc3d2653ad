"""Booking throughput through HTTP (two uvicorn workers, many drivers and spots) beside the same
work in raw SQL (`bench.booking_sql`: the statements of a booking, sent by a bare asyncpg client),
in the same run, with the same concurrency, spots and drivers; and their ratio. The two sides take
turns over a few rounds and the ratio printed is the median of the rounds': on a shared machine one
round's ratio varies by a fifth.

    .venv/bin/python -m bench.booking_throughput [--requests 6000] [--rounds 3] [--concurrency 32] [--inserts] [--floor]

The load comes from lean keep-alive connections (bench.common.KeepAlive), so that the load
generator takes little of the CPU it shares with the server; the CPU each process group spent per
booking is printed beside the rates (PostgreSQL: only the benchmark database's backends).
`--inserts` adds the older baseline, single INSERTs into `bookings`, which is not the same work.
`--floor` adds a third side, taking its turn with the others: a bare ASGI server under the same
uvicorn doing HTTP, the token and the same SQL (`bench.booking_floor`), the least a server in Python
does for a booking; the API's distance from it is what the framework and the service's own Python
cost.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import statistics
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

import asyncpg
from sqlalchemy.engine import make_url

from app.settings import Settings
from bench import booking_floor, booking_sql
from bench.common import (
    BENCH_POOL,
    CpuMeter,
    KeepAlive,
    Server,
    account,
    asyncpg_dsn,
    bench_database_url,
    client,
    fresh_database,
    served,
    summary,
)

EVERY_DAY = {
    "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    "start_time": "00:00",
    "end_time": "24:00",
}


def _spot(n: int, *, title: str = "Bench spot", daily_cap_cents: int | None = None) -> dict[str, object]:
    """A spot of the benchmarks' grid in the Kreuzviertel, open to the rules given to it."""
    pricing: dict[str, int] = {"hourly_cents": 250}
    if daily_cap_cents is not None:
        pricing["daily_cap_cents"] = daily_cap_cents
    return {
        "title": f"{title} {n}",
        "address": {
            "street": "Kreuzstraße",
            "house_number": str(n % 200 + 1),
            "postal_code": "44139",
            "city": "Dortmund",
        },
        "location": {"lat": 51.505 + (n % 50) * 0.0001, "lon": 7.447 + (n // 50) * 0.0001},
        "pricing": pricing,
        "rules": {"buffer_min": 15, "horizon_days": 90},
    }


SLOTS_PER_SPOT = 24 * 80 // 2  # two-hour slots over 80 days, inside the spots' 90-day horizon


def _slots(spots: list[str], base: datetime) -> itertools.cycle[tuple[str, datetime]]:
    # Every request gets its own (spot, two-hour slot): the benchmark measures bookings that succeed.
    pairs = [(spot, base + timedelta(hours=2 * k)) for k in range(SLOTS_PER_SPOT) for spot in spots]
    random.Random(7).shuffle(pairs)
    return itertools.cycle(pairs)


Job = tuple[dict[str, str], str, datetime]  # a driver's headers, a spot, a start


async def populate(
    server: Server, spots: int, drivers: int
) -> tuple[list[str], list[str], list[dict[str, str]]]:
    """Spots open every day of one owner, and signed-in drivers: the spots' ids, the drivers'
    e-mails and their headers."""
    async with client(server.url, 16) as c:
        owner = await account(c, "owner@bench.example.org")
        spot_ids = []
        for n in range(spots):
            r = await c.post("/v1/spots", headers=owner, json=_spot(n))
            spot_ids.append(r.json()["id"])
            await c.post(f"/v1/spots/{spot_ids[-1]}/availability/rules", headers=owner, json=EVERY_DAY)
        emails = [f"driver{n}@bench.example.org" for n in range(drivers)]
        driver_headers = await asyncio.gather(*(account(c, e) for e in emails))
    return spot_ids, emails, list(driver_headers)


async def outbox_backends(dsn: str) -> list[int]:
    """The backends of the outbox readers (`app.events.hub`) on the benchmark's database."""
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(
            "select pid from pg_stat_activity where datname = current_database()"
            " and application_name = 'parkshare-events'"
        )
    finally:
        await conn.close()
    return [r["pid"] for r in rows]


def _warmup_each(requests: int, concurrency: int) -> int:
    return max(1, min(200, requests // 10) // concurrency)


async def http_rate(
    server: Server, dsn: str, jobs: list[Job], requests: int, concurrency: int, database: str
) -> tuple[float, list[float], Counter[int], CpuMeter]:
    """Bookings/s through HTTP with `concurrency` keep-alive connections, their latencies, the
    answers by status, and the CPU each process group spent on them. The first jobs warm up."""
    warmup_each = _warmup_each(requests, concurrency)
    pending = iter(jobs)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()

    async def worker(connection: KeepAlive, count: int | None) -> None:
        for headers, spot_id, start in itertools.islice(pending, count):
            body = {
                "spot_id": spot_id,
                "start": start.isoformat(),
                "end": (start + timedelta(hours=1)).isoformat(),
            }
            t0 = time.perf_counter()
            status, _ = await connection.post_json("/v1/bookings", body, headers)
            latencies.append(time.perf_counter() - t0)
            statuses[status] += 1

    connections = [await KeepAlive.open(server.url) for _ in range(concurrency)]
    try:
        # Warm up every connection, the workers' pools and statement caches before measuring.
        await asyncio.gather(*(worker(conn, warmup_each) for conn in connections))
        latencies.clear()
        statuses.clear()
        meter = CpuMeter(server.pid, database=database, outbox=await outbox_backends(dsn))
        with meter.measure():
            started = time.perf_counter()
            await asyncio.gather(*(worker(conn, None) for conn in connections))
            elapsed = time.perf_counter() - started
    finally:
        for conn in connections:
            await conn.close()
    return len(latencies) / elapsed, latencies, statuses, meter


async def sql_rate(
    dsn: str, jobs: list[tuple[str, str, datetime]], requests: int, concurrency: int, database: str
) -> tuple[float, list[float], CpuMeter]:
    """The same bookings as statements of the API sent by a bare asyncpg client
    (`bench.booking_sql`) with as many connections: bookings/s, latencies and CPU."""
    # As `served` sets it for the API: a simulated driver books far faster than a person.
    settings = Settings(booking_writes_per_user=1_000_000)
    setup = await asyncpg.connect(dsn)
    try:
        drivers = dict(
            zip(
                sorted({e for e, _, _ in jobs}),
                await booking_sql.drivers(setup, sorted({e for e, _, _ in jobs})),
                strict=True,
            )
        )
        spots = await booking_sql.spots(setup, sorted({s for _, s, _ in jobs}))
    finally:
        await setup.close()
    pending = iter([(drivers[e], spots[s], start) for e, s, start in jobs])
    warmup = list(itertools.islice(pending, _warmup_each(requests, concurrency) * concurrency))
    async with booking_sql.Client(dsn, settings, concurrency) as sql:
        await sql.book_all(iter(warmup))
        meter = CpuMeter(database=database, outbox=await outbox_backends(dsn))
        with meter.measure():
            started = time.perf_counter()
            latencies = await sql.book_all(pending)
            elapsed = time.perf_counter() - started
    return len(latencies) / elapsed, latencies, meter


async def raw_rate(
    dsn: str, inserts: int, concurrency: int, database: str
) -> tuple[tuple[float, CpuMeter], tuple[float, CpuMeter]]:
    """Single-row inserts into `bookings` (exclusion constraint, indexes and all), one transaction
    each, and the same with its event row: what the API's writes cost without the API."""
    setup = await asyncpg.connect(dsn)
    try:
        owner = await setup.fetchval("select id from users limit 1")
        spot_ids = [r[0] for r in await setup.fetch("select id from spots")]
    finally:
        await setup.close()
    base = datetime(2030, 1, 1, tzinfo=UTC)
    counter = itertools.count()

    async def run(with_event: bool) -> tuple[float, CpuMeter]:
        pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
        assert pool is not None
        per_worker = inserts // concurrency

        async def worker() -> None:
            async with pool.acquire() as conn:
                for _ in range(per_worker):
                    n = next(counter)
                    start = base + timedelta(hours=2 * (n // len(spot_ids)))
                    spot = spot_ids[n % len(spot_ids)]
                    booking_id = uuid.uuid4()
                    async with conn.transaction():
                        await conn.execute(
                            "insert into bookings (id, spot_id, driver_id, start_at, end_at, status, total_cents,"
                            " currency, hold_expires_at, created_at, updated_at)"
                            " values ($1, $2, $3, $4, $5, 'held', 250, 'EUR', now(), now(), now())",
                            booking_id,
                            spot,
                            owner,
                            start,
                            start + timedelta(hours=1),
                        )
                        if with_event:
                            await conn.execute(
                                "insert into booking_events (booking_id, at, kind, to_status, actor, by_user_id)"
                                " values ($1, now(), 'booking.held', 'held', 'driver', $2)",
                                booking_id,
                                owner,
                            )

        try:
            meter = CpuMeter(database=database)
            with meter.measure():
                started = time.perf_counter()
                await asyncio.gather(*(worker() for _ in range(concurrency)))
                elapsed = time.perf_counter() - started
            return per_worker * concurrency / elapsed, meter
        finally:
            await pool.close()

    return await run(False), await run(True)


class Side(NamedTuple):
    """One side's phase of a round: bookings/s, latencies, answers by status, CPU spent."""

    rate: float
    latencies: list[float]
    booked: int
    meter: CpuMeter

    @property
    def cpu(self) -> float:
        return sum(self.meter.spent.values()) / max(self.booked, 1)


async def main(
    requests: int,
    concurrency: int,
    spots: int,
    drivers: int,
    inserts: bool = False,
    rounds: int = 3,
    floor: bool = False,
) -> None:
    url = bench_database_url("parkshare_bench_booking")
    database = make_url(url).database or ""
    await fresh_database(url)
    warmup = _warmup_each(requests, concurrency) * concurrency
    dsn = asyncpg_dsn(url)
    print(
        f"booking throughput: {rounds} rounds of {requests} POST /v1/bookings and as many through the "
        f"same SQL, {concurrency} connections each, {spots} spots, {drivers} drivers, 2 workers, "
        f"{os.cpu_count()} cores"
    )
    with served(url, workers=2, **BENCH_POOL) as server:
        spot_ids, emails, _ = await populate(server, spots, drivers)
    # Every side books distinct (spot, slot) pairs of one shuffled list, each driver in turn.
    sides = 3 if floor else 2
    if rounds * sides * (warmup + requests) > len(spot_ids) * SLOTS_PER_SPOT:
        raise SystemExit(
            "fewer free (spot, slot) pairs than bookings: ask for fewer rounds or requests, or more spots"
        )
    base = (datetime.now(UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
    slots = _slots(spot_ids, base)
    api: list[Side] = []
    sql: list[Side] = []
    bare: list[Side] = []
    statuses: Counter[int] = Counter()
    floor_statuses: Counter[int] = Counter()
    signed_in: list[dict[str, str]] = []

    async def api_side() -> Side:
        # A server of its own for each phase: an idle one would read the outbox on the raw side's
        # NOTIFYs, a cost the raw side's own readers already stand for.
        with served(url, workers=2, **BENCH_POOL) as server:
            # Signed in again: a long run outlives the access tokens of the first sign-in.
            async with client(server.url, 16) as c:
                signed_in[:] = await asyncio.gather(*(account(c, e) for e in emails))
            return await http_side(server, statuses)

    async def http_side(server: Server, counted: Counter[int]) -> Side:
        jobs = [(signed_in[i % drivers], *next(slots)) for i in range(warmup + requests)]
        rate, latencies, answers, meter = await http_rate(server, dsn, jobs, requests, concurrency, database)
        counted.update(answers)
        # Bookings made per second: an answer other than 201 (shown with the answers) books nothing.
        return Side(rate * answers[201] / max(len(latencies), 1), latencies, answers[201], meter)

    async def floor_side() -> Side:
        # With the drivers' tokens of the API's latest sign-in, at most a round old.
        with booking_floor.served(url, workers=2, **BENCH_POOL) as server:
            return await http_side(server, floor_statuses)

    async def sql_side() -> Side:
        jobs = [(emails[i % drivers], *next(slots)) for i in range(warmup + requests)]
        rate, latencies, meter = await sql_rate(dsn, jobs, requests, concurrency, database)
        return Side(rate, latencies, len(latencies), meter)

    # The sides take turns, each going first in its round: the machine's drift (other guests of
    # the host, the tables growing) falls on all.
    sides_in_order = [(api_side, api), *([(floor_side, bare)] if floor else []), (sql_side, sql)]
    for n in range(rounds):
        turn = n % len(sides_in_order)
        for phase, results in sides_in_order[turn:] + sides_in_order[:turn]:
            results.append(await phase())
        floor_figures = (
            f", floor {bare[-1].rate:7.1f}/s ({bare[-1].rate / sql[-1].rate:4.2f}x)" if floor else ""
        )
        print(
            f"  round {n + 1}: API {api[-1].rate:7.1f}/s, same SQL {sql[-1].rate:7.1f}/s, ratio "
            f"{api[-1].rate / sql[-1].rate:4.2f}x, by CPU {sql[-1].cpu / api[-1].cpu:4.2f}x{floor_figures}, "
            f"load average {os.getloadavg()[0]:.2f}",
            flush=True,
        )
    ratios = [a.rate / s.rate for a, s in zip(api, sql, strict=True)]
    by_cpu = [s.cpu / a.cpu for a, s in zip(api, sql, strict=True)]
    rate = statistics.median(a.rate for a in api)
    print(
        f"  HTTP API          {rate:9.1f} bookings/s (median)  "
        f"{summary([v for a in api for v in a.latencies])}  answers {dict(statuses)}"
    )
    print(
        f"  same SQL, asyncpg {statistics.median(s.rate for s in sql):9.1f} bookings/s (median)  "
        f"{summary([v for s in sql for v in s.latencies])}"
    )
    if floor:
        print(
            f"  floor, bare ASGI  {statistics.median(b.rate for b in bare):9.1f} bookings/s (median)  "
            f"{summary([v for b in bare for v in b.latencies])}  answers {dict(floor_statuses)}"
        )
    print(
        f"  ratio API / same SQL  {statistics.median(ratios):5.2f}x median of the rounds "
        f"({min(ratios):.2f}-{max(ratios):.2f}); by CPU per booking, what a machine of its own would "
        f"show: {statistics.median(by_cpu):5.2f}x ({min(by_cpu):.2f}-{max(by_cpu):.2f})"
    )
    if floor:
        to_sql = [b.rate / s.rate for b, s in zip(bare, sql, strict=True)]
        print(
            f"  ratio floor / same SQL {statistics.median(to_sql):4.2f}x ({min(to_sql):.2f}-{max(to_sql):.2f}): "
            "what is left to a server in Python that does no more than HTTP, the token and the SQL"
        )
    print("  CPU ms per booking, all rounds (on a saturated machine the rate is about the cores divided")
    print("  by the total):")
    named = [("HTTP API", api), ("same SQL", sql), *([("floor, bare ASGI", bare)] if floor else [])]
    for name, phases in named:
        meter = CpuMeter()
        for side in phases:
            for key, spent in side.meter.spent.items():
                meter.spent[key] = meter.spent.get(key, 0.0) + spent
        busy = statistics.median(side.meter.busy for side in phases)
        print(f"    {name:<17} {meter.per(max(sum(s.booked for s in phases), 1))}  (machine {busy:.0%} busy)")
    print(
        f"  PostgreSQL: backends of {database} only, the outbox readers' apart; the load generator of "
        "the same SQL is its client."
    )
    if not inserts:
        return
    rows = max(requests, 4000) // 16 * 16
    (raw, raw_meter), (raw_with_event, event_meter) = await raw_rate(dsn, rows, 16, database)
    print("  not the same work, for reference: single INSERTs into bookings (asyncpg, 16 connections)")
    print(
        f"    raw insert        {raw:9.1f} rows/s  API / it {rate / raw:6.1%}  CPU ms {raw_meter.per(rows)}"
    )
    print(
        f"    raw insert+event  {raw_with_event:9.1f} rows/s  API / it {rate / raw_with_event:6.1%}  "
        f"CPU ms {event_meter.per(rows)}"
    )


def _at_least_one(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("at least 1")
    return value


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=6000, help="bookings per side and round")
    parser.add_argument("--rounds", type=_at_least_one, default=3, help="rounds, the sides taking turns")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--spots", type=int, default=200)
    parser.add_argument("--drivers", type=int, default=100)
    parser.add_argument(
        "--inserts", action="store_true", help="also the old baseline: single INSERTs, not the same work"
    )
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also a bare ASGI server doing HTTP, the token and the same SQL (bench.booking_floor)",
    )
    args = parser.parse_args()
    asyncio.run(
        main(args.requests, args.concurrency, args.spots, args.drivers, args.inserts, args.rounds, args.floor)
    )
