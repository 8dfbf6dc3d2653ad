"""Spots, availability rules, one-off windows, blackouts and the expanded open ranges."""

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"


def upgrade() -> None:
    op.create_table(
        "spots",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=False),
        sa.Column("title", sa.String(length=120), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("street", sa.String(length=120), nullable=False),
        sa.Column("house_number", sa.String(length=16), nullable=False),
        sa.Column("postal_code", sa.String(length=10), nullable=False),
        sa.Column("city", sa.String(length=80), nullable=False),
        sa.Column("district", sa.String(length=80), nullable=True),
        sa.Column("lat", sa.Float(precision=53), nullable=False),
        sa.Column("lon", sa.Float(precision=53), nullable=False),
        sa.Column(
            "location",
            geoalchemy2.types.Geography(geometry_type="POINT", srid=4326, spatial_index=False),
            sa.Computed("(st_setsrid(st_makepoint(lon, lat), 4326))::geography", persisted=True),
            nullable=False,
        ),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("covered", sa.Boolean(), nullable=False),
        sa.Column("ev_connector", sa.String(length=16), nullable=True),
        sa.Column("ev_power_kw", sa.Float(), nullable=True),
        sa.Column("wheelchair_accessible", sa.Boolean(), nullable=False),
        sa.Column("lit", sa.Boolean(), nullable=False),
        sa.Column("max_length_cm", sa.Integer(), nullable=True),
        sa.Column("max_width_cm", sa.Integer(), nullable=True),
        sa.Column("max_height_cm", sa.Integer(), nullable=True),
        sa.Column("access_instructions", sa.String(length=1000), nullable=True),
        sa.Column("hourly_cents", sa.Integer(), nullable=False),
        sa.Column("daily_cap_cents", sa.Integer(), nullable=True),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("granularity_min", sa.Integer(), nullable=False),
        sa.Column("min_duration_min", sa.Integer(), nullable=False),
        sa.Column("max_duration_min", sa.Integer(), nullable=False),
        sa.Column("lead_time_min", sa.Integer(), nullable=False),
        sa.Column("horizon_days", sa.Integer(), nullable=False),
        sa.Column("buffer_min", sa.Integer(), nullable=False),
        sa.Column("instant_book", sa.Boolean(), nullable=False),
        sa.Column("cancellation_policy", sa.String(length=16), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("open_ranges_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "cancellation_policy in ('flexible', 'moderate', 'strict')",
            name=op.f("ck_spots_cancellation_policy"),
        ),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_spots_currency")),
        sa.CheckConstraint(
            "daily_cap_cents is null or daily_cap_cents > 0", name=op.f("ck_spots_daily_cap_cents")
        ),
        sa.CheckConstraint(
            "granularity_min > 0 and min_duration_min >= granularity_min and max_duration_min >= min_duration_min and lead_time_min >= 0 and horizon_days > 0 and buffer_min >= 0",
            name=op.f("ck_spots_rules"),
        ),
        sa.CheckConstraint("hourly_cents > 0", name=op.f("ck_spots_hourly_cents")),
        sa.CheckConstraint(
            "lat between -90 and 90 and lon between -180 and 180", name=op.f("ck_spots_coordinates")
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"], ["users.id"], name=op.f("fk_spots_owner_id_users"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_spots")),
    )
    op.create_index("ix_spots_location", "spots", ["location"], unique=False, postgresql_using="gist")
    op.create_index(
        "ix_spots_owner_id",
        "spots",
        ["owner_id", "created_at", "id"],
        unique=False,
        postgresql_where=sa.text("deleted_at is null"),
    )
    op.create_table(
        "availability_blackouts",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("spot_id", sa.UUID(), nullable=False),
        sa.Column("during", postgresql.TSTZRANGE(), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "not isempty(during) and lower_inc(during) and not upper_inc(during)",
            name=op.f("ck_availability_blackouts_during"),
        ),
        sa.ForeignKeyConstraint(
            ["spot_id"],
            ["spots.id"],
            name=op.f("fk_availability_blackouts_spot_id_spots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_availability_blackouts")),
    )
    op.create_index(
        "ix_availability_blackouts_spot_id_during",
        "availability_blackouts",
        ["spot_id", "during"],
        unique=False,
        postgresql_using="gist",
    )
    op.create_table(
        "availability_rules",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("spot_id", sa.UUID(), nullable=False),
        sa.Column("weekdays", postgresql.ARRAY(sa.SmallInteger()), nullable=False),
        sa.Column("start_minute", sa.SmallInteger(), nullable=False),
        sa.Column("end_minute", sa.SmallInteger(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("end_minute <> start_minute", name=op.f("ck_availability_rules_not_empty")),
        sa.CheckConstraint(
            "start_minute between 0 and 1439 and end_minute between 0 and 1440",
            name=op.f("ck_availability_rules_minutes"),
        ),
        sa.CheckConstraint(
            "valid_until is null or valid_from is null or valid_until >= valid_from",
            name=op.f("ck_availability_rules_validity"),
        ),
        sa.CheckConstraint(
            "weekdays <@ array[0,1,2,3,4,5,6]::smallint[] and cardinality(weekdays) > 0",
            name=op.f("ck_availability_rules_weekdays"),
        ),
        sa.ForeignKeyConstraint(
            ["spot_id"], ["spots.id"], name=op.f("fk_availability_rules_spot_id_spots"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_availability_rules")),
    )
    op.create_index(
        "ix_availability_rules_spot_id", "availability_rules", ["spot_id", "created_at"], unique=False
    )
    op.create_table(
        "availability_windows",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("spot_id", sa.UUID(), nullable=False),
        sa.Column("during", postgresql.TSTZRANGE(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "not isempty(during) and lower_inc(during) and not upper_inc(during)",
            name=op.f("ck_availability_windows_during"),
        ),
        sa.ForeignKeyConstraint(
            ["spot_id"], ["spots.id"], name=op.f("fk_availability_windows_spot_id_spots"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_availability_windows")),
    )
    op.create_index(
        "ix_availability_windows_spot_id_during",
        "availability_windows",
        ["spot_id", "during"],
        unique=False,
        postgresql_using="gist",
    )
    op.create_table(
        "spot_open_ranges",
        sa.Column("spot_id", sa.UUID(), nullable=False),
        sa.Column("during", postgresql.TSTZRANGE(), nullable=False),
        postgresql.ExcludeConstraint(
            (sa.column("spot_id"), "="),
            (sa.column("during"), "&&"),
            using="gist",
            name="ex_spot_open_ranges_spot_id_during",
        ),
        sa.CheckConstraint("not isempty(during)", name=op.f("ck_spot_open_ranges_during")),
        sa.ForeignKeyConstraint(
            ["spot_id"], ["spots.id"], name=op.f("fk_spot_open_ranges_spot_id_spots"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("spot_id", "during", name=op.f("pk_spot_open_ranges")),
    )


def downgrade() -> None:
    op.drop_table("spot_open_ranges")
    op.drop_index(
        "ix_availability_windows_spot_id_during", table_name="availability_windows", postgresql_using="gist"
    )
    op.drop_table("availability_windows")
    op.drop_index("ix_availability_rules_spot_id", table_name="availability_rules")
    op.drop_table("availability_rules")
    op.drop_index(
        "ix_availability_blackouts_spot_id_during",
        table_name="availability_blackouts",
        postgresql_using="gist",
    )
    op.drop_table("availability_blackouts")
    op.drop_index("ix_spots_owner_id", table_name="spots", postgresql_where=sa.text("deleted_at is null"))
    op.drop_index("ix_spots_location", table_name="spots", postgresql_using="gist")
    op.drop_table("spots")
