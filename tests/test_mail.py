"""E-mail against a real SMTP server on loopback (tests/smtp_server.py): verification of the
address, password reset and change, address change, and the outbox's sending, retries and giving
up. The sender runs on the fake clock's time, as the job would on the system clock."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from pydantic import SecretStr
from sqlalchemy import text

from app.db import Database
from app.logs import handler
from app.mail import sender
from app.main import create_app
from app.settings import Environment, Settings
from app.users import tokens
from tests.conftest import FakeClock, assert_problem, with_clock
from tests.factories import PASSWORD, Account, add_vehicle, booked, make_account, open_spot, spot_body
from tests.smtp_server import SmtpSink, free_port, smtp_server
from tests.test_gdpr import tables_holding

NEW_PASSWORD = "a much better passphrase"
SITE = "https://parkshare.example"


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    with smtp_server() as sink:
        yield sink


@pytest.fixture
def mail_settings(settings: Settings, smtp: SmtpSink) -> Settings:
    return settings.model_copy(
        update={"smtp_url": SecretStr(smtp.url), "require_email_verification": True, "public_url": SITE}
    )


@pytest.fixture
async def mail_app(mail_settings: Settings, db: Database, request: pytest.FixtureRequest) -> FastAPI:
    return with_clock(create_app(mail_settings, database=db), request)


@pytest.fixture
async def mc(mail_app: FastAPI) -> AsyncIterator[AsyncClient]:
    async with AsyncClient(transport=ASGITransport(app=mail_app), base_url="http://test") as client:
        yield client


@pytest.fixture
def mclock(mail_app: FastAPI) -> FakeClock:
    clock = mail_app.state.clock
    assert isinstance(clock, FakeClock)
    return clock


class Mailer:
    """Runs the outbox's sender at the fake clock's time."""

    def __init__(self, db: Database, settings: Settings, clock: FakeClock) -> None:
        self.db, self.settings, self.clock = db, settings, clock

    async def send(self) -> int:
        """Everything due, batch after batch, as the job does over its runs."""
        total = 0
        while True:
            sent = await sender.send_due(self.db, self.settings, self.clock.now)
            total += sent
            if sent < sender.BATCH:
                return total


@pytest.fixture
def mailer(db: Database, mail_settings: Settings, mclock: FakeClock) -> Mailer:
    return Mailer(db, mail_settings, mclock)


async def mails(db: Database, where: str = "true", **params: Any) -> list[dict[str, Any]]:
    async with db.sessionmaker() as session:
        query = f"select * from mails where {where} order by created_at, id"  # noqa: S608 - the tests' own clauses
        rows = await session.execute(text(query), params)
        return [dict(r._mapping) for r in rows]


async def registered(
    mc: AsyncClient, mailer: Mailer, smtp: SmtpSink, name: str = "vera"
) -> tuple[Account, str]:
    """An account that signed up and got its verification mail; the mail's token."""
    account = await make_account(mc, name)
    assert account.user["email_verified"] is False
    assert await mailer.send() >= 1
    [mail] = smtp.to(account.email)
    return account, mail.token()


# --- verification -------------------------------------------------------------------------------


async def test_a_new_account_verifies_its_address_from_the_mail_and_then_publishes(
    mc: AsyncClient, mailer: Mailer, smtp: SmtpSink
) -> None:
    account = await make_account(mc, "vera")
    r = await mc.post("/v1/spots", headers=account.headers, json=spot_body())
    assert_problem(r, 403, "email_not_verified")
    # Searching and booking need no verified address: only publishing does.
    assert (await mc.get("/v1/me/bookings", headers=account.headers)).status_code == 200

    assert await mailer.send() == 1
    [mail] = smtp.received
    assert mail.recipients == [account.email]
    assert mail.sender == "noreply@parkshare.invalid"
    assert "Confirm your e-mail address" in mail.subject
    assert mail.message["Auto-Submitted"] == "auto-generated"
    assert f"{SITE}/verify-email?token={mail.token()}" in mail.text
    assert "Hallo Vera" in mail.text

    assert (await mc.post("/v1/auth/verify-email", json={"token": mail.token()})).status_code == 204
    me = (await mc.get("/v1/me", headers=account.headers)).json()
    assert me["email_verified"] is True
    r = await mc.post("/v1/spots", headers=account.headers, json=spot_body())
    assert r.status_code == 201, r.text


async def test_a_verification_token_works_once_and_for_48_hours(
    mc: AsyncClient, mailer: Mailer, smtp: SmtpSink, mclock: FakeClock
) -> None:
    _, token = await registered(mc, mailer, smtp)
    assert (await mc.post("/v1/auth/verify-email", json={"token": token})).status_code == 204
    assert_problem(await mc.post("/v1/auth/verify-email", json={"token": token}), 422, "invalid_token")

    other, late = await registered(mc, mailer, smtp, "otto")
    mclock.advance(hours=48)
    assert_problem(await mc.post("/v1/auth/verify-email", json={"token": late}), 422, "invalid_token")
    me = (await mc.get("/v1/me", headers=other.headers)).json()
    assert me["email_verified"] is False


@pytest.mark.parametrize("token", ["x", "A" * 43, "not a token at all"])
async def test_an_unknown_token_is_invalid(mc: AsyncClient, token: str) -> None:
    assert_problem(await mc.post("/v1/auth/verify-email", json={"token": token}), 422, "invalid_token")
    confirm = {"token": token, "password": NEW_PASSWORD}
    assert_problem(await mc.post("/v1/auth/password-reset/confirm", json=confirm), 422, "invalid_token")


@pytest.mark.parametrize(
    "body", [{}, {"token": ""}, {"token": "x" * 129}, {"token": 5}, {"token": "t", "x": 1}]
)
async def test_a_malformed_token_request_is_a_validation_error(mc: AsyncClient, body: dict[str, Any]) -> None:
    assert_problem(await mc.post("/v1/auth/verify-email", json=body), 422, "validation_error")


async def test_a_new_link_is_sent_on_request_at_most_five_an_hour(
    mc: AsyncClient, mailer: Mailer, smtp: SmtpSink, mclock: FakeClock
) -> None:
    account, first = await registered(mc, mailer, smtp)
    for _ in range(5):
        assert (await mc.post("/v1/me/verify-email", headers=account.headers)).status_code == 202
    r = await mc.post("/v1/me/verify-email", headers=account.headers)
    assert_problem(r, 429, "rate_limited")
    assert int(r.headers["Retry-After"]) > 0
    await mailer.send()
    links = [m.token() for m in smtp.to(account.email)]
    assert len(links) == 6
    assert len(set(links)) == 6
    # Any of them verifies; the others die with it.
    assert (await mc.post("/v1/auth/verify-email", json={"token": links[3]})).status_code == 204
    assert_problem(await mc.post("/v1/auth/verify-email", json={"token": first}), 422, "invalid_token")
    mclock.advance(hours=1)
    assert_problem(await mc.post("/v1/me/verify-email", headers=account.headers), 409, "conflict")


async def test_the_rule_can_be_turned_off(client: AsyncClient, alice: Account) -> None:
    # tests/conftest.py's settings turn it off, as REQUIRE_EMAIL_VERIFICATION=false does.
    assert alice.user["email_verified"] is False
    r = await client.post("/v1/spots", headers=alice.headers, json=spot_body())
    assert r.status_code == 201, r.text


# --- password reset ------------------------------------------------------------------------------


async def test_a_password_reset_sets_a_new_password_and_ends_every_sign_in(
    mc: AsyncClient, mailer: Mailer, smtp: SmtpSink, db: Database
) -> None:
    account = await make_account(mc, "rita")
    second = (await mc.post("/v1/auth/login", json={"email": account.email, "password": PASSWORD})).json()
    await mailer.send()
    smtp.received.clear()

    r = await mc.post("/v1/auth/password-reset", json={"email": account.email.upper()})
    assert r.status_code == 202
    assert r.content == b""
    await mailer.send()
    [mail] = smtp.to(account.email)
    assert "Reset your password" in mail.subject
    token = mail.token()
    assert f"{SITE}/reset-password?token={token}" in mail.text
    # Stored only as a hash, and the sent mail's text is gone from the outbox.
    async with db.sessionmaker() as session:
        dump = await session.scalar(
            text(
                "select string_agg(t::text, ' ') from (select * from account_tokens union all select * from account_tokens) t"
            )
        )
        bodies = await session.scalar(text("select count(*) from mails where body is not null"))
    assert token not in (dump or "")
    assert bodies == 0

    confirm = {"token": token, "password": NEW_PASSWORD}
    assert (await mc.post("/v1/auth/password-reset/confirm", json=confirm)).status_code == 204
    assert_problem(await mc.get("/v1/me", headers=account.headers), 401, "unauthorized")
    refresh = await mc.post("/v1/auth/refresh", json={"refresh_token": second["refresh_token"]})
    assert_problem(refresh, 401, "unauthorized")
    old = await mc.post("/v1/auth/login", json={"email": account.email, "password": PASSWORD})
    assert_problem(old, 401, "invalid_credentials")
    new = await mc.post("/v1/auth/login", json={"email": account.email, "password": NEW_PASSWORD})
    assert new.status_code == 200
    me = (await mc.get("/v1/me", headers={"Authorization": f"Bearer {new.json()['access_token']}"})).json()
    assert me["email_verified"] is True  # the reset mail was read at the address

    assert_problem(await mc.post("/v1/auth/password-reset/confirm", json=confirm), 422, "invalid_token")
    await mailer.send()
    assert [m.message["Subject"] for m in smtp.to(account.email)][-1].startswith("Your password was changed")


async def test_a_reset_link_lasts_one_hour(
    mc: AsyncClient, mailer: Mailer, smtp: SmtpSink, mclock: FakeClock
) -> None:
    account = await make_account(mc, "rita")
    await mc.post("/v1/auth/password-reset", json={"email": account.email})
    await mailer.send()
    token = smtp.to(account.email)[-1].token()
    mclock.advance(hours=1)
    confirm = {"token": token, "password": NEW_PASSWORD}
    assert_problem(await mc.post("/v1/auth/password-reset/confirm", json=confirm), 422, "invalid_token")
    assert (await mc.get("/v1/me", headers=account.headers)).status_code == 200


async def test_a_reset_answers_the_same_for_unknown_addresses_and_sends_nothing(
    mc: AsyncClient, mailer: Mailer, smtp: SmtpSink, db: Database
) -> None:
    before = len(await mails(db))
    r = await mc.post("/v1/auth/password-reset", json={"email": "nobody@example.org"})
    assert r.status_code == 202
    assert r.content == b""
    assert len(await mails(db)) == before
    assert await mailer.send() == 0
    assert smtp.to("nobody@example.org") == []


async def test_a_new_reset_link_kills_no_earlier_one_but_using_one_kills_the_rest(
    mc: AsyncClient, mailer: Mailer, smtp: SmtpSink
) -> None:
    account = await make_account(mc, "rita")
    for _ in range(2):
        await mc.post("/v1/auth/password-reset", json={"email": account.email})
    await mailer.send()
    first, second = [m.token() for m in smtp.to(account.email) if "Reset" in m.subject]
    ok = await mc.post("/v1/auth/password-reset/confirm", json={"token": second, "password": NEW_PASSWORD})
    assert ok.status_code == 204
    again = await mc.post(
        "/v1/auth/password-reset/confirm", json={"token": first, "password": "yet another one!"}
    )
    assert_problem(again, 422, "invalid_token")


async def test_reset_mails_to_one_account_stop_after_five_an_hour(
    mc: AsyncClient, mailer: Mailer, smtp: SmtpSink, mclock: FakeClock
) -> None:
    account = await make_account(mc, "rita")
    for _ in range(7):
        assert (await mc.post("/v1/auth/password-reset", json={"email": account.email})).status_code == 202
    await mailer.send()
    assert len([m for m in smtp.to(account.email) if "Reset" in m.subject]) == 5
    mclock.advance(hours=1)
    assert (await mc.post("/v1/auth/password-reset", json={"email": account.email})).status_code == 202
    await mailer.send()
    assert len([m for m in smtp.to(account.email) if "Reset" in m.subject]) == 6


async def test_reset_requests_are_limited_per_client_address(
    settings: Settings, db: Database, request: pytest.FixtureRequest
) -> None:
    limited = settings.model_copy(update={"password_resets_per_ip": 3})
    app = with_clock(create_app(limited, database=db), request)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        for n in range(3):
            r = await client.post("/v1/auth/password-reset", json={"email": f"x{n}@example.org"})
            assert r.status_code == 202
        r = await client.post("/v1/auth/password-reset", json={"email": "x9@example.org"})
        assert_problem(r, 429, "rate_limited")
        assert "Retry-After" in r.headers


async def test_a_suspended_account_gets_no_reset_mail(mc: AsyncClient, db: Database) -> None:
    account = await make_account(mc, "rita")
    async with db.sessionmaker() as session, session.begin():
        await session.execute(
            text("update users set suspended_at = now() where id = :id"), {"id": account.id}
        )
    before = len(await mails(db))
    assert (await mc.post("/v1/auth/password-reset", json={"email": account.email})).status_code == 202
    assert len(await mails(db)) == before


# --- changing the password or the address -------------------------------------------------------


async def test_changing_the_password_keeps_this_sign_in_and_ends_the_others(
    mc: AsyncClient, mailer: Mailer, smtp: SmtpSink
) -> None:
    account = await make_account(mc, "paul")
    other = (await mc.post("/v1/auth/login", json={"email": account.email, "password": PASSWORD})).json()
    wrong = {"password": "not my password", "new_password": NEW_PASSWORD}
    assert_problem(
        await mc.post("/v1/me/password", headers=account.headers, json=wrong), 401, "invalid_credentials"
    )
    short = {"password": PASSWORD, "new_password": "short"}
    assert_problem(
        await mc.post("/v1/me/password", headers=account.headers, json=short), 422, "validation_error"
    )

    body = {"password": PASSWORD, "new_password": NEW_PASSWORD}
    assert (await mc.post("/v1/me/password", headers=account.headers, json=body)).status_code == 204
    assert (await mc.get("/v1/me", headers=account.headers)).status_code == 200
    ended = await mc.get("/v1/me", headers={"Authorization": f"Bearer {other['access_token']}"})
    assert_problem(ended, 401, "unauthorized")
    login = await mc.post("/v1/auth/login", json={"email": account.email, "password": NEW_PASSWORD})
    assert login.status_code == 200
    await mailer.send()
    assert any(m.subject.startswith("Your password was changed") for m in smtp.to(account.email))


async def test_wrong_current_passwords_count_against_the_sign_in_limit(
    settings: Settings, db: Database, request: pytest.FixtureRequest
) -> None:
    limited = settings.model_copy(update={"login_failures_per_email": 3})
    app = with_clock(create_app(limited, database=db), request)
    async with AsyncClient(transport=ASGITransport(app=app), base_url="http://test") as client:
        account = await make_account(client, "paul")
        wrong = {"password": "not my password", "new_password": NEW_PASSWORD}
        for _ in range(3):
            r = await client.post("/v1/me/password", headers=account.headers, json=wrong)
            assert_problem(r, 401, "invalid_credentials")
        # Now even the right password waits, here and at sign-in and erasure.
        right = {"password": PASSWORD, "new_password": NEW_PASSWORD}
        assert_problem(
            await client.post("/v1/me/password", headers=account.headers, json=right), 429, "rate_limited"
        )
        login = await client.post("/v1/auth/login", json={"email": account.email, "password": PASSWORD})
        assert_problem(login, 429, "rate_limited")
        erase = await client.request("DELETE", "/v1/me", headers=account.headers, json={"password": PASSWORD})
        assert_problem(erase, 429, "rate_limited")


async def test_changing_the_address_takes_effect_when_the_new_one_is_confirmed(
    mc: AsyncClient, mailer: Mailer, smtp: SmtpSink
) -> None:
    account, token = await registered(mc, mailer, smtp, "emma")
    await mc.post("/v1/auth/verify-email", json={"token": token})
    new = "emma.new@example.org"
    wrong = {"email": new, "password": "wrong password"}
    assert_problem(
        await mc.post("/v1/me/email", headers=account.headers, json=wrong), 401, "invalid_credentials"
    )
    same = {"email": account.email.upper(), "password": PASSWORD}
    assert_problem(await mc.post("/v1/me/email", headers=account.headers, json=same), 422, "validation_error")

    r = await mc.post("/v1/me/email", headers=account.headers, json={"email": new, "password": PASSWORD})
    assert r.status_code == 202
    me = (await mc.get("/v1/me", headers=account.headers)).json()
    assert me["email"] == account.email
    assert me["email_verified"] is True
    await mailer.send()
    [confirm] = smtp.to(new)
    assert "new e-mail address" in confirm.subject

    assert (await mc.post("/v1/auth/verify-email", json={"token": confirm.token()})).status_code == 204
    me = (await mc.get("/v1/me", headers=account.headers)).json()
    assert me["email"] == new
    assert me["email_verified"] is True
    await mailer.send()
    notice = smtp.to(account.email)[-1]
    assert notice.subject.startswith("Your e-mail address was changed")
    assert "?token=" not in notice.text
    assert (await mc.post("/v1/auth/login", json={"email": new, "password": PASSWORD})).status_code == 200
    gone = await mc.post("/v1/auth/login", json={"email": account.email, "password": PASSWORD})
    assert_problem(gone, 401, "invalid_credentials")
    # The old address can register again.
    again = await mc.post(
        "/v1/auth/register", json={"email": account.email, "password": PASSWORD, "display_name": "Other"}
    )
    assert again.status_code == 201


async def test_an_address_taken_meanwhile_is_not_changed_to(
    mc: AsyncClient, mailer: Mailer, smtp: SmtpSink
) -> None:
    account = await make_account(mc, "emma")
    new = "wanted@example.org"
    r = await mc.post("/v1/me/email", headers=account.headers, json={"email": new, "password": PASSWORD})
    assert r.status_code == 202
    await mailer.send()
    token = smtp.to(new)[-1].token()
    taken = await mc.post(
        "/v1/auth/register", json={"email": new, "password": PASSWORD, "display_name": "Quick"}
    )
    assert taken.status_code == 201
    assert_problem(await mc.post("/v1/auth/verify-email", json={"token": token}), 409, "email_taken")
    assert (await mc.get("/v1/me", headers=account.headers)).json()["email"] == account.email
    taken_now = {"email": new, "password": PASSWORD}
    assert_problem(await mc.post("/v1/me/email", headers=account.headers, json=taken_now), 409, "email_taken")


# --- the outbox -----------------------------------------------------------------------------------


async def test_a_rolled_back_request_sends_nothing(
    db: Database, mail_settings: Settings, mailer: Mailer, mc: AsyncClient, smtp: SmtpSink
) -> None:
    account = await make_account(mc, "ruth")
    await mailer.send()
    smtp.received.clear()

    class Boom(Exception):
        pass

    async def failing_request() -> None:
        async with db.sessionmaker() as session, session.begin():
            await tokens.request_password_reset(session, mail_settings, account.email, mailer.clock.now)
            # Written (the test's connection sees its own savepoint), and then rolled back.
            assert len(await mails(db, "kind = 'password_reset'")) == 1
            raise Boom

    with pytest.raises(Boom):
        await failing_request()
    assert await mails(db, "kind = 'password_reset'") == []
    assert await mailer.send() == 0
    assert smtp.received == []


async def test_a_mail_the_server_could_not_take_is_retried_with_growing_pauses(
    db: Database, mail_settings: Settings, mc: AsyncClient, mclock: FakeClock, smtp: SmtpSink
) -> None:
    account = await make_account(mc, "lena")
    down = Mailer(
        db,
        mail_settings.model_copy(update={"smtp_url": SecretStr(f"smtp://127.0.0.1:{free_port()}")}),
        mclock,
    )
    assert await down.send() == 0
    [row] = await mails(db, "user_id = :id", id=account.id)
    assert row["attempts"] == 1
    assert row["sent_at"] is None
    assert row["failed_at"] is None
    assert "ConnectionRefused" in row["last_error"]
    assert row["next_attempt_at"] == mclock.now + sender.BACKOFF[0]
    assert row["body"] is not None

    # Not before its time, then at the next attempt once the server is back.
    up = Mailer(db, mail_settings, mclock)
    mclock.advance(seconds=59)
    assert await up.send() == 0
    mclock.advance(seconds=1)
    assert await up.send() == 1
    [row] = await mails(db, "user_id = :id", id=account.id)
    assert row["sent_at"] == mclock.now
    assert row["attempts"] == 2
    assert row["body"] is None
    assert len(smtp.to(account.email)) == 1


async def test_a_mail_is_given_up_after_about_a_day_of_failures(
    db: Database, mail_settings: Settings, mc: AsyncClient, mclock: FakeClock
) -> None:
    account = await make_account(mc, "lena")
    down = Mailer(
        db,
        mail_settings.model_copy(update={"smtp_url": SecretStr(f"smtp://127.0.0.1:{free_port()}")}),
        mclock,
    )
    for pause in sender.BACKOFF:
        assert await down.send() == 0
        mclock.advance(seconds=pause.total_seconds())
    assert sum(sender.BACKOFF, timedelta()) < timedelta(days=1)
    assert await down.send() == 0
    [row] = await mails(db, "user_id = :id", id=account.id)
    assert row["attempts"] == sender.MAX_ATTEMPTS
    assert row["failed_at"] == mclock.now
    assert row["body"] is None
    mclock.advance(days=2)
    assert await down.send() == 0


async def test_a_refused_recipient_is_given_up_at_once(
    mc: AsyncClient, mailer: Mailer, smtp: SmtpSink, db: Database
) -> None:
    account = await make_account(mc, "gone")
    smtp.refuse.add(account.email)
    assert await mailer.send() == 0
    [row] = await mails(db, "user_id = :id", id=account.id)
    assert row["failed_at"] is not None
    assert row["attempts"] == 1
    assert row["body"] is None
    assert "550" in row["last_error"]


async def test_each_mail_is_sent_once_by_senders_running_at_once(
    committed_db: Database, settings: Settings, smtp: SmtpSink, committed_client: AsyncClient
) -> None:
    mail_settings = settings.model_copy(update={"smtp_url": SecretStr(smtp.url)})
    accounts = [await make_account(committed_client, "many") for _ in range(30)]
    clock = FakeClock()
    clock.advance(minutes=1)
    senders = [Mailer(committed_db, mail_settings, clock) for _ in range(4)]
    sent = await asyncio.gather(*(m.send() for m in senders))
    sent_more = await asyncio.gather(*(m.send() for m in senders))
    assert sum(sent) + sum(sent_more) == 30
    got = sorted(r for m in smtp.received for r in m.recipients)
    assert got == sorted(a.email for a in accounts)


async def test_without_smtp_outside_production_mails_are_written_to_the_log_with_their_links(
    db: Database, settings: Settings, mc: AsyncClient, mclock: FakeClock
) -> None:
    account = await make_account(mc, "dev")
    stream = io.StringIO()
    log = logging.getLogger("parkshare.mail")
    h = handler("json", stream)
    log.addHandler(h)
    level = log.level
    log.setLevel(logging.INFO)
    try:
        dev = settings.model_copy(update={"smtp_url": None, "environment": Environment.development})
        assert await Mailer(db, dev, mclock).send() == 1
    finally:
        log.removeHandler(h)
        log.setLevel(level)
    [line] = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert "/verify-email?token=" in line["mail"]
    token = line["mail"].split("?token=")[1].split()[0]
    assert (await mc.post("/v1/auth/verify-email", json={"token": token})).status_code == 204
    # The masked part of the line has no address.
    assert account.email not in line["message"]


async def test_without_smtp_in_production_mails_wait(
    db: Database, settings: Settings, mc: AsyncClient, mclock: FakeClock
) -> None:
    account = await make_account(mc, "prod")
    production = settings.model_copy(update={"smtp_url": None, "environment": Environment.production})
    assert await Mailer(db, production, mclock).send() == 0
    [row] = await mails(db, "user_id = :id", id=account.id)
    assert row["attempts"] == 0
    assert row["sent_at"] is None
    assert row["body"] is not None


# --- a new owner's whole story ---------------------------------------------------------------------


async def test_an_owner_signs_up_verifies_publishes_is_booked_exports_and_leaves(
    mc: AsyncClient, mailer: Mailer, smtp: SmtpSink, db: Database
) -> None:
    owner, token = await registered(mc, mailer, smtp, "ulla")
    phone, plate = "+4923199887766", "DO-UL 4242"
    assert (await mc.patch("/v1/me", headers=owner.headers, json={"phone": phone})).status_code == 200
    await add_vehicle(mc, owner, plate)
    assert_problem(
        await mc.post("/v1/spots", headers=owner.headers, json=spot_body()), 403, "email_not_verified"
    )
    assert (await mc.post("/v1/auth/verify-email", json={"token": token})).status_code == 204
    spot = await open_spot(mc, owner)
    driver = await make_account(mc, "dirk")
    booking = await booked(mc, driver, spot, 24, 26)

    export = (await mc.get("/v1/me/export", headers=owner.headers)).json()
    assert [b["id"] for b in export["bookings_as_owner"]] == [booking["id"]]
    assert [(m["kind"], m["to"]) for m in export["emails"]] == [("verify_email", owner.email)]
    assert export["emails"][0]["sent_at"] is not None

    personal = [owner.email, "Ulla", phone, plate]
    assert {v for _, v in await tables_holding(db, personal)} == set(personal)
    erase = await mc.request("DELETE", "/v1/me", headers=owner.headers, json={"password": PASSWORD})
    assert erase.status_code == 204
    assert await tables_holding(db, personal) == set()

    after = (await mc.get(f"/v1/bookings/{booking['id']}", headers=driver.headers)).json()
    assert after["status"] == "cancelled"
    assert after["refund_cents"] == after["total_cents"] > 0
    async with db.sessionmaker() as session:
        told = await session.scalar(
            text(
                "select count(*) from events where booking_id = :id and type = 'booking.cancelled' and driver_id = :d"
            ),
            {"id": booking["id"], "d": driver.id},
        )
    assert told == 1
