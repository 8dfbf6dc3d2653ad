"""Spots near a point that are free for the whole interval, in one SQL statement.

The database does all the filtering, so nothing but the page travels to Python. Which statement
depends on the order: nearest first walks outwards and stops at a page (`NEAREST_SQL`), cheapest
first orders the spots in the radius and tests them until a page is full (`CHEAPEST_SQL`), best
rated tests every spot in the radius (`SEARCH_SQL`); docs/search.md has their plans. Each tests:

- distance: `ST_DWithin` on the public, rounded location (`public_location`, GiST index
  `ix_spots_public_location`), the point the public view shows, so that distances and the radius
  never locate a spot more precisely than that view; `distance_m` is rounded to 10 m;
- the spot's own rules (duration, lead time, horizon, granularity in the spot's local time);
- open for the whole interval: one `spot_open_ranges` row contains it (the ranges are merged, so
  containment in one row is containment in their union); since they are also disjoint, only the
  last range starting at or before the interval can, and the primary key's btree finds it;
- no blocking booking within the spot's buffer: an overlap test on the expression of the bookings'
  exclusion constraint, whose GiST index answers it;
- the price of exactly that interval, computed like `booking.pricing.price`: each local calendar
  day rounded up to a cent and capped at the daily cap;
- the rating (`app.reviews.queries.SPOT_RATING_SQL`, from the reviews shown at `now`): of the page's
  spots only, except for `sort=rating`, which needs it of every candidate to order them.

The result must equal what `booking` says spot by spot; `tests/test_search.py` checks that on
random data.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from types import SimpleNamespace
from typing import Any, Literal
from zoneinfo import ZoneInfo

import asyncpg
from sqlalchemy import BigInteger, DateTime, Float, Integer, TextClause, bindparam, text
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.dialects.postgresql.asyncpg import dialect as asyncpg_dialect
from sqlalchemy.ext.asyncio import AsyncSession

from app.bookings.errors import InvalidInterval, refusal_members
from app.errors import ValidationProblem
from app.reviews.queries import SPOT_RATING_SQL
from app.spots.models import Spot
from booking import BookingPolicy
from booking.sql import active, still_blocks

Sort = Literal["distance", "price", "rating"]
MAX_RADIUS_M = 10_000
# Rules no spot's are looser than (5-minute grid, 30 days at most, a year ahead at most). On the
# grid in UTC is on the grid in every time zone, as every offset in use is whole quarter hours.
LOOSEST = BookingPolicy.loosest(ZoneInfo("UTC"))

_ASYNCPG = asyncpg_dialect()  # type: ignore[no-untyped-call]
_SPOT_COLUMNS = [c.name for c in Spot.__table__.columns if c.name not in ("location", "public_location")]  # type: ignore[attr-defined]

# The point searched from, the spot's own rules, the tests of being free, the distance and the
# price, shared by the statements below. `{s}` is the alias of the spot's row.
_POINT = "st_setsrid(st_makepoint(:lon, :lat), 4326)::geography"
_RULES = """{s}.deleted_at is null and {s}.unlisted_at is null
      {filters}
      and :minutes between {s}.min_duration_min and {s}.max_duration_min
      and :start >= :now + make_interval(mins => {s}.lead_time_min)
      and :end <= :now + make_interval(hours => {s}.horizon_days * 24)
      and mod(extract(minute from (:start at time zone {s}.timezone))::int, {s}.granularity_min) = 0
      and mod(extract(minute from (:end at time zone {s}.timezone))::int, {s}.granularity_min) = 0"""
_FREE = """(
          -- The spot's ranges are disjoint: only the last one starting at or before :start can
          -- contain the interval. A backward step on the primary key's btree finds it.
          select o.during from spot_open_ranges o
          where o.spot_id = {s}.id and o.during <= tstzrange(:start, null, '[)')
          order by o.during desc
          limit 1
      ) @> tstzrange(:start, :end, '[)')
      and not exists (
          select 1 from bookings b
          where b.spot_id = {s}.id
            -- The exclusion constraint's predicate, word for word, so its GiST index answers this.
            and {active}
            and tstzrange(b.start_at, b.end_at, '[)') && tstzrange(
                :start - make_interval(mins => {s}.buffer_min), :end + make_interval(mins => {s}.buffer_min), '[)')
            and {still_blocks}
      )"""
_DISTANCE = "round(st_distance({s}.public_location, " + _POINT + ") / 10) * 10"
# The price: per local day, rounded up to the granularity and capped. An interval within one local
# day (nearly every search) is that day's formula alone, without the series of days; `case` only
# evaluates the branch it takes.
_PRICE = """(case
               when (:start at time zone {s}.timezone)::date
                    = ((:end at time zone {s}.timezone) - interval '1 microsecond')::date
               then least(coalesce({s}.daily_cap_cents, 2147483647),
                          ({s}.hourly_cents::bigint
                           * ((extract(epoch from :end - :start)::bigint + {s}.granularity_min * 60 - 1)
                              / ({s}.granularity_min * 60))
                           * {s}.granularity_min + 59) / 60)::bigint
               else (
               select sum(least(coalesce({s}.daily_cap_cents, 2147483647),
                                ({s}.hourly_cents::bigint * day.units * {s}.granularity_min + 59) / 60))::bigint
               from (
                   select (extract(epoch from least(:end, d.day_end) - greatest(:start, d.day_start))::bigint
                           + {s}.granularity_min * 60 - 1) / ({s}.granularity_min * 60) as units
                   from generate_series((:start at time zone {s}.timezone)::date,
                                        ((:end at time zone {s}.timezone) - interval '1 microsecond')::date,
                                        interval '1 day') as g(day),
                        lateral (select (g.day::date::timestamp at time zone {s}.timezone) as day_start,
                                        ((g.day::date + 1)::timestamp at time zone {s}.timezone) as day_end) d
                   where least(:end, d.day_end) > greatest(:start, d.day_start)
               ) day
           )
           end)"""

# What the spots within the radius carry to the free test and the price (rating and nearest first).
_NEAR_COLUMNS = (
    "s.id, s.public_location, s.timezone, s.buffer_min, s.granularity_min, s.hourly_cents, s.daily_cap_cents"
)

# Every spot within the radius, tested one by one: what ordering by rating needs (a lookup per spot).
SEARCH_SQL = """
with near as materialized (
    -- Distance and the spot's own rules first: cheap, and it keeps the index probes below to the
    -- spots that really lie within the radius. Only what the later steps need is carried along.
    select {near_columns}
    from spots s
    where st_dwithin(s.public_location, {point}, :radius)
      and {rules_s}
), candidates as materialized (
    select s.*
    from near s
    where {free_s}
), priced as (
    select c.*, {distance_c} as distance_m, {price_c} as total_cents
           {rating_rank}
    from candidates c
    {rating_join}
)
select {columns}, page.distance_m, page.total_cents, rt.average as rating_average, rt.count as rating_count
from (
    select {page_columns}
    from priced
    where true {price_filter} {after}
    order by {order}
    limit :limit
) page
join spots s on s.id = page.id
cross join lateral ({page_rating}) rt
order by {order_page}
"""

# Cheapest first. A spot's price and distance need nothing but its own row, so every spot within the
# radius that passes its rules is ordered by (price, distance, id) first, and the costly tests of
# being free (an index probe into the open ranges, one into the bookings) run in that order only
# until the page is full, instead of for every spot. The tests sit in the select list, evaluated
# row by row above the sort, and `OFFSET 0` keeps them from being pushed down below it.
CHEAPEST_SQL = """
with near as materialized (
    select s.id, s.buffer_min, {distance_s} as distance_m, {price_s} as total_cents
    from spots s
    where st_dwithin(s.public_location, {point}, :radius)
      and {rules_s}
), page as (
    select x.id, x.distance_m, x.total_cents
    from (
        select n.id, n.distance_m, n.total_cents, {free_n} as free
        from near n
        where true {price_filter} {after}
        order by {order}
        offset 0
    ) x
    where x.free
    limit :limit
)
select {columns}, page.distance_m, page.total_cents, rt.average as rating_average, rt.count as rating_count
from page
join spots s on s.id = page.id
cross join lateral ({page_rating}) rt
order by {order_page}
"""

# Nearest first: the page is the `:limit` smallest (distance, id) among the spots that qualify.
#
# `first` walks outwards from the point in the GiST index's nearest-first order (`<->`, the
# distance on the sphere) and tests each spot only until `:limit` qualify: near the point of a busy
# map a few dozen spots instead of every spot within the radius. If fewer qualify, it has walked
# the whole radius and holds them all, and is the answer; the second step is skipped (its one-time
# filter). Otherwise the page is among those `:limit` spots and the ones `first` has not looked at
# that lie no farther than the farthest of them: any `:limit` spots that qualify bound the page's
# distances. `first` has looked at every spot nearer on the sphere than the last it took, so only
# the thin ring from there to that bound (rounded distances are on the spheroid, hence the ring:
# 0.3 % of the distance here, plus the rounding to 10 m and a metre to spare) is tested again.
NEAREST_SQL = """
with first as materialized (
    select y.id, y.distance_m, y.total_cents, y.sphere_m
    from (
        select x.id, {distance_x} as distance_m, {price_x} as total_cents, x.sphere_m
        from (
            -- The spot's rules and the tests of being free are in the select list, not in the
            -- where clause: the planner then plans this scan for the few rows the limit takes (the
            -- index's ordered scan), where filters whose selectivity it cannot guess would have it
            -- sort every spot in the radius first. They are evaluated left to right, and only as
            -- far as the first that fails.
            select s.id, s.public_location, s.timezone, s.granularity_min, s.hourly_cents, s.daily_cap_cents,
                   s.public_location <-> {point} as sphere_m,
                   st_dwithin(s.public_location, {point}, :radius) and {rules_s} and {free_s} as free
            from spots s
            -- What the index answers of `st_dwithin` (its support function adds the same): the
            -- radius' bounding box, whose selectivity the planner knows from the statistics.
            where s.public_location && _st_expand({point}, :radius)
            order by s.public_location <-> {point}
            offset 0
        ) x
        where x.free
    ) y
    where true {price_filter} {after}
    limit {first_limit}
), near as materialized (
    select {near_columns}
    from spots s
    where (select count(*) from first) = :limit
      and st_dwithin(s.public_location, {point}, least(:radius, (select max(distance_m) from first) + 6))
      and s.public_location <-> {point} >= (select max(sphere_m) from first)
      and {rules_s}
), candidates as materialized (
    select s.*
    from near s
    where {free_s}
), priced as (
    select c.id, {distance_c} as distance_m, {price_c} as total_cents
    from candidates c
), found as (
    -- `union`, not `union all`: a spot exactly as far as the last `first` took is in both.
    select id, distance_m, total_cents from priced where true {price_filter} {after}
    union
    select id, distance_m, total_cents from first
)
select {columns}, page.distance_m, page.total_cents, rt.average as rating_average, rt.count as rating_count
from (
    select {page_columns}
    from found
    order by {order}
    limit :limit
) page
join spots s on s.id = page.id
cross join lateral ({page_rating}) rt
order by {order_page}
"""

_ACTIVE = active("b.")
_STILL_BLOCKS = still_blocks(":now", "b.")
# Best rated first: the shown average, then how many ratings it is of, then the nearest. Average
# and count are negated so that the order is ascending in every key, as in the other sorts, and one
# row comparison continues it from a cursor; an unrated spot ranks as average 0 with 0 ratings,
# after every rated one (averages are at least 1).
_RATING_RANK = """,
           -coalesce(rt.average, 0) as average_rank, -rt.count as count_rank"""
_RATING_JOIN = "cross join lateral ({rating}) rt"
ORDER = {
    "distance": "distance_m, id",
    "price": "total_cents, distance_m, id",
    "rating": "average_rank, count_rank, distance_m, id",
}
AFTER = {
    "distance": "and (distance_m, id) > (:after_distance, :after_id)",
    "price": "and (total_cents, distance_m, id) > (:after_total, :after_distance, :after_id)",
    "rating": "and (average_rank, count_rank, distance_m, id)"
    " > (:after_average, :after_count, :after_distance, :after_id)",
}


@dataclass(frozen=True)
class SearchQuery:
    lat: float
    lon: float
    radius_m: float
    start: datetime
    end: datetime
    ev: bool = False
    covered: bool = False
    max_total_cents: int | None = None
    vehicle: tuple[int | None, int | None, int | None] | None = None  # length, width, height
    sort: Sort = "distance"
    limit: int = 20
    cursor: str | None = None


@dataclass(frozen=True)
class Hit:
    spot: Any  # a row with the attributes of a Spot
    distance_m: float
    total_cents: int
    rating_average: float | None
    rating_count: int


def _query_tag(query: SearchQuery) -> str:
    """A short hash of everything that decides which spots match and in which order (all but the
    page size), so that a cursor only continues the search it came from: its position means
    nothing in another one. Times count as instants, whatever offset they were written with."""
    normal = [
        query.lat,
        query.lon,
        query.radius_m,
        query.start.astimezone(UTC).isoformat(),
        query.end.astimezone(UTC).isoformat(),
        query.ev,
        query.covered,
        query.max_total_cents,
        list(query.vehicle) if query.vehicle is not None else None,
        query.sort,
    ]
    digest = hashlib.sha256(json.dumps(normal).encode()).digest()[:9]
    return base64.urlsafe_b64encode(digest).decode()


def _encode(query: SearchQuery, row: Any) -> str:
    position: list[Any]
    if query.sort == "distance":
        position = [row.distance_m, str(row.id)]
    elif query.sort == "price":
        position = [row.total_cents, row.distance_m, str(row.id)]
    else:
        # The ranks as the query computed them from the shown rating.
        position = [-(row.rating_average or 0.0), -row.rating_count, row.distance_m, str(row.id)]
    values = [_query_tag(query), *position]
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


def _decode(query: SearchQuery) -> dict[str, Any]:
    bad = ValidationProblem.field("cursor", "not a cursor of this search", "cursor_invalid", where="query")
    try:
        cursor = query.cursor or ""
        values = json.loads(base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()))
        if values[0] != _query_tag(query):
            raise ValidationProblem.field(
                "cursor",
                "this cursor belongs to a search with other parameters; start again without it",
                "cursor_mismatch",
                where="query",
            )
        if query.sort == "distance":
            position = {"after_distance": _distance(values[1]), "after_id": uuid.UUID(values[2])}
        elif query.sort == "price":
            position = {
                "after_total": _total(values[1]),
                "after_distance": _distance(values[2]),
                "after_id": uuid.UUID(values[3]),
            }
        else:
            position = {
                "after_average": _average_rank(values[1]),
                "after_count": _count_rank(values[2]),
                "after_distance": _distance(values[3]),
                "after_id": uuid.UUID(values[4]),
            }
    except (binascii.Error, ValueError, TypeError, IndexError, KeyError):
        raise bad from None
    return position


def _total(value: Any) -> int:
    # A cursor is client input: a number past PostgreSQL's bigint would be a 500, not a 422.
    if type(value) is not int or not 0 <= value < 2**63:
        raise ValueError("total out of range")
    return value


def _average_rank(value: Any) -> float:
    if type(value) not in (int, float) or not -5 <= value <= 0:
        raise ValueError("rating out of range")
    return float(value)


def _count_rank(value: Any) -> int:
    if type(value) is not int or not -(2**31) < value <= 0:
        raise ValueError("count out of range")
    return value


def _distance(value: Any) -> float:
    if type(value) not in (int, float) or not 0 <= value <= 1e8:  # NaN and infinities fail too
        raise ValueError("distance out of range")
    return float(value)


_TYPES: dict[str, Any] = {
    "lat": Float(),
    "lon": Float(),
    "radius": Float(),
    "start": DateTime(timezone=True),
    "end": DateTime(timezone=True),
    "now": DateTime(timezone=True),
    "minutes": Integer(),
    "limit": Integer(),
    "max_total": BigInteger(),
    "after_distance": Float(),
    "after_total": BigInteger(),
    "after_average": Float(),
    "after_count": Integer(),
    "after_id": PG_UUID(as_uuid=True),
    "vehicle_length": Integer(),
    "vehicle_width": Integer(),
    "vehicle_height": Integer(),
}


def _typed(sql: str, params: dict[str, Any]) -> TextClause:
    """The statement with typed parameters: asyncpg then sends them with explicit casts, and
    PostgreSQL need not guess the type of `:start` in `:start at time zone ...`."""
    return text(sql).bindparams(*(bindparam(name, type_=_TYPES[name]) for name in params))


def build(query: SearchQuery, now: datetime) -> tuple[str, dict[str, Any]]:
    """The SQL and its parameters. An interval no spot's rules could allow is refused as booking
    refuses it (422 `invalid_interval` with `reason` and `limit`), instead of an empty page the app
    cannot tell from "nothing free"."""
    refusal = LOOSEST.check_interval(query.start, query.end, now)
    if refusal is not None:
        raise InvalidInterval(refusal.describe("any spot"), extra=refusal_members(refusal))
    filters = []
    params: dict[str, Any] = {
        "lat": query.lat,
        "lon": query.lon,
        "radius": query.radius_m,
        "start": query.start,
        "end": query.end,
        "now": now,
        "minutes": int((query.end - query.start) / timedelta(minutes=1)),
        "limit": query.limit + 1,
    }
    if query.ev:
        filters.append("and {s}.ev_connector is not null")
    if query.covered:
        filters.append("and {s}.covered")
    if query.vehicle is not None:
        for name, size in zip(("length", "width", "height"), query.vehicle, strict=True):
            if size is not None:
                filters.append(f"and ({{s}}.max_{name}_cm is null or {{s}}.max_{name}_cm >= :vehicle_{name})")
                params[f"vehicle_{name}"] = size
    price_filter = ""
    if query.max_total_cents is not None:
        price_filter = "and total_cents <= :max_total"
        params["max_total"] = query.max_total_cents
    after = ""
    if query.cursor is not None:
        params.update(_decode(query))
        after = AFTER[query.sort]
    by_rating = query.sort == "rating"
    order_keys = [key.strip() for key in ORDER[query.sort].split(",")]

    def fragment(template: str, alias: str) -> str:
        return template.format(
            s=alias,
            filters="\n      ".join(f.format(s=alias) for f in filters),
            active=_ACTIVE,
            still_blocks=_STILL_BLOCKS,
        )

    template = {"distance": NEAREST_SQL, "price": CHEAPEST_SQL, "rating": SEARCH_SQL}[query.sort]
    sql = template.format(
        point=_POINT,
        rules_s=fragment(_RULES, "s"),
        free_s=fragment(_FREE, "s"),
        distance_x=fragment(_DISTANCE, "x"),
        distance_s=fragment(_DISTANCE, "s"),
        price_s=fragment(_PRICE, "s"),
        free_n=fragment(_FREE, "n"),
        price_x=fragment(_PRICE, "x"),
        distance_c=fragment(_DISTANCE, "c"),
        price_c=fragment(_PRICE, "c"),
        columns=", ".join(f"s.{c}" for c in _SPOT_COLUMNS),
        near_columns=_NEAR_COLUMNS,
        rating_rank=_RATING_RANK if by_rating else "",
        rating_join=_RATING_JOIN.format(rating=SPOT_RATING_SQL.format(spot_id="c.id", now=":now"))
        if by_rating
        else "",
        page_columns=", ".join(dict.fromkeys(["id", "distance_m", "total_cents", *order_keys])),
        page_rating=SPOT_RATING_SQL.format(spot_id="page.id", now=":now"),
        order_page=", ".join(f"page.{key}" for key in order_keys),
        price_filter=price_filter,
        after=after,
        order=ORDER[query.sort],
        # A literal, not a parameter: the planner plans the walk for this many rows only when it
        # knows the number (a parameter's limit is planned as a tenth of the rows).
        first_limit=int(query.limit) + 1,
    )
    return sql, params


@lru_cache(maxsize=256)
def _positional(sql: str, names: tuple[str, ...]) -> tuple[str, tuple[str, ...]]:
    """The statement as asyncpg takes it (`$1::TIMESTAMP WITH TIME ZONE` ...) and the order of its
    parameters. Compiled once per shape of search: parsing the named parameters out of the text
    each time cost more than half a millisecond."""
    compiled = _typed(sql, dict.fromkeys(names)).compile(dialect=_ASYNCPG)
    return compiled.string, tuple(compiled.positiontup or ())


async def search(session: AsyncSession, query: SearchQuery, now: datetime) -> tuple[list[Hit], str | None]:
    sql, params = build(query, now)
    statement, names = _positional(sql, tuple(params))
    # Sent on the session's connection, but straight through asyncpg: SQLAlchemy's execution and
    # row processing cost more than the query. Unless the request has read something before (a
    # vehicle), no transaction is open, and none is opened: one statement needs none, and a read
    # then takes one round trip instead of three (BEGIN, the query, COMMIT).
    connection = await session.connection()
    raw = (await connection.get_raw_connection()).driver_connection
    assert isinstance(raw, asyncpg.Connection)
    rows = await raw.fetch(statement, *(params[name] for name in names))
    # The rows carry every column the public view reads; building ORM objects from them would
    # cost more than the query (pydantic validation of each attribute). The view reads a spot by
    # attribute, some 45 of them: from a namespace, not from the Record itself, where each read is
    # a failed lookup before `__getattr__` (a page of 21 took 2.1 ms so, 0.8 ms converted first).
    spots = [SimpleNamespace(**row) for row in rows[: query.limit]]
    hits = [
        Hit(
            spot=spot,
            distance_m=spot.distance_m,
            total_cents=spot.total_cents,
            rating_average=spot.rating_average,
            rating_count=spot.rating_count,
        )
        for spot in spots
    ]
    next_cursor = _encode(query, spots[-1]) if len(rows) > query.limit else None
    return hits, next_cursor
