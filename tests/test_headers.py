"""Headers for browsers: security headers on every answer, `no-store` on answers to authorized
requests, CORS only for the configured origins."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
from httpx import ASGITransport, AsyncClient
from pydantic import ValidationError

from app.db import Database
from app.main import create_app
from app.openapi import DOCS_ASSETS
from app.settings import Settings
from tests.conftest import assert_problem
from tests.factories import Account

ORIGIN = "https://app.example.org"


def assert_security_headers(r: httpx.Response) -> None:
    assert r.headers["x-content-type-options"] == "nosniff", r.headers
    assert r.headers["referrer-policy"] == "no-referrer", r.headers


async def test_every_answer_has_the_security_headers(client: AsyncClient, alice: Account) -> None:
    answers = {
        200: await client.get("/healthz"),
        401: await client.get("/v1/me"),
        404: await client.get("/no/such/route"),
        413: await client.post("/v1/auth/login", content=b"x" * (2 * 1024 * 1024)),
        422: await client.post("/v1/auth/login", json={}),
        405: await client.delete("/healthz"),
    }
    for status, r in answers.items():
        assert r.status_code == status, (status, r.text)
        assert_security_headers(r)
        assert r.headers["x-request-id"]
    assert_problem(answers[401], 401, answers[401].json()["code"])
    assert_problem(answers[413], 413, "payload_too_large")
    assert_problem(answers[422], 422, "validation_error")
    for page in ("/docs", f"{DOCS_ASSETS}/swagger-ui.css"):
        docs = await client.get(page)
        assert docs.status_code == 200, page
        assert_security_headers(docs)
    me = await client.get("/v1/me", headers=alice.headers)
    assert me.status_code == 200
    assert_security_headers(me)


async def test_no_store_only_on_answers_to_authorized_requests(client: AsyncClient, alice: Account) -> None:
    me = await client.get("/v1/me", headers=alice.headers)
    assert me.headers["cache-control"] == "no-store"
    # A refused token too: the answer was to a request that carried credentials.
    refused = await client.get("/v1/me", headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401
    assert refused.headers["cache-control"] == "no-store"
    anonymous = await client.get("/healthz")
    assert "cache-control" not in anonymous.headers
    public_key = await client.get("/v1/push/vapid-public-key")
    assert public_key.headers["cache-control"] == "public, max-age=3600"


async def test_a_routes_own_cache_control_is_kept(client: AsyncClient, alice: Account) -> None:
    key = await client.get("/v1/push/vapid-public-key", headers=alice.headers)
    assert key.status_code == 200
    assert key.headers["cache-control"] == "public, max-age=3600"
    r = await client.post("/v1/me/calendar-token", headers=alice.headers)
    assert r.status_code == 200, r.text
    feed = urlsplit(r.json()["url"])
    answer = await client.get(f"{feed.path}?{feed.query}", headers=alice.headers)
    assert answer.status_code == 200
    assert answer.headers["cache-control"] == "private, max-age=300"
    assert_security_headers(answer)


@pytest.fixture
async def cors_client(settings: Settings, db: Database) -> AsyncIterator[AsyncClient]:
    app = create_app(settings.model_copy(update={"cors_origins": ORIGIN}), database=db)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as c:
        yield c


def _preflight(origin: str) -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, idempotency-key",
    }


async def test_cors_allows_a_configured_origin(cors_client: AsyncClient) -> None:
    r = await cors_client.options("/v1/bookings", headers=_preflight(ORIGIN))
    assert r.status_code == 200, r.text
    assert r.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in r.headers["access-control-allow-methods"]
    allowed = r.headers["access-control-allow-headers"].lower()
    for header in ("authorization", "content-type", "idempotency-key", "if-match", "last-event-id"):
        assert header in allowed
    assert "access-control-allow-credentials" not in r.headers
    assert_security_headers(r)
    simple = await cors_client.get("/healthz", headers={"Origin": ORIGIN})
    assert simple.headers["access-control-allow-origin"] == ORIGIN
    exposed = simple.headers["access-control-expose-headers"].lower()
    for header in ("etag", "x-request-id", "retry-after", "idempotent-replayed", "location"):
        assert header in exposed


async def test_cors_answers_nothing_to_another_origin(cors_client: AsyncClient) -> None:
    r = await cors_client.options("/v1/bookings", headers=_preflight("https://evil.example.net"))
    assert r.status_code == 400
    assert "access-control-allow-origin" not in r.headers
    simple = await cors_client.get("/healthz", headers={"Origin": "https://evil.example.net"})
    assert simple.status_code == 200
    assert "access-control-allow-origin" not in simple.headers


async def test_without_cors_origins_there_are_no_cors_headers(client: AsyncClient) -> None:
    r = await client.options("/v1/bookings", headers=_preflight(ORIGIN))
    assert r.status_code == 405
    assert not [name for name in r.headers if name.lower().startswith("access-control-")]
    simple = await client.get("/healthz", headers={"Origin": ORIGIN})
    assert not [name for name in simple.headers if name.lower().startswith("access-control-")]


def test_cors_origins_are_validated() -> None:
    settings = Settings(_env_file=None, cors_origins=f" {ORIGIN}/, http://localhost:5173 ,")  # type: ignore[call-arg]
    assert settings.cors_origin_list == [ORIGIN, "http://localhost:5173"]
    assert Settings(_env_file=None).cors_origin_list == []  # type: ignore[call-arg]
    for bad in ("app.example.org", "https://app.example.org/path", "ftp://x.example"):
        with pytest.raises(ValidationError) as raised:
            Settings(_env_file=None, cors_origins=bad)  # type: ignore[call-arg]
        assert "CORS_ORIGINS" in str(raised.value)
