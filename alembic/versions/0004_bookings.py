"""Bookings with their exclusion constraint, booking events, idempotency keys."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0004"
down_revision: str | None = "0003"


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.LargeBinary(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_idempotency_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index("ix_idempotency_keys_expires_at", "idempotency_keys", ["expires_at"], unique=False)
    op.create_table(
        "bookings",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("spot_id", sa.UUID(), nullable=False),
        sa.Column("driver_id", sa.UUID(), nullable=False),
        sa.Column("vehicle_id", sa.UUID(), nullable=True),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("total_cents", sa.Integer(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("refund_cents", sa.Integer(), nullable=True),
        sa.Column("hold_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("request_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancel_reason", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        postgresql.ExcludeConstraint(
            (sa.column("spot_id"), "="),
            (sa.text("tstzrange(start_at, end_at, '[)')"), "&&"),
            where=sa.text("status in ('held', 'requested', 'confirmed')"),
            using="gist",
            name="ex_bookings_spot_id_during",
        ),
        sa.CheckConstraint(
            "status <> 'held' or hold_expires_at is not null", name=op.f("ck_bookings_held_has_deadline")
        ),
        sa.CheckConstraint(
            "status <> 'requested' or request_expires_at is not null",
            name=op.f("ck_bookings_requested_has_deadline"),
        ),
        sa.CheckConstraint(
            "status in ('held', 'requested', 'confirmed', 'declined', 'expired', 'cancelled', 'completed')",
            name=op.f("ck_bookings_status"),
        ),
        sa.CheckConstraint("end_at > start_at", name=op.f("ck_bookings_interval")),
        sa.CheckConstraint(
            "total_cents >= 0 and (refund_cents is null or refund_cents between 0 and total_cents)",
            name=op.f("ck_bookings_money"),
        ),
        sa.ForeignKeyConstraint(
            ["driver_id"], ["users.id"], name=op.f("fk_bookings_driver_id_users"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["spot_id"], ["spots.id"], name=op.f("fk_bookings_spot_id_spots"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["vehicle_id"], ["vehicles.id"], name=op.f("fk_bookings_vehicle_id_vehicles"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bookings")),
    )
    op.create_index(
        "ix_bookings_driver_id_start_at", "bookings", ["driver_id", "start_at", "id"], unique=False
    )
    op.create_index(
        "ix_bookings_end_at_confirmed",
        "bookings",
        ["end_at"],
        unique=False,
        postgresql_where=sa.text("status = 'confirmed'"),
    )
    op.create_index(
        "ix_bookings_hold_expires_at",
        "bookings",
        ["hold_expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'held'"),
    )
    op.create_index(
        "ix_bookings_request_expires_at",
        "bookings",
        ["request_expires_at"],
        unique=False,
        postgresql_where=sa.text("status = 'requested'"),
    )
    op.create_index("ix_bookings_spot_id_start_at", "bookings", ["spot_id", "start_at", "id"], unique=False)
    op.create_table(
        "booking_events",
        sa.Column("id", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("booking_id", sa.UUID(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("from_status", sa.String(length=16), nullable=True),
        sa.Column("to_status", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=8), nullable=False),
        sa.Column("by_user_id", sa.UUID(), nullable=True),
        sa.ForeignKeyConstraint(
            ["booking_id"],
            ["bookings.id"],
            name=op.f("fk_booking_events_booking_id_bookings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["by_user_id"], ["users.id"], name=op.f("fk_booking_events_by_user_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_events")),
    )
    op.create_index(
        "ix_booking_events_booking_id_at", "booking_events", ["booking_id", "at", "id"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_booking_events_booking_id_at", table_name="booking_events")
    op.drop_table("booking_events")
    op.drop_index("ix_bookings_spot_id_start_at", table_name="bookings")
    op.drop_index(
        "ix_bookings_request_expires_at",
        table_name="bookings",
        postgresql_where=sa.text("status = 'requested'"),
    )
    op.drop_index(
        "ix_bookings_hold_expires_at", table_name="bookings", postgresql_where=sa.text("status = 'held'")
    )
    op.drop_index(
        "ix_bookings_end_at_confirmed",
        table_name="bookings",
        postgresql_where=sa.text("status = 'confirmed'"),
    )
    op.drop_index("ix_bookings_driver_id_start_at", table_name="bookings")
    op.drop_table("bookings")
    op.drop_index("ix_idempotency_keys_expires_at", table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
