"""Open data at city scale: the latency of the two open-data routes through HTTP (two uvicorn
workers) beside `GET /healthz` in the same run, and the time of their SQL statements alone.

    .venv/bin/python -m bench.open_data [--spots 5000] [--bookings 250000] [--requests 300]

Builds bench.dataset's data (spots within 3 km of the Kreuzviertel, one owner per 10 spots) in a
scratch database of its own, which it drops afterwards unless --keep (then --reuse it).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from datetime import UTC, datetime

import asyncpg
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect

from app.migrations import drop_database
from app.opendata import service
from bench import dataset
from bench.common import (
    BENCH_POOL,
    KeepAlive,
    asyncpg_dsn,
    bench_database_url,
    fresh_database,
    served,
    summary,
)

ROUTES = ["/healthz", "/v1/open-data/parking-sites", "/v1/open-data/parking-sites/realtime"]


async def http(base_url: str, path: str, requests: int) -> tuple[list[float], int]:
    """One request at a time on one keep-alive connection: what one crawler waits."""
    connection = await KeepAlive.open(base_url)
    latencies: list[float] = []
    size = 0
    try:
        for _ in range(10):
            status, _ = await connection.get(path, {})
            assert status == 200, status
        for _ in range(requests):
            t0 = time.perf_counter()
            status, body = await connection.get(path, {})
            latencies.append(time.perf_counter() - t0)
            assert status == 200, body
            size = len(body)
    finally:
        await connection.close()
    return latencies, size


def compiled(realtime: bool, now: datetime) -> tuple[str, list[object]]:
    sql, params = service.statement(now, realtime=realtime)
    statement = sql.compile(dialect=asyncpg_dialect())  # type: ignore[no-untyped-call]
    return statement.string, [params[name] for name in statement.positiontup or ()]


async def raw_sql(dsn: str, realtime: bool, requests: int) -> tuple[list[float], int]:
    sql, args = compiled(realtime, datetime.now(UTC))
    conn = await asyncpg.connect(dsn)
    latencies: list[float] = []
    rows = 0
    try:
        for _ in range(5):
            await conn.fetch(sql, *args)
        for _ in range(requests):
            t0 = time.perf_counter()
            rows = len(await conn.fetch(sql, *args))
            latencies.append(time.perf_counter() - t0)
    finally:
        await conn.close()
    return latencies, rows


async def explain(dsn: str, realtime: bool) -> str:
    sql, args = compiled(realtime, datetime.now(UTC))
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("explain (analyze, buffers, costs off) " + sql, *args)
    finally:
        await conn.close()
    return "\n".join(r[0] for r in rows)


async def main(
    spots: int,
    bookings: int,
    requests: int,
    *,
    reuse: bool = False,
    keep: bool = False,
    show_plan: bool = False,
) -> None:
    url = bench_database_url("parkshare_bench_opendata")
    dsn = asyncpg_dsn(url)
    if not reuse:
        await fresh_database(url)
        started = time.perf_counter()
        counts = await dataset.generate(dsn, spots, bookings)
        print(
            "data set: " + ", ".join(f"{v:,} {k}" for k, v in counts.items()),
            f"in {time.perf_counter() - started:.0f} s",
        )
    try:
        if show_plan:
            for realtime in (False, True):
                print(await explain(dsn, realtime))
        raw = {realtime: await raw_sql(dsn, realtime, requests) for realtime in (False, True)}
        with served(url, workers=2, **BENCH_POOL) as server:
            measured = {path: await http(server.url, path, requests) for path in ROUTES}
    finally:
        if not keep:
            await drop_database(url)
    print(f"open data: {requests} requests each, one at a time, 2 workers")
    for path, (latencies, size) in measured.items():
        print(f"  HTTP GET {path:40s} {summary(latencies)}  ({size:,} bytes)")
    for realtime, (latencies, rows) in raw.items():
        name = "realtime" if realtime else "zones"
        print(f"  raw SQL {name:41s} {summary(latencies)}  ({rows} zones)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spots", type=int, default=5_000)
    parser.add_argument("--bookings", type=int, default=250_000)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--reuse", action="store_true", help="use the data set of an earlier --keep run")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database afterwards")
    parser.add_argument("--explain", action="store_true", help="print EXPLAIN ANALYZE of both statements")
    args = parser.parse_args()
    asyncio.run(
        main(
            args.spots, args.bookings, args.requests, reuse=args.reuse, keep=args.keep, show_plan=args.explain
        )
    )
