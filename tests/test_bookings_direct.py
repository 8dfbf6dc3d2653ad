"""`POST /v1/bookings` through `app.bookings.direct` answers exactly as FastAPI's route does: each
request here is sent once with the direct route in place and once without it, and the answers
(status, headers, body) must be the same."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from httpx import AsyncClient
from starlette.types import Message

from app.bookings import direct
from app.bookings.schemas import BookingCreate
from app.clock import request_now
from app.ops import metrics
from tests.conftest import START, FakeClock, at, http_scope
from tests.factories import Account, make_account, open_spot

# Differ between any two answers: the request's own id.
_OWN = {"x-request-id"}


@pytest.fixture
def handled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The bookings the direct route answered: FastAPI's route calls the same function, but not
    through `direct`'s name for it."""
    seen: list[str] = []
    route = direct.create_booking

    async def counted(**kwargs: Any) -> Any:
        seen.append(kwargs["body"].spot_id)
        return await route(**kwargs)

    monkeypatch.setattr(direct, "create_booking", counted)
    return seen


@contextlib.contextmanager
def fastapi_only(app: FastAPI) -> Iterator[None]:
    """The app without the direct route, for as long as the block runs."""
    routes = app.router.routes
    index = next(i for i, r in enumerate(routes) if isinstance(r, direct.DirectBookingRoute))
    route = routes.pop(index)
    try:
        yield
    finally:
        routes.insert(index, route)


def answer(r: httpx.Response) -> tuple[int, dict[str, str], Any]:
    headers = {k: v for k, v in r.headers.items() if k not in _OWN}
    try:
        body: Any = r.json()
    except ValueError:
        body = r.content
    return r.status_code, headers, body


async def both(app: FastAPI, client: AsyncClient, **request: Any) -> tuple[Any, Any]:
    """The answer with the direct route, then without it."""
    first = answer(await client.post("/v1/bookings", **request))
    with fastapi_only(app):
        second = answer(await client.post("/v1/bookings", **request))
    return first, second


def body(spot: dict[str, Any], start: float, end: float, **extra: Any) -> dict[str, Any]:
    return {"spot_id": spot["id"], "start": at(start, START), "end": at(end, START), **extra}


async def test_a_booking_is_answered_by_the_direct_route_as_by_fastapis(
    app: FastAPI, client: AsyncClient, clock: FakeClock, alice: Account, bob: Account, handled: list[str]
) -> None:
    spot = await open_spot(client, alice)
    direct_answer = await client.post("/v1/bookings", headers=bob.headers, json=body(spot, 2, 3))
    with fastapi_only(app):
        fastapi_answer = await client.post("/v1/bookings", headers=bob.headers, json=body(spot, 4, 5))
    assert handled == [spot["id"]]
    status, headers, booking = answer(direct_answer)
    assert (status, booking["status"]) == (201, "held"), booking
    other_status, other_headers, other = answer(fastapi_answer)
    assert (status, headers) == (other_status, other_headers)
    # The same booking but for its id and its hour.
    assert booking.keys() == other.keys()
    differing = {k for k in booking if booking[k] != other[k]}
    assert differing == {"id", "start", "end"}, differing
    # Both are bookings like any other: read back, and in the driver's list.
    for made in (booking, other):
        read = await client.get(f"/v1/bookings/{made['id']}", headers=bob.headers)
        assert read.json() == made
    listed = (await client.get("/v1/me/bookings", headers=bob.headers)).json()["items"]
    assert {b["id"] for b in listed} == {booking["id"], other["id"]}


async def test_refusals_are_fastapis_own_word_for_word(
    app: FastAPI, client: AsyncClient, clock: FakeClock, alice: Account, bob: Account, handled: list[str]
) -> None:
    spot = await open_spot(client, alice)
    # Taken, so that a booking over it is refused by the engine, after the sign-in and the count.
    assert (await client.post("/v1/bookings", headers=bob.headers, json=body(spot, 2, 4))).status_code == 201
    carol = await make_account(client, "carol")
    handled.clear()
    json_type = {"Content-Type": "application/json"}
    cases: dict[str, dict[str, Any]] = {
        "no token": {"json": body(spot, 6, 7)},
        "not a bearer token": {"json": body(spot, 6, 7), "headers": {"Authorization": "Basic YTpi"}},
        "a bad token": {"json": body(spot, 6, 7), "headers": {"Authorization": "Bearer nonsense"}},
        "a taken slot": {"json": body(spot, 3, 5), "headers": carol.headers},
        "an unknown spot": {"json": {**body(spot, 6, 7), "spot_id": "nope"}, "headers": carol.headers},
        "the owner's own spot": {"json": body(spot, 6, 7), "headers": alice.headers},
        "off the grid": {"json": body(spot, 6.1, 7), "headers": carol.headers},
        "an empty key": {"json": body(spot, 3, 5), "headers": {**carol.headers, "Idempotency-Key": ""}},
        "a field too many": {"json": body(spot, 6, 7, color="red"), "headers": carol.headers},
        "no spot": {"json": {"start": at(6, START), "end": at(7, START)}, "headers": carol.headers},
        "a NUL": {"json": {**body(spot, 6, 7), "spot_id": "a\x00b"}, "headers": carol.headers},
        "a naive time": {
            "json": {**body(spot, 6, 7), "start": "2026-11-23T14:00:00"},
            "headers": carol.headers,
        },
        "a year 0001": {
            "json": {**body(spot, 6, 7), "start": "0001-01-01T00:00:00Z"},
            "headers": carol.headers,
        },
        "a list": {"content": b"[]", "headers": {**carol.headers, **json_type}},
        "no body": {"content": b"", "headers": {**carol.headers, **json_type}},
        "not JSON": {"content": b'{"spot_id": ', "headers": {**carol.headers, **json_type}},
        "not UTF-8": {"content": b'{"spot_id": "\xff"}', "headers": {**carol.headers, **json_type}},
        "nested too deep": {
            "content": b"[" * 100_000 + b"]" * 100_000,
            "headers": {**carol.headers, **json_type},
        },
        "digits past Python's limit": {
            "content": b'{"spot_id": 1' + b"0" * 5000 + b"}",
            "headers": {**carol.headers, **json_type},
        },
        "a number for a time": {
            "content": json.dumps({**body(spot, 6, 7), "start": 10**30}).encode(),
            "headers": {**carol.headers, **json_type},
        },
        "plain text": {
            "content": json.dumps(body(spot, 6, 7)).encode(),
            "headers": {**carol.headers, "Content-Type": "text/plain"},
        },
        "no content type": {"content": json.dumps(body(spot, 6, 7)).encode(), "headers": carol.headers},
    }
    for name, request in cases.items():
        with_direct, without = await both(app, client, **request)
        assert with_direct == without, name
        assert with_direct[0] >= 400, (name, with_direct)
    # The well-formed ones signed in were the direct route's to answer (those without a valid
    # token were refused by it before the route function); the rest went on to FastAPI's.
    assert len(handled) == 5, handled
    # Refused, every one: carol has booked nothing.
    assert (await client.get("/v1/me/bookings", headers=carol.headers)).json()["items"] == []


async def test_a_retry_with_the_same_key_is_replayed_whichever_route_answered_first(
    app: FastAPI, client: AsyncClient, clock: FakeClock, alice: Account, bob: Account, handled: list[str]
) -> None:
    spot = await open_spot(client, alice)
    headers = {**bob.headers, "Idempotency-Key": "k-1"}
    first = await client.post("/v1/bookings", headers=headers, json=body(spot, 2, 3))
    assert first.status_code == 201, first.text
    with fastapi_only(app):
        again = await client.post("/v1/bookings", headers=headers, json=body(spot, 2, 3))
    replayed = await client.post("/v1/bookings", headers=headers, json=body(spot, 2, 3))
    assert again.json() == replayed.json() == first.json()
    assert again.headers["idempotent-replayed"] == replayed.headers["idempotent-replayed"] == "true"
    reused = await both(app, client, headers=headers, json=body(spot, 5, 6))
    assert reused[0] == reused[1]
    assert reused[0][0] == 422
    assert reused[0][2]["code"] == "idempotency_key_reused"
    assert len(handled) == 3


async def test_a_body_in_pieces_is_read_whole(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account, handled: list[str]
) -> None:
    spot = await open_spot(client, alice)
    raw = json.dumps(body(spot, 2, 3)).encode()

    async def pieces() -> AsyncIterator[bytes]:
        for i in range(0, len(raw), 7):
            yield raw[i : i + 7]

    r = await client.post(
        "/v1/bookings", headers={**bob.headers, "Content-Type": "application/json"}, content=pieces()
    )
    assert r.status_code == 201, r.text
    assert r.json()["start"] == at(2, START)
    assert handled == [spot["id"]]


async def _asgi(app: FastAPI, headers: list[tuple[bytes, bytes]], messages: list[Message]) -> list[Message]:
    """What the app sends for a POST /v1/bookings whose client sends `messages`."""
    scope = http_scope("POST", "/v1/bookings", headers)
    pending = iter(messages)
    sent: list[Message] = []

    async def receive() -> Message:
        return next(pending, {"type": "http.disconnect"})

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent


async def test_a_client_gone_before_its_body_ended_is_answered_as_fastapi_answers_it(
    app: FastAPI, client: AsyncClient, clock: FakeClock, alice: Account, bob: Account, handled: list[str]
) -> None:
    spot = await open_spot(client, alice)
    raw = json.dumps(body(spot, 2, 3)).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"authorization", bob.headers["Authorization"].encode()),
    ]
    cut = [{"type": "http.request", "body": raw[:10], "more_body": True}, {"type": "http.disconnect"}]
    with_direct = await _asgi(app, headers, cut)
    with fastapi_only(app):
        without = await _asgi(app, headers, cut)

    def status(sent: list[Message]) -> list[int]:
        return [m["status"] for m in sent if m["type"] == "http.response.start"]

    assert status(with_direct) == status(without)
    assert handled == []
    # Nothing was booked.
    mine = (await client.get("/v1/me/bookings", headers=bob.headers)).json()["items"]
    assert mine == []


async def test_the_metrics_name_fastapis_route(
    client: AsyncClient, clock: FakeClock, alice: Account, bob: Account, handled: list[str]
) -> None:
    spot = await open_spot(client, alice)
    counted = metrics.REQUESTS.labels("POST", "/v1/bookings", "201")
    before = counted._value.get()
    r = await client.post("/v1/bookings", headers=bob.headers, json=body(spot, 2, 3))
    assert r.status_code == 201, r.text
    assert handled == [spot["id"]]
    assert counted._value.get() == before + 1


async def test_with_overridden_dependencies_fastapi_answers(
    app: FastAPI, client: AsyncClient, clock: FakeClock, alice: Account, bob: Account, handled: list[str]
) -> None:
    spot = await open_spot(client, alice)
    app.dependency_overrides[request_now] = lambda: START + timedelta(hours=1)
    r = await client.post("/v1/bookings", headers=bob.headers, json=body(spot, 2, 3))
    assert r.status_code == 201, r.text
    # The override applied: the booking was made at its time, by FastAPI's route.
    assert r.json()["events"][0]["at"] == at(1, START)
    assert handled == []


def test_a_route_that_takes_other_parameters_is_refused_at_start() -> None:
    router = APIRouter()

    @router.post("/v1/bookings")
    async def create_booking(body: BookingCreate, vehicle_hint: str | None = None) -> None:
        return None

    with pytest.raises(RuntimeError, match="the direct route passes"):
        direct.direct_route(router)
