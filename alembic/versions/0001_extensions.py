"""Extensions: btree_gist for exclusion constraints over ranges, postgis for locations.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from alembic import op

revision: str = "0001"
down_revision: str | None = None


def upgrade() -> None:
    # IF NOT EXISTS: a DBA may have created them already for a role that may not.
    op.execute("create extension if not exists btree_gist")
    op.execute("create extension if not exists postgis")


def downgrade() -> None:
    op.execute("drop extension if exists postgis")
    op.execute("drop extension if exists btree_gist")
