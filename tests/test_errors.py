from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import asyncpg
import pytest
import uvicorn
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from app.errors import MAX_LISTED_ERRORS
from tests.conftest import assert_problem, http_scope
from tests.factories import Account


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
    # The booking hot path talks to asyncpg directly (app.db.raw_connection): its connection
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


async def test_the_405_allow_header_names_every_method_of_the_path(
    client: AsyncClient, alice: Account
) -> None:
    # GET, PATCH and DELETE of a spot are three routes; the answer names them all.
    r = await client.put("/v1/spots/00000000-0000-0000-0000-000000000000", headers=alice.headers)
    assert_problem(r, 405, "method_not_allowed")
    assert set(r.headers["allow"].split(", ")) == {"GET", "PATCH", "DELETE"}
    r = await client.post("/v1/me", headers=alice.headers)
    assert_problem(r, 405, "method_not_allowed")
    assert set(r.headers["allow"].split(", ")) == {"GET", "PATCH", "DELETE"}


async def test_a_422_lists_at_most_twenty_problems_and_says_how_many_more(client: AsyncClient) -> None:
    body = {f"k{i:x}": 0 for i in range(100_000)}
    content = json.dumps(body, separators=(",", ":")).encode()
    assert len(content) < 1_048_576
    r = await client.post("/v1/auth/login", content=content, headers={"content-type": "application/json"})
    problem = assert_problem(r, 422, "validation_error")
    assert len(problem["errors"]) == MAX_LISTED_ERRORS == 20
    assert "more problems not listed" in problem["detail"]
    assert len(r.content) < 10_000


async def call_asgi(
    app: FastAPI, chunks: Iterator[bytes], headers: list[tuple[bytes, bytes]]
) -> tuple[int, dict[str, Any], int]:
    """POSTs a body that arrives in `chunks` straight over ASGI; the status, the problem, and how
    many chunks the app took."""
    taken = 0
    messages: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal taken
        chunk = next(chunks, None)
        if chunk is None:
            return {"type": "http.request", "body": b"", "more_body": False}
        taken += 1
        return {"type": "http.request", "body": chunk, "more_body": True}

    async def send(message: dict[str, Any]) -> None:
        messages.append(message)

    scope = http_scope("POST", "/v1/auth/login", [(b"content-type", b"application/json"), *headers])
    await app(scope, receive, send)
    start = next(m for m in messages if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
    response_headers = {k.decode(): v.decode() for k, v in start["headers"]}
    assert response_headers["content-type"] == "application/problem+json"
    return start["status"], json.loads(body), taken


CHUNK = b" " * 65_536  # JSON allows any amount of whitespace: a large body that is still JSON


async def test_a_body_declared_too_large_is_refused_before_it_is_read(app: FastAPI) -> None:
    fifty_mb = itertools.repeat(CHUNK, 50 * 16)
    status, problem, taken = await call_asgi(app, fifty_mb, [(b"content-length", b"52428800")])
    assert (status, problem["code"]) == (413, "payload_too_large")
    assert taken == 0


async def test_a_streamed_body_is_refused_once_it_passes_the_limit(app: FastAPI) -> None:
    fifty_mb = itertools.repeat(CHUNK, 50 * 16)
    status, problem, taken = await call_asgi(app, fifty_mb, [(b"transfer-encoding", b"chunked")])
    assert (status, problem["code"]) == (413, "payload_too_large")
    assert taken == 17  # 1 MiB is 16 chunks: the 17th passes the limit, and nothing more is read


async def test_a_body_within_the_limit_is_read(app: FastAPI) -> None:
    body = b'{"email": "x@example.org", "password": "wrong password"}' + b" " * (1_048_576 - 100)
    status, problem, _ = await call_asgi(app, iter([body]), [(b"content-length", str(len(body)).encode())])
    assert (status, problem["code"]) == (401, "invalid_credentials")


@contextlib.asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[int]:
    """`app` under a real uvicorn on a free loopback port, in this event loop."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, lifespan="off", log_level="critical")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        for _ in range(500):
            if server.started:
                break
            await asyncio.sleep(0.01)
        assert server.started
        yield server.servers[0].sockets[0].getsockname()[1]
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, timeout=10)


async def read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
    lines = head.decode().split("\r\n")
    length = next(int(line.split(":")[1]) for line in lines if line.lower().startswith("content-length:"))
    return int(lines[0].split()[1]), await asyncio.wait_for(reader.readexactly(length), timeout=10)


@pytest.mark.slow  # a real uvicorn server
async def test_a_500_is_an_answer_and_the_keep_alive_connection_stays_usable(app: FastAPI) -> None:
    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    async with serving(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for path in ("/boom", "/healthz", "/boom", "/healthz"):
                writer.write(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
                await writer.drain()
                status, body = await read_response(reader)
                if path == "/boom":
                    assert status == 500
                    assert json.loads(body)["code"] == "internal_error"
                    assert b"secret" not in body
                else:
                    assert status == 200
        finally:
            writer.close()
