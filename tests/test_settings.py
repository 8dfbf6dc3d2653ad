from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from app.settings import Environment, Settings


def make(**kwargs: object) -> Settings:
    return Settings(_env_file=None, **kwargs)  # type: ignore[arg-type]


def test_production_refuses_to_start_without_a_secret() -> None:
    with pytest.raises(ValidationError, match="JWT_SECRET must be set"):
        make(environment=Environment.production)


def test_production_refuses_a_short_secret() -> None:
    with pytest.raises(ValidationError, match="at least 32"):
        make(environment=Environment.production, jwt_secret="too-short")
    assert make(environment=Environment.production, jwt_secret="x" * 32).signing_secret() == "x" * 32


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
