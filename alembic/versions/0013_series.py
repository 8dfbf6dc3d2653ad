"""Commuter series: `booking_series`, and each occurrence's booking pointing to its series."""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013"
down_revision: str | None = "0012"


def upgrade() -> None:
    op.create_table(
        "booking_series",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("spot_id", sa.UUID(), nullable=False),
        sa.Column("driver_id", sa.UUID(), nullable=False),
        sa.Column("vehicle_id", sa.UUID(), nullable=True),
        sa.Column("weekdays", postgresql.ARRAY(sa.SmallInteger()), nullable=False),
        sa.Column("start_minute", sa.Integer(), nullable=False),
        sa.Column("end_minute", sa.Integer(), nullable=False),
        sa.Column("from_date", sa.Date(), nullable=False),
        sa.Column("until_date", sa.Date(), nullable=False),
        sa.Column("on_conflict", sa.String(length=4), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("skipped", postgresql.JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "weekdays <@ array[0,1,2,3,4,5,6]::smallint[] and cardinality(weekdays) > 0",
            name=op.f("ck_booking_series_weekdays"),
        ),
        sa.CheckConstraint(
            "start_minute between 0 and 1439 and end_minute between 1 and 1440",
            name=op.f("ck_booking_series_times"),
        ),
        sa.CheckConstraint("until_date >= from_date", name=op.f("ck_booking_series_dates")),
        sa.CheckConstraint("on_conflict in ('fail', 'skip')", name=op.f("ck_booking_series_on_conflict")),
        sa.ForeignKeyConstraint(
            ["spot_id"], ["spots.id"], name=op.f("fk_booking_series_spot_id_spots"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["driver_id"], ["users.id"], name=op.f("fk_booking_series_driver_id_users"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["vehicle_id"],
            ["vehicles.id"],
            name=op.f("fk_booking_series_vehicle_id_vehicles"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_booking_series")),
    )
    op.create_index(op.f("ix_booking_series_spot_id"), "booking_series", ["spot_id"])
    op.create_index(op.f("ix_booking_series_driver_id"), "booking_series", ["driver_id"])
    op.add_column("bookings", sa.Column("series_id", sa.UUID(), nullable=True))
    op.create_foreign_key(
        op.f("fk_bookings_series_id_booking_series"),
        "bookings",
        "booking_series",
        ["series_id"],
        ["id"],
        ondelete="RESTRICT",
    )
    op.create_index(
        "ix_bookings_series_id_start_at",
        "bookings",
        ["series_id", "start_at"],
        postgresql_where=sa.text("series_id is not null"),
    )


def downgrade() -> None:
    op.drop_index("ix_bookings_series_id_start_at", table_name="bookings")
    op.drop_constraint(op.f("fk_bookings_series_id_booking_series"), "bookings", type_="foreignkey")
    op.drop_column("bookings", "series_id")
    op.drop_table("booking_series")
