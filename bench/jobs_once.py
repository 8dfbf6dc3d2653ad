"""Many processes, each job once: 4 serving processes and 2 `parkshare worker`s on one database,
all running the scheduler and the webhook delivery, on a clock that runs `--speed` times as fast
(`SIMULATED_CLOCK_SPEED`, docs/jobs.md), while

- drivers book short stays on the *jobs spots* for `--minutes` of simulated time: some holds are
  never confirmed (they expire), the rest are confirmed (reminders 30 minutes before the start and
  15 before the end, completion at the end; on the spots that require a check-in, nobody checks in:
  no-shows). The spots' owner has a webhook for all of it, pointing at a receiver on loopback;
- `--attempts` racing booking attempts from `--users` drivers over `--clients` keep-alive
  connections land on `--spots` *race spots* with random overlapping intervals; half of the holds
  won are confirmed, the rest expire.

Then the processes stop and SQL (and the receiver) count: one `booking.expired`, `booking.completed`
and `booking.no_show` event (and history row) per booking in that state, at most one reminder of
each kind per booking and one for each that was due, none missed, each (event, webhook) delivered
once in one attempt and received once; no two active bookings of a spot overlap; every attempt
answered 201 or a clean 409/422/429.

    .venv/bin/python -m bench.jobs_once [--minutes 10] [--speed 10] [--attempts 100000]

It makes its own database (`parkshare_bench_jobs` + BENCH_DATABASE_SUFFIX) and exits 1 when a count
is off. tests/test_jobs_once.py runs a short form.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx

from bench.booking_throughput import EVERY_DAY, _spot
from bench.common import (
    NO_CONTENT,
    PARKSHARE,
    KeepAlive,
    account,
    asyncpg_dsn,
    bench_database_url,
    client,
    fresh_database,
    read_webhook,
    served,
    server_env,
)
from booking.sql import ACTIVE_SQL, active

SUBSCRIBED = [
    "booking.held",
    "booking.confirmed",
    "booking.expired",
    "booking.completed",
    "booking.starts_soon",
    "booking.ends_soon",
    "booking.no_show",
]
HOLD_TTL = timedelta(minutes=2)
PASSWORD = "bench-password-1"
# A change is due by a job that runs every second of real time; given this much simulated time
# more, a job that never ran for it shows up as missed rather than as late. Generous, because on a
# loaded 2-core machine (CI, with other tests beside) a job's run can lag by seconds.
SLACK_REAL_SECONDS = 15.0
# What a racing attempt may be answered: a booking, a refusal with its code, or, on a loaded machine,
# 503 `unavailable` with Retry-After (a full pool); never a 500 or a dropped connection.
CLEAN = {201, 409, 422, 429, 503}


@dataclass(frozen=True)
class SimClock:
    """The processes' clock, read here the same way (app.clock.simulated)."""

    origin: datetime
    speed: float

    def now(self) -> datetime:
        real = datetime.now(UTC)
        return self.origin + (real - self.origin) * self.speed

    def real_seconds(self, simulated: timedelta) -> float:
        return simulated.total_seconds() / self.speed


@dataclass
class Run:
    minutes: float = 10
    speed: float = 10
    attempts: int = 100_000
    spots: int = 50
    clients: int = 64
    users: int = 500
    jobs_spots: int = 40
    jobs_drivers: int = 20
    serve_workers: int = 4
    workers: int = 2
    seed: int = 16


@dataclass
class Report:
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    answers: Counter[str] = field(default_factory=Counter)
    confirms: Counter[int] = field(default_factory=Counter)
    unclean: list[str] = field(default_factory=list)
    overlaps: int = 0
    active_race: int = 0
    race_seconds: float = 0.0
    simulated_minutes: float = 0.0
    jobs_bookings: Counter[str] = field(default_factory=Counter)
    receiver_duplicates: int = 0
    receiver_missing: int = 0
    receiver_unknown: int = 0

    @property
    def attempts_per_second(self) -> float:
        total = sum(self.answers.values())
        return total / self.race_seconds if self.race_seconds else 0.0

    def failures(self) -> list[str]:
        out = []
        for kind, c in self.counts.items():
            for key in ("duplicates", "missed", "history_duplicates", "not_once", "unsucceeded", "resent"):
                if c.get(key):
                    out.append(f"{kind}: {key} {c[key]}")
        if self.overlaps:
            out.append(f"{self.overlaps} overlapping active bookings")
        if self.unclean:
            out.append(f"{len(self.unclean)} unclean answers, e.g. {self.unclean[:3]}")
        if self.receiver_duplicates or self.receiver_missing or self.receiver_unknown:
            out.append(
                f"receiver: {self.receiver_duplicates} duplicate webhook-ids, {self.receiver_missing} "
                f"missing, {self.receiver_unknown} unknown"
            )
        return out

    def lines(self, run: Run) -> list[str]:
        out = [
            f"jobs once: {run.serve_workers} serving processes + {run.workers} workers, clock x{run.speed:g}, "
            f"{self.simulated_minutes:.1f} simulated minutes; {os.cpu_count()} cores",
            f"  jobs spots: {dict(sorted(self.jobs_bookings.items()))}",
            f"  {'':<22}{'bookings':>9}{'events':>8}{'dups':>6}{'missed':>7}{'history':>8}{'hist dups':>10}",
        ]
        for kind in (
            "booking.expired",
            "booking.completed",
            "booking.no_show",
            "booking.starts_soon",
            "booking.ends_soon",
        ):
            c = self.counts.get(kind, {})
            # Reminders are events only, not a change of the booking: no history row.
            history = (
                f"{c['history']:>8}{c['history_duplicates']:>10}" if "history" in c else f"{'-':>8}{'-':>10}"
            )
            out.append(
                f"  {kind:<22}{c.get('bookings', 0):>9}{c.get('events', 0):>8}{c.get('duplicates', 0):>6}"
                f"{c.get('missed', 0):>7}{history}"
            )
        w = self.counts.get("webhook", {})
        out.append(
            f"  webhook deliveries: {w.get('expected', 0)} events to deliver, {w.get('deliveries', 0)} deliveries, "
            f"{w.get('not_once', 0)} events not delivered exactly once, {w.get('unsucceeded', 0)} not succeeded, "
            f"{w.get('resent', 0)} sent more than once; receiver: {w.get('received', 0)} received, "
            f"{self.receiver_duplicates} duplicate webhook-ids, {self.receiver_missing} missing"
        )
        answers = ", ".join(f"{k} {v}" for k, v in sorted(self.answers.items()))
        out.append(
            f"  race: {sum(self.answers.values())} attempts on {run.spots} spots from {run.users} users over "
            f"{run.clients} connections in {self.race_seconds:.1f} s = {self.attempts_per_second:.0f} attempts/s"
        )
        out.append(f"    answers: {answers}; confirms {dict(sorted(self.confirms.items()))}")
        out.append(
            f"    active race bookings {self.active_race}, overlapping pairs {self.overlaps}, "
            f"unclean answers {len(self.unclean)}"
        )
        return out


# -- processes -------------------------------------------------------------------------------------


@contextlib.contextmanager
def workers(count: int, env: dict[str, str]) -> Iterator[list[subprocess.Popen[bytes]]]:
    """`parkshare worker` processes, stopped with SIGTERM afterwards."""
    procs = [
        subprocess.Popen([PARKSHARE, "worker"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(count)
    ]
    try:
        yield procs
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def process_settings(clock: SimClock, run: Run) -> dict[str, str]:
    return {
        "SCHEDULER_ENABLED": "true",
        "SIMULATED_CLOCK_SPEED": str(clock.speed),
        "SIMULATED_CLOCK_ORIGIN": clock.origin.isoformat(),
        "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        "HOLD_TTL_SECONDS": str(int(HOLD_TTL.total_seconds())),
        "SWEEP_INTERVAL_SECONDS": "1",
        "MAIL_INTERVAL_SECONDS": "1",
        # Tokens live a day of simulated time: the run is shorter.
        "ACCESS_TOKEN_TTL_SECONDS": "86400",
        # The service's own limit per user: many users, not a raised limit.
        "BOOKING_WRITES_PER_USER": "30",
        "DATABASE_POOL_SIZE": "8",
        "DATABASE_MAX_OVERFLOW": "2",
    }


# -- the jobs spots --------------------------------------------------------------------------------


def _ceil5(t: datetime) -> datetime:
    """The next five-minute mark after `t`."""
    t = t.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return t + timedelta(minutes=-t.minute % 5)


async def drive_jobs(
    base: str,
    clock: SimClock,
    run: Run,
    spots: list[str],
    drivers: list[dict[str, str]],
) -> tuple[Counter[str], datetime]:
    """For `run.minutes` of simulated time, each driver in turn books five or ten minutes from one
    of the next two five-minute marks on a jobs spot; a third of the stays stay holds, the rest are
    confirmed. The answers by status, and when the last stay ends."""
    rng = random.Random(run.seed)
    end_of_window = clock.now() + timedelta(minutes=run.minutes)
    outcome: Counter[str] = Counter()
    last_end = clock.now()
    # A connection per request: under load a round can take longer than uvicorn keeps an idle
    # connection (5 s), and a request sent as the server closes it fails without an answer.
    limits = httpx.Limits(max_connections=len(drivers), max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as c:

        async def book(
            headers: dict[str, str], spot_id: str, start: datetime, end: datetime, hold: bool
        ) -> None:
            nonlocal last_end
            body = {"spot_id": spot_id, "start": start.isoformat(), "end": end.isoformat()}
            r = await c.post("/v1/bookings", headers=headers, json=body)
            outcome[f"book {r.status_code}"] += 1
            if r.status_code != 201:
                return
            last_end = max(last_end, end)
            if not hold:
                r = await c.post(f"/v1/bookings/{r.json()['id']}/confirm", headers=headers)
                outcome[f"confirm {r.status_code}"] += 1

        while clock.now() < end_of_window:
            # All drivers at once: the same spot and mark are now and then wanted twice (409).
            rounds = []
            for headers in drivers:
                start = _ceil5(clock.now() + timedelta(seconds=20)) + timedelta(minutes=5 * rng.randint(0, 1))
                end = start + timedelta(minutes=rng.choice((5, 10)))
                rounds.append(book(headers, rng.choice(spots), start, end, rng.random() < 1 / 3))
            await asyncio.gather(*rounds)
            await asyncio.sleep(0.2)
    return outcome, last_end


# -- the race --------------------------------------------------------------------------------------


async def race(
    base: str, clock: SimClock, run: Run, spots: list[str], users: list[dict[str, str]], report: Report
) -> None:
    rng = random.Random(run.seed + 1)
    # Far enough ahead that no reminder of a race booking comes due during the run.
    first = (clock.now() + timedelta(hours=12)).replace(minute=0, second=0, microsecond=0)
    remaining = iter(range(run.attempts))

    async def one_client(n: int) -> None:
        connection = await KeepAlive.open(base)
        try:
            for i in remaining:
                headers = users[(n + i) % len(users)]
                start = first + timedelta(minutes=15 * rng.randint(0, 4 * 48))
                end = start + timedelta(minutes=15 * rng.randint(2, 16))
                body = {"spot_id": rng.choice(spots), "start": start.isoformat(), "end": end.isoformat()}
                status, payload = await connection.post_json("/v1/bookings", body, headers)
                code = _code(status, payload)
                report.answers[f"{status} {code}" if code else str(status)] += 1
                if status not in CLEAN or (status != 201 and code is None):
                    report.unclean.append(f"{status} {payload[:200]!r}")
                if status == 201 and rng.random() < 0.5:
                    booking_id = json.loads(payload)["id"]
                    status, _ = await connection.post_json(f"/v1/bookings/{booking_id}/confirm", {}, headers)
                    report.confirms[status] += 1
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(one_client(n) for n in range(run.clients)))
    report.race_seconds = time.perf_counter() - started


def _code(status: int, payload: bytes) -> str | None:
    if status < 400:
        return None
    try:
        code = json.loads(payload).get("code")
    except (ValueError, AttributeError):
        return None
    return code if isinstance(code, str) else None


# -- counting --------------------------------------------------------------------------------------

# Per kind of change: bookings in the state it leads to, events of that type, bookings with more
# than one, bookings that should have one and have none; the same for the history rows.
_STATE_CHANGE = """
with per as (
    select b.id,
           (select count(*) from events e where e.booking_id = b.id and e.type = $1) as events,
           (select count(*) from booking_events h where h.booking_id = b.id and h.kind = $1) as history
    from bookings b where b.status = $2::booking_status
)
select count(*) as bookings, coalesce(sum(events), 0) as events,
       count(*) filter (where events > 1) as duplicates, count(*) filter (where events = 0) as missed,
       coalesce(sum(history), 0) as history, count(*) filter (where history <> 1) as history_duplicates
from per
"""
# Changes a job should have made by `$1` and did not.
_MISSED = {
    "booking.expired": """select count(*) from bookings
        where (status = 'held' and hold_expires_at <= $1) or (status = 'requested' and request_expires_at <= $1)""",
    "booking.completed": "select count(*) from bookings where status = 'confirmed' and end_at <= $1",
    # A confirmed booking on a spot that wants a check-in and has none, past its no-show time.
    "booking.no_show": """select count(*) from bookings b join spots s on s.id = b.spot_id
        where b.status = 'confirmed' and b.checked_in_at is null
          and coalesce(b.check_in_required, s.check_in_required)
          and least(b.start_at + make_interval(mins => coalesce(b.no_show_after_min, s.no_show_after_min)), b.end_at) <= $1""",
}
# A reminder per booking: how many were sent, bookings with more than one, and bookings that were
# confirmed a while before it came due (and before the end of the run) without one.
_REMINDER = """
with per as (
    select b.id, b.{at} as at,
           (select count(*) from events e where e.booking_id = b.id and e.type = $1) as sent,
           (select min(h.at) from booking_events h where h.booking_id = b.id and h.kind = 'booking.confirmed') as confirmed_at
    from bookings b
)
select count(*) filter (where sent > 0) as bookings, coalesce(sum(sent), 0) as events,
       count(*) filter (where sent > 1) as duplicates,
       count(*) filter (where sent = 0 and confirmed_at is not null and confirmed_at <= at - $2::interval
                        and at - $3::interval <= $4 and confirmed_at <= $4) as missed
from per
"""
_WEBHOOK = """
with expected as (
    select e.seq, e.id from events e join webhooks w on w.user_id = e.owner_id
    where w.id = $1 and e.webhook_id is null and e.type = any(w.events)
), per as (
    select x.id, count(d.id) as deliveries,
           count(d.id) filter (where d.status <> 'succeeded') as unsucceeded,
           coalesce(sum(d.attempt_count), 0) as attempts
    from expected x left join deliveries d on d.event_seq = x.seq and d.webhook_id = $1
    group by x.id
)
select count(*) as expected, coalesce(sum(deliveries), 0) as deliveries,
       count(*) filter (where deliveries <> 1) as not_once,
       coalesce(sum(unsucceeded), 0) as unsucceeded,
       count(*) filter (where attempts > 1) as resent,
       array_agg(id::text) as ids
from per
"""
# The statuses are the engine's own spelling (booking.sql), no input.
_OVERLAPS = f"""
select count(*) from bookings a join bookings b
  on a.spot_id = b.spot_id and a.id < b.id
 and tstzrange(a.start_at, a.end_at, '[)') && tstzrange(b.start_at, b.end_at, '[)')
where {active("a.")} and {active("b.")} and a.spot_id = any($1::uuid[])
"""  # noqa: S608
_PENDING = """
select (select count(*) from deliveries where status = 'pending')
     + (select count(*) from events e, event_cursors c where c.name = 'dispatch' and (e.txid, e.seq) > (c.txid, c.seq))
"""


async def count(
    dsn: str,
    done_by: datetime,
    clock: SimClock,
    webhook_id: str,
    race_spots: list[str],
    receiver: CountingReceiver,
    report: Report,
) -> None:
    """The counts once the processes stopped: what was due by `done_by` has been done."""
    conn = await asyncpg.connect(dsn)
    try:
        for kind, status in (
            ("booking.expired", "expired"),
            ("booking.completed", "completed"),
            ("booking.no_show", "no_show"),
        ):
            row = await conn.fetchrow(_STATE_CHANGE, kind, status)
            assert row is not None
            counts = {k: int(v) for k, v in row.items()}
            counts["missed"] += int(await conn.fetchval(_MISSED[kind], done_by))
            report.counts[kind] = counts
        slack = timedelta(seconds=SLACK_REAL_SECONDS * clock.speed)
        for kind, at, lead in (
            ("booking.starts_soon", "start_at", timedelta(minutes=30)),
            ("booking.ends_soon", "end_at", timedelta(minutes=15)),
        ):
            row = await conn.fetchrow(_REMINDER.format(at=at), kind, slack, lead, done_by)
            assert row is not None
            report.counts[kind] = {k: int(v) for k, v in row.items()}
        row = await conn.fetchrow(_WEBHOOK, webhook_id)
        assert row is not None
        expected_ids = set(row["ids"] or [])
        received = Counter(receiver.received)
        report.counts["webhook"] = {
            k: int(row[k]) for k in ("expected", "deliveries", "not_once", "unsucceeded", "resent")
        }
        report.counts["webhook"]["received"] = sum(received.values())
        report.receiver_duplicates = sum(n - 1 for n in received.values() if n > 1)
        report.receiver_missing = len(expected_ids - set(received))
        report.receiver_unknown = len(set(received) - expected_ids)
        report.overlaps = int(await conn.fetchval(_OVERLAPS, race_spots))
        report.active_race = int(
            await conn.fetchval(
                f"select count(*) from bookings where {ACTIVE_SQL} and spot_id = any($1::uuid[])",  # noqa: S608
                race_spots,
            )
        )
    finally:
        await conn.close()


class CountingReceiver:
    """A webhook receiver on loopback that answers 204 at once and keeps every webhook-id it was
    sent, however often. In a thread with an event loop of its own: on the load generator's loop
    it would answer as late as that loop is busy, slower than a real receiver."""

    def __init__(self) -> None:
        self.received: list[str] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        ready = threading.Event()

        def serve() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            server = loop.run_until_complete(asyncio.start_server(self._serve, "127.0.0.1", 0))
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            server.close()
            loop.run_until_complete(server.wait_closed())
            loop.close()

        self._thread = threading.Thread(target=serve, name="webhook-receiver", daemon=True)
        self._thread.start()
        ready.wait()

    def stop(self) -> None:
        if self._loop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                webhook_id, _ = await read_webhook(reader)
                if webhook_id:
                    self.received.append(webhook_id)
                writer.write(NO_CONTENT)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


# -- the run ---------------------------------------------------------------------------------------


async def _accounts(base: str, prefix: str, n: int) -> list[dict[str, str]]:
    async with client(base, 16) as c:
        semaphore = asyncio.Semaphore(16)

        async def one(i: int) -> dict[str, str]:
            email = f"{prefix}{i}@bench.example.org"
            async with semaphore:
                for _ in range(5):
                    r = await c.post(
                        "/v1/auth/register",
                        json={"email": email, "password": PASSWORD, "display_name": "Bench"},
                    )
                    # A loaded machine may answer 503 (pool or statement timeout): try again.
                    if r.status_code in (201, 409):
                        break
                    await asyncio.sleep(1)
                else:
                    raise RuntimeError(f"registering {prefix}{i} failed: {r.status_code} {r.text[:200]}")
                r = await c.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
                r.raise_for_status()
                return {"Authorization": f"Bearer {r.json()['access_token']}"}

        return list(await asyncio.gather(*(one(i) for i in range(n))))


async def _spots(base: str, owner: dict[str, str], n: int, title: str, rules: dict[str, Any]) -> list[str]:
    ids = []
    async with client(base, 4) as c:
        for i in range(n):
            body = _spot(i, title=title)
            body["rules"] = rules
            r = await c.post("/v1/spots", headers=owner, json=body)
            r.raise_for_status()
            ids.append(r.json()["id"])
            (
                await c.post(f"/v1/spots/{ids[-1]}/availability/rules", headers=owner, json=EVERY_DAY)
            ).raise_for_status()
    return ids


async def _drained(dsn: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    conn = await asyncpg.connect(dsn)
    try:
        while time.monotonic() < deadline:
            if int(await conn.fetchval(_PENDING)) == 0:
                return True
            await asyncio.sleep(0.5)
        return False
    finally:
        await conn.close()


async def execute(database_url: str, run: Run) -> Report:
    """The whole run against an empty, migrated database."""
    report = Report()
    clock = SimClock(datetime.now(UTC), run.speed)
    receiver = CountingReceiver()
    receiver.start()
    dsn = asyncpg_dsn(database_url)
    settings = process_settings(clock, run)
    try:
        with (
            served(database_url, workers=run.serve_workers, **settings) as server,
            workers(run.workers, server_env(database_url, **settings)),
        ):
            async with client(server.url, 4) as c:
                jobs_owner = await account(c, "jobs-owner@bench.example.org")
                race_owner = await account(c, "race-owner@bench.example.org")
                hook = await c.post(
                    "/v1/me/webhooks",
                    headers=jobs_owner,
                    json={"url": f"http://127.0.0.1:{receiver.port}/hook", "events": SUBSCRIBED},
                )
                hook.raise_for_status()
                webhook_id = hook.json()["id"]
            short = {"granularity_min": 5, "min_duration_min": 5, "buffer_min": 0, "horizon_days": 7}
            half = run.jobs_spots // 2
            jobs_spots = await _spots(server.url, jobs_owner, half, "Jobs spot", short)
            jobs_spots += await _spots(
                server.url,
                jobs_owner,
                run.jobs_spots - half,
                "Check-in spot",
                {**short, "check_in_required": True, "no_show_after_min": 5},
            )
            race_spots = await _spots(
                server.url, race_owner, run.spots, "Race spot", {"granularity_min": 15, "buffer_min": 0}
            )
            jobs_drivers = await _accounts(server.url, "jobs-driver", run.jobs_drivers)
            users = await _accounts(server.url, "race-driver", run.users)
            started = clock.now()
            (jobs, last_end), _ = await asyncio.gather(
                drive_jobs(server.url, clock, run, jobs_spots, jobs_drivers),
                race(server.url, clock, run, race_spots, users, report),
            )
            report.jobs_bookings = jobs
            # Until the last holds expired, the last stays ended and every event was delivered.
            window_end = max(last_end, clock.now() + HOLD_TTL)
            await asyncio.sleep(
                max(0.0, (window_end - clock.now()).total_seconds() / clock.speed) + SLACK_REAL_SECONDS
            )
            if not await _drained(dsn, 60):
                print("jobs once: deliveries still pending after 60 s", file=sys.stderr)
            stopped = clock.now()
            report.simulated_minutes = (stopped - started).total_seconds() / 60
        done_by = stopped - timedelta(seconds=SLACK_REAL_SECONDS * clock.speed)
        await count(dsn, done_by, clock, webhook_id, race_spots, receiver, report)
    finally:
        receiver.stop()
    return report


async def main(run: Run) -> int:
    url = bench_database_url("parkshare_bench_jobs")
    await fresh_database(url)
    load_before = os.getloadavg()
    report = await execute(url, run)
    load_after = os.getloadavg()
    for line in report.lines(run):
        print(line)
    print(
        f"  load average before {load_before[0]:.2f} {load_before[1]:.2f}, after {load_after[0]:.2f} {load_after[1]:.2f}"
    )
    failures = report.failures()
    for failure in failures:
        print(f"  FAILED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--minutes", type=float, default=10, help="simulated minutes of bookings on the jobs spots"
    )
    parser.add_argument("--speed", type=float, default=10, help="how many times as fast the clock runs")
    parser.add_argument("--attempts", type=int, default=100_000, help="racing booking attempts")
    parser.add_argument("--spots", type=int, default=50, help="race spots")
    parser.add_argument("--clients", type=int, default=64, help="concurrent keep-alive connections")
    parser.add_argument("--users", type=int, default=500, help="racing drivers")
    args = parser.parse_args()
    run = Run(
        minutes=args.minutes,
        speed=args.speed,
        attempts=args.attempts,
        spots=args.spots,
        clients=args.clients,
        users=args.users,
    )
    sys.exit(asyncio.run(main(run)))
