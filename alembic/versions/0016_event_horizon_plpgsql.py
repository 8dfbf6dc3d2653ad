"""`parkshare_event_horizon()` in PL/pgSQL, with the same body as 0009's.

Every read of the outbox (each process's hub, the delivery loop) calls it first. As a LANGUAGE SQL
function of two statements it is planned again at every call (up to PostgreSQL 17), and planning
its query on `pg_stat_activity` (a view of two joins over a set-returning function) took about
0.9 ms of a backend's CPU of the 1.1 ms the call cost. PL/pgSQL keeps the plan for the session:
0.22 ms.
The answer is the same (docs/decisions/0007)."""

from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"

# The smaller of the snapshot's xmax and the oldest xid an open client transaction of this
# database holds, each 32-bit xid of pg_stat_activity widened to the 64-bit xid nearest to xmax
# (migration 0009 says why). The stats snapshot is cleared first, as a caller inside a transaction
# would otherwise see the backends as they were at its first look.
LEAST = """least(
        n,
        (select min(n + (a.backend_xid::text::bigint - n % 4294967296 + 6442450944) % 4294967296
                    - 2147483648)
         from pg_stat_activity a
         where a.datname = current_database() and a.backend_type = 'client backend'
           and a.backend_xid is not null))"""
NEXT_XID = "from (select pg_snapshot_xmax(pg_current_snapshot())::text::bigint as n) as next_xid"

PLPGSQL = f"""
create or replace function parkshare_event_horizon() returns bigint
language plpgsql volatile as $$
declare
    horizon bigint;
begin
    perform pg_stat_clear_snapshot();
    select {LEAST}
    into horizon
    {NEXT_XID};
    return horizon;
end;
$$
"""

# 0009's definition, for a downgrade.
SQL = f"""
create or replace function parkshare_event_horizon() returns bigint
language sql volatile as $$
    select pg_stat_clear_snapshot();
    select {LEAST}
    {NEXT_XID};
$$
"""


def upgrade() -> None:
    op.execute(PLPGSQL)


def downgrade() -> None:
    op.execute(SQL)
