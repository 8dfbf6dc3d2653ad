"""The evening bench runs as a new user would start it, only shorter and on a small data set: it
must finish, send every route class of the evening mix, and get no 5xx (timings are not asserted:
the machine may be busy)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from app.migrations import drop_database
from bench.evening import CLASSES, evening, report

pytestmark = pytest.mark.slow


@pytest.mark.real_clock
async def test_a_short_evening_exercises_every_route_class_without_a_server_error(database_url: str) -> None:
    url = make_url(database_url)
    url = url.set(database=f"{url.database}_evening").render_as_string(hide_password=False)
    try:
        population, steps = await evening(
            url,
            workers=2,
            spots=300,
            bookings=3000,
            users=30,
            owners=3,
            rates=[60.0],
            warmup=1.0,
            seconds=8.0,
            # Many more edits than an evening has, so that a few happen within seconds.
            edits_per_booking=3.0,
            stop_on_fail=False,
        )
    finally:
        await drop_database(url)
    (step,) = steps
    assert population.bookings > 0
    assert len(population.owners) == 3
    sent = {kind: sum(step.statuses[kind].values()) for kind in CLASSES}
    assert all(sent.values()), sent
    assert step.errors == 0, step.statuses
    # Bookings succeed and get confirmed, and the owners' edits are accepted.
    assert step.statuses["book"][201] > 0, step.statuses["book"]
    assert set(step.statuses["confirm"]) == {200}, step.statuses["confirm"]
    assert set(step.statuses["owner edit"]) <= {201, 204}, step.statuses["owner edit"]
    assert set(step.statuses["search"]) == {200}, step.statuses["search"]
    assert len(step.rss_kib) == 2  # both serving workers were found and read
    assert all(kib > 0 for kib in step.rss_kib.values())
    lines = list(report(population, steps))
    assert any("PostgreSQL's share" in line for line in lines)
