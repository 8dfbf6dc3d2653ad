"""Writing to the outbox: an event is added in the transaction of the change it tells, so a
rolled-back change tells nothing, and every committed one is told (docs/events.md).

The table is the truth; after the commit the process wakes the readers (`app.events.hub`) with a
signal that carries nothing, and they read what is new."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, get_args

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import raw_connection
from app.schemas import as_utc_z

# What a webhook may subscribe to: the booking changes (API.md, "Events"), the reminders, and
# `webhook.disabled` (to a webhook's owner). `webhook.test` goes only to the webhook tested. The
# request schemas take the Literal; the code takes the tuples.
EventType = Literal[
    "booking.held",
    "booking.requested",
    "booking.confirmed",
    "booking.declined",
    "booking.cancelled",
    "booking.expired",
    "booking.completed",
    "booking.extended",
    "booking.starts_soon",
    "booking.ends_soon",
    "booking.checked_in",
    "booking.checked_out",
    "booking.overstayed",
    "booking.no_show",
    "booking.spot_occupied",
    "webhook.disabled",
]
TYPES: tuple[str, ...] = get_args(EventType)
WEBHOOK_DISABLED = "webhook.disabled"
WEBHOOK_TEST = "webhook.test"
BOOKING_TYPES = tuple(t for t in TYPES if t.startswith("booking."))
WRITTEN = "parkshare.events_written"  # the session's mark: wake the readers after its commit


@dataclass(frozen=True)
class NewEvent:
    type: str
    created_at: datetime
    # The event's `data` as JSON text, for the driver or the only recipient; `owner_data` for the
    # spot's owner when it differs.
    data: str
    booking_id: uuid.UUID | None = None
    driver_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    webhook_id: uuid.UUID | None = None
    owner_data: str | None = None
    id: uuid.UUID = field(default_factory=uuid.uuid4)

    def values(self) -> tuple[object, ...]:
        return (
            self.id,
            self.type,
            self.created_at,
            self.booking_id,
            self.driver_id,
            self.owner_id,
            self.webhook_id,
            self.data,
            self.owner_data,
        )


_INSERT = """
insert into events (id, type, created_at, booking_id, driver_id, owner_id, webhook_id, data, owner_data)
select * from unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::uuid[], $5::uuid[], $6::uuid[],
                     $7::uuid[], $8::jsonb[], $9::jsonb[])
"""


def mark_written(session: AsyncSession) -> None:
    """Tells the session's commit to wake the outbox's readers (see `app.events.hub`)."""
    session.info[WRITTEN] = True


async def add(session: AsyncSession, events: Sequence[NewEvent]) -> None:
    if not events:
        return
    conn = await raw_connection(session)
    columns = list(zip(*(e.values() for e in events), strict=True))
    await conn.execute(_INSERT, *columns)
    mark_written(session)


def envelope(event_id: uuid.UUID | str, type_: str, created_at: datetime, data: str) -> str:
    """The event as every channel sends it: `{id, type, created_at, data}`; `data` is JSON text."""
    stamp = as_utc_z(created_at)
    return f'{{"id":"{event_id}","type":{json.dumps(type_)},"created_at":"{stamp}","data":{data}}}'
