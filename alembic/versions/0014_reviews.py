"""Reviews of completed bookings (the driver's of the spot, the owner's of the driver), their
replies, and the admin action that hides one (`review.hide` in the audit log)."""

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"

OLD_ACTIONS = "'user.suspend', 'user.reinstate', 'spot.unlist', 'spot.relist', 'admin.grant', 'admin.revoke'"
NEW_ACTIONS = OLD_ACTIONS + ", 'review.hide'"


def _fk(column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_reviews_{column}_{target}"), ondelete="RESTRICT"
    )


def upgrade() -> None:
    op.create_table(
        "reviews",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("booking_id", sa.UUID(), nullable=False),
        sa.Column("spot_id", sa.UUID(), nullable=False),
        sa.Column("author_id", sa.UUID(), nullable=False),
        sa.Column("subject_id", sa.UUID(), nullable=False),
        sa.Column("author_role", sa.String(length=8), nullable=False),
        sa.Column("rating", sa.SmallInteger(), nullable=False),
        sa.Column("comment", sa.String(length=1000), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("visible_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reply_comment", sa.String(length=1000), nullable=True),
        sa.Column("replied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("author_role in ('driver', 'owner')", name=op.f("ck_reviews_author_role")),
        sa.CheckConstraint("rating between 1 and 5", name=op.f("ck_reviews_rating")),
        sa.CheckConstraint("char_length(comment) <= 1000", name=op.f("ck_reviews_comment")),
        sa.CheckConstraint("char_length(reply_comment) <= 1000", name=op.f("ck_reviews_reply_comment")),
        sa.CheckConstraint("reply_comment is null or replied_at is not null", name=op.f("ck_reviews_reply")),
        _fk("booking_id", "bookings"),
        _fk("spot_id", "spots"),
        _fk("author_id", "users"),
        _fk("subject_id", "users"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reviews")),
        sa.UniqueConstraint("booking_id", "author_role", name=op.f("uq_reviews_booking_id_author_role")),
    )
    op.create_index(
        "ix_reviews_spot_id_visible_at",
        "reviews",
        ["spot_id", "visible_at", "id"],
        postgresql_include=["rating"],
        postgresql_where=sa.text("author_role = 'driver' and hidden_at is null"),
    )
    op.create_index(
        "ix_reviews_subject_id_visible_at",
        "reviews",
        ["subject_id", "visible_at"],
        postgresql_include=["rating"],
        postgresql_where=sa.text("author_role = 'owner' and hidden_at is null"),
    )
    op.create_index("ix_reviews_author_id", "reviews", ["author_id"])
    op.drop_constraint(op.f("ck_audit_log_action"), "audit_log", type_="check")
    op.create_check_constraint(op.f("ck_audit_log_action"), "audit_log", f"action in ({NEW_ACTIONS})")
    op.drop_constraint(op.f("ck_audit_log_target_type"), "audit_log", type_="check")
    op.create_check_constraint(
        op.f("ck_audit_log_target_type"), "audit_log", "target_type in ('user', 'spot', 'review')"
    )


def downgrade() -> None:
    # The record of hidden reviews goes with the reviews.
    op.execute("delete from audit_log where action = 'review.hide' or target_type = 'review'")
    op.drop_constraint(op.f("ck_audit_log_target_type"), "audit_log", type_="check")
    op.create_check_constraint(
        op.f("ck_audit_log_target_type"), "audit_log", "target_type in ('user', 'spot')"
    )
    op.drop_constraint(op.f("ck_audit_log_action"), "audit_log", type_="check")
    op.create_check_constraint(op.f("ck_audit_log_action"), "audit_log", f"action in ({OLD_ACTIONS})")
    op.drop_table("reviews")
