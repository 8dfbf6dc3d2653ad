"""`parkshare_event_horizon()` widens a running transaction's 32-bit xid to the 64-bit value
nearest the snapshot's xmax, instead of the nearest one below it; a webhook's deliveries are
listed by `(webhook_id, seq)`, newest first, instead of by creation time.

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
    # Deliveries made in one dispatch share their created_at: `seq` is the order they were made in.
    op.drop_index("ix_deliveries_webhook_id_created_at", table_name="deliveries")
    op.create_index("ix_deliveries_webhook_id_seq", "deliveries", ["webhook_id", "seq"])


def downgrade() -> None:
    op.drop_index("ix_deliveries_webhook_id_seq", table_name="deliveries")
    op.create_index("ix_deliveries_webhook_id_created_at", "deliveries", ["webhook_id", "created_at", "id"])
    op.execute(PREVIOUS)
