from __future__ import annotations

import asyncio
import base64
import json
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from httpx import AsyncClient
from jose import jwt
from sqlalchemy import func, select, text, update

from app.auth import security
from app.auth.models import LoginSession, RefreshToken
from app.auth.security import TokenCodec
from app.db import Database
from app.settings import Settings
from app.users.models import User
from tests.conftest import FakeClock, assert_problem
from tests.factories import PASSWORD, Account, make_account


async def test_register_returns_the_user_without_secrets(client: AsyncClient, db: Database) -> None:
    r = await client.post(
        "/v1/auth/register",
        json={
            "email": "Nora.Schulte@Example.org",
            "password": PASSWORD,
            "display_name": "  Nora  ",
        },
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["email"] == "nora.schulte@example.org"
    assert body["display_name"] == "Nora"
    assert body["role"] == "user"
    assert body["phone"] is None
    assert body["created_at"].endswith("Z")
    uuid.UUID(body["id"])
    assert "password" not in json.dumps(body)
    assert r.headers["content-type"] == "application/json"
    async with db.sessionmaker() as session:
        stored = await session.scalar(select(User.password_hash).where(User.id == uuid.UUID(body["id"])))
    assert stored is not None
    assert stored.startswith("$argon2id$")  # a hash, never the password
    assert PASSWORD not in stored


async def test_register_refuses_a_taken_email_whatever_its_case(
    client: AsyncClient, alice: Account, db: Database
) -> None:
    r = await client.post(
        "/v1/auth/register",
        json={"email": alice.email.upper(), "password": PASSWORD, "display_name": "Eve"},
    )
    problem = assert_problem(r, 409, "email_taken")
    assert problem["detail"] == "an account with this email exists"
    async with db.sessionmaker() as session:
        names = (
            await session.scalars(select(User.display_name).where(func.lower(User.email) == alice.email))
        ).all()
    assert names == ["Alice"]  # nothing written, nothing overwritten


async def test_register_validates_fields(client: AsyncClient) -> None:
    r = await client.post(
        "/v1/auth/register", json={"email": "not-an-email", "password": "short", "display_name": ""}
    )
    body = assert_problem(r, 422, "validation_error")
    fields = {e["field"] for e in body["errors"]}
    assert fields == {"email", "password", "display_name"}
    assert {tuple(e["loc"]) for e in body["errors"]} == {
        ("body", "email"),
        ("body", "password"),
        ("body", "display_name"),
    }


async def test_register_refuses_unknown_fields(client: AsyncClient) -> None:
    r = await client.post(
        "/v1/auth/register",
        json={"email": "x@example.org", "password": PASSWORD, "display_name": "X", "role": "admin"},
    )
    body = assert_problem(r, 422, "validation_error")
    assert body["errors"][0]["field"] == "role"
    assert body["errors"][0]["type"] == "extra_forbidden"


async def test_register_keeps_the_password_exactly(client: AsyncClient) -> None:
    password = "  spaces matter  "
    r = await client.post(
        "/v1/auth/register",
        json={"email": "spaces@example.org", "password": password, "display_name": "S"},
    )
    assert r.status_code == 201
    ok = await client.post("/v1/auth/login", json={"email": "spaces@example.org", "password": password})
    assert ok.status_code == 200
    stripped = await client.post(
        "/v1/auth/login", json={"email": "spaces@example.org", "password": password.strip()}
    )
    assert_problem(stripped, 401, "invalid_credentials")


async def test_login_answers_a_token_pair(client: AsyncClient, settings: Settings) -> None:
    await client.post(
        "/v1/auth/register",
        json={"email": "l@example.org", "password": PASSWORD, "display_name": "L"},
    )
    r = await client.post("/v1/auth/login", json={"email": "L@example.org", "password": PASSWORD})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == settings.access_token_ttl_seconds
    assert body["refresh_token"]
    assert body["access_token"]
    claims = jwt.get_unverified_claims(body["access_token"])
    assert {"sub", "exp", "iat", "jti", "iss", "aud", "sid"} <= claims.keys()
    assert claims["exp"] - claims["iat"] == settings.access_token_ttl_seconds
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == "l@example.org"


async def test_wrong_password_and_unknown_email_answer_alike(
    client: AsyncClient, alice: Account, db: Database
) -> None:
    wrong = await client.post("/v1/auth/login", json={"email": alice.email, "password": "wrong password!"})
    unknown = await client.post("/v1/auth/login", json={"email": "nobody@example.org", "password": PASSWORD})
    assert assert_problem(wrong, 401, "invalid_credentials") == assert_problem(
        unknown, 401, "invalid_credentials"
    )
    assert wrong.headers.keys() == unknown.headers.keys()
    async with db.sessionmaker() as session:
        # No sign-in was recorded; each failure counts against its email's limit, known or not.
        sessions = await session.scalar(select(func.count()).select_from(LoginSession))
        failures = dict(
            (
                await session.execute(
                    text("select key, count from rate_limits where key like 'login-email:%'")
                )
            ).all()
        )
    assert sessions == 1  # alice's own, from the fixture
    assert failures == {f"login-email:{alice.email}": 1, "login-email:nobody@example.org": 1}


async def test_refresh_rotates_the_pair(client: AsyncClient, alice: Account) -> None:
    r = await client.post("/v1/auth/refresh", json={"refresh_token": alice.tokens["refresh_token"]})
    assert r.status_code == 200, r.text
    pair = r.json()
    assert pair["refresh_token"] != alice.tokens["refresh_token"]
    assert pair["access_token"] != alice.tokens["access_token"]
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.json()["id"] == alice.id
    again = await client.post("/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert again.status_code == 200
    assert again.json()["refresh_token"] not in (pair["refresh_token"], alice.tokens["refresh_token"])


async def test_refresh_reuse_revokes_the_whole_family(
    client: AsyncClient, alice: Account, db: Database
) -> None:
    first = alice.tokens["refresh_token"]
    rotated = (await client.post("/v1/auth/refresh", json={"refresh_token": first})).json()

    reuse = await client.post("/v1/auth/refresh", json={"refresh_token": first})
    assert_problem(reuse, 401, "unauthorized")

    # The thief's replay ends the legitimate holder's tokens too, refresh and access alike.
    assert_problem(
        await client.post("/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]}),
        401,
        "unauthorized",
    )
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {rotated['access_token']}"})
    assert_problem(me, 401, "unauthorized")
    async with db.sessionmaker() as session:
        revoked = await session.scalar(select(LoginSession.revoked_reason))
    assert revoked == "refresh_token_reused"


async def test_refresh_reuse_revocation_is_committed_despite_the_401(
    committed_client: AsyncClient, committed_db: Database
) -> None:
    account = await make_account(committed_client, "victim")
    first = account.tokens["refresh_token"]
    rotated = (await committed_client.post("/v1/auth/refresh", json={"refresh_token": first})).json()
    assert_problem(
        await committed_client.post("/v1/auth/refresh", json={"refresh_token": first}),
        401,
        "unauthorized",
    )
    async with committed_db.sessionmaker() as session:
        reasons = (await session.scalars(select(LoginSession.revoked_reason))).all()
    assert reasons == ["refresh_token_reused"]
    assert_problem(
        await committed_client.post("/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]}),
        401,
        "unauthorized",
    )


async def test_two_sign_ins_are_separate_families(client: AsyncClient, alice: Account, db: Database) -> None:
    other = (await client.post("/v1/auth/login", json={"email": alice.email, "password": PASSWORD})).json()
    first = alice.tokens["refresh_token"]
    assert (await client.post("/v1/auth/refresh", json={"refresh_token": first})).status_code == 200
    reuse = await client.post("/v1/auth/refresh", json={"refresh_token": first})  # revokes one family only
    assert_problem(reuse, 401, "unauthorized")
    assert_problem(await client.get("/v1/me", headers=alice.headers), 401, "unauthorized")
    me = await client.get("/v1/me", headers={"Authorization": f"Bearer {other['access_token']}"})
    assert me.status_code == 200, me.text
    r = await client.post("/v1/auth/refresh", json={"refresh_token": other["refresh_token"]})
    assert r.status_code == 200
    async with db.sessionmaker() as session:
        reasons = (
            await session.scalars(select(LoginSession.revoked_reason).order_by(LoginSession.created_at))
        ).all()
    assert sorted(reasons, key=str) == [None, "refresh_token_reused"]


async def test_refresh_refuses_unknown_and_expired_tokens(
    client: AsyncClient, alice: Account, db: Database, clock: FakeClock
) -> None:
    unknown = await client.post("/v1/auth/refresh", json={"refresh_token": "made-up"})
    assert_problem(unknown, 401, "unauthorized")
    assert unknown.json()["detail"] == "unknown refresh token"
    assert unknown.headers["www-authenticate"] == "Bearer"
    async with db.sessionmaker() as session:
        await session.execute(update(RefreshToken).values(expires_at=clock.now + timedelta(seconds=1)))
        await session.commit()
    clock.advance(seconds=1)
    r = await client.post("/v1/auth/refresh", json={"refresh_token": alice.tokens["refresh_token"]})
    assert_problem(r, 401, "unauthorized")
    assert r.json()["detail"] == "refresh token expired"
    async with db.sessionmaker() as session:
        tokens = (await session.execute(select(RefreshToken.used_at))).all()
    assert tokens == [(None,)]  # the expired token was not used up and nothing new was issued


async def test_concurrent_refreshes_with_one_token_let_one_through(
    committed_client: AsyncClient, committed_db: Database
) -> None:
    account = await make_account(committed_client, "racer")
    token = account.tokens["refresh_token"]
    results = await asyncio.gather(
        *(committed_client.post("/v1/auth/refresh", json={"refresh_token": token}) for _ in range(2))
    )
    assert sorted(r.status_code for r in results) == [200, 401]
    loser = next(r for r in results if r.status_code == 401)
    assert_problem(loser, 401, "unauthorized")
    async with committed_db.sessionmaker() as session:
        issued = await session.scalar(select(func.count()).select_from(RefreshToken))
        reasons = (await session.scalars(select(LoginSession.revoked_reason))).all()
    # One new token: the second refresh waited for the first and found the token used, which
    # reads as theft and ends the sign-in.
    assert issued == 2
    assert reasons == ["refresh_token_reused"]


async def test_logout_ends_refresh_and_access_tokens(
    client: AsyncClient, alice: Account, db: Database, clock: FakeClock
) -> None:
    r = await client.post("/v1/auth/logout", json={"refresh_token": alice.tokens["refresh_token"]})
    assert r.status_code == 204
    assert r.content == b""
    assert_problem(
        await client.post("/v1/auth/refresh", json={"refresh_token": alice.tokens["refresh_token"]}),
        401,
        "unauthorized",
    )
    me = await client.get("/v1/me", headers=alice.headers)
    assert_problem(me, 401, "unauthorized")
    assert me.headers["www-authenticate"] == "Bearer"
    assert me.json()["detail"] == "this session has ended"
    clock.advance(minutes=1)
    again = await client.post("/v1/auth/logout", json={"refresh_token": alice.tokens["refresh_token"]})
    assert again.status_code == 204
    async with db.sessionmaker() as session:
        ended = (await session.execute(select(LoginSession.revoked_at, LoginSession.revoked_reason))).all()
    assert ended == [(clock.now - timedelta(minutes=1), "logout")]  # the second logout changed nothing


async def test_missing_or_malformed_authorization_is_401(client: AsyncClient) -> None:
    r = await client.get("/v1/me")
    assert_problem(r, 401, "unauthorized")
    assert r.headers["www-authenticate"] == "Bearer"
    assert_problem(await client.get("/v1/me", headers={"Authorization": "Bearer"}), 401, "unauthorized")
    assert_problem(
        await client.get("/v1/me", headers={"Authorization": "Basic Zm9vOmJhcg=="}),
        401,
        "unauthorized",
    )
    assert_problem(
        await client.get("/v1/me", headers={"Authorization": "Bearer not.a.jwt"}),
        401,
        "unauthorized",
    )
    # Every refusal tells the client how to authenticate, and why.
    sign_in_first = "sign in first: send Authorization: Bearer <access token>"
    for authorization, detail in (
        (None, sign_in_first),
        ("Bearer", sign_in_first),
        ("Basic Zm9vOmJhcg==", sign_in_first),
        ("Bearer not.a.jwt", "invalid or expired access token"),
    ):
        headers = {} if authorization is None else {"Authorization": authorization}
        r = await client.get("/v1/me", headers=headers)
        assert (r.headers.get("www-authenticate"), r.json()["detail"]) == ("Bearer", detail), authorization


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


async def test_tampered_tokens_are_refused(client: AsyncClient, alice: Account, settings: Settings) -> None:
    token = alice.tokens["access_token"]
    header, payload, signature = token.split(".")
    claims = jwt.get_unverified_claims(token)

    forged = ".".join([header, _b64({**claims, "sub": str(uuid.uuid4())}), signature])
    assert_problem(
        await client.get("/v1/me", headers={"Authorization": f"Bearer {forged}"}),
        401,
        "unauthorized",
    )

    unsigned = ".".join([_b64({"alg": "none", "typ": "JWT"}), payload, ""])
    assert_problem(
        await client.get("/v1/me", headers={"Authorization": f"Bearer {unsigned}"}),
        401,
        "unauthorized",
    )

    secret = settings.signing_secret()
    other_alg = jwt.encode(claims, secret, algorithm="HS512")
    assert_problem(
        await client.get("/v1/me", headers={"Authorization": f"Bearer {other_alg}"}),
        401,
        "unauthorized",
    )

    other_key = jwt.encode(claims, "another-secret-entirely-0123456789abcdef", algorithm="HS256")
    assert_problem(
        await client.get("/v1/me", headers={"Authorization": f"Bearer {other_key}"}),
        401,
        "unauthorized",
    )

    for name, value in (("aud", "someone-else"), ("iss", "evil")):
        bad = jwt.encode({**claims, name: value}, secret, algorithm="HS256")
        assert_problem(
            await client.get("/v1/me", headers={"Authorization": f"Bearer {bad}"}),
            401,
            "unauthorized",
        )

    for missing in ("exp", "jti", "iat"):
        incomplete = jwt.encode({k: v for k, v in claims.items() if k != missing}, secret, algorithm="HS256")
        r = await client.get("/v1/me", headers={"Authorization": f"Bearer {incomplete}"})
        assert_problem(r, 401, "unauthorized")

    # The untouched token still works, so the refusals above are about the changes.
    assert (await client.get("/v1/me", headers=alice.headers)).status_code == 200


async def test_expired_access_token_is_refused(
    client: AsyncClient, alice: Account, settings: Settings, clock: FakeClock
) -> None:
    # Expiry is judged on the app's clock, the one the token was issued on.
    ttl = settings.access_token_ttl_seconds
    clock.advance(seconds=ttl - 1)
    assert (await client.get("/v1/me", headers=alice.headers)).status_code == 200
    clock.advance(seconds=1)
    assert_problem(await client.get("/v1/me", headers=alice.headers), 401, "unauthorized")

    claims = jwt.get_unverified_claims(alice.tokens["access_token"])
    codec = TokenCodec(settings)
    stale = codec.issue(
        uuid.UUID(claims["sub"]), uuid.UUID(claims["sid"]), clock.now - timedelta(seconds=ttl)
    )
    assert_problem(
        await client.get("/v1/me", headers={"Authorization": f"Bearer {stale}"}),
        401,
        "unauthorized",
    )
    fresh = codec.issue(uuid.UUID(claims["sub"]), uuid.UUID(claims["sid"]), clock.now)
    assert (await client.get("/v1/me", headers={"Authorization": f"Bearer {fresh}"})).status_code == 200


def test_verified_tokens_are_remembered_up_to_a_bound_and_still_expire(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(security, "VERIFIED_KEPT", 2)
    codec = TokenCodec(settings)
    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    tokens = [codec.issue(uuid.uuid4(), uuid.uuid4(), now) for _ in range(3)]
    claims = [codec.decode(t, now) for t in tokens]
    assert all(c is not None for c in claims)
    # The first was dropped for the third; the others are answered from memory, the same claims.
    assert codec.decode(tokens[2], now) is claims[2]
    assert codec.decode(tokens[0], now) == claims[0]
    assert codec.decode(tokens[0], now) is not claims[0]
    # A remembered token still expires on the caller's clock.
    assert codec.decode(tokens[2], now + codec.ttl) is None
    assert codec.decode(tokens[2], now + codec.ttl - timedelta(seconds=1)) is claims[2]


async def test_concurrent_registrations_of_one_email_let_one_through(
    committed_client: AsyncClient, committed_db: Database
) -> None:
    body = {"email": "twice@example.org", "password": PASSWORD, "display_name": "Twice"}
    results = await asyncio.gather(*(committed_client.post("/v1/auth/register", json=body) for _ in range(5)))
    statuses = sorted(r.status_code for r in results)
    assert statuses == [201, 409, 409, 409, 409]
    for r in results:
        if r.status_code == 409:
            assert r.json()["code"] == "email_taken"
            assert_problem(r, 409, "email_taken")
    async with committed_db.sessionmaker() as session:
        ids = (await session.scalars(select(User.id).where(User.email == "twice@example.org"))).all()
    assert [str(i) for i in ids] == [next(r.json()["id"] for r in results if r.status_code == 201)]
