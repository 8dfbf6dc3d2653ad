"""An owner's earnings (docs/api.md, "Earnings"): what counts, by month in local time and by spot,
the platform fee, CSV, and that the lines agree to the cent with the bookings they sum."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from app.db import Database
from app.main import create_app
from app.settings import Settings
from tests.conftest import START, FakeClock, assert_problem, with_clock
from tests.factories import Account, add_rule, book, booked, make_account, make_spot, open_spot

NOVEMBER = {"from": "2026-11-01", "to": "2026-12-01"}
AUTUMN = {"from": "2026-11-01", "to": "2027-01-01"}


async def cancel(client: AsyncClient, who: Account, booking: dict[str, Any]) -> dict[str, Any]:
    r = await client.post(f"/v1/bookings/{booking['id']}/cancel", headers=who.headers, json={})
    assert r.status_code == 200, r.text
    return dict(r.json())


async def owners_week(client: AsyncClient) -> dict[str, Any]:
    """Alice owns two spots (2.50/h, moderate policy); Bob and Carol book them in November and
    December (Berlin time), paid or not."""
    alice = await make_account(client, "alice")
    bob = await make_account(client, "bob")
    carol = await make_account(client, "carol")
    gate = await open_spot(client, alice, cancellation_policy="moderate")
    yard = await open_spot(client, alice, instant_book=False)
    await booked(client, bob, gate, 24, 26)  # 500, kept
    within_a_day = await booked(client, carol, gate, 10, 14)  # 1000, driver cancels: half back
    within_a_day = await cancel(client, carol, within_a_day)
    by_owner = await booked(client, bob, gate, 30, 31)  # 250, owner cancels: all back
    by_owner = await cancel(client, alice, by_owner)
    await booked(client, carol, gate, 40, 42, confirm=False)  # held, never paid
    held_then_cancelled = await booked(client, bob, gate, 44, 45, confirm=False)
    await cancel(client, bob, held_then_cancelled)
    requested = (await book(client, bob, yard, 50, 52)).json()
    r = await client.post(f"/v1/bookings/{requested['id']}/decline", headers=alice.headers, json={})
    assert r.status_code == 200, r.text
    approved = (await book(client, carol, yard, 60, 63)).json()  # 750, approved
    r = await client.post(f"/v1/bookings/{approved['id']}/approve", headers=alice.headers)
    assert r.status_code == 200, r.text
    # 2026-11-30 23:00 UTC is 1 December 00:00 in Berlin: December's.
    december = await booked(client, bob, gate, 7 * 24 + 15, 7 * 24 + 17)  # 500
    return {
        "alice": alice,
        "bob": bob,
        "carol": carol,
        "gate": gate,
        "yard": yard,
        "refunded": within_a_day["refund_cents"],
        "december": december,
    }


def money(line: dict[str, Any]) -> tuple[int, int, int, int, int, int]:
    return (
        line["bookings"],
        line["booked_cents"],
        line["refunded_cents"],
        line["overstay_cents"],
        line["platform_fee_cents"],
        line["net_cents"],
    )


async def test_earnings_by_month_count_paid_bookings_in_local_time(client: AsyncClient) -> None:
    w = await owners_week(client)
    assert w["december"]["start"] == "2026-11-30T23:00:00Z"
    r = await client.get("/v1/me/earnings", headers=w["alice"].headers, params=AUTUMN)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert (doc["from"], doc["to"], doc["group"], doc["platform_fee_percent"]) == (
        "2026-11-01",
        "2027-01-01",
        "month",
        "0",
    )
    assert w["refunded"] == 500
    november, december = doc["items"]
    assert (november["period"], november["currency"], november["spot_id"]) == ("2026-11", "EUR", None)
    # Paid: 500 kept, 1000 half refunded, 250 fully refunded, 750 approved; not the held, the
    # cancelled hold or the declined request.
    assert money(november) == (4, 2500, 750, 0, 0, 1750)
    assert december["period"] == "2026-12"
    assert money(december) == (1, 500, 0, 0, 0, 500)
    [total] = doc["totals"]
    assert money(total) == (5, 3000, 750, 0, 0, 2250)


async def test_earnings_agree_to_the_cent_with_the_owners_bookings(client: AsyncClient) -> None:
    w = await owners_week(client)
    doc = (await client.get("/v1/me/earnings", headers=w["alice"].headers, params=AUTUMN)).json()
    r = await client.get(
        "/v1/me/bookings", headers=w["alice"].headers, params={"role": "owner", "limit": 100}
    )
    paid = [b for b in r.json()["items"] if any(e["status"] == "confirmed" for e in b["events"])]
    assert len(paid) == doc["totals"][0]["bookings"]
    assert sum(b["total_cents"] for b in paid) == doc["totals"][0]["booked_cents"]
    assert sum(b["refund_cents"] or 0 for b in paid) == doc["totals"][0]["refunded_cents"]
    assert sum(line["net_cents"] for line in doc["items"]) == doc["totals"][0]["net_cents"]


async def test_earnings_by_spot(client: AsyncClient) -> None:
    w = await owners_week(client)
    params = {**AUTUMN, "group": "spot"}
    doc = (await client.get("/v1/me/earnings", headers=w["alice"].headers, params=params)).json()
    lines = {line["spot_id"]: line for line in doc["items"]}
    assert set(lines) == {w["gate"]["id"], w["yard"]["id"]}
    assert lines[w["gate"]["id"]]["spot_title"] == w["gate"]["title"]
    assert lines[w["gate"]["id"]]["period"] is None
    assert money(lines[w["gate"]["id"]]) == (4, 2250, 750, 0, 0, 1500)
    assert money(lines[w["yard"]["id"]]) == (1, 750, 0, 0, 0, 750)


@pytest.fixture
async def fee_client(
    settings: Settings, db: Database, request: pytest.FixtureRequest
) -> AsyncIterator[AsyncClient]:
    app: FastAPI = with_clock(
        create_app(settings.model_copy(update={"platform_fee_percent": Decimal("12.5")}), database=db),
        request,
    )
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        yield client


async def test_the_platform_fee_is_taken_per_booking_and_rounded_half_up(fee_client: AsyncClient) -> None:
    w = await owners_week(fee_client)
    doc = (await fee_client.get("/v1/me/earnings", headers=w["alice"].headers, params=NOVEMBER)).json()
    assert doc["platform_fee_percent"] == "12.5"
    [november] = doc["items"]
    # 12.5 % of what each booking kept: 500 -> 62.5 -> 63, 500 -> 63, 0 -> 0, 750 -> 93.75 -> 94.
    assert november["platform_fee_cents"] == 63 + 63 + 0 + 94
    assert november["net_cents"] == 1750 - 220


async def test_earnings_as_csv_hold_the_same_lines(client: AsyncClient) -> None:
    w = await owners_week(client)
    params = {**AUTUMN, "group": "spot"}
    doc = (await client.get("/v1/me/earnings", headers=w["alice"].headers, params=params)).json()
    r = await client.get(
        "/v1/me/earnings", headers={**w["alice"].headers, "Accept": "text/csv"}, params=params
    )
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.headers["content-disposition"] == (
        'attachment; filename="parkshare-earnings-2026-11-01-2027-01-01.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(r.text)))
    assert [row["spot_id"] for row in rows] == [line["spot_id"] for line in doc["items"]]
    for row, line in zip(rows, doc["items"], strict=True):
        assert int(row["net_cents"]) == line["net_cents"]
        assert int(row["booked_cents"]) == line["booked_cents"]
        assert row["period"] == ""


async def test_a_title_that_looks_like_a_formula_is_not_one_in_the_csv(client: AsyncClient) -> None:
    alice = await make_account(client, "alice")
    bob = await make_account(client, "bob")
    spot = await open_spot(client, alice)
    r = await client.patch(
        f"/v1/spots/{spot['id']}",
        headers={**alice.headers, "Content-Type": "application/merge-patch+json", "If-Match": "*"},
        content='{"title": "=HYPERLINK(\\"http://evil.example\\")"}',
    )
    assert r.status_code == 200, r.text
    await booked(client, bob, spot, 24, 25)
    params = {**NOVEMBER, "group": "spot"}
    r = await client.get("/v1/me/earnings", headers={**alice.headers, "Accept": "text/csv"}, params=params)
    [row] = list(csv.DictReader(io.StringIO(r.text)))
    assert row["spot_title"].startswith("'=HYPERLINK")


async def test_earnings_are_only_of_the_callers_spots(client: AsyncClient) -> None:
    w = await owners_week(client)
    for driver in (w["bob"], w["carol"]):
        doc = (await client.get("/v1/me/earnings", headers=driver.headers, params=AUTUMN)).json()
        assert doc["items"] == []
        assert doc["totals"] == []
    assert_problem(await client.get("/v1/me/earnings", params=AUTUMN), 401, "unauthorized")


async def test_the_default_range_is_the_year_up_to_this_months_end(client: AsyncClient) -> None:
    w = await owners_week(client)
    doc = (await client.get("/v1/me/earnings", headers=w["alice"].headers)).json()
    # The fake clock stands in November 2026.
    assert (doc["from"], doc["to"]) == ("2025-12-01", "2026-12-01")
    assert [line["period"] for line in doc["items"]] == ["2026-11"]
    only_from = (
        await client.get("/v1/me/earnings", headers=w["alice"].headers, params={"from": "2026-11-01"})
    ).json()
    assert (only_from["from"], only_from["to"]) == ("2026-11-01", "2027-11-02")
    only_to = (
        await client.get("/v1/me/earnings", headers=w["alice"].headers, params={"to": "2026-12-01"})
    ).json()
    assert (only_to["from"], only_to["to"]) == ("2025-12-01", "2026-12-01")


@pytest.mark.parametrize(
    "params",
    [
        {"from": "2026-12-01", "to": "2026-11-01"},
        {"from": "2026-11-01", "to": "2026-11-01"},
        {"from": "2025-01-01", "to": "2026-01-03"},
        {"from": "2026-13-01", "to": "2027-01-01"},
        {"group": "week"},
        {"from": "0001-01-01", "to": "0001-12-31"},
        {"to": "0001-01-01"},
        {"from": "9999-12-31"},
        {"from": "1999-12-31"},
    ],
)
async def test_a_bad_range_is_a_validation_error(client: AsyncClient, params: dict[str, str]) -> None:
    alice = await make_account(client, "alice")
    r = await client.get("/v1/me/earnings", headers=alice.headers, params=params)
    assert_problem(r, 422, "validation_error")


async def test_the_first_of_the_fake_clock_is_november_2026() -> None:
    # The month arithmetic above counts on it.
    assert START.strftime("%Y-%m") == "2026-11"


async def test_overstay_fees_count_in_the_earnings(client: AsyncClient, clock: FakeClock) -> None:
    alice = await make_account(client, "alice")
    bob = await make_account(client, "bob")
    spot = await open_spot(client, alice)  # 2.50/h, grace 10 min, overstay 3.75/h
    booking = await booked(client, bob, spot, 24, 26)
    clock.advance(hours=24)
    r = await client.post(f"/v1/bookings/{booking['id']}/check-in", headers=bob.headers)
    assert r.status_code == 200, r.text
    clock.advance(hours=2, minutes=25)
    r = await client.post(f"/v1/bookings/{booking['id']}/check-out", headers=bob.headers)
    assert r.status_code == 200, r.text
    overstay = r.json()["overstay_cents"]
    assert overstay == 188
    [line] = (await client.get("/v1/me/earnings", headers=alice.headers, params=NOVEMBER)).json()["items"]
    assert money(line) == (1, 500, 0, overstay, 0, 500 + overstay)


async def test_a_large_booking_with_a_platform_fee_does_not_overflow(fee_client: AsyncClient) -> None:
    alice = await make_account(fee_client, "alice")
    bob = await make_account(fee_client, "bob")
    spot = await make_spot(fee_client, alice, pricing={"hourly_cents": 100_000}, rules={"buffer_min": 0})
    await add_rule(fee_client, alice, spot)
    big = await booked(fee_client, bob, spot, 24, 54)  # 30 h at 1000 EUR/h
    assert big["total_cents"] == 3_000_000
    r = await fee_client.get("/v1/me/earnings", headers=alice.headers, params=NOVEMBER)
    assert r.status_code == 200, r.text
    [line] = r.json()["items"]
    assert (line["platform_fee_cents"], line["net_cents"]) == (375_000, 2_625_000)
