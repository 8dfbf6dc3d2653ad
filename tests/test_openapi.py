from __future__ import annotations

from pathlib import Path

from httpx import AsyncClient

# The routes of the contract (docs/api.md) that this service implements so far.
CONTRACT = {
    ("post", "/v1/auth/register"),
    ("post", "/v1/auth/login"),
    ("post", "/v1/auth/refresh"),
    ("post", "/v1/auth/logout"),
    ("get", "/v1/me"),
    ("patch", "/v1/me"),
    ("post", "/v1/me/vehicles"),
    ("get", "/v1/me/vehicles"),
    ("delete", "/v1/me/vehicles/{vehicle_id}"),
    ("post", "/v1/spots"),
    ("get", "/v1/spots/{spot_id}"),
    ("patch", "/v1/spots/{spot_id}"),
    ("delete", "/v1/spots/{spot_id}"),
    ("get", "/v1/me/spots"),
    ("get", "/v1/spots/{spot_id}/availability"),
    *(
        (method, f"/v1/spots/{{spot_id}}/availability/{kind}{suffix}")
        for kind in ("rules", "windows", "blackouts")
        for method, suffix in (("post", ""), ("get", ""), ("delete", "/{item_id}"))
    ),
    ("get", "/v1/search"),
    ("post", "/v1/quotes"),
    ("post", "/v1/bookings"),
    ("get", "/v1/bookings/{booking_id}"),
    ("get", "/v1/me/bookings"),
    *(
        ("post", f"/v1/bookings/{{booking_id}}/{action}")
        for action in ("confirm", "approve", "decline", "cancel", "extend")
    ),
    ("get", "/healthz"),
    ("get", "/readyz"),
    ("get", "/metrics"),
}


async def test_openapi_lists_the_contract_routes(client: AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    served = {(method, path) for path, item in schema["paths"].items() for method in item}
    assert served >= CONTRACT


async def test_docs_api_md_names_every_served_route(client: AsyncClient) -> None:
    reference = (Path(__file__).resolve().parent.parent / "docs" / "api.md").read_text()
    schema = (await client.get("/openapi.json")).json()
    missing = [
        f"{method.upper()} {path}"
        for path, item in schema["paths"].items()
        for method in item
        if f"`{method.upper()} {path}" not in reference
    ]
    assert missing == []


async def test_every_error_response_is_documented_as_a_problem(client: AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert "Problem" in schema["components"]["schemas"]
    assert "HTTPValidationError" not in schema["components"]["schemas"]
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                if status.startswith(("4", "5")):
                    content = response["content"]
                    assert list(content) == ["application/problem+json"], (method, path, status)


async def test_spot_patch_and_get_document_their_headers(client: AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    patch = schema["paths"]["/v1/spots/{spot_id}"]["patch"]
    assert any(p["name"] == "if-match" for p in patch["parameters"])
    assert "412" in patch["responses"]


async def test_docs_are_served(client: AsyncClient) -> None:
    r = await client.get("/docs")
    assert r.status_code == 200
    assert "swagger" in r.text.lower()


async def test_booking_posts_document_the_idempotency_key(client: AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    for path, item in schema["paths"].items():
        if path.startswith("/v1/bookings"):
            for method, operation in item.items():
                if method == "post":
                    names = [p["name"] for p in operation.get("parameters", [])]
                    assert "Idempotency-Key" in names, path
