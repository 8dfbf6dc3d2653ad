"""The outbox (events) and what reads it: the dispatcher's cursor, webhooks, push subscriptions,
deliveries, calendar feed tokens; the reminder marks on bookings; `parkshare_event_horizon()`."""

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009"
down_revision: str | None = "0008"

TXID = sa.text("(pg_current_xact_id()::text::bigint)")

# The transaction id below which every transaction of this database that could write an event has
# ended: events with a smaller `txid` are final, and reading in (txid, seq) order up to it never
# skips one that commits later (docs/decisions/0007). Transactions of other databases on the same
# server do not hold it back (the snapshot's own xmin would), nor do autovacuum and other
# background processes, which write no events (an ANALYZE holds a transaction id for seconds).
# It is the smaller of the snapshot's xmax and the oldest xid an open client transaction of this
# database holds. pg_stat_activity shows 32-bit xids: each is widened to the 64-bit xid nearest to
# xmax, on either side, because a transaction can hold an xid at or above xmax (xmax is the latest
# completed xid + 1, not the next one to be assigned: with two writers open, the newer one's xid is
# past it). Call it in a statement of its own and read the events in a later one, whose snapshot
# then sees every transaction below it ended.
HORIZON = """
create function parkshare_event_horizon() returns bigint
language sql volatile as $$
    select pg_stat_clear_snapshot();
    select least(
        n,
        (select min(n + (a.backend_xid::text::bigint - n % 4294967296 + 6442450944) % 4294967296
                    - 2147483648)
         from pg_stat_activity a
         where a.datname = current_database() and a.backend_type = 'client backend'
           and a.backend_xid is not null))
    from (select pg_snapshot_xmax(pg_current_snapshot())::text::bigint as n) as next_xid;
$$
"""


def _uuid_fk(name: str, table: str, target: str, *, nullable: bool, ondelete: str) -> list[Any]:
    return [
        sa.Column(name, sa.UUID(), nullable=nullable),
        sa.ForeignKeyConstraint(
            [name], [f"{target}.id"], name=op.f(f"fk_{table}_{name}_{target}"), ondelete=ondelete
        ),
    ]


def _timestamps() -> list[sa.Column]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def upgrade() -> None:
    op.add_column("bookings", sa.Column("starts_soon_for", sa.DateTime(timezone=True), nullable=True))
    op.add_column("bookings", sa.Column("ends_soon_for", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_bookings_start_at_confirmed",
        "bookings",
        ["start_at"],
        postgresql_where=sa.text("status = 'confirmed'"),
    )
    op.create_table(
        "webhooks",
        sa.Column("id", sa.UUID(), nullable=False),
        *_uuid_fk("user_id", "webhooks", "users", nullable=False, ondelete="CASCADE"),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("events", postgresql.ARRAY(sa.String(length=40)), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("previous_secret", sa.String(length=100), nullable=True),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
    )
    op.create_index("ix_webhooks_user_id_created_at", "webhooks", ["user_id", "created_at"])
    op.create_table(
        "events",
        sa.Column("seq", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("txid", sa.BigInteger(), server_default=TXID, nullable=False),
        sa.Column("type", sa.String(length=40), nullable=False),
        sa.Column("version", sa.SmallInteger(), server_default=sa.text("1"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        *_uuid_fk("booking_id", "events", "bookings", nullable=True, ondelete="CASCADE"),
        *_uuid_fk("driver_id", "events", "users", nullable=True, ondelete="SET NULL"),
        *_uuid_fk("owner_id", "events", "users", nullable=True, ondelete="SET NULL"),
        *_uuid_fk("webhook_id", "events", "webhooks", nullable=True, ondelete="CASCADE"),
        sa.Column("data", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("owner_data", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_events")),
        sa.UniqueConstraint("id", name=op.f("uq_events_id")),
    )
    op.create_index("ix_events_txid_seq", "events", ["txid", "seq"])
    op.create_index("ix_events_driver_id_txid_seq", "events", ["driver_id", "txid", "seq"])
    op.create_index("ix_events_owner_id_txid_seq", "events", ["owner_id", "txid", "seq"])
    op.create_index("ix_events_created_at", "events", ["created_at"])
    op.create_index("ix_events_booking_id_seq", "events", ["booking_id", "seq"])
    op.create_table(
        "event_cursors",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("txid", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_event_cursors")),
    )
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.UUID(), nullable=False),
        *_uuid_fk("user_id", "push_subscriptions", "users", nullable=False, ondelete="CASCADE"),
        sa.Column("endpoint", sa.String(length=2000), nullable=False),
        sa.Column("p256dh", sa.String(length=200), nullable=False),
        sa.Column("auth", sa.String(length=100), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_subscriptions")),
        sa.UniqueConstraint("endpoint", name=op.f("uq_push_subscriptions_endpoint")),
    )
    op.create_index("ix_push_subscriptions_user_id", "push_subscriptions", ["user_id"])
    op.create_table(
        "deliveries",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("seq", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        *_uuid_fk("webhook_id", "deliveries", "webhooks", nullable=True, ondelete="CASCADE"),
        *_uuid_fk(
            "push_subscription_id", "deliveries", "push_subscriptions", nullable=True, ondelete="CASCADE"
        ),
        sa.Column("order_key", sa.UUID(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column(
            "attempts",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'"),
            nullable=False,
        ),
        sa.Column("attempt_count", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        *_timestamps(),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["event_seq"], ["events.seq"], name=op.f("fk_deliveries_event_seq_events"), ondelete="CASCADE"
        ),
        sa.CheckConstraint(
            "(webhook_id is null) <> (push_subscription_id is null)", name=op.f("ck_deliveries_one_target")
        ),
        sa.CheckConstraint("status in ('pending', 'succeeded', 'failed')", name=op.f("ck_deliveries_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deliveries")),
        sa.UniqueConstraint("seq", name=op.f("uq_deliveries_seq")),
    )
    op.create_index(
        "ix_deliveries_next_attempt_at",
        "deliveries",
        ["next_attempt_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_deliveries_webhook_id_order_key_seq",
        "deliveries",
        ["webhook_id", "order_key", "seq"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "ix_deliveries_push_subscription_id_order_key_seq",
        "deliveries",
        ["push_subscription_id", "order_key", "seq"],
        postgresql_where=sa.text("status = 'pending'"),
    )
    # Deliveries made in one dispatch share their created_at: `seq` is the order they were made in.
    op.create_index("ix_deliveries_webhook_id_seq", "deliveries", ["webhook_id", "seq"])
    op.create_index("ix_deliveries_event_seq", "deliveries", ["event_seq"])
    op.create_table(
        "calendar_tokens",
        sa.Column("id", sa.UUID(), nullable=False),
        *_uuid_fk("user_id", "calendar_tokens", "users", nullable=False, ondelete="CASCADE"),
        *_uuid_fk("spot_id", "calendar_tokens", "spots", nullable=True, ondelete="CASCADE"),
        sa.Column("token_hash", sa.LargeBinary(), nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_calendar_tokens_token_hash")),
    )
    op.create_index(
        "uq_calendar_tokens_spot_id",
        "calendar_tokens",
        ["spot_id"],
        unique=True,
        postgresql_where=sa.text("spot_id is not null"),
    )
    op.create_index(
        "uq_calendar_tokens_user_id",
        "calendar_tokens",
        ["user_id"],
        unique=True,
        postgresql_where=sa.text("spot_id is null"),
    )
    op.execute(HORIZON)


def downgrade() -> None:
    op.execute("drop function parkshare_event_horizon()")
    op.drop_table("calendar_tokens")
    op.drop_table("deliveries")
    op.drop_table("push_subscriptions")
    op.drop_table("event_cursors")
    op.drop_table("events")
    op.drop_table("webhooks")
    op.drop_index("ix_bookings_start_at_confirmed", table_name="bookings")
    op.drop_column("bookings", "ends_soon_for")
    op.drop_column("bookings", "starts_soon_for")
