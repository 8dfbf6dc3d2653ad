"""The web app in a real browser (headless Chromium through Selenium) against a real server
(tests/live.py) on the committed database, with the server's clock fixed at `START` so that the
times typed in are always ahead; marked slow.

Selenium blocks, and the server runs in this test's event loop: every browser step runs in a
thread (`asyncio.to_thread`). The map's tiles point at a closed local port, so these tests also
show that the app works as a list without tiles."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator

import httpx
import pytest
from fastapi import FastAPI
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from sqlalchemy import text

from app.db import Database
from app.main import create_app
from app.settings import Settings
from tests.browser import (
    PHONE,
    chrome,
    click,
    console_errors,
    ensure_chromium,
    find,
    set_value,
    sign_in,
    unlabelled,
    wait_for,
)
from tests.conftest import FakeClock
from tests.factories import PASSWORD, booked, make_account, open_spot
from tests.live import client_for, live_server

pytestmark = pytest.mark.slow

# No tile server: nothing leaves this machine, and the app must work without tiles.
OFFLINE_TILES = "http://127.0.0.1:9/{z}/{x}/{y}.png"
DASH = "\u2013"  # between the ends of an interval


@pytest.fixture(scope="session")
def chromium() -> tuple[str, str]:
    try:
        return ensure_chromium()
    except RuntimeError as error:
        pytest.fail(f"the browser tests need Chromium: {error}", pytrace=False)


@pytest.fixture
async def web_app(settings: Settings, committed_db: Database) -> FastAPI:
    app = create_app(settings.model_copy(update={"tile_url": OFFLINE_TILES}), database=committed_db)
    app.state.clock = FakeClock()  # Monday 2026-11-23, 09:00 in Berlin
    return app


@pytest.fixture
async def live(web_app: FastAPI) -> AsyncIterator[str]:
    async with live_server(web_app) as url:
        yield url


@pytest.fixture
async def http(live: str) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(live) as client:
        yield client


@pytest.fixture
def browsers(chromium: tuple[str, str]) -> Iterator[list[WebDriver]]:
    """Browser sessions opened by the test, all closed at its end."""
    opened: list[WebDriver] = []
    yield opened
    for session in opened:
        session.quit()


def status_of(session: WebDriver, booking_id: str) -> str:
    """The status a booking's card shows (read in one step: the list is re-rendered live)."""
    status: str | None = session.execute_script(
        'return document.querySelector(`[data-booking-id="${arguments[0]}"] .badge`)?.dataset.status',
        booking_id,
    )
    return status or ""


def card_text(session: WebDriver, booking_id: str) -> str:
    text: str = session.execute_script(
        "return document.querySelector(`[data-booking-id=\"${arguments[0]}\"]`)?.innerText ?? ''", booking_id
    )
    return text


async def test_a_driver_books_and_sees_the_owner_cancel_live(
    http: httpx.AsyncClient,
    live: str,
    web_app: FastAPI,
    chromium: tuple[str, str],
    browsers: list[WebDriver],
) -> None:
    owner = await make_account(http, "owner")
    driver = await make_account(http, "driver")
    spot = await open_spot(http, owner, cancellation_policy="moderate")
    # Starting in half an hour: inside the reveal window, so its access details are shown.
    soon = await booked(http, driver, spot, 0.5, 1.5)

    def driver_books() -> str:
        session = chrome(chromium, size=PHONE)
        browsers.append(session)
        sign_in(session, live, driver.email, PASSWORD)
        session.get(f"{live}/#/")
        # Tuesday 24 November, 10:00 to 12:00 in Berlin: the day after the server's "now".
        set_value(session, "#date", "2026-11-24")
        set_value(session, "#from", "10:00")
        set_value(session, "#until", "12:00")
        assert unlabelled(session) == []
        find(session, "#max-price").send_keys(Keys.ENTER)  # the keyboard submits the search
        # The result of this search, not of the one the page ran by itself on opening (its link
        # carries the other window).
        click(session, f'.result[data-spot-id="{spot["id"]}"] a[href*="start=2026-11-24T09%3A00%3A00Z"]')
        assert find(session, "h1").text == spot["title"]
        assert unlabelled(session) == []
        click(session, "#quote-button")
        # 2 h at 2.50 EUR; a moderate policy: all back until 24 h before, then half.
        assert find(session, "#quote-total").text == "€5.00"
        refunds = [li.text for li in session.find_elements(By.CSS_SELECTOR, "#refunds li")]
        assert len(refunds) == 3, refunds
        assert "€5.00" in refunds[0], refunds
        assert "€2.50" in refunds[1], refunds
        click(session, "#book-button")
        click(session, "#confirm-button")
        booking_id = wait_for(
            session,
            lambda s: s.execute_script(
                "return document.querySelector(`.booking[data-booking-id]:not([data-booking-id='${arguments[0]}'])`)"
                "?.dataset.bookingId",
                soon["id"],
            ),
        )
        wait_for(session, lambda s: status_of(s, booking_id) == "confirmed")
        wait_for(session, lambda s: find(s, "#live-state").get_attribute("data-state") == "live")
        text = card_text(session, booking_id)
        assert "10:00" in text, text
        assert "12:00" in text, text
        assert "appear 60 minutes before the start" in text, text
        wait_for(session, lambda s: "Code 4711 at the gate" in card_text(s, soon["id"]))
        assert "Kreuzstraße 61a" in card_text(session, soon["id"])
        click(session, "#calendar-button")
        assert "/v1/me/calendar.ics?token=" in (find(session, "#calendar-url").get_attribute("value") or "")
        return booking_id

    booking_id = await asyncio.to_thread(driver_books)
    r = await http.get(f"/v1/bookings/{booking_id}", headers=driver.headers)
    assert r.json()["status"] == "confirmed"
    assert (r.json()["start"], r.json()["end"]) == ("2026-11-24T09:00:00Z", "2026-11-24T11:00:00Z")

    def owner_cancels() -> None:
        session = chrome(chromium)
        browsers.append(session)
        sign_in(session, live, owner.email, PASSWORD)
        session.get(f"{live}/#/owner/bookings")
        click(session, f'[data-booking-id="{booking_id}"] button[data-action="cancel"]')
        wait_for(session, lambda s: status_of(s, booking_id) == "cancelled")

    await asyncio.to_thread(owner_cancels)

    def driver_sees_it() -> None:
        session = browsers[0]
        # No reload: the change comes over the live stream.
        wait_for(session, lambda s: status_of(s, booking_id) == "cancelled")
        text = card_text(session, booking_id)
        assert "refund €5.00" in text, text  # an owner's cancellation refunds everything
        assert "#/bookings" in session.current_url
        for session in browsers:
            assert console_errors(session) == []

    await asyncio.to_thread(driver_sees_it)

    # At the spot: ten minutes before the other booking starts, the driver checks in.
    web_app.state.clock.advance(minutes=20)

    def driver_checks_in() -> None:
        session = browsers[0]
        session.refresh()  # the page learns the server's time when it is served
        click(session, f'[data-booking-id="{soon["id"]}"] button[data-action="check-in"]')
        wait_for(session, lambda s: "Checked in at 09:20" in card_text(s, soon["id"]))

    await asyncio.to_thread(driver_checks_in)
    r = await http.get(f"/v1/bookings/{soon['id']}", headers=driver.headers)
    assert r.json()["checked_in_at"] == "2026-11-23T08:20:00Z"


async def test_an_owner_publishes_a_spot_with_a_weekly_rule_and_sees_it_bookable(
    http: httpx.AsyncClient, live: str, chromium: tuple[str, str], browsers: list[WebDriver]
) -> None:
    owner = await make_account(http, "owner")

    def owner_publishes() -> str:
        session = chrome(chromium)
        browsers.append(session)
        sign_in(session, live, owner.email, PASSWORD)
        session.get(f"{live}/#/owner")
        click(session, "#new-spot")
        set_value(session, "#spot-title", "Garage Arneckestraße")
        set_value(session, "#spot-street", "Arneckestraße")
        set_value(session, "#spot-house", "12")
        default_lat = find(session, "#spot-lat").get_attribute("value")
        # Placing it on the map: a click right of and below the centre.
        the_map = find(session, "#place-map")
        session.execute_script(
            "const r = arguments[0].getBoundingClientRect();"
            "arguments[0].dispatchEvent(new MouseEvent('click', {bubbles: true, clientX: r.left + r.width / 2 + 40,"
            " clientY: r.top + r.height / 2 + 30}));",
            the_map,
        )
        wait_for(session, lambda s: find(s, "#spot-lat").get_attribute("value") != default_lat)
        set_value(session, "#spot-hourly", "3")
        click(session, "#spot-instant")  # on request: the owner approves each booking
        click(session, "#save-spot")
        find(session, "#week-grid")
        assert unlabelled(session) == []
        spot_id = session.current_url.rsplit("/", 1)[-1]
        # Tuesdays 10:00 to 13:00 local time.
        for hour in (10, 11, 12):
            click(session, f'#week-grid button[data-day="tue"][data-hour="{hour}"]')
        click(session, "#save-week")
        wait_for(session, lambda s: "saved" in s.find_element(By.ID, "status").text.lower())
        # And once, Wednesday 25 November 08:00 to 09:00.
        for css, value in ((".d", "2026-11-25"), (".f", "08:00"), (".ed", "2026-11-25"), (".u", "09:00")):
            set_value(session, f".one-off {css}", value)
        click(session, ".one-off button[type=submit]")
        wait_for(
            session, lambda s: f"25 Nov 2026, 08:00 {DASH} 09:00" in s.find_element(By.ID, "windows").text
        )
        click(session, "#view-public")
        free = wait_for(
            session,
            lambda s: [li.text for li in s.find_elements(By.CSS_SELECTOR, "#free-times li")] or False,
        )
        assert free == [f"24 Nov 2026, 10:00 {DASH} 13:00", f"25 Nov 2026, 08:00 {DASH} 09:00"], free
        assert console_errors(session) == []
        return spot_id

    spot_id = await asyncio.to_thread(owner_publishes)
    spot = (await http.get(f"/v1/spots/{spot_id}", headers=owner.headers)).json()
    assert spot["title"] == "Garage Arneckestraße"
    assert spot["pricing"]["hourly_cents"] == 300
    assert spot["rules"]["instant_book"] is False
    # South-east of the centre, where the map was clicked.
    assert spot["location"]["lat"] < 51.505, spot["location"]
    assert spot["location"]["lon"] > 7.447, spot["location"]
    rules = (await http.get(f"/v1/spots/{spot_id}/availability/rules", headers=owner.headers)).json()
    assert [(r["weekdays"], r["start_time"], r["end_time"]) for r in rules["items"]] == [
        (["tue"], "10:00", "13:00")
    ]
    # And a driver can book it.
    driver = await make_account(http, "driver")
    quote = await http.post(
        "/v1/quotes",
        headers=driver.headers,
        json={"spot_id": spot_id, "start": "2026-11-24T09:00:00Z", "end": "2026-11-24T12:00:00Z"},
    )
    assert quote.json()["bookable"] is True, quote.text
    r = await http.post(
        "/v1/bookings",
        headers=driver.headers,
        json={"spot_id": spot_id, "start": "2026-11-24T09:00:00Z", "end": "2026-11-24T12:00:00Z"},
    )
    assert r.json()["status"] == "requested", r.text
    booking_id = r.json()["id"]

    def owner_approves() -> None:
        session = browsers[0]
        session.get(f"{live}/#/owner/bookings")
        click(session, f'[data-booking-id="{booking_id}"] button[data-action="approve"]')
        wait_for(session, lambda s: status_of(s, booking_id) == "confirmed")
        assert "Driver" in card_text(session, booking_id)
        session.get(f"{live}/#/owner/earnings")
        rows = [tr.text for tr in find(session, "#earnings").find_elements(By.CSS_SELECTOR, "tbody tr")]
        assert rows == ["2026-11 1 €9.00 €0.00 €0.00 €9.00", "Total 1 €9.00 €0.00 €0.00 €9.00"], rows

    await asyncio.to_thread(owner_approves)
    r = await http.get(f"/v1/bookings/{booking_id}", headers=driver.headers)
    assert r.json()["status"] == "confirmed"


async def test_an_account_in_german_registers_verifies_its_address_and_deletes_itself(
    live: str, committed_db: Database, chromium: tuple[str, str], browsers: list[WebDriver]
) -> None:
    email = "greta.web@example.org"

    def registers() -> dict[str, list[str]]:
        session = chrome(chromium, size=PHONE, lang="de-DE")
        browsers.append(session)
        session.get(f"{live}/#/register")
        assert session.execute_script("return document.documentElement.lang") == "de"
        set_value(session, "#register-name", "Greta")
        set_value(session, "#register-email", email)
        set_value(session, "#register-password", PASSWORD)
        click(session, "#register-form button[type=submit]")
        assert find(session, "#logout").text == "Abmelden"
        wait_for(session, lambda s: "Willkommen" in s.find_element(By.ID, "status").text)
        storage: dict[str, list[str]] = session.execute_script(
            "return {local: Object.keys(localStorage), session: Object.keys(sessionStorage)}"
        )
        return storage

    storage = await asyncio.to_thread(registers)
    # The refresh token lives with the tab, never in localStorage; the access token only in memory.
    assert storage["local"] == []
    assert "parkshare.refresh" in storage["session"]

    async with committed_db.sessionmaker() as session:
        body = (
            await session.execute(
                text("select body from mails where to_address = :to and kind = 'verify_email'"), {"to": email}
            )
        ).scalar_one()
    token = re.search(r"/verify-email\?token=([\w-]+)", body)
    assert token is not None, body

    def verifies_and_deletes() -> None:
        session = browsers[0]
        session.get(f"{live}/verify-email?token={token.group(1)}")
        assert find(session, "#verify-result").text == "Deine Adresse ist bestätigt."
        assert "token" not in session.current_url  # taken out of the address bar (and the history)
        session.get(f"{live}/#/account")
        find(session, "#delete-form")
        assert unlabelled(session) == []
        assert "bestätigt" in find(session, "main").text
        set_value(session, "#delete-password", PASSWORD)
        click(session, "#delete-form button[type=submit]")
        wait_for(session, lambda s: s.switch_to.alert).accept()
        find(session, "#nav-login")
        wait_for(
            session, lambda s: s.execute_script("return sessionStorage.getItem('parkshare.refresh')") is None
        )
        assert console_errors(session) == []

    await asyncio.to_thread(verifies_and_deletes)
    async with client_for(live) as http:
        r = await http.post("/v1/auth/login", json={"email": email, "password": PASSWORD})
    assert r.status_code == 401, r.text


async def test_the_apps_own_arithmetic_in_the_browser(
    live: str, chromium: tuple[str, str], browsers: list[WebDriver]
) -> None:
    """Local times to instants across the DST change, the week grid to rules and back (a rule past
    midnight too), and the stream parser fed in pieces, run by the browser's own modules."""

    def run() -> dict[str, object]:
        session = chrome(chromium)
        browsers.append(session)
        session.get(f"{live}/#/login")
        find(session, "#login-form")
        result: dict[str, object] = session.execute_async_script(
            """
            const done = arguments[arguments.length - 1];
            Promise.all([import('/app/js/i18n.js'), import('/app/js/views/owner.js'), import('/app/js/events.js'),
                         import('/app/js/views/search.js'), import('/app/js/map.js')])
              .then(async ([i18n, owner, events, search, map]) => {
                const el = document.createElement('div');
                el.style.height = '200px';
                document.body.append(el);
                const view = await map.createMap(el, {centre: [51.5, 7.45]});
                const marker = await map.pin(view, [51.5, 7.45], {title: '<b>Bold</b> & co'});
                marker.openTooltip();
                const tip = document.querySelector('.leaflet-tooltip');
                const grid = owner.gridFromRules([
                  {weekdays: ['tue', 'thu'], start_time: '10:00', end_time: '13:00'},
                  {weekdays: ['sun'], start_time: '22:00', end_time: '06:00'},
                ]);
                const got = [];
                let rest = events.parseEvents('id: 1\\nevent: booking.held\\ndata: {"a"', (m) => got.push(m));
                rest = events.parseEvents(rest + ': 1}\\n\\n: keep-alive\\n\\nid: 2\\nda', (m) => got.push(m));
                done({
                  tooltipText: tip.textContent,
                  tooltipElements: tip.querySelectorAll('b').length,
                  london: search.windowFrom({date: '2026-11-24', from: '10:00', until: '12:00'}, 'Europe/London'),
                  winter: i18n.zonedToUtc('2026-11-24', '10:00', 'Europe/Berlin'),
                  summer: i18n.zonedToUtc('2026-07-01', '10:00', 'Europe/Berlin'),
                  springForward: i18n.zonedToUtc('2026-03-29', '03:00', 'Europe/Berlin'),
                  rules: owner.rulesFromGrid(grid),
                  mondayMorning: grid[0].slice(0, 7),
                  messages: got,
                  rest,
                });
              }, (error) => done({error: String(error)}));
            """
        )
        return result

    result = await asyncio.to_thread(run)
    assert "error" not in result, result
    # An owner's title on the map is text, never HTML.
    assert (result["tooltipText"], result["tooltipElements"]) == ("<b>Bold</b> & co", 0)
    # A spot's times are typed in its own zone.
    assert result["london"] == {"start": "2026-11-24T10:00:00Z", "end": "2026-11-24T12:00:00Z"}
    assert result["winter"] == "2026-11-24T09:00:00Z"
    assert result["summer"] == "2026-07-01T08:00:00Z"
    assert result["springForward"] == "2026-03-29T01:00:00Z"
    assert result["rules"] == [
        {"weekdays": ["mon"], "start_time": "00:00", "end_time": "06:00"},
        {"weekdays": ["tue", "thu"], "start_time": "10:00", "end_time": "13:00"},
        {"weekdays": ["sun"], "start_time": "22:00", "end_time": "24:00"},
    ]
    assert result["mondayMorning"] == [True] * 6 + [False]
    assert result["messages"] == [{"id": "1", "event": "booking.held", "data": '{"a": 1}'}]
    assert result["rest"] == "id: 2\nda"
