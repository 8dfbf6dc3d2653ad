"""`parkshare_spot_calendar`: a booking's spot locked and its calendar read in one round trip.

The lock and the read stay two statements inside the function: a VOLATILE function takes a new
snapshot for each statement it runs (READ COMMITTED), so the calendar sees every booking committed
by a transaction that held the lock before. One statement could not: its snapshot would predate
the wait for the lock. The spot's terms come back as JSON (`to_json`, which writes floats exactly,
unlike `jsonb`) on a first row of kind 'spot', whose `blocks` says whether the calendar follows:
only for an interval no longer than the spot's longest booking, which the caller checks anyway,
so a refused request reads no calendar of years."""

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"

FUNCTION = """
create function parkshare_spot_calendar(p_spot uuid, p_start timestamptz, p_end timestamptz, p_now timestamptz)
returns table (kind text, weekdays smallint[], start_minute smallint, end_minute smallint, valid_from date,
               valid_until date, lower timestamptz, upper timestamptz, blocks boolean, spot json)
language plpgsql volatile
as $fn$
declare
    terms json;
    buffer interval;
    readable boolean;
begin
    select to_json(t) into terms from (
        select id, owner_id, instant_book, timezone, hourly_cents, daily_cap_cents, currency, granularity_min,
               min_duration_min, max_duration_min, lead_time_min, horizon_days, buffer_min, cancellation_policy,
               max_length_cm, max_width_cm, max_height_cm, title, district, lat, lon, reveal_before_min
        from spots where id = p_spot and deleted_at is null and unlisted_at is null
        for no key update
    ) t;
    if terms is null then
        return;
    end if;
    readable := p_end > p_start and p_end - p_start <= make_interval(mins => (terms->>'max_duration_min')::int);
    return query select 'spot'::text, null::smallint[], null::smallint, null::smallint, null::date, null::date,
                        null::timestamptz, null::timestamptz, readable, terms;
    if not readable then
        return;
    end if;
    buffer := make_interval(mins => (terms->>'buffer_min')::int);
    return query
        select 'rule'::text, r.weekdays, r.start_minute, r.end_minute, r.valid_from, r.valid_until,
               null::timestamptz, null::timestamptz, null::boolean, null::json
        from availability_rules r where r.spot_id = p_spot
        union all
        select 'window', null, null, null, null, null, lower(w.during), upper(w.during), null, null
        from availability_windows w where w.spot_id = p_spot and w.during && tstzrange(p_start, p_end, '[)')
        union all
        select 'blackout', null, null, null, null, null, lower(k.during), upper(k.during), null, null
        from availability_blackouts k where k.spot_id = p_spot and k.during && tstzrange(p_start, p_end, '[)')
        union all
        select 'booking', null, null, null, null, null, b.start_at, b.end_at,
               (b.status in ('confirmed', 'overstayed')
                or (b.status = 'held' and b.hold_expires_at > p_now)
                or (b.status = 'requested' and b.request_expires_at > p_now)),
               null
        from bookings b
        where b.spot_id = p_spot and b.status in ('held', 'requested', 'confirmed', 'overstayed')
          and b.start_at < p_end + buffer and b.end_at > p_start - buffer;
end
$fn$
"""


def upgrade() -> None:
    op.execute(FUNCTION)


def downgrade() -> None:
    op.execute("drop function parkshare_spot_calendar(uuid, timestamptz, timestamptz, timestamptz)")
