"""At the spot: check-in and check-out, overstays and no-shows.

The statuses `overstayed` (active: the car is still there) and `no_show` join `booking_status`.
PostgreSQL refuses to use an enum value added in the same transaction, so the values are added in
an autocommit block of their own first; `ADD VALUE IF NOT EXISTS` makes that step safe to repeat
if the rest fails. The exclusion constraint's predicate names the active statuses
(`booking.sql.ACTIVE_SQL`), so it is made again with `overstayed`.

Spots gain their rules at the spot; bookings the check-in and check-out times, the overstay fee
(an integer column: earnings sum it), and when the driver was told that the spot is occupied.
Self-contained: it touches only what it adds.
"""

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"

OLD_ACTIVE = "status in ('held', 'requested', 'confirmed')"
NEW_ACTIVE = "status in ('held', 'requested', 'confirmed', 'overstayed')"
OLD_STATUSES = ("held", "requested", "confirmed", "declined", "expired", "cancelled", "completed")
STATUS_COLUMNS = (("bookings", "status"), ("booking_events", "from_status"), ("booking_events", "to_status"))
# Every index or constraint that names a status: made again when the enum is replaced on the way down.
PARTIAL_INDEXES = (
    ("ix_bookings_hold_expires_at", "hold_expires_at", "status = 'held'"),
    ("ix_bookings_request_expires_at", "request_expires_at", "status = 'requested'"),
    ("ix_bookings_end_at_confirmed", "end_at", "status = 'confirmed'"),
    ("ix_bookings_start_at_confirmed", "start_at", "status = 'confirmed'"),
)


def _exclusion(active: str) -> None:
    op.execute("alter table bookings drop constraint ex_bookings_spot_id_during")
    op.execute(
        "alter table bookings add constraint ex_bookings_spot_id_during exclude using gist"
        f" (spot_id with =, tstzrange(start_at, end_at, '[)') with &&) where ({active})"
    )


def upgrade() -> None:
    with op.get_context().autocommit_block():
        op.execute("alter type booking_status add value if not exists 'overstayed'")
        op.execute("alter type booking_status add value if not exists 'no_show'")
    _exclusion(NEW_ACTIVE)

    op.add_column("spots", sa.Column("grace_min", sa.Integer(), server_default=sa.text("10"), nullable=False))
    op.add_column("spots", sa.Column("overstay_hourly_cents", sa.Integer(), nullable=True))
    op.add_column(
        "spots", sa.Column("check_in_required", sa.Boolean(), server_default=sa.text("false"), nullable=False)
    )
    op.add_column(
        "spots", sa.Column("no_show_after_min", sa.Integer(), server_default=sa.text("30"), nullable=False)
    )
    op.create_check_constraint(
        op.f("ck_spots_at_the_spot"),
        "spots",
        "grace_min between 0 and 120 and no_show_after_min between 5 and 1440"
        " and (overstay_hourly_cents is null or overstay_hourly_cents > 0)",
    )

    op.add_column("bookings", sa.Column("checked_in_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("bookings", sa.Column("checked_out_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "bookings", sa.Column("overstay_cents", sa.Integer(), server_default=sa.text("0"), nullable=False)
    )
    op.add_column("bookings", sa.Column("spot_occupied_at", sa.DateTime(timezone=True), nullable=True))
    # The spot's at-the-spot rules as they were when the booking was confirmed.
    op.add_column("bookings", sa.Column("grace_min", sa.SmallInteger(), nullable=True))
    op.add_column("bookings", sa.Column("overstay_hourly_cents", sa.Integer(), nullable=True))
    op.add_column("bookings", sa.Column("check_in_required", sa.Boolean(), nullable=True))
    op.add_column("bookings", sa.Column("no_show_after_min", sa.SmallInteger(), nullable=True))
    op.add_column("bookings", sa.Column("cancellation_policy", sa.String(length=16), nullable=True))
    op.create_check_constraint(op.f("ck_bookings_overstay_cents"), "bookings", "overstay_cents >= 0")
    op.create_index(
        op.f("ix_bookings_spot_id_end_at_overstayed"),
        "bookings",
        ["spot_id", "end_at"],
        postgresql_where=sa.text("status = 'overstayed'"),
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_bookings_spot_id_end_at_overstayed"), table_name="bookings")
    op.drop_constraint(op.f("ck_bookings_overstay_cents"), "bookings", type_="check")
    for column in (
        "cancellation_policy",
        "no_show_after_min",
        "check_in_required",
        "overstay_hourly_cents",
        "grace_min",
        "spot_occupied_at",
        "overstay_cents",
        "checked_out_at",
        "checked_in_at",
    ):
        op.drop_column("bookings", column)
    op.drop_constraint(op.f("ck_spots_at_the_spot"), "spots", type_="check")
    for column in ("no_show_after_min", "check_in_required", "overstay_hourly_cents", "grace_min"):
        op.drop_column("spots", column)

    # PostgreSQL cannot drop an enum value: the enum is replaced by one without them, after the
    # rows that use them are given the nearest old status (an overstay is over, a no-show was
    # charged like a late cancellation).
    op.execute("update bookings set status = 'completed' where status = 'overstayed'")
    op.execute("update bookings set status = 'cancelled' where status = 'no_show'")
    for old, new in (("overstayed", "completed"), ("no_show", "cancelled")):
        op.execute(f"update booking_events set to_status = '{new}' where to_status = '{old}'")  # noqa: S608
        op.execute(f"update booking_events set from_status = '{new}' where from_status = '{old}'")  # noqa: S608
    op.execute("alter table bookings drop constraint ex_bookings_spot_id_during")
    op.execute("alter table bookings drop constraint ck_bookings_held_has_deadline")
    op.execute("alter table bookings drop constraint ck_bookings_requested_has_deadline")
    for name, _, _ in PARTIAL_INDEXES:
        op.execute(f"drop index {name}")
    op.execute("alter type booking_status rename to booking_status_0013")
    labels = ", ".join(f"'{s}'" for s in OLD_STATUSES)
    op.execute(f"create type booking_status as enum ({labels})")
    for table, column in STATUS_COLUMNS:
        op.execute(
            f"alter table {table} alter column {column} type booking_status"
            f" using {column}::text::booking_status"
        )
    op.execute("drop type booking_status_0013")
    op.execute(
        "alter table bookings add constraint ex_bookings_spot_id_during exclude using gist"
        f" (spot_id with =, tstzrange(start_at, end_at, '[)') with &&) where ({OLD_ACTIVE})"
    )
    op.execute(
        "alter table bookings add constraint ck_bookings_held_has_deadline"
        " check (status <> 'held' or hold_expires_at is not null)"
    )
    op.execute(
        "alter table bookings add constraint ck_bookings_requested_has_deadline"
        " check (status <> 'requested' or request_expires_at is not null)"
    )
    for name, column, where in PARTIAL_INDEXES:
        op.execute(f"create index {name} on bookings ({column}) where {where}")
