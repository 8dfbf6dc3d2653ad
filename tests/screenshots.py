"""`make screenshots`: the web app's main pages at phone (390x844) and desktop (1280x800) size,
written to docs/screenshots/ (README.md shows them). Not part of the suite (the file name does not
start with `test_`); run as `pytest tests/screenshots.py`.

Like tests/test_web.py: a real server on the test database with the clock fixed at `START`, and
Kreuzviertel-like data made through the API, so the pictures are the same on every run. The map's
tiles point at a closed port (nothing is fetched from OpenStreetMap): the map shows its markers on
a grey ground."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.db import Database
from app.main import create_app
from app.settings import Settings
from tests.browser import (
    DESKTOP,
    PHONE,
    ROOT,
    chrome,
    click,
    ensure_chromium,
    find,
    set_value,
    sign_in,
    wait_for,
)
from tests.conftest import FakeClock
from tests.factories import PASSWORD, add_rule, make_account, make_spot
from tests.live import client_for, live_server

OUT = ROOT / "docs" / "screenshots"
OFFLINE_TILES = "http://127.0.0.1:9/{z}/{x}/{y}.png"
STREETS = [
    "Kreuzstraße",
    "Arneckestraße",
    "Liebigstraße",
    "Große Heimstraße",
    "Lindemannstraße",
    "Sonnenstraße",
]
KINDS = ["Garage", "Hofeinfahrt", "Stellplatz", "Carport", "Tiefgaragenplatz", "Stellplatz"]


@pytest.fixture
async def live(settings: Settings, committed_db: Database) -> AsyncIterator[str]:
    app: FastAPI = create_app(settings.model_copy(update={"tile_url": OFFLINE_TILES}), database=committed_db)
    app.state.clock = FakeClock()
    async with live_server(app) as url:
        yield url


async def demo(http: httpx.AsyncClient) -> dict[str, Any]:
    rng = random.Random(7)
    owner = await make_account(http, "anna")
    spots = []
    for n, (street, kind) in enumerate(zip(STREETS, KINDS, strict=True)):
        spot = await make_spot(
            http,
            owner,
            title=f"{kind} {street}",
            location={
                "lat": round(51.505 + rng.uniform(-0.003, 0.003), 6),
                "lon": round(7.447 + rng.uniform(-0.004, 0.004), 6),
            },
            pricing={"hourly_cents": 150 + 50 * n, "daily_cap_cents": 1500},
            rules={"buffer_min": 0, "cancellation_policy": ["flexible", "moderate", "strict"][n % 3]},
        )
        await add_rule(
            http,
            owner,
            spot,
            {"weekdays": ["mon", "tue", "wed", "thu", "fri"], "start_time": "07:00", "end_time": "20:00"},
        )
        spots.append(spot)
    driver = await make_account(http, "ben")
    for spot, hours in zip((spots[1], spots[4]), ((25, 27), (49, 52)), strict=True):
        r = await http.post(
            "/v1/bookings",
            headers=driver.headers,
            json={
                "spot_id": spot["id"],
                "start": f"2026-11-{23 + hours[0] // 24}T{8 + hours[0] % 24:02d}:00:00Z",
                "end": f"2026-11-{23 + hours[1] // 24}T{8 + hours[1] % 24:02d}:00:00Z",
            },
        )
        assert r.status_code == 201, r.text
        assert (
            await http.post(f"/v1/bookings/{r.json()['id']}/confirm", headers=driver.headers)
        ).status_code == 200
    return {"owner": owner, "driver": driver, "spots": spots}


def shoot(
    base: str, world: dict[str, Any], paths: tuple[str, str], size: tuple[int, int], name: str
) -> list[Path]:
    session = chrome(paths, size=size)
    written = []

    def save(page: str) -> None:
        path = OUT / f"{page}-{name}.png"
        session.save_screenshot(str(path))
        written.append(path)

    try:
        sign_in(session, base, world["driver"].email, PASSWORD)
        session.get(f"{base}/#/")
        set_value(session, "#date", "2026-11-24")
        set_value(session, "#from", "10:00")
        set_value(session, "#until", "12:00")
        click(session, "#search-button")
        wait_for(session, lambda s: len(s.find_elements("css selector", ".result")) == len(world["spots"]))
        save("search")
        click(session, ".result a")
        find(session, "#free-times li")
        click(session, "#quote-button")
        find(session, "#quote-total")
        session.execute_script("document.getElementById('book-form').scrollIntoView()")
        save("spot")
        session.get(f"{base}/#/bookings")
        wait_for(session, lambda s: s.find_element("id", "live-state").get_attribute("data-state") == "live")
        save("bookings")
        session.find_element("id", "logout").click()
        find(session, "#nav-login")
        find(session, "#search-form")
        sign_in(session, base, world["owner"].email, PASSWORD)
        session.get(f"{base}/#/owner/spot/{world['spots'][0]['id']}")
        find(session, "#week-grid")
        session.execute_script("document.getElementById('week-grid').scrollIntoView()")
        save("owner-week")
    except Exception:
        session.save_screenshot(str(OUT / "failure.png"))  # what the browser showed; not committed
        raise
    finally:
        session.quit()
    return written


async def test_screenshots(live: str) -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    paths = ensure_chromium()
    async with client_for(live) as http:
        world = await demo(http)
    written = []
    for size, name in ((PHONE, "phone"), (DESKTOP, "desktop")):
        written += await asyncio.to_thread(shoot, live, world, paths, size, name)
    assert len(written) == 8
    assert all(p.stat().st_size > 5000 for p in written)
