"""The booking rules that SQL has to repeat, spelled once, from `booking.states`.

`ACTIVE_SQL` is the predicate of the exclusion constraint on `bookings`; a query that repeats it
word for word lets PostgreSQL prove that the constraint's partial GiST index answers it (search
relies on that). `still_blocks` is the SQL twin of what `Calendar` is given: a hold or request
past its deadline no longer blocks, even before anything has marked it expired.

The statuses are written as literals, not bind parameters: a partial index serves a query only
when its predicate is implied by the query's text, which a generic plan's parameters never imply.
Each fragment takes the table's alias (`"b."` or `""`) and the SQL for "now" (`:now`, `$4`).
"""

from __future__ import annotations

from booking.states import ACTIVE, Status


def _listed(statuses: frozenset[Status]) -> str:
    # In the enum's order, so that the text is the same every time it is built.
    return ", ".join(f"'{s.value}'" for s in Status if s in statuses)


def active(alias: str = "") -> str:
    """An active booking: one that holds its interval against the spot's other bookings."""
    return f"{alias}status in ({_listed(ACTIVE)})"


ACTIVE_SQL = active()


def still_blocks(now: str, alias: str = "") -> str:
    """A booking that blocks its interval at `now`: a confirmed or overstayed one, or a hold or
    request whose deadline has not passed."""
    a = alias
    return (
        f"({a}status in ('{Status.confirmed.value}', '{Status.overstayed.value}')"
        f" or ({a}status = '{Status.held.value}' and {a}hold_expires_at > {now})"
        f" or ({a}status = '{Status.requested.value}' and {a}request_expires_at > {now}))"
    )


def past_deadline(now: str, alias: str = "") -> str:
    """A hold or request whose deadline has passed at `now`: expired, whether or not that has been
    written yet. The sweeper's partial indexes on the two deadlines answer it."""
    a = alias
    return (
        f"(({a}status = '{Status.held.value}' and {a}hold_expires_at <= {now})"
        f" or ({a}status = '{Status.requested.value}' and {a}request_expires_at <= {now}))"
    )


def deadline(alias: str = "") -> str:
    """The deadline of a hold or request."""
    a = alias
    return (
        f"case when {a}status = '{Status.held.value}' then {a}hold_expires_at else {a}request_expires_at end"
    )


def is_status(status: Status, alias: str = "") -> str:
    return f"{alias}status = '{status.value}'"
