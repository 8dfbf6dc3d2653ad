"""Headless Chromium for the web app's tests and screenshots (Debian's `chromium` and
`chromium-driver`, installed by scripts/ensure-chromium.sh when missing, as PostgreSQL is)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

ROOT = Path(__file__).resolve().parent.parent
WAIT = 10.0
PHONE = (390, 844)
DESKTOP = (1280, 800)


def ensure_chromium() -> tuple[str, str]:
    """The paths of `chromium` and `chromedriver`, installing them first when missing; raises
    RuntimeError with one line saying what to run when it cannot."""

    def found() -> tuple[str | None, str | None]:
        return shutil.which("chromium") or shutil.which("chromium-browser"), shutil.which("chromedriver")

    browser, driver = found()
    if browser is None or driver is None:
        done = subprocess.run(
            [str(ROOT / "scripts" / "ensure-chromium.sh")], capture_output=True, text=True, check=False
        )
        browser, driver = found()
        if done.returncode != 0 or browser is None or driver is None:
            lines = (done.stderr or "").strip().splitlines()
            raise RuntimeError(
                lines[-1] if lines else "run: sudo apt-get install -y chromium chromium-driver"
            )
    return browser, driver


def chrome(paths: tuple[str, str], size: tuple[int, int] = DESKTOP, lang: str = "en-GB") -> WebDriver:
    """A headless Chromium at a fixed window size, speaking `lang`."""
    browser, driver = paths
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for arg in (
        "--headless=new",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--window-size={size[0]},{size[1]}",
        f"--lang={lang}",
    ):
        options.add_argument(arg)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        options.add_argument("--no-sandbox")
    options.add_experimental_option("prefs", {"intl.accept_languages": lang})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    service = Service(executable_path=driver)
    session = webdriver.Chrome(options=options, service=service)
    session.set_window_size(*size)
    # The exact viewport (a window has a minimum width), as a phone of that size would have.
    session.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": size[0] < 600},
    )
    return session


def wait_for(session: WebDriver, condition: Callable[[WebDriver], Any], timeout: float = WAIT) -> Any:
    return WebDriverWait(session, timeout, ignored_exceptions=[StaleElementReferenceException]).until(
        condition
    )


def find(session: WebDriver, css: str, timeout: float = WAIT) -> WebElement:
    """The first visible element matching `css`, waiting for it."""

    def visible(s: WebDriver) -> WebElement | bool:
        for el in s.find_elements(By.CSS_SELECTOR, css):
            if el.is_displayed():
                return el
        return False

    element: WebElement = wait_for(session, visible, timeout)
    return element


def click(session: WebDriver, css: str, timeout: float = WAIT) -> None:
    """Clicks the first visible element matching `css`, finding it again when the page replaced it
    between finding and clicking (a list rendered anew)."""

    def clicked(s: WebDriver) -> bool:
        find(s, css, timeout).click()
        return True

    wait_for(session, clicked, timeout)


def set_value(session: WebDriver, css: str, value: str) -> None:
    """Sets an input's value as typing would (date and time inputs take locale-dependent keys)."""
    element = find(session, css)
    session.execute_script(
        "arguments[0].value = arguments[1];"
        "arguments[0].dispatchEvent(new Event('input', {bubbles: true}));"
        "arguments[0].dispatchEvent(new Event('change', {bubbles: true}));",
        element,
        value,
    )


def type_into(session: WebDriver, css: str, text: str) -> None:
    element = find(session, css)
    element.clear()
    element.send_keys(text)


def sign_in(session: WebDriver, base_url: str, email: str, password: str) -> None:
    session.get(f"{base_url}/#/login")
    type_into(session, "#login-email", email)
    type_into(session, "#login-password", password)
    find(session, "#login-button").click()
    find(session, "#logout")


def console_errors(session: WebDriver) -> list[str]:
    """The browser's console errors so far (failed tile loads are expected offline)."""
    return [
        entry["message"]
        for entry in session.get_log("browser")
        if entry["level"] == "SEVERE" and "/{z}" not in entry["message"] and ".png" not in entry["message"]
    ]


def unlabelled(session: WebDriver) -> list[str]:
    """The form controls and buttons of the page that a screen reader could not name."""
    names: list[str] = session.execute_script(
        """
        const missing = [];
        for (const el of document.querySelectorAll('input, select, textarea, button, a[href]')) {
          if (el.type === 'hidden' || el.closest('.leaflet-control-container')) continue;
          const labelled = (el.labels && el.labels.length) || el.getAttribute('aria-label')
            || el.getAttribute('aria-labelledby') || (el.textContent || '').trim();
          if (!labelled) missing.push(el.outerHTML.slice(0, 80));
        }
        return missing;
        """
    )
    return names
