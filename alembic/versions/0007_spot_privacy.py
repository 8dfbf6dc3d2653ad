"""Spot privacy: the rounded public location that search measures from, and `reveal_before_min`."""

import geoalchemy2
import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"

PUBLIC_LOCATION = (
    "(st_setsrid(st_makepoint((round((lon)::numeric, 3))::double precision,"
    " (round((lat)::numeric, 3))::double precision), 4326))::geography"
)


def upgrade() -> None:
    op.add_column(
        "spots",
        sa.Column("reveal_before_min", sa.Integer(), server_default=sa.text("60"), nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_spots_reveal_before_min"), "spots", "reveal_before_min between 0 and 1440"
    )
    op.add_column(
        "spots",
        sa.Column(
            "public_location",
            geoalchemy2.types.Geography(geometry_type="POINT", srid=4326, spatial_index=False),
            sa.Computed(PUBLIC_LOCATION, persisted=True),
            nullable=False,
        ),
    )
    op.create_index(
        "ix_spots_public_location", "spots", ["public_location"], unique=False, postgresql_using="gist"
    )


def downgrade() -> None:
    op.drop_index("ix_spots_public_location", table_name="spots", postgresql_using="gist")
    op.drop_column("spots", "public_location")
    op.drop_constraint(op.f("ck_spots_reveal_before_min"), "spots", type_="check")
    op.drop_column("spots", "reveal_before_min")
