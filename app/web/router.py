"""Serves the web app: `index.html` at `/` and at the client-side paths the mails link to
(`/verify-email`, `/reset-password`), its modules under `/app/`, and Leaflet from the
`xstatic-leaflet` package under `/vendor/leaflet/` (nothing comes from a CDN).

The page carries its configuration (the tile server, the server's clock for the default search
window) as an inline JSON block, which a Content-Security-Policy with `script-src 'self'` does not
run; images may come from this origin and the tile server only."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import xstatic.pkg.leaflet as leaflet
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

from app.settings import Settings

STATIC_DIR = Path(__file__).parent / "static"
LEAFLET_DIR = Path(leaflet.BASE_DIR)
# Paths of the app itself: the mails' links open these (PUBLIC_URL/verify-email?token=...).
CLIENT_PATHS = ("/", "/verify-email", "/reset-password")
# The app's own time zone: searches are typed in Kreuzviertel time, whatever the browser's zone.
APP_TIMEZONE = "Europe/Berlin"
CENTRE = (51.505, 7.447)

router = APIRouter(include_in_schema=False)


def content_security_policy(settings: Settings) -> str:
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src 'self' data: {settings.tile_origin}",
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ]
    )


def _config(request: Request, settings: Settings) -> dict[str, Any]:
    now = request.app.state.clock()
    return {
        "tileUrl": settings.tile_url,
        "tileAttribution": settings.tile_attribution,
        "now": now.isoformat().replace("+00:00", "Z"),
        "timezone": APP_TIMEZONE,
        "centre": list(CENTRE),
    }


def render_index(request: Request, settings: Settings) -> HTMLResponse:
    # `<`, `>` and `&` escaped so that no value can end the JSON block.
    config = (
        json.dumps(_config(request, settings), ensure_ascii=False)
        .replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
    )
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8").replace("{{CONFIG}}", config)
    return HTMLResponse(
        page,
        headers={
            "Content-Security-Policy": content_security_policy(settings),
            "Cache-Control": "no-cache",
            "X-Frame-Options": "DENY",
        },
    )


async def index(request: Request) -> HTMLResponse:
    settings: Settings = request.app.state.settings
    return render_index(request, settings)


for _path in CLIENT_PATHS:
    router.add_api_route(_path, index, methods=["GET"], include_in_schema=False, response_class=HTMLResponse)


def install_web(app: FastAPI) -> None:
    """The web app's routes and files; none of them is in the OpenAPI document."""
    app.include_router(router)
    app.mount("/app", StaticFiles(directory=STATIC_DIR), name="web-app")
    app.mount("/vendor/leaflet", StaticFiles(directory=LEAFLET_DIR), name="web-leaflet")
