"""Every table model, imported once so the metadata (and Alembic) knows them all."""

from app.auth.models import LoginSession, RefreshToken, User
from app.users.models import Vehicle

__all__ = ["LoginSession", "RefreshToken", "User", "Vehicle"]
