"""A commuter's four weeks, Monday to Friday 08:00-18:00 (20 occurrences), booked two ways through
the served API (two uvicorn workers): one `POST /v1/booking-series`, or 20 `POST /v1/bookings` of
the same intervals one after the other, as a client without series would. Each round books a spot
of its own, `--concurrency` rounds at a time; the figures are printed side by side.

    .venv/bin/python -m bench.series [--rounds 200] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from bench.booking_throughput import EVERY_DAY, _spot
from bench.common import (
    BENCH_POOL,
    CpuMeter,
    KeepAlive,
    Server,
    account,
    bench_database_url,
    client,
    fresh_database,
    served,
    summary,
)

BERLIN = ZoneInfo("Europe/Berlin")
WEEKS = 4
OCCURRENCES = 5 * WEEKS


def _first_monday() -> date:
    """The Monday at least two days ahead, so that every occurrence lies in the future."""
    day = datetime.now(UTC).date() + timedelta(days=2)
    return day + timedelta(days=(7 - day.weekday()) % 7)


def _occurrences(monday: date) -> list[tuple[str, str]]:
    out = []
    for week in range(WEEKS):
        for weekday in range(5):
            day = monday + timedelta(days=7 * week + weekday)
            start = datetime(day.year, day.month, day.day, 8, tzinfo=BERLIN)
            out.append((start.isoformat(), start.replace(hour=18).isoformat()))
    return out


async def _setup(server: Server, spots: int, drivers: int) -> tuple[list[str], list[dict[str, str]]]:
    async with client(server.url, 16) as c:
        owner = await account(c, "owner@bench.example.org")
        spot_ids = []
        for n in range(spots):
            r = await c.post(
                "/v1/spots", headers=owner, json=_spot(n, title="Bench series spot", daily_cap_cents=1500)
            )
            spot_ids.append(r.json()["id"])
            await c.post(f"/v1/spots/{spot_ids[-1]}/availability/rules", headers=owner, json=EVERY_DAY)
        driver_headers = list(
            await asyncio.gather(*(account(c, f"driver{n}@bench.example.org") for n in range(drivers)))
        )
    return spot_ids, driver_headers


Round = Callable[[KeepAlive, str, dict[str, str]], Awaitable[Counter[int]]]


async def _measure(
    server: Server, rounds: list[tuple[str, dict[str, str]]], concurrency: int, one_round: Round
) -> tuple[float, list[float], Counter[int], CpuMeter]:
    """Runs every round (a spot and its driver) on `concurrency` keep-alive connections: the
    elapsed time, each round's latency, the answers by status, and the CPU spent."""
    pending = iter(rounds)
    latencies: list[float] = []
    statuses: Counter[int] = Counter()

    async def worker(connection: KeepAlive) -> None:
        for spot_id, headers in pending:
            t0 = time.perf_counter()
            statuses.update(await one_round(connection, spot_id, headers))
            latencies.append(time.perf_counter() - t0)

    connections = [await KeepAlive.open(server.url) for _ in range(concurrency)]
    try:
        meter = CpuMeter(server.pid)
        with meter.measure():
            started = time.perf_counter()
            await asyncio.gather(*(worker(conn) for conn in connections))
            elapsed = time.perf_counter() - started
    finally:
        for conn in connections:
            await conn.close()
    return elapsed, latencies, statuses, meter


async def main(rounds: int, concurrency: int) -> None:
    url = bench_database_url("parkshare_bench_series")
    await fresh_database(url)
    monday = _first_monday()
    occurrences = _occurrences(monday)
    pattern = {
        "weekdays": ["mon", "tue", "wed", "thu", "fri"],
        "start_time": "08:00",
        "end_time": "18:00",
        "from": monday.isoformat(),
        "until": (monday + timedelta(days=7 * WEEKS - 3)).isoformat(),
        "on_conflict": "fail",
    }

    async def as_series(connection: KeepAlive, spot_id: str, headers: dict[str, str]) -> Counter[int]:
        status, _ = await connection.post_json("/v1/booking-series", {"spot_id": spot_id, **pattern}, headers)
        return Counter({status: 1})

    async def as_singles(connection: KeepAlive, spot_id: str, headers: dict[str, str]) -> Counter[int]:
        answers: Counter[int] = Counter()
        for start, end in occurrences:
            status, _ = await connection.post_json(
                "/v1/bookings", {"spot_id": spot_id, "start": start, "end": end}, headers
            )
            answers[status] += 1
        return answers

    warmup = concurrency * 2
    with served(url, workers=2, **BENCH_POOL) as server:
        spot_ids, drivers = await _setup(server, 2 * (rounds + warmup), 50)
        plan = [(spot, drivers[n % len(drivers)]) for n, spot in enumerate(spot_ids)]
        # Warm up both paths (pools, statement caches) on spots of their own, then measure.
        await _measure(server, plan[:warmup], concurrency, as_series)
        await _measure(server, plan[warmup : 2 * warmup], concurrency, as_singles)
        rest = plan[2 * warmup :]
        series = await _measure(server, rest[:rounds], concurrency, as_series)
        singles = await _measure(server, rest[rounds : 2 * rounds], concurrency, as_singles)

    print(
        f"series vs single bookings: {OCCURRENCES} occurrences (Mon-Fri 08:00-18:00, {WEEKS} weeks) per "
        f"round, {rounds} rounds, {concurrency} keep-alive connections, a spot per round, 2 workers, "
        f"{os.cpu_count()} cores"
    )
    for name, (elapsed, latencies, statuses, meter) in (
        ("1 POST /v1/booking-series ", series),
        (f"{OCCURRENCES} POST /v1/bookings     ", singles),
    ):
        booked = statuses[201] * (OCCURRENCES if name.startswith("1 ") else 1)
        print(
            f"  {name} per round {summary(latencies)}  {booked / elapsed:8.1f} occurrences/s  "
            f"CPU {meter.per(max(booked, 1))} per occurrence  answers {dict(statuses)}"
        )
    ratio = (OCCURRENCES * rounds / series[0]) / (rounds * OCCURRENCES / singles[0])
    print(f"  occurrences/s, series / singles: {ratio:5.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    asyncio.run(main(args.rounds, args.concurrency))
