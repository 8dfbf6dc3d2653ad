"""The zones of open data and their free capacity, each in one SQL statement.

Why each rule is as it is: docs/decisions/0008-open-data-zones.md. In short:

- a zone is a cell of a fixed grid (`LAT_STEP` by `LON_STEP` degrees, about 250 m by 243 m in
  Dortmund), and a spot falls into the cell of its public, rounded location, so nothing finer than
  the public view decides anything;
- only listed spots count: not withdrawn (an erased account's are), not unlisted, their owner not suspended,
  and offered at some time from now on (a spot that can never be free would otherwise pad the
  crowd that hides the free ones);
- a zone is published with at least `MIN_SPOTS` of them of at least `MIN_OWNERS` owners;
- its location is the cell's centre, which depends on no spot and is never a public location;
- `has_charging` needs `MIN_FEATURE_SPOTS` spots with a charger, `max_height` is the height that
  many spots take, so no single spot's feature shows;
- free capacity counts the spots free for the whole current 15-minute bucket (open ranges minus
  blocking bookings with their buffer, as search decides), rounded down to an even number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Final

from sqlalchemy import DateTime, Integer, Numeric, TextClause, bindparam, text
from sqlalchemy.ext.asyncio import AsyncSession

from booking.sql import active, still_blocks

# 0.00225 degrees of latitude are 250 m everywhere; 0.0035 degrees of longitude are 243 m at
# Dortmund's 51.5 degrees north (223 m at 55, 264 m at 47 degrees: all of Germany stays near 250 m).
# Both centres are odd multiples of 1/8 and 1/4 thousandth of a degree, so a centre never equals
# a public location, which has 3 decimals.
LAT_STEP = Decimal("0.00225")
LON_STEP = Decimal("0.0035")
GRID = "250m"
MIN_SPOTS = 5
MIN_OWNERS = 3
MIN_FEATURE_SPOTS = 3
BUCKET = timedelta(minutes=15)
TTL_SECONDS = 300
LICENSE: Final = "dl-de/zero-2.0"

ZONES_SQL = """
with listed as materialized (
    select s.id, s.owner_id, s.ev_connector, s.max_height_cm, s.district, s.buffer_min,
           -- The cell of the public location: round() as spots.public_location rounds.
           floor(round(s.lat::numeric, 3) / :lat_step)::int as cell_y,
           floor(round(s.lon::numeric, 3) / :lon_step)::int as cell_x
    from spots s
    join users u on u.id = s.owner_id
    where s.deleted_at is null and s.unlisted_at is null
      and u.suspended_at is null
      -- Offered at some time from now on. The ranges of a spot are disjoint, so the last one
      -- reaches furthest; a backward step on the primary key's btree finds it (cheaper per spot
      -- than a probe of the GiST index).
      and (
          select o.during from spot_open_ranges o
          where o.spot_id = s.id
          order by o.during desc
          limit 1
      ) && tstzrange(:now, null, '[)')
), zones as (
    select cell_y, cell_x,
           count(*) as capacity,
           count(*) filter (where ev_connector is not null) >= :min_feature as has_charging,
           -- The height at least :min_feature spots take (no limit counts as the highest); null
           -- when that many take any height.
           (array_agg(max_height_cm order by max_height_cm desc nulls first))[:min_feature] as max_height,
           -- A district only when every spot names the same, that is, at least :min_owners owners
           -- wrote it: never one owner's free text.
           case when count(district) = count(*) and count(distinct lower(btrim(district))) = 1
                then min(btrim(district)) end as district
    from listed
    group by cell_y, cell_x
    having count(*) >= :min_spots and count(distinct owner_id) >= :min_owners
)
{select}
"""

STATIC_SELECT = """
select cell_y, cell_x, capacity, has_charging, max_height, district
from zones
order by cell_y, cell_x
"""

REALTIME_SELECT = """
select z.cell_y, z.cell_x,
       count(*) filter (where state.free) as free,
       coalesce(bool_or(state.open), false) as open
from zones z
join listed l on l.cell_y = z.cell_y and l.cell_x = z.cell_x
cross join lateral (
    select
        -- Offered at some time in the bucket: only the last range starting before its end can
        -- overlap it (the ranges are disjoint and never adjacent, being merged).
        coalesce((
            select o.during from spot_open_ranges o
            where o.spot_id = l.id and o.during < tstzrange(:end, :end, '[]')
            order by o.during desc
            limit 1
        ) && tstzrange(:start, :end, '[)'), false) as open,
        -- Free as search decides it: one merged open range contains the bucket, and no booking
        -- that still blocks lies within the buffer of it.
        coalesce((
            select o.during from spot_open_ranges o
            where o.spot_id = l.id and o.during <= tstzrange(:start, null, '[)')
            order by o.during desc
            limit 1
        ) @> tstzrange(:start, :end, '[)'), false)
        and not exists (
            select 1 from bookings b
            where b.spot_id = l.id
              and {active}
              and tstzrange(b.start_at, b.end_at, '[)') && tstzrange(
                  :start - make_interval(mins => l.buffer_min), :end + make_interval(mins => l.buffer_min), '[)')
              and {still_blocks}
        ) as free
) state
group by z.cell_y, z.cell_x
order by z.cell_y, z.cell_x
"""

_TYPES: dict[str, Any] = {
    "lat_step": Numeric(),
    "lon_step": Numeric(),
    "now": DateTime(timezone=True),
    "start": DateTime(timezone=True),
    "end": DateTime(timezone=True),
    "min_spots": Integer(),
    "min_owners": Integer(),
    "min_feature": Integer(),
}


@dataclass(frozen=True)
class Zone:
    uid: str
    name: str
    lat: float
    lon: float
    capacity: int
    has_charging: bool
    max_height: int | None


@dataclass(frozen=True)
class ZoneState:
    uid: str
    free: int
    open: bool


def bucket_of(now: datetime) -> tuple[datetime, datetime]:
    """The 15-minute bucket `now` lies in, `[start, end)`. On the quarter hour in UTC is on it in
    every time zone in use."""
    start = now.replace(minute=now.minute - now.minute % 15, second=0, microsecond=0)
    return start, start + BUCKET


def zone_id(cell_y: int, cell_x: int) -> str:
    """The cell's own name, from its indices on the grid: stable, and nothing of any spot."""
    north = f"N{cell_y}" if cell_y >= 0 else f"S{-cell_y}"
    east = f"E{cell_x}" if cell_x >= 0 else f"W{-cell_x}"
    return f"{GRID}-{north}-{east}"


def uid(cell_y: int, cell_x: int) -> str:
    return f"parkshare:zone:{zone_id(cell_y, cell_x)}"


def centre(cell_y: int, cell_x: int) -> tuple[float, float]:
    lat = (Decimal(cell_y) + Decimal("0.5")) * LAT_STEP
    lon = (Decimal(cell_x) + Decimal("0.5")) * LON_STEP
    return float(lat), float(lon)


def even_floor(count: int) -> int:
    """Rounded down to an even number: one spot more or less free does not always show."""
    return count - count % 2


def statement(now: datetime, *, realtime: bool) -> tuple[TextClause, dict[str, Any]]:
    """The statement of the zones (or of their free capacity) at `now` and its parameters, typed
    so that asyncpg sends explicit casts. bench/open_data.py times it alone."""
    params: dict[str, Any] = {
        "lat_step": LAT_STEP,
        "lon_step": LON_STEP,
        "now": now,
        "min_spots": MIN_SPOTS,
        "min_owners": MIN_OWNERS,
        "min_feature": MIN_FEATURE_SPOTS,
    }
    select = STATIC_SELECT
    if realtime:
        params["start"], params["end"] = bucket_of(now)
        select = REALTIME_SELECT.format(active=active("b."), still_blocks=still_blocks(":now", "b."))
    sql = text(ZONES_SQL.format(select=select))
    return sql.bindparams(*(bindparam(name, type_=_TYPES[name]) for name in params)), params


async def zones(session: AsyncSession, now: datetime) -> list[Zone]:
    rows = (await session.execute(*statement(now, realtime=False))).all()
    out = []
    for row in rows:
        lat, lon = centre(row.cell_y, row.cell_x)
        name = f"parkshare zone {zone_id(row.cell_y, row.cell_x)}"
        out.append(
            Zone(
                uid=uid(row.cell_y, row.cell_x),
                name=f"{row.district} ({name})" if row.district else name,
                lat=lat,
                lon=lon,
                capacity=row.capacity,
                has_charging=row.has_charging,
                max_height=row.max_height,
            )
        )
    return out


async def realtime(session: AsyncSession, now: datetime) -> list[ZoneState]:
    rows = (await session.execute(*statement(now, realtime=True))).all()
    return [ZoneState(uid=uid(r.cell_y, r.cell_x), free=even_floor(r.free), open=r.open) for r in rows]
