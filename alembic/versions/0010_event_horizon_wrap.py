"""`parkshare_event_horizon()` widens a running transaction's 32-bit xid to the 64-bit value
nearest the snapshot's xmax, instead of the nearest one below it.

The snapshot's xmax is one past the latest *completed* transaction, so a transaction that is still
running may have an xid at or above it: the caller's own (the dispatcher's, which has locked its
cursor row), or one that is committing at that moment. 0009's arithmetic then moved that xid back
by 2^32 and answered a horizon below every event: the reader saw nothing new until its next read
(tests/test_webhook_delivery.py showed it as deliveries that came a poll late)."""

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"

# Running xids lie within 2^31 of xmax, so the nearest 64-bit value is the right one.
HORIZON = """
create or replace function parkshare_event_horizon() returns bigint
language sql volatile as $$
    select pg_stat_clear_snapshot();
    select coalesce(
        (select min(n + ((a.backend_xid::text::bigint - n % 4294967296) % 4294967296
                         + 4294967296 + 2147483648) % 4294967296 - 2147483648)
         from pg_stat_activity a
         where a.datname = current_database() and a.backend_xid is not null),
        n)
    from (select pg_snapshot_xmax(pg_current_snapshot())::text::bigint as n) as next_xid;
$$
"""

PREVIOUS = """
create or replace function parkshare_event_horizon() returns bigint
language sql volatile as $$
    select pg_stat_clear_snapshot();
    select coalesce(
        (select min(n - ((n % 4294967296) - a.backend_xid::text::bigint + 4294967296) % 4294967296)
         from pg_stat_activity a
         where a.datname = current_database() and a.backend_xid is not null),
        n)
    from (select pg_snapshot_xmax(pg_current_snapshot())::text::bigint as n) as next_xid;
$$
"""


def upgrade() -> None:
    op.execute(HORIZON)


def downgrade() -> None:
    op.execute(PREVIOUS)
