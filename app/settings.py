"""Settings from the environment or `.env`, through pydantic-settings (see .env.example)."""

from __future__ import annotations

import contextlib
import os
import secrets
import tempfile
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url

DEFAULT_DATABASE_URL = "postgresql://parkshare:parkshare@127.0.0.1:5432/parkshare"


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    environment: Environment = Environment.development
    database_url: str = DEFAULT_DATABASE_URL
    database_pool_size: Annotated[int, Field(ge=1, le=200)] = 10
    database_max_overflow: Annotated[int, Field(ge=0, le=200)] = 10
    database_statement_timeout_ms: Annotated[int, Field(ge=0)] = 15_000

    jwt_secret: SecretStr | None = None
    jwt_secret_file: Path = Path(".parkshare/jwt_secret")
    jwt_issuer: str = "parkshare"
    jwt_audience: str = "parkshare-api"
    access_token_ttl_seconds: Annotated[int, Field(ge=30, le=86_400)] = 900
    refresh_token_ttl_seconds: Annotated[int, Field(ge=300, le=31_536_000)] = 2_592_000

    # argon2id cost; the defaults follow RFC 9106's second recommended option scaled for a server.
    argon2_time_cost: Annotated[int, Field(ge=1, le=10)] = 3
    argon2_memory_kib: Annotated[int, Field(ge=1024, le=1_048_576)] = 65_536

    # Sign-in guessing: failed sign-ins per email and attempts per client address, registrations
    # per client address, each per window.
    rate_limit_window_seconds: Annotated[int, Field(ge=1, le=86_400)] = 900
    login_failures_per_email: Annotated[int, Field(ge=1)] = 10
    login_attempts_per_ip: Annotated[int, Field(ge=1)] = 100
    registrations_per_ip: Annotated[int, Field(ge=1)] = 20

    hold_ttl_seconds: Annotated[int, Field(ge=30, le=86_400)] = 600
    request_ttl_seconds: Annotated[int, Field(ge=300, le=604_800)] = 86_400
    sweep_interval_seconds: Annotated[int, Field(ge=1, le=3600)] = 30
    idempotency_ttl_seconds: Annotated[int, Field(ge=86_400, le=2_592_000)] = 172_800
    # The API promises 7 days of events to resume a stream from; the eighth is slack for clients
    # that reconnect right at the edge.
    event_retention_days: Annotated[int, Field(ge=7, le=3650)] = 8

    # Request bodies larger than this are refused with 413 before they are read.
    max_body_bytes: Annotated[int, Field(ge=1024, le=1_073_741_824)] = 1_048_576

    log_level: str = "INFO"
    scheduler_enabled: bool = True

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"}:
            raise ValueError("LOG_LEVEL must be one of CRITICAL, ERROR, WARNING, INFO, DEBUG")
        return level

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str) -> str:
        url = make_url(value)
        if url.get_backend_name() != "postgresql":
            raise ValueError("DATABASE_URL must be a postgresql:// URL")
        return value

    @model_validator(mode="after")
    def _production_needs_a_real_secret(self) -> Settings:
        if self.environment is Environment.production:
            if self.jwt_secret is None:
                raise ValueError("JWT_SECRET must be set when ENVIRONMENT=production")
            if len(self.jwt_secret.get_secret_value()) < 32:
                raise ValueError("JWT_SECRET must be at least 32 characters in production")
        return self

    @property
    def async_database_url(self) -> URL:
        """The same database through asyncpg, whatever driver the URL named."""
        return make_url(self.database_url).set(drivername="postgresql+asyncpg")

    @property
    def plain_database_url(self) -> str:
        """The URL as libpq and asyncpg take it (the events hub connects directly)."""
        return make_url(self.database_url).set(drivername="postgresql").render_as_string(hide_password=False)

    def signing_secret(self) -> str:
        if self.jwt_secret is not None:
            return self.jwt_secret.get_secret_value()
        if self.environment is Environment.production:  # pragma: no cover - the validator refuses
            raise RuntimeError("JWT_SECRET must be set when ENVIRONMENT=production")
        return _development_secret(self.jwt_secret_file)


def _development_secret(path: Path) -> str:
    """A per-checkout random secret, so development never signs with a value from the repo.

    Several worker processes may start at once: the file is written aside and linked into place,
    which fails for every process but the first, and the others then read the winner's secret.
    """
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".jwt_secret.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_urlsafe(48))
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
