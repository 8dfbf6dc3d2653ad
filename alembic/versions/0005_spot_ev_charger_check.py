"""A spot's EV charger has both a connector and a power, or neither.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_check_constraint(
        op.f("ck_spots_ev_charger"), "spots", "(ev_connector is null) = (ev_power_kw is null)"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_spots_ev_charger"), "spots", type_="check")
