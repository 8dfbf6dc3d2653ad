"""Search at city scale: latency one request at a time through HTTP (two uvicorn workers) beside
the same query's time in raw SQL (asyncpg, the exact statement the service sends), in one run;
with `--concurrency N` above 1 also latency and requests/s with N at once.

    .venv/bin/python -m bench.search [--requests 2000] [--concurrency 1] [--reuse] [--explain]
                                     [--replica [READ_DATABASE_URL]]

Builds the data set of bench.dataset first (10,000 spots, 1,000,000 bookings) unless --reuse.
With --replica the HTTP searches run a second time with READ_DATABASE_URL set (default: the same
database on the standby of `make replica`, 127.0.0.1:5433), once the standby has replayed the data
set, and both are printed (docs/replica.md).
The target (issue 16): over HTTP, one request at a time, p50 at most 10 ms and p99 at most 40 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
from sqlalchemy.engine import make_url

from app.migrations import upgrade
from app.search.service import SearchQuery, _positional, build
from bench import dataset
from bench.common import BENCH_POOL, KeepAlive, asyncpg_dsn, bench_database_url, percentile, served, summary

BERLIN = ZoneInfo("Europe/Berlin")
# What a map that follows a finger needs, one request at a time over HTTP (issue 16).
TARGET_P50_MS = 10.0
TARGET_P99_MS = 40.0


def probes(count: int, seed: int = 11) -> list[dict[str, Any]]:
    """Drivers standing somewhere in the Kreuzviertel asking for the evening, or a few hours of a
    day, in the next two weeks, within 800 m."""
    rng = random.Random(seed)
    today = datetime.now(BERLIN).date()
    out = []
    for _ in range(count):
        day = today + timedelta(days=rng.randint(1, 14))
        hour = rng.choice([18, 18, 18, 8, 9, 12, 14, 17, 19])
        start = datetime(day.year, day.month, day.day, hour, tzinfo=BERLIN)
        end = start + timedelta(hours=5 if hour == 18 else rng.choice([1, 2, 3, 4]))
        r = 600 * math.sqrt(rng.random())
        theta = rng.uniform(0, 2 * math.pi)
        out.append(
            {
                "lat": round(dataset.CENTRE[0] + r * math.cos(theta) / 111_320, 6),
                "lon": round(dataset.CENTRE[1] + r * math.sin(theta) / 68_000, 6),
                "radius_m": 800,
                "start": start.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "end": end.astimezone(UTC).isoformat().replace("+00:00", "Z"),
                "sort": "price" if rng.random() < 0.2 else "distance",
            }
        )
    return out


def compiled(probe: dict[str, Any], now: datetime) -> tuple[str, list[Any]]:
    query = SearchQuery(
        lat=probe["lat"],
        lon=probe["lon"],
        radius_m=probe["radius_m"],
        start=datetime.fromisoformat(probe["start"]),
        end=datetime.fromisoformat(probe["end"]),
        sort=probe["sort"],
    )
    sql, params = build(query, now)
    statement, names = _positional(sql, tuple(params))
    return statement, [params[name] for name in names]


async def raw_sql(
    dsn: str, queries: list[dict[str, Any]], concurrency: int
) -> tuple[list[float], float, int]:
    now = datetime.now(UTC)
    statements = [compiled(p, now) for p in queries]
    pool = await asyncpg.create_pool(dsn, min_size=concurrency, max_size=concurrency)
    assert pool is not None
    latencies: list[float] = []
    found = 0
    it = iter(statements)
    try:

        async def worker() -> None:
            nonlocal found
            async with pool.acquire() as conn:
                for sql, args in it:
                    t0 = time.perf_counter()
                    rows = await conn.fetch(sql, *args)
                    latencies.append(time.perf_counter() - t0)
                    found += len(rows)

        for sql, args in statements[:50]:
            await pool.fetch(sql, *args)  # warm the caches and prepared statements
        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return latencies, len(latencies) / (time.perf_counter() - started), found
    finally:
        await pool.close()


async def http(
    base_url: str, queries: list[dict[str, Any]], concurrency: int
) -> tuple[list[float], float, int]:
    latencies: list[float] = []
    found = 0
    connections = [await KeepAlive.open(base_url) for _ in range(concurrency)]
    try:
        for probe in queries[:50]:
            status, _ = await connections[0].get("/v1/search", probe)
            assert status == 200, status
        it = iter(queries)

        async def worker(connection: KeepAlive) -> None:
            nonlocal found
            for probe in it:
                t0 = time.perf_counter()
                status, body = await connection.get("/v1/search", probe)
                latencies.append(time.perf_counter() - t0)
                assert status == 200, body
                found += len(json.loads(body)["items"])

        started = time.perf_counter()
        await asyncio.gather(*(worker(connection) for connection in connections))
        return latencies, len(latencies) / (time.perf_counter() - started), found
    finally:
        for connection in connections:
            await connection.close()


async def standby_caught_up(primary_dsn: str, standby_dsn: str, within: float = 600) -> None:
    """Waits until the standby has replayed everything the primary had written (the data set)."""
    primary = await asyncpg.connect(primary_dsn)
    standby = await asyncpg.connect(standby_dsn)
    try:
        target = await primary.fetchval("select pg_current_wal_lsn()")
        deadline = time.monotonic() + within
        while not await standby.fetchval("select pg_last_wal_replay_lsn() >= $1", target):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the standby did not replay the data set within {within:.0f} s")
            await asyncio.sleep(0.5)
    finally:
        await primary.close()
        await standby.close()


def replica_reads(base_url: str) -> float:
    """Anonymous reads the server's workers answered from the replica, from /metrics."""
    text = httpx.get(f"{base_url}/metrics", timeout=10).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith('parkshare_anonymous_reads_total{server="replica"}')
    )


async def explain(dsn: str) -> str:
    """The plans of one probe nearest first and of the same probe by price: the two statements
    the service builds (docs/search.md)."""
    probe = probes(1, seed=5)[0]
    conn = await asyncpg.connect(dsn)
    out = []
    try:
        for sort in ("distance", "price"):
            sql, args = compiled({**probe, "sort": sort}, datetime.now(UTC))
            await conn.fetch(sql, *args)  # the caches warm, as in the measured runs
            rows = await conn.fetch("explain (analyze, buffers, costs off) " + sql, *args)
            out += [f"sort={sort}:", *(r[0] for r in rows)]
    finally:
        await conn.close()
    return "\n".join(out)


async def main(
    requests: int, concurrency: int, reuse: bool, show_plan: bool, replica: str | None = None
) -> None:
    url = bench_database_url("parkshare_bench_search")
    if not reuse:
        await dataset.main(10_000, 1_000_000)
    else:
        # A data set kept from an older checkout: its schema brought to this one's (the server
        # answers only once it is).
        await asyncio.to_thread(upgrade, url)
    dsn = asyncpg_dsn(url)
    queries = probes(requests)
    # Latency one request at a time (what one driver waits); throughput with `concurrency` at once.
    raw_latencies, _, raw_found = await raw_sql(dsn, queries, 1)
    busy = concurrency > 1
    if busy:
        raw_busy, raw_rate, _ = await raw_sql(dsn, queries, concurrency)
    with served(url, workers=2, **BENCH_POOL) as server:
        base_url = server.url
        http_latencies, _, http_found = await http(base_url, queries, 1)
        if busy:
            http_busy, http_rate, _ = await http(base_url, queries, concurrency)
    if replica is not None:
        read_url = replica or make_url(url).set(port=5433).render_as_string(hide_password=False)
        await standby_caught_up(dsn, asyncpg_dsn(read_url))
        # A large bound: the figures are of the standby, not of a fallback while it replays others' writes.
        with served(
            url, workers=2, READ_DATABASE_URL=read_url, REPLICA_MAX_LAG_SECONDS="600", **BENCH_POOL
        ) as server:
            replica_latencies, _, _ = await http(server.url, queries, 1)
            if busy:
                replica_busy, replica_rate, _ = await http(server.url, queries, concurrency)
            from_replica = replica_reads(server.url)
        expected = (2 if busy else 1) * requests
        assert from_replica >= expected, f"only {from_replica:.0f} searches were read from the replica"
    raw_p50 = percentile(raw_latencies, 50)
    http_p50 = percentile(http_latencies, 50)
    http_p99 = percentile(http_latencies, 99)
    print(f"search: {requests} probes within 800 m of the Kreuzviertel, 2 workers")
    print(
        f"  one at a time  HTTP GET /v1/search  {summary(http_latencies)}  ({http_found / requests:.1f} spots/answer)"
    )
    print(
        f"                 raw SQL (asyncpg)    {summary(raw_latencies)}  ({raw_found / requests:.1f} rows/query)"
    )
    print(f"                 HTTP p50 / raw SQL p50  {http_p50 / raw_p50:5.2f}x")
    met = http_p50 * 1000 <= TARGET_P50_MS and http_p99 * 1000 <= TARGET_P99_MS
    print(
        f"  target over HTTP, one at a time: p50 <= {TARGET_P50_MS:.0f} ms and p99 <= {TARGET_P99_MS:.0f} ms:"
        f" {'met' if met else 'NOT met'}"
    )
    if busy:
        print(
            f"  {concurrency:2d} at once     HTTP GET /v1/search  {summary(http_busy)}  {http_rate:7.1f} req/s"
        )
        print(f"                 raw SQL (asyncpg)    {summary(raw_busy)}  {raw_rate:7.1f} q/s")
    if replica is not None:
        print("  with READ_DATABASE_URL (the standby answers every search)")
        print(f"  one at a time  HTTP GET /v1/search  {summary(replica_latencies)}")
        if busy:
            print(
                f"  {concurrency:2d} at once     HTTP GET /v1/search  {summary(replica_busy)}  {replica_rate:7.1f} req/s"
                f"  ({replica_rate / http_rate:4.2f}x the primary's)"
            )
    if show_plan:
        print(await explain(dsn))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument(
        "--concurrency", type=int, default=1, help="above 1, also measure this many requests at once"
    )
    parser.add_argument("--reuse", action="store_true", help="keep the data set of an earlier run")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of one probe")
    parser.add_argument(
        "--replica",
        nargs="?",
        const="",
        default=None,
        metavar="READ_DATABASE_URL",
        help="also search over HTTP with anonymous reads on this standby (default: port 5433, same database)",
    )
    args = parser.parse_args()
    asyncio.run(main(args.requests, args.concurrency, args.reuse, args.explain, args.replica))
