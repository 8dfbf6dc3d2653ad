"""An iCalendar (RFC 5545) document of bookings, written with the `icalendar` package: CRLF line
ends, lines folded at 75 octets, text escaped. The same events give the same bytes, so the feed's
ETag (a hash of them) changes only when what the feed shows does."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from icalendar import Calendar, Event

PRODID = "-//parkshare//calendar//EN"
# How often a calendar program should read the feed again (RFC 7986 REFRESH-INTERVAL, and the
# older X-PUBLISHED-TTL that Outlook and others read).
REFRESH = timedelta(minutes=15)
UID_DOMAIN = "parkshare"


@dataclass(frozen=True)
class FeedEvent:
    """One booking as a feed shows it; every text is already what its reader may see."""

    uid: str
    start: datetime
    end: datetime
    status: str  # CONFIRMED, TENTATIVE or CANCELLED
    sequence: int
    created: datetime
    modified: datetime
    summary: str
    description: str | None = None
    location: str | None = None
    geo: tuple[float, float] | None = None


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def _duration(value: timedelta) -> str:
    minutes = int(value.total_seconds()) // 60
    return f"PT{minutes}M"


def render(name: str, events: Sequence[FeedEvent]) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("name", name)
    calendar.add("x-wr-calname", name)
    calendar.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    calendar.add("x-published-ttl", _duration(REFRESH))
    for item in events:
        event = Event()
        event.add("uid", item.uid)
        # A published calendar's DTSTAMP is when the event last changed, not when the feed was
        # read: a feed read twice without a change is the same document (and the same ETag).
        event.add("dtstamp", _utc(item.modified))
        event.add("created", _utc(item.created))
        event.add("last-modified", _utc(item.modified))
        event.add("dtstart", _utc(item.start))
        event.add("dtend", _utc(item.end))
        event.add("sequence", item.sequence)
        event.add("status", item.status)
        event.add("summary", item.summary)
        if item.description is not None:
            event.add("description", item.description)
        if item.location is not None:
            event.add("location", item.location)
        if item.geo is not None:
            event.add("geo", item.geo)
        calendar.add_component(event)
    body: bytes = calendar.to_ical()
    return body
