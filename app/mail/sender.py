"""Sending the outbox by SMTP, with retries.

Several processes may run the job at once: a batch is claimed with `FOR UPDATE SKIP LOCKED` and a
lease (`next_attempt_at` moved past the time a send can take), and committed before anything is
sent, so a process killed mid-send leaves its mails to be sent again after the lease. A mail may
then arrive twice, never not at all: the usual promise of mail systems.

SMTP answers 5xx for what will never work (no such mailbox): such a mail is given up at once.
Everything else (4xx, a refused connection, a timeout, TLS trouble) is retried with growing pauses
for about a day, and then given up. Either way the body, whose links carry tokens, is erased."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import smtplib
import ssl
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import text

from app.clock import speed, utcnow
from app.db import Database
from app.logs import VERBATIM
from app.settings import Environment, Settings

logger = logging.getLogger("parkshare.mail")

# A batch is sent one mail after another under one lease, so that another process does not send
# the rest a second time. Each SMTP step is bounded by TIMEOUT_SECONDS, and a mail takes up to ten
# of them (connect, EHLO, STARTTLS, EHLO, AUTH, MAIL, RCPT, DATA, the body, QUIT): a mail starts
# only while that much of the lease is left; the rest of the batch waits for the lease to run out.
BATCH = 5
LEASE = timedelta(minutes=10)
TIMEOUT_SECONDS = 20
MAIL_WITHIN_SECONDS = 10 * TIMEOUT_SECONDS
# Pauses after the 1st, 2nd, ... failed attempt; after the last, the mail is given up (~22 h).
BACKOFF = (
    timedelta(minutes=1),
    timedelta(minutes=5),
    timedelta(minutes=15),
    timedelta(hours=1),
    timedelta(hours=3),
    timedelta(hours=6),
    timedelta(hours=12),
)
MAX_ATTEMPTS = len(BACKOFF) + 1


@dataclass(frozen=True)
class SmtpServer:
    host: str
    port: int
    implicit_tls: bool
    username: str | None
    password: str | None

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        parts = urlsplit(url)
        implicit_tls = parts.scheme == "smtps"
        return cls(
            host=parts.hostname or "localhost",
            port=parts.port or (465 if implicit_tls else 587),
            implicit_tls=implicit_tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    @property
    def on_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


class GiveUp(Exception):
    """A failure that retrying will not mend."""


@dataclass(frozen=True)
class Outgoing:
    id: uuid.UUID
    to_address: str
    subject: str
    body: str
    attempts: int


def build_message(mail: Outgoing, sender: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = mail.to_address
    message["Subject"] = mail.subject
    message["Date"] = format_datetime(utcnow())
    domain = parseaddr(sender)[1].rpartition("@")[2] or None
    message["Message-ID"] = make_msgid(idstring=mail.id.hex, domain=domain)
    # RFC 3834: no auto-replies (holiday notices) to these.
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(mail.body)
    return message


def deliver(server: SmtpServer, message: EmailMessage) -> None:
    """Hands one message to the SMTP server (blocking: run it in a thread)."""
    context = ssl.create_default_context()
    smtp: smtplib.SMTP
    if server.implicit_tls:
        smtp = smtplib.SMTP_SSL(server.host, server.port, timeout=TIMEOUT_SECONDS, context=context)
    else:
        smtp = smtplib.SMTP(server.host, server.port, timeout=TIMEOUT_SECONDS)
    with smtp:
        smtp.ehlo()
        encrypted = server.implicit_tls
        if not encrypted and smtp.has_extn("starttls"):
            smtp.starttls(context=context)
            smtp.ehlo()
            encrypted = True
        if server.username is not None:
            if not encrypted and not server.on_loopback:
                raise GiveUp("the SMTP server offers no TLS: the password is not sent in the clear")
            smtp.login(server.username, server.password or "")
        try:
            smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            if codes and all(500 <= code < 600 for code in codes):
                raise GiveUp(f"the recipient was refused ({codes[0]})") from exc
            raise
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
            if 500 <= exc.smtp_code < 600:
                raise GiveUp(f"the message was refused ({exc.smtp_code})") from exc
            raise


_CLAIM = text(
    "update mails set attempts = attempts + 1, next_attempt_at = :lease_until"
    " where id in (select id from mails where sent_at is null and failed_at is null"
    " and next_attempt_at <= :now order by next_attempt_at limit :batch for update skip locked)"
    " returning id, to_address, subject, body, attempts"
)
_SENT = text("update mails set sent_at = :now, body = null, last_error = null where id = :id")
_RETRY = text("update mails set next_attempt_at = :at, last_error = :error where id = :id")
_GIVEN_UP = text("update mails set failed_at = :now, body = null, last_error = :error where id = :id")

_warned_no_smtp = False


async def send_due(database: Database, settings: Settings, now: datetime | None = None) -> int:
    """Sends what is due at `now` (the system clock if not given); the number of mails sent."""
    global _warned_no_smtp
    now = now or utcnow()
    smtp_url = settings.smtp_url.get_secret_value() if settings.smtp_url else None
    if smtp_url is None and settings.environment is Environment.production:
        if not _warned_no_smtp:
            logger.warning("SMTP_URL is not set: mails wait in the outbox until it is")
            _warned_no_smtp = True
        return 0
    async with database.sessionmaker() as session, session.begin():
        rows = (
            await session.execute(_CLAIM, {"now": now, "lease_until": now + LEASE * speed(), "batch": BATCH})
        ).all()
    # Real seconds, whatever the clock: the lease bounds sends timed in real seconds.
    claimed = time.monotonic()
    sent = 0
    for done, row in enumerate(rows):
        if time.monotonic() - claimed > LEASE.total_seconds() - MAIL_WITHIN_SECONDS:
            logger.warning("%d mails left for the next claim: the server was slow", len(rows) - done)
            break
        mail = Outgoing(row.id, row.to_address, row.subject, row.body or "", row.attempts)
        statement, values = await _attempt(mail, settings, smtp_url, now)
        async with database.sessionmaker() as session, session.begin():
            await session.execute(statement, {"id": mail.id, **values})
        sent += statement is _SENT
    return sent


async def _attempt(
    mail: Outgoing, settings: Settings, smtp_url: str | None, now: datetime
) -> tuple[Any, dict[str, Any]]:
    message = build_message(mail, settings.mail_from)
    if smtp_url is None:
        # Development: the mail is the log line, links and all (app/logs.py prints VERBATIM as is).
        # (Headers and text as written: the message's own encoding would hide umlauts and links.)
        readable = f"To: {mail.to_address}\nSubject: {mail.subject}\n\n{mail.body}"
        logger.info("mail not sent (no SMTP_URL): %s", mail.subject, extra={VERBATIM: readable})
        return _SENT, {"now": now}
    try:
        await asyncio.to_thread(deliver, SmtpServer.from_url(smtp_url), message)
    except GiveUp as exc:
        logger.warning("mail %s given up: %s", mail.id, exc)
        return _GIVEN_UP, {"now": now, "error": str(exc)[:300]}
    except (OSError, smtplib.SMTPException) as exc:
        error = f"{type(exc).__name__}: {exc}"[:300]
        if mail.attempts >= MAX_ATTEMPTS:
            logger.warning("mail %s given up after %d attempts: %s", mail.id, mail.attempts, error)
            return _GIVEN_UP, {"now": now, "error": error}
        logger.info("mail %s not sent (attempt %d), retried later: %s", mail.id, mail.attempts, error)
        return _RETRY, {"at": now + BACKOFF[mail.attempts - 1], "error": error}
    return _SENT, {"now": now}
