from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import ValidationError

from app.settings import Environment, Settings

# A P-256 private key as `web-push generate-vapid-keys` prints it: the URL-safe base64 of 32 bytes.
RAW_KEY = "S5w2eWJsmSJ7ZXWV7Vr_9glQNVnt8HcWXcNMQo5J6bE"


def make(**kwargs: object) -> Settings:
    return Settings(_env_file=None, **kwargs)  # type: ignore[arg-type]


def test_production_refuses_to_start_without_a_secret() -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET must be set"):
        make(environment=Environment.production)


def test_production_refuses_a_short_secret() -> None:
    with pytest.raises(ValidationError, match="at least 32") as caught:
        make(environment=Environment.production, jwt_secret="too-short-to-sign")
    assert "too-short-to-sign" not in str(caught.value)
    settings = make(environment=Environment.production, jwt_secret="x" * 32, vapid_private_key=RAW_KEY)
    assert settings.signing_secret() == "x" * 32


def test_development_generates_one_secret_and_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "state" / "jwt_secret"
    first = make(jwt_secret_file=path).signing_secret()
    second = make(jwt_secret_file=path).signing_secret()
    assert first == second
    assert len(first) >= 32
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["jwt_secret"]


def test_an_explicit_secret_wins_over_the_file(tmp_path: Path) -> None:
    settings = make(jwt_secret="s" * 40, jwt_secret_file=tmp_path / "never")
    assert settings.signing_secret() == "s" * 40
    assert not (tmp_path / "never").exists()


def test_database_url_must_be_postgres_and_gets_asyncpg() -> None:
    with pytest.raises(ValidationError, match="postgresql"):
        make(database_url="sqlite:///x.db")
    url = make(database_url="postgresql://u:p@db.internal:6432/parking").async_database_url
    assert url.drivername == "postgresql+asyncpg"
    assert (url.host, url.port, url.database, url.username) == ("db.internal", 6432, "parking", "u")


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACCESS_TOKEN_TTL_SECONDS", "120")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("SCHEDULER_ENABLED", "false")
    settings = make()
    assert settings.access_token_ttl_seconds == 120
    assert settings.log_level == "DEBUG"
    assert settings.scheduler_enabled is False
    monkeypatch.setenv("LOG_LEVEL", "loud")
    with pytest.raises(ValidationError):
        make()


def test_env_example_lists_every_setting() -> None:
    example = Path(__file__).resolve().parent.parent / ".env.example"
    names = {
        line.lstrip("# ").split("=", 1)[0]
        for line in example.read_text().splitlines()
        if "=" in line and line.lstrip("# ").split("=", 1)[0].isupper()
    }
    assert {name.upper() for name in Settings.model_fields} <= names


def test_running_md_has_a_row_for_every_setting() -> None:
    running = Path(__file__).resolve().parent.parent / "docs" / "running.md"
    lines = running.read_text().split("## Settings", 1)[1].split("\n## ", 1)[0].splitlines()
    rows = [line for line in lines if line.startswith("|")]
    tables = [i for i, line in enumerate(lines) if line.startswith("|") and not lines[i - 1].startswith("|")]
    # A blank line inside a Markdown table ends it: the rows after it render as plain text.
    assert len(tables) == 1
    documented = {line.split("`")[1] for line in rows[2:]}
    assert documented == {name.upper() for name in Settings.model_fields}


# -- Web Push (VAPID) ------------------------------------------------------------------------------


def _numbers(key: ec.EllipticCurvePrivateKey) -> int:
    return key.private_numbers().private_value


def test_production_refuses_to_start_without_a_vapid_key() -> None:
    with pytest.raises(ValidationError, match="VAPID_PRIVATE_KEY must be set"):
        make(environment=Environment.production, jwt_secret="x" * 32)


def test_production_refuses_private_webhook_urls() -> None:
    with pytest.raises(ValidationError, match="WEBHOOK_ALLOW_PRIVATE_URLS must be false"):
        make(
            environment=Environment.production,
            jwt_secret="x" * 32,
            vapid_private_key=RAW_KEY,
            webhook_allow_private_urls=True,
        )
    production = make(environment=Environment.production, jwt_secret="x" * 32, vapid_private_key=RAW_KEY)
    assert production.webhook_allow_private_urls is False


def test_development_generates_one_vapid_key_and_keeps_it(tmp_path: Path) -> None:
    path = tmp_path / "state" / "vapid_private_key.pem"
    first = make(vapid_private_key_file=path).vapid_key()
    second = make(vapid_private_key_file=path).vapid_key()
    assert isinstance(first.curve, ec.SECP256R1)
    assert _numbers(first) == _numbers(second)
    assert path.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["vapid_private_key.pem"]
    # Another checkout, another key.
    assert _numbers(make(vapid_private_key_file=tmp_path / "other.pem").vapid_key()) != _numbers(first)


def test_a_vapid_key_is_taken_raw_or_as_pem_and_wins_over_the_file(tmp_path: Path) -> None:
    key = make(vapid_private_key=RAW_KEY, vapid_private_key_file=tmp_path / "never").vapid_key()
    assert not (tmp_path / "never").exists()
    expected = int.from_bytes(base64.urlsafe_b64decode(RAW_KEY + "="), "big")
    assert _numbers(key) == expected
    pkcs8 = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    # As `openssl ecparam -name prime256v1 -genkey -noout` writes it.
    sec1 = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    der = base64.urlsafe_b64encode(
        key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    ).decode()
    for written in (pkcs8, sec1, pkcs8.strip().replace("\n", "\\n"), RAW_KEY + "=", der):
        assert _numbers(make(vapid_private_key=written).vapid_key()) == expected, written[:20]


@pytest.mark.parametrize(
    "bad",
    [
        "not a key",
        base64.urlsafe_b64encode(b"\x01" * 31).decode(),
        "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
        ec.generate_private_key(ec.SECP384R1())
        .private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        .decode(),
    ],
    ids=["text", "31 bytes", "broken PEM", "P-384"],
)
def test_a_vapid_key_that_is_no_p256_key_is_refused_without_being_shown(bad: str) -> None:
    with pytest.raises(ValidationError, match="VAPID_PRIVATE_KEY must be") as caught:
        make(vapid_private_key=bad)
    shown = str(caught.value)
    assert all(line not in shown for line in bad.splitlines() if len(line) > 12), shown


@pytest.mark.parametrize("subject", ["mailto:ops@parkshare.example", "https://parkshare.example/contact"])
def test_the_vapid_subject_is_a_mailto_or_https_url(subject: str) -> None:
    assert make(vapid_subject=subject).vapid_subject == subject


@pytest.mark.parametrize(
    "subject", ["ops@parkshare.example", "mailto:nobody", "http://parkshare.example", ""]
)
def test_other_vapid_subjects_are_refused(subject: str) -> None:
    with pytest.raises(ValidationError, match="VAPID_SUBJECT"):
        make(vapid_subject=subject)


def test_tile_url_needs_a_tile_template_and_gives_the_csp_origin() -> None:
    assert make().tile_origin == "https://tile.openstreetmap.org"
    assert make(tile_url="https://{s}.tiles.example.org:8443/{z}/{x}/{y}.png").tile_origin == (
        "https://*.tiles.example.org:8443"
    )
    for bad in (
        "javascript:alert(1)//{z}/{x}/{y}",
        "https://tiles.example.org/{z}/{x}.png",
        "https://tiles.example.org/{z}/{x}/{y}.png'; script-src *",
        "ftp://tiles.example.org/{z}/{x}/{y}.png",
    ):
        with pytest.raises(ValidationError, match="TILE_URL"):
            make(tile_url=bad)
