"""Settings from the environment or `.env`, through pydantic-settings (see .env.example)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import os
import re
import secrets
import tempfile
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from email.utils import parseaddr
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url

DEFAULT_DATABASE_URL = "postgresql://parkshare:parkshare@127.0.0.1:5432/parkshare"
# RFC 8292's `sub`: how a push service reaches the operator. The `.invalid` default reaches no one:
# set a real address in production.
DEFAULT_VAPID_SUBJECT = "mailto:admin@parkshare.invalid"
DEFAULT_MAIL_FROM = "parkshare <noreply@parkshare.invalid>"
_SMTP_SCHEMES = ("smtp", "smtps")
_VAPID_SUBJECT = re.compile(r"mailto:[^@\s]+@[^@\s]+\.[^@\s]+|https://[^/\s]+(/\S*)?", re.IGNORECASE)


# An origin: scheme, host and optional port, no path.
_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


# A tile server's host (and port); `{s}` stands for a subdomain letter.
_TILE_HOST = re.compile(r"(\{s\}\.)?[A-Za-z0-9.-]+(:[0-9]{1,5})?")


class Environment(StrEnum):
    development = "development"
    test = "test"
    production = "production"


class Settings(BaseSettings):
    # Errors never quote what was given: the settings hold secrets (JWT_SECRET, VAPID_PRIVATE_KEY).
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", hide_input_in_errors=True
    )

    environment: Environment = Environment.development
    database_url: str = DEFAULT_DATABASE_URL
    database_pool_size: Annotated[int, Field(ge=1, le=200)] = 10
    database_max_overflow: Annotated[int, Field(ge=0, le=200)] = 10
    database_statement_timeout_ms: Annotated[int, Field(ge=0)] = 15_000
    # A hot standby of DATABASE_URL for anonymous reads (search, public spot view, free intervals);
    # empty: none. Anonymous reads go to the primary while the standby is down or more than
    # REPLICA_MAX_LAG_SECONDS behind (docs/replica.md).
    read_database_url: str = ""
    replica_max_lag_seconds: Annotated[float, Field(gt=0, le=600)] = 5.0

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
    # Booking writes (book, confirm, approve, decline, cancel, extend) per user per window. A person
    # in the app makes a few a minute (book and confirm; an owner clearing a list of requests a
    # dozen); 30 leaves room for that and for retries, while a script grabbing holds or probing for
    # free slots is stopped within a minute. Per user, not per address: drivers share carrier NATs.
    booking_writes_per_user: Annotated[int, Field(ge=1, le=1_000_000_000)] = 30
    booking_write_window_seconds: Annotated[int, Field(ge=1, le=86_400)] = 60

    hold_ttl_seconds: Annotated[int, Field(ge=30, le=86_400)] = 600
    request_ttl_seconds: Annotated[int, Field(ge=300, le=604_800)] = 86_400
    sweep_interval_seconds: Annotated[int, Field(ge=1, le=3600)] = 30
    idempotency_ttl_seconds: Annotated[int, Field(ge=86_400, le=2_592_000)] = 172_800
    # The API promises 7 days of events to resume a stream from; the eighth is slack for clients
    # that reconnect right at the edge.
    event_retention_days: Annotated[int, Field(ge=7, le=3650)] = 8

    # Request bodies larger than this are refused with 413 before they are read.
    max_body_bytes: Annotated[int, Field(ge=1024, le=1_073_741_824)] = 1_048_576

    # Webhook and push URLs may use http and point at loopback or private addresses: for local
    # development and the tests only (docs/events.md, "Where events may be sent").
    webhook_allow_private_urls: bool = False
    # How long a process that claimed a delivery has to send it before another may: longer than an
    # attempt may take (10 s). A process killed mid-send delays its claimed deliveries this long.
    delivery_lease_seconds: Annotated[int, Field(ge=30, le=3600)] = 60

    # Web Push (RFC 8292): the P-256 key that signs every push (`parse_vapid_private_key` says which
    # forms it takes), and who the push services may contact. Browsers bind a subscription to the
    # public key: a new key makes every subscription useless until its app subscribes again.
    vapid_private_key: SecretStr | None = None
    vapid_private_key_file: Path = Path(".parkshare/vapid_private_key.pem")
    vapid_subject: str = DEFAULT_VAPID_SUBJECT

    # E-mail (app/mail/): where mails go (`smtp://user:password@host:587` with STARTTLS when the
    # server offers it, `smtps://host:465` with TLS from the start), who they come from, and the
    # address of the web app their links open. Without SMTP_URL, mails are written to the log
    # outside production, and wait in the outbox in production.
    smtp_url: SecretStr | None = None
    mail_from: str = DEFAULT_MAIL_FROM
    public_url: str = "http://127.0.0.1:8000"
    # How often the outbox is looked at for mails to send.
    mail_interval_seconds: Annotated[int, Field(ge=1, le=300)] = 5
    # Unverified accounts may search and book but not publish spots; off for demos and load tests.
    require_email_verification: bool = True
    # Password-reset requests per client address per window (each still answers 202).
    password_resets_per_ip: Annotated[int, Field(ge=1)] = 20

    # The platform's share of what owners earn, in percent with at most two decimals; shown
    # separately in `GET /v1/me/earnings` (taken per booking, rounded half up).
    platform_fee_percent: Annotated[Decimal, Field(ge=0, le=100, decimal_places=2)] = Decimal(0)

    # Development and benchmarks only (docs/jobs.md): the processes' clock runs this many times as
    # fast as the wall clock from SIMULATED_CLOCK_ORIGIN on, so that hours of holds, reminders and
    # completions pass in minutes. Refused in production; 1 is the real clock.
    simulated_clock_speed: Annotated[float, Field(ge=1, le=1000)] = 1
    # The instant (ISO 8601 with a time zone) from which the clock runs faster: every process of
    # one run is given the same, so they all read the same time whenever each started.
    simulated_clock_origin: datetime | None = None

    log_level: str = "INFO"
    # `json`: one JSON object per line (for log collectors); `text`: for reading in a terminal.
    log_format: Literal["json", "text"] = "json"
    scheduler_enabled: bool = True
    # On SIGTERM `parkshare serve` stops accepting, lets requests in flight finish for up to this
    # long, then cancels the rest (their transactions roll back) and exits.
    shutdown_grace_seconds: Annotated[int, Field(ge=1, le=3600)] = 30

    # Browser origins (`https://app.example.org`) allowed to call the API, comma-separated; empty:
    # no CORS headers at all, so browsers only allow pages served from the API's own origin.
    cors_origins: str = ""

    # The web app's map (app/web/): where its tiles come from (`{z}`, `{x}`, `{y}`, optionally `{s}`)
    # and the attribution their provider asks for. The page's Content-Security-Policy allows images
    # from this host only; without tiles the app still works as a list.
    tile_url: Annotated[str, Field(max_length=500)] = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
    tile_attribution: Annotated[str, Field(max_length=300)] = "© OpenStreetMap contributors"

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"CRITICAL", "ERROR", "WARNING", "INFO", "DEBUG"}:
            raise ValueError("LOG_LEVEL must be one of CRITICAL, ERROR, WARNING, INFO, DEBUG")
        return level

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: str) -> str:
        origins = [o.strip().rstrip("/") for o in value.split(",") if o.strip()]
        for origin in origins:
            if origin != "*" and not _ORIGIN.fullmatch(origin):
                raise ValueError("CORS_ORIGINS must be origins like https://app.example.org, comma-separated")
        return ",".join(origins)

    @field_validator("tile_url")
    @classmethod
    def _a_tile_template(cls, value: str) -> str:
        parsed = urlsplit(value)
        if (
            parsed.scheme not in ("http", "https")
            or not _TILE_HOST.fullmatch(parsed.netloc)
            or any(part not in value for part in ("{z}", "{x}", "{y}"))
            or any(c in value for c in "\"'<> ")
        ):
            raise ValueError(
                "TILE_URL must be an http(s) URL with {z}, {x} and {y}, like https://tile.openstreetmap.org/{z}/{x}/{y}.png"
            )
        return value

    @property
    def tile_origin(self) -> str:
        """The tiles' origin for the web app's Content-Security-Policy (`{s}.` becomes `*.`)."""
        parsed = urlsplit(self.tile_url)
        return f"{parsed.scheme}://{parsed.netloc.replace('{s}', '*')}"

    @field_validator("database_url")
    @classmethod
    def _postgres_only(cls, value: str) -> str:
        url = make_url(value)
        if url.get_backend_name() != "postgresql":
            raise ValueError("DATABASE_URL must be a postgresql:// URL")
        return value

    @field_validator("read_database_url")
    @classmethod
    def _postgres_or_nothing(cls, value: str) -> str:
        if value and make_url(value).get_backend_name() != "postgresql":
            raise ValueError("READ_DATABASE_URL must be a postgresql:// URL, or empty for no replica")
        return value

    @field_validator("vapid_private_key")
    @classmethod
    def _a_p256_key(cls, value: SecretStr | None) -> SecretStr | None:
        # After pydantic's own parsing: an error shows the SecretStr, never the key.
        if value is not None:
            parse_vapid_private_key(value.get_secret_value())
        return value

    @field_validator("smtp_url")
    @classmethod
    def _an_smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        parsed = urlsplit(value.get_secret_value())
        try:
            parsed.port  # noqa: B018 - raises on a port that is not a number
        except ValueError:
            raise ValueError("SMTP_URL has a bad port") from None
        if parsed.scheme not in _SMTP_SCHEMES or not parsed.hostname:
            raise ValueError("SMTP_URL must be smtp://host[:port] or smtps://host[:port]")
        return value

    @field_validator("mail_from")
    @classmethod
    def _a_sender(cls, value: str) -> str:
        _, address = parseaddr(value)
        if "@" not in address or any(c in value for c in "\r\n"):
            raise ValueError("MAIL_FROM must be an address, e.g. parkshare <noreply@example.org>")
        return value

    @field_validator("public_url")
    @classmethod
    def _a_base_url(cls, value: str) -> str:
        parsed = urlsplit(value)
        if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.query or parsed.fragment:
            raise ValueError("PUBLIC_URL must be an http(s) URL like https://parkshare.example.org")
        return value.rstrip("/")

    @field_validator("vapid_subject")
    @classmethod
    def _contact(cls, value: str) -> str:
        if not _VAPID_SUBJECT.fullmatch(value):
            raise ValueError("VAPID_SUBJECT must be a mailto: or https: URL")
        return value

    @model_validator(mode="after")
    def _simulated_clock(self) -> Settings:
        if self.simulated_clock_speed != 1:
            if self.environment is Environment.production:
                raise ValueError("SIMULATED_CLOCK_SPEED must be 1 when ENVIRONMENT=production")
            if self.simulated_clock_origin is None:
                raise ValueError(
                    "SIMULATED_CLOCK_SPEED needs SIMULATED_CLOCK_ORIGIN, the same in every process"
                )
        if self.simulated_clock_origin is not None and self.simulated_clock_origin.utcoffset() is None:
            raise ValueError("SIMULATED_CLOCK_ORIGIN must have a time zone, e.g. 2026-11-26T12:00:00Z")
        return self

    @model_validator(mode="after")
    def _production_needs_a_real_secret(self) -> Settings:
        if self.environment is Environment.production:
            if self.jwt_secret is None:
                raise ValueError("JWT_SECRET must be set when ENVIRONMENT=production")
            if len(self.jwt_secret.get_secret_value()) < 32:
                raise ValueError("JWT_SECRET must be at least 32 characters in production")
            # A key generated on one machine would differ per machine and be lost with it, and
            # browsers' subscriptions are bound to it.
            if self.vapid_private_key is None:
                raise ValueError("VAPID_PRIVATE_KEY must be set when ENVIRONMENT=production")
            # The SSRF rules are not optional on a public server (an .env.example copied as is).
            if self.webhook_allow_private_urls:
                raise ValueError("WEBHOOK_ALLOW_PRIVATE_URLS must be false when ENVIRONMENT=production")
        return self

    @property
    def cors_origin_list(self) -> list[str]:
        return self.cors_origins.split(",") if self.cors_origins else []

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
        return _development_secret(self.jwt_secret_file, lambda: secrets.token_urlsafe(48))

    def vapid_key(self) -> ec.EllipticCurvePrivateKey:
        """The key that signs Web Push requests: VAPID_PRIVATE_KEY, or outside production one
        generated once into VAPID_PRIVATE_KEY_FILE."""
        if self.vapid_private_key is not None:
            return parse_vapid_private_key(self.vapid_private_key.get_secret_value())
        if self.environment is Environment.production:  # pragma: no cover - the validator refuses
            raise RuntimeError("VAPID_PRIVATE_KEY must be set when ENVIRONMENT=production")
        return parse_vapid_private_key(_development_secret(self.vapid_private_key_file, _new_vapid_pem))


def parse_vapid_private_key(text: str) -> ec.EllipticCurvePrivateKey:
    """A P-256 private key written as PEM (PKCS#8 or SEC 1, as `openssl ecparam -genkey` writes it;
    in one line with `\\n` for the line breaks, too), or as the URL-safe base64 of its 32-byte
    secret number (what `web-push generate-vapid-keys` prints) or of its DER. A ValueError that
    does not quote the key otherwise."""
    value = text.strip()
    try:
        if "-----BEGIN" in value:
            key = serialization.load_pem_private_key(value.replace("\\n", "\n").encode(), password=None)
        else:
            raw = base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
            if len(raw) == 32:
                key = ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
            else:
                key = serialization.load_der_private_key(raw, password=None)
    except (ValueError, TypeError, binascii.Error, UnicodeError):
        raise ValueError(
            "VAPID_PRIVATE_KEY must be a P-256 private key: PEM, or URL-safe base64 of its 32 bytes"
        ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("VAPID_PRIVATE_KEY must be a key on the P-256 curve (prime256v1)")
    return key


def _new_vapid_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem.decode()


def _development_secret(path: Path, make: Callable[[], str]) -> str:
    """A per-checkout random secret (`make()`), so development never signs with a value from the
    repo.

    Several worker processes may start at once: the file is written aside and linked into place,
    which fails for every process but the first, and the others then read the winner's secret.
    """
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(make())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        os.unlink(tmp)
    return path.read_text().strip()


@lru_cache
def get_settings() -> Settings:
    return Settings()
