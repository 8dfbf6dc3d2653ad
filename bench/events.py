"""How long an event takes from a booking's commit to a webhook receiver and to a live stream,
while the service books at a steady rate (two uvicorn workers, both delivering).

    .venv/bin/python -m bench.events [--bookings 3000] [--rate 120]

Latency is counted from the moment the client has the booking's 201 answer, which comes after the
commit; the figures "from the request" count from when the request was sent, an upper bound. As
baselines, measured in the same run on the same machine: a bare PostgreSQL NOTIFY reaching a
LISTEN connection, and a bare HTTP POST from this process to the same receiver.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from bench.booking_throughput import EVERY_DAY, _slots, _spot
from bench.common import (
    BENCH_POOL,
    NO_CONTENT,
    CpuMeter,
    KeepAlive,
    account,
    asyncpg_dsn,
    bench_database_url,
    client,
    fresh_database,
    percentile,
    read_webhook,
    served,
)


class Receiver:
    """A minimal HTTP/1.1 server on loopback that answers 204 at once and notes when each
    webhook's booking event arrived (keep-alive, no verification: the tests verify signatures)."""

    def __init__(self) -> None:
        self.arrived: dict[tuple[str, str], float] = {}
        self.duplicates = 0
        self.ids: set[str] = set()
        self.server: asyncio.Server | None = None
        self.port = 0

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                webhook_id, body = await read_webhook(reader)
                now = time.perf_counter()
                writer.write(NO_CONTENT)
                if webhook_id in self.ids:
                    self.duplicates += 1
                elif webhook_id.startswith("baseline-"):
                    pass
                elif webhook_id:
                    self.ids.add(webhook_id)
                    event = json.loads(body)
                    booking = event["data"].get("booking") or {}
                    self.arrived.setdefault((booking.get("id", ""), event["type"]), now)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def _stream(base: str, headers: dict[str, str], arrived: dict[tuple[str, str], float]) -> None:
    async with (
        httpx.AsyncClient(base_url=base, timeout=httpx.Timeout(10, read=60)) as c,
        c.stream("GET", "/v1/me/events", headers=headers) as response,
    ):
        response.raise_for_status()
        async for line in response.aiter_lines():
            if line.startswith("data:"):
                event = json.loads(line[5:])
                booking = event["data"].get("booking") or {}
                arrived.setdefault((booking.get("id", ""), event["type"]), time.perf_counter())


async def _notify_baseline(dsn: str, rounds: int = 300) -> list[float]:
    listener = await asyncpg.connect(dsn)
    sender = await asyncpg.connect(dsn)
    got: asyncio.Queue[float] = asyncio.Queue()
    await listener.add_listener("bench_baseline", lambda *_: got.put_nowait(time.perf_counter()))
    out = []
    try:
        for _ in range(rounds):
            sent = time.perf_counter()
            await sender.execute("notify bench_baseline")
            out.append(await got.get() - sent)
    finally:
        await listener.close()
        await sender.close()
    return out


async def _post_baseline(port: int, rounds: int = 300) -> list[float]:
    out = []
    async with httpx.AsyncClient(timeout=10) as c:
        for n in range(rounds):
            sent = time.perf_counter()
            await c.post(f"http://127.0.0.1:{port}/", content=b"{}", headers={"webhook-id": f"baseline-{n}"})
            out.append(time.perf_counter() - sent)
    return out


def _line(name: str, values_s: list[float]) -> str:
    ms = [v * 1000 for v in values_s]
    return f"  {name:<34} p50 {percentile(ms, 50):8.1f} ms  p99 {percentile(ms, 99):8.1f} ms  (n={len(ms)})"


async def main(bookings: int, rate: float, spots: int, drivers: int, streams: int) -> None:
    url = bench_database_url("parkshare_bench_events")
    await fresh_database(url)
    receiver = Receiver()
    await receiver.start()
    stream_arrived: dict[tuple[str, str], float] = {}
    answered: dict[str, tuple[float, float]] = {}  # booking id -> (sent, answered)
    statuses: dict[int, int] = {}
    try:
        with served(
            url, workers=2, SCHEDULER_ENABLED="true", WEBHOOK_ALLOW_PRIVATE_URLS="true", **BENCH_POOL
        ) as server:
            async with client(server.url, 16) as c:
                owner = await account(c, "owner@bench.example.org")
                hook = await c.post(
                    "/v1/me/webhooks",
                    headers=owner,
                    json={"url": f"http://127.0.0.1:{receiver.port}/hook", "events": ["booking.held"]},
                )
                hook.raise_for_status()
                spot_ids = []
                for n in range(spots):
                    r = await c.post("/v1/spots", headers=owner, json=_spot(n))
                    spot_ids.append(r.json()["id"])
                    await c.post(
                        f"/v1/spots/{spot_ids[-1]}/availability/rules", headers=owner, json=EVERY_DAY
                    )
                driver_headers = list(
                    await asyncio.gather(
                        *(account(c, f"driver{n}@bench.example.org") for n in range(drivers))
                    )
                )
            listeners = [
                asyncio.create_task(_stream(server.url, driver_headers[n], stream_arrived))
                for n in range(min(streams, drivers))
            ]
            await asyncio.sleep(1.0)  # the streams are open before the load starts
            base = (datetime.now(UTC) + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
            slots = _slots(spot_ids, base)
            connections: asyncio.Queue[KeepAlive] = asyncio.Queue()
            for _ in range(32):
                connections.put_nowait(await KeepAlive.open(server.url))

            async def book(n: int) -> None:
                spot_id, start = next(slots)
                body = {
                    "spot_id": spot_id,
                    "start": start.isoformat(),
                    "end": (start + timedelta(hours=1)).isoformat(),
                }
                connection = await connections.get()
                try:
                    sent = time.perf_counter()
                    status, payload = await connection.post_json(
                        "/v1/bookings", body, driver_headers[n % drivers]
                    )
                    done = time.perf_counter()
                finally:
                    connections.put_nowait(connection)
                statuses[status] = statuses.get(status, 0) + 1
                if status == 201:
                    answered[json.loads(payload)["id"]] = (sent, done)

            meter = CpuMeter(server.pid)
            tasks: list[asyncio.Task[None]] = []
            with meter.measure():
                started = time.perf_counter()
                for n in range(bookings):
                    delay = started + n / rate - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    tasks.append(asyncio.create_task(book(n)))
                await asyncio.gather(*tasks)
                elapsed = time.perf_counter() - started
            # Stragglers: wait until every event arrived or 15 s passed.
            for _ in range(75):
                if all(
                    (b, "booking.held") in receiver.arrived and (b, "booking.held") in stream_arrived
                    for b in answered
                ):
                    break
                await asyncio.sleep(0.2)
            await asyncio.sleep(0.5)
            for task in listeners:
                task.cancel()
            # Their ends, cancelled or failed; a cancel of the benchmark itself still comes through.
            await asyncio.gather(*listeners, return_exceptions=True)
            while not connections.empty():
                await connections.get_nowait().close()
        notify = await _notify_baseline(asyncpg_dsn(url))
        posts = await _post_baseline(receiver.port)
    finally:
        await receiver.stop()

    streamed_drivers = min(streams, drivers)
    hook_after_answer = []
    hook_after_request = []
    sse_after_answer = []
    sse_after_request = []
    for booking_id, (sent, done) in answered.items():
        if (at := receiver.arrived.get((booking_id, "booking.held"))) is not None:
            hook_after_answer.append(max(0.0, at - done))
            hook_after_request.append(at - sent)
    for booking_id, (sent, done) in answered.items():
        at = stream_arrived.get((booking_id, "booking.held"))
        if at is not None:
            sse_after_answer.append(max(0.0, at - done))
            sse_after_request.append(at - sent)
    booked = statuses.get(201, 0)
    missing_hooks = booked - len(hook_after_answer)
    print(
        f"event latency: {bookings} bookings paced at {rate:.0f}/s, achieved {len(answered) / elapsed:.1f} "
        f"booked/s; 2 workers delivering; {spots} spots, {drivers} drivers, {streamed_drivers} of them "
        f"streaming; {os.cpu_count()} cores"
    )
    print(f"  answers {dict(sorted(statuses.items()))}")
    print(_line("webhook, from the 201 answer", hook_after_answer))
    print(_line("webhook, from the request", hook_after_request))
    print(_line("live stream, from the 201 answer", sse_after_answer))
    print(_line("live stream, from the request", sse_after_request))
    print(_line("baseline: bare NOTIFY -> LISTEN", notify))
    print(_line("baseline: bare POST to the receiver", posts))
    print(
        f"  webhook events missing {missing_hooks}, duplicates {receiver.duplicates}; "
        f"stream events missing {booked - len(sse_after_answer)}"
    )
    print(f"  CPU ms per booking: {meter.per(max(booked, 1))}  (machine {meter.busy:.0%} busy)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bookings", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=120)
    parser.add_argument("--spots", type=int, default=200)
    parser.add_argument("--drivers", type=int, default=100)
    parser.add_argument("--streams", type=int, default=100, help="drivers that hold a live stream")
    args = parser.parse_args()
    asyncio.run(main(args.bookings, args.rate, args.spots, args.drivers, args.streams))
