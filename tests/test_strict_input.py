"""No input is a 500: text, times, numbers and currencies are parsed strictly, and every refusal is
a 422 naming where in the request the problem lies."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

import pytest
from httpx import AsyncClient

from booking.states import Status
from tests.conftest import START, assert_problem, at
from tests.factories import Account, booked, make_account, open_spot, spot_body


@dataclass
class World:
    client: AsyncClient
    owner: Account
    driver: Account
    spot: dict[str, Any]
    booking: dict[str, Any]  # confirmed, the driver's, from START + 2 h to + 4 h

    async def send(self, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any) -> Any:
        who = self.owner if path.startswith("/v1/spots/") else self.driver
        headers = {**who.headers, **(headers or {})}
        path = path.format(spot=self.spot["id"], booking=self.booking["id"])
        return await self.client.request(method, path, headers=headers, **kwargs)


@pytest.fixture
async def world(client: AsyncClient) -> World:
    owner = await make_account(client, "owner")
    driver = await make_account(client, "driver")
    spot = await open_spot(client, owner)
    booking = await booked(client, driver, spot, 2, 4)
    return World(client, owner, driver, spot, booking)


def assert_invalid(response: Any, *loc: str) -> dict[str, Any]:
    problem = assert_problem(response, 422, "validation_error")
    assert [e["loc"] for e in problem["errors"]] == [list(loc)], problem
    return problem


def span(start: Any = None, end: Any = None) -> dict[str, Any]:
    return {"start": at(30, START) if start is None else start, "end": at(32, START) if end is None else end}


# Every route that takes text, with the body that puts `value` into it and where it lands.
TEXT_FIELDS = [
    ("POST", "/v1/spots", lambda v: spot_body(title=v), ("title",)),
    ("POST", "/v1/spots", lambda v: spot_body(description=v), ("description",)),
    ("POST", "/v1/spots", lambda v: spot_body(access_instructions=v), ("access_instructions",)),
    ("POST", "/v1/spots", lambda v: spot_body(timezone=v), ("timezone",)),
    (
        "POST",
        "/v1/spots",
        lambda v: spot_body(address={**spot_body()["address"], "street": v}),
        ("address", "street"),
    ),
    (
        "POST",
        "/v1/spots",
        lambda v: spot_body(address={**spot_body()["address"], "city": v}),
        ("address", "city"),
    ),
    ("PATCH", "/v1/spots/{spot}", lambda v: {"title": v}, ("title",)),
    ("PATCH", "/v1/spots/{spot}", lambda v: {"address": {"district": v}}, ("address", "district")),
    ("POST", "/v1/spots/{spot}/availability/blackouts", lambda v: {**span(), "reason": v}, ("reason",)),
    ("PATCH", "/v1/me", lambda v: {"display_name": v}, ("display_name",)),
    ("POST", "/v1/me/vehicles", lambda v: {"license_plate": v}, ("license_plate",)),
    ("POST", "/v1/bookings/{booking}/cancel", lambda v: {"reason": v}, ("reason",)),
    (
        "POST",
        "/v1/auth/register",
        lambda v: {"email": "new@example.org", "password": "long enough password", "display_name": v},
        ("display_name",),
    ),
]
TEXT_IDS = [f"{m} {p} {'.'.join(loc)}" for m, p, _, loc in TEXT_FIELDS]


@pytest.mark.parametrize(("method", "path", "body", "loc"), TEXT_FIELDS, ids=TEXT_IDS)
async def test_nul_and_control_characters_in_text_are_refused(
    world: World, method: str, path: str, body: Any, loc: tuple[str, ...]
) -> None:
    for value in ["Nul\x00here", "\x00", "Escape \x1b[31m", "Del\x7f", "Lone \ud800 surrogate"]:
        # As JSON escapes (`\u0000`, `\ud800`), which is how a client sends them.
        content = json.dumps(body(value))
        r = await world.send(method, path, content=content, headers={"content-type": "application/json"})
        problem = assert_invalid(r, "body", *loc)
        assert problem["errors"][0]["type"] == "string_forbidden_character", value
    if loc not in {("description",), ("access_instructions",)}:  # these may span lines
        for value in ["two\nlines", "tab\there", "line\u2028separator"]:
            assert_invalid(await world.send(method, path, json=body(value)), "body", *loc)


@pytest.mark.parametrize(
    "value",
    ["\u200b\u200b", "\u202e", "\u2066\u2069", "\u00a0\u2003", "\u3164", "\u2800", "\ufeff", "\u0301\u0301"],
    ids=[
        "zero-width",
        "bidi-override",
        "bidi-isolates",
        "spaces",
        "hangul-filler",
        "braille-blank",
        "bom",
        "marks",
    ],
)
async def test_a_name_of_only_invisible_characters_is_refused(world: World, value: str) -> None:
    r = await world.send("PATCH", "/v1/me", json={"display_name": value})
    problem = assert_invalid(r, "body", "display_name")
    assert problem["errors"][0]["type"] in {"string_invisible", "string_too_short"}
    assert_invalid(await world.send("POST", "/v1/spots", json=spot_body(title=value)), "body", "title")


async def test_real_text_in_any_script_is_kept_as_written(world: World) -> None:
    # A combining accent, right-to-left text with its mark, an emoji with a zero-width joiner.
    for name in ["Jose\u0301", "\u05e9\u05dc\u05d5\u05dd\u200f", "Ana \U0001f469\u200d\U0001f527"]:
        r = await world.send("PATCH", "/v1/me", json={"display_name": name})
        assert r.status_code == 200, r.text
        assert r.json()["display_name"] == name
    text = "Through the gate,\n\tthen left.\r\nCode 4711"
    r = await world.send("POST", "/v1/spots", json=spot_body(access_instructions=text.replace("\r", "")))
    assert r.status_code == 201, r.text
    assert r.json()["access_instructions"] == text.replace("\r", "")


# Every time a client sends: (method, path, how `value` is placed, where it lands).
TIME_INPUTS = [
    ("POST", "/v1/bookings", "body", "start"),
    ("POST", "/v1/bookings", "body", "end"),
    ("POST", "/v1/quotes", "body", "start"),
    ("POST", "/v1/quotes", "body", "end"),
    ("POST", "/v1/bookings/{booking}/extend", "body", "end"),
    ("POST", "/v1/spots/{spot}/availability/windows", "body", "start"),
    ("POST", "/v1/spots/{spot}/availability/blackouts", "body", "end"),
    ("GET", "/v1/spots/{spot}/availability", "query", "from"),
    ("GET", "/v1/spots/{spot}/availability", "query", "to"),
    ("GET", "/v1/search", "query", "start"),
    ("GET", "/v1/search", "query", "end"),
    ("GET", "/v1/me/bookings", "query", "from"),
    ("GET", "/v1/me/bookings", "query", "to"),
]


async def send_time(world: World, method: str, path: str, where: str, name: str, value: Any) -> Any:
    """The request with valid values everywhere but `name`."""
    if where == "body":
        body: dict[str, Any] = span()
        if path in {"/v1/bookings", "/v1/quotes"}:
            body["spot_id"] = world.spot["id"]
        if path.endswith("/extend"):
            body = {"end": at(5, START)}
        body[name] = value
        return await world.send(method, path, json=body)
    params: dict[str, Any] = {
        "/v1/search": {
            "lat": 51.5,
            "lon": 7.45,
            "radius_m": 1000,
            "start": at(30, START),
            "end": at(32, START),
        },
        "/v1/me/bookings": {},
        "/v1/spots/{spot}/availability": {"from": at(30, START), "to": at(32, START)},
    }[path]
    return await world.send(method, path, params={**params, name: value})


OUT_OF_RANGE = [
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:30:00+01:00",
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:30:00-01:00",
    "1999-12-31T23:59:59Z",
    "2101-01-01T00:00:00Z",
]
LAX_TIMES = [
    1795420800,
    "1795420800",
    1795420800.5,
    "2026-11-24 14:00:00Z",
    "2026-11-24",
    "2026-11-24T14:00:00",
    "2026-11-24T14:00Z",
    "2026-W48-2T14:00:00Z",
    "20261124T140000Z",
    "2026-11-24T14:00:00+0100",
    "2026-11-24T14:00:00 +01:00",
    "2026-11-30T25:00:00Z",
    "2026-02-30T10:00:00Z",
    "2026-11-24T14:00:00+24:00",
    "",
]


@pytest.mark.parametrize(
    ("method", "path", "where", "name"), TIME_INPUTS, ids=[f"{p} {n}" for _, p, _, n in TIME_INPUTS]
)
async def test_every_time_is_rfc3339_with_an_offset_in_the_years_2000_to_2100(
    world: World, method: str, path: str, where: str, name: str
) -> None:
    for value in OUT_OF_RANGE:
        problem = assert_invalid(await send_time(world, method, path, where, name, value), where, name)
        assert problem["errors"][0]["type"] == "datetime_out_of_range", value
    for lax in LAX_TIMES:
        sent = str(lax) if where == "query" else lax
        problem = assert_invalid(await send_time(world, method, path, where, name, sent), where, name)
        assert problem["errors"][0]["type"] in {"datetime_format", "datetime_parsing"}, lax


async def test_rfc3339_offsets_and_fractions_are_taken(world: World) -> None:
    # 10:00 and 12:00 in Berlin (+01:00) are 09:00 and 11:00 UTC, lower-case separators allowed.
    r = await world.send(
        "POST",
        "/v1/quotes",
        json={
            "spot_id": world.spot["id"],
            "start": "2026-11-24t10:00:00.000+01:00",
            "end": "2026-11-24T10:00:00z",
        },
    )
    assert r.status_code == 200, r.text
    assert r.json()["total_cents"] == 250


@pytest.mark.parametrize(
    "value", ["0001-01-01", "9999-12-31", "2026-11-24T00:00:00Z", "2026-13-01", "24.11.2026", 20261124]
)
@pytest.mark.parametrize("name", ["valid_from", "valid_until"])
async def test_rule_dates_are_rfc3339_dates_within_the_years_2000_to_2100(
    world: World, name: str, value: Any
) -> None:
    body = {"weekdays": ["mon"], "start_time": "08:00", "end_time": "18:00", name: value}
    assert_invalid(await world.send("POST", "/v1/spots/{spot}/availability/rules", json=body), "body", name)


# Numbers: strict types, and an upper bound everywhere.
NUMBER_CASES = [
    ("/v1/spots", spot_body(pricing={"hourly_cents": "250"}), ("pricing", "hourly_cents")),
    ("/v1/spots", spot_body(pricing={"hourly_cents": 250.0}), ("pricing", "hourly_cents")),
    ("/v1/spots", spot_body(pricing={"hourly_cents": True}), ("pricing", "hourly_cents")),
    ("/v1/spots", spot_body(pricing={"hourly_cents": 10**30}), ("pricing", "hourly_cents")),
    (
        "/v1/spots",
        spot_body(pricing={"hourly_cents": 250, "daily_cap_cents": 10**20}),
        ("pricing", "daily_cap_cents"),
    ),
    ("/v1/spots", spot_body(location={"lat": "51.5", "lon": 7.45}), ("location", "lat")),
    ("/v1/spots", spot_body(features={"covered": "true"}), ("features", "covered")),
    ("/v1/spots", spot_body(features={"lit": 1}), ("features", "lit")),
    (
        "/v1/spots",
        spot_body(features={"ev_charger": {"connector": "type2", "power_kw": "11"}}),
        ("features", "ev_charger", "power_kw"),
    ),
    (
        "/v1/spots",
        spot_body(max_vehicle={"length_cm": "480", "width_cm": 200, "height_cm": 200}),
        ("max_vehicle", "length_cm"),
    ),
    ("/v1/spots", spot_body(rules={"buffer_min": "15"}), ("rules", "buffer_min")),
    ("/v1/spots", spot_body(rules={"granularity_min": 10**19}), ("rules", "granularity_min")),
    ("/v1/spots", spot_body(rules={"instant_book": "yes"}), ("rules", "instant_book")),
    ("/v1/me/vehicles", {"license_plate": "DO PS 1", "electric": "yes"}, ("electric",)),
    ("/v1/me/vehicles", {"license_plate": "DO PS 1", "electric": 0}, ("electric",)),
    ("/v1/me/vehicles", {"license_plate": "DO PS 1", "height_cm": "200"}, ("height_cm",)),
    ("/v1/me/vehicles", {"license_plate": "DO PS 1", "length_cm": 10**100}, ("length_cm",)),
    ("/v1/me/vehicles", {"license_plate": 1234}, ("license_plate",)),
]


@pytest.mark.parametrize(
    ("path", "body", "loc"), NUMBER_CASES, ids=[".".join(c[2]) + f"={i}" for i, c in enumerate(NUMBER_CASES)]
)
async def test_numbers_and_booleans_are_strict_and_bounded(
    client: AsyncClient, alice: Account, path: str, body: dict[str, Any], loc: tuple[str, ...]
) -> None:
    assert_invalid(await client.post(path, json=body, headers=alice.headers), "body", *loc)


async def test_patch_is_as_strict_as_create(world: World) -> None:
    r = await world.send("PATCH", "/v1/spots/{spot}", json={"pricing": {"hourly_cents": "300"}})
    assert_invalid(r, "body", "pricing", "hourly_cents")
    r = await world.send("PATCH", "/v1/spots/{spot}", json={"features": {"covered": "false"}})
    assert_invalid(r, "body", "features", "covered")
    r = await world.send("PATCH", "/v1/spots/{spot}", json={"rules": {"buffer_min": 30}})
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("max_total_cents", "100000000000000000000"),
        ("max_total_cents", "-1"),
        ("radius_m", "1e400"),
        ("radius_m", "nan"),
        ("lat", "inf"),
        ("limit", "100000000000000000000"),
    ],
)
async def test_search_parameters_are_bounded(client: AsyncClient, name: str, value: str) -> None:
    params = {"lat": 51.5, "lon": 7.45, "radius_m": 1000, "start": at(30, START), "end": at(32, START)}
    r = await client.get("/v1/search", params={**params, name: value})
    assert_invalid(r, "query", name)


@pytest.mark.parametrize("currency", ["XYZ", "eur", "EU", "EURO", "XXX", "XTS", "HRK", 978])
async def test_only_iso_4217_currencies_in_use_are_taken(
    client: AsyncClient, alice: Account, currency: Any
) -> None:
    body = spot_body(pricing={"hourly_cents": 250, "currency": currency})
    r = await client.post("/v1/spots", json=body, headers=alice.headers)
    assert_invalid(r, "body", "pricing", "currency")


async def test_a_real_currency_is_taken(world: World) -> None:
    r = await world.send(
        "POST", "/v1/spots", json=spot_body(pricing={"hourly_cents": 400, "currency": "CHF"})
    )
    assert r.status_code == 201, r.text
    assert r.json()["pricing"]["currency"] == "CHF"


# Where a problem lies: the same `loc` shape whether pydantic or a service found it.
async def test_service_checks_name_where_the_problem_lies(world: World) -> None:
    client, driver = world.client, world.driver
    r = await client.get(
        f"/v1/spots/{world.spot['id']}/availability", params={"from": at(32, START), "to": at(30, START)}
    )
    assert_invalid(r, "query", "to")
    r = await client.get("/v1/me/bookings", params={"status": "bogus"}, headers=driver.headers)
    assert_invalid(r, "query", "status")
    r = await client.get("/v1/me/bookings", params={"cursor": "not-a-cursor"}, headers=driver.headers)
    assert_invalid(r, "query", "cursor")
    r = await client.get(
        "/v1/me/bookings", params={"status": ",".join(["held"] * (len(Status) + 1))}, headers=driver.headers
    )
    assert_invalid(r, "query", "status")
    search = {"lat": 51.5, "lon": 7.45, "radius_m": 1000, "start": at(30, START), "end": at(29, START)}
    # An interval the wrong way round is the booking rules' refusal, as for a booking.
    reversed_ = assert_problem(await client.get("/v1/search", params=search), 422, "invalid_interval")
    assert reversed_["reason"] == "end_before_start"
    search["end"] = at(32, START)
    r = await client.get("/v1/search", params={**search, "vehicle_id": "nope"}, headers=driver.headers)
    assert_invalid(r, "query", "vehicle_id")
    r = await client.get("/v1/search", params={**search, "cursor": "bm9wZQ"})
    assert_invalid(r, "query", "cursor")
    booking = {"spot_id": world.spot["id"], "vehicle_id": "nope", **span()}
    assert_invalid(await world.send("POST", "/v1/bookings", json=booking), "body", "vehicle_id")
    r = await client.post(
        "/v1/bookings",
        json=span(at(40, START), at(41, START)) | {"spot_id": world.spot["id"]},
        headers={**driver.headers, "Idempotency-Key": "k" * 256},
    )
    assert_invalid(r, "header", "Idempotency-Key")
    r = await world.send("PATCH", "/v1/spots/{spot}", json=["not", "an", "object"])
    assert_invalid(r, "body")
    r = await world.send("PATCH", "/v1/spots/{spot}", json={"pricing": {"hourly_cents": -1}})
    assert_invalid(r, "body", "pricing", "hourly_cents")
    r = await world.send("POST", "/v1/me/vehicles", json={"license_plate": "DO PS 1", "seats": 5})
    assert_invalid(r, "body", "seats")


@pytest.mark.parametrize(
    "position",
    [
        "9999-12-31T23:00:00-05:00",  # past year 9999 once in UTC: an overflow on the way to SQL
        "0001-01-01T00:00:00+05:00",
        "1999-12-31T23:00:00+00:00",  # outside the years a request may name
        "2026-11-23T08:00:00",  # naive
    ],
)
@pytest.mark.parametrize("path", ["/v1/me/bookings", "/v1/me/spots", "/v1/me/vehicles"])
async def test_a_forged_list_cursor_is_a_422(world: World, path: str, position: str) -> None:
    raw = json.dumps([position, "00000000-0000-0000-0000-000000000000"]).encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    r = await world.client.get(path, params={"cursor": cursor}, headers=world.driver.headers)
    problem = assert_invalid(r, "query", "cursor")
    assert problem["errors"][0]["type"] == "cursor_invalid"


@pytest.mark.parametrize("value", ["30", True, 30.0])
async def test_reveal_before_min_is_strict(world: World, value: Any) -> None:
    r = await world.send("PATCH", "/v1/spots/{spot}", json={"rules": {"reveal_before_min": value}})
    assert_invalid(r, "body", "rules", "reveal_before_min")
    assert (await world.send("GET", "/v1/spots/{spot}")).json()["rules"]["reveal_before_min"] == 60
