"""A spot's EV charger has both a connector and a power, or neither."""

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"


def upgrade() -> None:
    op.create_check_constraint(
        op.f("ck_spots_ev_charger"), "spots", "(ev_connector is null) = (ev_power_kw is null)"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_spots_ev_charger"), "spots", type_="check")
