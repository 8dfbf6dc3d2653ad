from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from tests.conftest import assert_problem


async def test_unknown_route_is_a_problem(client: AsyncClient) -> None:
    body = assert_problem(await client.get("/v1/nothing-here"), 404, "not_found")
    assert body["type"] == "urn:parkshare:problem:not_found"
    assert body["title"] == "Not Found"


async def test_wrong_method_is_a_problem(client: AsyncClient) -> None:
    r = await client.delete("/v1/auth/login")
    assert_problem(r, 405, "method_not_allowed")
    assert "POST" in r.headers["allow"]


@pytest.mark.parametrize(
    "body",
    [b'{"email": "x@example.org", ', b"{'email': 1}", b"\xff\xfe{}", b'{"email": "\xc3\x28"}', b"nul\x00"],
    ids=["truncated", "single-quoted", "utf-16-bom", "invalid-utf-8", "garbage"],
)
async def test_a_body_that_is_not_json_in_utf8_is_a_400_bad_request(client: AsyncClient, body: bytes) -> None:
    r = await client.post("/v1/auth/login", content=body, headers={"content-type": "application/json"})
    problem = assert_problem(r, 400, "bad_request")
    assert "errors" not in problem


async def test_body_of_the_wrong_type_is_a_422_problem(client: AsyncClient) -> None:
    assert_problem(await client.post("/v1/auth/login", json=["a", "list"]), 422, "validation_error")
    assert_problem(await client.post("/v1/auth/login"), 422, "validation_error")


async def test_unexpected_errors_are_a_500_problem_without_internals(app: FastAPI) -> None:
    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    async with AsyncClient(
        transport=ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
    ) as c:
        r = await c.get("/boom")
    body = assert_problem(r, 500, "internal_error")
    assert "secret" not in r.text
    assert body["detail"] == "an unexpected error occurred"


async def test_a_lost_database_connection_is_a_503_problem(app: FastAPI) -> None:
    # The booking hot path talks to asyncpg directly (app.db.driver_connection): its connection
    # errors are answered like SQLAlchemy's, as a passing unavailability.
    errors = {
        "/closed": asyncpg.InterfaceError("connection is closed"),
        "/gone": asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed in the middle"),
        "/shutdown": asyncpg.exceptions.AdminShutdownError("terminating connection"),
        "/timeout": asyncpg.exceptions.QueryCanceledError("canceling statement due to statement timeout"),
    }

    def failing(error: Exception) -> Callable[[], Awaitable[None]]:
        async def fail() -> None:
            raise error

        return fail

    for path, error in errors.items():
        app.add_api_route(path, failing(error))
    async with AsyncClient(
        transport=ASGITransport(app=app, raise_app_exceptions=False), base_url="http://t"
    ) as c:
        for path in errors:
            r = await c.get(path)
            assert_problem(r, 503, "unavailable")
            assert r.headers["retry-after"] == "5"
