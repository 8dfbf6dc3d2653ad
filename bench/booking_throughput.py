"""Booking throughput through HTTP (two uvicorn workers, many drivers and spots) beside the raw
insert rate of the same `bookings` table through asyncpg, measured in the same run.

    .venv/bin/python -m bench.booking_throughput [--requests 3000] [--concurrency 64]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg

from bench.common import account, asyncpg_dsn, bench_database_url, client, fresh_database, served, summary

EVERY_DAY = {
    "weekdays": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
    "start_time": "00:00",
    "end_time": "24:00",
}


def _spot(n: int) -> dict[str, object]:
    return {
        "title": f"Bench spot {n}",
        "address": {
            "street": "Kreuzstraße",
            "house_number": str(n % 200 + 1),
            "postal_code": "44139",
            "city": "Dortmund",
        },
        "location": {"lat": 51.505 + (n % 50) * 0.0001, "lon": 7.447 + (n // 50) * 0.0001},
        "pricing": {"hourly_cents": 250},
        "rules": {"buffer_min": 15, "horizon_days": 90},
    }


def _slots(spots: list[str], base: datetime) -> itertools.cycle[tuple[str, datetime]]:
    # Every request gets its own (spot, two-hour slot): the benchmark measures bookings that succeed.
    pairs = [(spot, base + timedelta(hours=2 * k)) for k in range(24 * 80 // 2) for spot in spots]
    random.Random(7).shuffle(pairs)
    return itertools.cycle(pairs)


async def http_rate(
    base_url: str, requests: int, concurrency: int, spots: int, drivers: int
) -> tuple[float, list[float], int]:
    async with client(base_url, concurrency + 8) as c:
        owner = await account(c, "owner@bench.example.org")
        spot_ids = []
        for n in range(spots):
            r = await c.post("/v1/spots", headers=owner, json=_spot(n))
            spot_ids.append(r.json()["id"])
            await c.post(f"/v1/spots/{spot_ids[-1]}/availability/rules", headers=owner, json=EVERY_DAY)
        driver_headers = await asyncio.gather(
            *(account(c, f"driver{n}@bench.example.org") for n in range(drivers))
        )
        base = (datetime.now(UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        slots = _slots(spot_ids, base)
        jobs = [(driver_headers[i % drivers], *next(slots)) for i in range(requests)]
        queue: asyncio.Queue[tuple[dict[str, str], str, datetime]] = asyncio.Queue()
        for job in jobs:
            queue.put_nowait(job)
        latencies: list[float] = []
        failures = 0

        async def worker() -> None:
            nonlocal failures
            while not queue.empty():
                headers, spot_id, start = queue.get_nowait()
                body = {
                    "spot_id": spot_id,
                    "start": start.isoformat(),
                    "end": (start + timedelta(hours=1)).isoformat(),
                }
                t0 = time.perf_counter()
                r = await c.post("/v1/bookings", headers=headers, json=body)
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 201:
                    failures += 1

        # Warm up the connections and the workers' caches before measuring.
        warm = [queue.get_nowait() for _ in range(min(100, requests // 10))]
        for headers, spot_id, start in warm:
            await c.post(
                "/v1/bookings",
                headers=headers,
                json={
                    "spot_id": spot_id,
                    "start": start.isoformat(),
                    "end": (start + timedelta(hours=1)).isoformat(),
                },
            )
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
        return len(latencies) / elapsed, latencies, failures


async def raw_rate(dsn: str, inserts: int, concurrency: int) -> tuple[float, float]:
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

    async def run(with_event: bool) -> float:
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
            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return per_worker * concurrency / (time.perf_counter() - started)
        finally:
            await pool.close()

    return await run(False), await run(True)


async def main(requests: int, concurrency: int, spots: int, drivers: int) -> None:
    url = bench_database_url("parkshare_bench_booking")
    await fresh_database(url)
    with served(url, workers=2) as base_url:
        rate, latencies, failures = await http_rate(base_url, requests, concurrency, spots, drivers)
    raw, raw_with_event = await raw_rate(asyncpg_dsn(url), max(requests, 4000), 16)
    print(
        f"booking throughput: {requests} POST /v1/bookings, {concurrency} concurrent, {spots} spots, {drivers} drivers, 2 workers"
    )
    print(f"  HTTP API          {rate:9.1f} bookings/s  {summary(latencies)}  failures {failures}")
    print(f"  raw insert        {raw:9.1f} rows/s      (asyncpg, 16 connections, one row per transaction)")
    print(f"  raw insert+event  {raw_with_event:9.1f} rows/s      (booking and its event in one transaction)")
    print(f"  ratio API / raw insert        {rate / raw:6.1%}")
    print(f"  ratio API / raw insert+event  {rate / raw_with_event:6.1%}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--spots", type=int, default=200)
    parser.add_argument("--drivers", type=int, default=100)
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.concurrency, args.spots, args.drivers))
