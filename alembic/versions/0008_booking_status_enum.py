"""Booking statuses as the PostgreSQL enum `booking_status` instead of strings with a check.

`bookings.status`, `booking_events.from_status` and `booking_events.to_status` change type. The
exclusion constraint, the deadline checks and the sweeper's partial indexes mention the status, so
they are dropped first and made again on the enum: rebuilt by PostgreSQL on their own, their
predicates would compare the status as text, which no query repeats, and the planner could no
longer use the partial indexes (search relies on the exclusion constraint's). The enum refuses
unknown values by itself, so `ck_bookings_status` goes.
"""

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"

STATUSES = ("held", "requested", "confirmed", "declined", "expired", "cancelled", "completed")
ACTIVE = "status in ('held', 'requested', 'confirmed')"
PARTIAL_INDEXES = (
    ("ix_bookings_hold_expires_at", "hold_expires_at", "status = 'held'"),
    ("ix_bookings_request_expires_at", "request_expires_at", "status = 'requested'"),
    ("ix_bookings_end_at_confirmed", "end_at", "status = 'confirmed'"),
)
COLUMNS = (("bookings", "status"), ("booking_events", "from_status"), ("booking_events", "to_status"))


def _drop_what_mentions_status() -> None:
    op.execute("alter table bookings drop constraint ex_bookings_spot_id_during")
    op.execute("alter table bookings drop constraint ck_bookings_held_has_deadline")
    op.execute("alter table bookings drop constraint ck_bookings_requested_has_deadline")
    for name, _, _ in PARTIAL_INDEXES:
        op.execute(f"drop index {name}")


def _create_what_mentions_status() -> None:
    op.execute(
        "alter table bookings add constraint ex_bookings_spot_id_during exclude using gist"
        f" (spot_id with =, tstzrange(start_at, end_at, '[)') with &&) where ({ACTIVE})"
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


def upgrade() -> None:
    _drop_what_mentions_status()
    op.execute("alter table bookings drop constraint ck_bookings_status")
    labels = ", ".join(f"'{s}'" for s in STATUSES)
    op.execute(f"create type booking_status as enum ({labels})")
    for table, column in COLUMNS:
        op.execute(
            f"alter table {table} alter column {column} type booking_status using {column}::booking_status"
        )
    _create_what_mentions_status()


def downgrade() -> None:
    _drop_what_mentions_status()
    for table, column in COLUMNS:
        op.execute(f"alter table {table} alter column {column} type varchar(16) using {column}::text")
    op.execute("drop type booking_status")
    labels = ", ".join(f"'{s}'" for s in STATUSES)
    op.execute(f"alter table bookings add constraint ck_bookings_status check (status in ({labels}))")
    _create_what_mentions_status()
