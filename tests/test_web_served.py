"""How the service serves the web app (the app itself runs in a browser in tests/test_web.py):
the page at `/` and at the paths the mails link to, its files and Leaflet's, its
Content-Security-Policy, and nothing of it in the OpenAPI document or over the API's routes."""

from __future__ import annotations

import json
import re

from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient

from app.main import create_app
from app.settings import Settings


def config_of(page: str) -> dict[str, object]:
    match = re.search(r'<script type="application/json" id="config">(.*?)</script>', page, re.S)
    assert match is not None, page
    config: dict[str, object] = json.loads(match.group(1))
    return config


async def test_the_page_is_served_at_the_root_and_the_mails_paths(client: AsyncClient) -> None:
    for path in ("/", "/verify-email?token=abc", "/reset-password?token=abc"):
        r = await client.get(path)
        assert r.status_code == 200, path
        assert r.headers["content-type"].startswith("text/html")
        assert '<script type="module" src="/app/js/main.js"></script>' in r.text
        csp = r.headers["content-security-policy"]
        assert "script-src 'self';" in csp
        assert "img-src 'self' data: https://tile.openstreetmap.org;" in csp
        assert "frame-ancestors 'none'" in csp
        config = config_of(r.text)
        assert config["tileUrl"] == "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
        # The server's clock (the tests' fake one), for the default search window.
        assert config["now"] == "2026-11-23T08:00:00Z"


async def test_the_config_block_cannot_be_ended_by_a_setting(settings: Settings, app: FastAPI) -> None:
    tricky = settings.model_copy(update={"tile_attribution": "</script><script>alert(1)</script> & co"})
    web = create_app(tricky, database=app.state.db)
    web.state.clock = app.state.clock
    async with AsyncClient(transport=ASGITransport(app=web), base_url="http://test") as client:
        r = await client.get("/")
    assert "<script>alert(1)" not in r.text
    assert config_of(r.text)["tileAttribution"] == "</script><script>alert(1)</script> & co"


async def test_the_app_files_and_leaflet_come_from_the_service(client: AsyncClient) -> None:
    for path, kind in (
        ("/app/js/main.js", "javascript"),
        ("/app/js/i18n/de.js", "javascript"),
        ("/app/css/app.css", "text/css"),
        ("/vendor/leaflet/leaflet-src.esm.js", "javascript"),
        ("/vendor/leaflet/leaflet.css", "text/css"),
    ):
        r = await client.get(path)
        assert r.status_code == 200, path
        assert kind in r.headers["content-type"], (path, r.headers["content-type"])
    assert (await client.get("/app/js/nothing.js")).status_code == 404


async def test_the_web_app_shadows_no_route_of_the_service(client: AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    assert (await client.get("/openapi.json")).headers["content-type"] == "application/json"
    assert "swagger" in (await client.get("/docs")).text.lower()
    r = await client.get("/v1/no-such-route")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    schema = (await client.get("/openapi.json")).json()
    assert not [p for p in schema["paths"] if not p.startswith(("/v1/", "/healthz", "/readyz", "/metrics"))]


async def test_the_translations_have_the_same_keys(client: AsyncClient) -> None:
    keys = {}
    for lang in ("de", "en"):
        text = (await client.get(f"/app/js/i18n/{lang}.js")).text
        keys[lang] = set(re.findall(r'^\s+"?([\w.-]+)"?:', text, re.M))
    assert keys["de"] == keys["en"]
    assert len(keys["en"]) > 150
