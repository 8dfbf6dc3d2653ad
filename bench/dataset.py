"""A city-scale data set: 10,000 spots within 3 km of the Kreuzviertel with weekly rules, one-off
windows and blackouts, their open ranges, and 1,000,000 bookings over 90 days.

Written with COPY, so it takes a minute or two rather than hours; the open ranges come from the
same `booking` engine as the service's, so the data is what the service itself would have made.

    .venv/bin/python -m bench.dataset [--spots 10000] [--bookings 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import time
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from app.availability.materialize import OPEN_BEHIND, OPEN_PAST_HORIZON
from bench.common import asyncpg_dsn, bench_database_url, fresh_database
from booking import BookingPolicy, Calendar, Interval, IntervalSet, WeeklyRule
from booking.availability import RULE_FIELDS

CENTRE = (51.505, 7.447)
BERLIN = ZoneInfo("Europe/Berlin")
PATTERNS = [
    ([0, 1, 2, 3, 4], 8 * 60, 18 * 60),
    ([0, 1, 2, 3, 4], 7 * 60 + 30, 17 * 60 + 30),
    ([0, 1, 2, 3, 4, 5, 6], 0, 24 * 60),
    ([5, 6], 10 * 60, 20 * 60),
    ([0, 1, 2, 3, 4], 18 * 60, 7 * 60),
    ([0, 2, 4], 9 * 60, 15 * 60),
]
PASSWORD_HASH = (
    "$argon2id$v=19$m=1024,t=1,p=1$YmVuY2hzYWx0$9p2Hn2i3Bq6iW2n7rxkL1w"  # nobody signs in as these
)


def _position(rng: random.Random) -> tuple[float, float]:
    r = 3000 * math.sqrt(rng.random())
    theta = rng.uniform(0, 2 * math.pi)
    lat = CENTRE[0] + r * math.cos(theta) / 111_320
    lon = CENTRE[1] + r * math.sin(theta) / (111_320 * math.cos(math.radians(CENTRE[0])))
    return round(lat, 6), round(lon, 6)


async def generate(dsn: str, spots: int, bookings: int, seed: int = 2026) -> dict[str, int]:
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    conn = await asyncpg.connect(dsn)
    try:
        owners = [uuid.uuid4() for _ in range(max(1, spots // 10))]
        drivers = [uuid.uuid4() for _ in range(2000)]
        await conn.copy_records_to_table(
            "users",
            columns=["id", "email", "password_hash", "display_name", "role", "created_at", "updated_at"],
            records=[
                (uid, f"{kind}{n}@bench.example.org", PASSWORD_HASH, f"{kind} {n}", "user", now, now)
                for kind, ids in (("owner", owners), ("driver", drivers))
                for n, uid in enumerate(ids)
            ],
        )
        spot_rows, rule_rows, window_rows, blackout_rows, range_rows, booking_rows = [], [], [], [], [], []
        per_spot = bookings // spots
        for n in range(spots):
            spot_id = uuid.uuid4()
            lat, lon = _position(rng)
            granularity = rng.choice([15, 15, 30, 60])
            ev = rng.random() < 0.2
            buffer_min = rng.choice([0, 0, 15, 30])
            daily_cap = rng.choice([None, 1200, 1800])
            spot_rows.append(
                (
                    spot_id,
                    owners[n % len(owners)],
                    f"Bench spot {n}",
                    "Kreuzstraße",
                    str(n % 150 + 1),
                    "44139",
                    "Dortmund",
                    lat,
                    lon,
                    "Europe/Berlin",
                    rng.random() < 0.4,
                    "type2" if ev else None,
                    11.0 if ev else None,
                    rng.random() < 0.5,
                    rng.choice([150, 200, 250, 300, 350]),
                    daily_cap,
                    "EUR",
                    granularity,
                    max(granularity, 30),
                    43200,
                    0,
                    90,
                    buffer_min,
                    rng.random() < 0.8,
                    rng.choice(["flexible", "moderate", "strict"]),
                    now,
                    now,
                )
            )
            rules = [
                WeeklyRule(frozenset(days), a, b)
                for days, a, b in rng.sample(PATTERNS, rng.choice([1, 1, 2]))
            ]
            for rule in rules:
                rule_rows.append(
                    (uuid.uuid4(), spot_id, sorted(rule.weekdays), rule.start_minute, rule.end_minute, now)
                )
            windows, blackouts = [], []
            for _ in range(rng.choice([0, 0, 0, 1, 2])):
                start = now + timedelta(hours=rng.randint(1, 24 * 60))
                windows.append(Interval(start, start + timedelta(hours=rng.randint(2, 12))))
            for _ in range(rng.choice([0, 0, 0, 0, 1])):
                start = now + timedelta(days=rng.randint(1, 60))
                blackouts.append(Interval(start, start + timedelta(days=rng.randint(1, 5))))
            window_rows += [(uuid.uuid4(), spot_id, asyncpg.Range(w.start, w.end), now) for w in windows]
            blackout_rows += [
                (uuid.uuid4(), spot_id, asyncpg.Range(b.start, b.end), "Urlaub", now) for b in blackouts
            ]
            calendar = Calendar(
                policy=BookingPolicy(
                    BERLIN, granularity_min=granularity, min_duration_min=max(granularity, 30)
                ),
                rules=tuple(rules),
                windows=tuple(windows),
                blackouts=tuple(blackouts),
            )
            bounds = Interval(now - OPEN_BEHIND, now + timedelta(days=90) + OPEN_PAST_HORIZON)
            open_times = calendar.open_times(bounds)
            range_rows += [(spot_id, asyncpg.Range(i.start, i.end)) for i in open_times]
            booking_rows += _bookings(
                rng, spot_id, drivers, open_times, per_spot, now, granularity, buffer_min
            )
        await conn.copy_records_to_table(
            "spots",
            columns=[
                "id",
                "owner_id",
                "title",
                "street",
                "house_number",
                "postal_code",
                "city",
                "lat",
                "lon",
                "timezone",
                "covered",
                "ev_connector",
                "ev_power_kw",
                "lit",
                "hourly_cents",
                "daily_cap_cents",
                "currency",
                *RULE_FIELDS,
                "instant_book",
                "cancellation_policy",
                "created_at",
                "updated_at",
                "wheelchair_accessible",
                "version",
            ],
            records=[(*row, False, 1) for row in spot_rows],
        )
        await conn.execute(
            "update spots set open_ranges_until = $1", now + timedelta(days=90) + OPEN_PAST_HORIZON
        )
        await conn.copy_records_to_table(
            "availability_rules",
            columns=["id", "spot_id", "weekdays", "start_minute", "end_minute", "created_at"],
            records=rule_rows,
        )
        await conn.copy_records_to_table(
            "availability_windows", columns=["id", "spot_id", "during", "created_at"], records=window_rows
        )
        await conn.copy_records_to_table(
            "availability_blackouts",
            columns=["id", "spot_id", "during", "reason", "created_at"],
            records=blackout_rows,
        )
        await conn.copy_records_to_table(
            "spot_open_ranges", columns=["spot_id", "during"], records=range_rows
        )
        await conn.copy_records_to_table(
            "bookings",
            columns=[
                "id",
                "spot_id",
                "driver_id",
                "start_at",
                "end_at",
                "status",
                "total_cents",
                "currency",
                "hold_expires_at",
                "created_at",
                "updated_at",
            ],
            records=booking_rows,
        )
        # What autovacuum would have done by now: statistics and a visibility map for index-only scans.
        await conn.execute("vacuum analyze")
        return {
            "spots": len(spot_rows),
            "rules": len(rule_rows),
            "windows": len(window_rows),
            "blackouts": len(blackout_rows),
            "open ranges": len(range_rows),
            "bookings": len(booking_rows),
        }
    finally:
        await conn.close()


def _align_up(t: datetime, granularity: int) -> datetime:
    step = granularity * 60
    seconds = int(t.timestamp())
    return datetime.fromtimestamp(-(-seconds // step) * step, UTC)


def _bookings(
    rng: random.Random,
    spot_id: uuid.UUID,
    drivers: list[uuid.UUID],
    open_times: IntervalSet,
    count: int,
    now: datetime,
    granularity: int,
    buffer_min: int,
) -> list[tuple[object, ...]]:
    """`count` bookings from a week ago to 83 days ahead: booking k lies in the k-th of `count`
    equal slots of that time, inside the open times when they reach into the slot, and every
    booking starts at least the buffer after the one before, so none overlap (past ones are
    completed, a few cancelled or held)."""
    rows: list[tuple[object, ...]] = []
    first = _align_up(now - timedelta(days=7), granularity)
    slot = (now + timedelta(days=83) - first) / count
    buffer = timedelta(minutes=buffer_min)
    previous_end = first - buffer
    for k in range(count):
        lo = _align_up(max(previous_end + buffer, first + k * slot), granularity)
        hi = first + (k + 1) * slot
        length = timedelta(
            minutes=granularity * rng.randint(max(1, 60 // granularity), max(1, 180 // granularity))
        )
        start = lo
        for span in open_times.clip(Interval(lo, max(hi, lo + length))) if hi > lo else ():
            if span.length >= length:
                start = _align_up(span.start, granularity)
                break
        end = start + length
        status = (
            "completed"
            if end < now
            else rng.choices(["confirmed", "cancelled", "held"], [0.9, 0.08, 0.02])[0]
        )
        hold = now + timedelta(minutes=5) if status == "held" else None
        rows.append(
            (uuid.uuid4(), spot_id, rng.choice(drivers), start, end, status, 500, "EUR", hold, now, now)
        )
        previous_end = end
    return rows


async def main(spots: int, bookings: int) -> str:
    url = bench_database_url("parkshare_bench_search")
    await fresh_database(url)
    started = time.perf_counter()
    counts = await generate(asyncpg_dsn(url), spots, bookings)
    summary = ", ".join(f"{v:,} {k}" for k, v in counts.items())
    print(f"data set: {summary} in {time.perf_counter() - started:.0f} s")
    return url


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--spots", type=int, default=10_000)
    parser.add_argument("--bookings", type=int, default=1_000_000)
    args = parser.parse_args()
    asyncio.run(main(args.spots, args.bookings))
