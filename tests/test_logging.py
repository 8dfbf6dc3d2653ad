"""Logs: one JSON line per request with its id, and no personal data or secret in any line, whether
the app runs in process or under `parkshare serve`."""

from __future__ import annotations

import io
import json
import logging
import secrets
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi import FastAPI
from httpx import AsyncClient

from app.db import Database
from app.logs import LOGGER_LEVELS, REQUEST_LOGGER, handler, redact
from app.settings import Settings
from bench.common import serving
from tests.factories import PASSWORD, add_rule, add_vehicle, booked, make_account, make_spot

PARKSHARE = str(Path(sys.executable).with_name("parkshare"))

ACCESS_INSTRUCTIONS = "Ring twice, the gate code is 90210"
LAT, LON = 51.505123, 7.447456
PLATE = "DO-LG 4711"
PHONE = "+4923112345678"
HOOK_URL = "https://93.184.215.14/hooks/parkshare-logging"  # a public address: no DNS needed


@pytest.fixture
def log_output() -> Iterator[io.StringIO]:
    """Everything logged during the test, as `parkshare serve` writes it with LOG_FORMAT=json, at
    DEBUG: the handler and the logger levels of app.logs.logging_config."""
    stream = io.StringIO()
    h = handler("json", stream)
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in [*LOGGER_LEVELS, REQUEST_LOGGER]}
    root_level = root.level
    root.addHandler(h)
    root.setLevel(logging.DEBUG)
    for name, level in LOGGER_LEVELS.items():
        logging.getLogger(name).setLevel(level)
    logging.getLogger(REQUEST_LOGGER).setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(h)
        root.setLevel(root_level)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    text = stream.getvalue()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def _answered_ids(client: AsyncClient) -> list[str]:
    """Collects the X-Request-ID of every answer the client gets from now on."""
    ids: list[str] = []

    async def record(response: httpx.Response) -> None:
        ids.append(response.headers["x-request-id"])

    client.event_hooks["response"].append(record)
    return ids


async def _boom() -> None:
    raise RuntimeError("failed while serving mallory@example.org")


async def test_a_whole_scene_logs_one_line_per_request_and_no_personal_data(
    app: FastAPI, client: AsyncClient, log_output: io.StringIO
) -> None:
    app.add_api_route("/test-only/boom", _boom)
    answered = _answered_ids(client)

    owner = await make_account(client, "logowner")
    driver = await make_account(client, "logdriver")
    spot = await make_spot(
        client,
        owner,
        access_instructions=ACCESS_INSTRUCTIONS,
        location={"lat": LAT, "lon": LON},
        rules={"buffer_min": 0},
    )
    await add_rule(client, owner, spot)
    await add_vehicle(client, driver, PLATE)
    r = await client.patch("/v1/me", headers=driver.headers, json={"phone": PHONE})
    assert r.status_code == 200, r.text
    booking = await booked(client, driver, spot, 2, 4)
    r = await client.get(f"/v1/bookings/{booking['id']}", headers=owner.headers)
    assert r.status_code == 200, r.text
    r = await client.post(
        "/v1/me/webhooks",
        headers=owner.headers,
        json={"url": HOOK_URL, "events": ["booking.confirmed"], "description": "Gate"},
    )
    assert r.status_code == 201, r.text
    webhook_secret = r.json()["secret"]
    r = await client.post("/v1/me/calendar-token", headers=driver.headers)
    assert r.status_code == 200, r.text
    feed = urlsplit(r.json()["url"])
    calendar_token = feed.query.split("token=", 1)[1].split("&", 1)[0]
    r = await client.get(f"{feed.path}?{feed.query}")
    assert r.status_code == 200, r.text
    r = await client.post("/v1/auth/refresh", json={"refresh_token": driver.tokens["refresh_token"]})
    assert r.status_code == 200, r.text
    new_tokens = r.json()
    # Failures: a bad token, a wrong password, an address in the path, a body too large, a crash.
    bad_token = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJub2JvZHkifQ.c2lnbmF0dXJlLXRoYXQtZmFpbHM"
    r = await client.get("/v1/me", headers={"Authorization": f"Bearer {bad_token}"})
    assert r.status_code == 401
    r = await client.post("/v1/auth/login", json={"email": driver.email, "password": "not " + PASSWORD})
    assert r.status_code == 401
    r = await client.get(f"/v1/bookings/{driver.email}", headers=driver.headers)
    assert r.status_code in (404, 422)
    r = await client.post("/v1/auth/login", content=b"x" * (2 * 1024 * 1024))
    assert r.status_code == 413
    r = await client.get("/test-only/boom", headers={"X-Request-ID": "client-chosen-id.1"})
    assert r.status_code == 500
    assert r.headers["x-request-id"] == "client-chosen-id.1"

    lines = _lines(log_output)
    text = log_output.getvalue()

    # One line per request, with the fields, for the id answered in X-Request-ID.
    requests = [line for line in lines if line["logger"] == REQUEST_LOGGER]
    assert [line["request_id"] for line in requests] == answered
    assert len(set(answered)) == len(answered) >= 20
    for line in requests:
        assert {"time", "level", "request_id", "method", "route", "status", "duration_ms"} <= line.keys()
        assert isinstance(line["status"], int)
        assert isinstance(line["duration_ms"], int | float)
        assert line["duration_ms"] >= 0
    by_route = {(line["method"], line["route"], line["status"]) for line in requests}
    assert ("GET", "/v1/bookings/{booking_id}", 200) in by_route
    assert ("GET", "/v1/me", 401) in by_route
    assert ("POST", "/v1/auth/login", 401) in by_route
    assert ("POST", "/v1/auth/login", 413) in by_route or ("POST", "unmatched", 413) in by_route
    assert ("GET", "/test-only/boom", 500) in by_route
    assert ("GET", feed.path, 200) in by_route
    for line in requests:
        assert booking["id"] not in line["route"]
        assert "?" not in line["route"]

    # The crash's error log carries the request's id, and the address in it is masked.
    errors = [line for line in lines if line["level"] == "ERROR"]
    assert errors, lines
    assert all(line["request_id"] == "client-chosen-id.1" for line in errors)
    assert "mallory@example.org" not in text

    # Nothing personal or secret in any line.
    forbidden = {
        "e-mail (owner)": owner.email,
        "e-mail (driver)": driver.email,
        "password": PASSWORD,
        "access token": driver.tokens["access_token"],
        "refresh token": driver.tokens["refresh_token"],
        "new access token": new_tokens["access_token"],
        "new refresh token": new_tokens["refresh_token"],
        "owner's token": owner.tokens["access_token"],
        "bad token": bad_token,
        "plate": PLATE,
        "phone": PHONE,
        "access instructions": ACCESS_INSTRUCTIONS,
        "latitude": "51.50512",
        "longitude": "7.44745",
        "webhook secret": webhook_secret,
        "webhook secret's key": webhook_secret.removeprefix("whsec_"),
        "calendar token": calendar_token,
        "webhook URL": HOOK_URL,
    }
    for what, value in forbidden.items():
        assert value not in text, f"the {what} is in the log"


async def test_an_unsafe_incoming_request_id_is_replaced(
    client: AsyncClient, log_output: io.StringIO
) -> None:
    kept = await client.get("/healthz", headers={"X-Request-ID": "trace-4c1f:7"})
    assert kept.headers["x-request-id"] == "trace-4c1f:7"
    for unsafe in ("x" * 65, "alice@example.org", "a b", secrets.token_urlsafe(32) + "A1"):
        r = await client.get("/healthz", headers={"X-Request-ID": unsafe})
        assert r.headers["x-request-id"] != unsafe
        assert uuid.UUID(hex=r.headers["x-request-id"])
    ids = [line["request_id"] for line in _lines(log_output) if line["logger"] == REQUEST_LOGGER]
    assert ids[0] == "trace-4c1f:7"
    assert len(ids) == 5


def test_redact_masks_secrets_and_keeps_ids() -> None:
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abcDEF123_-x"
    token = "Zx9" + secrets.token_urlsafe(32)
    identifier = str(uuid.uuid4())
    text = (
        f"user bob.smith+x@mail.example.co.uk Authorization: Bearer abc.def token {jwt} "
        f"secret whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw /v1/me/calendar.ics?token=short&x=1 "
        f"raw {token} id {identifier}"
    )
    masked = redact(text)
    for secret in (
        "bob.smith+x@mail.example.co.uk",
        "abc.def",
        jwt,
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        token,
    ):
        assert secret not in masked
    assert "token=short" not in masked
    assert "token=***&x=1" in masked
    assert identifier in masked
    assert redact("GET /v1/bookings/{booking_id} 200 3.1ms") == "GET /v1/bookings/{booking_id} 200 3.1ms"


def test_text_format_has_the_request_id_and_masks() -> None:
    stream = io.StringIO()
    h = handler("text", stream)
    record = logging.LogRecord(
        "parkshare.test", logging.WARNING, __file__, 1, "for %s", ("ann@example.org",), None
    )
    record.request_id = "r-1"
    h.handle(record)
    line = stream.getvalue()
    assert "[r-1]" in line
    assert "WARNING parkshare.test" in line
    assert "ann@example.org" not in line
    assert "[email]" in line


# --- under `parkshare serve` ---------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.real_clock
def test_the_server_writes_json_lines_without_secrets(
    settings: Settings, committed_db: Database, tmp_path: Path
) -> None:
    stderr_path = tmp_path / "stderr.log"
    email = f"served-{uuid.uuid4().hex[:8]}@example.org"
    # `parkshare serve` as an operator starts it (uvicorn's access log at its default), not
    # `served`'s benchmark command.
    command = [PARKSHARE, "serve", "--workers", "2", "--port"]
    with (
        serving(
            command, settings.database_url, {"LOG_LEVEL": "INFO", "LOG_FORMAT": "json"}, log=stderr_path
        ) as server,
        httpx.Client(base_url=server.url, timeout=10) as c,
    ):
        r = c.post("/v1/auth/register", json={"email": email, "password": PASSWORD, "display_name": "Served"})
        assert r.status_code == 201, r.text
        tokens = c.post("/v1/auth/login", json={"email": email, "password": PASSWORD}).json()
        auth = {"Authorization": f"Bearer {tokens['access_token']}"}
        feed = urlsplit(c.post("/v1/me/calendar-token", headers=auth).json()["url"])
        calendar_token = feed.query.split("token=", 1)[1].split("&", 1)[0]
        r = c.get(f"{feed.path}?{feed.query}")
        assert r.status_code == 200, r.text
        feed_request_id = r.headers["x-request-id"]
        assert c.get("/v1/me", headers={"Authorization": "Bearer nope"}).status_code == 401
    text = stderr_path.read_text()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    requests = [line for line in lines if line["logger"] == REQUEST_LOGGER]
    feed_line = next(line for line in requests if line["request_id"] == feed_request_id)
    assert feed_line["method"] == "GET"
    assert feed_line["status"] == 200
    assert feed_line["route"] == feed.path
    assert any(line["route"] == "/v1/me" and line["status"] == 401 for line in requests)
    # uvicorn's own lines (startup, shutdown) are JSON too, and its access log is off.
    assert any(line["logger"].startswith("uvicorn") for line in lines)
    assert not any(line["logger"] == "uvicorn.access" for line in lines)
    for secret in (calendar_token, email, PASSWORD, tokens["access_token"], tokens["refresh_token"]):
        assert secret not in text
