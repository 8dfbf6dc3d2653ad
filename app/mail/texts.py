"""What the mails say, in English and German (the account's language is not known), in one place.

Links open the web app at PUBLIC_URL; the token is also written out for apps that ask for it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import quote


@dataclass(frozen=True)
class Message:
    kind: str
    subject: str
    body: str


def _link(base_url: str, path: str, token: str) -> str:
    return f"{base_url}{path}?token={quote(token, safe='')}"


def _hours(valid: timedelta) -> int:
    return max(1, round(valid.total_seconds() / 3600))


def verify_email(base_url: str, name: str, token: str, valid: timedelta) -> Message:
    link = _link(base_url, "/verify-email", token)
    hours = _hours(valid)
    return Message(
        "verify_email",
        "Confirm your e-mail address / Bestätige deine E-Mail-Adresse",
        f"Hello {name},\n\n"
        f"please confirm that this is your e-mail address for parkshare:\n\n{link}\n\n"
        f"Or enter this code in the app: {token}\n"
        f"The link works for {hours} hours. Until then you can search and book, but not offer spots.\n"
        "If you did not create an account, ignore this mail.\n\n"
        "---\n\n"
        f"Hallo {name},\n\n"
        f"bitte bestätige, dass dies deine E-Mail-Adresse für parkshare ist:\n\n{link}\n\n"
        f"Oder gib diesen Code in der App ein: {token}\n"
        f"Der Link gilt {hours} Stunden. Bis dahin kannst du suchen und buchen, aber keine Stellplätze "
        "anbieten.\nWenn du kein Konto angelegt hast, ignoriere diese Mail.\n",
    )


def confirm_new_email(base_url: str, name: str, token: str, valid: timedelta) -> Message:
    link = _link(base_url, "/verify-email", token)
    hours = _hours(valid)
    return Message(
        "confirm_new_email",
        "Confirm your new e-mail address / Bestätige deine neue E-Mail-Adresse",
        f"Hello {name},\n\n"
        f"your parkshare account should use this address from now on. Confirm it here:\n\n{link}\n\n"
        f"Or enter this code in the app: {token}\n"
        f"The link works for {hours} hours; until it is used, the old address stays.\n"
        "If you did not ask for this, ignore this mail.\n\n"
        "---\n\n"
        f"Hallo {name},\n\n"
        f"dein parkshare-Konto soll ab jetzt diese Adresse verwenden. Bestätige sie hier:\n\n{link}\n\n"
        f"Oder gib diesen Code in der App ein: {token}\n"
        f"Der Link gilt {hours} Stunden; bis dahin bleibt die alte Adresse.\n"
        "Wenn du das nicht wolltest, ignoriere diese Mail.\n",
    )


def password_reset(base_url: str, name: str, token: str, valid: timedelta) -> Message:
    link = _link(base_url, "/reset-password", token)
    minutes = round(valid.total_seconds() / 60)
    return Message(
        "password_reset",
        "Reset your password / Passwort zurücksetzen",
        f"Hello {name},\n\n"
        f"someone asked to reset the password of your parkshare account. Choose a new one here:\n\n"
        f"{link}\n\n"
        f"Or enter this code in the app: {token}\n"
        f"The link works once, for {minutes} minutes. Setting a new password signs out every device.\n"
        "If it was not you, ignore this mail: your password stays as it is.\n\n"
        "---\n\n"
        f"Hallo {name},\n\n"
        "jemand möchte das Passwort deines parkshare-Kontos zurücksetzen. Wähle hier ein neues:\n\n"
        f"{link}\n\n"
        f"Oder gib diesen Code in der App ein: {token}\n"
        f"Der Link gilt einmal, {minutes} Minuten lang. Ein neues Passwort meldet alle Geräte ab.\n"
        "Wenn du das nicht warst, ignoriere diese Mail: dein Passwort bleibt, wie es ist.\n",
    )


def _when(at: datetime) -> str:
    return at.strftime("%Y-%m-%d %H:%M UTC")


def password_changed(base_url: str, name: str, at: datetime) -> Message:
    return Message(
        "password_changed",
        "Your password was changed / Dein Passwort wurde geändert",
        f"Hello {name},\n\n"
        f"the password of your parkshare account was changed on {_when(at)}.\n"
        f"If that was not you, reset it at once: {base_url}/reset-password\n\n"
        "---\n\n"
        f"Hallo {name},\n\n"
        f"das Passwort deines parkshare-Kontos wurde am {_when(at)} geändert.\n"
        f"Wenn du das nicht warst, setze es sofort zurück: {base_url}/reset-password\n",
    )


def email_changed(base_url: str, name: str, at: datetime) -> Message:
    return Message(
        "email_changed",
        "Your e-mail address was changed / Deine E-Mail-Adresse wurde geändert",
        f"Hello {name},\n\n"
        f"your parkshare account uses a new e-mail address since {_when(at)}; this address gets no "
        "more mail from it.\n"
        f"If that was not you, reset your password at once: {base_url}/reset-password\n\n"
        "---\n\n"
        f"Hallo {name},\n\n"
        f"dein parkshare-Konto verwendet seit {_when(at)} eine neue E-Mail-Adresse; an diese Adresse "
        "schickt es keine Mails mehr.\n"
        f"Wenn du das nicht warst, setze sofort dein Passwort zurück: {base_url}/reset-password\n",
    )
